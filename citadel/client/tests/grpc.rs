//! `GrpcSigner` failure modes that need no Citadel.

use std::sync::Arc;

use rigging_citadel_client::{CertStore, GrpcSigner, SignError, SignRequest, Signer, WorkloadKey};
use rigging_mesh_spiffe::TrustBundle;
use rigging_mesh_spiffe::test_pki::TestCa;
use rustls_pki_types::ServerName;

#[tokio::test]
async fn unreachable_citadel_is_reported_as_unreachable() -> anyhow::Result<()> {
    let ca = TestCa::new("citadel root")?;
    let bundle = TrustBundle::new(vec![ca.root()])?;
    let store = Arc::new(CertStore::new(bundle.clone()));
    // Bind then drop, so the port is very likely closed.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let signer = GrpcSigner::new(
        addr.to_string(),
        ServerName::try_from("citadel.rigging.local")?,
        &bundle,
        store,
    )?;
    let key = WorkloadKey::generate()?;
    let err = signer
        .sign(SignRequest {
            csr_der: key.csr(None)?,
            credential: None,
        })
        .await
        .err();
    assert!(
        matches!(err, Some(SignError::Unreachable { .. })),
        "{err:?}"
    );
    Ok(())
}

#[test]
fn workload_key_debug_shows_no_key_material() -> anyhow::Result<()> {
    let key = WorkloadKey::generate()?;
    let shown = format!("{key:?}");
    assert_eq!(shown, "WorkloadKey { algorithm: \"ECDSA P-256\", .. }");
    Ok(())
}
