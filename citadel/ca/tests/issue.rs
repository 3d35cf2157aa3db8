//! The shape of issued SVIDs, checked field by field with x509-parser.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
use rigging_citadel_ca::{
    Authority, CLOCK_SKEW_BACKDATE, CsrError, DEFAULT_LEAF_TTL, IssueError, LeafTtl, MAX_LEAF_TTL,
    MIN_LEAF_TTL, RootId, SigningRoot, SpiffeId, TrustDomain,
};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_760_000_000)
}

fn td() -> TrustDomain {
    TrustDomain::new("rigging.test").unwrap()
}

fn authority() -> Authority {
    let root = SigningRoot::generate(RootId(1), &td(), now()).unwrap();
    Authority::new(td(), vec![root], RootId(1)).unwrap()
}

fn web() -> SpiffeId {
    SpiffeId::service(&td(), "default", "dc1", "web").unwrap()
}

/// A CSR from a fresh P-256 key, asking for whatever `params` says.
fn csr(params: &CertificateParams) -> (Vec<u8>, KeyPair) {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let der = params.serialize_request(&key).unwrap().der().to_vec();
    (der, key)
}

fn plain_csr() -> Vec<u8> {
    csr(&CertificateParams::default()).0
}

fn unix(t: SystemTime) -> i64 {
    i64::try_from(t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

#[test]
fn issued_leaf_is_an_x509_svid() {
    let ca = authority();
    let (csr_der, key) = csr(&CertificateParams::default());
    let issued = ca
        .issue(&csr_der, &web(), &[], LeafTtl::default(), now())
        .unwrap();
    assert_eq!(issued.chain.len(), 1, "a root signer sends the leaf alone");
    let (rest, leaf) = X509Certificate::from_der(&issued.chain[0]).unwrap();
    assert!(rest.is_empty());

    // The key is the CSR's.
    assert_eq!(
        leaf.public_key().subject_public_key.data.as_ref(),
        rcgen::PublicKeyData::der_bytes(&key)
    );

    // Exactly one SAN, a URI, the identity; critical because the subject is empty.
    let san = leaf.subject_alternative_name().unwrap().unwrap();
    assert!(san.critical);
    assert_eq!(
        san.value.general_names,
        vec![GeneralName::URI(
            "spiffe://rigging.test/ns/default/dc/dc1/svc/web"
        )]
    );
    assert_eq!(leaf.subject().iter().count(), 0);

    // cA=false, critical.
    let bc = leaf.basic_constraints().unwrap().unwrap();
    assert!(bc.critical);
    assert!(!bc.value.ca);

    // keyUsage critical, digitalSignature only for an EC key.
    let ku = leaf.key_usage().unwrap().unwrap();
    assert!(ku.critical);
    assert!(ku.value.digital_signature());
    assert!(!ku.value.key_encipherment());
    assert!(!ku.value.key_cert_sign());
    assert!(!ku.value.crl_sign());

    // serverAuth + clientAuth, nothing else.
    let eku = leaf.extended_key_usage().unwrap().unwrap();
    assert!(eku.value.server_auth && eku.value.client_auth);
    assert!(!eku.value.any && !eku.value.code_signing && eku.value.other.is_empty());

    // Validity: backdated by the skew, 24 h by default.
    assert_eq!(
        leaf.validity().not_before.timestamp(),
        unix(now() - CLOCK_SKEW_BACKDATE)
    );
    assert_eq!(
        leaf.validity().not_after.timestamp(),
        unix(now() + DEFAULT_LEAF_TTL)
    );
    assert_eq!(issued.not_after, now() + DEFAULT_LEAF_TTL);

    // A 128-bit random serial, positive.
    assert_eq!(leaf.raw_serial().len(), 16);
    assert_eq!(leaf.raw_serial()[0] & 0x80, 0);

    // SKI present, AKI = the root's SKI, issuer = the root's subject, signature verifies.
    let bundle = ca.trust_bundle();
    let (_, root) = X509Certificate::from_der(&bundle[0]).unwrap();
    let root_ski = root
        .iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        })
        .unwrap();
    let mut aki = None;
    let mut ski = None;
    for ext in leaf.iter_extensions() {
        match ext.parsed_extension() {
            x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(a) => {
                aki = a.key_identifier.as_ref().map(|k| k.0.to_vec());
            }
            x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(k) => {
                ski = Some(k.0.to_vec());
            }
            _ => {}
        }
    }
    assert_eq!(aki.unwrap(), root_ski);
    assert!(!ski.unwrap().is_empty());
    assert_eq!(leaf.issuer(), root.subject());
    leaf.verify_signature(Some(root.public_key())).unwrap();
}

