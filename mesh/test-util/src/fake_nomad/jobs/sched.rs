//! The fake's scheduler: evaluations that complete after some reads, allocations that start
//! after some more, and the failure Nomad reports when no node has room.

use hyper::StatusCode;
use serde_json::{Value, json};

use super::{Answer, State};

/// The one client node of the fake cluster.
const NODE_ID: &str = "7406e90b-de16-d118-80fe-60d0f2730cb3";
const NODE_NAME: &str = "fake-node-1";

/// An evaluation and how far the fake has taken it.
#[derive(Debug, Clone)]
pub(super) struct FakeEval {
    eval: Value,
    reads: u32,
    alloc_reads: u32,
}

/// A UUID-shaped ID, unique within the fake and stable across runs.
fn next_uuid(s: &mut State) -> String {
    s.jobs.next_id += 1;
    let n = s.jobs.next_id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        n >> 32,
        (n >> 16) & 0xffff,
        n & 0xfff,
        (n >> 12) & 0xfff,
        s.jobs.next_id
    )
}

/// Creates the `job-register` evaluation of a job just stored; returns its ID.
pub(super) fn create_eval(s: &mut State, namespace: &str, job_id: &str) -> String {
    let id = next_uuid(s);
    let eval = json!({
        "ID": id, "Namespace": namespace, "Priority": 50, "Type": "service",
        "TriggeredBy": "job-register", "JobID": job_id, "JobModifyIndex": s.index,
        "DeploymentID": "", "Status": "pending", "StatusDescription": "",
        "NextEval": "", "PreviousEval": "", "BlockedEval": "", "FailedTGAllocs": null,
        "QueuedAllocations": null, "CreateIndex": s.index, "ModifyIndex": s.index,
    });
    s.jobs.evals.insert(
        id.clone(),
        FakeEval {
            eval,
            reads: 0,
            alloc_reads: 0,
        },
    );
    if s.jobs.eval_polls == 0 {
        schedule(s, &id);
    }
    id
}

/// `GET /v1/evaluation/:id`: one step of the scheduler, then the evaluation.
pub(super) fn read_eval(s: &mut State, id: &str) -> Answer {
    let polls = s.jobs.eval_polls;
    let fe = s.jobs.evals.get_mut(id).ok_or_else(not_found)?;
    fe.reads += 1;
    if fe.eval["Status"] == "pending" {
        if fe.reads > polls {
            schedule(s, id);
        } else {
            // the scheduler touched it: blocking queries wake up
            s.index += 1;
        }
    }
    peek_eval(s, id)
}

/// The evaluation as it is.
pub(super) fn peek_eval(s: &State, id: &str) -> Answer {
    s.jobs
        .evals
        .get(id)
        .map(|e| e.eval.clone())
        .ok_or_else(not_found)
}

/// `GET /v1/evaluation/:id/allocations`: one step of the clients, then the allocations.
pub(super) fn read_allocs(s: &mut State, id: &str) -> Answer {
    let polls = s.jobs.alloc_polls;
    let fe = s.jobs.evals.get_mut(id).ok_or_else(not_found)?;
    fe.alloc_reads += 1;
    let start = fe.alloc_reads > polls;
    let pending: Vec<String> = s
        .jobs
        .allocs
        .iter()
        .filter(|(_, a)| a["EvalID"] == id && a["ClientStatus"] == "pending")
        .map(|(k, _)| k.clone())
        .collect();
    if !pending.is_empty() {
        s.index += 1;
        let index = s.index;
        for alloc_id in pending.iter().filter(|_| start) {
            if let Some(a) = s.jobs.allocs.get_mut(alloc_id) {
                run(a, index);
            }
        }
    }
    Ok(allocs_of(s, id))
}

/// The allocations of evaluation `id`, sorted by ID.
pub(super) fn allocs_of(s: &State, id: &str) -> Value {
    let list: Vec<&Value> = s
        .jobs
        .allocs
        .values()
        .filter(|a| a["EvalID"] == id)
        .collect();
    json!(list)
}

/// `FailedTGAllocs` for every group of `job`: memory exhausted on the one node.
pub(super) fn failures(job: &Value) -> Value {
    let mut failed = serde_json::Map::new();
    for group in job["TaskGroups"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let name = group["Name"].as_str().unwrap_or_default();
        failed.insert(
            name.to_owned(),
            json!({
                "NodesEvaluated": 1, "NodesFiltered": 0, "NodesAvailable": {"dc1": 1},
                "ClassFiltered": null, "ConstraintFiltered": null, "NodesExhausted": 1,
                "ClassExhausted": null, "DimensionExhausted": {"memory": 1},
                "QuotaExhausted": null, "CoalescedFailures": count(group) - 1,
            }),
        );
    }
    Value::Object(failed)
}

