//! Handing a connection that switched protocols to whoever asked for it.

use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::io::{Io, Rewind};

/// A connection that switched protocols: first the bytes the client sent after its request,
/// then the stream itself.
pub type Upgraded = Rewind<Box<dyn Io>>;

/// In the extensions of a request that may switch protocols (an HTTP/1.1 `Upgrade` request, or
/// `CONNECT`): yields the connection once the response (101, or 2xx to `CONNECT`) is written.
#[derive(Debug, Clone)]
pub struct OnUpgrade {
    rx: Arc<Mutex<Option<oneshot::Receiver<Upgraded>>>>,
}

/// Why a request's connection was not handed over.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpgradeError {
    #[error("the connection did not switch protocols (no switching response, or it closed)")]
    NotUpgraded,
    #[error("the upgraded connection was already taken")]
    Taken,
}

impl OnUpgrade {
    pub(crate) fn pair() -> (oneshot::Sender<Upgraded>, Self) {
        let (tx, rx) = oneshot::channel();
        let on = Self {
            rx: Arc::new(Mutex::new(Some(rx))),
        };
        (tx, on)
    }

    /// Waits until the response that switches protocols has been written, and takes the
    /// connection.
    pub async fn upgraded(self) -> Result<Upgraded, UpgradeError> {
        let rx = self
            .rx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or(UpgradeError::Taken)?;
        rx.await.map_err(|_| UpgradeError::NotUpgraded)
    }
}