#[test]
fn serials_differ() {
    let ca = authority();
    let a = ca
        .issue(&plain_csr(), &web(), &[], LeafTtl::default(), now())
        .unwrap();
    let b = ca
        .issue(&plain_csr(), &web(), &[], LeafTtl::default(), now())
        .unwrap();
    assert_ne!(a.serial, b.serial);
}

#[test]
fn csr_asking_for_another_identity_gets_the_credentials() {
    let ca = authority();
    let mut params = CertificateParams::new(vec!["evil.example".to_owned()]).unwrap();
    params.subject_alt_names.push(SanType::URI(
        "spiffe://evil/ns/default/dc/dc1/svc/admin"
            .try_into()
            .unwrap(),
    ));
    params.distinguished_name.push(
        DnType::CommonName,
        "spiffe://evil/ns/default/dc/dc1/svc/admin",
    );
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
    let (csr_der, _) = csr(&params);
    let issued = ca
        .issue(&csr_der, &web(), &[], LeafTtl::default(), now())
        .unwrap();
    let (_, leaf) = X509Certificate::from_der(&issued.chain[0]).unwrap();
    let san = leaf.subject_alternative_name().unwrap().unwrap();
    assert_eq!(
        san.value.general_names,
        vec![GeneralName::URI(web().as_str())]
    );
    assert_eq!(
        leaf.subject().iter().count(),
        0,
        "the CSR's subject is dropped"
    );
    assert!(!leaf.basic_constraints().unwrap().unwrap().value.ca);
    assert!(!leaf.key_usage().unwrap().unwrap().value.key_cert_sign());
}

#[test]
fn csr_with_a_bad_signature_is_refused() {
    let ca = authority();
    let mut der = plain_csr();
    let last = der.len() - 1;
    der[last] ^= 0x01;
    let err = ca
        .issue(&der, &web(), &[], LeafTtl::default(), now())
        .unwrap_err();
    assert!(
        matches!(err, IssueError::Csr(CsrError::BadSignature)),
        "{err:?}"
    );
}

#[test]
fn garbage_csr_is_refused() {
    let ca = authority();
    let err = ca
        .issue(b"not a csr", &web(), &[], LeafTtl::default(), now())
        .unwrap_err();
    assert!(
        matches!(err, IssueError::Csr(CsrError::Malformed)),
        "{err:?}"
    );
}

#[test]
fn identity_of_another_trust_domain_is_refused() {
    let ca = authority();
    let other = SpiffeId::parse("spiffe://other.test/ns/default/dc/dc1/svc/web").unwrap();
    let err = ca
        .issue(&plain_csr(), &other, &[], LeafTtl::default(), now())
        .unwrap_err();
    assert!(
        matches!(err, IssueError::ForeignTrustDomain { .. }),
        "{err:?}"
    );
}

#[test]
fn ttl_is_configurable_and_capped() {
    assert_eq!(LeafTtl::default().get(), DEFAULT_LEAF_TTL);
    assert!(LeafTtl::new(MAX_LEAF_TTL + Duration::from_secs(1)).is_err());
    assert!(LeafTtl::new(MIN_LEAF_TTL - Duration::from_secs(1)).is_err());
    assert!(LeafTtl::new(Duration::ZERO).is_err());
    assert_eq!(LeafTtl::new(MAX_LEAF_TTL).unwrap().get(), MAX_LEAF_TTL);
    let ca = authority();
    for secs in [10, 60] {
        let ttl = LeafTtl::new(Duration::from_secs(secs)).unwrap();
        let issued = ca.issue(&plain_csr(), &web(), &[], ttl, now()).unwrap();
        let (_, leaf) = X509Certificate::from_der(&issued.chain[0]).unwrap();
        assert_eq!(
            leaf.validity().not_after.timestamp(),
            unix(now()) + i64::try_from(secs).unwrap()
        );
    }
}

