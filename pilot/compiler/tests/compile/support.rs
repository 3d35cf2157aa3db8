//! Shared by the compiler's tests: a readable rendering of resources, and the builders.
#![allow(dead_code, clippy::unwrap_used)]

use std::fmt::Debug;
use std::path::{Path, PathBuf};

use envoy_types::pb::envoy::config::core::v3::{TransportSocket, transport_socket};
use envoy_types::pb::envoy::config::listener::v3::filter::ConfigType;
use envoy_types::pb::envoy::config::listener::v3::listener_filter;
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::HttpFault;
use envoy_types::pb::envoy::extensions::filters::listener::tls_inspector::v3::TlsInspector;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_filter,
};
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    DownstreamTlsContext, UpstreamTlsContext,
};
use envoy_types::pb::envoy::extensions::upstreams::http::v3::HttpProtocolOptions;
use envoy_types::pb::google::protobuf::Any;
use rigging_mesh_config_entries::{ConfigEntry, parse_str, validate_set};
pub use rigging_mesh_test_util::{catalog, endpoint, proxy, service};
use rigging_mesh_xds::{
    DOWNSTREAM_TLS_CONTEXT, HTTP_CONNECTION_MANAGER, HTTP_PROTOCOL_OPTIONS, ResourceType,
    TCP_PROXY, TLS_INSPECTOR, UPSTREAM_TLS_CONTEXT, unpack,
};
use rigging_pilot_chain::Entries;
use rigging_pilot_compiler::ProxyResources;

/// The fault filter's config type, as the contract names it.
pub const HTTP_FAULT: &str = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault";

