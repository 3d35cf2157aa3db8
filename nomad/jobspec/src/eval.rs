//! Expression evaluation the way Nomad's jobspec2 does it: `var.*` and `local.*` resolve,
//! functions run, and any other root (`attr`, `meta`, `node`, `NOMAD_*`, `env`, …) is kept as
//! the runtime placeholder text `${…}` for the Nomad client to interpolate.

mod ops;
mod template;

use hcl_edit::Span;
use hcl_edit::expr::{Expression, ObjectKey, TraversalOperator};
use rigging_mesh_hcl::{Document, HclError};

use crate::Value;

/// Why an expression could not be evaluated.
#[derive(Debug)]
pub(crate) enum Fail {
    /// A real error, located.
    Error(HclError),
    /// `local.<name>` is not known yet; locals are evaluated again once it is.
    PendingLocal(String),
}

impl From<HclError> for Fail {
    fn from(e: HclError) -> Self {
        Fail::Error(e)
    }
}

pub(crate) use ops::equal;

pub(crate) type EvalResult = Result<Value, Fail>;

/// What names mean while evaluating: input variables, locals and names bound by `for`
/// expressions and `dynamic` iterators (innermost last).
#[derive(Debug)]
pub(crate) struct Scope<'a> {
    pub(crate) doc: &'a Document,
    pub(crate) vars: &'a Value,
    pub(crate) locals: &'a Value,
    /// True while locals are being resolved: an unknown `local.x` may just not be known yet.
    pub(crate) resolving_locals: bool,
    pub(crate) bound: Vec<(String, Value)>,
}

