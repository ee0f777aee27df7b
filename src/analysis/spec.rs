//! [`MetricSpec`]: one metric of an analysis run, in Argo Rollouts' vocabulary.

use super::check::Condition;
use super::error::AnalysisSpecError;
use super::judge::MetricJudgeSpec;
use super::sequential::SequentialSpec;
use crate::time::Duration;

/// Argo Rollouts' default `consecutiveErrorLimit`.
pub const DEFAULT_CONSECUTIVE_ERROR_LIMIT: i64 = 4;

/// How each measurement of a metric is turned into a [`Verdict`](crate::analysis::Verdict).
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "snake_case", deny_unknown_fields)
)]
#[non_exhaustive]
pub enum MetricCheck {
    /// A measured value against a success and/or failure condition (Argo).
    Threshold {
        /// Met: the measurement succeeds.
        #[cfg_attr(
            feature = "serde",
            serde(default, deserialize_with = "crate::one_key::option")
        )]
        success: Option<Condition>,
        /// Met: the measurement fails.
        #[cfg_attr(
            feature = "serde",
            serde(default, deserialize_with = "crate::one_key::option")
        )]
        failure: Option<Condition>,
    },
    /// Canary samples against baseline samples, judged per measurement as Kayenta does:
    /// Pass succeeds; High, Low and NoDataFail fail; NoData is inconclusive; Error errs.
    Judge(MetricJudgeSpec),
    /// Canary samples against baseline samples, accumulated over the run and tested
    /// sequentially, so the false-failure rate over all looks stays below `alpha`.
    Sequential(SequentialSpec),
}

/// One metric of an analysis: what is checked and how often, with Argo Rollouts' limits.
///
/// Limits are signed so that a document with a negative one is refused with a typed
/// error rather than a parse error; [`MetricSpec::validate`] checks them.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[allow(clippy::exhaustive_structs)] // Built by callers with a struct literal: a new field is a deliberate, breaking change.
pub struct MetricSpec {
    /// The metric's name, unique in its run.
    pub name: String,
    /// How a measurement is decided.
    #[cfg_attr(
        feature = "serde",
        serde(deserialize_with = "crate::one_key::deserialize")
    )]
    pub check: MetricCheck,
    /// Time between the end of one measurement and the next; `None` measures once.
    #[cfg_attr(feature = "serde", serde(default))]
    pub interval: Option<Duration>,
    /// How many measurements to take; `None` with an interval measures until the run is
    /// stopped, `None` without one measures once.
    #[cfg_attr(feature = "serde", serde(default))]
    pub count: Option<i64>,
    /// Wait this long after the run starts before the first measurement.
    #[cfg_attr(feature = "serde", serde(default))]
    pub initial_delay: Duration,
    /// Failed measurements tolerated; one more fails the metric (default 0). -1 never
    /// fails it on failures (then `consecutive_success_limit` must decide).
    #[cfg_attr(feature = "serde", serde(default))]
    pub failure_limit: i64,
    /// Inconclusive measurements tolerated; one more makes the metric inconclusive.
    #[cfg_attr(feature = "serde", serde(default))]
    pub inconclusive_limit: i64,
    /// Errors in a row tolerated; one more makes the metric an error (default 4).
    #[cfg_attr(feature = "serde", serde(default = "default_error_limit"))]
    pub consecutive_error_limit: i64,
    /// Successes in a row that make the metric successful early (0: not used).
    #[cfg_attr(feature = "serde", serde(default))]
    pub consecutive_success_limit: i64,
    /// Measured and reported, but never decides the run.
    #[cfg_attr(feature = "serde", serde(default))]
    pub dry_run: bool,
    /// No data fails a measurement instead of making it inconclusive.
    #[cfg_attr(feature = "serde", serde(default))]
    pub must_have_data: bool,
}

#[cfg(feature = "serde")]
fn default_error_limit() -> i64 {
    DEFAULT_CONSECUTIVE_ERROR_LIMIT
}

