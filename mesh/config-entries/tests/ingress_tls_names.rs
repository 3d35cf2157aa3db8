//! `IngressGateway::tls_dns_names`: the names Citadel puts in an ingress gateway's certificate
//! for the hosts its TLS listeners serve, read from entries written as HCL.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use rigging_mesh_config_entries::{ConfigEntry, IngressGateway, parse_str};

/// The one `ingress-gateway` in `hcl`, which must have no errors.
fn gateway(name: &str, hcl: &str) -> IngressGateway {
    let loaded = parse_str(Path::new("ingress.hcl"), hcl);
    assert!(loaded.errors.is_empty(), "{name}: {:?}", loaded.errors);
    match loaded.entries.as_slice() {
        [ConfigEntry::IngressGateway(g)] => g.clone(),
        other => panic!("{name}: not one ingress gateway: {other:?}"),
    }
}

#[test]
fn names_by_tls_and_sds() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "gateway tls: hosts, or the service's default names",
            r#"
Kind = "ingress-gateway"
Name = "in"
TLS { Enabled = true }
Listeners = [{
  Port = 8443, Protocol = "http",
  Services = [{ Name = "web" }, { Name = "api", Hosts = ["api.example.com", "API.Example.com."] }],
}]
"#,
            &[
                "api.example.com",
                "web.ingress.consul",
                "web.ingress.dc1.consul",
            ],
        ),
        (
            "no tls anywhere: no names",
            r#"
Kind = "ingress-gateway"
Name = "in"
Listeners = [{ Port = 8080, Protocol = "http", Services = [{ Name = "web", Hosts = ["shop.example.com"] }] }]
"#,
            &[],
        ),
        (
            "listener tls: only that listener's services",
            r#"
Kind = "ingress-gateway"
Name = "in"
Listeners = [
  { Port = 8080, Protocol = "http", Services = [{ Name = "plain", Hosts = ["plain.example.com"] }] },
  { Port = 8443, Protocol = "http", TLS { Enabled = true }, Services = [{ Name = "secure", Hosts = ["secure.example.com"] }] },
]
"#,
            &["secure.example.com"],
        ),
        (
            "a listener cannot turn off the gateway's tls",
            r#"
Kind = "ingress-gateway"
Name = "in"
TLS { Enabled = true }
Listeners = [{
  Port = 8443, Protocol = "http", TLS { Enabled = false, TLSMinVersion = "TLSv1_3" },
  Services = [{ Name = "web", Hosts = ["shop.example.com"] }],
}]
"#,
            &["shop.example.com"],
        ),
        (
            "a service with its own sds certificate is left out, not its neighbours",
            r#"
Kind = "ingress-gateway"
Name = "in"
TLS { Enabled = true }
Listeners = [{
  Port = 8443, Protocol = "http",
  Services = [
    { Name = "web", Hosts = ["shop.example.com"] },
    { Name = "pay", Hosts = ["pay.example.com"], TLS { SDS { ClusterName = "sds", CertResource = "pay-cert" } } },
  ],
}]
"#,
            &["shop.example.com"],
        ),
        (
            "a listener with an sds certificate is left out",
            r#"
Kind = "ingress-gateway"
Name = "in"
TLS { Enabled = true }
Listeners = [
  { Port = 8443, Protocol = "http", TLS { SDS { ClusterName = "sds", CertResource = "cert" } },
    Services = [{ Name = "sds-served", Hosts = ["sds.example.com"] }] },
  { Port = 9443, Protocol = "http", Services = [{ Name = "web", Hosts = ["shop.example.com"] }] },
]
"#,
            &["shop.example.com"],
        ),
        (
            "a listener's certificate under the gateway's sds cluster is left out",
            r#"
Kind = "ingress-gateway"
Name = "in"
TLS {
  Enabled = true
  SDS { ClusterName = "sds" }
}
Listeners = [{
  Port = 8443, Protocol = "http", TLS { SDS { CertResource = "cert" } },
  Services = [{ Name = "web", Hosts = ["shop.example.com"] }],
}]
"#,
            &[],
        ),
        (
            "a gateway sds certificate covers every listener",
            r#"
Kind = "ingress-gateway"
Name = "in"
TLS {
  Enabled = true
  SDS {
    ClusterName  = "sds"
    CertResource = "cert"
  }
}
Listeners = [
  { Port = 8443, Protocol = "http", Services = [{ Name = "web", Hosts = ["shop.example.com"] }] },
  { Port = 9443, Protocol = "tcp", Services = [{ Name = "db" }] },
]
"#,
            &[],
        ),
        (
            "the wildcard service: wildcard names",
            r#"
Kind = "ingress-gateway"
Name = "in"
TLS { Enabled = true }
Listeners = [{ Port = 8443, Protocol = "http", Services = [{ Name = "*" }] }]
"#,
            &["*.ingress.consul", "*.ingress.dc1.consul"],
        ),
        (
            "a tcp listener: the service's default names",
            r#"
Kind = "ingress-gateway"
Name = "in"
Listeners = [{ Port = 5432, Protocol = "tcp", TLS { Enabled = true }, Services = [{ Name = "db" }] }]
"#,
            &["db.ingress.consul", "db.ingress.dc1.consul"],
        ),
        (
            "a `*` host (allowed when only the listener has tls) names no certificate",
            r#"
Kind = "ingress-gateway"
Name = "in"
Listeners = [{
  Port = 8443, Protocol = "http", TLS { Enabled = true },
  Services = [{ Name = "web", Hosts = ["*"] }, { Name = "api", Hosts = ["*.api.example.com"] }],
}]
"#,
            &["*.api.example.com"],
        ),
        (
            "names shared by listeners, once and sorted",
            r#"
Kind = "ingress-gateway"
Name = "in"
TLS { Enabled = true }
Listeners = [
  { Port = 8443, Protocol = "http", Services = [{ Name = "web", Hosts = ["shop.example.com", "b.example.com"] }] },
  { Port = 9443, Protocol = "http2", Services = [{ Name = "web2", Hosts = ["Shop.example.com", "a.example.com"] }] },
]
"#,
            &["a.example.com", "b.example.com", "shop.example.com"],
        ),
    ];
    for (name, hcl, want) in cases {
        let got = gateway(name, hcl).tls_dns_names("dc1");
        assert_eq!(got, *want, "{name}");
    }
}

#[test]
fn without_a_datacenter_only_the_short_default_names() {
    let g = gateway(
        "no dc",
        r#"
Kind = "ingress-gateway"
Name = "in"
TLS { Enabled = true }
Listeners = [{ Port = 8443, Protocol = "http", Services = [{ Name = "web" }] }]
"#,
    );
    assert_eq!(g.tls_dns_names(""), ["web.ingress.consul"]);
    assert_eq!(
        g.tls_dns_names("eu-west"),
        ["web.ingress.consul", "web.ingress.eu-west.consul"]
    );
}

#[test]
fn the_default_gateway_has_no_names() {
    assert!(IngressGateway::default().tls_dns_names("dc1").is_empty());
}
