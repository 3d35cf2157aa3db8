//! Registering and monitoring jobs against the fake Nomad.

mod support;

use std::time::Duration;

use rigging_mesh_test_util::fake_nomad::FakeNomad;
use rigging_nomad_api::{ApiError, EvalStatus, Job, RegisterOptions};
use serde_json::json;
use support::{client, client_with, corpus_job, web_job};

const TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn register_and_monitor_until_running() -> anyhow::Result<()> {
    let fake = FakeNomad::start().await;
    fake.set_eval_polls(2);
    fake.set_alloc_polls(1);
    let client = client(&fake);
    let registered = client
        .register(&web_job(2, "nginx:1"), &RegisterOptions::default())
        .await?;
    assert!(registered.job_modify_index > 0);
    let submitted = fake.submitted();
    assert_eq!(submitted[0].path, "/v1/jobs");
    assert_eq!(submitted[0].body["Job"]["ID"], "web");
    assert_eq!(submitted[0].body.get("EnforceIndex"), None);

    let report = client.monitor(&registered.eval_id, TIMEOUT).await?;
    assert_eq!(report.statuses, [EvalStatus::Pending, EvalStatus::Complete]);
    assert!(report.succeeded() && report.allocations_settled);
    assert_eq!(report.allocations.len(), 2);
    assert!(
        report
            .allocations
            .iter()
            .all(|a| a.client_status == "running")
    );
    assert_eq!(report.allocations[0].task_states["app"].state, "running");
    let text = report.to_string();
    let short = &registered.eval_id[..8];
    assert!(
        text.starts_with(&format!("==> Monitoring evaluation \"{short}\"\n")),
        "{text}"
    );
    assert!(
        text.contains("    Evaluation triggered by job \"web\"\n"),
        "{text}"
    );
    assert!(
        text.contains("created: node \"7406e90b\", group \"web\"\n"),
        "{text}"
    );
    assert!(
        text.contains("Evaluation status changed: \"pending\" -> \"complete\""),
        "{text}"
    );
    assert!(text.contains(&format!(
        "==> Evaluation \"{short}\" finished with status \"complete\"\n"
    )));
    assert!(text.contains("status \"running\" (web.web[1])"), "{text}");

    // later polls were blocking queries
    let polls = fake.requests_to(&format!("/v1/evaluation/{}", registered.eval_id));
    assert!(polls.len() >= 2);
    assert!(!polls[0].query.contains_key("index"));
    assert!(polls[1].query.contains_key("index") && polls[1].query.contains_key("wait"));
    Ok(())
}

#[tokio::test]
async fn corpus_job_registers_and_runs() -> anyhow::Result<()> {
    let Some(job) = corpus_job() else {
        return Ok(());
    };
    let fake = FakeNomad::start().await;
    let client = client(&fake);
    let registered = client.register(&job, &RegisterOptions::default()).await?;
    let report = client.monitor(&registered.eval_id, TIMEOUT).await?;
    assert!(report.succeeded(), "{report}");
    // Count is null in the corpus job: Nomad's default of 1
    assert_eq!(report.allocations.len(), 1);
    assert_eq!(report.allocations[0].name, "example.cache[0]");
    assert!(fake.job("default", "example").is_some());
    Ok(())
}

#[tokio::test]
async fn scheduling_failure_is_reported_with_its_reason() -> anyhow::Result<()> {
    let fake = FakeNomad::start().await;
    fake.fail_scheduling(true);
    let client = client(&fake);
    let registered = client
        .register(&web_job(2, "nginx:1"), &RegisterOptions::default())
        .await?;
    let report = client.monitor(&registered.eval_id, TIMEOUT).await?;
    assert!(!report.succeeded());
    assert_eq!(report.evaluation.status, EvalStatus::Complete);
    assert!(report.allocations.is_empty());
    let metric = &report.evaluation.failed_tg_allocs["web"];
    assert_eq!(metric.dimension_exhausted.get("memory"), Some(&1));
    let text = report.to_string();
    assert!(
        text.contains("finished with status \"complete\" but failed to place all allocations:")
    );
    assert!(
        text.contains("    Task Group \"web\" (failed to place 2 allocations):\n"),
        "{text}"
    );
    assert!(
        text.contains("      * Resources exhausted on 1 nodes\n"),
        "{text}"
    );
    assert!(
        text.contains("      * Dimension \"memory\" exhausted on 1 nodes\n"),
        "{text}"
    );
    let blocked = &report.evaluation.blocked_eval[..8];
    assert!(text.contains(&format!(
        "Evaluation \"{blocked}\" waiting for additional capacity"
    )));
    assert_eq!(
        client
            .evaluation(&report.evaluation.blocked_eval)
            .await?
            .status,
        EvalStatus::Blocked
    );
    Ok(())
}

