//! The X.509-SVID leaf rules as a pure function, one test per rule, with an injected time.

#[path = "../src/test_pki.rs"]
#[allow(dead_code)]
mod test_pki;

use std::time::{Duration, SystemTime};

use rcgen::KeyUsagePurpose;
use rigging_mesh_spiffe::{SvidError, verify_svid};
use rustls_pki_types::UnixTime;
use test_pki::{LeafSpec, TestCa};

const WEB: &str = "spiffe://rigging.local/ns/default/dc/dc1/svc/web";
const HOUR: Duration = Duration::from_secs(3600);

fn check(spec: LeafSpec) -> anyhow::Result<Result<rigging_mesh_spiffe::Svid, SvidError>> {
    let ca = TestCa::new("root")?;
    let leaf = ca.leaf(&spec)?;
    Ok(verify_svid(leaf.leaf(), UnixTime::now()))
}

#[test]
fn valid_svid_passes() -> anyhow::Result<()> {
    let svid = check(LeafSpec::svid(WEB))??;
    assert_eq!(svid.id.as_str(), WEB);
    assert_eq!(svid.id.service_name(), Some("web"));
    assert!(svid.not_before < svid.not_after);
    Ok(())
}

#[test]
fn other_key_algorithms_pass() -> anyhow::Result<()> {
    for alg in [&rcgen::PKCS_ECDSA_P384_SHA384, &rcgen::PKCS_ED25519] {
        check(LeafSpec::svid(WEB).alg(alg))??;
    }
    Ok(())
}

#[test]
fn two_uri_sans_refused() -> anyhow::Result<()> {
    let err = check(LeafSpec::svid(WEB).extra_uri("spiffe://rigging.local/other"))?;
    assert!(
        matches!(err, Err(SvidError::MultipleUriSans { count: 2 })),
        "{err:?}"
    );
    Ok(())
}

#[test]
fn invalid_spiffe_id_refused() -> anyhow::Result<()> {
    for uri in [
        "https://rigging.local/web",
        "spiffe://Rigging.local/web",
        "spiffe://td/a/../b",
    ] {
        let err = check(LeafSpec::svid(uri))?;
        assert!(
            matches!(err, Err(SvidError::InvalidId { .. })),
            "{uri}: {err:?}"
        );
    }
    Ok(())
}

#[test]
fn ca_as_leaf_refused() -> anyhow::Result<()> {
    let err = check(LeafSpec::svid(WEB).ca())?;
    assert!(matches!(err, Err(SvidError::IsCa)), "{err:?}");
    Ok(())
}

#[test]
fn key_cert_sign_on_leaf_refused() -> anyhow::Result<()> {
    let spec = LeafSpec::svid(WEB).key_usages(vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
    ]);
    assert!(matches!(check(spec)?, Err(SvidError::KeyCertSign)));
    Ok(())
}

#[test]
fn crl_sign_on_leaf_refused() -> anyhow::Result<()> {
    let spec = LeafSpec::svid(WEB).key_usages(vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::CrlSign,
    ]);
    assert!(matches!(check(spec)?, Err(SvidError::CrlSign)));
    Ok(())
}

#[test]
fn key_usage_without_digital_signature_refused() -> anyhow::Result<()> {
    let spec = LeafSpec::svid(WEB).key_usages(vec![KeyUsagePurpose::KeyEncipherment]);
    assert!(matches!(
        check(spec)?,
        Err(SvidError::MissingDigitalSignature)
    ));
    Ok(())
}

#[test]
fn absent_key_usage_passes() -> anyhow::Result<()> {
    check(LeafSpec::svid(WEB).key_usages(Vec::new()))??;
    Ok(())
}

#[test]
fn expired_refused() -> anyhow::Result<()> {
    let now = SystemTime::now();
    let err = check(LeafSpec::svid(WEB).validity(now - 2 * HOUR, now - HOUR))?;
    assert!(matches!(err, Err(SvidError::Expired { .. })), "{err:?}");
    Ok(())
}

#[test]
fn not_yet_valid_refused() -> anyhow::Result<()> {
    let now = SystemTime::now();
    let err = check(LeafSpec::svid(WEB).validity(now + HOUR, now + 2 * HOUR))?;
    assert!(matches!(err, Err(SvidError::NotYetValid { .. })), "{err:?}");
    Ok(())
}

#[test]
fn validity_uses_the_injected_time() -> anyhow::Result<()> {
    let ca = TestCa::new("root")?;
    let leaf = ca.leaf(&LeafSpec::svid(WEB))?;
    let at = |t: SystemTime| {
        UnixTime::since_unix_epoch(t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default())
    };
    let now = SystemTime::now();
    assert!(verify_svid(leaf.leaf(), at(now)).is_ok());
    assert!(matches!(
        verify_svid(leaf.leaf(), at(now + 2 * HOUR)),
        Err(SvidError::Expired { .. })
    ));
    assert!(matches!(
        verify_svid(leaf.leaf(), at(now - 2 * HOUR)),
        Err(SvidError::NotYetValid { .. })
    ));
    Ok(())
}

#[test]
fn garbage_and_trailing_data_refused() -> anyhow::Result<()> {
    assert!(matches!(
        verify_svid(b"not a certificate", UnixTime::now()),
        Err(SvidError::Malformed(_))
    ));
    let ca = TestCa::new("root")?;
    let mut der = ca.leaf(&LeafSpec::svid(WEB))?.leaf().to_vec();
    der.extend_from_slice(b"xx");
    assert!(matches!(
        verify_svid(&der, UnixTime::now()),
        Err(SvidError::TrailingData { len: 2 })
    ));
    Ok(())
}
