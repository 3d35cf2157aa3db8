//! The TLS an ingress listener serves its clients: Consul's gateway and listener `TLS`
//! blocks merged, and turned into what the proxy can honour (`pilot/XDS.md`, "Ingress
//! gateways").
//!
//! The certificate is the gateway's workload certificate (TLS `Enabled`), or a secret from
//! an SDS server the gateway knows by cluster name (`SDS`, which wins when both are set).
//!
//! The proxy speaks TLS 1.2 and 1.3 (rustls): an older minimum is raised to TLS 1.2 with a
//! note, an older maximum cannot be served. TLS 1.2 cipher suites are the six ECDHE AEAD
//! suites; CBC and RSA key exchange suites are left out with a note, and a list with none
//! of the six cannot be served.

use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::tls_parameters::TlsProtocol;
use rigging_mesh_config_entries::{IngressGateway, IngressListener, Sds, TlsParams, TlsVersion};

/// TLS to a listener's clients, as Pilot emits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServedTls {
    pub min: TlsProtocol,
    pub max: TlsProtocol,
    /// Envoy's (OpenSSL's) names; empty is the proxy's defaults.
    pub cipher_suites: Vec<String>,
    /// The listener's certificate; `None` when only services have their own (a handshake
    /// naming none of their hosts then fails).
    pub certificate: Option<ServedCert>,
    /// Services' own certificates (`TLS.SDS` on a service), each chosen when the client's
    /// SNI is one of the service's hosts.
    pub by_server_name: Vec<(Vec<String>, ServedCert)>,
}

/// Where the listener's certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ServedCert {
    /// The gateway's workload certificate, which Citadel issues with the hosts as DNS names.
    Workload,
    /// Secret `resource` from the SDS server the gateway knows as `cluster`.
    Sds { cluster: String, resource: String },
}

/// Consul's suite names and Envoy's for the suites the proxy offers.
const SUPPORTED: [(&str, &str); 6] = [
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ),
];

