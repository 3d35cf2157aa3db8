//! Arbitrary text as a registry file: the HCL decoder must answer with a located error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("rigging-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join("registry.hcl");
    if std::fs::write(&file, text).is_ok() {
        let _ = rigging_adapters_file::load(&file);
    }
    let _ = rigging_mesh_hcl::Document::parse("fuzz.hcl", text);
    let _ = rigging_mesh_hcl::Document::parse_hcl1_compat("fuzz.hcl", text);
});
