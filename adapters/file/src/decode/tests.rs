use std::time::Duration;

use rigging_mesh_model::{MutualTlsMode, Protocol};

use super::*;

fn decode(files: &[(&str, &str)]) -> Result<Catalog, Vec<FileError>> {
    let mut d = Decoder::default();
    for (name, text) in files {
        d.add(Path::new(name), (*text).to_owned());
    }
    d.finish(Path::new("reg"))
}

fn one_error(text: &str) -> HclError {
    let errors = decode(&[("r.hcl", text)]).expect_err("expected an error");
    assert_eq!(errors.len(), 1, "{errors:?}");
    match errors.into_iter().next() {
        Some(FileError::Hcl(e)) => e,
        other => panic!("expected an HCL error, got {other:?}"),
    }
}

const FULL: &str = r#"
service "api" {
  protocol        = "http"
  load_balancer   = "least_request"
  connect_timeout = "150ms"
  mutual_tls_mode = "permissive"

  instance "api-v1-1" {
    address = "127.0.0.1"
    port    = 9001
    health  = "warning"
    meta    = { version = "v1" }
    tags    = ["v1", "canary"]
    locality {
      region = "local"
      zone   = "a"
    }
    sidecar {
      port = 21001
      local_service_address = "127.0.0.2"
      upstream "db" {
        local_bind_port = 9192
      }
      upstream "cache" {
        local_bind_port    = 9193
        local_bind_address = "127.0.0.3"
      }
    }
  }

  instance "api-v1-2" {
    address = "10.0.0.2"
    port    = 9002
    meta {
      version = "v2"
    }
    locality = { zone = "b" }
  }
}

service "db" {
  instance "db-1" {
    address = "::1"
    port    = 5432
  }
}
"#;

#[test]
fn full_file_maps_to_the_model() {
    let c = decode(&[("r.hcl", FULL)]).unwrap();
    let api = &c.services[&ServiceName::new("api").unwrap()];
    assert_eq!(api.protocol, Protocol::Http);
    assert_eq!(api.lb_policy, LbPolicy::LeastRequest);
    assert_eq!(api.connect_timeout, Duration::from_millis(150));
    assert_eq!(api.mutual_tls_mode, MutualTlsMode::Permissive);
    assert_eq!(api.endpoints.len(), 2);
    let e1 = &api.endpoints[0];
    assert_eq!(e1.instance, "api-v1-1");
    assert_eq!(e1.address, "127.0.0.1:21001".parse().unwrap());
    assert_eq!(e1.health, Health::Warning);
    assert_eq!(e1.metadata["version"], "v1");
    assert_eq!(e1.tags, ["v1", "canary"]);
    assert_eq!(e1.locality.region, "local");
    assert_eq!(e1.locality.zone, "a");
    let e2 = &api.endpoints[1];
    assert_eq!(e2.address, "10.0.0.2:9002".parse().unwrap());
    assert_eq!(e2.health, Health::Passing);
    assert_eq!(e2.metadata["version"], "v2");
    assert!(e2.tags.is_empty(), "no tags by default");
    assert_eq!(e2.locality.zone, "b");

    assert_eq!(c.proxies.len(), 1);
    let p = &c.proxies[&ProxyId::new("api-v1-1").unwrap()];
    assert_eq!(p.service.as_str(), "api");
    assert_eq!(p.inbound, "127.0.0.1:21001".parse().unwrap());
    assert_eq!(p.local_app, "127.0.0.2:9001".parse().unwrap());
    let ups: Vec<_> = p
        .upstreams
        .iter()
        .map(|u| (u.service.as_str(), u.local_bind.to_string()))
        .collect();
    assert_eq!(
        ups,
        [
            ("db", "127.0.0.1:9192".to_owned()),
            ("cache", "127.0.0.3:9193".to_owned())
        ]
    );

    let db = &c.services[&ServiceName::new("db").unwrap()];
    assert_eq!(db.protocol, Protocol::Tcp);
    assert_eq!(db.lb_policy, LbPolicy::RoundRobin);
    assert_eq!(
        db.connect_timeout,
        rigging_mesh_model::DEFAULT_CONNECT_TIMEOUT
    );
    assert_eq!(db.endpoints[0].address, "[::1]:5432".parse().unwrap());
    assert_eq!(db.mutual_tls_mode, MutualTlsMode::Strict, "the default");
    assert!(!db.endpoints[0].sidecar);
    assert!(api.endpoints[0].sidecar && !api.endpoints[1].sidecar);
}

