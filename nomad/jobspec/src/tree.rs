//! The generic job tree: ordered blocks and attributes with evaluated values and locations.
//!
//! Everything in a job file lands here, known to the mesh or not, so a job can be written
//! back out unchanged apart from what a caller edits.

use rigging_mesh_hcl::Location;

use crate::Value;

/// One attribute, `key = value`, with where it was written (`None` when added by code or read
/// from JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    /// The attribute name, verbatim (env and meta keys keep their case).
    pub key: String,
    /// The evaluated value.
    pub value: Value,
    /// Where the attribute was written.
    pub location: Option<Location>,
}

/// One block, `ident "label" … { body }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// The block type, such as `group` or `sidecar_service`.
    pub ident: String,
    /// The labels, such as the group name in `group "api"`.
    pub labels: Vec<String>,
    /// The attributes and nested blocks, in written order.
    pub body: Body,
    /// Where the block was written.
    pub location: Option<Location>,
}

/// An ordered mix of attributes and blocks.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Body {
    /// The items in written order.
    pub items: Vec<Item>,
}

/// One item of a body.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// `key = value`.
    Attribute(Attribute),
    /// `ident "label" { … }`.
    Block(Block),
}

impl Attribute {
    /// An attribute made by code, without a location.
    pub fn new(key: impl Into<String>, value: impl Into<Value>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
            location: None,
        }
    }
}

impl Block {
    /// A block made by code, without a location.
    pub fn new(ident: impl Into<String>, labels: &[&str]) -> Self {
        Self {
            ident: ident.into(),
            labels: labels.iter().map(|l| (*l).to_owned()).collect(),
            body: Body::default(),
            location: None,
        }
    }

    /// Builder form of [`Block::set`]: the block with `key = value` added.
    #[must_use]
    pub fn with_attr(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.set(key, value);
        self
    }

    /// Builder form of [`Block::push_block`]: the block with `child` appended.
    #[must_use]
    pub fn with_block(mut self, child: Block) -> Self {
        self.push_block(child);
        self
    }

    /// The first label, such as a group's or task's name.
    pub fn label(&self) -> Option<&str> {
        self.labels.first().map(String::as_str)
    }

    /// The attribute `key`, if present.
    pub fn attr(&self, key: &str) -> Option<&Attribute> {
        self.body.items.iter().find_map(|i| match i {
            Item::Attribute(a) if a.key == key => Some(a),
            _ => None,
        })
    }

