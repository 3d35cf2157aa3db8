//! One-time bootstrap tokens for VMs: created by an operator, stored hashed, consumed once.
//!
//! A token is 32 random bytes, base64url. Only its SHA-256 is kept, as the file name
//! `tokens/<hex>.json` holding the service, namespace and expiry. Consuming renames that
//! file to a unique name: `rename` is atomic, so of two concurrent Signs with the same token
//! (even from two processes) exactly one wins.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use futures::future::BoxFuture;
use rigging_mesh_spiffe::SpiffeId;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::auth::{AuthError, Authenticator, Clock, Credential, CredentialKind, IdentityLayout};

/// Entropy of a token: 256 bits, beyond guessing.
const TOKEN_BYTES: usize = 32;
/// A token's base64url length without padding, checked before hashing.
const TOKEN_CHARS: usize = 43;
/// Token files hold who may be issued what: owner only.
const FILE_MODE: u32 = 0o600;
const DIR_MODE: u32 = 0o700;
const TOKENS_DIR: &str = "tokens";
const CONSUMED_DIR: &str = "consumed";

/// The token folder inside Citadel's state folder.
#[derive(Debug, Clone)]
pub struct TokenStore {
    dir: PathBuf,
}

/// Why a token could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    #[error("{op} {path}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no randomness for the token: {0}")]
    Random(String),
    #[error("token ttl must be more than zero")]
    ZeroTtl,
    #[error("service or namespace name {0:?} is not a valid spiffe path segment")]
    BadName(String),
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRecord {
    service: String,
    namespace: String,
    expires_unix: u64,
}

/// Authenticates bootstrap tokens against a [`TokenStore`].
#[derive(Debug)]
pub struct BootstrapAuthenticator {
    store: TokenStore,
    layout: IdentityLayout,
    clock: Arc<dyn Clock>,
}

impl TokenStore {
    /// The token folder under the state folder `state_dir`.
    pub fn new(state_dir: &Path) -> Self {
        Self {
            dir: state_dir.join(TOKENS_DIR),
        }
    }

    /// Creates a token for `service` in `namespace`, valid `ttl` from `now`. Returns the token;
    /// only its hash is stored.
    pub fn create(
        &self,
        namespace: &str,
        service: &str,
        ttl: Duration,
        now: SystemTime,
    ) -> Result<String, TokenError> {
        if ttl.is_zero() {
            return Err(TokenError::ZeroTtl);
        }
        for name in [namespace, service] {
            let ok = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                && name != "."
                && name != "..";
            if !ok {
                return Err(TokenError::BadName(name.to_owned()));
            }
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(self.dir.join(CONSUMED_DIR))
            .map_err(|source| io("creating", &self.dir, source))?;
        let mut bytes = [0u8; TOKEN_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| TokenError::Random(e.to_string()))?;
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let expires = now + ttl;
        let record = TokenRecord {
            service: service.to_owned(),
            namespace: namespace.to_owned(),
            expires_unix: unix(expires),
        };
        let path = self.path_of(&token);
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&path)
            .map_err(|source| io("creating", &path, source))?;
        let json = serde_json::to_vec(&record).map_err(|e| io("encoding", &path, e.into()))?;
        file.write_all(&json)
            .and_then(|()| file.sync_all())
            .map_err(|source| io("writing", &path, source))?;
        tracing::info!(%service, %namespace, expires_unix = record.expires_unix, "created a bootstrap token");
        Ok(token)
    }

    /// Consumes `token` once: its namespace and service if it was known, unused and unexpired.
    fn consume(&self, token: &str, now: SystemTime) -> Result<TokenRecord, AuthError> {
        if token.len() != TOKEN_CHARS
            || !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(AuthError::Malformed(
                "bootstrap token has the wrong shape".into(),
            ));
        }
        let path = self.path_of(token);
        let mut unique = [0u8; 8];
        getrandom::fill(&mut unique).map_err(|e| AuthError::Store(e.to_string()))?;
        let taken = self.dir.join(CONSUMED_DIR).join(format!(
            "{}.{}",
            hex(&Sha256::digest(token.as_bytes())),
            hex(&unique)
        ));
        match fs::rename(&path, &taken) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(AuthError::UnknownToken);
            }
            Err(e) => return Err(AuthError::Store(format!("consuming a token: {e}"))),
        }
        let text =
            fs::read(&taken).map_err(|e| AuthError::Store(format!("reading a token: {e}")))?;
        // The record has served its one use; keep no secret-derived state around.
        if let Err(e) = fs::remove_file(&taken) {
            tracing::warn!(path = %taken.display(), error = %e, "could not remove a consumed token");
        }
        let record: TokenRecord = serde_json::from_slice(&text)
            .map_err(|e| AuthError::Store(format!("token record: {e}")))?;
        if unix(now) >= record.expires_unix {
            return Err(AuthError::TokenExpired);
        }
        Ok(record)
    }

    fn path_of(&self, token: &str) -> PathBuf {
        self.dir
            .join(format!("{}.json", hex(&Sha256::digest(token.as_bytes()))))
    }
}

impl BootstrapAuthenticator {
    /// Tokens from `store`, identities in `layout`.
    pub fn new(store: TokenStore, layout: IdentityLayout, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            layout,
            clock,
        }
    }

    fn check(&self, token: &str) -> Result<SpiffeId, AuthError> {
        let record = self.store.consume(token, self.clock.now())?;
        self.layout.service_id(&record.namespace, &record.service)
    }
}

impl Authenticator for BootstrapAuthenticator {
    fn kind(&self) -> CredentialKind {
        CredentialKind::BootstrapToken
    }

    fn name(&self) -> &'static str {
        "bootstrap-token"
    }

    fn authenticate<'a>(
        &'a self,
        credential: &'a Credential<'a>,
    ) -> BoxFuture<'a, Result<SpiffeId, AuthError>> {
        Box::pin(async move {
            match credential {
                Credential::BootstrapToken(token) => self.check(token),
                other => Err(AuthError::NotConfigured(other.kind())),
            }
        })
    }
}

fn io(op: &'static str, path: &Path, source: std::io::Error) -> TokenError {
    TokenError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
