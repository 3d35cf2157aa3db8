//! Planning jobs against the fake Nomad, and the `nomad job plan` rendering.

mod support;

use rigging_mesh_test_util::fake_nomad::FakeNomad;
use rigging_nomad_api::{DiffType, PlanReport, RegisterOptions};
use serde_json::json;
use support::{client, corpus_job, web_job};

#[tokio::test]
async fn plan_of_a_new_job() -> anyhow::Result<()> {
    let fake = FakeNomad::start().await;
    let plan = client(&fake).plan(&web_job(2, "nginx:1"), true).await?;
    let submitted = &fake.submitted()[0];
    assert_eq!(submitted.path, "/v1/job/web/plan");
    assert_eq!(submitted.body["Diff"], json!(true));
    let diff = plan.diff.as_ref().expect("a diff");
    assert_eq!(diff.r#type, DiffType::Added);
    let desired = plan
        .annotations
        .as_ref()
        .expect("annotations")
        .desired_tg_updates["web"];
    assert_eq!((desired.place, desired.stop), (2, 0));
    assert_eq!(plan.job_modify_index, 0);
    let report = PlanReport::new(plan).with_job_file("web.nomad.json");
    assert!(report.changes_allocations());
    let text = report.to_string();
    let expected_start = "+ Job: \"web\"\n\
                          + Task Group: \"web\" (2 create)\n\
                          \x20 + Task: \"app\" (forces create)\n\
                          \n\
                          Scheduler dry-run:\n\
                          - All tasks successfully allocated.\n\
                          \n\
                          Job Modify Index: 0\n";
    assert!(text.starts_with(expected_start), "{text}");
    assert!(
        text.contains("\nnomad job run -check-index 0 web.nomad.json\n"),
        "{text}"
    );
    Ok(())
}

#[tokio::test]
async fn plan_after_a_destructive_change() -> anyhow::Result<()> {
    let fake = FakeNomad::start().await;
    let client = client(&fake);
    let registered = client
        .register(&web_job(1, "nginx:1"), &RegisterOptions::default())
        .await?;
    let plan = client.plan(&web_job(3, "nginx:2"), true).await?;
    assert_eq!(plan.job_modify_index, registered.job_modify_index);
    let diff = plan.diff.as_ref().expect("a diff");
    assert_eq!(diff.r#type, DiffType::Edited);
    let group = &diff.task_groups[0];
    assert_eq!(group.fields[0].name, "Count");
    assert_eq!(
        (group.fields[0].old.as_str(), group.fields[0].new.as_str()),
        ("1", "3")
    );
    assert_eq!(group.tasks[0].annotations, ["forces create/destroy update"]);
    let desired = plan
        .annotations
        .as_ref()
        .expect("annotations")
        .desired_tg_updates["web"];
    assert_eq!((desired.destructive_update, desired.place), (1, 2));
    let text = PlanReport::new(plan).to_string();
    let expected = "+/- Job: \"web\"\n\
                    +/- Task Group: \"web\" (2 create, 1 create/destroy update)\n\
                    \x20 +/- Count: \"1\" => \"3\"\n\
                    \x20 +/- Task: \"app\" (forces create/destroy update)\n\
                    \x20   +/- Config {\n\
                    \x20     +/- image:    \"nginx:1\" => \"nginx:2\"\n\
                    \x20         ports[0]: \"http\"\n\
                    \x20       }\n\
                    \n\
                    Scheduler dry-run:\n";
    assert!(text.starts_with(expected), "{text}");
    assert!(text.contains(&format!(
        "Job Modify Index: {}\n",
        registered.job_modify_index
    )));
    Ok(())
}

#[tokio::test]
async fn plan_of_a_service_change_is_in_place() -> anyhow::Result<()> {
    let fake = FakeNomad::start().await;
    let client = client(&fake);
    client
        .register(&web_job(2, "nginx:1"), &RegisterOptions::default())
        .await?;
    let mut job = web_job(2, "nginx:1");
    job.as_json_mut()["TaskGroups"][0]["Services"] = json!([{"Name": "web", "PortLabel": "http"}]);
    let plan = client.plan(&job, true).await?;
    let desired = plan
        .annotations
        .as_ref()
        .expect("annotations")
        .desired_tg_updates["web"];
    assert_eq!(
        (desired.in_place_update, desired.destructive_update),
        (2, 0)
    );
    let text = PlanReport::new(plan).to_string();
    assert!(
        text.contains("+/- Task Group: \"web\" (2 in-place update)\n"),
        "{text}"
    );
    assert!(text.contains("  + Services {\n"), "{text}");
    // the unchanged job plans to nothing
    let same = client.plan(&web_job(2, "nginx:1"), true).await?;
    assert_eq!(same.diff.as_ref().map(|d| d.r#type), Some(DiffType::None));
    let report = PlanReport::new(same);
    assert!(!report.changes_allocations());
    assert!(
        report
            .to_string()
            .starts_with("Job: \"web\"\nTask Group: \"web\" (2 ignore)\n")
    );
    Ok(())
}

#[tokio::test]
async fn plan_reports_placement_failures() -> anyhow::Result<()> {
    let fake = FakeNomad::start().await;
    fake.fail_scheduling(true);
    let plan = client(&fake).plan(&web_job(1, "nginx:1"), false).await?;
    assert!(plan.diff.is_none(), "no diff was asked for");
    let text = PlanReport::new(plan).to_string();
    let expected = "Scheduler dry-run:\n\
                    - WARNING: Failed to place all allocations.\n\
                    \x20 Task Group \"web\" (failed to place 1 allocation):\n\
                    \x20   * Resources exhausted on 1 nodes\n";
    assert!(text.starts_with(expected), "{text}");
    Ok(())
}

#[tokio::test]
async fn corpus_job_plans() -> anyhow::Result<()> {
    let Some(job) = corpus_job() else {
        return Ok(());
    };
    let fake = FakeNomad::start().await;
    let text = PlanReport::new(client(&fake).plan(&job, true).await?).to_string();
    assert!(
        text.starts_with("+ Job: \"example\"\n+ Task Group: \"cache\" (1 create)\n"),
        "{text}"
    );
    assert!(
        text.contains("  + Task: \"redis\" (forces create)\n"),
        "{text}"
    );
    Ok(())
}
