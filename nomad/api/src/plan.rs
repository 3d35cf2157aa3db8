//! The report of a plan, rendered as `nomad job plan` renders it (`command/job_plan.go`).

use std::fmt::{self, Write as _};

use crate::render::failed_group;
use crate::types::{
    DiffType, FieldDiff, JobDiff, ObjectDiff, PlanResponse, TaskDiff, TaskGroupDiff,
};

/// What the CLI prints when no job file was named.
const DEFAULT_JOB_FILE: &str = "<path to job file>";

/// A plan answer and the file it came from; [`Display`](fmt::Display) renders the diff, the
/// scheduler dry-run and the `-check-index` hint as `nomad job plan` does (without colour).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanReport {
    /// Nomad's answer.
    pub response: PlanResponse,
    /// The job file named in the `nomad job run -check-index` hint.
    pub job_file: String,
}

impl PlanReport {
    /// A report of `response`.
    pub fn new(response: PlanResponse) -> Self {
        Self {
            response,
            job_file: DEFAULT_JOB_FILE.to_owned(),
        }
    }

    /// Names the job file in the hint.
    pub fn with_job_file(mut self, path: impl Into<String>) -> Self {
        self.job_file = path.into();
        self
    }

    /// Whether running the job would create, destroy or update allocations, which is what
    /// `nomad job plan`'s exit code 1 says (0 when nothing would change).
    pub fn changes_allocations(&self) -> bool {
        self.response.annotations.as_ref().is_some_and(|a| {
            a.desired_tg_updates.values().any(|u| {
                u.place + u.stop + u.migrate + u.in_place_update + u.destructive_update + u.canary
                    > 0
            })
        })
    }
}

impl fmt::Display for PlanReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.response;
        if let Some(diff) = &r.diff {
            writeln!(f, "{}", job_diff(diff))?;
        }
        writeln!(f, "Scheduler dry-run:")?;
        if r.failed_tg_allocs.is_empty() {
            writeln!(f, "- All tasks successfully allocated.")?;
        } else {
            writeln!(f, "- WARNING: Failed to place all allocations.")?;
            for (group, metric) in &r.failed_tg_allocs {
                failed_group(f, group, metric, "  ")?;
            }
        }
        if !r.warnings.is_empty() {
            writeln!(f, "\nJob Warnings:\n{}", r.warnings.trim_end())?;
        }
        let index = r.job_modify_index;
        write!(
            f,
            "\nJob Modify Index: {index}\n\
             To submit the job with version verification run:\n\n\
             nomad job run -check-index {index} {}\n\n\
             When running the job with the check-index flag, the job will only be run if the\n\
             job modify index given matches the server-side version. If the index has\n\
             changed, another user has modified the job and the plan's results are\n\
             potentially invalid.\n",
            self.job_file
        )
    }
}

fn marker(t: DiffType) -> &'static str {
    match t {
        DiffType::Added => "+ ",
        DiffType::Deleted => "- ",
        DiffType::Edited => "+/- ",
        DiffType::None => "",
    }
}

fn pad(n: usize) -> String {
    " ".repeat(n)
}