#[test]
fn leaf_never_outlives_its_signer() {
    let ca = authority();
    let late = now() + rigging_citadel_ca::ROOT_TTL - Duration::from_secs(3600);
    let issued = ca
        .issue(&plain_csr(), &web(), &[], LeafTtl::default(), late)
        .unwrap();
    assert!(issued.not_after <= now() + rigging_citadel_ca::ROOT_TTL);
    let after = now() + rigging_citadel_ca::ROOT_TTL + Duration::from_secs(1);
    let err = ca
        .issue(&plain_csr(), &web(), &[], LeafTtl::default(), after)
        .unwrap_err();
    assert!(matches!(err, IssueError::SignerExpired), "{err:?}");
}

#[test]
fn ed25519_keys_are_accepted_and_only_sign() {
    let ca = authority();
    let key = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let der = CertificateParams::default()
        .serialize_request(&key)
        .unwrap()
        .der()
        .to_vec();
    let issued = ca
        .issue(&der, &web(), &[], LeafTtl::default(), now())
        .unwrap();
    let (_, leaf) = X509Certificate::from_der(&issued.chain[0]).unwrap();
    assert!(!leaf.key_usage().unwrap().unwrap().value.key_encipherment());
}

#[test]
fn citadel_server_cert_has_dns_and_ip_sans() {
    let ca = authority();
    let ip: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let (chain, _key, _) = ca
        .issue_server_cert(&["citadel.rigging"], &[ip], LeafTtl::default(), now())
        .unwrap();
    let (_, leaf) = X509Certificate::from_der(&chain[0]).unwrap();
    let san = leaf.subject_alternative_name().unwrap().unwrap();
    assert_eq!(
        san.value.general_names,
        vec![
            GeneralName::DNSName("citadel.rigging"),
            GeneralName::IPAddress(&[127, 0, 0, 1])
        ]
    );
    assert!(!leaf.basic_constraints().unwrap().unwrap().value.ca);
}

#[test]
fn dns_names_follow_the_uri_san_and_the_csrs_are_ignored() {
    let ca = authority();
    // The CSR asks for a DNS name of its own; only the caller's names are issued.
    let (csr_der, _) = csr(&CertificateParams::new(vec!["evil.example".to_owned()]).unwrap());
    let names = [
        "shop.example.com".to_owned(),
        "*.ingress.consul".to_owned(),
        "SHOP.example.com".to_owned(),
    ];
    let issued = ca
        .issue(&csr_der, &web(), &names, LeafTtl::default(), now())
        .unwrap();
    let (_, leaf) = X509Certificate::from_der(&issued.chain[0]).unwrap();
    let san = leaf.subject_alternative_name().unwrap().unwrap();
    assert!(san.critical, "the subject is still empty");
    assert_eq!(
        san.value.general_names,
        vec![
            GeneralName::URI(web().as_str()),
            GeneralName::DNSName("shop.example.com"),
            GeneralName::DNSName("*.ingress.consul"),
        ],
        "the uri first, then each name once"
    );
    assert_eq!(leaf.subject().iter().count(), 0);
}

#[test]
fn invalid_dns_names_are_refused_by_name() {
    let ca = authority();
    for bad in [
        "10.0.0.1",
        "::1",
        "",
        "a..example",
        "trailing.dot.",
        "under_score.example",
        "-lead.example",
        "*.com",
        "*",
        "w*.example.com",
        "a.*.example.com",
        &format!("{}.example", "a".repeat(64)),
        &format!("{}a", "a.".repeat(127)),
    ] {
        let names = ["ok.example".to_owned(), bad.to_owned()];
        let err = ca
            .issue(&plain_csr(), &web(), &names, LeafTtl::default(), now())
            .unwrap_err();
        match &err {
            IssueError::DnsName { name, .. } => assert_eq!(name, bad),
            other => panic!("{bad:?}: {other:?}"),
        }
        assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
    }
}
