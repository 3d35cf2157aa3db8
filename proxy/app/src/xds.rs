//! The proxy as the xDS client's configuration sink, and the client task.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use envoy_types::pb::google::protobuf::Any;
use http::Uri;
use rigging_mesh_xds::ResourceType;
use rigging_pilot_client::{ClientConfig, ConfigSink, XdsClient};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::apply::Shared;
use crate::error::ProxyError;
use crate::listeners::drained;
use crate::runtime::ProxyOptions;

/// Hands xDS responses to the proxy's apply path; an error NACKs the response.
#[derive(Debug, Clone)]
pub(crate) struct ProxySink(pub Arc<Shared>);

impl ConfigSink for ProxySink {
    fn apply(&self, ty: ResourceType, version: &str, resources: &[Any]) -> Result<(), String> {
        self.0.apply_xds(ty, version, resources)
    }

    fn names(&self, ty: ResourceType) -> Vec<String> {
        self.0.names(ty)
    }
}

/// Starts the xDS client; it runs until `shutdown` turns true. Readiness follows the client's
/// status (CDS and LDS acknowledged once).
pub(crate) fn start(
    opts: &ProxyOptions,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<JoinHandle<()>, ProxyError> {
    let pilot: Uri = opts
        .pilot
        .parse()
        .map_err(|e: http::uri::InvalidUri| ProxyError::Pilot {
            pilot: opts.pilot.clone(),
            reason: e.to_string(),
        })?;
    if pilot.scheme().is_none() || pilot.authority().is_none() {
        return Err(ProxyError::Pilot {
            pilot: opts.pilot.clone(),
            reason: "expected an absolute URL such as http://127.0.0.1:15010".into(),
        });
    }
    let mut config = ClientConfig::new(pilot, opts.node_id.clone(), opts.node_cluster.clone());
    if let Some(tls) = &opts.pilot_tls {
        config = config.with_tls(tls.clone());
    }
    let client = XdsClient::new(config, Arc::new(ProxySink(Arc::clone(&shared))));
    let mut status = client.status();
    tokio::spawn(async move {
        while status.changed().await.is_ok() {
            if status.borrow_and_update().ready {
                shared.xds_ready.store(true, Ordering::Release);
                return;
            }
        }
    });
    Ok(tokio::spawn(async move {
        client
            .run(async move { drained(&mut shutdown).await })
            .await;
    }))
}
