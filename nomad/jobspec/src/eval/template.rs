//! String templates and heredocs: interpolation, `%{if}` and `%{for}` directives, `~` strip markers.

use hcl_edit::template::{Directive, Element, Template};

use super::{EvalResult, Fail, Scope};
use crate::Value;

/// Output being built, with a pending "strip the leading blanks of the next literal".
#[derive(Default)]
struct Out {
    text: String,
    strip_next: bool,
}

impl Out {
    fn literal(&mut self, s: &str) {
        if std::mem::take(&mut self.strip_next) {
            self.text.push_str(s.trim_start());
        } else {
            self.text.push_str(s);
        }
    }

    fn value(&mut self, s: &str) {
        self.strip_next = false;
        self.text.push_str(s);
    }

    fn strip(&mut self, before: bool, after: bool) {
        if before {
            let keep = self.text.trim_end().len();
            self.text.truncate(keep);
        }
        if after {
            self.strip_next = true;
        }
    }
}

impl Scope<'_> {
    /// A template's value: a string, or, for a template that is a single interpolation
    /// (`"${var.list}"`), that value unconverted, as HCL does.
    pub(super) fn template(&mut self, t: &Template, at: usize) -> EvalResult {
        if let Some(Element::Interpolation(i)) = t.as_single_element() {
            return self.eval(&i.expr, at);
        }
        let mut out = Out::default();
        self.elements(t, at, &mut out)?;
        Ok(Value::String(out.text))
    }

    fn elements(&mut self, t: &Template, at: usize, out: &mut Out) -> Result<(), Fail> {
        for element in t.iter() {
            match element {
                Element::Literal(s) => out.literal(s.value()),
                Element::Interpolation(i) => {
                    out.strip(i.strip.strip_start(), false);
                    let v = self.eval(&i.expr, at)?;
                    let s = self.stringify(&v, &i.expr, at)?;
                    out.value(&s);
                    out.strip(false, i.strip.strip_end());
                }
                Element::Directive(dir) => match &**dir {
                    Directive::If(d) => {
                        out.strip(d.if_expr.strip.strip_start(), d.if_expr.strip.strip_end());
                        let cond = self.eval(&d.if_expr.cond_expr, at)?;
                        let Some(yes) = cond.as_bool() else {
                            return Err(self.error(
                                &d.if_expr.cond_expr,
                                at,
                                format!("%{{if}} needs true or false, found {}", cond.type_name()),
                            ));
                        };
                        if yes {
                            self.elements(&d.if_expr.template, at, out)?;
                        } else if let Some(e) = &d.else_expr {
                            out.strip(e.strip.strip_start(), e.strip.strip_end());
                            self.elements(&e.template, at, out)?;
                        }
                        let s = d.endif_expr.strip;
                        out.strip(s.strip_start(), s.strip_end());
                    }
                    Directive::For(d) => {
                        let f = &d.for_expr;
                        out.strip(f.strip.strip_start(), f.strip.strip_end());
                        let coll = self.eval(&f.collection_expr, at)?;
                        let pairs: Vec<(Value, Value)> = match coll {
                            Value::List(l) => l
                                .into_iter()
                                .enumerate()
                                .map(|(i, v)| (Value::int(i64::try_from(i).unwrap_or(0)), v))
                                .collect(),
                            Value::Object(o) => {
                                o.into_iter().map(|(k, v)| (Value::String(k), v)).collect()
                            }
                            other => {
                                return Err(self.error(
                                    &f.collection_expr,
                                    at,
                                    format!(
                                        "%{{for}} needs a list or map, found {}",
                                        other.type_name()
                                    ),
                                ));
                            }
                        };
                        for (k, v) in pairs {
                            let depth = self.bound.len();
                            if let Some(kv) = &f.key_var {
                                self.bound.push((kv.as_str().to_owned(), k));
                            }
                            self.bound.push((f.value_var.as_str().to_owned(), v));
                            let r = self.elements(&f.template, at, out);
                            self.bound.truncate(depth);
                            r?;
                        }
                        let s = d.endfor_expr.strip;
                        out.strip(s.strip_start(), s.strip_end());
                    }
                },
            }
        }
        Ok(())
    }

    /// A value inside a template, as text: strings, numbers and booleans only.
    fn stringify(
        &self,
        v: &Value,
        expr: &hcl_edit::expr::Expression,
        at: usize,
    ) -> Result<String, Fail> {
        v.to_string_lossless().ok_or_else(|| {
            self.error(
                expr,
                at,
                format!(
                    "cannot include a {} in a string template; expected a string, number or bool",
                    v.type_name()
                ),
            )
        })
    }
}
