//! The agent client against the fake Consul agent: register, re-register, deregister, and
//! each way a call fails (bad token, invalid body, server error, nobody listening).
#![allow(clippy::unwrap_used)]

use std::path::Path;

use rigging_mesh_service_definition::{
    AgentClient, AgentConfig, AgentError, PlanOptions, ServiceRegistration, parse_str,
    plan_sidecars,
};
use rigging_mesh_test_util::fake_consul::{AGENT_NODE, FakeConsul};

const WEB: &str = r#"
service {
  name = "web"
  id   = "web-1"
  port = 8080
  tags = ["v1"]
  connect {
    sidecar_service {
      proxy {
        upstreams = [{ destination_name = "api", local_bind_port = 9191 }]
      }
    }
  }
}
"#;

fn plan(text: &str) -> rigging_mesh_service_definition::SidecarPlan {
    let parsed = parse_str(Path::new("web.hcl"), text).unwrap();
    plan_sidecars(&parsed.services, &PlanOptions::default())
        .unwrap()
        .remove(0)
}

fn client(fake: &FakeConsul) -> AgentClient {
    AgentClient::new(&AgentConfig::new(fake.url())).unwrap()
}

#[tokio::test]
async fn register_shows_the_service_and_its_sidecar_at_the_agent_and_in_the_catalog() {
    let fake = FakeConsul::start().await;
    let agent = client(&fake);
    let plan = plan(WEB);
    agent.register_plan(&plan).await.unwrap();

    let services = agent.services().await.unwrap();
    let web = &services["web-1"];
    assert_eq!(web["Service"], "web");
    assert_eq!(web["Port"], 8080);
    let sidecar = &services["web-1-sidecar-proxy"];
    assert_eq!(sidecar["Kind"], "connect-proxy");
    // the planned port was pinned in the body, so the agent kept it
    assert_eq!(sidecar["Port"], u64::from(plan.sidecar_port));
    assert_eq!(sidecar["Proxy"]["DestinationServiceName"], "web");
    assert_eq!(sidecar["Proxy"]["Upstreams"][0]["LocalBindPort"], 9191);
    assert_eq!(sidecar["Tags"][0], "v1");

    // the catalog side of the fake, which the Consul registry reads, sees both
    let health: serde_json::Value = reqwest::get(format!("{}/v1/health/connect/web", fake.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health[0]["Node"]["Node"], AGENT_NODE);
    assert_eq!(health[0]["Service"]["ID"], "web-1-sidecar-proxy");
    let checks: Vec<&str> = health[0]["Checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["Status"].as_str().unwrap())
        .collect();
    // serfHealth passes; the sidecar's two default checks start critical, as in Consul
    assert_eq!(checks, ["passing", "critical", "critical"]);
}

#[tokio::test]
async fn re_registering_updates_in_place() {
    let fake = FakeConsul::start().await;
    let agent = client(&fake);
    agent.register_plan(&plan(WEB)).await.unwrap();
    let index = fake.index();
    agent
        .register_plan(&plan(&WEB.replace("\"v1\"", "\"v2\"")))
        .await
        .unwrap();
    assert!(fake.index() > index);
    let services = agent.services().await.unwrap();
    assert_eq!(services.len(), 2, "{services:?}");
    assert_eq!(services["web-1"]["Tags"][0], "v2");
}

#[tokio::test]
async fn deregister_drops_the_service_and_its_sidecar() {
    let fake = FakeConsul::start().await;
    let agent = client(&fake);
    agent.register_plan(&plan(WEB)).await.unwrap();
    agent.deregister("web-1").await.unwrap();
    assert!(agent.services().await.unwrap().is_empty());
    let err = agent.deregister("web-1").await.unwrap_err();
    assert_eq!(err.status(), Some(404), "{err}");
    assert!(err.to_string().contains("Unknown service ID"), "{err}");
}

#[tokio::test]
async fn the_token_goes_in_the_header_and_a_wrong_one_is_403() {
    let fake = FakeConsul::start().await;
    fake.require_token(Some("s3cret"));
    let anonymous = client(&fake);
    let err = anonymous.register_plan(&plan(WEB)).await.unwrap_err();
    assert!(
        matches!(err, AgentError::Forbidden { status: 403, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("service:write"), "{err}");

    let wrong = AgentClient::new(&AgentConfig::new(fake.url()).with_token("nope")).unwrap();
    let err = wrong.deregister("web-1").await.unwrap_err();
    assert!(
        err.to_string().contains("403") && err.to_string().contains("ACL not found"),
        "{err}"
    );

    let right = AgentClient::new(&AgentConfig::new(fake.url()).with_token("s3cret")).unwrap();
    right.register_plan(&plan(WEB)).await.unwrap();
    // a definition's own token wins over the client's
    let own = plan(&WEB.replace("port = 8080", "port = 8080\n  token = \"s3cret\""));
    wrong.register_plan(&own).await.unwrap();
    let tokens: Vec<Option<String>> = fake.requests().into_iter().map(|r| r.token).collect();
    assert_eq!(tokens.last().unwrap().as_deref(), Some("s3cret"));
}

#[tokio::test]
async fn an_invalid_body_is_400_with_consuls_reason() {
    let fake = FakeConsul::start().await;
    let agent = client(&fake);
    let err = agent
        .register(&ServiceRegistration::default(), None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(err.to_string().contains("Missing service name"), "{err}");

    let proxy = ServiceRegistration {
        name: "p".into(),
        kind: "connect-proxy".into(),
        port: Some(21000),
        ..ServiceRegistration::default()
    };
    let err = agent.register(&proxy, None).await.unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(err.to_string().contains("DestinationServiceName"), "{err}");
}

#[tokio::test]
async fn server_errors_and_refused_connections_are_told_apart() {
    let fake = FakeConsul::start().await;
    let agent = client(&fake);
    fake.set_failing(true);
    let err = agent.register_plan(&plan(WEB)).await.unwrap_err();
    assert!(
        matches!(err, AgentError::Status { status: 500, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("No cluster leader"), "{err}");

    fake.stop();
    let err = agent.register_plan(&plan(WEB)).await.unwrap_err();
    assert!(matches!(err, AgentError::Unreachable { .. }), "{err}");
    assert_eq!(err.status(), None);
}

#[tokio::test]
async fn https_with_a_ca_file() {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let fake = FakeConsul::start_tls(vec![cert.der().to_vec()], key.serialize_der()).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, cert.pem()).unwrap();

    let agent = AgentClient::new(&AgentConfig::new(fake.url()).with_ca_file(&ca)).unwrap();
    agent.register_plan(&plan(WEB)).await.unwrap();
    // without the CA the public roots do not trust the fake
    let untrusting = AgentClient::new(&AgentConfig::new(fake.url())).unwrap();
    assert!(matches!(
        untrusting.services().await.unwrap_err(),
        AgentError::Unreachable { .. }
    ));
    let missing = AgentConfig::new(fake.url()).with_ca_file(dir.path().join("none.pem"));
    assert!(matches!(
        AgentClient::new(&missing),
        Err(AgentError::CaFile { .. })
    ));
}

#[test]
fn bad_addresses_are_refused_up_front() {
    for address in ["127.0.0.1:8500", "ftp://consul", "not a url"] {
        let err = AgentClient::new(&AgentConfig::new(address)).unwrap_err();
        assert!(
            matches!(err, AgentError::Address { .. }),
            "{address}: {err}"
        );
    }
}