/// `{:#?}` without the fields left at their defaults, so goldens show what was set.
fn compact<T: Debug>(value: &T) -> String {
    const DEFAULTS: [&str; 7] = [
        ": None,", ": 0,", ": false,", ": [],", ": \"\",", ": {},", ": 0.0,",
    ];
    let text = format!("{value:#?}");
    let mut out = String::new();
    for line in text.lines() {
        if DEFAULTS.iter().any(|d| line.trim_end().ends_with(d)) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// An `Any` decoded by its type URL, readable.
fn decode(any: &Any) -> String {
    match any.type_url.as_str() {
        HTTP_CONNECTION_MANAGER => {
            let mut h: HttpConnectionManager = unpack(&any.type_url, any).unwrap();
            let mut urls = Vec::new();
            for hf in &mut h.http_filters {
                if let Some(http_filter::ConfigType::TypedConfig(a)) = hf.config_type.take() {
                    urls.push(a.type_url);
                }
            }
            format!("{}http filter configs: {urls:?}\n", compact(&h))
        }
        TCP_PROXY => compact(&unpack::<TcpProxy>(TCP_PROXY, any).unwrap()),
        DOWNSTREAM_TLS_CONTEXT => {
            compact(&unpack::<DownstreamTlsContext>(DOWNSTREAM_TLS_CONTEXT, any).unwrap())
        }
        UPSTREAM_TLS_CONTEXT => {
            compact(&unpack::<UpstreamTlsContext>(UPSTREAM_TLS_CONTEXT, any).unwrap())
        }
        TLS_INSPECTOR => compact(&unpack::<TlsInspector>(TLS_INSPECTOR, any).unwrap()),
        other => format!("undecoded {other}\n"),
    }
}

/// Takes a transport socket's typed config out, leaving its name.
fn take_socket_config(socket: &mut Option<TransportSocket>) -> Option<Any> {
    match socket.as_mut()?.config_type.take()? {
        transport_socket::ConfigType::TypedConfig(any) => Some(any),
    }
}

/// Every resource, with `Any` payloads decoded in place of their bytes.
pub fn render(res: &ProxyResources) -> String {
    let mut out = String::new();
    for l in &res.listeners {
        let mut l = l.clone();
        let mut decoded = Vec::new();
        for lf in &mut l.listener_filters {
            if let Some(listener_filter::ConfigType::TypedConfig(any)) = lf.config_type.take() {
                decoded.push(("listener filter typed_config", decode(&any)));
            }
        }
        for chain in &mut l.filter_chains {
            for f in &mut chain.filters {
                if let Some(ConfigType::TypedConfig(any)) = f.config_type.take() {
                    decoded.push(("filter typed_config", decode(&any)));
                }
            }
            if let Some(any) = take_socket_config(&mut chain.transport_socket) {
                decoded.push(("transport_socket typed_config", decode(&any)));
            }
        }
        out.push_str("=== listener\n");
        out.push_str(&compact(&l));
        for (what, d) in decoded {
            out.push_str(&format!("--- {what}\n"));
            out.push_str(&d);
        }
    }
    for r in &res.routes {
        let mut r = r.clone();
        let mut decoded = Vec::new();
        for route in r.virtual_hosts.iter_mut().flat_map(|v| &mut v.routes) {
            for (name, any) in std::mem::take(&mut route.typed_per_filter_config) {
                let f: HttpFault = unpack(HTTP_FAULT, &any).unwrap();
                decoded.push((route.name.clone(), name, compact(&f)));
            }
        }
        out.push_str("=== route configuration\n");
        out.push_str(&compact(&r));
        for (route, name, d) in decoded {
            out.push_str(&format!(
                "--- route {route}: typed_per_filter_config {name}\n"
            ));
            out.push_str(&d);
        }
    }
    for c in &res.clusters {
        let mut c = c.clone();
        let options = std::mem::take(&mut c.typed_extension_protocol_options);
        let socket = take_socket_config(&mut c.transport_socket);
        out.push_str("=== cluster\n");
        out.push_str(&compact(&c));
        for (key, any) in options {
            let o: HttpProtocolOptions = unpack(HTTP_PROTOCOL_OPTIONS, &any).unwrap();
            out.push_str(&format!("--- protocol options {key}\n"));
            out.push_str(&compact(&o));
        }
        if let Some(any) = socket {
            out.push_str("--- transport_socket typed_config\n");
            out.push_str(&decode(&any));
        }
    }
    for e in &res.endpoints {
        out.push_str("=== cluster load assignment\n");
        out.push_str(&compact(e));
    }
    out
}

/// A set of config entries from HCL documents, which must be valid.
pub fn entries(docs: &[&str]) -> Entries {
    let mut all: Vec<ConfigEntry> = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        let loaded = parse_str(Path::new(&format!("entry-{i}.hcl")), d);
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        all.extend(loaded.entries);
    }
    let errors = validate_set(&all);
    assert!(errors.is_empty(), "{errors:?}");
    Entries::new(all)
}

/// Compares `text` with golden file `tests/golden/<case>.txt`; `UPDATE_GOLDEN=1` rewrites it.
pub fn check(case: &str, text: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{case}.txt"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    if want != text {
        let first = want
            .lines()
            .zip(text.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(want.lines().count().min(text.lines().count()));
        panic!(
            "{case}: compiled output differs from {} at line {}:\n  want: {:?}\n  got:  {:?}\n(UPDATE_GOLDEN=1 rewrites it)",
            path.display(),
            first + 1,
            want.lines().nth(first),
            text.lines().nth(first)
        );
    }
}

/// Every type converts in the proxy, and every cluster a listener or route names is sent.
pub fn assert_proxy_accepts(what: &str, res: &ProxyResources) {
    let mut config = rigging_proxy_config::ProxyConfig::default();
    for ty in ResourceType::ALL {
        config = config
            .with_resources(ty, &res.packed(ty).into_any())
            .unwrap_or_else(|err| panic!("{what}: {ty} refused: {err}"));
    }
    assert!(
        config.check_references().is_empty(),
        "{what}: {:?}",
        config.check_references()
    );
}
