//! Shared by the compiler's tests: a readable rendering of resources, and the builders.
#![allow(dead_code, clippy::unwrap_used)]

use std::fmt::Debug;

use envoy_types::pb::envoy::config::listener::v3::filter::ConfigType;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_filter,
};
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy;
use envoy_types::pb::envoy::extensions::upstreams::http::v3::HttpProtocolOptions;
pub use rigging_mesh_test_util::{catalog, endpoint, proxy, service};
use rigging_mesh_xds::{HTTP_CONNECTION_MANAGER, HTTP_PROTOCOL_OPTIONS, TCP_PROXY, unpack};
use rigging_pilot_compiler::ProxyResources;

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

/// Every resource, with `Any` payloads decoded in place of their bytes.
pub fn render(res: &ProxyResources) -> String {
    let mut out = String::new();
    for l in &res.listeners {
        let mut l = l.clone();
        let mut decoded = Vec::new();
        for chain in &mut l.filter_chains {
            for f in &mut chain.filters {
                if let Some(ConfigType::TypedConfig(any)) = f.config_type.take() {
                    decoded.push(match any.type_url.as_str() {
                        HTTP_CONNECTION_MANAGER => {
                            let mut h: HttpConnectionManager = unpack(&any.type_url, &any).unwrap();
                            let mut urls = Vec::new();
                            for hf in &mut h.http_filters {
                                if let Some(http_filter::ConfigType::TypedConfig(a)) =
                                    hf.config_type.take()
                                {
                                    urls.push(a.type_url);
                                }
                            }
                            format!("{}http filter configs: {urls:?}\n", compact(&h))
                        }
                        TCP_PROXY => compact(&unpack::<TcpProxy>(TCP_PROXY, &any).unwrap()),
                        other => format!("undecoded {other}\n"),
                    });
                }
            }
        }
        out.push_str("=== listener\n");
        out.push_str(&compact(&l));
        for d in decoded {
            out.push_str("--- filter typed_config\n");
            out.push_str(&d);
        }
    }
    for r in &res.routes {
        out.push_str("=== route configuration\n");
        out.push_str(&compact(r));
    }
    for c in &res.clusters {
        let mut c = c.clone();
        let options = std::mem::take(&mut c.typed_extension_protocol_options);
        out.push_str("=== cluster\n");
        out.push_str(&compact(&c));
        for (key, any) in options {
            let o: HttpProtocolOptions = unpack(HTTP_PROTOCOL_OPTIONS, &any).unwrap();
            out.push_str(&format!("--- protocol options {key}\n"));
            out.push_str(&compact(&o));
        }
    }
    for e in &res.endpoints {
        out.push_str("=== cluster load assignment\n");
        out.push_str(&compact(e));
    }
    out
}
