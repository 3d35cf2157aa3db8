//! HCL2 job files, read as jobspec2 reads them: `variable`, `variables`, `locals` and one
//! `job` block at the top level; variables and locals applied; `dynamic` blocks expanded.

mod body;

use std::path::Path;

use hcl_edit::Span;
use hcl_edit::expr::Expression;
use hcl_edit::structure::{Block as RawBlock, Body as RawBody, Structure};
use rigging_mesh_hcl::{Document, HclError};

use crate::eval::{Fail, Scope};
use crate::variables::VarValue;
use crate::{Error, Job, Value, Variables};

/// A declared input variable.
struct Declared<'a> {
    name: String,
    block: &'a RawBlock,
    default: Option<&'a Expression>,
    type_text: Option<String>,
}

/// Parses an HCL2 job file.
pub(crate) fn parse_hcl(file: &Path, text: &str, given: &Variables) -> Result<Job, Error> {
    let doc = Document::parse(file, text)?;
    let raw = hcl_edit::parser::parse_body(doc.text())
        .map_err(|e| HclError::new(doc.location(0), e.message().to_owned()))?;
    let mut declared = Vec::new();
    let mut locals = Vec::new();
    let mut job: Option<&RawBlock> = None;
    for s in raw.iter() {
        let block = match s {
            Structure::Block(b) => b,
            Structure::Attribute(a) => {
                return Err(at(&doc, a.key.span(), format!(
                    "unexpected attribute {:?} at the top level; expected variable, variables, locals or job blocks",
                    a.key.as_str()
                )).into());
            }
        };
        let ident = block.ident.as_str();
        match ident {
            "variable" => declared.push(declare(&doc, block)?),
            "variables" => {
                for a in block.body.attributes() {
                    declared.push(Declared {
                        name: a.key.as_str().to_owned(),
                        block,
                        default: Some(&a.value),
                        type_text: None,
                    });
                }
            }
            "locals" => locals.extend(block.body.attributes()),
            "job" => {
                if let Some(first) = job {
                    let l = doc.location(first.ident.span().map_or(0, |s| s.start));
                    return Err(at(
                        &doc,
                        block.ident.span(),
                        format!(
                            "only one job block is allowed in a file; the first is at {}:{}",
                            l.line, l.column
                        ),
                    )
                    .into());
                }
                job = Some(block);
            }
            other => {
                return Err(at(&doc, block.ident.span(), format!(
                    "unsupported block type {other:?} at the top level; expected variable, variables, locals or job"
                )).into());
            }
        }
    }
    let Some(job) = job else {
        return Err(HclError::new(
            doc.location(0),
            "missing job block: a job file needs one job \"<id>\" { … } block",
        )
        .into());
    };
    let vars = variable_values(&doc, &declared, given)?;
    let locals = local_values(&doc, &vars, &locals)?;
    let mut scope = Scope {
        doc: &doc,
        vars: &vars,
        locals: &locals,
        resolving_locals: false,
        bound: Vec::new(),
    };
    let block = scope.block(job).map_err(fail_to_error)?;
    if block.labels.len() != 1 {
        return Err(at(
            &doc,
            job.ident.span(),
            "a job block needs exactly one label, the job ID: job \"<id>\" { … }",
        )
        .into());
    }
    Ok(Job::from_block(block, doc.file().display().to_string()))
}

pub(crate) fn at(
    doc: &Document,
    span: Option<std::ops::Range<usize>>,
    msg: impl Into<String>,
) -> HclError {
    HclError::new(doc.location(span.map_or(0, |s| s.start)), msg)
}

fn fail_to_error(f: Fail) -> Error {
    match f {
        Fail::Error(e) => Error::Hcl(e),
        Fail::PendingLocal(name) => Error::Variable {
            name,
            message: "local value is not defined".to_owned(),
        },
    }
}

fn declare<'a>(doc: &Document, block: &'a RawBlock) -> Result<Declared<'a>, HclError> {
    let [label] = block.labels.as_slice() else {
        return Err(at(
            doc,
            block.ident.span(),
            "a variable block needs exactly one label, its name: variable \"<name>\" { … }",
        ));
    };
    let body: &RawBody = &block.body;
    for a in body.attributes() {
        if !matches!(
            a.key.as_str(),
            "default" | "type" | "description" | "sensitive" | "nullable"
        ) {
            return Err(at(
                doc,
                a.key.span(),
                format!(
                    "unsupported argument {:?} in a variable block; expected default, type, description or sensitive",
                    a.key.as_str()
                ),
            ));
        }
    }
    let type_text = body.get_attribute("type").map(|a| {
        a.value
            .span()
            .and_then(|s| doc.text().get(s))
            .unwrap_or("any")
            .split_whitespace()
            .collect::<String>()
    });
    Ok(Declared {
        name: label.as_str().to_owned(),
        block,
        default: body.get_attribute("default").map(|a| &a.value),
        type_text,
    })
}

