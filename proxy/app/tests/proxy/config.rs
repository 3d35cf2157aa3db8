use http::StatusCode;
use rigging_proxy_app::ApplyError;
use rigging_proxy_config::{ClusterEndpoints, LbPolicy, UpstreamProtocol};

use super::support::*;

#[tokio::test]
async fn taken_port_is_rejected_and_previous_listeners_keep_serving() {
    let a = echo("a").await;
    let config = http_config(
        UpstreamProtocol::Http1,
        LbPolicy::RoundRobin,
        vec![endpoint(a.addr)],
        None,
    );
    let (proxy, url) = proxy_with(config.clone()).await;

    let taken = std::net::TcpListener::bind(LOOPBACK0).unwrap();
    let mut next = config.clone();
    let mut extra = http_listener("extra", "svc");
    extra.addr = taken.local_addr().unwrap();
    next.listeners.insert("extra".into(), extra);
    next.listeners.remove("out");
    let err = proxy.apply_config(next).unwrap_err();
    assert!(
        matches!(err, ApplyError::Bind { ref listener, .. } if listener == "extra"),
        "{err}"
    );
    assert!(err.to_string().contains("extra"), "{err}");

    assert!(proxy.listener_addr("extra").is_none());
    let (resp, _) = get(&h1_client(), format!("{url}/")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    proxy.shutdown().await;
}

#[tokio::test]
async fn endpoint_update_moves_traffic_and_removed_listener_stops() {
    let (a, b) = (echo("a").await, echo("b").await);
    let mut config = http_config(
        UpstreamProtocol::Http1,
        LbPolicy::RoundRobin,
        vec![endpoint(a.addr)],
        None,
    );
    let (proxy, url) = proxy_with(config.clone()).await;
    let client = h1_client();
    let (resp, _) = get(&client, format!("{url}/")).await;
    assert_eq!(header(&resp, "x-upstream"), "a");

    config.endpoints.insert(
        "svc".into(),
        ClusterEndpoints {
            cluster: "svc".into(),
            endpoints: vec![endpoint(b.addr)],
        },
    );
    proxy.apply_config(config.clone()).unwrap();
    assert_eq!(
        proxy.listener_addr("out").map(|a| format!("http://{a}")),
        Some(url.clone())
    );
    let (resp, _) = get(&client, format!("{url}/")).await;
    assert_eq!(header(&resp, "x-upstream"), "b");

    config.listeners.clear();
    proxy.apply_config(config).unwrap();
    assert!(proxy.listener_addr("out").is_none());
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let addr = url.trim_start_matches("http://");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    proxy.shutdown().await;
}

#[tokio::test]
async fn changed_listener_on_the_same_port_keeps_its_socket() {
    let a = echo("a").await;
    let port = std::net::TcpListener::bind(LOOPBACK0)
        .unwrap()
        .local_addr()
        .unwrap();
    let mut config = http_config(
        UpstreamProtocol::Http1,
        LbPolicy::RoundRobin,
        vec![endpoint(a.addr)],
        None,
    );
    config.listeners.get_mut("out").unwrap().addr = port;
    let (proxy, url) = proxy_with(config.clone()).await;
    let (resp, _) = get(&h1_client(), format!("{url}/")).await;
    assert_eq!(resp.status(), StatusCode::OK);

    // Same name and address, another route configuration: rebound in place, no bind error.
    let mut changed = config.clone();
    let mut routes = changed.routes.remove("svc").unwrap();
    routes.name = "svc2".into();
    changed.routes.insert("svc2".into(), routes);
    changed.listeners.get_mut("out").unwrap().kind = rigging_proxy_config::ListenerKind::Http {
        route_config: "svc2".into(),
        websocket: true,
        fault_filter: false,
    };
    proxy.apply_config(changed).unwrap();
    assert_eq!(proxy.listener_addr("out"), Some(port));
    let (resp, _) = get(&h1_client(), format!("{url}/")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    proxy.shutdown().await;
}
