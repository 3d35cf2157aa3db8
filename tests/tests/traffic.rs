//! Traffic management from Consul config entries, end to end with the real `rig` binary:
//! `rig up --config-entries <dir>` compiles routers, splitters, resolvers and service-defaults
//! into the proxies' configuration, and traffic sent to `client-1`'s proxy follows them.
//!
//! The tests run one at a time (they count and time requests, see `traffic/fixture.rs`); each
//! prints every process's log, the registry and the config entries when it fails.

#[path = "traffic/fixture.rs"]
mod fixture;
#[path = "traffic/load.rs"]
mod load;

use std::collections::BTreeMap;
use std::time::Duration;

use fixture::{Mesh, api_and_a_failing_twin, app, client_overrides_api, router};
use http::Method;
use load::Outcomes;
use rigging_tests::eventually;
use tokio::time::Instant;

/// Time for a change (a config entry edit, a health change, an ejection) to reach traffic.
const PROPAGATION: Duration = Duration::from_secs(10);
/// How many requests are in flight at once when many are sent.
const CONCURRENCY: usize = 8;
/// Requests at once when every other one needs a retry: within the retry budget's floor of 3
/// concurrent retries (`pilot/XDS.md`), so the budget never refuses one.
const RETRY_CONCURRENCY: usize = 2;

/// `api` split between its subsets `v1` and `v2`.
fn splitter(v1: u32, v2: u32) -> String {
    format!(
        r#"Kind = "service-splitter"
Name = "api"
Splits = [
  {{ Weight = {v1}, ServiceSubset = "v1" }},
  {{ Weight = {v2}, ServiceSubset = "v2" }},
]
"#
    )
}

/// `GET path` of `api` through `client-1`, `n` times; fails on any request without an answer.
async fn get_many(
    mesh: &Mesh,
    path: &str,
    headers: &[(&str, &str)],
    n: usize,
) -> anyhow::Result<Outcomes> {
    mesh.get_n(path, headers, n, CONCURRENCY).await
}

/// `GET /` like [`get_many`], with [`RETRY_CONCURRENCY`] requests at once.
async fn get_paced(mesh: &Mesh, n: usize) -> anyhow::Result<Outcomes> {
    mesh.get_n("/", &[], n, RETRY_CONCURRENCY).await
}

/// `{instance: n}`: what [`Outcomes::by_instance`] is when one instance served all `n`.
fn only(instance: &str, n: usize) -> BTreeMap<String, usize> {
    BTreeMap::from([(instance.to_owned(), n)])
}

