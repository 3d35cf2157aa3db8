//! The handle on one SDS secret: the latest valid certificate, for rustls and for whoever waits.

use std::fmt;
use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::sync::watch;

use crate::SdsError;

/// One secret's certificate as its subscription last accepted it; cheap to clone, every clone
/// sees the same updates. As a [`ResolvesServerCert`] it serves the latest certificate, and
/// refuses handshakes (`None`) until the first one arrived.
#[derive(Clone)]
pub struct SdsCertificate {
    cluster: Arc<str>,
    resource: Arc<str>,
    current: watch::Receiver<Option<Arc<Installed>>>,
}

/// A certificate the subscription installed: the key, and the `version_info` it came with.
#[derive(Debug)]
pub struct Installed {
    key: Arc<CertifiedKey>,
    version: String,
}

impl SdsCertificate {
    pub(crate) fn new(
        cluster: &str,
        resource: &str,
        current: watch::Receiver<Option<Arc<Installed>>>,
    ) -> Self {
        Self {
            cluster: cluster.into(),
            resource: resource.into(),
            current,
        }
    }

    /// The SDS cluster the secret comes from.
    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// The secret's resource name.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The latest certificate, `None` before the first one arrived.
    pub fn current(&self) -> Option<Arc<CertifiedKey>> {
        self.current.borrow().as_ref().map(|i| Arc::clone(&i.key))
    }

    /// The version of the latest certificate.
    pub fn version(&self) -> Option<String> {
        self.current.borrow().as_ref().map(|i| i.version.clone())
    }

    /// Whether a certificate has arrived (and TLS handshakes can succeed).
    pub fn ready(&self) -> bool {
        self.current.borrow().is_some()
    }

    /// Waits for the first certificate; at once if there is one. Fails only if the subscription
    /// stopped first, because its [`Sds`](crate::Sds) was dropped.
    pub async fn wait_ready(&self) -> Result<Arc<CertifiedKey>, SdsError> {
        let stopped = || SdsError::Stopped {
            cluster: self.cluster.to_string(),
            resource: self.resource.to_string(),
        };
        let mut current = self.current.clone();
        let installed = current
            .wait_for(Option::is_some)
            .await
            .map_err(|_| stopped())?;
        installed
            .as_ref()
            .map(|i| Arc::clone(&i.key))
            .ok_or_else(stopped)
    }

    /// A receiver of every installed certificate, to react to changes (or to wait for one).
    pub fn watch(&self) -> watch::Receiver<Option<Arc<Installed>>> {
        self.current.clone()
    }
}

impl ResolvesServerCert for SdsCertificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current()
    }
}

impl fmt::Debug for SdsCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SdsCertificate")
            .field("cluster", &self.cluster)
            .field("resource", &self.resource)
            .field("version", &self.version())
            .finish()
    }
}

impl Installed {
    pub(crate) fn new(key: Arc<CertifiedKey>, version: String) -> Self {
        Self { key, version }
    }

    pub fn key(&self) -> &Arc<CertifiedKey> {
        &self.key
    }

    pub fn version(&self) -> &str {
        &self.version
    }
}
