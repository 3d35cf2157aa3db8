use http::StatusCode;
use rigging_proxy_config::{LbPolicy, UpstreamProtocol};

use super::support::*;

#[tokio::test]
async fn ready_metrics_and_config_dump() {
    let a = echo("a").await;
    let proxy = proxy().await;
    let admin = format!("http://{}", proxy.admin_addr());
    let client = h1_client();

    let (resp, _) = get(&client, format!("{admin}/ready")).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);

    let config = http_config(
        UpstreamProtocol::Http1,
        LbPolicy::RoundRobin,
        vec![endpoint(a.addr)],
        None,
    );
    proxy.apply_config(config).unwrap();
    let (resp, body) = get(&client, format!("{admin}/ready")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(body.trim(), "ready");

    let url = format!("http://{}/", proxy.listener_addr("out").unwrap());
    let (resp, _) = get(&client, url).await;
    assert_eq!(resp.status(), StatusCode::OK);

    let (resp, metrics) = get(&client, format!("{admin}/metrics")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    for want in [
        r#"rig_upstream_requests_total{cluster="svc",code_class="2xx"} 1"#,
        r#"rig_upstream_request_duration_seconds_count{cluster="svc"} 1"#,
        r#"rig_upstream_connect_failures_total{cluster="svc"} 0"#,
        r#"rig_downstream_connections_total{listener="out"} 1"#,
        r#"rig_downstream_connections_active{listener="out"}"#,
    ] {
        assert!(metrics.contains(want), "missing {want} in\n{metrics}");
    }

    let (resp, dump) = get(&client, format!("{admin}/config_dump")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(&resp, "content-type"), "application/json");
    let json: serde_json::Value = serde_json::from_str(&dump).unwrap();
    assert_eq!(
        json["config"]["listeners"]["out"]["kind"]["route_config"],
        "svc"
    );
    assert!(json["listeners"]["out"].is_string());
    assert!(json["last_nack"].is_null());
    proxy.shutdown().await;
}
