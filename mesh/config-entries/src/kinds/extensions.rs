//! Rigging's additions to `service-router` route destinations: fault injection and
//! traffic mirroring (see the crate documentation for the syntax and why it is here).

use std::fmt;
use std::time::Duration;

use crate::decode::Fields;
use crate::error::Diag;
use crate::tree::Node;

/// A share of requests, in hundredths of a percent (0.01 % steps, the precision Consul
/// gives split weights): `Percent::from_hundredths(1050)` is 10.5 %.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Percent(u32);

impl Percent {
    /// Every request.
    pub const ALL: Self = Self(10_000);

    pub fn from_hundredths(h: u32) -> Option<Self> {
        (h <= 10_000).then_some(Self(h))
    }

    pub fn hundredths(self) -> u32 {
        self.0
    }

    /// As a fraction from 0.0 to 1.0.
    pub fn fraction(self) -> f64 {
        f64::from(self.0) / 10_000.0
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}%", self.0 / 100, self.0 % 100)
    }
}

/// A number of percent rounded to 0.01 as Consul rounds weights, in hundredths.
pub(crate) fn hundredths(v: f64) -> i64 {
    // bounded by the callers' range checks before use
    #[allow(clippy::cast_possible_truncation)]
    let h = (v * 100.0).round() as i64;
    h
}

/// When mirroring does not say `Percent`: every request is copied.
pub const DEFAULT_MIRROR_PERCENT: Percent = Percent::ALL;

/// `Fault { Delay {…} Abort {…} }` on a route destination: faults injected into the
/// chosen share of requests that take this route, before they reach the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub delay: Option<FaultDelay>,
    pub abort: Option<FaultAbort>,
}

/// `Delay { Percent, Duration }`: hold the request for `duration` first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultDelay {
    pub percent: Percent,
    pub duration: Duration,
}

/// `Abort { Percent, HTTPStatus | GRPCStatus }`: answer without calling the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultAbort {
    pub percent: Percent,
    pub status: AbortStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbortStatus {
    /// An HTTP status from 200 to 599.
    Http(u16),
    /// A gRPC status code from 1 to 16, sent as `grpc-status` in an HTTP 200 response.
    Grpc(u8),
}

/// `Mirror { Service, ServiceSubset, Namespace, Partition, Percent }`: copy the chosen
/// share of requests to another service; its responses are dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    pub service: String,
    pub service_subset: Option<String>,
    pub namespace: Option<String>,
    pub partition: Option<String>,
    pub percent: Percent,
}

/// `Percent`: a number greater than 0 and at most 100, at 0.01 precision.
fn percent(d: &mut Diag, f: &Fields<'_>, what: &str) -> Option<Percent> {
    let v = f.float(d, "Percent")?;
    let h = hundredths(v);
    match u32::try_from(h).ok().filter(|h| *h > 0) {
        Some(h) if h <= 10_000 => Percent::from_hundredths(h),
        _ => {
            d.err(
                &f.value_at("Percent"),
                format!("{what} Percent: expected more than 0 and at most 100, found {v}"),
            );
            None
        }
    }
}

pub(crate) fn fault(d: &mut Diag, node: &Node) -> Option<Fault> {
    let f = Fields::of(d, node, "Fault", &["Delay", "Abort"])?;
    let delay = f.node(d, "Delay").and_then(|n| {
        let g = Fields::of(d, n, "Fault Delay", &["Percent", "Duration"])?;
        let p = percent(d, &g, "Fault Delay");
        let percent = require(d, &g, "Fault Delay", "Percent", p)?;
        let duration = g.duration(d, "Duration");
        let duration = require(d, &g, "Fault Delay", "Duration", duration)?;
        if duration.is_zero() {
            d.err(
                &g.value_at("Duration"),
                "Fault Delay Duration: must be more than 0",
            );
        }
        Some(FaultDelay { percent, duration })
    });
    let abort = f.node(d, "Abort").and_then(|n| {
        let g = Fields::of(d, n, "Fault Abort", &["Percent", "HTTPStatus", "GRPCStatus"])?;
        let p = percent(d, &g, "Fault Abort");
        let percent = require(d, &g, "Fault Abort", "Percent", p)?;
        let http = g.int(d, "HTTPStatus", 200..=599);
        let grpc = g.int(d, "GRPCStatus", 1..=16);
        let status = match (http, grpc) {
            (Some(h), None) => AbortStatus::Http(u16::try_from(h).ok()?),
            (None, Some(c)) => AbortStatus::Grpc(u8::try_from(c).ok()?),
            _ => {
                if !(g.has("HTTPStatus") || g.has("GRPCStatus")) || (http.is_some() && grpc.is_some()) {
                    d.err(
                        g.at(),
                        "Fault Abort: exactly one of HTTPStatus (200 to 599) or GRPCStatus (1 to 16) is required",
                    );
                }
                return None;
            }
        };
        Some(FaultAbort { percent, status })
    });
    if !f.has("Delay") && !f.has("Abort") {
        d.err(
            f.at(),
            "Fault: expected a Delay or an Abort block, found neither",
        );
    }
    Some(Fault { delay, abort })
}

pub(crate) fn mirror(d: &mut Diag, node: &Node) -> Option<Mirror> {
    let f = Fields::of(
        d,
        node,
        "Mirror",
        &[
            "Service",
            "ServiceSubset",
            "Namespace",
            "Partition",
            "Percent",
        ],
    )?;
    let service = f.text(d, "Service");
    if service.is_empty() {
        d.err(f.at(), "Mirror: Service is required");
    }
    let percent = if f.has("Percent") {
        percent(d, &f, "Mirror")?
    } else {
        DEFAULT_MIRROR_PERCENT
    };
    Some(Mirror {
        service,
        service_subset: f.string(d, "ServiceSubset").filter(|s| !s.is_empty()),
        namespace: f.string(d, "Namespace").filter(|s| !s.is_empty()),
        partition: f.string(d, "Partition").filter(|s| !s.is_empty()),
        percent,
    })
}

/// `v`, or an error saying `what` needs `key` when it is missing (a bad value has
/// already been reported).
fn require<T>(d: &mut Diag, f: &Fields<'_>, what: &str, key: &str, v: Option<T>) -> Option<T> {
    if v.is_none() && !f.has(key) {
        d.err(f.at(), format!("{what}: {key} is required"));
    }
    v
}
