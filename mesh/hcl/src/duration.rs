//! Go-style durations ("5s", "150ms", "1m30s", "1.5h"), as Consul and Nomad write them.

use std::time::Duration;

/// Why a string is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    #[error("empty duration")]
    Empty,
    #[error("negative durations are not allowed")]
    Negative,
    #[error("missing unit after {number:?}; expected one of h, m, s, ms, us, ns")]
    MissingUnit { number: String },
    #[error("unknown unit {unit:?}; expected one of h, m, s, ms, us, ns")]
    UnknownUnit { unit: String },
    #[error("expected a number before the unit at {rest:?}")]
    MissingNumber { rest: String },
    #[error("duration is too long")]
    Overflow,
}

const NANOS_PER_UNIT: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),
    ("\u{3bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses a duration the way Go's `time.ParseDuration` does: a sequence of decimal
/// numbers, each with an optional fraction and a unit; `"0"` alone needs no unit.
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let s = s.strip_prefix('+').unwrap_or(s);
    if s.starts_with('-') {
        return Err(DurationError::Negative);
    }
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = s;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(num_len);
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(DurationError::MissingNumber {
                rest: rest.to_owned(),
            });
        }
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        if unit.is_empty() {
            return Err(DurationError::MissingUnit {
                number: number.to_owned(),
            });
        }
        let scale = NANOS_PER_UNIT
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|(_, n)| *n)
            .ok_or_else(|| DurationError::UnknownUnit {
                unit: unit.to_owned(),
            })?;
        total = total
            .checked_add(scaled(number, scale)?)
            .ok_or(DurationError::Overflow)?;
        rest = tail;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| DurationError::Overflow)?;
    // the remainder of a division by 1e9 always fits in u32
    let nanos = u32::try_from(total % 1_000_000_000).map_err(|_| DurationError::Overflow)?;
    Ok(Duration::new(secs, nanos))
}

/// `number` (digits with at most one '.') times `scale` nanoseconds; fractions below 1 ns are dropped, as Go does.
fn scaled(number: &str, scale: u128) -> Result<u128, DurationError> {
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| -> Result<u128, DurationError> {
        s.chars().try_fold(0u128, |acc, c| {
            let d = u128::from(c.to_digit(10).unwrap_or(0));
            acc.checked_mul(10)
                .and_then(|a| a.checked_add(d))
                .ok_or(DurationError::Overflow)
        })
    };
    let mut nanos = digits(whole)?
        .checked_mul(scale)
        .ok_or(DurationError::Overflow)?;
    let mut unit = scale;
    for c in frac.chars() {
        unit /= 10;
        if unit == 0 {
            break;
        }
        nanos += u128::from(c.to_digit(10).unwrap_or(0)) * unit;
    }
    Ok(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_table() {
        let ok: &[(&str, Duration)] = &[
            ("0", Duration::ZERO),
            ("5s", Duration::from_secs(5)),
            ("150ms", Duration::from_millis(150)),
            ("1m30s", Duration::from_secs(90)),
            ("1.5h", Duration::from_secs(5400)),
            ("2h45m", Duration::from_secs(9900)),
            ("10us", Duration::from_micros(10)),
            ("10µs", Duration::from_micros(10)),
            ("7ns", Duration::from_nanos(7)),
            ("+3s", Duration::from_secs(3)),
            (".5s", Duration::from_millis(500)),
            ("1.s", Duration::from_secs(1)),
        ];
        for (s, d) in ok {
            assert_eq!(parse_duration(s), Ok(*d), "{s}");
        }
        let bad: &[(&str, &str)] = &[
            ("", "empty duration"),
            ("5", "missing unit after \"5\""),
            ("5x", "unknown unit \"x\""),
            ("-5s", "negative durations are not allowed"),
            ("s", "expected a number before the unit"),
            ("1..2s", "expected a number before the unit"),
            ("99999999999999999999999h", "duration is too long"),
        ];
        for (s, msg) in bad {
            let err = parse_duration(s).unwrap_err().to_string();
            assert!(err.starts_with(msg), "{s}: {err}");
        }
    }
}