/// `var`: each declared variable's given value, or its default, converted to its type.
fn variable_values(
    doc: &Document,
    declared: &[Declared<'_>],
    given: &Variables,
) -> Result<Value, Error> {
    for (name, _) in given.entries() {
        if !declared.iter().any(|d| d.name == *name) {
            return Err(Error::Variable {
                name: name.clone(),
                message: "the job declares no such variable".to_owned(),
            });
        }
    }
    let (empty_a, empty_b) = (Value::Object(Vec::new()), Value::Object(Vec::new()));
    let mut scope = Scope {
        doc,
        vars: &empty_a,
        locals: &empty_b,
        resolving_locals: false,
        bound: Vec::new(),
    };
    let mut out = Value::Object(Vec::new());
    for d in declared {
        let ty = d.type_text.as_deref().unwrap_or("any");
        let given = given
            .entries()
            .iter()
            .find(|(n, _)| *n == d.name)
            .map(|(_, v)| v);
        let value = match (given, d.default) {
            (Some(VarValue::Typed(v)), _) => v.clone(),
            (Some(VarValue::Raw(text)), _) => {
                raw_value(text, ty).map_err(|message| Error::Variable {
                    name: d.name.clone(),
                    message,
                })?
            }
            (None, Some(e)) => scope.eval(e, 0).map_err(fail_to_error)?,
            (None, None) => {
                return Err(at(doc, d.block.ident.span(), format!(
                    "variable {:?} has no value: give it a default, or pass it with -var, a var file or {}{}",
                    d.name,
                    crate::variables::ENV_PREFIX,
                    d.name
                )).into());
            }
        };
        let value = convert(value, ty).map_err(|m| {
            at(
                doc,
                d.block.ident.span(),
                format!("variable {:?}: {m}", d.name),
            )
        })?;
        out.insert(d.name.clone(), value);
    }
    Ok(out)
}

/// A `-var` text as a value of type `ty`: strings as they are, anything else as HCL.
fn raw_value(text: &str, ty: &str) -> Result<Value, String> {
    if matches!(ty, "string" | "any") {
        return Ok(Value::String(text.to_owned()));
    }
    let doc = Document::parse("<-var>", format!("v = {text}\n")).map_err(|e| e.message)?;
    let body = hcl_edit::parser::parse_body(doc.text()).map_err(|e| e.message().to_owned())?;
    let expr = body
        .get_attribute("v")
        .map(|a| a.value.clone())
        .ok_or("expected a value")?;
    let (a, b) = (Value::Object(Vec::new()), Value::Object(Vec::new()));
    let mut scope = Scope {
        doc: &doc,
        vars: &a,
        locals: &b,
        resolving_locals: false,
        bound: Vec::new(),
    };
    scope.eval(&expr, 0).map_err(|f| match f {
        Fail::Error(e) => e.message,
        Fail::PendingLocal(l) => format!("cannot use local.{l} here"),
    })
}

/// Converts a value to a declared type the way HCL does for primitives; collections are
/// checked by kind only.
fn convert(v: Value, ty: &str) -> Result<Value, String> {
    let bad = |v: &Value| format!("expected a value of type {ty}, found {}", v.type_name());
    match ty {
        _ if matches!(v, Value::Null) => Ok(v),
        "string" => v
            .to_string_lossless()
            .map(Value::String)
            .ok_or_else(|| bad(&v)),
        "number" => v.as_f64().and_then(Value::from_f64).ok_or_else(|| bad(&v)),
        "bool" => v.as_bool().map(Value::Bool).ok_or_else(|| bad(&v)),
        t if t.starts_with("list") || t.starts_with("set") || t.starts_with("tuple") => {
            if matches!(v, Value::List(_)) {
                Ok(v)
            } else {
                Err(bad(&v))
            }
        }
        t if t.starts_with("map") || t.starts_with("object") => {
            if matches!(v, Value::Object(_)) {
                Ok(v)
            } else {
                Err(bad(&v))
            }
        }
        _ => Ok(v),
    }
}

/// `local`: every local value, resolved in dependency order (a local may use another
/// written after it); a cycle or an unknown local is an error at its reference.
fn local_values(
    doc: &Document,
    vars: &Value,
    raw: &[&hcl_edit::structure::Attribute],
) -> Result<Value, Error> {
    let mut done = Value::Object(Vec::new());
    let mut pending: Vec<&hcl_edit::structure::Attribute> = raw.to_vec();
    for a in raw {
        if raw
            .iter()
            .filter(|b| b.key.as_str() == a.key.as_str())
            .count()
            > 1
        {
            return Err(at(
                doc,
                a.key.span(),
                format!("local value {:?} is defined more than once", a.key.as_str()),
            )
            .into());
        }
    }
    while !pending.is_empty() {
        let before = pending.len();
        let mut still = Vec::new();
        for a in pending {
            let mut scope = Scope {
                doc,
                vars,
                locals: &done,
                resolving_locals: true,
                bound: Vec::new(),
            };
            let at_key = a.key.span().map_or(0, |s| s.start);
            match scope.eval(&a.value, at_key) {
                Ok(v) => done.insert(a.key.as_str(), v),
                Err(Fail::PendingLocal(_)) => still.push(a),
                Err(Fail::Error(e)) => return Err(e.into()),
            }
        }
        if still.len() == before {
            // no progress: evaluate the first again without deferral for a located error
            let mut scope = Scope {
                doc,
                vars,
                locals: &done,
                resolving_locals: false,
                bound: Vec::new(),
            };
            let a = still[0];
            let err = match scope.eval(&a.value, a.key.span().map_or(0, |s| s.start)) {
                Err(Fail::Error(e)) => HclError::new(
                    e.location,
                    format!(
                        "{} (locals may not refer to each other in a cycle)",
                        e.message
                    ),
                ),
                _ => at(
                    doc,
                    a.key.span(),
                    "local values refer to each other in a cycle",
                ),
            };
            return Err(err.into());
        }
        pending = still;
    }
    Ok(done)
}
