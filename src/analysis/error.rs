//! [`AnalysisSpecError`]: an analysis spec that cannot be run as written.

/// An analysis spec (metric checks, a judge, a sequential test) that cannot be run as
/// written. Each message says what to change.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AnalysisSpecError {
    /// A metric (or group) without a name.
    #[error("a {what} has an empty name: give every {what} a name")]
    EmptyName {
        /// `"metric"` or `"group"`.
        what: &'static str,
    },
    /// Two metrics (or two groups) share a name.
    #[error("{what} {name:?} is defined twice: rename one of them")]
    Duplicate {
        /// `"metric"` or `"group"`.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// An analysis or a judgement with no metric at all.
    #[error("the {what} has no metrics: add at least one")]
    NoMetrics {
        /// `"analysis"` or `"judgement"`.
        what: &'static str,
    },
    /// A threshold metric with neither a success nor a failure condition.
    #[error(
        "metric {metric:?} has neither a success nor a failure condition: give its threshold one, as in \"check\": {{\"threshold\": {{\"success\": {{\"below\": 0.01}}}}}} (or \"failure\")"
    )]
    NoCondition {
        /// The metric.
        metric: String,
    },
    /// A condition that can never be decided (NaN bound, or a range whose low end is
    /// above its high end).
    #[error("metric {metric:?} has an invalid {which} condition: {reason}")]
    InvalidCondition {
        /// The metric.
        metric: String,
        /// `"success"` or `"failure"`.
        which: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A negative limit or count.
    #[error(
        "metric {metric:?} has {field} = {value}: it must be 0 or more{}",
        if *field == "failure_limit" { " (or -1 to disable it, with consecutive_success_limit > 0)" } else { "" }
    )]
    NegativeLimit {
        /// The metric.
        metric: String,
        /// The field.
        field: &'static str,
        /// The value given.
        value: i64,
    },
    /// A background analysis metric measured once at its start: its window would be
    /// empty (the target has not served yet at the instant the analysis starts).
    #[error(
        "metric {metric:?} of the background analysis has neither an interval nor an initial_delay: its first measurement would cover no time at all; set interval (e.g. \"1m\") or initial_delay"
    )]
    EmptyFirstWindow {
        /// The metric.
        metric: String,
    },
    /// `count: 0` together with an interval: ambiguous between "never" and "forever".
    #[error(
        "metric {metric:?} has count 0 with an interval: leave count out to measure until the analysis is stopped, or set count to 1 or more"
    )]
    ZeroCountWithInterval {
        /// The metric.
        metric: String,
    },
    /// More than one measurement but no interval between them.
    #[error(
        "metric {metric:?} has count {count} but no interval: set an interval (e.g. \"1m\") or count 1"
    )]
    CountWithoutInterval {
        /// The metric.
        metric: String,
        /// The count given.
        count: i64,
    },
    /// `failure_limit: -1` (failures never fail the metric) without a success limit, so
    /// nothing could ever fail or succeed it early.
    #[error(
        "metric {metric:?} disables failure_limit (-1) without consecutive_success_limit: set consecutive_success_limit to 1 or more, or failure_limit to 0 or more"
    )]
    NothingDecides {
        /// The metric.
        metric: String,
    },
    /// A sequential metric without a planned number of looks.
    #[error(
        "metric {metric:?} is sequential but has no count: set count to the number of looks (its samples are kept for the whole run)"
    )]
    SequentialNeedsCount {
        /// The metric.
        metric: String,
    },
    /// A confidence level not strictly between 0 and 1.
    #[error(
        "confidence {value} is out of range: use a number strictly between 0 and 1, such as 0.98"
    )]
    InvalidConfidence {
        /// The value given.
        value: f64,
    },
    /// A false-failure rate not strictly between 0 and 1.
    #[error("alpha {value} is out of range: use a number strictly between 0 and 1, such as 0.05")]
    InvalidAlpha {
        /// The value given.
        value: f64,
    },
    /// A number that must be finite and positive (or non-negative) is not.
    #[error("{field} is {value}: {expected}")]
    InvalidNumber {
        /// The field, with its metric when it has one.
        field: String,
        /// The value given.
        value: f64,
        /// What is allowed.
        expected: &'static str,
    },
    /// A group lists a metric the judgement does not define.
    #[error(
        "group {group:?} lists metric {metric:?}, which is not defined: define it or remove it from the group"
    )]
    UnknownMetricInGroup {
        /// The group.
        group: String,
        /// The metric named.
        metric: String,
    },
    /// A metric that belongs to no group, so it could never count.
    #[error("metric {metric:?} is in no group: add it to a group so its result counts")]
    MetricInNoGroup {
        /// The metric.
        metric: String,
    },
    /// Explicit group weights that add up to more than 100.
    #[error("group weights add up to {total}: they must add up to at most 100")]
    GroupWeightsOver100 {
        /// The sum.
        total: f64,
    },
    /// A score threshold outside 0..=100.
    #[error("{field} is {value}: score thresholds run from 0 to 100")]
    ThresholdOutOfRange {
        /// `"pass_threshold"` or `"marginal_threshold"`.
        field: &'static str,
        /// The value given.
        value: f64,
    },
    /// The pass threshold is below the marginal threshold.
    #[error(
        "pass_threshold {pass} is below marginal_threshold {marginal}: raise pass_threshold or lower marginal_threshold"
    )]
    PassBelowMarginal {
        /// The pass threshold.
        pass: f64,
        /// The marginal threshold.
        marginal: f64,
    },
    /// `on_failure: step_back` for a strategy without steps to go back through.
    #[error(
        "on_failure is step_back, but this strategy has no steps to go back through: use abort or pause (step_back is for canary steps)"
    )]
    StepBackWithoutSteps,
    /// `start: at_step` for a strategy without steps.
    #[error(
        "start is at_step, but this strategy has no steps: start immediately or after_replaced instead (at_step is for canary steps)"
    )]
    AtStepWithoutSteps,
}

