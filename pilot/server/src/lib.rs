//! Pilot's server: registries in, per-proxy xDS out over the aggregated discovery stream, with sync status.
