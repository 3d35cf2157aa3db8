//! Real TLS 1.3 handshakes on loopback with both SVID verifiers: mutual success with ALPN, and
//! a refusal for every broken certificate, on either side.

#[path = "../src/test_pki.rs"]
#[allow(dead_code)]
mod test_pki;
#[path = "support/tls.rs"]
#[allow(dead_code)]
mod tls;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rcgen::KeyUsagePurpose;
use rigging_mesh_spiffe::config::{client_config, server_config};
use rigging_mesh_spiffe::{
    ExpectedPeer, SharedBundle, SpiffeId, SvidClientVerifier, SvidServerVerifier, TrustBundle,
    TrustDomain,
};
use test_pki::{LeafSpec, TestCa, TestLeaf};
use tls::{Fixed, Outcome, handshake};

const TD: &str = "rigging.local";
const WEB: &str = "spiffe://rigging.local/ns/default/dc/dc1/svc/web";
const API: &str = "spiffe://rigging.local/ns/default/dc/dc1/svc/api";
const HOUR: Duration = Duration::from_secs(3600);

/// The mesh under test: one root, `web` calling `api`.
struct Mesh {
    ca: TestCa,
    bundle: SharedBundle,
}

impl Mesh {
    fn new() -> anyhow::Result<Self> {
        let ca = TestCa::new("rigging root")?;
        let bundle = SharedBundle::new(TrustBundle::new(vec![ca.root()])?);
        Ok(Self { ca, bundle })
    }

    /// `client` (as web) calls `server` (expected to be api).
    async fn call(&self, client: &TestLeaf, server: &TestLeaf) -> anyhow::Result<Outcome> {
        self.call_expecting(client, server, ExpectedPeer::Id(SpiffeId::parse(API)?))
            .await
    }

    async fn call_expecting(
        &self,
        client: &TestLeaf,
        server: &TestLeaf,
        expected: ExpectedPeer,
    ) -> anyhow::Result<Outcome> {
        let client_cfg = client_config(
            Arc::new(SvidServerVerifier::new(self.bundle.clone(), expected)),
            Arc::new(Fixed(client.certified_key()?)),
        )?;
        let server_cfg = server_config(
            Arc::new(SvidClientVerifier::new(
                self.bundle.clone(),
                TrustDomain::new(TD)?,
            )),
            Arc::new(Fixed(server.certified_key()?)),
        )?;
        handshake(client_cfg, server_cfg).await
    }
}

/// The broken leaves every verifier must refuse: name, leaf, and a word of the refusal's reason.
fn bad_leaves(
    ca: &TestCa,
    id: &str,
) -> anyhow::Result<Vec<(&'static str, TestLeaf, &'static str)>> {
    let now = SystemTime::now();
    let stranger = TestCa::new("someone else's root")?;
    Ok(vec![
        (
            "two uri sans",
            ca.leaf(&LeafSpec::svid(id).extra_uri("spiffe://rigging.local/x"))?,
            "MultipleUriSans",
        ),
        (
            "ca as leaf",
            ca.leaf(&LeafSpec::svid(id).ca())?,
            "CaUsedAsEndEntity",
        ),
        (
            "keyCertSign on leaf",
            ca.leaf(&LeafSpec::svid(id).key_usages(vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyCertSign,
            ]))?,
            "KeyCertSign",
        ),
        (
            "wrong trust domain",
            ca.leaf(&LeafSpec::svid(&id.replace(TD, "evil.example")))?,
            "evil.example",
        ),
        (
            "expired",
            ca.leaf(&LeafSpec::svid(id).validity(now - 2 * HOUR, now - HOUR))?,
            "expired",
        ),
        (
            "not yet valid",
            ca.leaf(&LeafSpec::svid(id).validity(now + HOUR, now + 2 * HOUR))?,
            "not valid yet",
        ),
        (
            "unknown root",
            stranger.leaf(&LeafSpec::svid(id))?,
            "UnknownIssuer",
        ),
    ])
}

#[tokio::test]
async fn mutual_tls_succeeds_and_both_sides_know_the_peer() -> anyhow::Result<()> {
    let mesh = Mesh::new()?;
    let web = mesh.ca.leaf(&LeafSpec::svid(WEB))?;
    let api = mesh.ca.leaf(&LeafSpec::svid(API))?;
    let out = mesh.call(&web, &api).await?;
    let client = out.client.map_err(anyhow::Error::msg)?;
    let server = out.server.map_err(anyhow::Error::msg)?;
    assert_eq!(client.peer, Some(SpiffeId::parse(API)?));
    assert_eq!(server.peer, Some(SpiffeId::parse(WEB)?));
    assert_eq!(client.alpn.as_deref(), Some(&b"h2"[..]));
    assert_eq!(server.alpn.as_deref(), Some(&b"h2"[..]));
    Ok(())
}