impl MetricSpec {
    /// A metric measured once, with Argo's default limits.
    #[must_use]
    pub fn new(name: impl Into<String>, check: MetricCheck) -> Self {
        MetricSpec {
            name: name.into(),
            check,
            interval: None,
            count: None,
            initial_delay: Duration::ZERO,
            failure_limit: 0,
            inconclusive_limit: 0,
            consecutive_error_limit: DEFAULT_CONSECUTIVE_ERROR_LIMIT,
            consecutive_success_limit: 0,
            dry_run: false,
            must_have_data: false,
        }
    }

    /// Checks the conditions, the limits and the schedule.
    ///
    /// # Errors
    ///
    /// [`AnalysisSpecError`] naming what to change.
    pub fn validate(&self) -> Result<(), AnalysisSpecError> {
        let metric = || self.name.clone();
        if self.name.is_empty() {
            return Err(AnalysisSpecError::EmptyName { what: "metric" });
        }
        match &self.check {
            MetricCheck::Threshold {
                success: None,
                failure: None,
            } => {
                return Err(AnalysisSpecError::NoCondition { metric: metric() });
            }
            MetricCheck::Threshold { success, failure } => {
                if let Some(c) = success {
                    c.validate(&self.name, "success")?;
                }
                if let Some(c) = failure {
                    c.validate(&self.name, "failure")?;
                }
            }
            MetricCheck::Judge(judge) => self.judge(judge).validate()?,
            MetricCheck::Sequential(sequential) => {
                sequential.validate()?;
                if self.count.is_none() {
                    return Err(AnalysisSpecError::SequentialNeedsCount { metric: metric() });
                }
            }
        }
        if self.failure_limit < -1 {
            return Err(AnalysisSpecError::NegativeLimit {
                metric: metric(),
                field: "failure_limit",
                value: self.failure_limit,
            });
        }
        for (field, value) in [
            ("inconclusive_limit", self.inconclusive_limit),
            ("consecutive_error_limit", self.consecutive_error_limit),
            ("consecutive_success_limit", self.consecutive_success_limit),
            ("count", self.count.unwrap_or(0)),
        ] {
            if value < 0 {
                return Err(AnalysisSpecError::NegativeLimit {
                    metric: metric(),
                    field,
                    value,
                });
            }
        }
        if self.failure_limit == -1 && self.consecutive_success_limit == 0 {
            return Err(AnalysisSpecError::NothingDecides { metric: metric() });
        }
        if self.interval.is_some_and(Duration::is_zero) {
            return Err(AnalysisSpecError::InvalidNumber {
                field: format!("{}.interval", self.name),
                value: 0.0,
                expected: "use an interval of at least 1ms, or leave it out to measure once",
            });
        }
        match (self.count, self.interval) {
            (Some(0), Some(_)) => {
                Err(AnalysisSpecError::ZeroCountWithInterval { metric: metric() })
            }
            (Some(count), None) if count > 1 => Err(AnalysisSpecError::CountWithoutInterval {
                metric: metric(),
                count,
            }),
            _ => Ok(()),
        }
    }

    /// `judge` as this metric runs it: named after the metric when its own name is left
    /// out, so that a document need not write it twice.
    pub(crate) fn judge(&self, judge: &MetricJudgeSpec) -> MetricJudgeSpec {
        let mut judge = judge.clone();
        if judge.name.is_empty() {
            judge.name.clone_from(&self.name);
        }
        judge
    }

    /// How many measurements complete the metric (Argo's `EffectiveCount`); `None`
    /// measures until the run is stopped.
    #[must_use]
    pub fn effective_count(&self) -> Option<u32> {
        match (self.count, self.interval) {
            (Some(count), _) if count > 0 => Some(u32::try_from(count).unwrap_or(u32::MAX)),
            (_, None) => Some(1),
            (_, Some(_)) => None,
        }
    }
}
