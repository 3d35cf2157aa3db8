//! The Kubernetes registry against the fake API server of `rigging-mesh-test-util`.

mod mapping;
mod outages;
mod support;
mod watching;