#[test]
fn mutual_tls_mode_takes_consuls_values() {
    for (text, mode) in [
        ("strict", MutualTlsMode::Strict),
        ("permissive", MutualTlsMode::Permissive),
    ] {
        let file = format!("service \"api\" {{\n  mutual_tls_mode = \"{text}\"\n}}\n");
        let c = decode(&[("r.hcl", &file)]).unwrap();
        assert_eq!(
            c.services[&ServiceName::new("api").unwrap()].mutual_tls_mode,
            mode,
            "{text}"
        );
    }
}

#[test]
fn empty_file_is_an_empty_catalog() {
    assert_eq!(
        decode(&[("r.hcl", "# nothing yet\n")]).unwrap(),
        Catalog::default()
    );
}

/// Wraps an instance body in a service and instance, so lines are predictable:
/// the instance body starts on line 3.
fn inst(body: &str) -> String {
    format!("service \"api\" {{\n  instance \"i1\" {{\n{body}\n  }}\n}}\n")
}

#[test]
fn invalid_files_table() {
    let base = "    address = \"127.0.0.1\"\n    port = 9001";
    let cases: Vec<(String, usize, usize, &str)> = vec![
        ("service \"api\" {\n  protocol = \"udp\"\n}".into(), 2, 14,
            "protocol: unknown protocol \"udp\"; expected one of tcp, http, http2, grpc"),
        ("service \"api\" {\n  protocl = \"http\"\n}".into(), 2, 3,
            "unexpected attribute \"protocl\"; expected attributes: protocol, load_balancer, connect_timeout, mutual_tls_mode; blocks: instance"),
        ("service \"a b\" {}".into(), 1, 9,
            "invalid service name: name \"a b\" has the character ' '"),
        ("service {}".into(), 1, 1, "block \"service\" has 0 label(s); expected 1: service \"<name>\""),
        ("servce \"api\" {}".into(), 1, 1, "unexpected block \"servce\"; expected attributes: none; blocks: service"),
        ("service \"api\" {\n  load_balancer = \"random\"\n}".into(), 2, 19,
            "load_balancer: expected one of round_robin, least_request, found \"random\""),
        ("service \"api\" {\n  connect_timeout = \"5\"\n}".into(), 2, 21, "missing unit after \"5\""),
        ("service \"api\" {\n  connect_timeout = \"0s\"\n}".into(), 2, 21, "expected a duration greater than zero"),
        ("service \"api\" {\n  mutual_tls_mode = \"off\"\n}".into(), 2, 21,
            "mutual_tls_mode: unknown mutual tls mode \"off\"; expected strict or permissive"),
        ("service \"api\" {\n  mutual_tls_mode = \"Permissive\"\n}".into(), 2, 21,
            "unknown mutual tls mode \"Permissive\"; expected strict or permissive"),
        ("service \"api\" {\n  mutual_tls_mode = true\n}".into(), 2, 21, "mutual_tls_mode: expected a string"),
        (inst("    port = 9001"), 2, 3, "missing required attribute \"address\""),
        (inst("    address = \"localhost\"\n    port = 9001"), 3, 15, "address: expected an IP address"),
        (inst("    address = \"127.0.0.1\"\n    port = 0"), 4, 12, "port: expected a number from 1 to 65535, found 0"),
        (inst("    address = \"127.0.0.1\"\n    port = 65536"), 4, 12, "found 65536"),
        (inst("    address = \"127.0.0.1\"\n    port = \"80\""), 4, 12, "found \"80\""),
        (inst(&format!("{base}\n    health = \"up\"")), 5, 14,
            "health: expected one of passing, warning, critical, maintenance, found \"up\""),
        (inst(&format!("{base}\n    meta = {{ n = 1 }}")), 5, 18, "n: expected a string, found 1"),
        (inst(&format!("{base}\n    locality {{ city = \"x\" }}")), 5, 16, "unexpected attribute \"city\""),
        (inst(&format!("{base}\n    weight = 3")), 5, 5,
            "unexpected attribute \"weight\"; expected attributes: address, port, health, meta, tags, locality; blocks: meta, locality, sidecar"),
        (inst(&format!("{base}\n    sidecar {{\n    }}")), 5, 5, "missing required attribute \"port\""),
        (inst(&format!("{base}\n    sidecar {{\n      port = 21000\n      upstream \"db\" {{}}\n    }}")), 7, 7,
            "missing required attribute \"local_bind_port\""),
        (inst(&format!("{base}\n    sidecar {{\n      port = 21000\n      upstream \"db\" {{ local_bind_port = 1 }}\n      upstream \"db\" {{ local_bind_port = 2 }}\n    }}")), 8, 16,
            "upstream \"db\" is declared twice in this sidecar"),
        (inst(&format!("{base}\n    sidecar {{\n      port = 21000\n      upstream \"db\" {{ local_bind_port = 1 }}\n      upstream \"kv\" {{ local_bind_port = 1 }}\n    }}")), 8, 41,
            "local_bind_port: 127.0.0.1:1 is already bound by upstream \"db\" in this sidecar"),
        (inst(&format!("{base}\n    sidecar \"x\" {{ port = 1 }}")), 5, 13, "block \"sidecar\" has 1 label(s); expected 0"),
        (inst(&format!("{base}\n    sidecar {{ port = 1 }}\n    sidecar {{ port = 2 }}")), 6, 5, "block \"sidecar\" is given more than once"),
        ("service \"api\" {\n  instance \"i1\" {\n    address = \"::1\"\n    port = 1\n  }\n  instance \"i1\" {\n    address = \"::1\"\n    port = 2\n  }\n}".into(), 6, 12,
            "instance \"i1\" is already defined at r.hcl:2:12; instance names are unique across the registry"),
        ("service \"api\" {\n  instance \"-bad\" {}\n}".into(), 2, 12, "invalid instance name: proxy id \"-bad\" must start with a letter, a digit or '_'"),
        ("service \"api\" {\n  protocol = \n}".into(), 2, 14, "invalid expression"),
    ];
    for (i, (text, line, col, msg)) in cases.iter().enumerate() {
        let e = one_error(text);
        assert_eq!(
            (e.location.line, e.location.column),
            (*line, *col),
            "case {i}: {e}\n{text}"
        );
        assert!(
            e.message.contains(msg),
            "case {i}: {:?} lacks {msg:?}",
            e.message
        );
        assert!(
            e.to_string().starts_with(&format!("r.hcl:{line}:{col}: ")),
            "case {i}: {e}"
        );
    }
}

