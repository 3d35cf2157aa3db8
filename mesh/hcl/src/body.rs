//! Cursors over bodies and blocks: find attributes and blocks, reject unknown ones.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use hcl_edit::Span;
use hcl_edit::expr::{Expression, Object, ObjectKey};
use hcl_edit::structure::{self, Structure};

use crate::{Document, HclError, Location, Value};

/// A set of attributes (and, for a block body, nested blocks): a block's body, the
/// file's top level, or an object expression written `name = { … }`.
///
/// Consul files write nested objects both ways (`meta { … }` and `meta = { … }`);
/// [`Body::nested`] accepts either, so callers decode both with the same code.
#[derive(Clone, Copy)]
pub struct Body<'a> {
    doc: &'a Document,
    inner: Inner<'a>,
    /// Byte offset of the owner (block, object or file start), where "missing" errors point.
    at: usize,
}

#[derive(Clone, Copy)]
enum Inner<'a> {
    Body(&'a structure::Body),
    Object(&'a Object),
}

/// A block: `ident "label" … { body }`.
#[derive(Clone, Copy)]
pub struct Block<'a> {
    doc: &'a Document,
    block: &'a structure::Block,
}

/// A block label, with where it was written.
#[derive(Clone)]
pub struct Label<'a> {
    text: &'a str,
    location: Location,
}

impl fmt::Debug for Body<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Body")
            .field("at", &self.location())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Block<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Block")
            .field("ident", &self.ident())
            .field("at", &self.location())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Label<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Label({:?} at {})", self.text, self.location)
    }
}

fn span_start(s: &impl Span) -> Option<usize> {
    s.span().map(|r| r.start)
}

