//! `sidecar_task` merged over the injected task, field by field as Nomad's
//! `SidecarTask.MergeIntoTask` does: set fields replace, maps merge key by key.

use rigging_nomad_jobspec::{Block, Item};

use crate::error::{Located, Warning};

/// `config` keys that say what program runs. A `sidecar_task` sets them for Envoy; the proxy
/// is `rig` now, so ours are kept and the user's are reported.
const PROGRAM_KEYS: &[&str] = &["image", "command", "args", "entrypoint"];
/// Plain settings copied over as they are.
const SETTINGS: &[&str] = &["user", "kill_timeout", "shutdown_delay", "kill_signal"];
/// Maps merged key by key.
const MAPS: &[&str] = &["env", "meta"];
/// Blocks whose attributes replace ours one by one (Nomad merges set fields).
const FIELD_BLOCKS: &[&str] = &["resources", "logs"];
/// Repeated blocks appended as they are.
const APPENDED: &[&str] = &["volume_mount", "identity"];

/// Merges `sidecar` (a `sidecar_task` block) into `task`. `name` and `driver` are applied by
/// the caller, which needs them before the task exists.
pub(crate) fn merge(
    file: &str,
    path: &str,
    sidecar: &Block,
    task: &mut Block,
    warnings: &mut Vec<Warning>,
) {
    for key in SETTINGS {
        if let Some(v) = sidecar.get(key) {
            task.set(key, v.clone());
        }
    }
    if let Some(entries) = sidecar.get_map("config") {
        for (k, v) in entries {
            if PROGRAM_KEYS.contains(&k) {
                warnings.push(Warning(Located::at(file, sidecar, path, format!("sidecar_task config {k:?} configured Envoy and is not used: the proxy task runs rig"))));
                continue;
            }
            task.block_or_insert("config").set(k, v.clone());
        }
    }
    for map in MAPS {
        if let Some(entries) = sidecar.get_map(map) {
            let target = task.block_or_insert(map);
            for (k, v) in entries {
                target.set(k, v.clone());
            }
        }
    }
    for ident in FIELD_BLOCKS {
        let Some(src) = sidecar.block(ident) else {
            continue;
        };
        let target = task.block_or_insert(ident);
        for item in &src.body.items {
            match item {
                Item::Attribute(a) => target.set(&a.key, a.value.clone()),
                Item::Block(b) => {
                    target.replace_block(b.clone());
                }
            }
        }
    }
    for ident in APPENDED {
        for b in sidecar.blocks(ident) {
            let same = task.blocks(ident).any(|t| t.get("name") == b.get("name"));
            if *ident == "identity" && same {
                // One identity per name: the user's replaces ours.
                task.remove_blocks_where("identity", |t| t.get("name") == b.get("name"));
            }
            task.push_block(b.clone());
        }
    }
    let known = |k: &str| {
        ["name", "driver", "config"].contains(&k)
            || SETTINGS.contains(&k)
            || MAPS.contains(&k)
            || FIELD_BLOCKS.contains(&k)
            || APPENDED.contains(&k)
    };
    for item in &sidecar.body.items {
        let key = match item {
            Item::Attribute(a) => a.key.as_str(),
            Item::Block(b) => b.ident.as_str(),
        };
        if !known(key) {
            warnings.push(Warning(Located::at(
                file,
                sidecar,
                path,
                format!("sidecar_task {key:?} is not a sidecar_task field Nomad merges; ignored"),
            )));
        }
    }
}
