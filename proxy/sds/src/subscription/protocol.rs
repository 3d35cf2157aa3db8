//! One stream's protocol (state of the world): subscribe, then ACK a usable secret and
//! install it, or NACK an unusable one and keep the previous certificate.

use std::sync::Arc;

use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use envoy_types::pb::google::rpc;
use rustls::sign::CertifiedKey;
use tracing::{debug, info, warn};

use super::{Subscription, error_chain};
use crate::Installed;
use crate::secret::{CertificateSource, SECRET_TYPE_URL, SecretError, find_secret};

/// gRPC's INVALID_ARGUMENT, the code of a NACK's `error_detail`, as Envoy sends it.
const INVALID_ARGUMENT: i32 = 3;

impl Subscription {
    /// The first request of a stream: the node, the one resource, and the version the
    /// gateway already has (empty before the first).
    pub(super) fn subscribe_request(&self) -> DiscoveryRequest {
        DiscoveryRequest {
            node: Some(self.node.clone()),
            ..self.request(self.version.clone(), String::new())
        }
    }

    /// Installs the response's certificate and ACKs it, or NACKs it with the reason.
    pub(super) async fn handle_response(
        &mut self,
        response: DiscoveryResponse,
    ) -> DiscoveryRequest {
        let DiscoveryResponse {
            version_info,
            resources,
            type_url,
            nonce,
            ..
        } = response;
        match self.load(&type_url, &resources).await {
            Ok(key) => {
                self.install(key, &version_info);
                self.version.clone_from(&version_info);
                self.request(version_info, nonce)
            }
            Err(e) => {
                let reason = error_chain(&e);
                warn!(
                    cluster = %self.cluster, resource = %self.resource, version = %version_info,
                    %nonce, %reason, "NACK SDS response; keeping the previous certificate"
                );
                DiscoveryRequest {
                    error_detail: Some(rpc::Status {
                        code: INVALID_ARGUMENT,
                        message: reason,
                        details: Vec::new(),
                    }),
                    ..self.request(self.version.clone(), nonce)
                }
            }
        }
    }

    async fn load(
        &self,
        type_url: &str,
        resources: &[envoy_types::pb::google::protobuf::Any],
    ) -> Result<CertifiedKey, SecretError> {
        let secret = find_secret(type_url, resources, &self.resource)?;
        CertificateSource::try_from(secret)?.load().await
    }

    fn install(&self, key: CertifiedKey, version: &str) {
        let changed = self
            .current
            .borrow()
            .as_ref()
            .map(|old| (old.key().cert != key.cert, old.version().to_owned()));
        let installed = Installed::new(Arc::new(key), version.to_owned());
        self.current.send_replace(Some(Arc::new(installed)));
        let (cluster, resource) = (&self.cluster, &self.resource);
        match changed {
            None => info!(cluster, resource, version, "SDS certificate received"),
            Some((true, previous)) => {
                info!(
                    cluster,
                    resource, version, previous, "SDS certificate changed"
                )
            }
            Some((false, previous)) => {
                debug!(
                    cluster,
                    resource, version, previous, "SDS certificate unchanged"
                )
            }
        }
    }

    /// A request for the one resource; an ACK when `nonce` is a response's.
    fn request(&self, version_info: String, response_nonce: String) -> DiscoveryRequest {
        DiscoveryRequest {
            version_info,
            resource_names: vec![self.resource.clone()],
            type_url: SECRET_TYPE_URL.to_owned(),
            response_nonce,
            ..Default::default()
        }
    }
}
