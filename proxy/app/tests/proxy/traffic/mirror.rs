//! Request mirroring: a share of the requests copied to a shadow cluster, which cannot slow the
//! client down.

use std::time::{Duration, Instant};

use http::StatusCode;
use rigging_proxy_config::{BasisPoints, RequestMirror};

use super::{Reply, Scripted, config_with, dead_addr, hits, load, reply, route_to, scripted};
use crate::proxy::support::*;

#[tokio::test]
async fn mirror_copies_its_share_to_the_shadow() {
    let main = scripted("main", |_| reply(200)).await;
    let shadow = scripted("shadow", |_| reply(500)).await;
    let mut route = route_to("svc");
    route.action.mirrors = vec![RequestMirror {
        cluster: "shadow".into(),
        fraction: BasisPoints::from_percent(50),
    }];
    let config = config_with(route, &[("svc", &[main.addr]), ("shadow", &[shadow.addr])]);
    let (proxy, url) = proxy_with(config).await;
    let n = 400;
    let results = load(&format!("{url}/m"), n, 8).await;
    assert!(
        results
            .iter()
            .all(|r| r.0 == StatusCode::OK && r.1 == "main")
    );
    // Mirrors run in the background: wait for them to land.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = 0;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = hits(&shadow);
        if now == last && now > 0 {
            break;
        }
        last = now;
    }
    let mirrored = hits(&shadow);
    // 50 % of 400, σ = 10: ±50 is 5σ.
    assert!(
        (150..=250).contains(&mirrored),
        "{mirrored} of {n} mirrored"
    );
    assert_eq!(hits(&main), n);
    let host_of = |s: &Scripted| {
        s.seen.lock().unwrap()[0].headers["host"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    let host = url.trim_start_matches("http://");
    let (name, port) = host.rsplit_once(':').unwrap();
    assert_eq!(host_of(&main), host);
    assert_eq!(host_of(&shadow), format!("{name}-shadow:{port}"));
    assert_eq!(shadow.seen.lock().unwrap()[0].path, "/m");
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_slow_or_dead_shadow_does_not_affect_the_client() {
    let main = scripted("main", |_| reply(200)).await;
    let slow = scripted("slow", |_| Reply {
        delay: Duration::from_secs(5),
        ..reply(200)
    })
    .await;
    let dead = dead_addr().await;
    let mut route = route_to("svc");
    route.action.mirrors = vec![
        RequestMirror {
            cluster: "slow".into(),
            fraction: BasisPoints::ALL,
        },
        RequestMirror {
            cluster: "dead".into(),
            fraction: BasisPoints::ALL,
        },
    ];
    let config = config_with(
        route,
        &[
            ("svc", &[main.addr]),
            ("slow", &[slow.addr]),
            ("dead", &[dead]),
        ],
    );
    let (proxy, url) = proxy_with(config).await;
    let results = load(&format!("{url}/"), 20, 4).await;
    assert!(
        results
            .iter()
            .all(|r| r.0 == StatusCode::OK && r.1 == "main")
    );
    let slowest = results.iter().map(|r| r.2).max().unwrap();
    // The slow shadow takes 5 s; a busy machine may add a little to each request.
    assert!(
        slowest < Duration::from_secs(3),
        "slowest request took {slowest:?}"
    );
    proxy.shutdown().await;
}