#[tokio::test]
async fn http1_is_negotiated_when_the_client_offers_only_http1() -> anyhow::Result<()> {
    let mesh = Mesh::new()?;
    let web = mesh.ca.leaf(&LeafSpec::svid(WEB))?;
    let api = mesh.ca.leaf(&LeafSpec::svid(API))?;
    let mut client_cfg = client_config(
        Arc::new(SvidServerVerifier::new(
            mesh.bundle.clone(),
            ExpectedPeer::Id(SpiffeId::parse(API)?),
        )),
        Arc::new(Fixed(web.certified_key()?)),
    )?;
    client_cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let server_cfg = server_config(
        Arc::new(SvidClientVerifier::new(
            mesh.bundle.clone(),
            TrustDomain::new(TD)?,
        )),
        Arc::new(Fixed(api.certified_key()?)),
    )?;
    let out = handshake(client_cfg, server_cfg).await?;
    let client = out.client.map_err(anyhow::Error::msg)?;
    assert_eq!(client.alpn.as_deref(), Some(&b"http/1.1"[..]));
    Ok(())
}

#[tokio::test]
async fn other_key_algorithms_handshake() -> anyhow::Result<()> {
    let mesh = Mesh::new()?;
    for alg in [&rcgen::PKCS_ECDSA_P384_SHA384, &rcgen::PKCS_ED25519] {
        let web = mesh.ca.leaf(&LeafSpec::svid(WEB).alg(alg))?;
        let api = mesh.ca.leaf(&LeafSpec::svid(API).alg(alg))?;
        let out = mesh.call(&web, &api).await?;
        assert!(out.client.is_ok() && out.server.is_ok(), "{alg:?}: {out:?}");
    }
    Ok(())
}

#[tokio::test]
async fn client_refuses_each_bad_server_certificate() -> anyhow::Result<()> {
    let mesh = Mesh::new()?;
    let web = mesh.ca.leaf(&LeafSpec::svid(WEB))?;
    for (case, api, reason) in bad_leaves(&mesh.ca, API)? {
        let out = mesh.call(&web, &api).await?;
        let err = out.client.expect_err(case);
        assert!(err.contains(reason), "{case}: {err}");
        assert!(
            out.server.is_err(),
            "{case}: the server app must see nothing"
        );
    }
    Ok(())
}

#[tokio::test]
async fn server_refuses_each_bad_client_certificate() -> anyhow::Result<()> {
    let mesh = Mesh::new()?;
    let api = mesh.ca.leaf(&LeafSpec::svid(API))?;
    for (case, web, reason) in bad_leaves(&mesh.ca, WEB)? {
        let out = mesh.call(&web, &api).await?;
        let err = out.server.expect_err(case);
        assert!(err.contains(reason), "{case}: {err}");
        assert!(
            out.client.is_err(),
            "{case}: the client must not get an answer"
        );
    }
    Ok(())
}

#[tokio::test]
async fn client_refuses_a_valid_svid_of_the_wrong_service() -> anyhow::Result<()> {
    let mesh = Mesh::new()?;
    let web = mesh.ca.leaf(&LeafSpec::svid(WEB))?;
    let db = mesh.ca.leaf(&LeafSpec::svid(
        "spiffe://rigging.local/ns/default/dc/dc1/svc/db",
    ))?;
    let out = mesh.call(&web, &db).await?;
    let err = out.client.expect_err("db is not api");
    assert!(err.contains("expected"), "{err}");
    let any_of = ExpectedPeer::AnyOf(vec![SpiffeId::parse(API)?, SpiffeId::parse(WEB)?]);
    assert!(
        mesh.call_expecting(&web, &db, any_of)
            .await?
            .client
            .is_err()
    );
    let td = ExpectedPeer::TrustDomain(TrustDomain::new(TD)?);
    assert!(mesh.call_expecting(&web, &db, td).await?.client.is_ok());
    Ok(())
}

#[tokio::test]
async fn bundle_with_two_roots_accepts_both_until_the_old_one_is_dropped() -> anyhow::Result<()> {
    let mesh = Mesh::new()?;
    let new_root = TestCa::new("rigging root 2")?;
    mesh.bundle
        .store(TrustBundle::new(vec![mesh.ca.root(), new_root.root()])?);
    let web_old = mesh.ca.leaf(&LeafSpec::svid(WEB))?;
    let api_old = mesh.ca.leaf(&LeafSpec::svid(API))?;
    let web_new = new_root.leaf(&LeafSpec::svid(WEB))?;
    let api_new = new_root.leaf(&LeafSpec::svid(API))?;
    for (web, api) in [
        (&web_old, &api_new),
        (&web_new, &api_old),
        (&web_new, &api_new),
    ] {
        let out = mesh.call(web, api).await?;
        assert!(out.client.is_ok() && out.server.is_ok(), "{out:?}");
    }
    mesh.bundle.store(TrustBundle::new(vec![new_root.root()])?);
    let out = mesh.call(&web_new, &api_new).await?;
    assert!(out.client.is_ok() && out.server.is_ok(), "{out:?}");
    let out = mesh.call(&web_new, &api_old).await?;
    assert!(out.client.is_err(), "old root's server must be refused");
    let out = mesh.call(&web_old, &api_new).await?;
    assert!(out.server.is_err(), "old root's client must be refused");
    Ok(())
}
