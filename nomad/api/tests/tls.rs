//! HTTPS to the fake Nomad: its CA from `NOMAD_CACERT`, `NOMAD_TLS_SERVER_NAME`, and a client
//! certificate for `verify_https_client`.

mod support;

use rigging_mesh_test_util::fake_nomad::FakeNomad;
use rigging_nomad_api::{ApiError, RegisterOptions};
use support::{client_with, web_job};

fn write(dir: &tempfile::TempDir, name: &str, pem: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, pem).expect("write pem");
    path.to_string_lossy().into_owned()
}

#[tokio::test]
async fn https_with_the_ca_file() -> anyhow::Result<()> {
    let fake = FakeNomad::start_tls().await;
    let dir = tempfile::tempdir()?;
    let ca = write(&dir, "ca.pem", fake.ca_pem().expect("tls fake"));
    let url = fake.url();
    let job = web_job(1, "nginx:1");
    let client = client_with(&[("NOMAD_ADDR", &url), ("NOMAD_CACERT", &ca)]);
    client.register(&job, &RegisterOptions::default()).await?;

    // the fake's certificate names 127.0.0.1 and localhost, not server.global.nomad
    let named = client_with(&[
        ("NOMAD_ADDR", &url),
        ("NOMAD_CACERT", &ca),
        ("NOMAD_TLS_SERVER_NAME", "localhost"),
    ]);
    named.plan(&job, true).await?;
    let misnamed = client_with(&[
        ("NOMAD_ADDR", &url),
        ("NOMAD_CACERT", &ca),
        ("NOMAD_TLS_SERVER_NAME", "server.global.nomad"),
    ]);
    let err = misnamed.plan(&job, true).await;
    assert!(matches!(err, Err(ApiError::Unreachable { .. })), "{err:?}");

    // without the CA, the public roots do not trust the fake
    let untrusted = client_with(&[("NOMAD_ADDR", &url)]);
    let err = untrusted.plan(&job, true).await;
    assert!(matches!(err, Err(ApiError::Unreachable { .. })), "{err:?}");
    Ok(())
}

#[tokio::test]
async fn mutual_tls_with_a_client_certificate() -> anyhow::Result<()> {
    let fake = FakeNomad::start_mtls().await;
    let dir = tempfile::tempdir()?;
    let ca = write(&dir, "ca.pem", fake.ca_pem().expect("tls fake"));
    let (cert, key) = fake.client_identity().expect("identity");
    let (cert, key) = (
        write(&dir, "cli.pem", cert),
        write(&dir, "cli-key.pem", key),
    );
    let url = fake.url();
    let job = web_job(1, "nginx:1");
    let with = client_with(&[
        ("NOMAD_ADDR", &url),
        ("NOMAD_CACERT", &ca),
        ("NOMAD_CLIENT_CERT", &cert),
        ("NOMAD_CLIENT_KEY", &key),
    ]);
    with.register(&job, &RegisterOptions::default()).await?;
    let without = client_with(&[("NOMAD_ADDR", &url), ("NOMAD_CACERT", &ca)]);
    assert!(
        without
            .register(&job, &RegisterOptions::default())
            .await
            .is_err()
    );
    Ok(())
}
