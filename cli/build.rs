//! Link-time layout of the release `rig` binary; `link/README.md` says why, and how
//! `link/hot-functions.txt` (and `link/hot-functions-pgo.txt`, for a build with a profile) is
//! made.
//!
//! Two linker options, for release builds where the linker is known to take them (x86_64
//! GNU/Linux, where rustc links with its own lld unless told otherwise):
//!
//! - a linker script that puts the functions a proxy runs from its start through its first
//!   requests in one output section, `.text.hot`, ahead of `.text`: the pages the kernel maps
//!   for them (with fault-around, up to 64 KiB per fault) then hold little else;
//! - `-z pack-relative-relocs`: relative relocations as DT_RELR, a few KiB instead of the
//!   1 MiB of `.rela.dyn` that the dynamic loader reads through at every start.
//!
//! `RIG_LINK_LAYOUT=0` turns both off.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const HOT_FUNCTIONS: &str = "link/hot-functions.txt";
/// The list for a build with a profile (`-C profile-use`, scripts/release-pgo), which inlines
/// differently.
const HOT_FUNCTIONS_PGO: &str = "link/hot-functions-pgo.txt";

fn main() {
    println!("cargo:rerun-if-changed={HOT_FUNCTIONS}");
    println!("cargo:rerun-if-changed={HOT_FUNCTIONS_PGO}");
    println!("cargo:rerun-if-env-changed=RIG_LINK_LAYOUT");
    let pgo = env::var("CARGO_ENCODED_RUSTFLAGS").is_ok_and(|flags| flags.contains("profile-use"));
    // Both lists are checked in every build, so that a broken one fails the tests too.
    let mut scripts = Vec::new();
    for list in [HOT_FUNCTIONS, HOT_FUNCTIONS_PGO] {
        match linker_script(list) {
            Ok(path) => scripts.push(path),
            Err(e) => {
                eprintln!("error: {list}: {e}");
                std::process::exit(1);
            }
        }
    }
    let script = &scripts[usize::from(pgo)];
    if wanted() {
        for arg in [
            format!("-Wl,--script={}", script.display()),
            "-Wl,-z,pack-relative-relocs".to_owned(),
        ] {
            println!("cargo:rustc-link-arg-bin=rig={arg}");
        }
    }
}

/// Whether to lay the binary out: a release build, linked by rustc's own lld, with the symbol
/// names the patterns are written in.
fn wanted() -> bool {
    let var = |name: &str| env::var(name).unwrap_or_default();
    let rustflags = var("CARGO_ENCODED_RUSTFLAGS");
    var("RIG_LINK_LAYOUT") != "0"
        && var("PROFILE") == "release"
        && var("TARGET") == "x86_64-unknown-linux-gnu"
        // A linker of the user's choosing may be GNU ld, which has neither option.
        && env::var_os("RUSTC_LINKER").is_none()
        && !rustflags.contains("linker")
        && !rustflags.contains("link-self-contained")
        && rustflags.contains("symbol-mangling-version=v0")
}

/// Writes the linker script for one list into OUT_DIR and returns its path.
fn linker_script(list: &str) -> Result<PathBuf, String> {
    let dir = env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?;
    let out = env::var("OUT_DIR").map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(Path::new(&dir).join(list)).map_err(|e| e.to_string())?;
    let script = render(&text)?;
    let name = Path::new(list).with_extension("ld");
    let name = name.file_name().ok_or("the list has no file name")?;
    let path = Path::new(&out).join(name);
    std::fs::write(&path, script).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// The script for a list of patterns (one per line, `#` comments): each names the input
/// sections `.text.<pattern>` (rustc puts every function in its own section, named after it).
/// `INSERT BEFORE` keeps lld's default layout for everything else.
fn render(text: &str) -> Result<String, String> {
    let mut script = String::from("SECTIONS {\n  .text.hot : {\n");
    for (n, line) in text.lines().enumerate() {
        let pattern = line.trim();
        if pattern.is_empty() || pattern.starts_with('#') {
            continue;
        }
        if let Some(c) = pattern
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '.' | '*')))
        {
            return Err(format!(
                "line {}: {c:?} in {pattern:?}; expected a symbol name, with `*` for any text",
                n + 1
            ));
        }
        // Infallible: writing into a String. LLVM puts cold functions (`#[cold]`, as many of
        // the standard library's slow paths are) in `.text.unlikely.<name>`, and, in a build
        // with a profile (scripts/release-pgo), the profile's hot ones in `.text.hot.<name>`.
        let _ = writeln!(
            script,
            "    *(.text.{pattern} .text.unlikely.{pattern} .text.hot.{pattern})"
        );
    }
    script.push_str("  }\n} INSERT BEFORE .text;\n");
    Ok(script)
}
