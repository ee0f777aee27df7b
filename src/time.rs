//! Time as data: a caller-supplied [`Timestamp`] and a human-readable [`Duration`].
//!
//! The crate never reads a clock. Every method that depends on time takes `now` from the
//! caller, on whatever clock the caller picks (wall clock, monotonic, virtual), as long as
//! it is milliseconds and the same clock throughout one rollout.

use std::fmt;
use std::str::FromStr;

use crate::error::{DurationError, excerpt};

/// A point in time: milliseconds on the caller's clock.
///
/// Only differences between timestamps matter, so the epoch is the caller's choice.
///
/// # Examples
///
/// ```
/// use cutover::{Duration, Timestamp};
/// let start = Timestamp::from_millis(1_000);
/// let later = start + Duration::from_secs(30);
/// assert_eq!(later.saturating_duration_since(start), Duration::from_secs(30));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct Timestamp(u64);

impl Timestamp {
    /// The earliest representable instant (0 ms).
    pub const ZERO: Timestamp = Timestamp(0);

    /// A timestamp `millis` milliseconds after the caller's epoch.
    #[must_use]
    pub const fn from_millis(millis: u64) -> Self {
        Timestamp(millis)
    }

    /// Milliseconds since the caller's epoch.
    #[must_use]
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// The time elapsed since `earlier`, or zero if `earlier` is in the future.
    #[must_use]
    pub const fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }

    /// `self + duration`, saturating at the far future instead of overflowing.
    #[must_use]
    pub const fn saturating_add(self, duration: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(duration.0))
    }
}

impl std::ops::Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, rhs: Duration) -> Timestamp {
        self.saturating_add(rhs)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t+{}ms", self.0)
    }
}

/// A span of time in whole milliseconds, written in documents as `"500ms"`, `"30s"`,
/// `"5m"`, `"1h30m"`, `"1d"`: always with a unit.
///
/// A bare number (`600` or `"600"`) is refused with [`DurationError::MissingUnit`]: it
/// would be seconds to one reader and milliseconds to another. Only zero (`0`, `"0"`)
/// needs no unit. Serialized, a duration is written in the same form
/// (`Duration::from_millis(90_250)` as `"1m30s250ms"`, zero as `"0s"`), which reads back
/// as the same duration.
///
/// Distinct from [`std::time::Duration`] so that specs serialize as people write them;
/// convert with `From` both ways.
///
/// # Examples
///
/// ```
/// use cutover::Duration;
/// use cutover::error::DurationError;
/// let d: Duration = "1h30m".parse().unwrap();
/// assert_eq!(d, Duration::from_mins(90));
/// assert_eq!(d.to_string(), "1h30m");
/// assert!("30 parsecs".parse::<Duration>().is_err());
/// assert_eq!("600".parse::<Duration>(), Err(DurationError::MissingUnit { amount: 600 }));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(u64);

