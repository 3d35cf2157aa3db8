//! Rigging's own gRPC APIs — Citadel's certificate service now, Mixer's later — generated from
//! the `.proto` files under `proto/`.

/// Citadel, the certificate authority: `rigging.citadel.v1`.
pub mod citadel {
    /// Version 1 of the Citadel API.
    #[allow(
        missing_debug_implementations,
        unused_qualifications,
        clippy::all,
        clippy::pedantic
    )]
    pub mod v1 {
        tonic::include_proto!("rigging.citadel.v1");
    }
}
