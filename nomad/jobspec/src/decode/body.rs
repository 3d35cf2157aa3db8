//! Block bodies into the job tree, with `dynamic` blocks expanded.

use hcl_edit::Span;
use hcl_edit::structure::{Block as RawBlock, BlockLabel, Body as RawBody, Structure};

use crate::Value;
use crate::eval::{Fail, Scope};
use crate::tree::{Attribute, Block, Body, Item};

impl Scope<'_> {
    /// One block, its body evaluated.
    pub(crate) fn block(&mut self, raw: &RawBlock) -> Result<Block, Fail> {
        let at = raw.ident.span().map_or(0, |s| s.start);
        Ok(Block {
            ident: raw.ident.as_str().to_owned(),
            labels: raw.labels.iter().map(label_text).collect(),
            body: self.body(&raw.body)?,
            location: Some(self.doc.location(at)),
        })
    }

    /// A body: attributes evaluated, nested blocks (and `dynamic` blocks) expanded, in order.
    pub(crate) fn body(&mut self, raw: &RawBody) -> Result<Body, Fail> {
        let mut items: Vec<Item> = Vec::with_capacity(raw.len());
        for s in raw.iter() {
            match s {
                Structure::Attribute(a) => {
                    let at = a.key.span().map_or(0, |s| s.start);
                    let key = a.key.as_str();
                    if let Some(first) = items.iter().find_map(|i| match i {
                        Item::Attribute(x) if x.key == key => x.location.clone(),
                        _ => None,
                    }) {
                        return Err(Fail::Error(rigging_mesh_hcl::HclError::new(
                            self.doc.location(at),
                            format!(
                                "attribute {key:?} is given more than once; the first is at line {}, column {}",
                                first.line, first.column
                            ),
                        )));
                    }
                    let value = self.eval(&a.value, at)?;
                    items.push(Item::Attribute(Attribute {
                        key: key.to_owned(),
                        value,
                        location: Some(self.doc.location(at)),
                    }));
                }
                Structure::Block(b) if b.ident.as_str() == "dynamic" => {
                    items.extend(self.dynamic(b)?.into_iter().map(Item::Block));
                }
                Structure::Block(b) => items.push(Item::Block(self.block(b)?)),
            }
        }
        Ok(Body { items })
    }

    /// `dynamic "<type>" { for_each, iterator, labels, content { … } }`: one `<type>` block
    /// per element of `for_each`, the iterator (named `iterator`, or `<type>`) bound to
    /// `{ key, value }` while `labels` and `content` are evaluated.
    fn dynamic(&mut self, raw: &RawBlock) -> Result<Vec<Block>, Fail> {
        let at = raw.ident.span().map_or(0, |s| s.start);
        let err = |s: &Self, at: usize, m: String| {
            Fail::Error(rigging_mesh_hcl::HclError::new(s.doc.location(at), m))
        };
        let [label] = raw.labels.as_slice() else {
            return Err(err(self, at, "a dynamic block needs exactly one label, the type of block to make: dynamic \"<type>\" { … }".into()));
        };
        let ident = label_text(label);
        let mut for_each = None;
        let mut iterator = ident.clone();
        let mut labels = None;
        let mut content = None;
        for s in raw.body.iter() {
            match s {
                Structure::Attribute(a) => {
                    let a_at = a.key.span().map_or(at, |s| s.start);
                    match a.key.as_str() {
                        "for_each" => for_each = Some((self.eval(&a.value, a_at)?, a_at)),
                        "iterator" => {
                            iterator = match &a.value {
                                hcl_edit::expr::Expression::Variable(v) => v.as_str().to_owned(),
                                other => self
                                    .eval(other, a_at)?
                                    .as_str()
                                    .map(str::to_owned)
                                    .ok_or_else(|| {
                                        err(self, a_at, "iterator must be a name".into())
                                    })?,
                            };
                        }
                        "labels" => labels = Some((&a.value, a_at)),
                        other => {
                            return Err(err(
                                self,
                                a_at,
                                format!(
                                    "unsupported argument {other:?} in a dynamic block; expected for_each, iterator, labels or content"
                                ),
                            ));
                        }
                    }
                }
                Structure::Block(b) if b.ident.as_str() == "content" => content = Some(b),
                Structure::Block(b) => {
                    let b_at = b.ident.span().map_or(at, |s| s.start);
                    return Err(err(
                        self,
                        b_at,
                        format!(
                            "unexpected block {:?} in a dynamic block; expected one content block",
                            b.ident.as_str()
                        ),
                    ));
                }
            }
        }
        let Some((for_each, fe_at)) = for_each else {
            return Err(err(
                self,
                at,
                format!("dynamic {ident:?}: missing for_each"),
            ));
        };
        let Some(content) = content else {
            return Err(err(
                self,
                at,
                format!("dynamic {ident:?}: missing content block"),
            ));
        };
        let pairs: Vec<(Value, Value)> = match for_each {
            Value::List(l) => l
                .into_iter()
                .enumerate()
                .map(|(i, v)| (Value::int(i64::try_from(i).unwrap_or(0)), v))
                .collect(),
            Value::Object(o) => o.into_iter().map(|(k, v)| (Value::String(k), v)).collect(),
            Value::Null => Vec::new(),
            other => {
                return Err(err(
                    self,
                    fe_at,
                    format!(
                        "for_each must be a list, set or map, found {}",
                        other.type_name()
                    ),
                ));
            }
        };
        let mut out = Vec::with_capacity(pairs.len());
        for (key, value) in pairs {
            let iter_value =
                Value::Object(vec![("key".to_owned(), key), ("value".to_owned(), value)]);
            self.bound.push((iterator.clone(), iter_value));
            let made = self.dynamic_one(&ident, labels, &content.body, at);
            self.bound.pop();
            out.push(made?);
        }
        Ok(out)
    }

    fn dynamic_one(
        &mut self,
        ident: &str,
        labels: Option<(&hcl_edit::expr::Expression, usize)>,
        content: &RawBody,
        at: usize,
    ) -> Result<Block, Fail> {
        let labels = match labels {
            None => Vec::new(),
            Some((expr, l_at)) => match self.eval(expr, l_at)? {
                Value::List(l) => l
                    .iter()
                    .map(|v| {
                        v.to_string_lossless().ok_or_else(|| {
                            Fail::Error(rigging_mesh_hcl::HclError::new(
                                self.doc.location(l_at),
                                "labels must be strings",
                            ))
                        })
                    })
                    .collect::<Result<_, _>>()?,
                other => {
                    return Err(Fail::Error(rigging_mesh_hcl::HclError::new(
                        self.doc.location(l_at),
                        format!(
                            "labels must be a list of strings, found {}",
                            other.type_name()
                        ),
                    )));
                }
            },
        };
        Ok(Block {
            ident: ident.to_owned(),
            labels,
            body: self.body(content)?,
            location: Some(self.doc.location(at)),
        })
    }
}

fn label_text(l: &BlockLabel) -> String {
    l.as_str().to_owned()
}