const UNITS: [(&str, u64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

impl Duration {
    /// No time at all.
    pub const ZERO: Duration = Duration(0);

    /// `millis` milliseconds.
    #[must_use]
    pub const fn from_millis(millis: u64) -> Self {
        Duration(millis)
    }

    /// `secs` seconds.
    #[must_use]
    pub const fn from_secs(secs: u64) -> Self {
        Duration(secs.saturating_mul(1_000))
    }

    /// `mins` minutes.
    #[must_use]
    pub const fn from_mins(mins: u64) -> Self {
        Duration(mins.saturating_mul(60_000))
    }

    /// The length in milliseconds.
    #[must_use]
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Whether this is zero.
    #[must_use]
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self * factor`, saturating.
    #[must_use]
    pub const fn saturating_mul(self, factor: u64) -> Duration {
        Duration(self.0.saturating_mul(factor))
    }
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || DurationError::Invalid {
            text: excerpt(text),
        };
        let overflow = || DurationError::Overflow {
            text: excerpt(text),
        };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(invalid());
        }
        if trimmed.bytes().all(|byte| byte.is_ascii_digit()) {
            return match trimmed.parse::<u64>() {
                Ok(0) => Ok(Duration::ZERO),
                Ok(amount) => Err(DurationError::MissingUnit { amount }),
                Err(_) => Err(invalid()),
            };
        }
        let mut rest = trimmed;
        let mut total: u64 = 0;
        // Units must appear largest first and at most once, as in Go's and Argo's
        // durations: "1h30m" is accepted, "30m1h" and "1h1h" are refused as typos.
        let mut smallest_allowed = 0;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(invalid());
            }
            // Only digits, so a failure is an overflow.
            let amount: u64 = rest[..digits].parse().map_err(|_| overflow())?;
            rest = &rest[digits..];
            let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            let unit = &rest[..letters];
            rest = &rest[letters..];
            let position = UNITS
                .iter()
                .position(|(name, _)| *name == unit)
                .ok_or_else(invalid)?;
            if position < smallest_allowed {
                return Err(invalid());
            }
            smallest_allowed = position + 1;
            let millis = amount.checked_mul(UNITS[position].1).ok_or_else(overflow)?;
            total = total.checked_add(millis).ok_or_else(overflow)?;
        }
        Ok(Duration(total))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.0;
        for (name, size) in UNITS {
            if rest >= size {
                write!(f, "{}{}", rest / size, name)?;
                rest %= size;
            }
        }
        Ok(())
    }
}

impl From<std::time::Duration> for Duration {
    fn from(value: std::time::Duration) -> Self {
        Duration(u64::try_from(value.as_millis()).unwrap_or(u64::MAX))
    }
}

impl From<Duration> for std::time::Duration {
    fn from(value: Duration) -> Self {
        std::time::Duration::from_millis(value.0)
    }
}

/// What a document may write for a [`Duration`] (the schema's pattern; zero may also be
/// the number 0). Stricter than the parser only in refusing surrounding spaces.
#[cfg(feature = "schema")]
const DURATION_PATTERN: &str = "^(0|([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?)$";

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A span of time with a unit: \"500ms\", \"30s\", \"5m\", \"1h30m\", \"1d\" (largest unit first, each once). Only zero needs no unit.",
            "anyOf": [
                { "type": "string", "pattern": DURATION_PATTERN, "minLength": 1 },
                { "const": 0 }
            ]
        })
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a duration with a unit, such as \"500ms\", \"30s\", \"5m\" or \"1h30m\"",
                )
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
                match v {
                    0 => Ok(Duration::ZERO),
                    amount => Err(E::custom(DurationError::MissingUnit { amount })),
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!("a duration cannot be negative: {v}"))),
                }
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_forms_people_write() {
        for (text, millis) in [
            ("500ms", 500),
            ("30s", 30_000),
            ("5m", 300_000),
            ("1h30m", 5_400_000),
            ("1d", 86_400_000),
            ("1m30s250ms", 90_250),
            ("0s", 0),
            ("0", 0),
            (" 2s ", 2000),
        ] {
            assert_eq!(text.parse::<Duration>(), Ok(Duration(millis)), "{text}");
        }
    }

    #[test]
    fn refuses_typos_with_the_text_in_the_error() {
        for text in [
            "",
            "s",
            "5x",
            "-5s",
            "1.5s",
            "30m1h",
            "1h1h",
            "5 m",
            "ms5",
            "99999999999999999999",
        ] {
            let error = text.parse::<Duration>().unwrap_err();
            assert!(error.to_string().contains(&format!("{text:?}")), "{error}");
        }
    }

    #[test]
    fn a_number_without_a_unit_is_refused_with_the_fix() {
        for text in ["600", " 600 ", "0600"] {
            assert_eq!(
                text.parse::<Duration>(),
                Err(DurationError::MissingUnit { amount: 600 }),
                "{text:?}"
            );
        }
        assert_eq!(
            DurationError::MissingUnit { amount: 600 }.to_string(),
            "duration 600 has no unit: write \"600s\" (or \"600ms\") — a duration needs a unit"
        );
    }

    #[test]
    fn errors_quote_at_most_64_characters() {
        // 10 MB of text, multi-byte so that a byte cut could split a character.
        let huge = "é".repeat(5 << 20);
        let error = huge.parse::<Duration>().unwrap_err();
        let DurationError::Invalid { text } = &error else {
            panic!("{error:?}");
        };
        assert_eq!(*text, format!("{}… ({} bytes)", "é".repeat(64), huge.len()));
        assert!(error.to_string().len() < 300, "{error}");
        let overflow = format!("{}d", "9".repeat(10 << 20));
        let error = overflow.parse::<Duration>().unwrap_err();
        assert!(matches!(error, DurationError::Overflow { .. }), "{error:?}");
        assert!(error.to_string().len() < 300, "{error}");
    }

    #[test]
    fn overflow_is_an_error_not_a_wrap() {
        assert!(matches!(
            "99999999999999999d".parse::<Duration>(),
            Err(DurationError::Overflow { .. })
        ));
    }

    #[test]
    fn timestamps_saturate() {
        let t = Timestamp::from_millis(u64::MAX - 1);
        assert_eq!((t + Duration::from_secs(1)).as_millis(), u64::MAX);
        assert_eq!(Timestamp::ZERO.saturating_duration_since(t), Duration::ZERO);
    }

    proptest! {
        #[test]
        fn display_round_trips(millis in 0u64..10_000_000_000_000) {
            let d = Duration(millis);
            prop_assert_eq!(d.to_string().parse::<Duration>(), Ok(d));
        }
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_reads_durations_with_units_and_writes_them_back() {
        let d: Duration = serde_json::from_str("\"1h30m\"").unwrap();
        assert_eq!(d, Duration::from_mins(90));
        for millis in [0, 250, 90_250, 86_400_001] {
            let d = Duration::from_millis(millis);
            let written = serde_json::to_string(&d).unwrap();
            assert_eq!(serde_json::from_str::<Duration>(&written).unwrap(), d);
        }
        assert_eq!(
            serde_json::to_string(&Duration::from_millis(250)).unwrap(),
            "\"250ms\""
        );
        assert_eq!(serde_json::to_string(&Duration::ZERO).unwrap(), "\"0s\"");
        assert_eq!(
            serde_json::from_str::<Duration>("0").unwrap(),
            Duration::ZERO
        );
        for bare in ["250", "\"250\""] {
            let error = serde_json::from_str::<Duration>(bare).unwrap_err();
            assert!(
                error.to_string().contains("write \"250s\" (or \"250ms\")"),
                "{error}"
            );
        }
        assert!(serde_json::from_str::<Duration>("-3").is_err());
        assert!(serde_json::from_str::<Duration>("2.5").is_err());
        assert!(serde_json::from_str::<Duration>("\"soon\"").is_err());
    }
}
