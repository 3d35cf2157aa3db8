//! Operators, and `for` expressions.

use hcl_edit::expr::{BinaryOp, BinaryOperator, ForExpr, UnaryOp, UnaryOperator};

use super::{EvalResult, Fail, Scope};
use crate::Value;

impl Scope<'_> {
    pub(super) fn unary(&mut self, op: &UnaryOp, at: usize) -> EvalResult {
        let v = self.eval(&op.expr, at)?;
        match (op.operator.value(), &v) {
            (UnaryOperator::Neg, _) => match v.as_f64() {
                Some(f) => Value::from_f64(-f)
                    .ok_or_else(|| self.error(&op.expr, at, "number out of range")),
                None => Err(self.error(
                    &op.expr,
                    at,
                    format!("- expects a number, found {}", v.type_name()),
                )),
            },
            (UnaryOperator::Not, _) => match v.as_bool() {
                Some(b) => Ok(Value::Bool(!b)),
                None => Err(self.error(
                    &op.expr,
                    at,
                    format!("! expects true or false, found {}", v.type_name()),
                )),
            },
        }
    }

    pub(super) fn binary(&mut self, op: &BinaryOp, at: usize) -> EvalResult {
        use BinaryOperator as B;
        let operator = *op.operator.value();
        let lhs = self.eval(&op.lhs_expr, at)?;
        // && and || need both sides in HCL (no short circuit), like cty
        let rhs = self.eval(&op.rhs_expr, at)?;
        let num = |s: &Self, v: &Value, e| {
            v.as_f64().ok_or_else(|| {
                s.error(
                    e,
                    at,
                    format!(
                        "operator {} expects a number, found {}",
                        operator.as_str(),
                        v.type_name()
                    ),
                )
            })
        };
        let boolean = |s: &Self, v: &Value, e| {
            v.as_bool().ok_or_else(|| {
                s.error(
                    e,
                    at,
                    format!(
                        "operator {} expects true or false, found {}",
                        operator.as_str(),
                        v.type_name()
                    ),
                )
            })
        };
        let (l, r) = (&op.lhs_expr, &op.rhs_expr);
        let out = match operator {
            B::Eq => Value::Bool(equal(&lhs, &rhs)),
            B::NotEq => Value::Bool(!equal(&lhs, &rhs)),
            B::And => Value::Bool(boolean(self, &lhs, l)? && boolean(self, &rhs, r)?),
            B::Or => Value::Bool(boolean(self, &lhs, l)? || boolean(self, &rhs, r)?),
            B::Less => Value::Bool(num(self, &lhs, l)? < num(self, &rhs, r)?),
            B::LessEq => Value::Bool(num(self, &lhs, l)? <= num(self, &rhs, r)?),
            B::Greater => Value::Bool(num(self, &lhs, l)? > num(self, &rhs, r)?),
            B::GreaterEq => Value::Bool(num(self, &lhs, l)? >= num(self, &rhs, r)?),
            B::Plus | B::Minus | B::Mul | B::Div | B::Mod => {
                let (a, b) = (num(self, &lhs, l)?, num(self, &rhs, r)?);
                let f = match operator {
                    B::Plus => a + b,
                    B::Minus => a - b,
                    B::Mul => a * b,
                    B::Div if b == 0.0 => {
                        return Err(self.error(r, at, "division by zero"));
                    }
                    B::Div => a / b,
                    _ if b == 0.0 => return Err(self.error(r, at, "modulo by zero")),
                    _ => a % b,
                };
                Value::from_f64(f).ok_or_else(|| self.error(l, at, "number out of range"))?
            }
        };
        Ok(out)
    }

    pub(super) fn for_expr(&mut self, f: &ForExpr, at: usize) -> EvalResult {
        let coll = self.eval(&f.intro.collection_expr, at)?;
        let pairs: Vec<(Value, Value)> = match coll {
            Value::List(l) => l
                .into_iter()
                .enumerate()
                .map(|(i, v)| (Value::int(i64::try_from(i).unwrap_or(i64::MAX)), v))
                .collect(),
            Value::Object(o) => o.into_iter().map(|(k, v)| (Value::String(k), v)).collect(),
            other => {
                return Err(self.error(
                    &f.intro.collection_expr,
                    at,
                    format!("for expects a list or map, found {}", other.type_name()),
                ));
            }
        };
        let key_var = f.intro.key_var.as_ref().map(|k| k.as_str().to_owned());
        let value_var = f.intro.value_var.as_str().to_owned();
        let mut list = Vec::new();
        let mut object = Value::Object(Vec::new());
        for (k, v) in pairs {
            let depth = self.bound.len();
            if let Some(kv) = &key_var {
                self.bound.push((kv.clone(), k));
            }
            self.bound.push((value_var.clone(), v));
            let r = self.for_item(f, at, &mut list, &mut object);
            self.bound.truncate(depth);
            r?;
        }
        Ok(if f.key_expr.is_some() {
            object
        } else {
            Value::List(list)
        })
    }

    fn for_item(
        &mut self,
        f: &ForExpr,
        at: usize,
        list: &mut Vec<Value>,
        object: &mut Value,
    ) -> Result<(), Fail> {
        if let Some(cond) = &f.cond {
            let keep = self.eval(&cond.expr, at)?;
            match keep.as_bool() {
                Some(true) => {}
                Some(false) => return Ok(()),
                None => {
                    return Err(self.error(
                        &cond.expr,
                        at,
                        format!(
                            "for condition must be true or false, found {}",
                            keep.type_name()
                        ),
                    ));
                }
            }
        }
        let value = self.eval(&f.value_expr, at)?;
        let Some(key_expr) = &f.key_expr else {
            list.push(value);
            return Ok(());
        };
        let key = self.eval(key_expr, at)?;
        let key = key.to_string_lossless().ok_or_else(|| {
            self.error(
                key_expr,
                at,
                format!("for key must be a string, found {}", key.type_name()),
            )
        })?;
        if f.grouping {
            match object
                .as_object()
                .and_then(|o| o.iter().find(|(k, _)| *k == key))
            {
                Some((_, Value::List(existing))) => {
                    let mut grown = existing.clone();
                    grown.push(value);
                    object.insert(key, Value::List(grown));
                }
                _ => object.insert(key, Value::List(vec![value])),
            }
        } else if object.get(&key).is_some() {
            return Err(self.error(
                key_expr,
                at,
                format!("duplicate key {key:?} in for expression; add ... to group values"),
            ));
        } else {
            object.insert(key, value);
        }
        Ok(())
    }
}

/// HCL equality: same type and value; whole numbers equal regardless of representation.
pub(crate) fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}
