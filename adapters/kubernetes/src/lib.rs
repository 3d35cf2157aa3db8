//! The Kubernetes registry: Services and their EndpointSlices, watched through the API server and
//! published as a [`Registry`].
//!
//! # What is watched
//!
//! core/v1 `Service`s and discovery.k8s.io/v1 `EndpointSlice`s (those labelled
//! `kubernetes.io/service-name`; the legacy `Endpoints` API is not used), in each configured
//! namespace or cluster-wide, with kube-runtime's watcher: a list, then a watch from the list's
//! `resourceVersion` with bookmarks. A watch that ends is resumed from its last
//! `resourceVersion`; one answered 410 Gone (an `ERROR` event or an HTTP 410) starts over with a
//! full list (routine: health stays current). The mapping follows the Kubernetes 1.34 API
//! (`k8s-openapi` feature `v1_34`).
//!
//! # How objects map to the model
//!
//! - One model service per Kubernetes Service (not `ExternalName`), on **one** port: the port
//!   named (or numbered) by the annotation [`ANNOTATION_SERVICE_PORT`], else the first TCP port,
//!   as consul-k8s does with `consul.hashicorp.com/service-port`. A service whose annotation names
//!   no port is left out with a warning.
//! - Its endpoints come from the EndpointSlices of the service: the slice port whose name is the
//!   Service port's name (Kubernetes names slice ports after Service ports and puts the resolved
//!   `targetPort` number there, so named target ports are already resolved per pod); failing
//!   that, the slice port named like a named `targetPort`. Each endpoint's first address (the
//!   only one with defined semantics; kube-proxy ignores the others) × that port is one
//!   [`Endpoint`](rigging_mesh_model::Endpoint); an address listed in two slices (slices being
//!   rebalanced) counts once. `FQDN` slices are skipped; a dual-stack Service's IPv4 and IPv6
//!   slices give each pod one endpoint per family.
//! - Protocol: the Service port's `appProtocol` (else the slice port's): `http` → http,
//!   `http2` and `kubernetes.io/h2c` → http2, `grpc` → grpc, `tcp` → tcp, anything else → tcp with
//!   a debug log. Without one, Istio's port-name convention: `http`/`http-*`, `http2`/`http2-*`,
//!   `grpc`/`grpc-*`; else tcp.
//! - Health follows the EndpointSlice conditions (`ready` unset counts as ready, `serving` unset
//!   as `ready`, `terminating` unset as false): ready → `passing`; terminating but still serving
//!   → `maintenance` (draining, no new traffic), or `warning` when the service has no ready
//!   endpoint left, as kube-proxy falls back to serving-terminating endpoints; otherwise
//!   `critical`.
//! - Instance: the `targetRef` pod's name, else the endpoint's `hostname`, else its address.
//!   Locality: the configured region and the endpoint's `zone`. Metadata: [`META_NAMESPACE`],
//!   [`META_SERVICE`], and when known [`META_NODE`] and [`META_POD`]. No tags, no sidecar.
//!
//! # Namespaces and service names
//!
//! `api` in `prod` and `api` in `staging` are different services. The services of the *primary
//! namespace* — the first configured one, or `default` when every namespace is watched — keep
//! their names (`api`); those of any other namespace are named `<service>.<namespace>`
//! (`api.staging`), as the Nomad registry does. Kubernetes names cannot contain dots, so the two
//! forms never collide.
//!
//! # Outages
//!
//! When the API server cannot be reached, answers 5xx, or refuses the credentials (401/403), the
//! last snapshot stays (an error never publishes an empty catalog), [`Registry::health`] turns
//! stale with the error as a sentence, and the failed watch starts over with a full list after a
//! [`Backoff`](rigging_adapters_core::Backoff) delay. Health is current again once every watch
//! has listed successfully.

mod config;
mod errors;
mod mapping;
mod objects;
mod registry;
mod watches;

pub use config::{
    ALL_NAMESPACES, DEFAULT_NAMESPACE, DEFAULT_RETRY_BASE, DEFAULT_RETRY_MAX, KubernetesConfig,
};
pub use kube::Client;
pub use mapping::{ANNOTATION_SERVICE_PORT, META_NAMESPACE, META_NODE, META_POD, META_SERVICE};
pub use registry::KubernetesRegistry;
#[doc(no_inline)]
pub use rigging_adapters_core::Registry;

/// Why a Kubernetes registry could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KubernetesError {
    #[error("cannot read the kubeconfig {}: {source}", path.display())]
    Kubeconfig {
        path: std::path::PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("no Kubernetes configuration: {0}")]
    Infer(#[source] kube::config::InferConfigError),
    #[error("invalid kubeconfig context: {0}")]
    Context(#[source] kube::config::KubeconfigError),
    #[error("cannot build the Kubernetes client: {0}")]
    Client(#[source] kube::Error),
    #[error("invalid namespace {namespace:?}: {reason}")]
    Namespace { namespace: String, reason: String },
    #[error("the Kubernetes registry must be started inside a tokio runtime")]
    NoRuntime,
}
