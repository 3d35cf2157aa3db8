//! Conformance over the shared corpus of real HashiCorp service definitions: every valid
//! file is accepted and its sidecars planned; the files the MANIFEST flags as broken are
//! refused with an error at the fault.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::path::{Path, PathBuf};

use rigging_mesh_service_definition::{
    DefinitionError, Endpoint, PlanOptions, SidecarSource, load_file, plan_sidecars,
};

/// `$RIGGING_CORPUS` (relative to the workspace root), or `../shared/corpus` from there.
fn corpus() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = match std::env::var_os("RIGGING_CORPUS") {
        Some(d) => root.join(d),
        None => root.join("../shared/corpus"),
    };
    let dir = dir.join("consul-services");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("skipped: corpus folder {} is absent", dir.display());
        None
    }
}

/// The files the MANIFEST flags as broken, with where the first error must point and a
/// piece of its message.
const BROKEN: &[(&str, usize, usize, &str)] = &[
    // the closing brace of `proxy = {` is missing: the file ends inside that object
    (
        "docs-proxy-registration-complete.hcl",
        4,
        9,
        "is never closed",
    ),
    // `"port": 8000,` then `}`: a trailing comma, the first of its JSON faults
    (
        "docs-services-full-definition.json",
        14,
        7,
        "invalid JSON: trailing comma before '}'",
    ),
    // `port = 80` (line 4) then `port = 8000`: refused at the second (see the crate docs)
    (
        "docs-services-full-definition.hcl",
        23,
        3,
        "attribute \"port\" is given more than once",
    ),
];

#[test]
fn every_file_is_read_as_the_manifest_says() {
    let Some(dir) = corpus() else { return };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 13,
        "expected the 13 corpus files, found {}",
        files.len()
    );
    for path in &files {
        let name = path.file_name().unwrap().to_str().unwrap();
        let result = load_file(path);
        match BROKEN.iter().find(|(f, ..)| *f == name) {
            Some((_, line, column, message)) => {
                let err = result.expect_err(name);
                let first = err.first().unwrap_or_else(|| panic!("{name}: {err}"));
                println!("{name}: refused: {err}");
                assert_eq!(
                    (first.location.line, first.location.column),
                    (*line, *column),
                    "{name}: {err}"
                );
                assert!(first.message.contains(message), "{name}: {err}");
                assert!(first.to_string().contains(name), "{name}: {err}");
            }
            None => {
                let parsed = result.unwrap_or_else(|e: DefinitionError| panic!("{name}: {e}"));
                let plans = plan_sidecars(&parsed.services, &PlanOptions::default())
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                println!(
                    "{name}: {} service(s), {} sidecar(s): {:?}",
                    parsed.services.len(),
                    plans.len(),
                    plans
                        .iter()
                        .map(|p| (&p.sidecar_id, p.sidecar_port, &p.local_app))
                        .collect::<Vec<_>>()
                );
            }
        }
    }
}

fn plans_of(file: &str) -> Option<Vec<rigging_mesh_service_definition::SidecarPlan>> {
    let parsed = load_file(&corpus()?.join(file)).unwrap();
    Some(plan_sidecars(&parsed.services, &PlanOptions::default()).unwrap())
}

#[test]
fn integration_sidecars_expand_as_consul_does() {
    let Some(plans) = plans_of("test-integration-case-cfg-router-features-service_s2-v1.hcl")
    else {
        return;
    };
    let [p] = plans.as_slice() else {
        panic!("{plans:?}")
    };
    assert_eq!(p.source, SidecarSource::Nested);
    assert_eq!(
        (p.service_name.as_str(), p.service_id.as_str()),
        ("s2", "s2-v1")
    );
    assert_eq!(p.sidecar_id, "s2-v1-sidecar-proxy");
    assert_eq!(p.sidecar_name, "s2-sidecar-proxy");
    assert_eq!(p.sidecar_port, 21000);
    assert!(p.port_assigned);
    assert_eq!(
        p.local_app,
        Endpoint::Tcp {
            address: "127.0.0.1".into(),
            port: 8182
        }
    );
    // meta inherited from the service, as Consul does when the sidecar sets none
    assert_eq!(p.meta.get("version").map(String::as_str), Some("v1"));
    assert_eq!(p.checks.len(), 2);
    assert_eq!(p.checks[0].tcp, "127.0.0.1:21000");
    assert_eq!(p.checks[1].alias_service, "s2-v1");
}

#[test]
fn minimal_json_and_its_expanded_twin_agree() {
    let Some(minimal) = plans_of("docs-sidecar-service-minimal.json") else {
        return;
    };
    let expanded = plans_of("docs-sidecar-service-expanded-equivalent.json").unwrap();
    let (m, e) = (&minimal[0], &expanded[0]);
    assert_eq!(e.source, SidecarSource::ProxyRegistration);
    assert_eq!(
        (m.sidecar_name.as_str(), e.sidecar_name.as_str()),
        ("web-sidecar-proxy", "web-sidecar-proxy")
    );
    assert_eq!(m.local_app, e.local_app);
    assert_eq!(m.service_name, e.service_name);
    // the docs' 20000 predates the 21000-21255 default range
    assert_eq!((m.sidecar_port, e.sidecar_port), (21000, 20000));
    assert_eq!(m.checks[0].name, e.checks[0].name);
    assert_eq!(m.checks[1].alias_service, e.checks[1].alias_service);
}

#[test]
fn hcl_and_json_twins_read_the_same() {
    let Some(dir) = corpus() else { return };
    for stem in [
        "docs-services-tagged-addresses-lan",
        "docs-services-tagged-addresses-virtual",
    ] {
        let mut hcl = load_file(&dir.join(format!("{stem}.hcl")))
            .unwrap()
            .services;
        let mut json = load_file(&dir.join(format!("{stem}.json")))
            .unwrap()
            .services;
        for s in hcl.iter_mut().chain(json.iter_mut()) {
            s.location = None;
        }
        assert_eq!(hcl, json, "{stem}");
    }
}

#[test]
fn the_full_definition_reads_once_its_duplicate_port_is_gone() {
    let Some(dir) = corpus() else { return };
    let path = dir.join("docs-services-full-definition.hcl");
    let text = std::fs::read_to_string(&path).unwrap();
    // what Consul's HCL1 decoder does with the twice-given port: the last one (8000) wins
    let fixed = text.replacen("  port = 80\n", "\n", 1);
    let parsed = rigging_mesh_service_definition::parse_str(&path, &fixed).unwrap();
    let s = &parsed.services[0];
    assert_eq!(s.port, Some(8000));
    let proxy = s.proxy.as_ref().unwrap();
    assert_eq!(proxy.destination_service_name, "redis");
    assert_eq!(
        proxy.transparent_proxy.unwrap().outbound_listener_port,
        Some(22500)
    );
    assert_eq!(proxy.expose.paths[0].listener_port, Some(21500));
    // the deprecated proxy_destination is only warned about
    assert!(
        parsed.warnings[0].message.contains("proxy_destination"),
        "{:?}",
        parsed.warnings
    );
}