    /// The value of attribute `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.attr(key).map(|a| &a.value)
    }

    /// The attribute `key` as a string (numbers and booleans spelled out).
    pub fn get_string(&self, key: &str) -> Option<String> {
        self.get(key).and_then(Value::to_string_lossless)
    }

    /// The attribute `key` as a string slice, when it is a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    /// The attribute `key` as a whole number (a number, or a string spelling one).
    pub fn get_i64(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(Value::as_i64)
    }

    /// The attribute `key` as a boolean.
    pub fn get_bool(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(Value::as_bool)
    }

    /// The attribute `key` as a list of strings (other elements are skipped).
    pub fn get_strings(&self, key: &str) -> Vec<String> {
        self.get(key)
            .and_then(Value::as_list)
            .map(|l| l.iter().filter_map(Value::to_string_lossless).collect())
            .unwrap_or_default()
    }

    /// A free-form map written either as a block (`env { K = "v" }`) or as an attribute
    /// (`env = { K = "v" }`), as its entries; keys verbatim.
    pub fn get_map(&self, key: &str) -> Option<Vec<(&str, &Value)>> {
        if let Some(b) = self.block(key) {
            return Some(b.attributes().map(|a| (a.key.as_str(), &a.value)).collect());
        }
        self.get(key)
            .and_then(Value::as_object)
            .map(|o| o.iter().map(|(k, v)| (k.as_str(), v)).collect())
    }

    /// Sets attribute `key`, replacing its value in place (keeping its position) or appending.
    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        let value = value.into();
        match self.attr_mut(key) {
            Some(a) => a.value = value,
            None => self
                .body
                .items
                .push(Item::Attribute(Attribute::new(key, value))),
        }
    }

    /// The attribute `key`, to edit.
    pub fn attr_mut(&mut self, key: &str) -> Option<&mut Attribute> {
        self.body.items.iter_mut().find_map(|i| match i {
            Item::Attribute(a) if a.key == key => Some(a),
            _ => None,
        })
    }

    /// Removes attribute `key`, returning it.
    pub fn remove_attr(&mut self, key: &str) -> Option<Attribute> {
        let pos = self
            .body
            .items
            .iter()
            .position(|i| matches!(i, Item::Attribute(a) if a.key == key))?;
        match self.body.items.remove(pos) {
            Item::Attribute(a) => Some(a),
            Item::Block(_) => None,
        }
    }

    /// Every attribute, in order.
    pub fn attributes(&self) -> impl Iterator<Item = &Attribute> {
        self.body.items.iter().filter_map(|i| match i {
            Item::Attribute(a) => Some(a),
            Item::Block(_) => None,
        })
    }

    /// Every nested block, in order.
    pub fn all_blocks(&self) -> impl Iterator<Item = &Block> {
        self.body.items.iter().filter_map(|i| match i {
            Item::Block(b) => Some(b),
            Item::Attribute(_) => None,
        })
    }

    /// The nested blocks of type `ident`, in order.
    pub fn blocks<'a>(&'a self, ident: &'a str) -> impl Iterator<Item = &'a Block> + 'a {
        self.all_blocks().filter(move |b| b.ident == ident)
    }

    /// The nested blocks of type `ident`, to edit.
    pub fn blocks_mut<'a>(
        &'a mut self,
        ident: &'a str,
    ) -> impl Iterator<Item = &'a mut Block> + 'a {
        self.body.items.iter_mut().filter_map(move |i| match i {
            Item::Block(b) if b.ident == ident => Some(b),
            _ => None,
        })
    }

    /// The first nested block of type `ident`.
    pub fn block(&self, ident: &str) -> Option<&Block> {
        self.all_blocks().find(|b| b.ident == ident)
    }

    /// The first nested block of type `ident`, to edit.
    pub fn block_mut(&mut self, ident: &str) -> Option<&mut Block> {
        self.body.items.iter_mut().find_map(|i| match i {
            Item::Block(b) if b.ident == ident => Some(b),
            _ => None,
        })
    }

    /// The nested block of type `ident` whose first label is `label`.
    pub fn labeled(&self, ident: &str, label: &str) -> Option<&Block> {
        self.all_blocks()
            .find(|b| b.ident == ident && b.label() == Some(label))
    }

    /// The nested block of type `ident` whose first label is `label`, to edit.
    pub fn labeled_mut(&mut self, ident: &str, label: &str) -> Option<&mut Block> {
        self.body.items.iter_mut().find_map(|i| match i {
            Item::Block(b) if b.ident == ident && b.label() == Some(label) => Some(b),
            _ => None,
        })
    }

    /// The first nested block of type `ident`, created (appended, empty) when absent.
    pub fn block_or_insert(&mut self, ident: &str) -> &mut Block {
        let pos = self
            .body
            .items
            .iter()
            .position(|i| matches!(i, Item::Block(b) if b.ident == ident));
        let pos = match pos {
            Some(p) => p,
            None => {
                self.body.items.push(Item::Block(Block::new(ident, &[])));
                self.body.items.len() - 1
            }
        };
        match &mut self.body.items[pos] {
            Item::Block(b) => b,
            Item::Attribute(_) => unreachable!("position() matched a block"),
        }
    }

    /// Appends a nested block after the existing items.
    pub fn push_block(&mut self, child: Block) {
        self.body.items.push(Item::Block(child));
    }

    /// Replaces the first nested block with `child`'s type and first label (keeping its
    /// position), or appends `child` when there is none; returns the old block.
    pub fn replace_block(&mut self, child: Block) -> Option<Block> {
        let pos = self.body.items.iter().position(
            |i| matches!(i, Item::Block(b) if b.ident == child.ident && b.label() == child.label()),
        );
        match pos {
            Some(p) => match std::mem::replace(&mut self.body.items[p], Item::Block(child)) {
                Item::Block(old) => Some(old),
                Item::Attribute(_) => None,
            },
            None => {
                self.push_block(child);
                None
            }
        }
    }

    /// Removes every nested block of type `ident` for which `remove` returns true; returns them.
    pub fn remove_blocks_where(
        &mut self,
        ident: &str,
        mut remove: impl FnMut(&Block) -> bool,
    ) -> Vec<Block> {
        let mut removed = Vec::new();
        let mut kept = Vec::with_capacity(self.body.items.len());
        for item in std::mem::take(&mut self.body.items) {
            match item {
                Item::Block(b) if b.ident == ident && remove(&b) => removed.push(b),
                other => kept.push(other),
            }
        }
        self.body.items = kept;
        removed
    }

    /// Removes every nested block of type `ident`; returns them.
    pub fn remove_blocks(&mut self, ident: &str) -> Vec<Block> {
        self.remove_blocks_where(ident, |_| true)
    }
}
