use envoy_types::pb::envoy::config::core::v3::{DataSource, WatchedDirectory};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, Secret, TlsCertificate, secret,
};
use envoy_types::pb::google::protobuf::Any;
use prost::{Message, Name};
use rigging_mesh_test_util::tls::self_signed_pem;

use super::*;

fn inline_string(s: &str) -> Option<DataSource> {
    Some(DataSource {
        specifier: Some(Specifier::InlineString(s.to_owned())),
        ..Default::default()
    })
}

fn tls_secret(name: &str, tls: TlsCertificate) -> Secret {
    Secret {
        name: name.to_owned(),
        r#type: Some(secret::Type::TlsCertificate(tls)),
    }
}

fn pem_secret(name: &str, chain: &str, key: &str) -> Secret {
    tls_secret(
        name,
        TlsCertificate {
            certificate_chain: inline_string(chain),
            private_key: inline_string(key),
            ..Default::default()
        },
    )
}

fn any(secret: &Secret) -> Any {
    Any {
        type_url: SECRET_TYPE_URL.to_owned(),
        value: secret.encode_to_vec(),
    }
}

async fn load(secret: Secret) -> Result<CertifiedKey, SecretError> {
    CertificateSource::try_from(secret)?.load().await
}

#[test]
fn the_type_url_is_the_secret_message() {
    assert_eq!(SECRET_TYPE_URL, Secret::type_url());
}

#[tokio::test]
async fn inline_strings_bytes_and_files_load() {
    let (chain, key) = self_signed_pem(&["www.example.com"]);
    let want = CertificateDer::from_pem_slice(chain.as_bytes()).unwrap();

    let loaded = load(pem_secret("www", &chain, &key)).await.unwrap();
    assert_eq!(loaded.cert, std::slice::from_ref(&want));

    let bytes = |s: &str| {
        Some(DataSource {
            specifier: Some(Specifier::InlineBytes(s.as_bytes().to_vec())),
            ..Default::default()
        })
    };
    let tls = TlsCertificate {
        certificate_chain: bytes(&chain),
        private_key: bytes(&key),
        ..Default::default()
    };
    assert_eq!(
        load(tls_secret("www", tls)).await.unwrap().cert,
        std::slice::from_ref(&want)
    );

    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, pem: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        Some(DataSource {
            specifier: Some(Specifier::Filename(path.display().to_string())),
            ..Default::default()
        })
    };
    let tls = TlsCertificate {
        certificate_chain: file("chain.pem", &chain),
        private_key: file("key.pem", &key),
        ..Default::default()
    };
    assert_eq!(load(tls_secret("www", tls)).await.unwrap().cert, [want]);
}

#[test]
fn the_named_secret_is_found_among_others() {
    let (chain, key) = self_signed_pem(&["a"]);
    let resources = [
        any(&pem_secret("other", &chain, &key)),
        any(&pem_secret("www", &chain, &key)),
    ];
    let found = find_secret(SECRET_TYPE_URL, &resources, "www").unwrap();
    assert_eq!(found.name, "www");
}

#[test]
fn responses_without_a_usable_secret_are_refused() {
    let (chain, key) = self_signed_pem(&["a"]);
    let good = any(&pem_secret("www", &chain, &key));
    let cluster_type = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
    let cases: [(&str, Vec<Any>, &str); 4] = [
        (cluster_type, vec![good.clone()], "response type is"),
        (
            SECRET_TYPE_URL,
            vec![
                good.clone(),
                Any {
                    type_url: cluster_type.to_owned(),
                    value: Vec::new(),
                },
            ],
            "resource 1 has type",
        ),
        (
            SECRET_TYPE_URL,
            vec![Any {
                type_url: SECRET_TYPE_URL.to_owned(),
                value: vec![0xff, 0xff],
            }],
            "resource 0 is not a valid Secret",
        ),
        (
            SECRET_TYPE_URL,
            vec![any(&pem_secret("other", &chain, &key))],
            r#"no secret named "www""#,
        ),
    ];
    for (type_url, resources, want) in cases {
        let e = find_secret(type_url, &resources, "www").unwrap_err();
        assert!(e.to_string().contains(want), "{want}: {e}");
    }
}

