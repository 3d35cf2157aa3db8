//! When to renew and when to retry: pure functions of certificate times, now and a jitter
//! sample, so the renewal loop's timing is tested without a loop.

use std::time::Duration;

use rustls_pki_types::UnixTime;

/// Renew at half the lifetime: a renewal that fails still leaves half a TTL to retry in.
pub const RENEW_AT_FRACTION: f64 = 0.5;
/// ±10% around the renewal point, so proxies started together do not all renew together.
pub const RENEW_JITTER: f64 = 0.1;
/// The soonest a renewal is scheduled after an issuance, whatever the certificate says: a
/// leaf that arrives nearly expired (a signer about to expire, a clock far off) must not make
/// the renewer call Citadel in a tight loop.
pub const MIN_RENEW_DELAY: Duration = Duration::from_secs(1);
/// First retry soon after a failure: most failures (a Citadel restart) are short.
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(500);
/// Each consecutive failure doubles the wait, sparing a Citadel that is coming back.
pub const BACKOFF_FACTOR: u32 = 2;
/// Never wait longer than this between tries: small against a 24 h TTL's half. Shorter TTLs
/// (down to 10 s) are covered by [`retry_delay`], which retries before the held leaf expires.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How long from `now` until a certificate valid until `not_after` should be renewed.
///
/// The lifetime counts from when the certificate was `received`, or from `not_before` if that
/// is later. Citadel backdates notBefore by five minutes for peers whose clocks run behind;
/// counting from there would put a short leaf's renewal point in the past and renew it in a
/// loop. Renewal is at [`RENEW_AT_FRACTION`] of the remaining lifetime, moved by `sample`
/// (in -1..=1) times [`RENEW_JITTER`], and never sooner than [`MIN_RENEW_DELAY`] from `now`.
/// All certificate times are Unix seconds.
pub fn renew_delay(
    not_before: u64,
    not_after: u64,
    received: UnixTime,
    now: UnixTime,
    sample: f64,
) -> Duration {
    let start = not_before.max(received.as_secs());
    let lifetime = not_after.saturating_sub(start) as f64;
    let fraction = RENEW_AT_FRACTION * (1.0 + RENEW_JITTER * sample.clamp(-1.0, 1.0));
    let at = start as f64 + lifetime * fraction;
    Duration::from_secs_f64((at - now.as_secs() as f64).max(0.0)).max(MIN_RENEW_DELAY)
}

/// The wait after `failures` consecutive failures (1 or more).
pub fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    INITIAL_BACKOFF
        .saturating_mul(BACKOFF_FACTOR.saturating_pow(doublings))
        .min(MAX_BACKOFF)
}

/// The wait after `failures` consecutive failures while the held certificate has `remaining`
/// validity (`None` when there is none): the [`backoff`], but at most half of what remains
/// (and no less than [`INITIAL_BACKOFF`]), so that with a short TTL the tries still come
/// before the certificate runs out and renewal would need a credential again.
pub fn retry_delay(failures: u32, remaining: Option<Duration>) -> Duration {
    let wait = backoff(failures);
    match remaining {
        Some(left) if !left.is_zero() => wait.min((left / 2).max(INITIAL_BACKOFF)),
        _ => wait,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Citadel's notBefore backdate (`CLOCK_SKEW_BACKDATE` in rigging-citadel-ca).
    const BACKDATE: u64 = 5 * 60;
    const DAY: u64 = 24 * 60 * 60;

    fn at(secs: u64) -> UnixTime {
        UnixTime::since_unix_epoch(Duration::from_secs(secs))
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(backoff(1), INITIAL_BACKOFF);
        assert_eq!(backoff(2), INITIAL_BACKOFF * 2);
        assert_eq!(backoff(3), INITIAL_BACKOFF * 4);
        assert_eq!(backoff(100), MAX_BACKOFF);
        assert!((1..200).all(|n| backoff(n) <= backoff(n + 1)));
    }

    #[test]
    fn a_24h_leaf_renews_at_half_life_within_the_jitter() {
        let now = 1_000_000;
        let delay = |sample| renew_delay(now, now + DAY, at(now), at(now), sample);
        assert_eq!(delay(0.0), Duration::from_secs(43_200));
        assert_eq!(delay(-1.0), Duration::from_secs(38_880));
        assert_eq!(delay(1.0), Duration::from_secs(47_520));
        assert_eq!(delay(7.0), delay(1.0), "the sample is clamped");
    }

    #[test]
    fn a_backdated_24h_leaf_still_renews_about_12h_later() {
        let now = 1_000_000;
        let delay = renew_delay(now - BACKDATE, now + DAY, at(now), at(now), 0.0);
        assert_eq!(delay, Duration::from_secs(DAY / 2));
    }

    #[test]
    fn a_backdated_60s_leaf_renews_about_30s_later_not_at_once() {
        let now = 1_000_000;
        let delay = |sample| renew_delay(now - BACKDATE, now + 60, at(now), at(now), sample);
        assert_eq!(delay(0.0), Duration::from_secs(30));
        assert_eq!(delay(-1.0), Duration::from_secs(27));
        assert_eq!(delay(1.0), Duration::from_secs(33));
    }

    #[test]
    fn a_backdated_10s_leaf_renews_about_5s_later() {
        let now = 1_000_000;
        let delay = renew_delay(now - BACKDATE, now + 10, at(now), at(now), 0.0);
        assert_eq!(delay, Duration::from_secs(5));
    }

    #[test]
    fn a_leaf_that_starts_after_it_was_received_counts_from_not_before() {
        // Our clock runs 10 s behind Citadel's, and Citadel did not backdate.
        let now = 1_000_000;
        let delay = renew_delay(now + 10, now + 70, at(now), at(now), 0.0);
        assert_eq!(delay, Duration::from_secs(40));
    }

    #[test]
    fn the_delay_counts_down_from_when_it_was_received() {
        let received = 1_000_000;
        let delay = renew_delay(
            received - BACKDATE,
            received + 60,
            at(received),
            at(received + 20),
            0.0,
        );
        assert_eq!(delay, Duration::from_secs(10));
    }

    #[test]
    fn a_renewal_point_in_the_past_still_waits_the_minimum() {
        let received = 1_000_000;
        let late = at(received + 50_000);
        let delay = renew_delay(received, received + DAY, at(received), late, 0.0);
        assert_eq!(delay, MIN_RENEW_DELAY);
        let expired = renew_delay(
            received - 100,
            received - 1,
            at(received),
            at(received),
            0.0,
        );
        assert_eq!(expired, MIN_RENEW_DELAY);
    }

    #[test]
    fn retries_come_before_a_short_leaf_expires() {
        assert_eq!(retry_delay(100, None), MAX_BACKOFF);
        assert_eq!(
            retry_delay(100, Some(Duration::from_secs(DAY / 2))),
            MAX_BACKOFF
        );
        assert_eq!(
            retry_delay(100, Some(Duration::from_secs(4))),
            Duration::from_secs(2)
        );
        assert_eq!(
            retry_delay(1, Some(Duration::from_secs(4))),
            INITIAL_BACKOFF
        );
        assert_eq!(
            retry_delay(100, Some(Duration::from_millis(100))),
            INITIAL_BACKOFF
        );
        assert_eq!(retry_delay(3, Some(Duration::ZERO)), backoff(3));
    }
}