impl Scope<'_> {
    /// An error located at `expr` (or at `fallback` when it has no span).
    pub(crate) fn error(&self, expr: &Expression, fallback: usize, msg: impl Into<String>) -> Fail {
        let at = expr.span().map_or(fallback, |s| s.start);
        Fail::Error(HclError::new(self.doc.location(at), msg))
    }

    fn lookup_bound(&self, name: &str) -> Option<&Value> {
        self.bound
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// Whether `name` resolves to a value here (otherwise it is a runtime placeholder root).
    fn is_known_root(&self, name: &str) -> bool {
        name == "var" || name == "local" || self.lookup_bound(name).is_some()
    }

    /// Evaluates one expression; `at` is the byte offset errors fall back to.
    pub(crate) fn eval(&mut self, expr: &Expression, at: usize) -> EvalResult {
        let at = expr.span().map_or(at, |s| s.start);
        match expr {
            Expression::Null(_) => Ok(Value::Null),
            Expression::Bool(b) => Ok(Value::Bool(*b.value())),
            Expression::Number(n) => Ok(Value::Number(*n.value())),
            Expression::String(s) => Ok(Value::String(s.value().clone())),
            Expression::Array(a) => a
                .iter()
                .map(|e| self.eval(e, at))
                .collect::<Result<_, _>>()
                .map(Value::List),
            Expression::Object(o) => {
                let mut out = Value::Object(Vec::with_capacity(o.len()));
                for (k, v) in o.iter() {
                    let key = self.object_key(k, at)?;
                    let value = self.eval(v.expr(), at)?;
                    out.insert(key, value);
                }
                Ok(out)
            }
            Expression::StringTemplate(t) => self.template(t, at),
            Expression::HeredocTemplate(h) => self.template(&h.template, at),
            Expression::Parenthesis(p) => self.eval(p.inner(), at),
            Expression::Variable(v) => Ok(self.variable(v.as_str())),
            Expression::Traversal(t) => self.traversal(&t.expr, &t.operators, expr, at),
            Expression::FuncCall(call) => self.func_call(call, at),
            Expression::UnaryOp(op) => self.unary(op, at),
            Expression::BinaryOp(op) => self.binary(op, at),
            Expression::Conditional(c) => {
                let cond = self.eval(&c.cond_expr, at)?;
                match cond.as_bool() {
                    Some(true) => self.eval(&c.true_expr, at),
                    Some(false) => self.eval(&c.false_expr, at),
                    None => Err(self.error(
                        &c.cond_expr,
                        at,
                        format!(
                            "condition must be true or false, found {}",
                            cond.type_name()
                        ),
                    )),
                }
            }
            Expression::ForExpr(f) => self.for_expr(f, at),
        }
    }

    fn object_key(&mut self, key: &ObjectKey, at: usize) -> Result<String, Fail> {
        match key {
            ObjectKey::Ident(i) => Ok(i.as_str().to_owned()),
            ObjectKey::Expression(e) => {
                // `{ foo = 1 }` and `{ "foo" = 1 }` name the key; `(expr)` computes it
                let v = match e {
                    Expression::Variable(v) => Value::String(v.as_str().to_owned()),
                    other => self.eval(other, at)?,
                };
                v.to_string_lossless().ok_or_else(|| {
                    self.error(
                        e,
                        at,
                        format!("object key must be a string, found {}", v.type_name()),
                    )
                })
            }
        }
    }

    /// A bare name: bound by `for` or `dynamic`, `var`, `local`, or else a runtime placeholder.
    fn variable(&self, name: &str) -> Value {
        if let Some(v) = self.lookup_bound(name) {
            return v.clone();
        }
        match name {
            "var" => self.vars.clone(),
            "local" => self.locals.clone(),
            _ => Value::String(format!("${{{name}}}")),
        }
    }

    fn traversal(
        &mut self,
        root: &Expression,
        operators: &[hcl_edit::Decorated<TraversalOperator>],
        whole: &Expression,
        at: usize,
    ) -> EvalResult {
        if let Expression::Variable(v) = root
            && !self.is_known_root(v.as_str())
        {
            // Nomad's UnknownVariable hook: keep the reference as runtime interpolation text
            let mut text = v.as_str().to_owned();
            for op in operators {
                text.push_str(&self.operator_text(op));
            }
            return Ok(Value::String(format!("${{{text}}}")));
        }
        let mut value = self.eval(root, at)?;
        let mut path = match root {
            Expression::Variable(v) => v.as_str().to_owned(),
            _ => String::from("value"),
        };
        let mut ops = operators.iter();
        while let Some(op) = ops.next() {
            match &**op {
                TraversalOperator::GetAttr(name) => {
                    value = self.get_attr(&value, name.as_str(), &path, whole, at)?;
                    path = format!("{path}.{}", name.as_str());
                }
                TraversalOperator::LegacyIndex(i) => {
                    let idx = Value::Number((*i.value()).into());
                    value = self.index(&value, &idx, &path, whole, at)?;
                    path = format!("{path}.{}", i.value());
                }
                TraversalOperator::Index(e) => {
                    let idx = self.eval(e, at)?;
                    value = self.index(&value, &idx, &path, whole, at)?;
                    path = format!("{path}[{idx}]");
                }
                TraversalOperator::AttrSplat(_) | TraversalOperator::FullSplat(_) => {
                    let rest: Vec<_> = ops.by_ref().cloned().collect();
                    let items = match value {
                        Value::List(l) => l,
                        Value::Null => Vec::new(),
                        other => vec![other],
                    };
                    let mut out = Vec::with_capacity(items.len());
                    for item in items {
                        self.bound.push(("__splat".to_owned(), item));
                        let var = Expression::Variable(hcl_edit::Decorated::new(
                            hcl_edit::Ident::new("__splat"),
                        ));
                        let r = self.traversal(&var, &rest, whole, at);
                        self.bound.pop();
                        out.push(r?);
                    }
                    return Ok(Value::List(out));
                }
            }
        }
        Ok(value)
    }

    fn operator_text(&self, op: &TraversalOperator) -> String {
        match op {
            TraversalOperator::GetAttr(i) => format!(".{}", i.as_str()),
            TraversalOperator::LegacyIndex(i) => format!(".{}", i.value()),
            TraversalOperator::AttrSplat(_) => ".*".to_owned(),
            TraversalOperator::FullSplat(_) => "[*]".to_owned(),
            TraversalOperator::Index(e) => {
                let inner = match e {
                    Expression::Number(n) => n.value().to_string(),
                    Expression::String(s) => crate::render::quote(s.value()),
                    other => other
                        .span()
                        .and_then(|s| self.doc.text().get(s))
                        .unwrap_or("")
                        .trim()
                        .to_owned(),
                };
                format!("[{inner}]")
            }
        }
    }

    fn get_attr(
        &self,
        value: &Value,
        name: &str,
        path: &str,
        whole: &Expression,
        at: usize,
    ) -> EvalResult {
        match value {
            Value::Object(_) => match value.get(name) {
                Some(v) => Ok(v.clone()),
                None if path == "local" && self.resolving_locals => {
                    Err(Fail::PendingLocal(name.to_owned()))
                }
                None if path == "var" => Err(self.error(
                    whole,
                    at,
                    format!(
                        "unknown variable var.{name}: declare it with a variable \"{name}\" block"
                    ),
                )),
                None if path == "local" => Err(self.error(
                    whole,
                    at,
                    format!("unknown local value local.{name}: define it in a locals block"),
                )),
                None => Err(self.error(whole, at, format!("{path} has no attribute {name:?}"))),
            },
            other => Err(self.error(
                whole,
                at,
                format!(
                    "cannot read attribute {name:?} of {path}: expected an object, found {}",
                    other.type_name()
                ),
            )),
        }
    }

    fn index(
        &self,
        value: &Value,
        idx: &Value,
        path: &str,
        whole: &Expression,
        at: usize,
    ) -> EvalResult {
        match value {
            Value::List(l) => {
                let i = idx.as_i64().ok_or_else(|| {
                    self.error(
                        whole,
                        at,
                        format!(
                            "{path}: a list index must be a whole number, found {}",
                            idx.type_name()
                        ),
                    )
                })?;
                usize::try_from(i)
                    .ok()
                    .and_then(|i| l.get(i))
                    .cloned()
                    .ok_or_else(|| {
                        self.error(
                            whole,
                            at,
                            format!(
                                "{path}[{i}]: index out of range; the list has {} elements",
                                l.len()
                            ),
                        )
                    })
            }
            Value::Object(_) => {
                let key = idx.to_string_lossless().unwrap_or_default();
                self.get_attr(value, &key, path, whole, at)
            }
            other => Err(self.error(
                whole,
                at,
                format!(
                    "cannot index {path}: expected a list or map, found {}",
                    other.type_name()
                ),
            )),
        }
    }

    fn func_call(&mut self, call: &hcl_edit::expr::FuncCall, at: usize) -> EvalResult {
        let mut args = Vec::with_capacity(call.args.len());
        for a in call.args.iter() {
            args.push(self.eval(a, at)?);
        }
        if call.args.expand_final() {
            match args.pop() {
                Some(Value::List(l)) => args.extend(l),
                Some(other) => {
                    return Err(Fail::Error(HclError::new(
                        self.doc.location(at),
                        format!(
                            "the final argument before ... must be a list, found {}",
                            other.type_name()
                        ),
                    )));
                }
                None => {}
            }
        }
        let name = call.name.name.as_str();
        let site = call.name.name.span().map_or(at, |s| s.start);
        crate::functions::call(name, args).map_err(|msg| {
            Fail::Error(HclError::new(
                self.doc.location(site),
                format!("{name}(): {msg}"),
            ))
        })
    }
}