#[tokio::test]
async fn validation_errors_carry_nomads_text() {
    let fake = FakeNomad::start().await;
    let client = client(&fake);
    let no_groups = Job::from_value(json!({"ID": "web", "TaskGroups": []})).expect("job");
    let err = client
        .register(&no_groups, &RegisterOptions::default())
        .await
        .expect_err("400");
    assert_eq!(err.status(), Some(400));
    assert_eq!(
        err.body(),
        Some("1 error occurred:\n\t* Missing job task groups")
    );
    let no_driver = Job::from_value(json!({"ID": "web", "TaskGroups": [
        {"Name": "web", "Tasks": [{"Name": "app"}]}]}))
    .expect("job");
    let err = client
        .register(&no_driver, &RegisterOptions::default())
        .await
        .expect_err("400");
    let body = err.body().unwrap_or_default();
    assert!(
        body.starts_with("1 error occurred:\n\t* Task group web validation failed: "),
        "{body}"
    );
    assert!(body.contains("Task app validation failed") && body.contains("Missing task driver"));
    assert!(
        err.to_string()
            .starts_with("Nomad answered 400 to POST /v1/jobs: 1 error occurred")
    );
    let no_id = Job::from_value(json!({"TaskGroups": []})).expect("job");
    let err = client
        .register(&no_id, &RegisterOptions::default())
        .await
        .expect_err("400");
    assert_eq!(err.body(), Some("Job ID hasn't been provided"));
    assert!(matches!(
        client.plan(&no_id, true).await,
        Err(ApiError::Job(_))
    ));
}

#[tokio::test]
async fn check_index_is_enforced() -> anyhow::Result<()> {
    let fake = FakeNomad::start().await;
    let client = client(&fake);
    let first = RegisterOptions {
        check_index: Some(0),
    };
    let registered = client.register(&web_job(1, "nginx:1"), &first).await?;
    let err = client
        .register(&web_job(1, "nginx:2"), &first)
        .await
        .expect_err("stale");
    assert_eq!(err.status(), Some(400));
    assert!(
        err.body()
            .unwrap_or_default()
            .contains("conflicting job modify index")
    );
    let body = &fake.submitted()[1].body;
    assert_eq!(
        (&body["EnforceIndex"], &body["JobModifyIndex"]),
        (&json!(true), &json!(0))
    );
    let current = RegisterOptions {
        check_index: Some(registered.job_modify_index),
    };
    client.register(&web_job(1, "nginx:2"), &current).await?;
    Ok(())
}

#[tokio::test]
async fn acl_token_is_required_and_sent() -> anyhow::Result<()> {
    let fake = FakeNomad::start().await;
    fake.require_token(Some("s3cret"));
    let url = fake.url();
    let job = web_job(1, "nginx:1");
    let none = client_with(&[("NOMAD_ADDR", &url)]);
    let err = none
        .register(&job, &RegisterOptions::default())
        .await
        .expect_err("403");
    assert_eq!(
        (err.status(), err.body()),
        (Some(403), Some("Permission denied"))
    );
    let wrong = client_with(&[("NOMAD_ADDR", &url), ("NOMAD_TOKEN", "guess")]);
    let err = wrong.plan(&job, true).await.expect_err("403");
    assert_eq!(err.status(), Some(403));
    let right = client_with(&[("NOMAD_ADDR", &url), ("NOMAD_TOKEN", "s3cret")]);
    let registered = right.register(&job, &RegisterOptions::default()).await?;
    right.monitor(&registered.eval_id, TIMEOUT).await?;
    let tokens: Vec<_> = fake.requests().into_iter().map(|r| r.token).collect();
    assert_eq!(tokens[..2], [None, Some("guess".to_owned())]);
    assert!(tokens[2..].iter().all(|t| t.as_deref() == Some("s3cret")));
    Ok(())
}

#[tokio::test]
async fn namespace_and_region_are_sent() -> anyhow::Result<()> {
    let fake = FakeNomad::start().await;
    let url = fake.url();
    let vars = [
        ("NOMAD_ADDR", url.as_str()),
        ("NOMAD_NAMESPACE", "prod"),
        ("NOMAD_REGION", "global"),
    ];
    let client = client_with(&vars);
    let registered = client
        .register(&web_job(1, "nginx:1"), &RegisterOptions::default())
        .await?;
    client.monitor(&registered.eval_id, TIMEOUT).await?;
    let requests = fake.requests();
    assert!(requests.len() >= 3);
    for r in &requests {
        assert_eq!(
            r.query.get("namespace").map(String::as_str),
            Some("prod"),
            "{r:?}"
        );
        assert_eq!(
            r.query.get("region").map(String::as_str),
            Some("global"),
            "{r:?}"
        );
    }
    assert!(fake.job("prod", "web").is_some() && fake.job("default", "web").is_none());
    let elsewhere = client_with(&[("NOMAD_ADDR", &url), ("NOMAD_REGION", "eu")]);
    let err = elsewhere
        .evaluation(&registered.eval_id)
        .await
        .expect_err("no region");
    assert_eq!(
        (err.status(), err.body()),
        (Some(500), Some("No path to region"))
    );
    Ok(())
}

#[tokio::test]
async fn connection_refused_is_its_own_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let client = client_with(&[("NOMAD_ADDR", &format!("http://{addr}"))]);
    let err = client
        .register(&web_job(1, "nginx:1"), &RegisterOptions::default())
        .await;
    assert!(
        matches!(err, Err(ApiError::ConnectionRefused { .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn monitor_times_out_on_a_pending_evaluation() -> anyhow::Result<()> {
    let fake = FakeNomad::start().await;
    fake.set_eval_polls(u32::MAX);
    let client = client(&fake);
    let registered = client
        .register(&web_job(1, "nginx:1"), &RegisterOptions::default())
        .await?;
    let err = client
        .monitor(&registered.eval_id, Duration::from_millis(300))
        .await;
    assert!(
        matches!(
            err,
            Err(ApiError::MonitorTimeout {
                status: EvalStatus::Pending,
                ..
            })
        ),
        "{err:?}"
    );
    assert!(matches!(
        client.monitor("", TIMEOUT).await,
        Err(ApiError::NoEvaluation)
    ));
    Ok(())
}
