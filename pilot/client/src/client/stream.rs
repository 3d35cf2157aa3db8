//! One stream's protocol: the requests that subscribe, ACK and NACK (state of the world).

use std::collections::BTreeMap;

use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use envoy_types::pb::google::rpc;
use rigging_mesh_xds::ResourceType;
use tracing::{debug, warn};

use super::XdsClient;

/// gRPC's INVALID_ARGUMENT, the code of a NACK's `error_detail`.
const INVALID_ARGUMENT: i32 = 3;

/// What one stream has sent and received; a new stream starts empty.
#[derive(Debug, Default)]
pub(super) struct StreamState {
    /// The nonce of the last response per type.
    nonces: BTreeMap<ResourceType, String>,
    /// The names requested per type on this stream; a type is present once requested.
    subscribed: BTreeMap<ResourceType, Vec<String>>,
}

impl XdsClient {
    /// The first request of a type on a new stream: wildcard for CDS and LDS, the sink's names for
    /// EDS and RDS (none if it has none), with the version the proxy already has.
    pub(super) fn initial_request(
        &self,
        state: &mut StreamState,
        ty: ResourceType,
    ) -> Option<DiscoveryRequest> {
        let names = if ty.is_wildcard() {
            Vec::new()
        } else {
            let names = sorted(self.sink.names(ty));
            if names.is_empty() {
                return None;
            }
            names
        };
        Some(self.subscribe(state, ty, names))
    }

    /// Applies one response and returns the requests to send: its ACK or NACK, then any changed
    /// EDS or RDS subscription the applied CDS or LDS calls for.
    pub(super) fn handle_response(
        &mut self,
        state: &mut StreamState,
        resp: DiscoveryResponse,
    ) -> Vec<DiscoveryRequest> {
        let Some(ty) = ResourceType::from_type_url(&resp.type_url) else {
            let reason = format!("unknown type URL {:?}", resp.type_url);
            warn!(type_url = %resp.type_url, nonce = %resp.nonce, "NACK xDS response: {reason}");
            return vec![nack(
                resp.type_url,
                String::new(),
                resp.nonce,
                Vec::new(),
                reason,
            )];
        };
        state.nonces.insert(ty, resp.nonce.clone());
        let names = state.subscribed.get(&ty).cloned().unwrap_or_default();
        match self.sink.apply(ty, &resp.version_info, &resp.resources) {
            Ok(()) => {
                debug!(%ty, version = %resp.version_info, resources = resp.resources.len(), "ACK xDS response");
                self.versions.insert(ty, resp.version_info.clone());
                self.status
                    .send_modify(|s| s.record_ack(ty, &resp.version_info));
                let mut out = vec![DiscoveryRequest {
                    version_info: resp.version_info,
                    resource_names: names,
                    type_url: ty.type_url().to_owned(),
                    response_nonce: resp.nonce,
                    ..Default::default()
                }];
                let dependent = match ty {
                    ResourceType::Cluster => Some(ResourceType::Endpoint),
                    ResourceType::Listener => Some(ResourceType::Route),
                    ResourceType::Endpoint | ResourceType::Route => None,
                };
                out.extend(dependent.and_then(|dep| self.resubscribe(state, dep)));
                out
            }
            Err(reason) => {
                warn!(%ty, version = %resp.version_info, nonce = %resp.nonce, %reason, "NACK xDS response");
                self.status.send_modify(|s| s.record_nack(ty, &reason));
                let version = self.versions.get(&ty).cloned().unwrap_or_default();
                vec![nack(
                    ty.type_url().to_owned(),
                    version,
                    resp.nonce,
                    names,
                    reason,
                )]
            }
        }
    }

    /// A request for the sink's current names of `ty`, if they differ from what this stream asked.
    fn resubscribe(&self, state: &mut StreamState, ty: ResourceType) -> Option<DiscoveryRequest> {
        let names = sorted(self.sink.names(ty));
        match state.subscribed.get(&ty) {
            Some(current) if *current == names => None,
            None if names.is_empty() => None,
            // An empty list after the first request unsubscribes from every name.
            _ => {
                debug!(%ty, ?names, "xDS subscription changed");
                Some(self.subscribe(state, ty, names))
            }
        }
    }

    fn subscribe(
        &self,
        state: &mut StreamState,
        ty: ResourceType,
        names: Vec<String>,
    ) -> DiscoveryRequest {
        // The node goes on the first request of each type, so the server knows the proxy whichever
        // request it reads first.
        let first = state.subscribed.insert(ty, names.clone()).is_none();
        DiscoveryRequest {
            version_info: self.versions.get(&ty).cloned().unwrap_or_default(),
            node: first.then(|| self.node.clone()),
            resource_names: names,
            type_url: ty.type_url().to_owned(),
            response_nonce: state.nonces.get(&ty).cloned().unwrap_or_default(),
            ..Default::default()
        }
    }
}

fn nack(
    type_url: String,
    version_info: String,
    nonce: String,
    resource_names: Vec<String>,
    reason: String,
) -> DiscoveryRequest {
    DiscoveryRequest {
        version_info,
        resource_names,
        type_url,
        response_nonce: nonce,
        error_detail: Some(rpc::Status {
            code: INVALID_ARGUMENT,
            message: reason,
            details: Vec::new(),
        }),
        ..Default::default()
    }
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names.dedup();
    names
}
