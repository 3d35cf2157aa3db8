//! The plan diff of the fake, in the shape of Nomad's `JobDiff` (`api/jobs.go`), for the
//! fields a mesh job changes: the job's `Type` and `Priority`, a group's `Count` and
//! `Services`, a task's `Driver`, `Config`, `Env`, `Resources` and `Services`.
//!
//! As in Nomad, a change to a task's driver, config, env or resources replaces its
//! allocations ("create/destroy update"), a change to services alone updates them in place,
//! and a count change places or stops allocations.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::sched::count;

/// The `Diff` and `DesiredTGUpdates` of registering `new` over `old`.
pub(super) fn plan(old: Option<&Value>, new: &Value) -> (Value, Value) {
    let old_groups = groups(old);
    let new_groups = groups(Some(new));
    let mut group_diffs = Vec::new();
    let mut updates = serde_json::Map::new();
    let names: std::collections::BTreeSet<&str> = old_groups
        .keys()
        .chain(new_groups.keys())
        .copied()
        .collect();
    for name in names {
        let (diff, desired) = group(name, old_groups.get(name), new_groups.get(name));
        group_diffs.push(diff);
        updates.insert(name.to_owned(), desired);
    }
    let fields = match old {
        Some(old) => scalar_fields(old, new, &[("Priority", "50"), ("Type", "service")]),
        None => Vec::new(),
    };
    let edited = !fields.is_empty() || group_diffs.iter().any(|g| g["Type"] != "None");
    let job_type = match (old, edited) {
        (None, _) => "Added",
        (Some(_), true) => "Edited",
        (Some(_), false) => "None",
    };
    let diff = json!({
        "Type": job_type, "ID": new["ID"], "Fields": fields, "Objects": [],
        "TaskGroups": group_diffs,
    });
    (diff, Value::Object(updates))
}

fn groups(job: Option<&Value>) -> BTreeMap<&str, &Value> {
    job.and_then(|j| j["TaskGroups"].as_array())
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|g| (g["Name"].as_str().unwrap_or_default(), g))
        .collect()
}

fn tasks(group: Option<&Value>) -> BTreeMap<&str, &Value> {
    group
        .and_then(|g| g["Tasks"].as_array())
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|t| (t["Name"].as_str().unwrap_or_default(), t))
        .collect()
}

/// One group's diff and its `DesiredUpdates`.
fn group(name: &str, old: Option<&&Value>, new: Option<&&Value>) -> (Value, Value) {
    let (before, after) = (old.map_or(0, |g| count(g)), new.map_or(0, |g| count(g)));
    let old_tasks = tasks(old.copied());
    let new_tasks = tasks(new.copied());
    let names: std::collections::BTreeSet<&str> =
        old_tasks.keys().chain(new_tasks.keys()).copied().collect();
    let mut task_diffs = Vec::new();
    let (mut destructive, mut in_place) = (false, false);
    for task_name in names {
        let (diff, kind) = task(
            task_name,
            old_tasks.get(task_name),
            new_tasks.get(task_name),
        );
        destructive |= kind == Change::Destructive;
        in_place |= kind == Change::InPlace;
        task_diffs.push(diff);
    }
    let mut fields = Vec::new();
    let mut objects = Vec::new();
    if let (Some(o), Some(n)) = (old, new) {
        fields = scalar_fields(o, n, &[("Count", "1")]);
        if let Some(services) = object("Services", &o["Services"], &n["Services"]) {
            objects.push(services);
            in_place = true;
        }
    }
    let kept = before.min(after);
    let mut desired = json!({
        "Ignore": 0, "Place": after - kept, "Migrate": 0, "Stop": before - kept,
        "InPlaceUpdate": 0, "DestructiveUpdate": 0, "Canary": 0, "Preemptions": 0,
    });
    let slot = match (destructive, in_place) {
        (true, _) => "DestructiveUpdate",
        (false, true) => "InPlaceUpdate",
        (false, false) => "Ignore",
    };
    desired[slot] = json!(kept);
    let mut updates = serde_json::Map::new();
    for (key, label) in [
        ("Place", "create"),
        ("Stop", "destroy"),
        ("Ignore", "ignore"),
        ("InPlaceUpdate", "in-place update"),
        ("DestructiveUpdate", "create/destroy update"),
    ] {
        if desired[key].as_u64().unwrap_or(0) > 0 {
            updates.insert(label.to_owned(), desired[key].clone());
        }
    }
    let group_type = match (old, new) {
        (None, _) => "Added",
        (_, None) => "Deleted",
        _ if !fields.is_empty()
            || !objects.is_empty()
            || task_diffs.iter().any(|t| t["Type"] != "None") =>
        {
            "Edited"
        }
        _ => "None",
    };
    let diff = json!({
        "Type": group_type, "Name": name, "Fields": fields, "Objects": objects,
        "Tasks": task_diffs, "Updates": updates,
    });
    (diff, desired)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    None,
    InPlace,
    Destructive,
}

