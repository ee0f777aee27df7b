//! Metric checks with Argo Rollouts' meaning: a success condition and/or a failure
//! condition evaluated on one measured value.
//!
//! As Argo's `EvaluateResult`: with both conditions, a value meeting the failure
//! condition fails, one meeting only the success condition succeeds, and one meeting
//! neither is inconclusive; with only a success condition, a value not meeting it
//! fails; with only a failure condition, a value not meeting it succeeds.
//!
//! Different from Argo, on purpose: **no data is not a failure.** A missing value (or a
//! NaN, which compares false with everything and so would fail a success-only metric in
//! Argo) is inconclusive, unless the metric says `must_have_data`, when it fails.

use std::fmt;

use super::error::AnalysisSpecError;

/// A comparison on a measured value.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "snake_case", deny_unknown_fields)
)]
#[non_exhaustive]
pub enum Condition {
    /// `value < bound`.
    Below(f64),
    /// `value <= bound`.
    AtMost(f64),
    /// `value > bound`.
    Above(f64),
    /// `value >= bound`.
    AtLeast(f64),
    /// `low <= value <= high`.
    Between {
        /// The lowest value inside the range.
        low: f64,
        /// The highest value inside the range.
        high: f64,
    },
}

impl Condition {
    /// Whether `value` meets the condition (never for NaN).
    ///
    /// # Examples
    ///
    /// ```
    /// use cutover::analysis::Condition;
    /// assert!(Condition::Below(0.01).holds(0.005));
    /// assert!(!Condition::Between { low: 1.0, high: 2.0 }.holds(f64::NAN));
    /// ```
    #[must_use]
    pub fn holds(self, value: f64) -> bool {
        match self {
            Condition::Below(b) => value < b,
            Condition::AtMost(b) => value <= b,
            Condition::Above(b) => value > b,
            Condition::AtLeast(b) => value >= b,
            Condition::Between { low, high } => low <= value && value <= high,
        }
    }

    pub(crate) fn validate(
        self,
        metric: &str,
        which: &'static str,
    ) -> Result<(), AnalysisSpecError> {
        let invalid = |reason| AnalysisSpecError::InvalidCondition {
            metric: metric.to_owned(),
            which,
            reason,
        };
        match self {
            Condition::Below(b)
            | Condition::AtMost(b)
            | Condition::Above(b)
            | Condition::AtLeast(b) => {
                if b.is_nan() {
                    return Err(invalid("its bound is NaN: give a number"));
                }
            }
            Condition::Between { low, high } => {
                if low.is_nan() || high.is_nan() {
                    return Err(invalid("a bound of its range is NaN: give numbers"));
                }
                if low > high {
                    return Err(invalid(
                        "its range's low end is above its high end: swap them",
                    ));
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::Below(b) => write!(f, "< {b}"),
            Condition::AtMost(b) => write!(f, "<= {b}"),
            Condition::Above(b) => write!(f, "> {b}"),
            Condition::AtLeast(b) => write!(f, ">= {b}"),
            Condition::Between { low, high } => write!(f, "in [{low}, {high}]"),
        }
    }
}

/// What one measurement says (Argo's measurement phases).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Verdict {
    /// The success condition held (or the failure condition did not).
    Successful,
    /// Neither could be decided: neither condition held, or there was no data.
    Inconclusive,
    /// The measurement could not be taken.
    Error,
    /// The failure condition held (or the success condition did not).
    Failed,
}

/// Evaluates a measured `value` (`None`: no data) against the conditions, as Argo
/// Rollouts does, except that no data is inconclusive unless `must_have_data`.
///
/// # Examples
///
/// ```
/// use cutover::analysis::{Condition, Verdict, evaluate_conditions};
/// let success = Some(Condition::Below(0.01));
/// let failure = Some(Condition::AtLeast(0.05));
/// assert_eq!(evaluate_conditions(success, failure, false, Some(0.002)), Verdict::Successful);
/// assert_eq!(evaluate_conditions(success, failure, false, Some(0.02)), Verdict::Inconclusive);
/// assert_eq!(evaluate_conditions(success, failure, false, Some(0.09)), Verdict::Failed);
/// assert_eq!(evaluate_conditions(success, None, false, None), Verdict::Inconclusive);
/// assert_eq!(evaluate_conditions(success, None, true, None), Verdict::Failed);
/// ```
#[must_use]
pub fn evaluate_conditions(
    success: Option<Condition>,
    failure: Option<Condition>,
    must_have_data: bool,
    value: Option<f64>,
) -> Verdict {
    let Some(value) = value.filter(|v| !v.is_nan()) else {
        return if must_have_data {
            Verdict::Failed
        } else {
            Verdict::Inconclusive
        };
    };
    let succeeded = success.map(|c| c.holds(value));
    let failed = failure.map(|c| c.holds(value));
    let (succeeded, failed) = match (succeeded, failed) {
        (None, None) => (true, false),
        (Some(s), None) => (s, !s),
        (None, Some(f)) => (!f, f),
        (Some(s), Some(f)) => (s, f),
    };
    if failed {
        Verdict::Failed
    } else if succeeded {
        Verdict::Successful
    } else {
        Verdict::Inconclusive
    }
}
