//! The gRPC side of the fake: accepting HTTP/2 connections (so that a stop closes them all),
//! and one task per `StreamSecrets` stream that answers requests and pushes changes.

use std::collections::BTreeMap;
use std::sync::Arc;

use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
};
use envoy_types::pb::envoy::service::secret::v3::secret_discovery_service_server::{
    SecretDiscoveryService, SecretDiscoveryServiceServer,
};
use envoy_types::pb::google::protobuf::Any;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use prost::Message;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::{FakeSds, SECRET_TYPE_URL, SdsAnswer, State};

type ResponseTx = mpsc::UnboundedSender<Result<DiscoveryResponse, Status>>;

struct Service {
    state: Arc<watch::Sender<State>>,
    /// Closed when the server stops, which ends every stream task.
    alive: watch::Receiver<()>,
}

/// One stream's protocol state.
struct Stream {
    state: Arc<watch::Sender<State>>,
    responses: ResponseTx,
    /// The names the client asked for, sorted.
    names: Vec<String>,
    /// The version of each secret in the last response (absent ones left out).
    sent: BTreeMap<String, u64>,
    nonces: u64,
    last_nonce: Option<String>,
}

impl FakeSds {
    pub(super) fn serve(&mut self, listener: TcpListener) {
        let state = Arc::clone(&self.state);
        self.server = Some(tokio::spawn(async move {
            let (_alive, alive) = watch::channel(());
            let svc = SecretDiscoveryServiceServer::new(Service { state, alive });
            let mut conns = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let svc = TowerToHyperService::new(svc.clone());
                conns.spawn(async move {
                    let http = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
                    if let Err(e) = http.serve_connection(TokioIo::new(stream), svc).await {
                        tracing::debug!("fake sds connection: {e}");
                    }
                });
                while conns.try_join_next().is_some() {}
            }
        }));
    }
}

#[tonic::async_trait]
impl SecretDiscoveryService for Service {
    type StreamSecretsStream = UnboundedReceiverStream<Result<DiscoveryResponse, Status>>;
    type DeltaSecretsStream = UnboundedReceiverStream<Result<DeltaDiscoveryResponse, Status>>;

    async fn stream_secrets(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamSecretsStream>, Status> {
        let (responses, rx) = mpsc::unbounded_channel();
        self.state.send_modify(|s| {
            s.streams += 1;
            s.open_streams += 1;
        });
        let stream = Stream {
            state: Arc::clone(&self.state),
            responses,
            names: Vec::new(),
            sent: BTreeMap::new(),
            nonces: 0,
            last_nonce: None,
        };
        tokio::spawn(stream.run(request.into_inner(), self.alive.clone()));
        Ok(Response::new(UnboundedReceiverStream::new(rx)))
    }

    async fn delta_secrets(
        &self,
        _request: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<Self::DeltaSecretsStream>, Status> {
        Err(Status::unimplemented(
            "the fake SDS server speaks state-of-the-world only",
        ))
    }

    async fn fetch_secrets(
        &self,
        _request: Request<DiscoveryRequest>,
    ) -> Result<Response<DiscoveryResponse>, Status> {
        Err(Status::unimplemented("the fake SDS server streams only"))
    }
}

impl Stream {
    async fn run(
        mut self,
        mut inbound: Streaming<DiscoveryRequest>,
        mut alive: watch::Receiver<()>,
    ) {
        let mut changes = self.state.subscribe();
        loop {
            let open = tokio::select! {
                _ = alive.changed() => false,
                req = inbound.message() => match req {
                    Ok(Some(req)) => self.on_request(req),
                    _ => false,
                },
                changed = changes.changed() => changed.is_ok() && self.push(),
            };
            if !open {
                break;
            }
        }
        self.state.send_modify(|s| s.open_streams -= 1);
    }

    /// Records the request, and answers a new or changed subscription. `false` ends the stream.
    fn on_request(&mut self, req: DiscoveryRequest) -> bool {
        let answered = !req.response_nonce.is_empty();
        // An answer to an older response is stale: newer state is on its way, so servers ignore it.
        let current = answered && self.last_nonce.as_deref() == Some(req.response_nonce.as_str());
        let answer = current.then(|| SdsAnswer {
            version: req.version_info.clone(),
            nonce: req.response_nonce.clone(),
            resource_names: req.resource_names.clone(),
            error: req.error_detail.as_ref().map(|e| e.message.clone()),
        });
        let type_url = req.type_url.clone();
        let mut names = req.resource_names.clone();
        self.state.send_modify(|s| {
            s.requests.push(req);
            s.answers.extend(answer);
        });
        if type_url != SECRET_TYPE_URL {
            let status = Status::invalid_argument(format!("type URL {type_url:?} is not a Secret"));
            let _ = self.responses.send(Err(status));
            return false;
        }
        if answered && !current {
            return true;
        }
        names.sort();
        names.dedup();
        self.names = names;
        self.push()
    }

    /// Sends the subscribed secrets if they differ from what the client was last sent.
    fn push(&mut self) -> bool {
        let (version, secrets) = {
            let s = self.state.borrow();
            let secrets = self
                .names
                .iter()
                .filter_map(|n| {
                    s.secrets
                        .get(n)
                        .map(|(v, secret)| (n.clone(), *v, secret.clone()))
                })
                .collect::<Vec<_>>();
            (s.version, secrets)
        };
        let sent = secrets.iter().map(|(n, v, _)| (n.clone(), *v)).collect();
        if sent == self.sent {
            return true;
        }
        self.sent = sent;
        self.nonces += 1;
        let nonce = self.nonces.to_string();
        self.last_nonce = Some(nonce.clone());
        let response = DiscoveryResponse {
            version_info: version.to_string(),
            resources: secrets
                .iter()
                .map(|(_, _, secret)| Any {
                    type_url: SECRET_TYPE_URL.to_owned(),
                    value: secret.encode_to_vec(),
                })
                .collect(),
            type_url: SECRET_TYPE_URL.to_owned(),
            nonce,
            ..Default::default()
        };
        self.responses.send(Ok(response)).is_ok()
    }
}
