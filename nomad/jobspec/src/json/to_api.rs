//! The job tree as Nomad API JSON.

use serde_json::{Map, Value as Json};

use super::schema::{GENERIC, IDENTITY, JOB, Kind, PORT, Schema, camel};
use crate::Value;
use crate::tree::Block;

/// The `Job` object of `{"Job": {…}}`.
pub(crate) fn job_to_api(job: &Block) -> Json {
    let mut obj = object(job, &JOB);
    if !obj.contains_key("Name")
        && let Some(id) = job.label()
    {
        obj.insert("Name".to_owned(), Json::from(id));
    }
    Json::Object(obj)
}

/// One block as an API object.
fn object(block: &Block, schema: &Schema) -> Map<String, Json> {
    let mut out = Map::new();
    if let (Some(field), Some(label)) = (schema.label, block.label()) {
        out.insert(field.to_owned(), Json::from(label));
    }
    for a in block.attributes() {
        let (api, kind) = field(schema, &a.key);
        out.insert(api, convert(&a.value, kind));
    }
    let mut seen: Vec<&str> = Vec::new();
    for b in block.all_blocks() {
        if seen.contains(&b.ident.as_str()) {
            continue;
        }
        seen.push(&b.ident);
        let (api, kind) = field(schema, &b.ident);
        let same: Vec<&Block> = block.blocks(&b.ident).collect();
        match kind {
            Kind::Ports => ports(&same, &mut out),
            Kind::Identities => identities(&same, &mut out),
            _ => {
                out.insert(api, blocks(&same, kind));
            }
        }
    }
    out
}

/// The API name and conversion of a jobspec name in `schema`, or the generic ones.
fn field(schema: &Schema, hcl: &str) -> (String, Kind) {
    match schema.by_hcl(hcl) {
        Some(f) => (f.api.to_owned(), f.kind),
        None => (camel(hcl), Kind::Any),
    }
}

/// Blocks of one type as the API field `kind` says.
fn blocks(same: &[&Block], kind: Kind) -> Json {
    match kind {
        Kind::Many(s) => Json::Array(same.iter().map(|b| Json::Object(object(b, s))).collect()),
        Kind::Keyed(s) => Json::Object(
            same.iter()
                .map(|b| {
                    (
                        b.label().unwrap_or_default().to_owned(),
                        Json::Object(object(b, s)),
                    )
                })
                .collect(),
        ),
        Kind::Map | Kind::StrMap => {
            let mut out = Map::new();
            for b in same {
                map_into(b, kind, &mut out);
            }
            Json::Object(out)
        }
        Kind::One(s) => same
            .last()
            .map_or(Json::Null, |b| Json::Object(object(b, s))),
        _ if same.len() == 1 => Json::Object(object(same[0], &GENERIC)),
        _ => Json::Array(
            same.iter()
                .map(|b| Json::Object(object(b, &GENERIC)))
                .collect(),
        ),
    }
}

/// A free-form map block (`config`, `env`, `meta`): keys verbatim; nested blocks become lists
/// of objects, as Nomad decodes them.
fn map_into(b: &Block, kind: Kind, out: &mut Map<String, Json>) {
    for a in b.attributes() {
        out.insert(a.key.clone(), convert(&a.value, kind));
    }
    for nested in b.all_blocks() {
        let mut inner = Map::new();
        map_into(nested, Kind::Map, &mut inner);
        let entry = out
            .entry(nested.ident.clone())
            .or_insert_with(|| Json::Array(Vec::new()));
        if let Json::Array(list) = entry {
            list.push(Json::Object(inner));
        }
    }
}

/// An attribute value as the API field wants it.
fn convert(v: &Value, kind: Kind) -> Json {
    match (kind, v) {
        (_, Value::Null) => Json::Null,
        (Kind::Str, _) => v
            .to_string_lossless()
            .map_or_else(|| v.to_json(), Json::from),
        (Kind::Int, Value::String(_)) => v.as_i64().map_or_else(|| v.to_json(), Json::from),
        (Kind::Bool, Value::String(_)) => v.as_bool().map_or_else(|| v.to_json(), Json::from),
        (Kind::Dur, Value::String(s)) => rigging_mesh_hcl::parse_duration(s)
            .ok()
            .and_then(|d| u64::try_from(d.as_nanos()).ok())
            .map_or_else(|| v.to_json(), Json::from),
        (Kind::StrMap, Value::Object(o)) => Json::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), convert(x, Kind::Str)))
                .collect(),
        ),
        _ => v.to_json(),
    }
}

/// `port "label" {}` blocks: a static port is reserved, any other dynamic (`Value` 0).
fn ports(same: &[&Block], out: &mut Map<String, Json>) {
    let (mut dynamic, mut reserved) = (Vec::new(), Vec::new());
    for b in same {
        let mut port = object(b, &PORT);
        let value = port.get("Value").and_then(Json::as_i64).unwrap_or(0);
        if value > 0 {
            reserved.push(Json::Object(port));
        } else {
            port.insert("Value".to_owned(), Json::from(0));
            dynamic.push(Json::Object(port));
        }
    }
    if !dynamic.is_empty() {
        out.insert("DynamicPorts".to_owned(), Json::Array(dynamic));
    }
    if !reserved.is_empty() {
        out.insert("ReservedPorts".to_owned(), Json::Array(reserved));
    }
}

/// `identity` blocks: the unnamed (or `default`) one is `Identity`, the rest `Identities`,
/// as jobspec2 sorts them.
fn identities(same: &[&Block], out: &mut Map<String, Json>) {
    let mut rest = Vec::new();
    let mut default_done = false;
    for b in same {
        let obj = Json::Object(object(b, &IDENTITY));
        let name = b.get_str("name").unwrap_or("");
        if !default_done && (name.is_empty() || name == "default") {
            out.insert("Identity".to_owned(), obj);
            default_done = true;
        } else {
            rest.push(obj);
        }
    }
    if !rest.is_empty() {
        out.insert("Identities".to_owned(), Json::Array(rest));
    }
}
