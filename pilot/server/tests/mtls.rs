//! Pilot's xDS over mTLS: a proxy with its own service's certificate gets its configuration;
//! another service's certificate ends the stream with PERMISSION_DENIED before anything is
//! sent; no certificate, or one of another trust domain, fails the handshake.
#![allow(clippy::unwrap_used)]

#[path = "mtls/support.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use rigging_mesh_model::{Catalog, Health, Protocol};
use rigging_mesh_spiffe::TrustDomain;
use rigging_mesh_test_util::{catalog, proxy, service, sidecar_endpoint};
use rigging_mesh_xds::{Cluster, ResourceType, unpack};
use rigging_pilot_server::{MeshSecurity, PilotError, PilotOptions};
use support::{Client, Pki, id, pilot};
use tokio::sync::watch;

fn demo() -> Catalog {
    catalog(
        vec![
            service(
                "web",
                Protocol::Http,
                vec![sidecar_endpoint(
                    "web-1",
                    "127.0.0.1:21000",
                    Health::Passing,
                    "a",
                )],
            ),
            service(
                "api",
                Protocol::Http,
                vec![sidecar_endpoint(
                    "api-1",
                    "127.0.0.1:21001",
                    Health::Passing,
                    "a",
                )],
            ),
        ],
        vec![
            proxy("web-1", "web", 21000, 8080, &[("api", 9191)]),
            proxy("api-1", "api", 21001, 8081, &[]),
        ],
    )
}

#[tokio::test]
async fn own_certificate_gets_its_configuration_with_mtls_clusters() {
    let pki = Pki::new();
    let (pilot, _cat) = pilot(&pki, demo()).await;
    let tls = pki.client(pki.leaf(&id("web")));
    let mut c = Client::connect(pilot.xds_addr(), tls).await.unwrap();
    c.subscribe("web-1", ResourceType::Cluster).await;
    let r = c.next().await.unwrap().expect("a response");
    assert_eq!(r.type_url, ResourceType::Cluster.type_url());
    let clusters: Vec<Cluster> = r
        .resources
        .iter()
        .map(|a| unpack(ResourceType::Cluster.type_url(), a).unwrap())
        .collect();
    let names: Vec<&str> = clusters.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["api", "local_app"]);
    assert!(
        clusters[0].transport_socket.is_some(),
        "upstreams are mTLS in a secured mesh"
    );
    assert!(clusters[1].transport_socket.is_none());
    let status = pilot.status();
    let web = status.iter().find(|p| p.proxy == "web-1").unwrap();
    assert_eq!(web.spiffe_id.as_deref(), Some(id("web").as_str()));
    pilot.shutdown().await;
}

#[tokio::test]
async fn another_services_certificate_is_permission_denied_and_gets_nothing() {
    let pki = Pki::new();
    let (pilot, _cat) = pilot(&pki, demo()).await;
    let tls = pki.client(pki.leaf(&id("api")));
    let mut c = Client::connect(pilot.xds_addr(), tls).await.unwrap();
    c.subscribe("web-1", ResourceType::Cluster).await;
    c.subscribe("web-1", ResourceType::Listener).await;
    let err = c.next().await.expect_err("no resource, only the refusal");
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    assert_eq!(
        err.message(),
        "proxy web-1 belongs to service web; its certificate is spiffe://rigging.local/ns/default/dc/dc1/svc/api"
    );
    assert!(
        pilot.status().iter().all(|p| p.proxy != "web-1"),
        "a refused stream leaves no status behind: {:?}",
        pilot.status()
    );
    pilot.shutdown().await;
}

#[tokio::test]
async fn a_proxy_registered_later_is_checked_before_its_first_push() {
    let pki = Pki::new();
    let (pilot, cat) = pilot(&pki, Catalog::default()).await;
    let tls = pki.client(pki.leaf(&id("api")));
    let mut c = Client::connect(pilot.xds_addr(), tls).await.unwrap();
    c.subscribe("web-1", ResourceType::Cluster).await;
    // Unknown so far: the stream waits, as for any unknown proxy.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), c.rx.message())
            .await
            .is_err()
    );
    cat.send(Arc::new(demo())).unwrap();
    let err = c.next().await.expect_err("no resource, only the refusal");
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    assert!(err.message().contains("belongs to service web"), "{err:?}");
    pilot.shutdown().await;
}

#[tokio::test]
async fn no_client_certificate_fails_the_handshake() {
    let pki = Pki::new();
    let (pilot, _cat) = pilot(&pki, demo()).await;
    expect_refused(pilot.xds_addr(), pki.anonymous_client()).await;
    pilot.shutdown().await;
}

#[tokio::test]
async fn another_trust_domain_fails_the_handshake() {
    let pki = Pki::new();
    let (pilot, _cat) = pilot(&pki, demo()).await;
    // Signed by the mesh's own root, but for another trust domain.
    let foreign = pki.leaf("spiffe://elsewhere.local/ns/default/dc/dc1/svc/web");
    expect_refused(pilot.xds_addr(), pki.client(foreign)).await;
    // A root Pilot does not trust.
    let stranger = Pki::new();
    let cert = stranger.leaf(&id("web"));
    expect_refused(pilot.xds_addr(), pki.client(cert)).await;
    // And Pilot keeps serving the right proxy afterwards.
    let mut c = Client::connect(pilot.xds_addr(), pki.client(pki.leaf(&id("web"))))
        .await
        .unwrap();
    c.subscribe("web-1", ResourceType::Cluster).await;
    assert!(c.next().await.unwrap().is_some());
    pilot.shutdown().await;
}

#[tokio::test]
async fn tls_without_security_settings_does_not_start() {
    let pki = Pki::new();
    let (_tx, rx) = watch::channel(Arc::new(demo()));
    let opts = PilotOptions {
        xds_addr: "127.0.0.1:0".parse().unwrap(),
        debug_addr: "127.0.0.1:0".parse().unwrap(),
        tls: Some(pki.server()),
        ..PilotOptions::default()
    };
    let err = rigging_pilot_server::start(opts, rx, None).await.err();
    assert!(
        matches!(err, Some(PilotError::TlsWithoutSecurity)),
        "{err:?}"
    );
    // Security alone (a plaintext xDS port) is fine.
    let (_tx, rx) = watch::channel(Arc::new(demo()));
    let opts = PilotOptions {
        xds_addr: "127.0.0.1:0".parse().unwrap(),
        debug_addr: "127.0.0.1:0".parse().unwrap(),
        security: Some(
            MeshSecurity::new(TrustDomain::new("rigging.local").unwrap(), "dc1").unwrap(),
        ),
        ..PilotOptions::default()
    };
    rigging_pilot_server::start(opts, rx, None)
        .await
        .unwrap()
        .shutdown()
        .await;
}

/// The connection, the stream or its first message fails with a TLS alert: the server refused
/// the handshake (in TLS 1.3 the client learns it only once it reads).
async fn expect_refused(addr: std::net::SocketAddr, tls: Arc<rustls::ClientConfig>) {
    let err = match Client::connect(addr, tls).await {
        Err(e) => e,
        Ok(mut c) => {
            c.subscribe("web-1", ResourceType::Cluster).await;
            match c.next().await {
                Err(status) => format!("{status:?}"),
                Ok(got) => panic!("a refused client must get no resources: {got:?}"),
            }
        }
    };
    assert!(err.contains("fatal alert"), "not a tls refusal: {err}");
}
