//! Generates the gRPC code of our `.proto` files with the vendored `protoc`, so no system
//! `protoc` is needed to build.

use std::path::PathBuf;

/// Every `.proto` file of this crate; Mixer's join here as their own files.
const PROTOS: &[&str] = &["proto/rigging/citadel/v1/citadel.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc: PathBuf = protoc_bin_vendored::protoc_bin_path()?;
    // Handed to prost-build directly rather than through `PROTOC`: `set_var` is `unsafe` in
    // edition 2024.
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_with_config(config, PROTOS, &["proto"])?;
    for p in PROTOS {
        println!("cargo:rerun-if-changed={p}");
    }
    Ok(())
}
