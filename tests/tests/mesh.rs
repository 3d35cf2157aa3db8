//! The whole mesh in one process, the fast default integration tier: Pilot, example apps and
//! their proxies, and traffic from a client proxy through a server proxy to the app.
//!
//! Every request goes client → `client-1` (outbound listener) → the instance's proxy (inbound
//! listener) → the app, and the app names itself in `x-served-by`.

#[path = "mesh/fixture.rs"]
mod fixture;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use fixture::{CLIENT_ID, Mesh, PROPAGATION, served_by};
use http::Method;
use rigging_examples_apps::{ServingStatus, grpc_health_check, grpc_health_watch_first};
use rigging_pilot_server::SyncState;
use rigging_tests::{eventually, request};

const SERVING: i32 = ServingStatus::Serving as i32;
const NOT_SERVING: i32 = ServingStatus::NotServing as i32;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_get_and_post_echo() -> anyhow::Result<()> {
    let mesh = Mesh::start(&[("api", "api-1")]).await?;
    let api = mesh.upstream("api");

    let (status, headers, body) = rigging_examples_apps::http_get(api, "/", false).await?;
    assert_eq!(status, 200);
    assert_eq!(body, "hello from api v1 (api-1)\n");
    assert_eq!(headers["x-served-by"], "api-1");
    assert_eq!(headers["x-http-version"], "HTTP/1.1");

    // a body larger than any single buffer, so it has to be streamed both ways
    let payload = "0123456789abcdef".repeat(16 * 1024);
    let reply = request(
        api,
        Method::POST,
        "/echo",
        &[("x-echo-color", "blue"), ("content-type", "text/plain")],
        &payload,
        false,
    )
    .await?;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-echo-color"), "blue");
    assert_eq!(reply.header("x-served-by"), "api-1");
    assert!(
        reply.body == payload,
        "echo differs: {} bytes back",
        reply.body.len()
    );

    // h2c from the client to an HTTP/1.1 service: translated, the app sees HTTP/1.1
    let (status, headers, _) = rigging_examples_apps::http_get(api, "/", true).await?;
    assert_eq!(status, 200);
    assert_eq!(headers["x-http-version"], "HTTP/1.1");

    let (status, _, _) = rigging_examples_apps::http_get(api, "/status/503", false).await?;
    assert_eq!(status, 503, "an upstream status passes through unchanged");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_end_to_end() -> anyhow::Result<()> {
    let mesh = Mesh::start(&[("api-h2", "api-h2-1")]).await?;
    let h2 = mesh.upstream("api-h2");

    // h2c from the client, HTTP/2 on every hop
    let (status, headers, body) = rigging_examples_apps::http_get(h2, "/", true).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["x-served-by"], "api-h2-1");
    assert_eq!(headers["x-http-version"], "HTTP/2.0", "the app saw HTTP/2");

    // an HTTP/1.1 client still reaches the app over HTTP/2: the service says so
    let (_, headers, _) = rigging_examples_apps::http_get(h2, "/", false).await?;
    assert_eq!(headers["x-http-version"], "HTTP/2.0");

    let reply = request(
        h2,
        Method::POST,
        "/echo",
        &[("x-echo-n", "1")],
        "over h2",
        true,
    )
    .await?;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "over h2");
    assert_eq!(reply.header("x-echo-n"), "1");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_unary_and_server_streaming() -> anyhow::Result<()> {
    let mesh = Mesh::start(&[("greeter", "greeter-1")]).await?;
    let greeter = mesh.upstream("greeter");

    // tonic fails a call whose grpc-status trailer is missing: SERVING proves trailers survive
    assert_eq!(grpc_health_check(greeter, "").await?, SERVING);
    assert_eq!(grpc_health_check(greeter, "greeter").await?, SERVING);

    // a Watch stream sends the current status, then each change; flip the status until a
    // second message has come through the mesh (the first flip may precede the stream)
    let watch = tokio::spawn(grpc_health_watch_first(greeter, "greeter", 2));
    let reporter = mesh.health("greeter-1")?;
    let mut flips = 0u32;
    while !watch.is_finished() && flips < 100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let next = if flips.is_multiple_of(2) {
            ServingStatus::NotServing
        } else {
            ServingStatus::Serving
        };
        reporter.set_service_status("greeter", next).await;
        flips += 1;
    }
    let statuses = watch.await??;
    assert_eq!(statuses.len(), 2);
    assert_ne!(
        statuses[0], statuses[1],
        "the second message is a change: {statuses:?}"
    );
    for s in &statuses {
        assert!([SERVING, NOT_SERVING].contains(s), "{statuses:?}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_and_tcp_echo() -> anyhow::Result<()> {
    let mesh = Mesh::start(&[("api", "api-1"), ("db", "db-1")]).await?;

    let echoes =
        rigging_examples_apps::websocket_echo(mesh.upstream("api"), "/ws", &["one", "two"]).await?;
    assert_eq!(echoes, ["one", "two"]);

    let (banner, echoed) =
        rigging_examples_apps::tcp_echo(mesh.upstream("db"), b"bytes through the mesh").await?;
    assert_eq!(banner, "db v1 (db-1) ready");
    assert_eq!(echoed, b"bytes through the mesh");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_across_two_instances() -> anyhow::Result<()> {
    let mesh = Mesh::start(&[("api", "api-1"), ("api", "api-2")]).await?;
    let mut counts: BTreeMap<String, u32> = BTreeMap::new();
    for _ in 0..10 {
        *counts
            .entry(served_by(mesh.upstream("api")).await?)
            .or_default() += 1;
    }
    eprintln!("10 requests: {counts:?}");
    assert_eq!(counts.len(), 2, "both instances answer: {counts:?}");
    assert!(
        counts.values().all(|n| *n >= 3),
        "spread evenly: {counts:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_change_reaches_traffic() -> anyhow::Result<()> {
    let mut mesh = Mesh::start(&[("api", "api-1")]).await?;
    let api = mesh.upstream("api");

    // a second instance: app and proxy up first, then registered
    mesh.start_instance("api", "api-2").await?;
    mesh.register("api-2");
    mesh.publish();
    eventually("api-2 answers", PROPAGATION, async || {
        let by = served_by(api).await?;
        anyhow::ensure!(by == "api-2", "served by {by}");
        Ok(())
    })
    .await?;

    // the first one removed: soon only api-2 answers
    mesh.deregister("api-1");
    mesh.publish();
    eventually("only api-2 answers", PROPAGATION, async || {
        for _ in 0..4 {
            let by = served_by(api).await?;
            anyhow::ensure!(by == "api-2", "served by {by}");
        }
        Ok(())
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacked_update_leaves_traffic_flowing() -> anyhow::Result<()> {
    let mesh = Mesh::start(&[("api", "api-1"), ("db", "db-1")]).await?;
    // a port someone else holds: the proxy cannot bind an upstream listener there
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = taken.local_addr()?.port();
    mesh.publish_catalog(mesh.catalog(&[("api-h2", port)]));

    let nack = eventually("pilot shows the LDS NACK", PROPAGATION, async || {
        let status = mesh.status(CLIENT_ID)?;
        let lds = status.types.get("LDS").context("no LDS status")?;
        anyhow::ensure!(lds.state() == SyncState::Nacked, "LDS is {:?}", lds.state());
        lds.nack.clone().context("NACKED without a reason")
    })
    .await?;
    eprintln!("NACK reason: {nack}");
    assert!(
        nack.contains(&port.to_string()),
        "the reason names the port: {nack}"
    );

    // the listeners of the last accepted configuration keep serving
    for _ in 0..5 {
        assert_eq!(served_by(mesh.upstream("api")).await?, "api-1");
    }
    let (banner, _) = rigging_examples_apps::tcp_echo(mesh.upstream("db"), b"x").await?;
    assert_eq!(banner, "db v1 (db-1) ready");

    // a good catalog afterwards is accepted again
    mesh.publish();
    eventually("LDS synced again", PROPAGATION, async || {
        let status = mesh.status(CLIENT_ID)?;
        let states: Vec<_> = ["CDS", "LDS"]
            .iter()
            .map(|t| status.types.get(*t).map(|s| s.state()))
            .collect();
        anyhow::ensure!(
            states.iter().all(|s| *s == Some(SyncState::Synced)),
            "CDS, LDS: {states:?}"
        );
        Ok(())
    })
    .await?;
    assert_eq!(served_by(mesh.upstream("api")).await?, "api-1");
    drop(taken);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xds_reconnects_after_pilot_restart() -> anyhow::Result<()> {
    let mut mesh = Mesh::start(&[("api", "api-1")]).await?;
    let api = mesh.upstream("api");

    mesh.stop_pilot().await;
    // without Pilot, the proxies serve their last configuration
    for _ in 0..10 {
        assert_eq!(served_by(api).await?, "api-1");
    }

    mesh.start_instance("api", "api-2").await?;
    mesh.restart_pilot().await?;
    let restarted = tokio::time::Instant::now();
    mesh.register("api-2");
    mesh.publish();
    // the client's backoff is at most 5 s; the change then arrives at once
    eventually(
        "api-2 answers after the reconnect",
        Duration::from_secs(8),
        async || {
            let by = served_by(api).await?;
            anyhow::ensure!(by == "api-2", "served by {by}");
            Ok(())
        },
    )
    .await?;
    eprintln!(
        "pilot restart → change in traffic: {:?}",
        restarted.elapsed()
    );
    assert!(mesh.status(CLIENT_ID)?.connected);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_app_fails_fast_and_other_instance_serves() -> anyhow::Result<()> {
    let mesh = Mesh::start(&[("api", "api-1"), ("api", "api-2")]).await?;
    mesh.stop_app("api-2");
    // api-2's proxy is up but its app is gone: requests it gets fail with a 5xx, not a hang
    let mut statuses = BTreeMap::new();
    for _ in 0..6 {
        let (status, headers, _) =
            rigging_examples_apps::http_get(mesh.upstream("api"), "/", false).await?;
        let by = headers
            .get("x-served-by")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned();
        *statuses.entry((status, by)).or_insert(0u32) += 1;
    }
    eprintln!("(status, served by) → count: {statuses:?}");
    assert!(
        statuses
            .keys()
            .all(|(s, by)| (*s == 200 && by == "api-1") || *s >= 500)
    );
    assert!(statuses.contains_key(&(200, "api-1".to_owned())));
    Ok(())
}
