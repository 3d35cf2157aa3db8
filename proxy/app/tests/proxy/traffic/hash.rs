//! Hash policies: a header, a cookie (set when missing) or the source IP keeps a client on one
//! endpoint.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use rigging_proxy_config::{HashPolicy, HashPolicyKind, LbPolicy};

use super::{add_cluster, config_with, load, reply, route_to, scripted};
use crate::proxy::support::*;

#[tokio::test]
async fn header_hash_policy_keeps_a_key_on_one_endpoint() {
    let ups = [
        scripted("a", |_| reply(200)).await,
        scripted("b", |_| reply(200)).await,
        scripted("c", |_| reply(200)).await,
    ];
    let addrs: Vec<_> = ups.iter().map(|u| u.addr).collect();
    let mut route = route_to("svc");
    route.action.hash_policies = vec![HashPolicy {
        kind: HashPolicyKind::Header("x-user".into()),
        terminal: false,
    }];
    let mut config = config_with(route, &[]);
    let ring = LbPolicy::RingHash {
        minimum_ring_size: 1024,
        maximum_ring_size: 8192,
    };
    add_cluster(&mut config, "svc", ring, &addrs);
    let (proxy, url) = proxy_with(config).await;
    let client = h1_client();
    let mut by_user: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for user in 0..20 {
        for _ in 0..5 {
            let req = Request::get(format!("{url}/"))
                .header("x-user", format!("user-{user}"))
                .body(Full::new(Bytes::new()))
                .unwrap();
            let resp = client.request(req).await.unwrap();
            by_user
                .entry(format!("user-{user}"))
                .or_default()
                .push(resp.headers()["x-upstream"].to_str().unwrap().to_owned());
        }
    }
    for (user, seen) in &by_user {
        assert!(seen.windows(2).all(|w| w[0] == w[1]), "{user}: {seen:?}");
    }
    let endpoints: BTreeSet<_> = by_user.values().map(|v| v[0].clone()).collect();
    assert!(
        endpoints.len() > 1,
        "keys spread over endpoints: {endpoints:?}"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn cookie_hash_policy_sets_the_cookie_when_missing() {
    let ups = [
        scripted("a", |_| reply(200)).await,
        scripted("b", |_| reply(200)).await,
    ];
    let addrs: Vec<_> = ups.iter().map(|u| u.addr).collect();
    let mut route = route_to("svc");
    route.action.hash_policies = vec![HashPolicy {
        kind: HashPolicyKind::Cookie {
            name: "sticky".into(),
            ttl: Some(Duration::from_secs(3600)),
            path: Some("/".into()),
        },
        terminal: true,
    }];
    let mut config = config_with(route, &[]);
    add_cluster(&mut config, "svc", LbPolicy::Maglev, &addrs);
    let (proxy, url) = proxy_with(config).await;
    let client = h1_client();

    let (resp, _) = get(&client, format!("{url}/")).await;
    let cookie = header(&resp, "set-cookie").to_owned();
    let value = cookie
        .strip_prefix("sticky=")
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("set-cookie: {cookie:?}"))
        .to_owned();
    assert_eq!(
        cookie,
        format!("sticky={value}; Max-Age=3600; Path=/; HttpOnly")
    );
    let first = header(&resp, "x-upstream").to_owned();
    for _ in 0..10 {
        let req = Request::get(format!("{url}/"))
            .header("cookie", format!("other=1; sticky={value}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let resp = client.request(req).await.unwrap();
        assert!(!resp.headers().contains_key("set-cookie"));
        assert_eq!(resp.headers()["x-upstream"], first.as_str());
    }
    proxy.shutdown().await;
}

#[tokio::test]
async fn source_ip_hash_policy_keeps_a_client_on_one_endpoint() {
    let ups = [
        scripted("a", |_| reply(200)).await,
        scripted("b", |_| reply(200)).await,
        scripted("c", |_| reply(200)).await,
    ];
    let addrs: Vec<_> = ups.iter().map(|u| u.addr).collect();
    let mut route = route_to("svc");
    route.action.hash_policies = vec![HashPolicy {
        kind: HashPolicyKind::SourceIp,
        terminal: true,
    }];
    let mut config = config_with(route, &[]);
    add_cluster(&mut config, "svc", LbPolicy::Maglev, &addrs);
    let (proxy, url) = proxy_with(config).await;
    // Three connections (three source ports), one source IP.
    let seen: BTreeSet<_> = load(&format!("{url}/"), 30, 3)
        .await
        .into_iter()
        .map(|r| r.1)
        .collect();
    assert_eq!(seen.len(), 1, "{seen:?}");
    proxy.shutdown().await;
}
