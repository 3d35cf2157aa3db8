//! What Pilot sent each proxy, and what each proxy ACKed or NACKed: the data behind `rig status`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::SystemTime;

use rigging_mesh_xds::ResourceType;
use serde::{Deserialize, Serialize};

/// The sync state of one resource type of one proxy, as `istioctl proxy-status` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SyncState {
    /// Nothing sent yet.
    NotSent,
    /// Sent, not ACKed yet.
    Stale,
    /// The last version sent was ACKed.
    Synced,
    /// The last version sent was refused; the proxy keeps its previous one.
    Nacked,
}

/// One resource type of one proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeStatus {
    pub sent_version: Option<String>,
    pub acked_version: Option<String>,
    pub nack: Option<String>,
}

impl TypeStatus {
    pub fn state(&self) -> SyncState {
        match (&self.sent_version, &self.acked_version, &self.nack) {
            (None, _, _) => SyncState::NotSent,
            (Some(_), _, Some(_)) => SyncState::Nacked,
            (Some(s), Some(a), None) if s == a => SyncState::Synced,
            _ => SyncState::Stale,
        }
    }
}

/// One proxy as Pilot sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyStatus {
    pub proxy: String,
    pub connected: bool,
    pub peer: String,
    /// The SPIFFE ID of the stream's client certificate (mTLS only).
    pub spiffe_id: Option<String>,
    /// Seconds since the Unix epoch when the current (or last) stream opened.
    pub since: u64,
    /// The Pilot snapshot the last push was compiled from.
    pub snapshot_version: u64,
    /// Set when the proxy is connected but unknown to every registry (a gateway: without
    /// its config entry), or when a gateway does not serve all of its entry (why).
    pub problem: Option<String>,
    /// Keyed by CDS, EDS, LDS, RDS.
    pub types: BTreeMap<String, TypeStatus>,
}

/// Every proxy Pilot has seen since it started.
#[derive(Debug, Default)]
pub struct StatusRegistry {
    proxies: Mutex<BTreeMap<String, ProxyStatus>>,
}

impl StatusRegistry {
    pub fn list(&self) -> Vec<ProxyStatus> {
        self.lock().values().cloned().collect()
    }

    pub(crate) fn connected(&self, proxy: &str, peer: &str, spiffe_id: Option<String>) {
        let since = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.lock().insert(
            proxy.to_owned(),
            ProxyStatus {
                proxy: proxy.to_owned(),
                connected: true,
                peer: peer.to_owned(),
                spiffe_id,
                since,
                snapshot_version: 0,
                problem: None,
                types: BTreeMap::new(),
            },
        );
    }

    pub(crate) fn disconnected(&self, proxy: &str, peer: &str) {
        if let Some(p) = self.lock().get_mut(proxy) {
            // A newer stream of the same proxy may have replaced this one.
            if p.peer == peer {
                p.connected = false;
            }
        }
    }

    pub(crate) fn update(&self, proxy: &str, f: impl FnOnce(&mut ProxyStatus)) {
        if let Some(p) = self.lock().get_mut(proxy) {
            f(p);
        }
    }

    /// Records a push: the proxy is known, and `ty` was sent at `version`.
    pub(crate) fn sent(&self, proxy: &str, ty: ResourceType, snapshot: u64, version: &str) {
        self.update(proxy, |p| {
            p.problem = None;
            p.snapshot_version = snapshot;
        });
        self.update_type(proxy, ty, |t| t.sent_version = Some(version.to_owned()));
    }

    pub(crate) fn update_type(
        &self,
        proxy: &str,
        ty: ResourceType,
        f: impl FnOnce(&mut TypeStatus),
    ) {
        // Only the first update of a type allocates its key.
        self.update(proxy, |p| match p.types.get_mut(ty.short()) {
            Some(t) => f(t),
            None => f(p.types.entry(ty.short().to_owned()).or_default()),
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ProxyStatus>> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.proxies.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states() {
        let s = |sent: Option<&str>, acked: Option<&str>, nack: Option<&str>| TypeStatus {
            sent_version: sent.map(str::to_owned),
            acked_version: acked.map(str::to_owned),
            nack: nack.map(str::to_owned),
        };
        assert_eq!(s(None, None, None).state(), SyncState::NotSent);
        assert_eq!(s(Some("1"), None, None).state(), SyncState::Stale);
        assert_eq!(s(Some("2"), Some("1"), None).state(), SyncState::Stale);
        assert_eq!(s(Some("2"), Some("2"), None).state(), SyncState::Synced);
        assert_eq!(
            s(Some("2"), Some("1"), Some("bad")).state(),
            SyncState::Nacked
        );
    }
}