fn task(name: &str, old: Option<&&Value>, new: Option<&&Value>) -> (Value, Change) {
    let (kind, annotation, fields, objects) = match (old, new) {
        (None, _) => ("Added", Some("forces create"), vec![], vec![]),
        (_, None) => ("Deleted", Some("forces destroy"), vec![], vec![]),
        (Some(o), Some(n)) => {
            let fields = scalar_fields(o, n, &[("Driver", "")]);
            let mut destructive_objects: Vec<Value> = ["Config", "Env", "Resources"]
                .iter()
                .filter_map(|key| object(key, &o[key], &n[key]))
                .collect();
            let services = object("Services", &o["Services"], &n["Services"]);
            let destructive = !fields.is_empty() || !destructive_objects.is_empty();
            let annotation = match (destructive, &services) {
                (true, _) => Some("forces create/destroy update"),
                (false, Some(_)) => Some("forces in-place update"),
                (false, None) => None,
            };
            destructive_objects.extend(services);
            let kind = if annotation.is_some() {
                "Edited"
            } else {
                "None"
            };
            (kind, annotation, fields, destructive_objects)
        }
    };
    let change = match annotation {
        Some("forces create/destroy update") | Some("forces create") | Some("forces destroy") => {
            Change::Destructive
        }
        Some(_) => Change::InPlace,
        None => Change::None,
    };
    let diff = json!({
        "Type": kind, "Name": name, "Fields": fields, "Objects": objects,
        "Annotations": annotation.map(|a| vec![a]),
    });
    (diff, change)
}

/// Field diffs of scalar `keys` (with the default Nomad fills in for `null`) that differ.
fn scalar_fields(old: &Value, new: &Value, keys: &[(&str, &str)]) -> Vec<Value> {
    keys.iter()
        .filter_map(|(key, default)| {
            let (o, n) = (scalar(&old[*key], default), scalar(&new[*key], default));
            (o != n).then(|| field(key, "Edited", &o, &n))
        })
        .collect()
}

/// The `ObjectDiff` of a block, its leaves flattened as Nomad's flatmap does, or `None` when
/// equal. Unchanged leaves of an edited block are listed with type `None`, as Nomad does.
fn object(name: &str, old: &Value, new: &Value) -> Option<Value> {
    if old == new || (old.is_null() && new.as_object().is_some_and(|o| o.is_empty())) {
        return None;
    }
    let (mut o, mut n) = (BTreeMap::new(), BTreeMap::new());
    flatten("", old, &mut o);
    flatten("", new, &mut n);
    if o == n {
        return None;
    }
    let keys: std::collections::BTreeSet<&String> = o.keys().chain(n.keys()).collect();
    let fields: Vec<Value> = keys
        .into_iter()
        .map(|k| match (o.get(k), n.get(k)) {
            (None, Some(v)) => field(k, "Added", "", v),
            (Some(v), None) => field(k, "Deleted", v, ""),
            (Some(a), Some(b)) if a != b => field(k, "Edited", a, b),
            (Some(a), _) => field(k, "None", a, a),
            (None, None) => json!(null),
        })
        .collect();
    let kind = match (o.is_empty(), n.is_empty()) {
        (true, _) => "Added",
        (_, true) => "Deleted",
        _ => "Edited",
    };
    Some(json!({"Type": kind, "Name": name, "Fields": fields, "Objects": []}))
}

fn field(name: &str, kind: &str, old: &str, new: &str) -> Value {
    json!({"Type": kind, "Name": name, "Old": old, "New": new, "Annotations": null})
}

fn scalar(v: &Value, default: &str) -> String {
    match v {
        Value::Null => default.to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `image`, `ports[0]`, `labels[team]`: leaves by path; `null` leaves are left out.
fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    let key = |k: &str| match prefix {
        "" => k.to_owned(),
        p => format!("{p}[{k}]"),
    };
    match v {
        Value::Null => {}
        Value::Object(map) => map.iter().for_each(|(k, v)| flatten(&key(k), v, out)),
        Value::Array(list) => {
            for (i, v) in list.iter().enumerate() {
                flatten(&key(&i.to_string()), v, out);
            }
        }
        leaf => {
            out.insert(prefix.to_owned(), scalar(leaf, ""));
        }
    }
}