/// What listener `l` serves: `Ok(None)` plaintext, `Ok(Some)` TLS with its certificates,
/// `Err` why the listener cannot be opened. `notes` gets what of the
/// entry is served differently from what it asks.
pub(crate) fn served_tls(
    gw: &IngressGateway,
    l: &IngressListener,
    secured: bool,
    notes: &mut Vec<String>,
) -> Result<Option<ServedTls>, String> {
    let own = l.tls.as_ref();
    let (gw_sds, l_sds) = (gw.tls.sds.as_ref(), own.and_then(|t| t.sds.as_ref()));
    let port = l.port;
    let mut by_server_name = Vec::new();
    for svc in &l.services {
        let Some(svc_sds) = &svc.sds else { continue };
        if svc.hosts.is_empty() {
            notes.push(format!(
                "listener on port {port}: service {:?}: its own TLS.SDS certificate is chosen by SNI among its Hosts, and it has none; it is left out",
                svc.name
            ));
            continue;
        }
        let merged = Sds {
            cluster_name: svc_sds
                .cluster_name
                .clone()
                .or_else(|| l_sds.and_then(|s| s.cluster_name.clone()))
                .or_else(|| gw_sds.and_then(|s| s.cluster_name.clone())),
            cert_resource: svc_sds.cert_resource.clone(),
        };
        match sds(None, Some(&merged)) {
            Ok(Some(cert)) => by_server_name.push((svc.hosts.clone(), cert)),
            Ok(None) => {}
            Err(why) => return Err(format!("service {:?}: {why}", svc.name)),
        }
    }
    let certificate = match sds(gw_sds, l_sds)? {
        Some(sds) => Some(sds),
        None if !(gw.tls.enabled || own.is_some_and(|t| t.enabled)) => None,
        None if !secured => {
            return Err(
                "TLS is enabled, but the mesh has no Citadel to issue the certificate".to_owned(),
            );
        }
        None => Some(ServedCert::Workload),
    };
    if certificate.is_none() && by_server_name.is_empty() {
        return Ok(None);
    }
    if certificate.is_none() {
        // Consul serves these in plaintext on the listener's default chain; a listener here
        // speaks TLS or not, so they have no certificate.
        for svc in l.services.iter().filter(|s| s.sds.is_none()) {
            notes.push(format!(
                "listener on port {port}: service {:?} has no certificate of its own and the listener none: its clients' handshakes fail",
                svc.name
            ));
        }
    }
    let params = merged(&gw.tls.params, own.map(|t| &t.params));
    let max = match params.max_version {
        None | Some(TlsVersion::Auto) | Some(TlsVersion::V1_3) => TlsProtocol::TlSv13,
        Some(TlsVersion::V1_2) => TlsProtocol::TlSv12,
        Some(old @ (TlsVersion::V1_0 | TlsVersion::V1_1)) => {
            return Err(format!(
                "TLSMaxVersion {old:?}: the proxy speaks TLS 1.2 and 1.3 only"
            ));
        }
    };
    let min = match params.min_version {
        None | Some(TlsVersion::Auto) | Some(TlsVersion::V1_2) => TlsProtocol::TlSv12,
        Some(TlsVersion::V1_3) => TlsProtocol::TlSv13,
        Some(old @ (TlsVersion::V1_0 | TlsVersion::V1_1)) => {
            notes.push(format!(
                "listener on port {port}: TLSMinVersion {old:?}: the proxy speaks TLS 1.2 and 1.3 only; TLS 1.2 is the minimum"
            ));
            TlsProtocol::TlSv12
        }
    };
    let mut cipher_suites = Vec::new();
    let mut left_out = Vec::new();
    for name in &params.cipher_suites {
        match SUPPORTED.iter().find(|(consul, _)| consul == name) {
            Some((_, envoy)) => cipher_suites.push((*envoy).to_owned()),
            None => left_out.push(name.as_str()),
        }
    }
    if !left_out.is_empty() {
        if cipher_suites.is_empty() {
            return Err(format!(
                "CipherSuites: none of {left_out:?} is offered by the proxy (ECDHE with AES-GCM or ChaCha20-Poly1305 only)"
            ));
        }
        notes.push(format!(
            "listener on port {port}: CipherSuites: {left_out:?} are not offered by the proxy (CBC and RSA key exchange); the others are"
        ));
    }
    Ok(Some(ServedTls {
        min,
        max,
        cipher_suites,
        certificate,
        by_server_name,
    }))
}

/// Consul's `resolveListenerSDSConfig`: the listener's `ClusterName` and `CertResource`
/// over the gateway's, field by field; both or neither must result. With SDS the listener
/// serves TLS whether `Enabled` is set or not.
fn sds(gw: Option<&Sds>, listener: Option<&Sds>) -> Result<Option<ServedCert>, String> {
    let pick = |f: fn(&Sds) -> Option<&String>| {
        listener
            .and_then(f)
            .or_else(|| gw.and_then(f))
            .filter(|v| !v.is_empty())
            .cloned()
    };
    match (
        pick(|s| s.cluster_name.as_ref()),
        pick(|s| s.cert_resource.as_ref()),
    ) {
        (None, None) => Ok(None),
        (Some(cluster), Some(resource)) => Ok(Some(ServedCert::Sds { cluster, resource })),
        (Some(_), None) => Err("TLS.SDS has a ClusterName but no CertResource".to_owned()),
        (None, Some(_)) => Err("TLS.SDS has a CertResource but no ClusterName".to_owned()),
    }
}

/// The listener's versions and cipher suites over the gateway's, field by field.
fn merged(base: &TlsParams, over: Option<&TlsParams>) -> TlsParams {
    let Some(over) = over else {
        return base.clone();
    };
    TlsParams {
        min_version: over.min_version.or(base.min_version),
        max_version: over.max_version.or(base.max_version),
        cipher_suites: if over.cipher_suites.is_empty() {
            base.cipher_suites.clone()
        } else {
            over.cipher_suites.clone()
        },
    }
}
