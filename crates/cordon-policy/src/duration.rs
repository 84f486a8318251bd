//! Durations as people write them (`500ms`, `30s`, `5m`, `8h`, `1d`) and as Cordon says them
//! back: the one parser and the one formatter.
//!
//! Why here: the policy language owns the syntax (`limits:`' `max_session_duration`,
//! `upstream_timeout`), and the gateway, which reads the same syntax in its config
//! (`approval_timeout`, `upstream_timeout`) and says durations in refusals ("retry after 30s",
//! "timed out after 5m"), already depends on this crate; nothing below the policy needs them.
//! The two uses differ only in their bounds, so those are parameters ([`DurationBounds`]): the
//! config's waits stop at 168h and take no `d` (its tests hold it to that), a policy's limits go
//! up to 3650d.

use std::time::Duration;

/// What one use of the syntax accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationBounds {
    /// The longest duration accepted.
    pub max: Duration,
    /// Whether the `d` (day) unit is accepted.
    pub days: bool,
}

/// Why a duration was refused; the caller words the message (with its key and its bounds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// No leading whole number (`m`, `-1s`, an empty string).
    #[error("not a positive whole number and a unit")]
    Malformed,
    /// A number without a unit, or a unit not accepted here (`30`, `1.5s`, `5 parsecs`).
    #[error("no valid unit")]
    BadUnit,
    /// Zero of any unit.
    #[error("must be greater than zero")]
    Zero,
    /// Longer than the bounds allow (or than a number can hold).
    #[error("too long")]
    TooLong,
}

/// Parses a positive whole number and a unit (`ms`, `s`, `m`, `h`, and `d` when the bounds
/// allow it); surrounding spaces and one between number and unit are accepted.
pub fn parse_duration(text: &str, bounds: DurationBounds) -> Result<Duration, DurationError> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return Err(DurationError::Malformed);
    }
    let ms_per: u64 = match unit.trim() {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" if bounds.days => 86_400_000,
        _ => return Err(DurationError::BadUnit),
    };
    // Only digits are left, so a parse error is an overflow.
    let n: u64 = number.parse().map_err(|_| DurationError::TooLong)?;
    if n == 0 {
        return Err(DurationError::Zero);
    }
    match n.checked_mul(ms_per).map(Duration::from_millis) {
        Some(d) if d <= bounds.max => Ok(d),
        _ => Err(DurationError::TooLong),
    }
}

/// A duration the way a person writes it, in its largest whole unit: `1d`, `5m`, `30s`,
/// `1500ms`, `0s`. What [`parse_duration`] reads back (with `d` allowed).
pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        "0s".to_owned()
    } else if ms.is_multiple_of(86_400_000) {
        format!("{}d", ms / 86_400_000)
    } else if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEEK: DurationBounds = DurationBounds {
        max: Duration::from_secs(7 * 24 * 3600),
        days: false,
    };
    const DECADE: DurationBounds = DurationBounds {
        max: Duration::from_secs(10 * 365 * 24 * 3600),
        days: true,
    };

    #[test]
    fn units_and_bounds() {
        assert_eq!(
            parse_duration("500ms", WEEK),
            Ok(Duration::from_millis(500))
        );
        assert_eq!(parse_duration("30s", WEEK), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m", WEEK), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration(" 1h ", WEEK), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("5 m", DECADE), Ok(Duration::from_secs(300)));
        assert_eq!(
            parse_duration("168h", WEEK),
            Ok(Duration::from_secs(168 * 3600))
        );
        assert_eq!(parse_duration("169h", WEEK), Err(DurationError::TooLong));
        assert_eq!(parse_duration("5d", WEEK), Err(DurationError::BadUnit));
        assert_eq!(
            parse_duration("1d", DECADE),
            Ok(Duration::from_secs(86_400))
        );
        assert_eq!(parse_duration("3650d", DECADE), Ok(DECADE.max));
        assert_eq!(parse_duration("3651d", DECADE), Err(DurationError::TooLong));
    }

    #[test]
    fn every_refusal_has_its_kind() {
        for (text, kind) in [
            ("", DurationError::Malformed),
            ("m", DurationError::Malformed),
            ("-1s", DurationError::Malformed),
            ("5", DurationError::BadUnit),
            ("30", DurationError::BadUnit),
            ("1.5s", DurationError::BadUnit),
            ("10 parsecs", DurationError::BadUnit),
            ("0s", DurationError::Zero),
            ("0d", DurationError::Zero),
            ("99999999d", DurationError::TooLong),
            ("99999999999999999999h", DurationError::TooLong),
            ("18446744073709551615d", DurationError::TooLong),
        ] {
            assert_eq!(parse_duration(text, DECADE), Err(kind), "{text:?}");
        }
    }

    #[test]
    fn formatting_uses_the_largest_whole_unit_and_reads_back() {
        for (d, text) in [
            (Duration::ZERO, "0s"),
            (Duration::from_millis(1500), "1500ms"),
            (Duration::from_secs(30), "30s"),
            (Duration::from_secs(300), "5m"),
            (Duration::from_secs(7200), "2h"),
            (Duration::from_secs(86_400), "1d"),
            (Duration::from_secs(90_000), "25h"),
        ] {
            assert_eq!(human_duration(d), text);
            if !d.is_zero() {
                assert_eq!(parse_duration(text, DECADE), Ok(d), "round trip of {text}");
            }
        }
    }
}
