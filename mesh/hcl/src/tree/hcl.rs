//! HCL (parsed with Consul's HCL1 leniency, see [`Document`]) into the value tree.

use super::{Member, Node, Num, Val};
use crate::{Body, Document, Location};
use hcl_edit::expr::{Expression, ObjectKey, UnaryOperator};
use hcl_edit::template::{Element, Template};
use hcl_edit::{Number, Span};

/// How the text of an indented heredoc (`<<-EOT`) reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heredoc {
    /// As hcl-edit reads it: the lines' common leading whitespace removed.
    Dedented,
    /// Dedented, then each line stripped again of up to as many leading spaces as the
    /// first pass removed; config entries have always been read so.
    DedentedTwice,
}

/// The whole file as one object: attributes and blocks in file order.
///
/// A labeled block `Key "a" "b" { … }` reads as HCL1 reads it: `Key = { a = { b = { … } } }`.
pub fn from_hcl(doc: &Document, heredoc: Heredoc) -> Node {
    body(doc, &doc.body(), heredoc)
}

fn body(doc: &Document, body: &Body<'_>, heredoc: Heredoc) -> Node {
    let mut members: Vec<Member> = body
        .attrs()
        .into_iter()
        .map(|v| Member {
            key: v.name().to_owned(),
            key_at: v.key_location(),
            value: expr(doc, v.expr(), v.location(), heredoc),
            block: false,
        })
        .collect();
    for block in body.all_blocks() {
        let mut value = self::body(doc, &block.body(), heredoc);
        // labels nest from the innermost outwards: `K "a" "b" {}` is `K = { a = { b = {} } }`
        for label in block.labels().iter().rev() {
            value = Node {
                at: label.location().clone(),
                val: Val::Object(vec![Member {
                    key: label.as_str().to_owned(),
                    key_at: label.location().clone(),
                    value,
                    block: true,
                }]),
            };
        }
        members.push(Member {
            key: block.ident().to_owned(),
            key_at: block.location(),
            value,
            block: true,
        });
    }
    // attributes and blocks interleave in the file; keep file order for messages
    members.sort_by(|a, b| a.key_at.cmp(&b.key_at));
    Node {
        at: body.location(),
        val: Val::Object(members),
    }
}

/// Where a sub-expression starts, falling back to its parent's location.
fn at(doc: &Document, s: &impl Span, fallback: &Location) -> Location {
    s.span()
        .map_or_else(|| fallback.clone(), |r| doc.location(r.start))
}

fn number(n: &Number) -> Num {
    let text = n.to_string();
    if let Some(i) = n.as_i64() {
        Num::whole(i128::from(i), text)
    } else if let Some(u) = n.as_u64() {
        Num::whole(i128::from(u), text)
    } else {
        Num::fraction(n.as_f64().unwrap_or(f64::NAN), text)
    }
}

fn expr(doc: &Document, e: &Expression, here: Location, heredoc: Heredoc) -> Node {
    let val = match e {
        Expression::Null(_) => Val::Null,
        Expression::Bool(b) => Val::Bool(*b.value()),
        Expression::Number(n) => Val::Number(number(n.value())),
        Expression::String(s) => Val::String(s.as_str().to_owned()),
        Expression::Array(a) => Val::List(
            a.iter()
                .map(|item| expr(doc, item, at(doc, item, &here), heredoc))
                .collect(),
        ),
        Expression::Object(o) => Val::Object(
            o.iter()
                .map(|(k, v)| {
                    let key_at = at(doc, k, &here);
                    let key = match k {
                        ObjectKey::Ident(i) => i.as_str().to_owned(),
                        ObjectKey::Expression(Expression::String(s)) => s.as_str().to_owned(),
                        // an expression key cannot name a field; the decoder says so
                        ObjectKey::Expression(_) => "<expression>".to_owned(),
                    };
                    let value = expr(doc, v.expr(), at(doc, v.expr(), &key_at), heredoc);
                    Member {
                        key,
                        key_at,
                        value,
                        block: false,
                    }
                })
                .collect(),
        ),
        Expression::Parenthesis(p) => return expr(doc, p.inner(), here, heredoc),
        Expression::UnaryOp(op) => match (op.operator.value(), &op.expr) {
            (UnaryOperator::Neg, Expression::Number(n)) => Val::Number(number(n.value()).negated()),
            _ => Val::Other("an expression".to_owned()),
        },
        Expression::StringTemplate(t) => literal(t, None),
        Expression::HeredocTemplate(h) => match heredoc {
            Heredoc::Dedented => literal(&h.template, None),
            Heredoc::DedentedTwice => literal(&h.template, h.indent()),
        },
        Expression::Variable(v) => Val::Other(format!("the variable {}", v.as_str())),
        Expression::FuncCall(_) => Val::Other("a function call".to_owned()),
        _ => Val::Other("an expression".to_owned()),
    };
    Node { at: here, val }
}

/// A template without interpolations or directives is a plain string (HCL1 has no
/// templates, so a Consul file's `"$${x}"` or heredoc is just text); `indent` is how many
/// leading spaces to strip from each line.
fn literal(t: &Template, indent: Option<usize>) -> Val {
    let mut text = String::new();
    for element in t.iter() {
        match element {
            Element::Literal(s) => text.push_str(s.value()),
            Element::Interpolation(_) | Element::Directive(_) => {
                return Val::Other(
                    "a string template (interpolation is not supported here)".to_owned(),
                );
            }
        }
    }
    if let Some(n) = indent {
        text = text
            .split_inclusive('\n')
            .map(|line| {
                let strip = line.len() - line.trim_start_matches(' ').len();
                &line[strip.min(n)..]
            })
            .collect();
    }
    Val::String(text)
}
