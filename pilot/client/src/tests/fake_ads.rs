//! A scripted ADS server: each accepted stream becomes a [`Conn`] the test reads requests from and
//! writes responses to.

use std::net::SocketAddr;
use std::time::Duration;

use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_server::{
    AggregatedDiscoveryService, AggregatedDiscoveryServiceServer,
};
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::{TcpListenerStream, UnboundedReceiverStream};
use tonic::{Request, Response, Status, Streaming};

/// How long a test waits for something the client should do promptly.
pub const WAIT: Duration = Duration::from_secs(3);

pub struct FakeAds {
    pub addr: SocketAddr,
    conns: mpsc::UnboundedReceiver<Conn>,
    task: JoinHandle<()>,
}

/// One ADS stream. Dropping it ends the stream from the server's side.
pub struct Conn {
    requests: mpsc::UnboundedReceiver<DiscoveryRequest>,
    responses: mpsc::UnboundedSender<Result<DiscoveryResponse, Status>>,
}

struct Service {
    conns: mpsc::UnboundedSender<Conn>,
}

impl FakeAds {
    pub async fn start(listener: TcpListener) -> Self {
        let addr = listener.local_addr().unwrap();
        let (tx, conns) = mpsc::unbounded_channel();
        let server = tonic::transport::Server::builder()
            .add_service(AggregatedDiscoveryServiceServer::new(Service { conns: tx }))
            .serve_with_incoming(TcpListenerStream::new(listener));
        let task = tokio::spawn(async move {
            let _ = server.await;
        });
        Self { addr, conns, task }
    }

    pub async fn bind() -> Self {
        Self::start(TcpListener::bind("127.0.0.1:0").await.unwrap()).await
    }

    pub fn uri(&self) -> http::Uri {
        format!("http://{}", self.addr).parse().unwrap()
    }

    /// The next stream a client opens.
    pub async fn accept(&mut self) -> Conn {
        tokio::time::timeout(WAIT, self.conns.recv())
            .await
            .expect("no stream opened in time")
            .expect("server stopped")
    }
}

impl Drop for FakeAds {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Conn {
    pub async fn recv(&mut self) -> DiscoveryRequest {
        tokio::time::timeout(WAIT, self.requests.recv())
            .await
            .expect("no request in time")
            .expect("stream closed")
    }

    /// Asserts nothing more arrives for a short while.
    pub async fn assert_quiet(&mut self) {
        let got = tokio::time::timeout(Duration::from_millis(200), self.requests.recv()).await;
        assert!(got.is_err(), "unexpected request: {got:?}");
    }

    pub fn send(&self, resp: DiscoveryResponse) {
        self.responses.send(Ok(resp)).unwrap();
    }
}

#[tonic::async_trait]
impl AggregatedDiscoveryService for Service {
    type StreamAggregatedResourcesStream =
        UnboundedReceiverStream<Result<DiscoveryResponse, Status>>;
    type DeltaAggregatedResourcesStream =
        UnboundedReceiverStream<Result<DeltaDiscoveryResponse, Status>>;

    async fn stream_aggregated_resources(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamAggregatedResourcesStream>, Status> {
        let mut inbound = request.into_inner();
        let (req_tx, requests) = mpsc::unbounded_channel();
        let (responses, resp_rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(req)) = inbound.message().await {
                if req_tx.send(req).is_err() {
                    break;
                }
            }
        });
        let _ = self.conns.send(Conn {
            requests,
            responses,
        });
        Ok(Response::new(UnboundedReceiverStream::new(resp_rx)))
    }

    async fn delta_aggregated_resources(
        &self,
        _request: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<Self::DeltaAggregatedResourcesStream>, Status> {
        Err(Status::unimplemented("delta xDS"))
    }
}
