//! Following an evaluation to its end, as `nomad job run` does, and the report of it.

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

use crate::render::{failed_group, short};
use crate::types::{AllocationListStub, EvalStatus, Evaluation};
use crate::{ApiError, NomadClient};

/// The longest `?wait=` of one blocking query while monitoring: short enough that the
/// overall timeout is honoured closely, long enough that a quiet cluster costs little.
pub const MAX_POLL_WAIT: Duration = Duration::from_secs(10);
/// The least time between two queries, so a server that answers blocking queries at once
/// (an old agent, an index that moved elsewhere) is not polled in a busy loop.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// What happened to an evaluation: its status changes, the final evaluation, and its
/// allocations. [`Display`](fmt::Display) renders it as `nomad job run` does.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunReport {
    /// The statuses seen, in order, each once.
    pub statuses: Vec<EvalStatus>,
    /// The evaluation as it finished.
    pub evaluation: Evaluation,
    /// Its allocations as last read.
    pub allocations: Vec<AllocationListStub>,
    /// Whether every allocation left `pending` before the timeout.
    pub allocations_settled: bool,
}

impl RunReport {
    /// Whether the job was placed: the evaluation completed, nothing failed to place, and no
    /// allocation failed or was lost.
    pub fn succeeded(&self) -> bool {
        self.evaluation.status == EvalStatus::Complete
            && self.evaluation.failed_tg_allocs.is_empty()
            && self
                .allocations
                .iter()
                .all(|a| !matches!(a.client_status.as_str(), "failed" | "lost"))
    }
}

impl NomadClient {
    /// Follows evaluation `eval_id` with blocking queries until it is complete, failed,
    /// blocked or canceled, then its allocations until none is `pending`, all within
    /// `timeout`. Allocations still pending at the timeout are reported as they are; an
    /// evaluation still pending is [`ApiError::MonitorTimeout`].
    pub async fn monitor(&self, eval_id: &str, timeout: Duration) -> Result<RunReport, ApiError> {
        if eval_id.is_empty() {
            return Err(ApiError::NoEvaluation);
        }
        let deadline = Instant::now() + timeout;
        let mut statuses: Vec<EvalStatus> = Vec::new();
        let mut index = 0;
        let evaluation = loop {
            let Some(wait) = remaining(deadline) else {
                return Err(ApiError::MonitorTimeout {
                    eval_id: eval_id.to_owned(),
                    status: statuses.last().copied().unwrap_or_default(),
                    after: timeout,
                });
            };
            let answer = self
                .evaluation_blocking(eval_id, Some((index, wait)))
                .await?;
            let status = answer.body.status;
            if statuses.last() != Some(&status) {
                tracing::debug!(eval = eval_id, %status, "evaluation status");
                statuses.push(status);
            }
            if status.is_final() {
                break answer.body;
            }
            index = next_index(index, answer.index);
            tokio::time::sleep(MIN_POLL_INTERVAL).await;
        };
        let mut index = 0;
        let (allocations, allocations_settled) = loop {
            let wait = remaining(deadline).unwrap_or(Duration::ZERO);
            let block = (!wait.is_zero()).then_some((index, wait));
            let answer = self.allocations_blocking(eval_id, block).await?;
            let settled = answer.body.iter().all(|a| a.client_status != "pending");
            if settled || wait.is_zero() {
                break (answer.body, settled);
            }
            index = next_index(index, answer.index);
            tokio::time::sleep(MIN_POLL_INTERVAL).await;
        };
        Ok(RunReport {
            statuses,
            evaluation,
            allocations,
            allocations_settled,
        })
    }
}

/// The wait for the next blocking query, or `None` once the deadline passed.
fn remaining(deadline: Instant) -> Option<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    (!left.is_zero()).then(|| left.min(MAX_POLL_WAIT))
}

/// Nomad's blocking-query rule: send back the `X-Nomad-Index`, never below 1, and start over
/// (a query that answers at once) when it went backwards.
fn next_index(sent: u64, returned: u64) -> u64 {
    if returned < sent { 0 } else { returned.max(1) }
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let eval = &self.evaluation;
        let id = short(&eval.id);
        writeln!(f, "==> Monitoring evaluation {id:?}")?;
        match eval.triggered_by.as_str() {
            "" => {}
            "job-register" | "job-deregister" => {
                writeln!(f, "    Evaluation triggered by job {:?}", eval.job_id)?;
            }
            other => writeln!(f, "    Evaluation triggered by {other:?}")?,
        }
        for a in &self.allocations {
            writeln!(
                f,
                "    Allocation {:?} created: node {:?}, group {:?}",
                short(&a.id),
                short(&a.node_id),
                a.task_group
            )?;
        }
        if !eval.deployment_id.is_empty() {
            writeln!(
                f,
                "    Evaluation within deployment: {:?}",
                short(&eval.deployment_id)
            )?;
        }
        for pair in self.statuses.windows(2) {
            writeln!(
                f,
                "    Evaluation status changed: {:?} -> {:?}",
                pair[0].as_str(),
                pair[1].as_str()
            )?;
        }
        if self.statuses.len() == 1 {
            writeln!(
                f,
                "    Evaluation status changed: {:?}",
                eval.status.as_str()
            )?;
        }
        let status = eval.status.as_str();
        if eval.failed_tg_allocs.is_empty() {
            writeln!(f, "==> Evaluation {id:?} finished with status {status:?}")?;
        } else {
            writeln!(
                f,
                "==> Evaluation {id:?} finished with status {status:?} but failed to place all allocations:"
            )?;
            for (group, metric) in &eval.failed_tg_allocs {
                failed_group(f, group, metric, "    ")?;
            }
            if !eval.blocked_eval.is_empty() {
                writeln!(
                    f,
                    "    Evaluation {:?} waiting for additional capacity to place remainder",
                    short(&eval.blocked_eval)
                )?;
            }
        }
        if !eval.status_description.is_empty() && eval.status != EvalStatus::Complete {
            writeln!(f, "    {}", eval.status_description)?;
        }
        for a in &self.allocations {
            writeln!(
                f,
                "    Allocation {:?} status {:?} ({})",
                short(&a.id),
                a.client_status,
                a.name
            )?;
        }
        if !self.allocations_settled {
            writeln!(
                f,
                "    Some allocations were still pending when monitoring stopped"
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_rules() {
        assert_eq!(next_index(0, 0), 1);
        assert_eq!(next_index(5, 9), 9);
        assert_eq!(next_index(9, 5), 0, "backwards starts over");
    }
}