// For the paths of spec documents' refusals.
#[cfg(feature = "serde")]
impl AnalysisSpecError {
    /// The metric the error is about, when it names one.
    pub(crate) fn metric(&self) -> Option<&str> {
        use AnalysisSpecError as E;
        match self {
            E::NoCondition { metric }
            | E::InvalidCondition { metric, .. }
            | E::NegativeLimit { metric, .. }
            | E::EmptyFirstWindow { metric }
            | E::ZeroCountWithInterval { metric }
            | E::CountWithoutInterval { metric, .. }
            | E::NothingDecides { metric }
            | E::SequentialNeedsCount { metric }
            | E::Duplicate {
                what: "metric",
                name: metric,
            } => Some(metric),
            _ => None,
        }
    }

    /// The setting to change within the metric, as a path from the metric
    /// (`check.threshold`), when the error says which.
    pub(crate) fn setting(&self) -> Option<String> {
        use AnalysisSpecError as E;
        Some(match self {
            E::NoCondition { .. } => "check.threshold".to_owned(),
            E::InvalidCondition { which, .. } => format!("check.threshold.{which}"),
            E::NegativeLimit { field, .. } => (*field).to_owned(),
            E::ZeroCountWithInterval { .. } | E::SequentialNeedsCount { .. } => "count".to_owned(),
            E::EmptyFirstWindow { .. } | E::CountWithoutInterval { .. } => "interval".to_owned(),
            E::NothingDecides { .. } => "failure_limit".to_owned(),
            E::Duplicate { what: "metric", .. } => "name".to_owned(),
            _ => return None,
        })
    }
}

/// `Ok` when `value` is finite and at least `min` (strictly above when `strict`).
pub(crate) fn check_number(
    field: impl FnOnce() -> String,
    value: f64,
    min: f64,
    strict: bool,
    expected: &'static str,
) -> Result<(), AnalysisSpecError> {
    let ok = value.is_finite() && if strict { value > min } else { value >= min };
    if ok {
        Ok(())
    } else {
        Err(AnalysisSpecError::InvalidNumber {
            field: field(),
            value,
            expected,
        })
    }
}
