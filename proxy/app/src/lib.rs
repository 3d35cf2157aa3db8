//! The sidecar proxy: listeners, HTTP and TCP forwarding, connection pools, admin endpoints.
