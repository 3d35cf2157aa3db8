//! Nomad API JSON into the job tree, so JSON jobs get the same views, validation and rendering.
//! `null` fields are dropped; names not in the table become `snake_case` attributes.

use serde_json::{Map, Value as Json};

use super::format_duration;
use super::schema::{IDENTITY, JOB, Kind, PORT, Schema, snake};
use crate::Value;
use crate::tree::{Attribute, Block, Item};

/// The `job "<id>"` block from the API job object; errors name the JSON path.
pub(crate) fn job_from_api(id: &str, obj: &Map<String, Json>) -> Result<Block, String> {
    let mut job = block("job", obj, &JOB, "")?;
    job.labels = vec![id.to_owned()];
    // Name equal to the ID is what jobspec2 fills in; leave it implicit
    if job.get_str("name") == Some(id) {
        job.remove_attr("name");
    }
    Ok(job)
}

fn block(
    ident: &str,
    obj: &Map<String, Json>,
    schema: &Schema,
    path: &str,
) -> Result<Block, String> {
    let mut out = Block::new(ident, &[]);
    if let Some(label_field) = schema.label {
        match obj.get(label_field) {
            Some(Json::String(s)) => out.labels.push(s.clone()),
            Some(Json::Null) | None => {}
            Some(other) => {
                return Err(format!(
                    "{path}{label_field}: expected a string, found {other}"
                ));
            }
        }
    }
    for (key, v) in obj {
        if v.is_null() || Some(key.as_str()) == schema.label {
            continue;
        }
        let here = format!("{path}{key}");
        let (hcl, kind) = match schema.by_api(key) {
            Some(f) => (f.hcl.to_owned(), f.kind),
            None if key == "ReservedPorts" && std::ptr::eq(schema, &super::schema::NETWORK) => {
                ("port".to_owned(), Kind::Ports)
            }
            None if key == "Identity" && std::ptr::eq(schema, &super::schema::TASK) => {
                ("identity".to_owned(), Kind::Identities)
            }
            None => (snake(key), Kind::Any),
        };
        match kind {
            Kind::One(s) => {
                let o = v
                    .as_object()
                    .ok_or_else(|| format!("{here}: expected an object"))?;
                out.push_block(block(&hcl, o, s, &format!("{here}."))?);
            }
            Kind::Many(s) => {
                for (i, x) in list(v, &here)?.iter().enumerate() {
                    let o = x
                        .as_object()
                        .ok_or_else(|| format!("{here}[{i}]: expected an object"))?;
                    out.push_block(block(&hcl, o, s, &format!("{here}[{i}]."))?);
                }
            }
            Kind::Keyed(s) => {
                let m = v
                    .as_object()
                    .ok_or_else(|| format!("{here}: expected an object"))?;
                for (k, x) in m {
                    let o = x
                        .as_object()
                        .ok_or_else(|| format!("{here}.{k}: expected an object"))?;
                    let mut b = block(&hcl, o, s, &format!("{here}.{k}."))?;
                    if b.labels.is_empty() {
                        b.labels.push(k.clone());
                    }
                    out.push_block(b);
                }
            }
            Kind::Map | Kind::StrMap => {
                let m = v
                    .as_object()
                    .ok_or_else(|| format!("{here}: expected an object"))?;
                let mut b = Block::new(&hcl, &[]);
                for (k, x) in m {
                    b.body.items.push(Item::Attribute(Attribute::new(
                        k.clone(),
                        Value::from_json(x),
                    )));
                }
                out.push_block(b);
            }
            Kind::Ports => {
                let reserved = key == "ReservedPorts";
                for (i, x) in list(v, &here)?.iter().enumerate() {
                    let o = x
                        .as_object()
                        .ok_or_else(|| format!("{here}[{i}]: expected an object"))?;
                    let mut p = block("port", o, &PORT, &format!("{here}[{i}]."))?;
                    if !reserved {
                        p.remove_attr("static");
                    }
                    out.push_block(p);
                }
            }
            Kind::Identities => {
                let items = if key == "Identity" {
                    vec![v.clone()]
                } else {
                    list(v, &here)?.to_vec()
                };
                for (i, x) in items.iter().enumerate() {
                    let o = x
                        .as_object()
                        .ok_or_else(|| format!("{here}[{i}]: expected an object"))?;
                    out.push_block(block("identity", o, &IDENTITY, &format!("{here}[{i}]."))?);
                }
            }
            Kind::Dur => {
                let value = match v.as_u64() {
                    Some(n) => Value::String(format_duration(n)),
                    None => Value::from_json(v),
                };
                out.body
                    .items
                    .push(Item::Attribute(Attribute::new(hcl, value)));
            }
            Kind::Any | Kind::Str | Kind::Int | Kind::Bool => {
                out.body
                    .items
                    .push(Item::Attribute(Attribute::new(hcl, Value::from_json(v))));
            }
        }
    }
    Ok(out)
}

fn list<'a>(v: &'a Json, path: &str) -> Result<&'a [Json], String> {
    v.as_array()
        .map(Vec::as_slice)
        .ok_or_else(|| format!("{path}: expected a list"))
}
