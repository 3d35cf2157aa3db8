//! The state folder and the three-step root rotation.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, SystemTime};

use rcgen::{CertificateParams, KeyPair};
use rigging_citadel_ca::{
    CaStore, LeafTtl, RootId, SigningRoot, SpiffeId, StoreError, TrustDomain,
};
use x509_parser::prelude::{FromDer, X509Certificate};

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_760_000_000)
}

fn td() -> TrustDomain {
    TrustDomain::new("rigging.test").unwrap()
}

fn csr() -> Vec<u8> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    CertificateParams::default()
        .serialize_request(&key)
        .unwrap()
        .der()
        .to_vec()
}

/// The subject of the certificate that signed `leaf`, as text.
fn issuer_of(leaf: &[u8]) -> String {
    X509Certificate::from_der(leaf)
        .unwrap()
        .1
        .issuer()
        .to_string()
}

fn subject_of(cert: &[u8]) -> String {
    X509Certificate::from_der(cert)
        .unwrap()
        .1
        .subject()
        .to_string()
}

#[test]
fn first_start_creates_a_root_with_private_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = CaStore::new(dir.path().join("state"));
    let ca = store.open_or_create(&td(), now()).unwrap();
    assert_eq!(ca.signer_id(), RootId(1));
    assert_eq!(ca.trust_bundle().len(), 1);
    let key = dir.path().join("state/roots/1.key");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dir_mode = std::fs::metadata(dir.path().join("state"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);
    assert!(dir.path().join("state/roots/1.pem").exists());
    // A second start loads the same root.
    let again = store.open_or_create(&td(), now()).unwrap();
    assert_eq!(again.trust_bundle(), ca.trust_bundle());
}

#[test]
fn another_trust_domain_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = CaStore::new(dir.path());
    store.open_or_create(&td(), now()).unwrap();
    let err = store
        .open_or_create(&TrustDomain::new("other.test").unwrap(), now())
        .unwrap_err();
    assert!(
        matches!(err, StoreError::TrustDomainMismatch { .. }),
        "{err:?}"
    );
}

#[test]
fn three_step_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let store = CaStore::new(dir.path());
    let web = SpiffeId::service(&td(), "default", "dc1", "web").unwrap();
    let before = store.open_or_create(&td(), now()).unwrap();
    let old_root = before.trust_bundle()[0].clone();
    let old_leaf = before
        .issue(&csr(), &web, &[], LeafTtl::default(), now())
        .unwrap();

    // 1. add: both roots trusted, the old one still signs.
    let new_id = store.add_root(now()).unwrap();
    assert_eq!(new_id, RootId(2));
    let ca = store.load().unwrap();
    assert_eq!(ca.trust_bundle().len(), 2);
    assert_eq!(ca.signer_id(), RootId(1));
    let leaf = ca
        .issue(&csr(), &web, &[], LeafTtl::default(), now())
        .unwrap();
    assert_eq!(issuer_of(&leaf.chain[0]), subject_of(&old_root));

    // 2. switch: the new root signs; both still trusted.
    store.switch_signer(new_id).unwrap();
    let ca = store.load().unwrap();
    assert_eq!(ca.signer_id(), new_id);
    assert_eq!(ca.trust_bundle().len(), 2);
    let new_root = ca.trust_bundle()[1].clone();
    let leaf = ca
        .issue(&csr(), &web, &[], LeafTtl::default(), now())
        .unwrap();
    assert_eq!(issuer_of(&leaf.chain[0]), subject_of(&new_root));
    assert_ne!(issuer_of(&leaf.chain[0]), issuer_of(&old_leaf.chain[0]));

    // The signer cannot be dropped; an unknown root neither.
    assert!(matches!(
        store.drop_root(new_id),
        Err(StoreError::DropSigner(_))
    ));
    assert!(matches!(
        store.drop_root(RootId(9)),
        Err(StoreError::NoSuchRoot(_))
    ));
    assert!(matches!(
        store.switch_signer(RootId(9)),
        Err(StoreError::NoSuchRoot(_))
    ));

    // 3. drop: only the new root remains.
    store.drop_root(RootId(1)).unwrap();
    let ca = store.load().unwrap();
    assert_eq!(ca.trust_bundle(), vec![new_root]);
    assert!(!dir.path().join("roots/1.key").exists());
}

#[test]
fn a_given_root_can_be_imported_and_made_signer() {
    let dir = tempfile::tempdir().unwrap();
    let store = CaStore::new(dir.path());
    store.open_or_create(&td(), now()).unwrap();
    let given = SigningRoot::generate(RootId(0), &td(), now()).unwrap();
    let id = store
        .import_root(given.chain_pem().as_bytes(), &given.key_pem())
        .unwrap();
    store.switch_signer(id).unwrap();
    let ca = store.load().unwrap();
    assert!(ca.trust_bundle().contains(given.certificate()));
    let web = SpiffeId::service(&td(), "default", "dc1", "web").unwrap();
    let leaf = ca
        .issue(&csr(), &web, &[], LeafTtl::default(), now())
        .unwrap();
    assert_eq!(issuer_of(&leaf.chain[0]), subject_of(given.certificate()));
}

#[test]
fn import_refuses_a_key_of_another_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let store = CaStore::new(dir.path());
    store.open_or_create(&td(), now()).unwrap();
    let a = SigningRoot::generate(RootId(0), &td(), now()).unwrap();
    let b = SigningRoot::generate(RootId(0), &td(), now()).unwrap();
    let err = store
        .import_root(a.chain_pem().as_bytes(), &b.key_pem())
        .unwrap_err();
    assert!(format!("{err:?}").contains("KeyMismatch"), "{err:?}");
}
