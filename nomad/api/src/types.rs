//! Nomad's answers, with the fields of its API docs (`api-docs/jobs.mdx`, `evaluations.mdx`,
//! `allocations.mdx`) and `api/jobs.go`. Unknown fields are ignored (newer Nomads add fields),
//! and `null` reads as empty, as Go encodes empty slices and maps.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// The answer to `POST /v1/jobs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RegisterResponse {
    /// The evaluation the registration created; empty for periodic and parameterized jobs.
    #[serde(rename = "EvalID", deserialize_with = "null_default")]
    pub eval_id: String,
    pub eval_create_index: u64,
    pub job_modify_index: u64,
    #[serde(deserialize_with = "null_default")]
    pub warnings: String,
    pub index: u64,
}

/// The answer to `POST /v1/job/:id/plan`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PlanResponse {
    /// The index to pass as `JobModifyIndex` (with `EnforceIndex`) to register what was planned.
    pub job_modify_index: u64,
    /// Present when the plan asked for `"Diff": true`.
    pub diff: Option<JobDiff>,
    pub annotations: Option<PlanAnnotations>,
    /// Groups that could not be placed, and why.
    #[serde(rename = "FailedTGAllocs", deserialize_with = "null_default")]
    pub failed_tg_allocs: BTreeMap<String, AllocationMetric>,
    #[serde(deserialize_with = "null_default")]
    pub warnings: String,
    pub index: u64,
}

/// Whether a part of the job is new, gone, changed or the same.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DiffType {
    Added,
    Deleted,
    Edited,
    #[default]
    None,
}

/// The diff of the whole job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobDiff {
    pub r#type: DiffType,
    #[serde(rename = "ID", deserialize_with = "null_default")]
    pub id: String,
    #[serde(deserialize_with = "null_default")]
    pub fields: Vec<FieldDiff>,
    #[serde(deserialize_with = "null_default")]
    pub objects: Vec<ObjectDiff>,
    #[serde(deserialize_with = "null_default")]
    pub task_groups: Vec<TaskGroupDiff>,
}

/// The diff of one task group; `updates` counts allocations by update type (`"create"`,
/// `"destroy"`, `"ignore"`, `"in-place update"`, `"create/destroy update"`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskGroupDiff {
    pub r#type: DiffType,
    #[serde(deserialize_with = "null_default")]
    pub name: String,
    #[serde(deserialize_with = "null_default")]
    pub fields: Vec<FieldDiff>,
    #[serde(deserialize_with = "null_default")]
    pub objects: Vec<ObjectDiff>,
    #[serde(deserialize_with = "null_default")]
    pub tasks: Vec<TaskDiff>,
    #[serde(deserialize_with = "null_default")]
    pub updates: BTreeMap<String, u64>,
}

/// The diff of one task; `annotations` say what it forces (`"forces create"`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskDiff {
    pub r#type: DiffType,
    #[serde(deserialize_with = "null_default")]
    pub name: String,
    #[serde(deserialize_with = "null_default")]
    pub fields: Vec<FieldDiff>,
    #[serde(deserialize_with = "null_default")]
    pub objects: Vec<ObjectDiff>,
    #[serde(deserialize_with = "null_default")]
    pub annotations: Vec<String>,
}

/// One field that differs, with its values as strings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct FieldDiff {
    pub r#type: DiffType,
    #[serde(deserialize_with = "null_default")]
    pub name: String,
    #[serde(deserialize_with = "null_default")]
    pub old: String,
    #[serde(deserialize_with = "null_default")]
    pub new: String,
    #[serde(deserialize_with = "null_default")]
    pub annotations: Vec<String>,
}

/// A nested block (`Config`, `Env`, `Service`, …) that differs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ObjectDiff {
    pub r#type: DiffType,
    #[serde(deserialize_with = "null_default")]
    pub name: String,
    #[serde(deserialize_with = "null_default")]
    pub fields: Vec<FieldDiff>,
    #[serde(deserialize_with = "null_default")]
    pub objects: Vec<ObjectDiff>,
}

/// What the scheduler would do, per task group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PlanAnnotations {
    #[serde(rename = "DesiredTGUpdates", deserialize_with = "null_default")]
    pub desired_tg_updates: BTreeMap<String, DesiredUpdates>,
}

/// Allocation counts of one group's plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DesiredUpdates {
    pub ignore: u64,
    pub place: u64,
    pub migrate: u64,
    pub stop: u64,
    pub in_place_update: u64,
    pub destructive_update: u64,
    pub canary: u64,
    pub preemptions: u64,
}

/// Why the scheduler could not place a group's allocations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocationMetric {
    pub nodes_evaluated: u64,
    pub nodes_filtered: u64,
    #[serde(deserialize_with = "null_default")]
    pub nodes_available: BTreeMap<String, u64>,
    #[serde(deserialize_with = "null_default")]
    pub class_filtered: BTreeMap<String, u64>,
    #[serde(deserialize_with = "null_default")]
    pub constraint_filtered: BTreeMap<String, u64>,
    pub nodes_exhausted: u64,
    #[serde(deserialize_with = "null_default")]
    pub class_exhausted: BTreeMap<String, u64>,
    #[serde(deserialize_with = "null_default")]
    pub dimension_exhausted: BTreeMap<String, u64>,
    #[serde(deserialize_with = "null_default")]
    pub quota_exhausted: Vec<String>,
    /// Further allocations that failed the same way (the group failed `1 + this` placements).
    pub coalesced_failures: u64,
}

/// An evaluation's status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EvalStatus {
    #[default]
    Pending,
    Complete,
    Failed,
    Blocked,
    Canceled,
    /// A status this client does not know.
    #[serde(other)]
    Unknown,
}

