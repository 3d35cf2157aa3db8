//! A job document as Nomad's API takes it (the JSON of `nomad job run -json` or
//! `POST /v1/jobs/parse`), kept as JSON so no field is lost on the way.

use serde_json::Value;

use crate::JobError;

/// A Nomad job in its API JSON form (`{"ID": …, "TaskGroups": […]}`).
///
/// Nomad validates the job itself; this type only checks that it is an object, so Nomad's own
/// validation messages reach the user unchanged.
#[derive(Debug, Clone, PartialEq)]
pub struct Job(serde_json::Map<String, Value>);

impl Job {
    /// Reads a job from JSON text: a job object, or a register body `{"Job": {…}}`.
    pub fn from_json(text: &str) -> Result<Self, JobError> {
        Self::from_value(serde_json::from_str(text).map_err(JobError::Json)?)
    }

    /// As [`Job::from_json`], from a parsed value.
    pub fn from_value(value: Value) -> Result<Self, JobError> {
        let Value::Object(mut object) = value else {
            return Err(JobError::NotAnObject);
        };
        if object.len() == 1
            && let Some(inner) = object.remove("Job")
        {
            return match inner {
                Value::Object(job) => Ok(Self(job)),
                _ => Err(JobError::NotAnObject),
            };
        }
        Ok(Self(object))
    }

    /// The job's `ID`, if it has a non-empty one.
    pub fn id(&self) -> Option<&str> {
        self.str_field("ID")
    }

    /// The job's `Name`, else its `ID`.
    pub fn name(&self) -> Option<&str> {
        self.str_field("Name").or_else(|| self.id())
    }

    /// The job as JSON.
    pub fn as_json(&self) -> &serde_json::Map<String, Value> {
        &self.0
    }

    /// The job as JSON, to change before submitting it.
    pub fn as_json_mut(&mut self) -> &mut serde_json::Map<String, Value> {
        &mut self.0
    }

    fn str_field(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_and_wrapped() {
        let bare = Job::from_json(r#"{"ID": "web", "Name": "Web"}"#).expect("bare");
        assert_eq!((bare.id(), bare.name()), (Some("web"), Some("Web")));
        let wrapped = Job::from_json(r#"{"Job": {"ID": "web"}}"#).expect("wrapped");
        assert_eq!((wrapped.id(), wrapped.name()), (Some("web"), Some("web")));
        let no_id = Job::from_json(r#"{"Name": ""}"#).expect("no id");
        assert_eq!((no_id.id(), no_id.name()), (None, None));
    }

    #[test]
    fn not_a_job() {
        assert!(matches!(Job::from_json("[1]"), Err(JobError::NotAnObject)));
        assert!(matches!(
            Job::from_json(r#"{"Job": 3}"#),
            Err(JobError::NotAnObject)
        ));
        assert!(matches!(Job::from_json("{"), Err(JobError::Json(_))));
    }
}
