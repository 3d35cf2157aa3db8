//! Route actions that shape a request: weighted splits with each cluster's headers, header
//! mutations and prefix rewrites.

use std::num::NonZeroU32;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use rigging_proxy_config::{
    HeaderAppend, HeaderMutations, PathMatch, RouteDestination, WeightedCluster,
};

use super::{Reply, add, config_with, hits, load, reply, route_to, scripted};
use crate::proxy::support::*;

#[tokio::test]
async fn weighted_split_sends_90_10_and_applies_each_clusters_headers() {
    let (a, b) = (
        scripted("a", |_| reply(200)).await,
        scripted("b", |_| reply(200)).await,
    );
    let split = |name: &str, weight, tag: &str| WeightedCluster {
        name: name.into(),
        weight: NonZeroU32::new(weight).unwrap(),
        request_headers: HeaderMutations {
            add: vec![add("x-split", tag, HeaderAppend::Overwrite)],
            remove: vec![],
        },
        response_headers: HeaderMutations {
            add: vec![add("x-split-resp", tag, HeaderAppend::Overwrite)],
            remove: vec![],
        },
    };
    let mut route = route_to("unused");
    route.action.destination =
        RouteDestination::Weighted(vec![split("a", 9000, "to-a"), split("b", 1000, "to-b")]);
    let config = config_with(route, &[("a", &[a.addr]), ("b", &[b.addr])]);
    let (proxy, url) = proxy_with(config).await;

    let n = 2_000;
    let results = load(&format!("{url}/"), n, 8).await;
    assert!(results.iter().all(|r| r.0 == StatusCode::OK));
    let to_b = results.iter().filter(|r| r.1 == "b").count();
    // 10 % of 2,000 is 200, with a standard deviation of about 13.4: ±60 is 4.5σ.
    assert!((140..=260).contains(&to_b), "{to_b} of {n} went to b");
    assert_eq!(hits(&a) + hits(&b), n);
    assert!(
        a.seen
            .lock()
            .unwrap()
            .iter()
            .all(|s| s.headers["x-split"] == "to-a")
    );
    assert!(
        b.seen
            .lock()
            .unwrap()
            .iter()
            .all(|s| s.headers["x-split"] == "to-b")
    );
    let (resp, _) = get(&h1_client(), format!("{url}/")).await;
    let want = if header(&resp, "x-upstream") == "a" {
        "to-a"
    } else {
        "to-b"
    };
    assert_eq!(header(&resp, "x-split-resp"), want);
    proxy.shutdown().await;
}

#[tokio::test]
async fn header_mutations_reach_the_upstream_and_the_client() {
    let up = scripted("a", |_| Reply {
        headers: vec![
            ("x-secret", "s3cr3t".into()),
            ("x-resp-set", "upstream".into()),
        ],
        ..reply(200)
    })
    .await;
    let mut route = route_to("svc");
    route.request_headers = HeaderMutations {
        add: vec![
            add("x-append", "proxy", HeaderAppend::Append),
            add("x-set", "proxy", HeaderAppend::Overwrite),
        ],
        remove: vec!["x-drop".into()],
    };
    route.response_headers = HeaderMutations {
        add: vec![
            add("x-resp-add", "proxy", HeaderAppend::Append),
            add("x-resp-set", "proxy", HeaderAppend::Overwrite),
        ],
        remove: vec!["x-secret".into()],
    };
    let (proxy, url) = proxy_with(config_with(route, &[("svc", &[up.addr])])).await;

    let req = Request::get(format!("{url}/"))
        .header("x-append", "client")
        .header("x-set", "client")
        .header("x-drop", "client")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = h1_client().request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let h = resp.headers();
    assert_eq!(h["x-resp-add"], "proxy");
    assert_eq!(h["x-resp-set"], "proxy");
    assert_eq!(h.get_all("x-resp-set").iter().count(), 1);
    assert!(!h.contains_key("x-secret"));

    let seen = up.seen.lock().unwrap()[0].headers.clone();
    let appended: Vec<_> = seen.get_all("x-append").iter().collect();
    assert_eq!(appended, ["client", "proxy"]);
    assert_eq!(seen.get_all("x-set").iter().collect::<Vec<_>>(), ["proxy"]);
    assert!(!seen.contains_key("x-drop"));
    proxy.shutdown().await;
}

#[tokio::test]
async fn prefix_rewrite_is_what_the_upstream_sees() {
    let up = scripted("a", |_| reply(200)).await;
    let mut route = route_to("svc");
    route.path = PathMatch::Prefix("/api/".into());
    route.action.prefix_rewrite = Some("/v2/".into());
    let (proxy, url) = proxy_with(config_with(route, &[("svc", &[up.addr])])).await;

    let (resp, _) = get(&h1_client(), format!("{url}/api/users?id=7")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let (resp, _) = get(&h2c_client(), format!("{url}/api/x")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let paths: Vec<_> = up
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.path.clone())
        .collect();
    assert_eq!(paths, ["/v2/users?id=7", "/v2/x"]);
    proxy.shutdown().await;
}
