//! The rustls server config of a TLS listener: mesh mTLS with the workload certificate, or
//! public TLS (an ingress gateway's) with the workload certificate or one from SDS.

use std::sync::Arc;

use rigging_proxy_config::{InboundTls, PublicCertificate, TlsClients, TlsVersion};
use rigging_proxy_sds::{Sds, SdsCertificate};
use rigging_proxy_tls::{MeshTls, PublicParams, SniCertificates, TlsError, public_server_config};
use rustls::ServerConfig;
use rustls::server::ResolvesServerCert;

use crate::error::ApplyError;

/// Where a listener's certificates come from.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CertSources<'a> {
    /// The workload certificate, with Citadel.
    pub mesh: Option<&'a MeshTls>,
    /// The SDS servers given on the command line.
    pub sds: Option<&'a Sds>,
}

/// The config listener `name` terminates `tls` with, and the SDS certificates it serves.
pub(crate) fn server_config(
    name: &str,
    tls: &InboundTls,
    sources: CertSources<'_>,
) -> Result<(Arc<ServerConfig>, Vec<SdsCertificate>), ApplyError> {
    let err = |source| ApplyError::Tls {
        resource: format!("listener {name:?}"),
        source,
    };
    let public = match &tls.clients {
        TlsClients::Mesh => {
            let mesh = sources.mesh.ok_or_else(|| err(TlsError::NotConfigured))?;
            return Ok((mesh.server_config(&tls.alpn).map_err(err)?, Vec::new()));
        }
        TlsClients::Public(p) => p,
    };
    let params = PublicParams {
        tls12: public.min_version <= TlsVersion::V1_2,
        tls13: public.max_version >= TlsVersion::V1_3,
        cipher_suites: &public.cipher_suites,
    };
    let mut sds = Vec::new();
    let mut resolve =
        |certificate: &PublicCertificate| cert_resolver(name, certificate, sources, &mut sds);
    let certs = SniCertificates {
        default: public.certificate.as_ref().map(&mut resolve).transpose()?,
        by_server_name: public
            .by_server_name
            .iter()
            .map(|n| Ok((n.server_names.clone(), resolve(&n.certificate)?)))
            .collect::<Result<_, ApplyError>>()?,
    };
    let config = public_server_config(Arc::new(certs), &tls.alpn, params).map_err(err)?;
    Ok((config, sds))
}

/// What serves `certificate` on listener `name`; an SDS certificate is also added to `sds`.
fn cert_resolver(
    name: &str,
    certificate: &PublicCertificate,
    sources: CertSources<'_>,
    sds_used: &mut Vec<SdsCertificate>,
) -> Result<Arc<dyn ResolvesServerCert>, ApplyError> {
    match certificate {
        PublicCertificate::Workload => {
            let mesh = sources.mesh.ok_or_else(|| ApplyError::Tls {
                resource: format!("listener {name:?}"),
                source: TlsError::NotConfigured,
            })?;
            Ok(mesh.store().clone())
        }
        PublicCertificate::Sds { cluster, resource } => {
            let sds = sources.sds.ok_or_else(|| ApplyError::Sds {
                resource: format!("listener {name:?}"),
                reason: format!(
                    "its certificate {resource:?} comes from SDS cluster {cluster:?}, and this proxy knows no SDS cluster (rig proxy --sds-cluster {cluster}=<address>)"
                ),
            })?;
            let certs = sds
                .certificate(cluster, resource)
                .map_err(|e| ApplyError::Sds {
                    resource: format!("listener {name:?}"),
                    reason: e.to_string(),
                })?;
            sds_used.push(certs.clone());
            Ok(Arc::new(certs))
        }
    }
}
