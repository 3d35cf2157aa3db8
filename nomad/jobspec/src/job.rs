//! A parsed job: the `job` block as a tree, plus typed accessors for what the mesh reads.

use crate::tree::Block;
use crate::views::Group;

/// One Nomad job, evaluated: no variables left, runtime placeholders kept as text.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    block: Block,
    file: String,
}

impl Job {
    pub(crate) fn from_block(block: Block, file: String) -> Self {
        Self { block, file }
    }

    /// The file the job was read from (for messages).
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The job ID: the `job "<id>"` label.
    pub fn id(&self) -> &str {
        self.block.label().unwrap_or_default()
    }

    /// The job name: `name`, or the ID when unset (as jobspec2 fills it in).
    pub fn name(&self) -> String {
        self.block
            .get_string("name")
            .unwrap_or_else(|| self.id().to_owned())
    }

    /// `type`: `service`, `batch`, `system` or `sysbatch`; Nomad's default is `service`.
    pub fn job_type(&self) -> Option<&str> {
        self.block.get_str("type")
    }

    /// `datacenters`.
    pub fn datacenters(&self) -> Vec<String> {
        self.block.get_strings("datacenters")
    }

    /// `namespace`, when set in the file.
    pub fn namespace(&self) -> Option<&str> {
        self.block.get_str("namespace")
    }

    /// `region`, when set in the file.
    pub fn region(&self) -> Option<&str> {
        self.block.get_str("region")
    }

    /// The task groups, in order.
    pub fn groups(&self) -> Vec<Group<'_>> {
        self.block.blocks("group").map(Group::new).collect()
    }

    /// The task group named `name`.
    pub fn group(&self, name: &str) -> Option<Group<'_>> {
        self.block.labeled("group", name).map(Group::new)
    }

    /// The task group named `name`, to edit.
    pub fn group_mut(&mut self, name: &str) -> Option<&mut Block> {
        self.block.labeled_mut("group", name)
    }

    /// The whole `job` block.
    pub fn block(&self) -> &Block {
        &self.block
    }

    /// The whole `job` block, to edit.
    pub fn block_mut(&mut self) -> &mut Block {
        &mut self.block
    }

    /// The job as HCL2 text, variables already applied; see [`crate::parse`] for reading it back.
    pub fn to_hcl(&self) -> String {
        crate::render::render_block(&self.block)
    }

    /// The job as Nomad's API JSON, `{"Job": {…}}`, ready for `POST /v1/jobs`.
    pub fn to_api_json(&self) -> serde_json::Value {
        serde_json::json!({ "Job": crate::json::job_to_api(&self.block) })
    }

    /// Checks the rules Nomad applies that concern the mesh; see [`crate::ValidationError`].
    pub fn validate(&self) -> Result<(), crate::Invalid> {
        crate::validate::validate(self)
    }
}
