//! The gRPC side of the HTTP server (the standard health service) and the
//! client helpers that call it.

use std::net::SocketAddr;

use tonic::service::Routes;
use tonic::transport::{Channel, Endpoint};
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::server::{HealthReporter, health_reporter};

use crate::AppError;
use crate::error::with_timeout;

/// The gRPC routes of an application: `grpc.health.v1.Health`, with the
/// server as a whole (`""`) and `service` SERVING.
pub(crate) async fn health_routes(service: &str) -> (Routes, HealthReporter) {
    let (reporter, server) = health_reporter();
    reporter
        .set_service_status(service, ServingStatus::Serving)
        .await;
    (Routes::new(server).prepare(), reporter)
}

/// Calls `grpc.health.v1.Health/Check` for `service` over h2c and returns
/// the `ServingStatus` as its protobuf number (1 is SERVING). The call only
/// succeeds if the `grpc-status` trailer arrived, so it also proves that a
/// proxy forwards HTTP/2 trailers.
pub async fn grpc_health_check(addr: SocketAddr, service: &str) -> Result<i32, AppError> {
    with_timeout(addr, async {
        let mut client = connect(addr).await?;
        let request = HealthCheckRequest {
            service: service.to_owned(),
        };
        let response = client
            .check(request)
            .await
            .map_err(|status| grpc_error(addr, status))?;
        Ok(response.into_inner().status)
    })
    .await
}

/// Calls the server-streaming `grpc.health.v1.Health/Watch` for `service`
/// and returns the first `n` statuses it sends. The first is the current
/// status; the others come as the server's health changes.
pub async fn grpc_health_watch_first(
    addr: SocketAddr,
    service: &str,
    n: usize,
) -> Result<Vec<i32>, AppError> {
    with_timeout(addr, async {
        let mut client = connect(addr).await?;
        let request = HealthCheckRequest {
            service: service.to_owned(),
        };
        let mut stream = client
            .watch(request)
            .await
            .map_err(|status| grpc_error(addr, status))?
            .into_inner();
        let mut statuses = Vec::with_capacity(n);
        while statuses.len() < n {
            match stream.message().await {
                Ok(Some(message)) => statuses.push(message.status),
                Ok(None) => {
                    let detail = format!("watch ended after {} of {n} messages", statuses.len());
                    return Err(AppError::unexpected(addr, detail));
                }
                Err(status) => return Err(grpc_error(addr, status)),
            }
        }
        Ok(statuses)
    })
    .await
}

async fn connect(addr: SocketAddr) -> Result<HealthClient<Channel>, AppError> {
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|source| AppError::GrpcConnect { addr, source })?
        .connect()
        .await
        .map_err(|source| AppError::GrpcConnect { addr, source })?;
    Ok(HealthClient::new(channel))
}

fn grpc_error(addr: SocketAddr, status: tonic::Status) -> AppError {
    AppError::Grpc {
        addr,
        source: Box::new(status),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tonic::Code;
    use tonic_health::ServingStatus;
    use tonic_health::pb::HealthCheckRequest;

    use super::{connect, grpc_health_check, grpc_health_watch_first};
    use crate::AppError;
    use crate::testing::{api_v2, http};

    const SERVING: i32 = ServingStatus::Serving as i32;
    const NOT_SERVING: i32 = ServingStatus::NotServing as i32;

    /// tonic reports a missing `grpc-status` trailer as an error, so an OK
    /// here means the trailers arrived.
    #[tokio::test]
    async fn check_answers_serving_for_server_and_service() {
        let (addr, _reporter, _server) = http(api_v2()).await;
        assert_eq!(grpc_health_check(addr, "").await.expect("check"), SERVING);
        assert_eq!(
            grpc_health_check(addr, "api").await.expect("check"),
            SERVING
        );
    }

    #[tokio::test]
    async fn check_of_unknown_service_is_not_found() {
        let (addr, _reporter, _server) = http(api_v2()).await;
        match grpc_health_check(addr, "nope").await {
            Err(AppError::Grpc { source, .. }) => assert_eq!(source.code(), Code::NotFound),
            other => panic!("expected NotFound, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn check_follows_the_reporter() {
        let (addr, reporter, _server) = http(api_v2()).await;
        reporter
            .set_service_status("api", ServingStatus::NotServing)
            .await;
        assert_eq!(
            grpc_health_check(addr, "api").await.expect("check"),
            NOT_SERVING
        );
        assert_eq!(grpc_health_check(addr, "").await.expect("check"), SERVING);
    }

    #[tokio::test]
    async fn check_server_response_carries_served_by() {
        let (addr, _reporter, _server) = http(api_v2()).await;
        let mut client = connect(addr).await.expect("connect");
        let request = HealthCheckRequest {
            service: String::new(),
        };
        let response = client.check(request).await.expect("check");
        assert_eq!(
            response.metadata().get("x-served-by").expect("header"),
            "api-v2-1"
        );
    }

    #[tokio::test]
    async fn watch_sends_the_current_status_first() {
        let (addr, _reporter, _server) = http(api_v2()).await;
        let statuses = grpc_health_watch_first(addr, "api", 1)
            .await
            .expect("watch");
        assert_eq!(statuses, [SERVING]);
    }

    #[tokio::test]
    async fn watch_streams_status_changes() {
        let (addr, reporter, _server) = http(api_v2()).await;
        let mut client = connect(addr).await.expect("connect");
        let request = HealthCheckRequest {
            service: "api".into(),
        };
        let mut stream = client.watch(request).await.expect("watch").into_inner();
        let first = stream.message().await.expect("first").expect("some");
        assert_eq!(first.status, SERVING);
        reporter
            .set_service_status("api", ServingStatus::NotServing)
            .await;
        let second = stream.message().await.expect("second").expect("some");
        assert_eq!(second.status, NOT_SERVING);
    }

    #[tokio::test]
    async fn watch_helper_reads_n_messages() {
        let (addr, reporter, _server) = http(api_v2()).await;
        let mut watch = tokio::spawn(grpc_health_watch_first(addr, "", 2));
        // The helper only returns once it has read both messages, and a
        // test cannot see when the first one arrived: keep announcing
        // NOT_SERVING until the helper is done.
        let statuses = loop {
            tokio::select! {
                done = &mut watch => break done.expect("join").expect("watch"),
                () = tokio::time::sleep(Duration::from_millis(20)) => {
                    reporter.set_service_status("", ServingStatus::NotServing).await;
                }
            }
        };
        assert_eq!(statuses.len(), 2);
        assert_eq!(statuses[1], NOT_SERVING);
    }

    #[tokio::test]
    async fn helpers_fail_when_nothing_listens() {
        let (listener, addr) = crate::testing::listener().await;
        drop(listener);
        assert!(matches!(
            grpc_health_check(addr, "").await,
            Err(AppError::GrpcConnect { .. })
        ));
    }
}
