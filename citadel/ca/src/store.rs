//! The CA's state folder and the root-rotation operations on it.
//!
//! Layout (all under the state folder, which is created with mode 0700):
//!
//! ```text
//! trust-domain      the trust domain this CA issues for
//! roots/<n>.pem     root (or intermediate, then its issuers) certificate(s) of root n
//! roots/<n>.key     its private key, PKCS#8 PEM, mode 0600
//! signer            the number of the root that signs new leaves
//! ```
//!
//! A root is claimed by creating its key file with `create_new`, and published by renaming its
//! certificate into place, so a reader never sees a certificate without its whole key.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rigging_mesh_spiffe::TrustDomain;

use crate::authority::{Authority, RootError, RootId, SigningRoot};

/// Private keys are readable by the owner only.
const KEY_MODE: u32 = 0o600;
/// The state folder holds keys: owner only.
const DIR_MODE: u32 = 0o700;
const TRUST_DOMAIN_FILE: &str = "trust-domain";
const SIGNER_FILE: &str = "signer";
const ROOTS_DIR: &str = "roots";

/// The CA state folder.
#[derive(Debug, Clone)]
pub struct CaStore {
    dir: PathBuf,
}

/// Why the state folder could not be read or changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("{op} {path}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} does not hold a valid trust domain: {reason}")]
    BadTrustDomain { path: PathBuf, reason: String },
    #[error("the state folder is for trust domain {found}, not {wanted}")]
    TrustDomainMismatch { found: String, wanted: String },
    #[error("{path} does not hold a root number")]
    BadSigner { path: PathBuf },
    #[error("root {id} in {path}")]
    Root {
        id: RootId,
        path: PathBuf,
        #[source]
        source: RootError,
    },
    #[error("root {0} does not exist")]
    NoSuchRoot(RootId),
    #[error(
        "root {0} signs new certificates: switch the signer to another root before dropping it"
    )]
    DropSigner(RootId),
    #[error("the state folder {0} has no CA yet")]
    Uninitialised(PathBuf),
}

impl CaStore {
    /// The store over `dir`; nothing is read or written yet.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The state folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Loads the CA, creating the folder and a first root (the signer) if there is none.
    pub fn open_or_create(
        &self,
        trust_domain: &TrustDomain,
        now: SystemTime,
    ) -> Result<Authority, StoreError> {
        let td_path = self.dir.join(TRUST_DOMAIN_FILE);
        if !td_path.exists() {
            make_dir(&self.dir)?;
            make_dir(&self.dir.join(ROOTS_DIR))?;
            let root = self.create_root(trust_domain, now)?;
            write_atomic(&self.dir.join(SIGNER_FILE), root.to_string().as_bytes())?;
            write_atomic(&td_path, trust_domain.as_str().as_bytes())?;
            tracing::info!(dir = %self.dir.display(), %trust_domain, root = %root, "created a new CA");
        }
        let found = self.trust_domain()?;
        if &found != trust_domain {
            return Err(StoreError::TrustDomainMismatch {
                found: found.to_string(),
                wanted: trust_domain.to_string(),
            });
        }
        self.load()
    }