/// The name an object key spells, if it is an identifier or a literal string.
fn key_name(key: &ObjectKey) -> Option<&str> {
    match key {
        ObjectKey::Ident(i) => Some(i.as_str()),
        ObjectKey::Expression(Expression::String(s)) => Some(s.as_str()),
        ObjectKey::Expression(_) => None,
    }
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

impl<'a> Body<'a> {
    pub(crate) fn top(doc: &'a Document, body: &'a structure::Body) -> Self {
        Self {
            doc,
            inner: Inner::Body(body),
            at: 0,
        }
    }

    pub(crate) fn object(doc: &'a Document, object: &'a Object, at: usize) -> Self {
        Self {
            doc,
            inner: Inner::Object(object),
            at: span_start(object).unwrap_or(at),
        }
    }

    /// Where this body's owner starts: the block, the object, or the file.
    pub fn location(&self) -> Location {
        self.doc.location(self.at)
    }

    /// An error located at this body's owner.
    pub fn error(&self, message: impl Into<String>) -> HclError {
        HclError::new(self.location(), message)
    }

    /// The attribute (or object key) `name`, if present.
    pub fn attr(&self, name: &str) -> Option<Value<'a>> {
        match self.inner {
            Inner::Body(body) => body.get_attribute(name).map(|a| {
                let at = span_start(a).unwrap_or(self.at);
                Value::new(self.doc, a.key.as_str(), &a.value, at)
            }),
            Inner::Object(object) => object.iter().find_map(|(k, v)| {
                let key = key_name(k).filter(|k| *k == name)?;
                let at = span_start(k).unwrap_or(self.at);
                Some(Value::new(self.doc, key, v.expr(), at))
            }),
        }
    }

    /// The attribute `name`, or an error at this body's owner saying it is missing.
    pub fn required(&self, name: &str) -> Result<Value<'a>, HclError> {
        self.attr(name)
            .ok_or_else(|| self.error(format!("missing required attribute {name:?}")))
    }

    /// Every block named `ident`, in file order (none in an object).
    pub fn blocks(&self, ident: &str) -> Vec<Block<'a>> {
        match self.inner {
            Inner::Body(body) => body
                .blocks()
                .filter(|b| b.has_ident(ident))
                .map(|block| Block {
                    doc: self.doc,
                    block,
                })
                .collect(),
            Inner::Object(_) => Vec::new(),
        }
    }

    /// Every block, whatever its identifier, in file order (none in an object); for
    /// callers that map a whole body generically, as Consul's HCL1 decoding does.
    pub fn all_blocks(&self) -> Vec<Block<'a>> {
        match self.inner {
            Inner::Body(body) => body
                .blocks()
                .map(|block| Block {
                    doc: self.doc,
                    block,
                })
                .collect(),
            Inner::Object(_) => Vec::new(),
        }
    }

    /// The block `ident` if present; an error at the second one if given twice.
    pub fn single_block(&self, ident: &str) -> Result<Option<Block<'a>>, HclError> {
        let mut blocks = self.blocks(ident).into_iter();
        let first = blocks.next();
        if let Some(second) = blocks.next() {
            return Err(second.error(format!(
                "block {ident:?} is given more than once; expected at most one"
            )));
        }
        Ok(first)
    }

    /// A nested object written either as an unlabeled block `name { … }` or as an
    /// attribute `name = { … }`; an error if both, twice, or not an object.
    pub fn nested(&self, name: &str) -> Result<Option<Body<'a>>, HclError> {
        let block = self.single_block(name)?;
        match (block, self.attr(name)) {
            (Some(block), Some(attr)) => {
                let later = if block.location() > attr.location() {
                    block.location()
                } else {
                    attr.location()
                };
                Err(HclError::new(
                    later,
                    format!("{name:?} is given both as a block and as an attribute; expected one"),
                ))
            }
            (Some(block), None) => {
                block.no_labels()?;
                Ok(Some(block.body()))
            }
            (None, Some(attr)) => attr.object().map(Some),
            (None, None) => Ok(None),
        }
    }

    /// Repeated nested objects: unlabeled blocks `name { … }` (any number), or an
    /// attribute `name = [{ … }, …]` (or a single `name = { … }`), not both.
    pub fn nested_list(&self, name: &str) -> Result<Vec<Body<'a>>, HclError> {
        let blocks = self.blocks(name);
        match (blocks.first(), self.attr(name)) {
            (Some(_), Some(attr)) => Err(attr.error(
                "is given both as blocks and as an attribute; expected one form".to_owned(),
            )),
            (_, Some(attr)) => match attr.expr() {
                Expression::Object(_) => attr.object().map(|b| vec![b]),
                _ => attr.array()?.iter().map(|v| v.object()).collect(),
            },
            (_, None) => blocks
                .iter()
                .map(|b| b.no_labels().map(|()| b.body()))
                .collect(),
        }
    }

    /// Rejects any attribute not in `attrs` and any block not in `blocks`, and any
    /// attribute given twice, each at its own location and listing what was expected.
    /// A name that may be written either way (see [`Body::nested`]) goes in both lists.
    pub fn deny_unknown(&self, attrs: &[&str], blocks: &[&str]) -> Result<(), HclError> {
        let unexpected = |kind: &str, name: &str| {
            format!(
                "unexpected {kind} {name:?}; expected attributes: {}; blocks: {}",
                list(attrs),
                list(blocks)
            )
        };
        let mut seen = BTreeSet::new();
        match self.inner {
            Inner::Body(body) => {
                for s in body.iter() {
                    match s {
                        Structure::Attribute(a) => {
                            let name = a.key.as_str();
                            if !attrs.contains(&name) {
                                return Err(self.doc.error_at(
                                    a.span(),
                                    self.at,
                                    unexpected("attribute", name),
                                ));
                            }
                            if !seen.insert(name) {
                                return Err(self.doc.error_at(
                                    a.span(),
                                    self.at,
                                    format!("attribute {name:?} is given more than once"),
                                ));
                            }
                        }
                        Structure::Block(b) => {
                            let name = b.ident.as_str();
                            if !blocks.contains(&name) {
                                return Err(self.doc.error_at(
                                    b.span(),
                                    self.at,
                                    unexpected("block", name),
                                ));
                            }
                        }
                    }
                }
            }
            Inner::Object(object) => {
                for (key, _) in object.iter() {
                    let Some(name) = key_name(key) else {
                        return Err(self.doc.error_at(
                            key.span(),
                            self.at,
                            format!(
                                "expected a literal key (one of: {}), found an expression",
                                list(attrs)
                            ),
                        ));
                    };
                    if !attrs.contains(&name) && !blocks.contains(&name) {
                        return Err(self.doc.error_at(
                            key.span(),
                            self.at,
                            unexpected("key", name),
                        ));
                    }
                    if !seen.insert(name) {
                        return Err(self.doc.error_at(
                            key.span(),
                            self.at,
                            format!("key {name:?} is given more than once"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Every attribute (or object key) in order, for callers that take free-form maps.
    pub fn attrs(&self) -> Vec<Value<'a>> {
        match self.inner {
            Inner::Body(body) => body
                .attributes()
                .map(|a| {
                    Value::new(
                        self.doc,
                        a.key.as_str(),
                        &a.value,
                        span_start(a).unwrap_or(self.at),
                    )
                })
                .collect(),
            Inner::Object(object) => object
                .iter()
                .filter_map(|(k, v)| {
                    let name = key_name(k)?;
                    Some(Value::new(
                        self.doc,
                        name,
                        v.expr(),
                        span_start(k).unwrap_or(self.at),
                    ))
                })
                .collect(),
        }
    }
}

impl<'a> Block<'a> {
    pub fn ident(&self) -> &'a str {
        self.block.ident.as_str()
    }

    /// Where the block's identifier is written.
    pub fn location(&self) -> Location {
        self.doc.location(span_start(self.block).unwrap_or(0))
    }

    /// An error located at the block's identifier.
    pub fn error(&self, message: impl Into<String>) -> HclError {
        HclError::new(self.location(), message)
    }

    pub fn body(&self) -> Body<'a> {
        Body {
            doc: self.doc,
            inner: Inner::Body(&self.block.body),
            at: span_start(self.block).unwrap_or(0),
        }
    }

    pub fn labels(&self) -> Vec<Label<'a>> {
        let fallback = span_start(self.block).unwrap_or(0);
        self.block
            .labels
            .iter()
            .map(|l| Label {
                text: l.as_str(),
                location: self.doc.location(span_start(l).unwrap_or(fallback)),
            })
            .collect()
    }

    /// Exactly as many labels as `what` names (`what` describes them for the error).
    pub fn labels_exact(&self, what: &[&str]) -> Result<Vec<Label<'a>>, HclError> {
        let labels = self.labels();
        if labels.len() == what.len() {
            return Ok(labels);
        }
        let at = labels
            .get(what.len())
            .map_or_else(|| self.location(), |l| l.location.clone());
        let shape: String = what.iter().map(|w| format!(" \"<{w}>\"")).collect();
        Err(HclError::new(
            at,
            format!(
                "block {:?} has {} label(s); expected {}: {}{shape} {{ … }}",
                self.ident(),
                labels.len(),
                what.len(),
                self.ident(),
            ),
        ))
    }

    /// The one label of a block like `service "api" { … }`; `what` names it for the error.
    pub fn label(&self, what: &str) -> Result<Label<'a>, HclError> {
        let mut labels = self.labels_exact(&[what])?;
        labels.pop().ok_or_else(|| self.error("missing label"))
    }

    /// An error unless the block has no labels.
    pub fn no_labels(&self) -> Result<(), HclError> {
        self.labels_exact(&[]).map(|_| ())
    }
}

impl<'a> Label<'a> {
    pub fn as_str(&self) -> &'a str {
        self.text
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    pub fn error(&self, message: impl Into<String>) -> HclError {
        HclError::new(self.location.clone(), message)
    }

    /// Parses the label with `FromStr`; the parse error becomes the message.
    pub fn parse<T>(&self) -> Result<T, HclError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.text
            .parse()
            .map_err(|e: T::Err| self.error(e.to_string()))
    }
}