#[test]
fn every_faulty_service_is_reported() {
    let text = "service \"a\" {\n  protocol = \"x\"\n}\nservice \"b\" {\n  bogus = 1\n}\nservice \"c\" {}\n";
    let errors = decode(&[("r.hcl", text)]).unwrap_err();
    let at: Vec<_> = errors
        .iter()
        .map(|e| match e {
            FileError::Hcl(e) => (e.location.line, e.location.column),
            other => panic!("{other}"),
        })
        .collect();
    assert_eq!(at, [(2, 14), (5, 3)]);
}

#[test]
fn duplicates_across_files_point_at_the_second() {
    let a = "service \"api\" {\n  instance \"i1\" {\n    address = \"::1\"\n    port = 1\n  }\n}\n";
    let b = "\nservice \"api\" {}\n";
    let errors = decode(&[("a.hcl", a), ("b.hcl", b)]).unwrap_err();
    assert_eq!(
        errors[0].to_string(),
        "b.hcl:2:9: service \"api\" is already defined at a.hcl:1:1"
    );

    let c = "service \"web\" {\n  instance \"i1\" {\n    address = \"::1\"\n    port = 2\n  }\n}\n";
    let errors = decode(&[("a.hcl", a), ("c.hcl", c)]).unwrap_err();
    assert_eq!(
        errors[0].to_string(),
        "c.hcl:2:12: instance \"i1\" is already defined at a.hcl:2:12; instance names are unique across the registry"
    );

    let ok = decode(&[("a.hcl", a), ("c.hcl", &c.replace("i1", "i2"))]).unwrap();
    assert_eq!(ok.services.len(), 2);
}