    /// The trust domain the folder was created for.
    pub fn trust_domain(&self) -> Result<TrustDomain, StoreError> {
        let path = self.dir.join(TRUST_DOMAIN_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::Uninitialised(self.dir.clone()));
            }
            Err(source) => return Err(io("reading", &path, source)),
        };
        TrustDomain::new(text.trim()).map_err(|e| StoreError::BadTrustDomain {
            path,
            reason: e.to_string(),
        })
    }

    /// Loads every root and the signer.
    pub fn load(&self) -> Result<Authority, StoreError> {
        let trust_domain = self.trust_domain()?;
        let signer = self.signer()?;
        let mut roots = Vec::new();
        for id in self.root_ids()? {
            roots.push(self.load_root(id)?);
        }
        Authority::new(trust_domain, roots, signer).map_err(|source| StoreError::Root {
            id: signer,
            path: self.dir.join(SIGNER_FILE),
            source,
        })
    }

    /// Step 1 of a rotation: a new root that is trusted (it joins the bundle) but does not sign.
    pub fn add_root(&self, now: SystemTime) -> Result<RootId, StoreError> {
        let td = self.trust_domain()?;
        let id = self.create_root(&td, now)?;
        tracing::info!(root = %id, "added a root to the trust bundle; it does not sign yet");
        Ok(id)
    }

    /// Adds a given root or intermediate (PEM certificate chain, PEM key) to the bundle, not signing.
    pub fn import_root(&self, cert_pem: &[u8], key_pem: &str) -> Result<RootId, StoreError> {
        self.trust_domain()?;
        // Validate before claiming a number.
        SigningRoot::from_pem(RootId(0), cert_pem, key_pem).map_err(|source| StoreError::Root {
            id: RootId(0),
            path: self.dir.join(ROOTS_DIR),
            source,
        })?;
        let id = self.publish(cert_pem, key_pem)?;
        tracing::info!(root = %id, "imported a root into the trust bundle; it does not sign yet");
        Ok(id)
    }

    /// Step 2: `id` signs new leaves from now on. Leaves of the old signer stay valid.
    pub fn switch_signer(&self, id: RootId) -> Result<(), StoreError> {
        if !self.root_ids()?.contains(&id) {
            return Err(StoreError::NoSuchRoot(id));
        }
        write_atomic(&self.dir.join(SIGNER_FILE), id.to_string().as_bytes())?;
        tracing::info!(root = %id, "switched the signer");
        Ok(())
    }

    /// Step 3: removes `id` from the bundle. Refused for the signer.
    pub fn drop_root(&self, id: RootId) -> Result<(), StoreError> {
        if self.signer()? == id {
            return Err(StoreError::DropSigner(id));
        }
        let (cert, key) = self.root_paths(id);
        match fs::remove_file(&cert) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NoSuchRoot(id));
            }
            Err(source) => return Err(io("removing", &cert, source)),
        }
        fs::remove_file(&key).map_err(|source| io("removing", &key, source))?;
        tracing::info!(root = %id, "dropped a root from the trust bundle");
        Ok(())
    }

    /// The root that signs.
    pub fn signer(&self) -> Result<RootId, StoreError> {
        let path = self.dir.join(SIGNER_FILE);
        let text = fs::read_to_string(&path).map_err(|source| io("reading", &path, source))?;
        text.parse().map_err(|_| StoreError::BadSigner { path })
    }

    /// The numbers of every published root, ascending.
    pub fn root_ids(&self) -> Result<Vec<RootId>, StoreError> {
        let dir = self.dir.join(ROOTS_DIR);
        let mut ids = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|source| io("listing", &dir, source))? {
            let entry = entry.map_err(|source| io("listing", &dir, source))?;
            let name = entry.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".pem")) else {
                continue;
            };
            if let Ok(id) = stem.parse::<RootId>() {
                ids.push(id);
            }
        }
        ids.sort();
        Ok(ids)
    }

    fn load_root(&self, id: RootId) -> Result<SigningRoot, StoreError> {
        let (cert, key) = self.root_paths(id);
        let cert_pem = fs::read(&cert).map_err(|source| io("reading", &cert, source))?;
        let key_pem = fs::read_to_string(&key).map_err(|source| io("reading", &key, source))?;
        SigningRoot::from_pem(id, &cert_pem, &key_pem).map_err(|source| StoreError::Root {
            id,
            path: cert,
            source,
        })
    }

    fn create_root(&self, td: &TrustDomain, now: SystemTime) -> Result<RootId, StoreError> {
        // The number is only a label inside the certificate; `publish` picks the file's number.
        let next = self.root_ids()?.last().map_or(1, |l| l.0 + 1);
        let root =
            SigningRoot::generate(RootId(next), td, now).map_err(|source| StoreError::Root {
                id: RootId(next),
                path: self.dir.join(ROOTS_DIR),
                source,
            })?;
        self.publish(root.chain_pem().as_bytes(), &root.key_pem())
    }

    /// Claims the next free number with its key file, then publishes the certificate.
    fn publish(&self, cert_pem: &[u8], key_pem: &str) -> Result<RootId, StoreError> {
        let mut next = self.root_ids()?.last().map_or(1, |l| l.0 + 1);
        loop {
            let id = RootId(next);
            let (cert, key) = self.root_paths(id);
            let file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(KEY_MODE)
                .open(&key);
            let mut file = match file {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    next += 1;
                    continue;
                }
                Err(source) => return Err(io("creating", &key, source)),
            };
            file.write_all(key_pem.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|source| io("writing", &key, source))?;
            write_atomic(&cert, cert_pem)?;
            return Ok(id);
        }
    }

    fn root_paths(&self, id: RootId) -> (PathBuf, PathBuf) {
        let dir = self.dir.join(ROOTS_DIR);
        (dir.join(format!("{id}.pem")), dir.join(format!("{id}.key")))
    }
}

fn io(op: &'static str, path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

fn make_dir(dir: &Path) -> Result<(), StoreError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(|source| io("creating", dir, source))
}

/// Writes through a temporary file and a rename, so readers see the old or the new content.
fn write_atomic(path: &Path, data: &[u8]) -> Result<(), StoreError> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut file = fs::File::create(&tmp).map_err(|source| io("creating", &tmp, source))?;
    file.write_all(data)
        .and_then(|()| file.sync_all())
        .map_err(|source| io("writing", &tmp, source))?;
    fs::rename(&tmp, path).map_err(|source| io("renaming", &tmp, source))
}