#[test]
fn secrets_the_proxy_cannot_honour_are_refused() {
    let (chain, key) = self_signed_pem(&["a"]);
    let base = TlsCertificate {
        certificate_chain: inline_string(&chain),
        private_key: inline_string(&key),
        ..Default::default()
    };
    let env = Some(DataSource {
        specifier: Some(Specifier::EnvironmentVariable("KEY".to_owned())),
        ..Default::default()
    });
    let watched = Some(WatchedDirectory {
        path: "/etc/certs".to_owned(),
        ..Default::default()
    });
    let cases = [
        (
            Secret {
                name: "www".to_owned(),
                r#type: Some(secret::Type::ValidationContext(
                    CertificateValidationContext::default(),
                )),
            },
            "is a validation_context",
        ),
        (
            Secret {
                name: "www".to_owned(),
                r#type: None,
            },
            "secret without a type",
        ),
        (
            tls_secret(
                "www",
                TlsCertificate {
                    private_key: None,
                    ..base.clone()
                },
            ),
            "tls_certificate.private_key is missing",
        ),
        (
            tls_secret(
                "www",
                TlsCertificate {
                    certificate_chain: Some(DataSource::default()),
                    ..base.clone()
                },
            ),
            "tls_certificate.certificate_chain is missing",
        ),
        (
            tls_secret(
                "www",
                TlsCertificate {
                    pkcs12: inline_string("x"),
                    ..base.clone()
                },
            ),
            "tls_certificate.pkcs12 is not supported",
        ),
        (
            tls_secret(
                "www",
                TlsCertificate {
                    watched_directory: watched.clone(),
                    ..base.clone()
                },
            ),
            "tls_certificate.watched_directory is not supported",
        ),
        (
            tls_secret(
                "www",
                TlsCertificate {
                    private_key: env,
                    ..base.clone()
                },
            ),
            "tls_certificate.private_key.environment_variable is not supported",
        ),
        (
            tls_secret(
                "www",
                TlsCertificate {
                    certificate_chain: Some(DataSource {
                        watched_directory: watched,
                        ..inline_string(&chain).unwrap()
                    }),
                    ..base
                },
            ),
            "tls_certificate.certificate_chain.watched_directory is not supported",
        ),
    ];
    for (secret, want) in cases {
        let e = CertificateSource::try_from(secret).unwrap_err();
        assert!(e.to_string().contains(want), "{want}: {e}");
    }
}

#[tokio::test]
async fn bad_pem_and_mismatched_keys_are_refused() {
    let (chain, key) = self_signed_pem(&["a"]);
    let (_, other_key) = self_signed_pem(&["b"]);
    let cases = [
        (
            pem_secret("www", "not pem", &key),
            "tls_certificate.certificate_chain is not usable PEM: no CERTIFICATE",
        ),
        (
            pem_secret("www", &chain, &chain),
            "tls_certificate.private_key is not usable PEM",
        ),
        (
            pem_secret("www", &chain, &other_key),
            "does not match the certificate",
        ),
    ];
    for (secret, want) in cases {
        let e = load(secret).await.unwrap_err();
        assert!(e.to_string().contains(want), "{want}: {e}");
    }
}

#[tokio::test]
async fn unreadable_and_oversized_files_are_refused() {
    let (_, key) = self_signed_pem(&["a"]);
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.pem");
    std::fs::write(&huge, vec![b'a'; MAX_PEM_FILE_BYTES as usize + 1]).unwrap();
    let cases = [
        (dir.path().join("missing.pem"), "cannot read"),
        (huge, "cannot read"),
    ];
    for (path, want) in cases {
        let tls = TlsCertificate {
            certificate_chain: Some(DataSource {
                specifier: Some(Specifier::Filename(path.display().to_string())),
                ..Default::default()
            }),
            private_key: inline_string(&key),
            ..Default::default()
        };
        let e = load(tls_secret("www", tls)).await.unwrap_err();
        assert!(e.to_string().contains(want), "{want}: {e}");
        assert!(std::error::Error::source(&e).is_some(), "{e:?}");
    }
}
