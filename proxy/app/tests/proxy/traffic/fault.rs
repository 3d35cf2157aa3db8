//! Fault injection: delays and aborts of a share of the requests, over HTTP and gRPC, only
//! where the listener has the fault filter.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use rigging_proxy_config::{AbortStatus, BasisPoints, FaultAbort, FaultDelay, FaultInjection};

use super::{config_with, hits, load, reply, route_to, scripted, with_fault_filter};
use crate::proxy::support::*;

#[tokio::test]
async fn delay_fault_delays_about_its_share() {
    let up = scripted("a", |_| reply(200)).await;
    let mut route = route_to("svc");
    let delay = Duration::from_millis(500);
    route.fault = Some(FaultInjection {
        delay: Some(FaultDelay {
            delay,
            percentage: BasisPoints::from_percent(50),
        }),
        abort: None,
    });
    let config = config_with(route, &[("svc", &[up.addr])]);
    let (proxy, url) = proxy_with(with_fault_filter(config.clone())).await;
    let n = 100;
    // A few at a time, and a delay long enough that an undelayed request stays far below it
    // even on a busy machine.
    let results = load(&format!("{url}/"), n, 10).await;
    let delayed = results.iter().filter(|r| r.2 >= delay).count();
    // 50 % of 100, σ = 5: ±22 is over 4σ.
    assert!((28..=72).contains(&delayed), "{delayed} of {n} delayed");
    assert!(results.iter().all(|r| r.0 == StatusCode::OK));
    assert_eq!(hits(&up), n);
    proxy.shutdown().await;

    // Without the fault filter on the listener, the route's fault does not apply.
    let (proxy, url) = proxy_with(config).await;
    let results = load(&format!("{url}/"), 20, 20).await;
    assert!(results.iter().all(|r| r.2 < delay), "{results:?}");
    proxy.shutdown().await;
}

#[tokio::test]
async fn abort_fault_aborts_its_share_before_the_upstream() {
    let up = scripted("a", |_| reply(200)).await;
    let mut route = route_to("svc");
    route.fault = Some(FaultInjection {
        delay: None,
        abort: Some(FaultAbort {
            status: AbortStatus::Http(418),
            percentage: BasisPoints::from_percent(30),
        }),
    });
    let config = with_fault_filter(config_with(route, &[("svc", &[up.addr])]));
    let (proxy, url) = proxy_with(config).await;
    let n = 1_000;
    let results = load(&format!("{url}/"), n, 8).await;
    let aborted = results
        .iter()
        .filter(|r| r.0 == StatusCode::IM_A_TEAPOT)
        .count();
    // 30 % of 1,000, σ ≈ 14.5: ±70 is almost 5σ.
    assert!((230..=370).contains(&aborted), "{aborted} of {n} aborted");
    assert_eq!(
        hits(&up),
        n - aborted,
        "aborted requests never reach the upstream"
    );
    let metrics = admin_get(&proxy, "/metrics").await;
    let want =
        format!(r#"rig_route_actions_total{{listener="out",action="fault_abort"}} {aborted}"#);
    assert!(metrics.contains(&want), "missing {want} in\n{metrics}");
    proxy.shutdown().await;
}

#[tokio::test]
async fn grpc_abort_fault_is_a_trailers_only_response() {
    let up = scripted("a", |_| reply(200)).await;
    let mut route = route_to("svc");
    route.fault = Some(FaultInjection {
        delay: None,
        abort: Some(FaultAbort {
            status: AbortStatus::Grpc(14),
            percentage: BasisPoints::ALL,
        }),
    });
    let config = with_fault_filter(config_with(route, &[("svc", &[up.addr])]));
    let (proxy, url) = proxy_with(config).await;
    let req = Request::post(format!("{url}/pkg.Svc/Call"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = h2c_client().request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["grpc-status"], "14");
    assert_eq!(resp.headers()["content-type"], "application/grpc");
    let body = resp.into_body().collect().await.unwrap();
    assert!(body.to_bytes().is_empty());
    assert_eq!(hits(&up), 0);
    proxy.shutdown().await;
}
