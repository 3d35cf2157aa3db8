//! Typed getters on one attribute value, each failing with a located "expected …, found …".

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

use hcl_edit::Span;
use hcl_edit::expr::{Expression, UnaryOperator};

use crate::{Body, Document, HclError, Location, parse_duration};

/// The value of one attribute (or object key), with its name for messages.
#[derive(Clone, Copy)]
pub struct Value<'a> {
    doc: &'a Document,
    name: &'a str,
    expr: &'a Expression,
    /// Where the attribute starts, for values without a span of their own.
    at: usize,
}

impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Value")
            .field("name", &self.name)
            .field("at", &self.location())
            .finish_non_exhaustive()
    }
}

/// How a value reads in "found …": literals as written, other expressions by kind.
fn describe(expr: &Expression) -> String {
    match expr {
        Expression::Null(_) => "null".to_owned(),
        Expression::Bool(b) => b.value().to_string(),
        Expression::Number(n) => n.value().to_string(),
        Expression::String(s) => format!("{:?}", s.as_str()),
        Expression::Array(_) => "a list".to_owned(),
        Expression::Object(_) => "an object".to_owned(),
        Expression::StringTemplate(_) | Expression::HeredocTemplate(_) => {
            "a string template (interpolation is not supported here)".to_owned()
        }
        Expression::Variable(v) => format!("the variable {}", v.as_str()),
        Expression::FuncCall(_) => "a function call".to_owned(),
        Expression::UnaryOp(op) => match (op.operator.value(), &op.expr) {
            (UnaryOperator::Neg, Expression::Number(n)) => format!("-{}", n.value()),
            _ => "an expression".to_owned(),
        },
        Expression::Parenthesis(p) => describe(p.inner()),
        _ => "an expression".to_owned(),
    }
}

impl<'a> Value<'a> {
    pub(crate) fn new(doc: &'a Document, name: &'a str, expr: &'a Expression, at: usize) -> Self {
        Self {
            doc,
            name,
            expr,
            at,
        }
    }

    /// The attribute's name (or object key).
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The raw expression, for callers that need more than the getters offer.
    pub fn expr(&self) -> &'a Expression {
        self.expr
    }

    /// Where the value is written.
    pub fn location(&self) -> Location {
        self.doc
            .location(self.expr.span().map_or(self.at, |s| s.start))
    }

    /// Where the attribute's name (or the object key) is written, for errors about
    /// the key itself, such as "unknown key".
    pub fn key_location(&self) -> Location {
        self.doc.location(self.at)
    }

    /// An error at the value, prefixed with the attribute's name.
    pub fn error(&self, message: impl fmt::Display) -> HclError {
        HclError::new(self.location(), format!("{}: {message}", self.name))
    }

    fn expected(&self, what: &str) -> HclError {
        self.error(format_args!(
            "expected {what}, found {}",
            describe(self.expr)
        ))
    }

    /// A literal string (no interpolation).
    pub fn string(&self) -> Result<&'a str, HclError> {
        match self.expr {
            Expression::String(s) => Ok(s.as_str()),
            _ => Err(self.expected("a string")),
        }
    }

    pub fn bool(&self) -> Result<bool, HclError> {
        match self.expr {
            Expression::Bool(b) => Ok(*b.value()),
            _ => Err(self.expected("true or false")),
        }
    }

    /// A whole number within `range`.
    pub fn integer(&self, range: RangeInclusive<u64>) -> Result<u64, HclError> {
        let what = format!("a number from {} to {}", range.start(), range.end());
        match self.expr {
            Expression::Number(n) => match n.value().as_u64() {
                Some(v) if range.contains(&v) => Ok(v),
                _ => Err(self.expected(&what)),
            },
            _ => Err(self.expected(&what)),
        }
    }

    pub fn u16(&self) -> Result<u16, HclError> {
        let v = self.integer(0..=u64::from(u16::MAX))?;
        u16::try_from(v).map_err(|_| self.expected("a 16-bit number"))
    }

    pub fn u32(&self) -> Result<u32, HclError> {
        let v = self.integer(0..=u64::from(u32::MAX))?;
        u32::try_from(v).map_err(|_| self.expected("a 32-bit number"))
    }

    /// A TCP/UDP port: 1 to 65535 (0 means "any" to the OS, never what a file means).
    pub fn port(&self) -> Result<u16, HclError> {
        let v = self.integer(1..=u64::from(u16::MAX))?;
        u16::try_from(v).map_err(|_| self.expected("a port"))
    }

    /// A Go-style duration string: "5s", "150ms", "1m30s".
    pub fn duration(&self) -> Result<Duration, HclError> {
        let s = self
            .string()
            .map_err(|_| self.expected("a duration such as \"5s\", \"150ms\" or \"1m30s\""))?;
        parse_duration(s).map_err(|e| {
            self.error(format_args!(
                "expected a duration such as \"5s\", \"150ms\" or \"1m30s\", found {s:?}: {e}"
            ))
        })
    }

    /// An IPv4 or IPv6 address (no host names).
    pub fn ip_addr(&self) -> Result<IpAddr, HclError> {
        let s = self.string().map_err(|_| self.expected("an IP address"))?;
        s.parse()
            .map_err(|_| self.expected("an IP address such as \"127.0.0.1\" or \"::1\""))
    }

    /// A string parsed with `FromStr`; the parse error becomes the message.
    pub fn parse<T>(&self) -> Result<T, HclError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.string()?.parse().map_err(|e: T::Err| self.error(e))
    }

    /// An object, to walk like a block body.
    pub fn object(&self) -> Result<Body<'a>, HclError> {
        match self.expr {
            Expression::Object(o) => Ok(Body::object(self.doc, o, self.at)),
            _ => Err(self.expected("an object { … }")),
        }
    }

    /// A list, each element a value named `name[i]`-less (errors name the list).
    pub fn array(&self) -> Result<Vec<Value<'a>>, HclError> {
        match self.expr {
            Expression::Array(a) => Ok(a
                .iter()
                .map(|e| Value::new(self.doc, self.name, e, self.at))
                .collect()),
            _ => Err(self.expected("a list [ … ]")),
        }
    }

    /// A list of literal strings.
    pub fn strings(&self) -> Result<Vec<String>, HclError> {
        self.array()?
            .iter()
            .map(|v| v.string().map(str::to_owned))
            .collect()
    }

    /// An object whose values are all literal strings, such as `meta = { version = "v1" }`.
    pub fn string_map(&self) -> Result<BTreeMap<String, String>, HclError> {
        self.object()?.string_map()
    }
}

impl Body<'_> {
    /// Every attribute as a string, for free-form maps like `meta { version = "v1" }`;
    /// a key given twice is an error at its second occurrence.
    pub fn string_map(&self) -> Result<BTreeMap<String, String>, HclError> {
        let mut map = BTreeMap::new();
        for v in self.attrs() {
            let s = v.string()?.to_owned();
            if map.insert(v.name().to_owned(), s).is_some() {
                return Err(v.error("key is given more than once"));
            }
        }
        Ok(map)
    }
}
