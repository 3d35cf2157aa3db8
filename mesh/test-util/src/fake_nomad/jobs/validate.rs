//! The checks Nomad's agent and `Job.Validate` make on a submitted job, with their messages
//! (`command/agent/job_endpoint.go`, `nomad/structs/structs.go`), formatted as go-multierror
//! formats them.

use hyper::StatusCode;
use serde_json::Value;

/// Reads a register or plan body: the whole body and its `Job`, or a 400 with Nomad's text.
/// `path_id` is the `:id` of `/v1/job/:id/plan`.
pub(super) fn submission(
    body: &[u8],
    path_id: Option<&str>,
) -> Result<(Value, Value), (StatusCode, String)> {
    let bad = |text: String| (StatusCode::BAD_REQUEST, text);
    let whole: Value = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
    let job = match whole.get("Job") {
        Some(job @ Value::Object(_)) => job.clone(),
        _ => return Err(bad("Job must be specified".to_owned())),
    };
    let Some(id) = job.get("ID").and_then(Value::as_str) else {
        return Err(bad("Job ID hasn't been provided".to_owned()));
    };
    if let Some(path_id) = path_id
        && path_id != id
    {
        return Err(bad("Job ID does not match".to_owned()));
    }
    let errors = job_errors(&job);
    if !errors.is_empty() {
        return Err(bad(multierror(&errors)));
    }
    Ok((whole, job))
}

/// What `Job.Validate` would say about the parts the fake understands.
fn job_errors(job: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let id = job["ID"].as_str().unwrap_or_default();
    if id.is_empty() {
        errors.push("Missing job ID".to_owned());
    } else if id.contains(' ') {
        errors.push("Job ID contains a space".to_owned());
    }
    let groups = job["TaskGroups"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if groups.is_empty() {
        errors.push("Missing job task groups".to_owned());
    }
    let mut seen: Vec<&str> = Vec::new();
    for (i, group) in groups.iter().enumerate() {
        let name = group["Name"].as_str().unwrap_or_default();
        if name.is_empty() {
            errors.push(format!("Job task group {} missing name", i + 1));
            continue;
        }
        if let Some(first) = seen.iter().position(|n| *n == name) {
            errors.push(format!(
                "Job task group {} redefines '{name}' from group {}",
                i + 1,
                first + 1
            ));
        }
        seen.push(name);
        let group_errors = group_errors(group);
        if !group_errors.is_empty() {
            errors.push(format!(
                "Task group {name} validation failed: {}",
                multierror(&group_errors)
            ));
        }
    }
    errors
}

fn group_errors(group: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    if group["Count"].as_i64().is_some_and(|c| c < 0) {
        errors.push("Task group count can't be negative".to_owned());
    }
    let tasks = group["Tasks"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if tasks.is_empty() {
        errors.push("Missing tasks for task group".to_owned());
    }
    for (i, task) in tasks.iter().enumerate() {
        let name = task["Name"].as_str().unwrap_or_default();
        let mut task_errors = Vec::new();
        if name.is_empty() {
            task_errors.push("Missing task name".to_owned());
        }
        if task["Driver"].as_str().unwrap_or_default().is_empty() {
            task_errors.push("Missing task driver".to_owned());
        }
        if !task_errors.is_empty() {
            let label = if name.is_empty() {
                format!("{}", i + 1)
            } else {
                name.to_owned()
            };
            errors.push(format!(
                "Task {label} validation failed: {}",
                multierror(&task_errors)
            ));
        }
    }
    errors
}

/// go-multierror's text: `1 error occurred:\n\t* …\n\n`.
pub(super) fn multierror(errors: &[String]) -> String {
    let points: Vec<String> = errors.iter().map(|e| format!("* {e}")).collect();
    match errors.len() {
        1 => format!("1 error occurred:\n\t{}\n\n", points.join("\n\t")),
        n => format!("{n} errors occurred:\n\t{}\n\n", points.join("\n\t")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(body: &str) -> String {
        submission(body.as_bytes(), None).expect_err("refused").1
    }

    #[test]
    fn refusals_read_like_nomad() {
        assert_eq!(text(r#"{"Jobs": {}}"#), "Job must be specified");
        assert_eq!(
            text(r#"{"Job": {"Name": "x"}}"#),
            "Job ID hasn't been provided"
        );
        assert_eq!(
            text(r#"{"Job": {"ID": "x"}}"#),
            "1 error occurred:\n\t* Missing job task groups\n\n"
        );
        let t = text(r#"{"Job": {"ID": "x", "TaskGroups": [{"Name": "web", "Tasks": []}]}}"#);
        assert!(t.starts_with("1 error occurred:\n\t* Task group web validation failed: "));
        assert!(t.contains("Missing tasks for task group"));
        let t = text(
            r#"{"Job": {"ID": "x", "TaskGroups": [{"Name": "web", "Tasks": [{"Name": "app"}]}]}}"#,
        );
        assert!(
            t.contains("Task app validation failed: 1 error occurred:\n\t* Missing task driver")
        );
        let plan = br#"{"Job": {"ID": "x", "TaskGroups": []}}"#;
        let refused = submission(plan, Some("y")).expect_err("refused");
        assert_eq!(refused.1, "Job ID does not match");
    }
}
