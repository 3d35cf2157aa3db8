//! Fault injection (Envoy's `envoy.filters.http.fault`): a delay, then an abort, each on a
//! share of a route's requests, decided per request.

use http::StatusCode;
use rigging_proxy_config::{AbortStatus, BasisPoints, FaultInjection};

use crate::error::{ErrorKind, ForwardError};
use crate::http::ActionMetrics;

/// Whether this request falls in `share`: a uniform draw over the 10,000 basis points.
pub(crate) fn roll(share: BasisPoints) -> bool {
    share.get() > 0 && fastrand::u16(..10_000) < share.get()
}

/// Applies `fault` to one request of `listener`: sleeps its delay when the delay's draw says
/// so, then returns the abort as an error when the abort's draw says so. An aborted request
/// never reaches an upstream.
pub(crate) async fn inject(
    fault: &FaultInjection,
    listener: &str,
    route: &str,
    metrics: &ActionMetrics,
) -> Result<(), ForwardError> {
    if let Some(delay) = fault.delay.as_ref().filter(|d| roll(d.percentage)) {
        metrics.fault_delays.inc();
        tracing::debug!(%listener, %route, delay = ?delay.delay, "fault injection: delaying the request");
        tokio::time::sleep(delay.delay).await;
    }
    let Some(abort) = fault.abort.as_ref().filter(|a| roll(a.percentage)) else {
        return Ok(());
    };
    metrics.fault_aborts.inc();
    let err = match abort.status {
        AbortStatus::Http(code) => {
            // The config accepts 200..=599 only; anything else aborts with a 503.
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            ForwardError::new(
                ErrorKind::FaultAbort,
                format!("fault injection aborted the request of route {route:?} with {status}"),
            )
            .with_status(status)
        }
        AbortStatus::Grpc(code) => ForwardError::new(
            ErrorKind::FaultAbort,
            format!(
                "fault injection aborted the request of route {route:?} with grpc-status {code}"
            ),
        )
        .with_grpc_status(code),
    };
    Err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roll_follows_the_share() {
        assert!(!(0..1000).any(|_| roll(BasisPoints::ZERO)));
        assert!((0..1000).all(|_| roll(BasisPoints::ALL)));
        let n = 20_000;
        let hits = (0..n)
            .filter(|_| roll(BasisPoints::from_percent(25)))
            .count();
        assert!((4_600..=5_400).contains(&hits), "{hits} of {n}");
    }
}
