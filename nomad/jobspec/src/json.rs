//! Nomad's API JSON form of a job, both ways, driven by the field table in [`schema`].

mod from_api;
pub(crate) mod schema;
mod to_api;

use std::path::Path;

use rigging_mesh_hcl::{HclError, Location};

use crate::{Error, Job};

pub(crate) use to_api::job_to_api;

/// Reads `{"Job": {…}}` or a bare job object.
pub(crate) fn parse(file: &Path, text: &str) -> Result<Job, Error> {
    let located = |line: usize, column: usize, msg: String| {
        Error::Hcl(HclError::new(Location::new(file, line, column), msg))
    };
    let json: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| located(e.line(), e.column(), format!("invalid JSON: {e}")))?;
    let job = match json.get("Job") {
        Some(j) => j,
        None if json.get("job").is_some() => {
            return Err(located(1, 1, "HCL-JSON job files ({\"job\": {…}}) are not supported; use the API form {\"Job\": {…}} or HCL".to_owned()));
        }
        None => &json,
    };
    let Some(obj) = job.as_object() else {
        return Err(located(
            1,
            1,
            "expected a job object, {\"Job\": {…}}".to_owned(),
        ));
    };
    let id = obj
        .get("ID")
        .and_then(serde_json::Value::as_str)
        .or_else(|| obj.get("Name").and_then(serde_json::Value::as_str))
        .ok_or_else(|| located(1, 1, "Job: missing ID (or Name), a string".to_owned()))?;
    let block = from_api::job_from_api(id, obj).map_err(|m| located(1, 1, format!("Job.{m}")))?;
    Ok(Job::from_block(block, file.display().to_string()))
}

/// Nanoseconds as a Go duration string (`90000000000` → `"1m30s"`).
pub(crate) fn format_duration(nanos: u64) -> String {
    if nanos == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    let mut rest = nanos;
    for (unit, size) in [
        ("h", 3_600_000_000_000u64),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
        ("ns", 1),
    ] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::schema::{camel, snake};
    use super::*;

    #[test]
    fn names_convert_both_ways() {
        for (s, c) in [
            ("parent_id", "ParentID"),
            ("all_at_once", "AllAtOnce"),
            ("tls_min_version", "TLSMinVersion"),
            ("nomad_token_id", "NomadTokenID"),
            ("memory_mb", "MemoryMB"),
        ] {
            assert_eq!(camel(s), c);
            assert_eq!(snake(c), s);
        }
    }

    #[test]
    fn durations_format_as_go_does_without_zero_units() {
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(10_000_000_000), "10s");
        assert_eq!(format_duration(90_000_000_000), "1m30s");
        assert_eq!(format_duration(3_600_000_000_000), "1h");
        assert_eq!(format_duration(1_500_000), "1ms500us");
    }
}