/// `GET /v1/evaluation/:id`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Evaluation {
    #[serde(rename = "ID", deserialize_with = "null_default")]
    pub id: String,
    #[serde(deserialize_with = "null_default")]
    pub namespace: String,
    pub priority: i64,
    #[serde(deserialize_with = "null_default")]
    pub r#type: String,
    #[serde(deserialize_with = "null_default")]
    pub triggered_by: String,
    #[serde(rename = "JobID", deserialize_with = "null_default")]
    pub job_id: String,
    pub job_modify_index: u64,
    #[serde(rename = "DeploymentID", deserialize_with = "null_default")]
    pub deployment_id: String,
    pub status: EvalStatus,
    #[serde(deserialize_with = "null_default")]
    pub status_description: String,
    #[serde(deserialize_with = "null_default")]
    pub next_eval: String,
    #[serde(deserialize_with = "null_default")]
    pub previous_eval: String,
    /// The evaluation that waits for capacity when placements failed.
    #[serde(deserialize_with = "null_default")]
    pub blocked_eval: String,
    #[serde(rename = "FailedTGAllocs", deserialize_with = "null_default")]
    pub failed_tg_allocs: BTreeMap<String, AllocationMetric>,
    #[serde(deserialize_with = "null_default")]
    pub queued_allocations: BTreeMap<String, u64>,
    pub create_index: u64,
    pub modify_index: u64,
}

/// An allocation as listed by `GET /v1/evaluation/:id/allocations`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocationListStub {
    #[serde(rename = "ID", deserialize_with = "null_default")]
    pub id: String,
    #[serde(rename = "EvalID", deserialize_with = "null_default")]
    pub eval_id: String,
    /// `<job>.<group>[<index>]`.
    #[serde(deserialize_with = "null_default")]
    pub name: String,
    #[serde(deserialize_with = "null_default")]
    pub namespace: String,
    #[serde(rename = "NodeID", deserialize_with = "null_default")]
    pub node_id: String,
    #[serde(deserialize_with = "null_default")]
    pub node_name: String,
    #[serde(rename = "JobID", deserialize_with = "null_default")]
    pub job_id: String,
    #[serde(deserialize_with = "null_default")]
    pub task_group: String,
    /// `run`, `stop` or `evict`.
    #[serde(deserialize_with = "null_default")]
    pub desired_status: String,
    /// `pending`, `running`, `complete`, `failed`, `lost` or `unknown`.
    #[serde(deserialize_with = "null_default")]
    pub client_status: String,
    #[serde(deserialize_with = "null_default")]
    pub client_description: String,
    #[serde(deserialize_with = "null_default")]
    pub task_states: BTreeMap<String, TaskState>,
    pub create_index: u64,
    pub modify_index: u64,
}

/// One task's state in an allocation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskState {
    /// `pending`, `running` or `dead`.
    #[serde(deserialize_with = "null_default")]
    pub state: String,
    pub failed: bool,
    pub restarts: u64,
    #[serde(deserialize_with = "null_default")]
    pub events: Vec<TaskEvent>,
}

/// One event of a task (`Received`, `Driver`, `Started`, `Terminated`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskEvent {
    #[serde(deserialize_with = "null_default")]
    pub r#type: String,
    /// Unix nanoseconds.
    pub time: i64,
    #[serde(deserialize_with = "null_default")]
    pub display_message: String,
}

impl EvalStatus {
    /// Whether the scheduler is done with the evaluation (`blocked` counts: it waits for
    /// capacity, and `nomad job run` stops monitoring there too).
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Pending | Self::Unknown)
    }

    /// The status as Nomad spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Complete => "complete",
            Self::Failed => "failed",
            Self::Blocked => "blocked",
            Self::Canceled => "canceled",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for EvalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `null` (Go's empty slice or map) as the type's default.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample of `GET /v1/evaluation/:id` in Nomad's evaluations.mdx.
    const DOCS_EVAL: &str = r#"{"ID": "5456bd7a-9fc0-c0dd-6131-cbee77f57577", "Priority": 50,
        "Type": "service", "TriggeredBy": "job-register", "JobID": "example",
        "JobModifyIndex": 52, "NodeID": "", "NodeModifyIndex": 0, "Status": "complete",
        "StatusDescription": "", "Wait": 0, "NextEval": "", "PreviousEval": "",
        "BlockedEval": "", "FailedTGAllocs": null, "ClassEligibility": null,
        "EscapedComputedClass": false, "AnnotatePlan": false, "SnapshotIndex": 53,
        "QueuedAllocations": {"cache": 0}, "CreateIndex": 53, "ModifyIndex": 55}"#;

    #[test]
    fn docs_evaluation() {
        let e: Evaluation = serde_json::from_str(DOCS_EVAL).expect("docs sample");
        assert_eq!(e.status, EvalStatus::Complete);
        assert_eq!(e.job_id, "example");
        assert!(e.failed_tg_allocs.is_empty());
        assert_eq!(e.queued_allocations.get("cache"), Some(&0));
    }

    #[test]
    fn unknown_status_and_nulls() {
        let e: Evaluation =
            serde_json::from_str(r#"{"Status": "reblocked", "QueuedAllocations": null}"#)
                .expect("lenient");
        assert_eq!(e.status, EvalStatus::Unknown);
        assert!(!e.status.is_final());
        let p: PlanResponse =
            serde_json::from_str(r#"{"Diff": {"Type": "Added", "TaskGroups": null}}"#)
                .expect("plan");
        assert_eq!(p.diff.map(|d| d.r#type), Some(DiffType::Added));
    }
}
