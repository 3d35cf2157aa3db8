//! HCL (parsed by `rigging-mesh-hcl` with Consul's HCL1 leniency) into the value tree.

use hcl_edit::expr::{Expression, ObjectKey, UnaryOperator};
use hcl_edit::template::{Element, Template};
use hcl_edit::{Number, Span};
use rigging_mesh_hcl::{Body, Document, Location};

use super::{Member, Node, Val};

/// The whole file as one object: attributes and blocks in file order.
///
/// A labeled block `key "a" { … }` reads as HCL1 reads it: `key = { a = { … } }`.
pub(crate) fn from_hcl(doc: &Document) -> Node {
    body(doc, &doc.body())
}

fn body(doc: &Document, body: &Body<'_>) -> Node {
    let mut members: Vec<Member> = body
        .attrs()
        .into_iter()
        .map(|v| Member {
            key: v.name().to_owned(),
            key_at: v.key_location(),
            value: expr(doc, v.expr(), v.location()),
            block: false,
        })
        .collect();
    for block in body.all_blocks() {
        let mut value = self::body(doc, &block.body());
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

fn number(n: &Number, negative: bool) -> Val {
    let sign = if negative { "-" } else { "" };
    let int = n
        .as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
        .map(|i| if negative { -i } else { i });
    Val::Number {
        text: format!("{sign}{n}"),
        int,
    }
}

fn expr(doc: &Document, e: &Expression, here: Location) -> Node {
    let val = match e {
        Expression::Null(_) => Val::Null,
        Expression::Bool(b) => Val::Bool(*b.value()),
        Expression::Number(n) => number(n.value(), false),
        Expression::String(s) => Val::String(s.as_str().to_owned()),
        Expression::Array(a) => Val::List(
            a.iter()
                .map(|item| expr(doc, item, at(doc, item, &here)))
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
                    let value = expr(doc, v.expr(), at(doc, v.expr(), &key_at));
                    Member {
                        key,
                        key_at,
                        value,
                        block: false,
                    }
                })
                .collect(),
        ),
        Expression::Parenthesis(p) => return expr(doc, p.inner(), here),
        Expression::UnaryOp(op) => match (op.operator.value(), &op.expr) {
            (UnaryOperator::Neg, Expression::Number(n)) => number(n.value(), true),
            _ => Val::Other("an expression".to_owned()),
        },
        Expression::StringTemplate(t) => literal(t),
        Expression::HeredocTemplate(h) => literal(&h.template),
        Expression::Variable(v) => Val::Other(format!("the variable {}", v.as_str())),
        Expression::FuncCall(_) => Val::Other("a function call".to_owned()),
        _ => Val::Other("an expression".to_owned()),
    };
    Node { at: here, val }
}

/// A template without interpolations is a plain string: HCL1, which Consul uses, has no
/// templates, so `"$${x}"` is just text there.
fn literal(t: &Template) -> Val {
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
    Val::String(text)
}
