//! `GrpcSigner` failure modes that need no Citadel (the real server is in
//! rigging-citadel-server's `tests/grpc_signer.rs`).

use std::sync::Arc;

use rigging_citadel_client::{
    BundleSource, CertStore, Credential, GrpcSigner, SignError, SignRequest, Signer, WorkloadKey,
};
use rigging_mesh_spiffe::TrustBundle;
use rigging_mesh_spiffe::test_pki::TestCa;
use rustls_pki_types::ServerName;

/// A signer for a port that is very likely closed (bound, then dropped).
fn closed_port_signer() -> anyhow::Result<GrpcSigner> {
    let ca = TestCa::new("citadel root")?;
    let bundle = TrustBundle::new(vec![ca.root()])?;
    let store = Arc::new(CertStore::new(bundle.clone()));
    let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    Ok(GrpcSigner::new(
        addr.to_string(),
        ServerName::try_from("citadel.rigging.local")?,
        &bundle,
        store,
    )?)
}

#[tokio::test]
async fn unreachable_citadel_is_reported_as_unreachable() -> anyhow::Result<()> {
    let signer = closed_port_signer()?;
    let key = WorkloadKey::generate()?;
    let err = signer
        .sign(SignRequest {
            csr_der: key.csr(None)?,
            credential: Some(Credential::BootstrapToken("token".into())),
        })
        .await
        .err();
    assert!(
        matches!(err, Some(SignError::Unreachable { .. })),
        "{err:?}"
    );
    let err = BundleSource::trust_bundle(&signer).await.err();
    assert!(
        matches!(err, Some(SignError::Unreachable { .. })),
        "{err:?}"
    );
    Ok(())
}

#[tokio::test]
async fn no_credential_and_no_certificate_is_not_sent() -> anyhow::Result<()> {
    let signer = closed_port_signer()?;
    let key = WorkloadKey::generate()?;
    let err = signer
        .sign(SignRequest {
            csr_der: key.csr(None)?,
            credential: None,
        })
        .await
        .err();
    assert!(matches!(err, Some(SignError::NoCredential)), "{err:?}");
    Ok(())
}

#[test]
fn workload_key_debug_shows_no_key_material() -> anyhow::Result<()> {
    let key = WorkloadKey::generate()?;
    let shown = format!("{key:?}");
    assert_eq!(shown, "WorkloadKey { algorithm: \"ECDSA P-256\", .. }");
    Ok(())
}
