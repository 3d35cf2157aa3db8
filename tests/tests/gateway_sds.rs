//! An ingress gateway taking its TLS certificate from an SDS server, end to end: `rig up`
//! with Citadel, an `ingress-gateway` listener with `TLS { SDS { ClusterName, CertResource }
//! }`, the gateway started with `--sds-cluster certs=<fake SDS server>`, and real curl from
//! outside trusting only that certificate. A service with its own certificate (`TLS.SDS` on
//! the service) gets it by SNI. A new certificate pushed by the SDS server is served without
//! a restart; a broken one is refused (NACKed) and the last good one stays.
//!
//! The test prints every process's log and the config entries when it fails.

use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::{DataSource, data_source::Specifier};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    Secret, TlsCertificate, secret,
};
use http::Method;
use rigging_mesh_test_util::fake_sds::FakeSds;
use rigging_mesh_test_util::tls::self_signed_pem;
use rigging_tests::{
    RigStack, curl, eventually, free_port, loopback, request, start_secured_edge, write,
};

/// Time for a pushed certificate to reach new connections.
const PROPAGATION: Duration = Duration::from_secs(10);

fn edge_entry(port: u16, shop: u16) -> String {
    format!(
        r#"Kind = "ingress-gateway"
Name = "edge"
Listeners = [
  {{
    Port     = {shop}
    Protocol = "http"
    Services = [
      {{
        Name  = "api"
        Hosts = ["shop.example.com"]
        TLS {{
          SDS {{
            ClusterName  = "certs"
            CertResource = "shop"
          }}
        }}
      }},
    ]
  }},
  {{
    Port     = {port}
    Protocol = "http"
    TLS {{
      SDS {{
        ClusterName  = "certs"
        CertResource = "www"
      }}
    }}
    Services = [ {{ Name = "api", Hosts = ["www.example.com"] }} ]
  }},
]
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_serves_the_certificate_its_sds_server_pushes() -> anyhow::Result<()> {
    let sds = std::sync::Arc::new(FakeSds::start().await);
    let (cert1, key1) = self_signed_pem(&["www.example.com"]);
    // The gateway's first readiness waits for its certificates: `www` arrives 2 s late.
    let set_late = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    tokio::spawn({
        let (sds, set_late, cert1, key1) =
            (sds.clone(), set_late.clone(), cert1.clone(), key1.clone());
        async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            set_late.store(true, std::sync::atomic::Ordering::SeqCst);
            sds.set("www", &cert1, &key1);
        }
    });
    let mut stack = RigStack::new("rigging-gateway-sds-").await?;
    let (https, shop) = (free_port(), free_port());
    let (shop_cert, shop_key) = self_signed_pem(&["shop.example.com"]);
    sds.set("shop", &shop_cert, &shop_key);
    let cluster = format!("certs={}", sds.addr());
    let mesh = start_secured_edge(
        &mut stack,
        &edge_entry(https, shop),
        &["--sds-cluster", &cluster],
    )
    .await?;
    assert!(
        set_late.load(std::sync::atomic::Ordering::SeqCst),
        "the gateway was ready before its SDS certificate arrived"
    );
    let dir = stack.dir().to_owned();
    let (ca1, ca2) = (dir.join("cert1.pem"), dir.join("cert2.pem"));
    write(&ca1, &cert1)?;
    let gateway = loopback(https);
    eventually(
        "api answers over TLS with the SDS certificate",
        PROPAGATION * 3,
        async || {
            curl(&ca1, "www.example.com", gateway, &[])
                .await?
                .ensure("200 2")
        },
    )
    .await?;

    // A service's own certificate, chosen by SNI; no other name has one on that listener.
    let shop_ca = dir.join("shop.pem");
    write(&shop_ca, &shop_cert)?;
    let shop = loopback(shop);
    eventually(
        "the service's own certificate is served",
        PROPAGATION,
        async || {
            curl(&shop_ca, "shop.example.com", shop, &[])
                .await?
                .ensure("200 2")
        },
    )
    .await?;
    let other = curl(&ca1, "www.example.com", shop, &[]).await?;
    assert!(
        !other.ok,
        "a name without a certificate got one: {}",
        other.stdout
    );

    // The SDS server pushes a new certificate: new connections get it.
    let (cert2, key2) = self_signed_pem(&["www.example.com"]);
    write(&ca2, &cert2)?;
    sds.set("www", &cert2, &key2);
    eventually(
        "the pushed certificate is served",
        PROPAGATION,
        async || {
            curl(&ca2, "www.example.com", gateway, &["--http1.1"])
                .await?
                .ensure("200 1.1")
        },
    )
    .await?;
    let old = curl(&ca1, "www.example.com", gateway, &[]).await?;
    assert!(
        !old.ok,
        "the replaced certificate is still served: {}",
        old.stdout
    );

    // A broken secret (a key that is not PEM) is refused, and the last good one stays.
    let nacks = sds.nacks().len();
    sds.set_raw(
        "www",
        Secret {
            name: "www".into(),
            r#type: Some(secret::Type::TlsCertificate(TlsCertificate {
                certificate_chain: Some(DataSource {
                    specifier: Some(Specifier::InlineString(cert2.clone())),
                    ..Default::default()
                }),
                private_key: Some(DataSource {
                    specifier: Some(Specifier::InlineString("not a key".into())),
                    ..Default::default()
                }),
                ..Default::default()
            })),
        },
    );
    sds.wait_nacks(nacks + 1).await;
    curl(&ca2, "www.example.com", gateway, &[])
        .await?
        .ensure("200 2")?;

    // A listener added later whose certificate the SDS server does not have yet: its
    // handshakes fail until the certificate arrives, and the serving gateway stays ready.
    let late = free_port();
    let entry = edge_entry(https, shop.port()).replace(
        "Listeners = [",
        &format!(
            "Listeners = [\n  {{ Port = {late}, Protocol = \"http\", TLS {{ SDS {{ ClusterName = \"certs\", CertResource = \"late\" }} }}, Services = [ {{ Name = \"api\", Hosts = [\"late.example.com\"] }} ] }},"
        ),
    );
    write(&mesh.entries_dir.join("edge.hcl"), &entry)?;
    let (late_cert, late_key) = self_signed_pem(&["late.example.com"]);
    let late_ca = dir.join("late.pem");
    write(&late_ca, &late_cert)?;
    eventually(
        "the new listener is up, without a certificate",
        PROPAGATION,
        async || {
            let c = curl(&late_ca, "late.example.com", loopback(late), &[]).await?;
            anyhow::ensure!(
                !c.ok && !c.stderr.contains("Connection refused"),
                "{}{}",
                c.stdout,
                c.stderr
            );
            Ok(())
        },
    )
    .await?;
    let reply = request(mesh.edge_admin, Method::GET, "/ready", &[], "", false).await?;
    assert_eq!(reply.status, 200, "{}", reply.body);
    sds.set("late", &late_cert, &late_key);
    eventually("the late certificate is served", PROPAGATION, async || {
        curl(&late_ca, "late.example.com", loopback(late), &[])
            .await?
            .ensure("200 2")
    })
    .await?;

    stack.check_running()?;
    stack.pass();
    Ok(())
}