/// The share (0–1) of `outcomes` that `instance` served.
fn share(outcomes: &Outcomes, instance: &str) -> f64 {
    outcomes.served_by(instance) as f64 / outcomes.0.len().max(1) as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_90_10_holds_over_10000_requests() -> anyhow::Result<()> {
    let mesh = Mesh::start_v1_v2(&[("splitter.hcl", &splitter(90, 10))]).await?;
    let started = Instant::now();
    let outcomes = get_many(&mesh, "/", &[], 10_000).await?;
    eprintln!(
        "10000 requests in {:?}: {:?} {:?}",
        started.elapsed(),
        outcomes.by_instance(),
        outcomes.statuses()
    );
    assert_eq!(
        outcomes.with_status(200),
        10_000,
        "{:?}",
        outcomes.statuses()
    );
    let v2 = share(&outcomes, "api-v2-1");
    let v1 = share(&outcomes, "api-v1-1");
    assert!((0.08..=0.12).contains(&v2), "v2 got {:.2} %", v2 * 100.0);
    assert!((0.88..=0.92).contains(&v1), "v1 got {:.2} %", v1 * 100.0);
    mesh.pass();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_match_routes_only_canaries_to_v2() -> anyhow::Result<()> {
    let router = router(
        r#"  {
    Match { HTTP { Header = [{ Name = "x-canary", Exact = "true" }] } }
    Destination { ServiceSubset = "v2" }
  },
"#,
    );
    let mesh = Mesh::start_v1_v2(&[("router.hcl", &router)]).await?;
    let canaries = get_many(&mesh, "/", &[("x-canary", "true")], 100).await?;
    assert_eq!(
        canaries.by_instance(),
        only("api-v2-1", 100),
        "x-canary: true"
    );
    let other_headers: [&[(&str, &str)]; 3] =
        [&[], &[("x-canary", "false")], &[("x-canary-other", "true")]];
    for headers in other_headers {
        let others = get_many(&mesh, "/", headers, 100).await?;
        assert_eq!(others.by_instance(), only("api-v1-1", 100), "{headers:?}");
    }
    mesh.pass();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_prefix_rewrite_method_match_and_header_changes() -> anyhow::Result<()> {
    let router = router(
        r#"  {
    Match { HTTP { PathPrefix = "/legacy/" } }
    Destination {
      PrefixRewrite = "/"
      RequestHeaders {
        Add    = { "x-route" = "legacy" }
        Set    = { "x-tenant" = "rewritten" }
        Remove = ["x-secret"]
      }
      ResponseHeaders {
        Set = { "x-answered-by-route" = "legacy" }
      }
    }
  },
  {
    Match { HTTP { PathPrefix = "/", Methods = ["PUT", "DELETE"] } }
    Destination { ServiceSubset = "v2" }
  },
"#,
    );
    let mesh = Mesh::start_v1_v2(&[("router.hcl", &router)]).await?;

    // the prefix is rewritten: the app sees /headers?x=1
    let reply = mesh.get("/legacy/headers?x=1", &[]).await?;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.header("x-seen-path"),
        "/headers?x=1",
        "{}",
        reply.body
    );
    assert!(
        reply.body.starts_with("GET /headers?x=1 "),
        "{}",
        reply.body
    );
    assert_eq!(reply.header("x-served-by"), "api-v1-1");
    // other paths are not rewritten
    let reply = mesh.get("/headers", &[]).await?;
    assert_eq!(reply.header("x-seen-path"), "/headers");

    // the method match sends PUT and DELETE to v2, GET and POST to v1
    for (method, instance) in [
        (Method::PUT, "api-v2-1"),
        (Method::DELETE, "api-v2-1"),
        (Method::GET, "api-v1-1"),
        (Method::POST, "api-v1-1"),
    ] {
        let reply =
            rigging_tests::request(mesh.client_api, method.clone(), "/headers", &[], "", false)
                .await?;
        assert_eq!(reply.status, 200, "{method}: {}", reply.body);
        assert_eq!(reply.header("x-served-by"), instance, "{method}");
        assert_eq!(reply.header("x-seen-method"), method.as_str());
    }

    // the legacy route's header changes reach the app (and the client)
    let reply = mesh
        .get(
            "/legacy/headers",
            &[("x-tenant", "original"), ("x-secret", "s3cr3t")],
        )
        .await?;
    let seen: Vec<&str> = reply.body.lines().collect();
    assert!(seen.contains(&"x-route: legacy"), "{}", reply.body);
    assert!(seen.contains(&"x-tenant: rewritten"), "{}", reply.body);
    assert!(!seen.contains(&"x-tenant: original"), "{}", reply.body);
    assert!(!reply.body.contains("s3cr3t"), "{}", reply.body);
    assert_eq!(reply.header("x-answered-by-route"), "legacy");
    mesh.pass();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_on_503_hide_a_failing_instance() -> anyhow::Result<()> {
    let mut mesh = Mesh::start(api_and_a_failing_twin(), &[]).await?;

    // without a retry rule, api-2's answers reach the client
    let outcomes = get_paced(&mesh, 100).await?;
    eprintln!("without retries: {:?}", outcomes.statuses());
    assert!(
        outcomes.with_status(503) >= 30,
        "round robin over a healthy and an always failing instance: {:?}",
        outcomes.statuses()
    );

    let router = router(
        r#"  {
    Destination {
      NumRetries         = 3
      RetryOnStatusCodes = [503]
    }
  },
"#,
    );
    mesh.write_entry("router.hcl", &router)?;
    eventually(
        "every request succeeds with retries",
        PROPAGATION,
        async || {
            let outcomes = get_paced(&mesh, 20).await?;
            anyhow::ensure!(
                outcomes.with_status(200) == 20,
                "{:?} {:?}",
                outcomes.statuses(),
                outcomes.by_instance()
            );
            Ok(())
        },
    )
    .await?;
    // and that holds over more requests, while api-2 keeps being tried and failing
    let before = mesh.hits("api-2").await?;
    let outcomes = get_paced(&mesh, 200).await?;
    assert_eq!(outcomes.with_status(200), 200, "{:?}", outcomes.statuses());
    assert_eq!(outcomes.by_instance(), only("api-1", 200));
    assert!(mesh.hits("api-2").await? > before, "api-2 was never tried");
    mesh.check_running()?;
    mesh.pass();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outlier_detection_ejects_a_failing_instance_then_lets_it_back() -> anyhow::Result<()> {
    let defaults = client_overrides_api(
        r#"      PassiveHealthCheck {
        Interval           = "1s"
        MaxFailures        = 3
        BaseEjectionTime   = "2s"
        MaxEjectionPercent = 100
      }
"#,
    );
    let mesh = Mesh::start(
        api_and_a_failing_twin(),
        &[("client-defaults.hcl", &defaults)],
    )
    .await?;

    // a few 503s, then api-2 is ejected: only api-1 answers
    let ejected = eventually("api-2 ejected", PROPAGATION, async || {
        let outcomes = mesh.get_n("/", &[], 20, 1).await?;
        anyhow::ensure!(
            outcomes.served_by("api-1") == 20,
            "{:?}",
            outcomes.by_instance()
        );
        Ok(Instant::now())
    })
    .await?;
    let hits_at_ejection = mesh.hits("api-2").await?;

    // after the ejection time api-2 gets traffic again (and fails, and is ejected again)
    let back = eventually("api-2 back in traffic", PROPAGATION, async || {
        let reply = mesh.get("/", &[]).await?;
        anyhow::ensure!(
            reply.header("x-served-by") == "api-2",
            "served by {}",
            reply.header("x-served-by")
        );
        Ok(Instant::now())
    })
    .await?;
    let out_for = back - ejected;
    eprintln!("api-2 seen ejected, back after {out_for:?}");
    assert!(
        out_for >= Duration::from_secs(1),
        "back after {out_for:?}, before the 2 s ejection time"
    );
    assert!(mesh.hits("api-2").await? > hits_at_ejection);
    mesh.pass();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn circuit_breaker_answers_503_at_once_beyond_the_limit() -> anyhow::Result<()> {
    let defaults = client_overrides_api(
        r#"      Limits { MaxConcurrentRequests = 2 }
"#,
    );
    let mesh = Mesh::start(
        vec![app("api", "v1", "api-1")],
        &[("client-defaults.hcl", &defaults)],
    )
    .await?;
    let outcomes = mesh.get_n("/slow?ms=500", &[], 10, 10).await?;
    let fast_503 = outcomes
        .0
        .iter()
        .filter(|o| o.status == 503 && o.elapsed < Duration::from_millis(250))
        .count();
    eprintln!(
        "10 concurrent slow requests: {:?}; {fast_503} answered 503 within 250 ms; {:?}",
        outcomes.statuses(),
        outcomes.0.iter().map(|o| o.elapsed).collect::<Vec<_>>()
    );
    assert!(fast_503 >= 6, "{:?}", outcomes.0);
    assert!(outcomes.with_status(200) >= 1, "{:?}", outcomes.statuses());
    assert!(outcomes.with_status(200) <= 4, "{:?}", outcomes.statuses());
    // the 503s came from the proxy, not from the app
    assert!(
        outcomes
            .0
            .iter()
            .filter(|o| o.status == 503)
            .all(|o| o.served_by.is_empty()),
        "{:?}",
        outcomes.0
    );
    mesh.pass();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_delay_half_the_requests_and_abort_one_route() -> anyhow::Result<()> {
    let router = router(
        r#"  {
    Match { HTTP { PathPrefix = "/teapot" } }
    Destination {
      Fault {
        Abort { Percent = 100, HTTPStatus = 418 }
      }
    }
  },
  {
    Match { HTTP { PathPrefix = "/" } }
    Destination {
      Fault {
        Delay { Percent = 50, Duration = "200ms" }
      }
    }
  },
"#,
    );
    let mesh = Mesh::start(vec![app("api", "v1", "api-1")], &[("router.hcl", &router)]).await?;

    let outcomes = mesh.get_n("/", &[], 100, 5).await?;
    assert_eq!(outcomes.with_status(200), 100, "{:?}", outcomes.statuses());
    let delayed = outcomes
        .0
        .iter()
        .filter(|o| o.elapsed >= Duration::from_millis(200))
        .count();
    eprintln!("{delayed} of 100 requests took 200 ms or more");
    assert!((30..=70).contains(&delayed), "{delayed} of 100 delayed");

    let hits = mesh.hits("api-1").await?;
    for _ in 0..10 {
        let reply = mesh.get("/teapot", &[]).await?;
        assert_eq!(reply.status, 418, "{}", reply.body);
        assert_eq!(reply.header("x-served-by"), "", "the app was reached");
    }
    assert_eq!(
        mesh.hits("api-1").await?,
        hits,
        "aborted requests reached the app"
    );
    mesh.pass();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_sends_half_the_requests_to_the_shadow() -> anyhow::Result<()> {
    let router = router(
        r#"  {
    Destination {
      Mirror {
        Service = "api-shadow"
        Percent = 50
      }
    }
  },
"#,
    );
    let apps = vec![
        app("api", "v1", "api-1"),
        app("api-shadow", "v1", "api-shadow-1"),
    ];
    let mesh = Mesh::start(apps, &[("router.hcl", &router)]).await?;
    // let the mirrored copies of the startup requests land
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = mesh.hits("api-shadow-1").await?;

    let outcomes = get_many(&mesh, "/", &[], 400).await?;
    assert_eq!(outcomes.by_instance(), only("api-1", 400));
    assert_eq!(outcomes.with_status(200), 400);
    let mirrored = eventually("mirrored requests arrive", PROPAGATION, async || {
        let n = mesh.hits("api-shadow-1").await? - before;
        anyhow::ensure!(n >= 140, "{n} of 400 mirrored so far");
        Ok(n)
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mirrored = mirrored.max(mesh.hits("api-shadow-1").await? - before);
    eprintln!("{mirrored} of 400 requests mirrored");
    assert!(
        (140..=260).contains(&mirrored),
        "{mirrored} of 400 mirrored"
    );
    mesh.pass();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_to_another_service_when_api_is_down() -> anyhow::Result<()> {
    let resolver = r#"Kind = "service-resolver"
Name = "api"
Failover = {
  "*" = { Service = "api-backup" }
}
"#;
    let apps = vec![
        app("api", "v1", "api-1"),
        app("api-backup", "v1", "api-backup-1"),
    ];
    let mut mesh = Mesh::start(apps, &[("resolver.hcl", resolver)]).await?;
    let outcomes = get_many(&mesh, "/", &[], 20).await?;
    assert_eq!(outcomes.by_instance(), only("api-1", 20));

    mesh.set_health("api-1", "critical")?;
    eventually("api-backup serves", PROPAGATION, async || {
        let outcomes = get_many(&mesh, "/", &[], 20).await?;
        anyhow::ensure!(
            outcomes.served_by("api-backup-1") == 20 && outcomes.with_status(200) == 20,
            "{:?} {:?}",
            outcomes.by_instance(),
            outcomes.statuses()
        );
        Ok(())
    })
    .await?;

    mesh.set_health("api-1", "passing")?;
    eventually("api serves again", PROPAGATION, async || {
        let outcomes = get_many(&mesh, "/", &[], 20).await?;
        anyhow::ensure!(
            outcomes.served_by("api-1") == 20,
            "{:?}",
            outcomes.by_instance()
        );
        Ok(())
    })
    .await?;
    mesh.pass();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_edit_changes_the_split_and_a_broken_edit_keeps_the_last_good_one()
-> anyhow::Result<()> {
    let mut mesh = Mesh::start_v1_v2(&[("splitter.hcl", &splitter(90, 10))]).await?;
    let outcomes = get_many(&mesh, "/", &[], 1000).await?;
    let v2 = share(&outcomes, "api-v2-1");
    assert!(
        (0.07..=0.13).contains(&v2),
        "90/10: v2 got {:.1} %",
        v2 * 100.0
    );

    let written = Instant::now();
    mesh.write_entry("splitter.hcl", &splitter(50, 50))?;
    eventually("the 50/50 split applies", PROPAGATION, async || {
        // few requests, so that each attempt is short and the time measured is the edit's
        let outcomes = get_many(&mesh, "/", &[], 40).await?;
        let v2 = share(&outcomes, "api-v2-1");
        anyhow::ensure!((0.3..=0.7).contains(&v2), "v2 got {:.1} %", v2 * 100.0);
        Ok(())
    })
    .await?;
    let took = written.elapsed();
    eprintln!("split edit → traffic follows: {took:?}");
    assert!(took <= Duration::from_secs(3), "the edit took {took:?}");

    // an edit that does not read: logged with its location, the 50/50 split stays
    let broken = "Kind = \"service-splitter\"\nName = \"api\"\nSplitz = []\n";
    mesh.write_entry("splitter.hcl", broken)?;
    eventually("rig up reports the broken file", PROPAGATION, async || {
        let log = mesh.control_log();
        anyhow::ensure!(
            log.lines()
                .any(|l| l.contains("splitter.hcl:3:") && l.contains("Splitz")),
            "no located error in the log yet"
        );
        Ok(())
    })
    .await?;
    let status = mesh.status().await?;
    assert!(
        status.lines().any(|l| l.starts_with("config entries ")
            && l.contains("last edit rejected")
            && l.contains("splitter.hcl:3:")),
        "rig status does not show the rejected edit:\n{status}"
    );
    let outcomes = get_many(&mesh, "/", &[], 1000).await?;
    assert_eq!(outcomes.with_status(200), 1000, "{:?}", outcomes.statuses());
    let v2 = share(&outcomes, "api-v2-1");
    assert!(
        (0.44..=0.56).contains(&v2),
        "after the broken edit v2 got {:.1} %",
        v2 * 100.0
    );
    mesh.check_running()?;
    mesh.pass();
    Ok(())
}
