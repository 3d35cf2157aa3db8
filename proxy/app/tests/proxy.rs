//! In-process tests of the proxy on loopback: echo upstreams written here, configuration fed
//! directly with `apply_config`.

#![allow(clippy::unwrap_used)]

mod proxy {
    pub mod support;

    mod admin;
    mod config;
    mod http;
    mod mtls;
    mod pool;
    mod resilience;
    mod tcp;
    mod traffic;
    mod upgrade;
    mod xds;
}