fn job_diff(job: &JobDiff) -> String {
    let mut out = format!("{}Job: {:?}\n", marker(job.r#type), job.id);
    let (longest_field, mut longest_marker) = longest(&job.fields, &job.objects);
    for tg in &job.task_groups {
        longest_marker = longest_marker.max(marker(tg.r#type).len());
    }
    if job.r#type == DiffType::Edited {
        let fo = fields_and_objects(&job.fields, &job.objects, 0, longest_field, longest_marker);
        if !fo.is_empty() {
            out += &fo;
            out.push('\n');
        }
    }
    for tg in &job.task_groups {
        let prefix = longest_marker - marker(tg.r#type).len();
        let _ = writeln!(out, "{}", group_diff(tg, prefix));
    }
    out
}

fn group_diff(tg: &TaskGroupDiff, tg_prefix: usize) -> String {
    let mut out = format!(
        "{}{}Task Group: {:?}",
        marker(tg.r#type),
        pad(tg_prefix),
        tg.name
    );
    if tg.updates.is_empty() {
        out.push('\n');
    } else {
        let updates: Vec<String> = tg.updates.iter().map(|(k, n)| format!("{n} {k}")).collect();
        let _ = writeln!(out, " ({})", updates.join(", "));
    }
    let (longest_field, mut longest_marker) = longest(&tg.fields, &tg.objects);
    for task in &tg.tasks {
        longest_marker = longest_marker.max(marker(task.r#type).len());
    }
    let sub = tg_prefix + 2;
    if tg.r#type == DiffType::Edited {
        let fo = fields_and_objects(&tg.fields, &tg.objects, sub, longest_field, longest_marker);
        if !fo.is_empty() {
            out += &fo;
            out.push('\n');
        }
    }
    for task in &tg.tasks {
        let prefix = longest_marker - marker(task.r#type).len();
        let _ = writeln!(out, "{}", task_diff(task, sub, prefix));
    }
    out.truncate(out.trim_end_matches('\n').len());
    out
}

fn task_diff(task: &TaskDiff, start: usize, task_prefix: usize) -> String {
    let mut out = format!(
        "{}{}{}Task: {:?}",
        pad(start),
        marker(task.r#type),
        pad(task_prefix),
        task.name
    );
    if !task.annotations.is_empty() {
        let _ = write!(out, " ({})", task.annotations.join(", "));
    }
    if task.r#type != DiffType::Edited {
        return out;
    }
    out.push('\n');
    let (longest_field, longest_marker) = longest(&task.fields, &task.objects);
    out += &fields_and_objects(
        &task.fields,
        &task.objects,
        start + 2,
        longest_field,
        longest_marker,
    );
    out
}

fn longest(fields: &[FieldDiff], objects: &[ObjectDiff]) -> (usize, usize) {
    let field = fields.iter().map(|f| f.name.len()).max().unwrap_or(0);
    let markers = fields
        .iter()
        .map(|f| f.r#type)
        .chain(objects.iter().map(|o| o.r#type));
    (field, markers.map(|t| marker(t).len()).max().unwrap_or(0))
}

fn fields_and_objects(
    fields: &[FieldDiff],
    objects: &[ObjectDiff],
    start: usize,
    longest_field: usize,
    longest_marker: usize,
) -> String {
    let mut lines = Vec::new();
    for field in fields {
        let key_prefix = longest_marker - marker(field.r#type).len();
        let value_prefix = longest_field - field.name.len();
        let value = match field.r#type {
            DiffType::Added | DiffType::None => format!("{:?}", field.new),
            DiffType::Deleted => format!("{:?}", field.old),
            DiffType::Edited => format!("{:?} => {:?}", field.old, field.new),
        };
        let mut line = format!(
            "{}{}{}{}: {}{value}",
            pad(start),
            marker(field.r#type),
            pad(key_prefix),
            field.name,
            pad(value_prefix)
        );
        if !field.annotations.is_empty() {
            let _ = write!(line, " ({})", field.annotations.join(", "));
        }
        lines.push(line);
    }
    for object in objects {
        let key_prefix = longest_marker - marker(object.r#type).len();
        lines.push(object_diff(object, start, key_prefix));
    }
    lines.join("\n")
}

fn object_diff(object: &ObjectDiff, start: usize, key_prefix: usize) -> String {
    let m = marker(object.r#type);
    let mut out = format!("{}{m}{}{} {{\n", pad(start), pad(key_prefix), object.name);
    let (longest_field, longest_marker) = longest(&object.fields, &object.objects);
    let sub = start + key_prefix + 2;
    out += &fields_and_objects(
        &object.fields,
        &object.objects,
        sub,
        longest_field,
        longest_marker,
    );
    let _ = write!(out, "\n{}}}", pad(start + key_prefix + m.len()));
    out
}