/// A group's `Count`, 1 when unset (as Nomad canonicalizes it).
pub(super) fn count(group: &Value) -> u64 {
    group["Count"].as_u64().unwrap_or(1)
}

/// Completes evaluation `id`: places the job's allocations (stopping the previous ones), or
/// records the failure and a blocked evaluation.
fn schedule(s: &mut State, id: &str) {
    s.index += 1;
    let index = s.index;
    let Some(eval) = s.jobs.evals.get(id).map(|e| e.eval.clone()) else {
        return;
    };
    let namespace = eval["Namespace"].as_str().unwrap_or_default().to_owned();
    let job_id = eval["JobID"].as_str().unwrap_or_default().to_owned();
    let Some(job) = s
        .jobs
        .jobs
        .get(&(namespace.clone(), job_id.clone()))
        .map(|j| j.job.clone())
    else {
        return;
    };
    let groups = job["TaskGroups"].as_array().cloned().unwrap_or_default();
    let mut update = json!({"Status": "complete", "ModifyIndex": index});
    if s.jobs.fail_scheduling {
        let blocked = next_uuid(s);
        let mut blocked_eval = eval.clone();
        blocked_eval["ID"] = json!(blocked);
        blocked_eval["Status"] = json!("blocked");
        blocked_eval["TriggeredBy"] = json!("queued-allocs");
        blocked_eval["PreviousEval"] = json!(id);
        blocked_eval["StatusDescription"] = json!("created to place remaining allocations");
        let fe = FakeEval {
            eval: blocked_eval,
            reads: 0,
            alloc_reads: 0,
        };
        s.jobs.evals.insert(blocked.clone(), fe);
        update["FailedTGAllocs"] = failures(&job);
        update["BlockedEval"] = json!(blocked);
        let queued: serde_json::Map<String, Value> = groups
            .iter()
            .map(|g| {
                (
                    g["Name"].as_str().unwrap_or_default().to_owned(),
                    json!(count(g)),
                )
            })
            .collect();
        update["QueuedAllocations"] = Value::Object(queued);
    } else {
        for a in s.jobs.allocs.values_mut() {
            if a["JobID"] == job_id.as_str() && a["Namespace"] == namespace.as_str() {
                a["DesiredStatus"] = json!("stop");
                a["ClientStatus"] = json!("complete");
                a["ModifyIndex"] = json!(index);
            }
        }
        let running = s.jobs.alloc_polls == 0;
        for group in &groups {
            for i in 0..count(group) {
                let alloc_id = next_uuid(s);
                let mut a = alloc(&alloc_id, id, &job, group, i, index);
                if running {
                    run(&mut a, index);
                }
                s.jobs.allocs.insert(alloc_id, a);
            }
        }
    }
    if let Some(fe) = s.jobs.evals.get_mut(id)
        && let (Value::Object(e), Value::Object(u)) = (&mut fe.eval, update)
    {
        e.extend(u);
    }
}

fn alloc(id: &str, eval: &str, job: &Value, group: &Value, i: u64, index: u64) -> Value {
    let group_name = group["Name"].as_str().unwrap_or_default();
    let job_id = job["ID"].as_str().unwrap_or_default();
    let tasks: serde_json::Map<String, Value> = group["Tasks"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|t| {
            let state = json!({"State": "pending", "Failed": false, "Restarts": 0,
                "Events": [{"Type": "Received", "Time": 0, "DisplayMessage": "Task received by client"}]});
            (t["Name"].as_str().unwrap_or_default().to_owned(), state)
        })
        .collect();
    json!({
        "ID": id, "EvalID": eval, "Name": format!("{job_id}.{group_name}[{i}]"),
        "Namespace": job["Namespace"], "NodeID": NODE_ID, "NodeName": NODE_NAME,
        "JobID": job_id, "TaskGroup": group_name, "DesiredStatus": "run",
        "DesiredDescription": "", "ClientStatus": "pending", "ClientDescription": "",
        "TaskStates": tasks, "CreateIndex": index, "ModifyIndex": index,
    })
}

/// Starts an allocation's tasks.
fn run(a: &mut Value, index: u64) {
    a["ClientStatus"] = json!("running");
    a["ClientDescription"] = json!("Tasks are running");
    a["ModifyIndex"] = json!(index);
    if let Some(states) = a["TaskStates"].as_object_mut() {
        for state in states.values_mut() {
            state["State"] = json!("running");
            if let Some(events) = state["Events"].as_array_mut() {
                events.push(json!({"Type": "Started", "Time": 0, "DisplayMessage": "Task started by client"}));
            }
        }
    }
}

fn not_found() -> (StatusCode, String) {
    (StatusCode::NOT_FOUND, "eval not found".to_owned())
}
