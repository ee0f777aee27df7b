//! The bookkeeping of analysis runs, sans-IO: when the next measurement is due, and
//! what the measurements so far decide, with Argo Rollouts' semantics
//! (`analysis/analysis.go`: `assessMetricStatus`, `assessRunStatus`,
//! `calculateNextReconcileTime`).
//!
//! Per metric ([`MetricRun`]): measurement `i + 1` is due `interval` after measurement
//! `i` finished (10 s after an error, Argo's `DefaultErrorRetryInterval`), the first one
//! `initial_delay` after the run started. After each measurement the metric is
//! * **Failed** when failures exceed `failure_limit` (unless it is -1),
//! * **Inconclusive** when inconclusive measurements exceed `inconclusive_limit`,
//! * **Error** when errors in a row exceed `consecutive_error_limit`
//!   (when several hold, the later one in this list wins, as in Argo),
//! * **Successful** when `consecutive_success_limit` (if set) successes came in a row,
//! * at `count` measurements: Successful, except that a metric with a success limit it
//!   did not reach is Inconclusive (with a failure limit) or Failed (failure limit -1),
//! * otherwise still Running.
//!
//! Per run ([`AnalysisRun`]): once any metric that is not a dry run ends Failed, Error or
//! Inconclusive, the run stops (the other metrics end Successful, "run terminated") and
//! its verdict is the worst of its metrics that are not dry runs (Successful <
//! Inconclusive < Error < Failed). Dry-run metrics are measured and reported, never
//! decide.

use super::check::{Verdict, evaluate_conditions};
use super::error::AnalysisSpecError;
use super::judge::{Classification, classify_valid};
use super::sequential::SequentialRankSum;
use super::spec::{MetricCheck, MetricSpec};
use crate::time::{Duration, Timestamp};

/// Argo's `DefaultErrorRetryInterval`: how soon a measurement that erred is retried.
pub const ERROR_RETRY_INTERVAL: Duration = Duration::from_secs(10);

/// What a measurement returned: the answer to one measurement request.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Measurement {
    /// One value (for threshold metrics); NaN counts as no data.
    Value(f64),
    /// The query ran but returned nothing.
    NoData,
    /// Canary and baseline samples (for judged and sequential metrics).
    Samples {
        /// The canary's (the target revision's) values.
        canary: Vec<f64>,
        /// The baseline's values.
        baseline: Vec<f64>,
    },
    /// The query could not be made.
    Error(String),
}

/// Where a metric or a run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum RunPhase {
    /// Measuring; no verdict yet.
    Running,
    /// Passed.
    Successful,
    /// Not enough evidence either way: a human decides.
    Inconclusive,
    /// Too many measurements in a row could not be taken.
    Error,
    /// Failed.
    Failed,
}

impl RunPhase {
    /// Whether a verdict has been reached.
    #[must_use]
    pub fn is_complete(self) -> bool {
        self != RunPhase::Running
    }
}

/// The last measurement of a metric, for status and events.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct LastMeasurement {
    /// When it was recorded.
    pub at: Timestamp,
    /// What it said.
    pub verdict: Verdict,
    /// Why, in a sentence.
    pub message: String,
}

/// Counts of a metric's measurements by verdict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct MeasurementCounts {
    /// Measurements that counted (all but errors).
    pub count: u32,
    /// Successful ones.
    pub successful: u32,
    /// Failed ones.
    pub failed: u32,
    /// Inconclusive ones.
    pub inconclusive: u32,
    /// Errors.
    pub error: u32,
    /// Errors in a row, up to the last measurement.
    pub consecutive_error: u32,
    /// Successes in a row, up to the last measurement.
    pub consecutive_success: u32,
}

/// One metric's run: its spec, its counters and its phase. Deterministic and
/// serializable; it never reads a clock.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MetricRun {
    spec: MetricSpec,
    started_at: Timestamp,
    counts: MeasurementCounts,
    last: Option<LastMeasurement>,
    phase: RunPhase,
    reason: String,
    sequential: Option<SequentialRankSum>,
}

impl MetricRun {
    /// Starts measuring `spec` at `now`.
    ///
    /// # Errors
    ///
    /// [`AnalysisSpecError`] when the spec is invalid.
    pub fn new(now: Timestamp, spec: MetricSpec) -> Result<Self, AnalysisSpecError> {
        spec.validate()?;
        let sequential = match &spec.check {
            MetricCheck::Sequential(s) => Some(SequentialRankSum::new(*s)?),
            _ => None,
        };
        Ok(MetricRun {
            spec,
            started_at: now,
            counts: MeasurementCounts::default(),
            last: None,
            phase: RunPhase::Running,
            reason: "waiting for the first measurement".to_owned(),
            sequential,
        })
    }

    /// The spec.
    #[must_use]
    pub fn spec(&self) -> &MetricSpec {
        &self.spec
    }

    /// The metric's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Where the metric stands.
    #[must_use]
    pub fn phase(&self) -> RunPhase {
        self.phase
    }

    /// Why it stands there, in a sentence.
    #[must_use]
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The counters.
    #[must_use]
    pub fn counts(&self) -> MeasurementCounts {
        self.counts
    }

    /// The last measurement, if any.
    #[must_use]
    pub fn last_measurement(&self) -> Option<&LastMeasurement> {
        self.last.as_ref()
    }

    /// When the next measurement should be taken; `None` once the metric is complete.
    /// A time at or before `now` means "measure now".
    #[must_use]
    pub fn next_due(&self) -> Option<Timestamp> {
        if self.phase.is_complete() {
            return None;
        }
        let Some(last) = &self.last else {
            return Some(self.started_at.saturating_add(self.spec.initial_delay));
        };
        if last.verdict == Verdict::Error {
            return Some(last.at.saturating_add(ERROR_RETRY_INTERVAL));
        }
        if self
            .spec
            .effective_count()
            .is_some_and(|c| self.counts.count >= c)
        {
            return None;
        }
        self.spec
            .interval
            .map(|interval| last.at.saturating_add(interval))
    }

    /// Records a measurement taken at `now` and returns its verdict; `None` (nothing
    /// changes) when the metric is already complete. A `now` earlier than the last
    /// measurement is clamped to it.
    pub fn record(&mut self, now: Timestamp, measurement: Measurement) -> Option<Verdict> {
        if self.phase.is_complete() {
            return None;
        }
        let now = self.last.as_ref().map_or(now, |last| now.max(last.at));
        let (verdict, message) = self.evaluate(measurement);
        let c = &mut self.counts;
        match verdict {
            Verdict::Error => {
                c.error += 1;
                c.consecutive_error += 1;
                c.consecutive_success = 0;
            }
            other => {
                c.count += 1;
                c.consecutive_error = 0;
                match other {
                    Verdict::Successful => {
                        c.successful += 1;
                        c.consecutive_success += 1;
                    }
                    Verdict::Failed => {
                        c.failed += 1;
                        c.consecutive_success = 0;
                    }
                    _ => {
                        c.inconclusive += 1;
                        c.consecutive_success = 0;
                    }
                }
            }
        }
        self.last = Some(LastMeasurement {
            at: now,
            verdict,
            message,
        });
        self.assess();
        Some(verdict)
    }

    /// Stops measuring: a running metric ends Successful ("run terminated"), as Argo
    /// ends the metrics of a terminated run.
    pub fn terminate(&mut self) {
        if !self.phase.is_complete() {
            self.phase = RunPhase::Successful;
            self.reason = "run terminated".to_owned();
        }
    }

    fn evaluate(&mut self, measurement: Measurement) -> (Verdict, String) {
        let must_have_data = self.spec.must_have_data;
        let no_data = || {
            if must_have_data {
                (
                    Verdict::Failed,
                    "no data, and the metric must have data".to_owned(),
                )
            } else {
                (Verdict::Inconclusive, "no data".to_owned())
            }
        };
        match (&self.spec.check, measurement) {
            (_, Measurement::Error(message)) => (Verdict::Error, message),
            (_, Measurement::NoData) => no_data(),
            (MetricCheck::Threshold { success, failure }, Measurement::Value(value)) => {
                if value.is_nan() {
                    return no_data();
                }
                let verdict = evaluate_conditions(*success, *failure, must_have_data, Some(value));
                (verdict, format!("value {value}: {verdict:?}"))
            }
            (MetricCheck::Judge(judge), Measurement::Samples { canary, baseline }) => {
                let mut judge = self.spec.judge(judge);
                judge.must_have_data |= must_have_data;
                let result = classify_valid(&judge, &canary, &baseline);
                let verdict = match result.classification {
                    Classification::Pass => Verdict::Successful,
                    Classification::High | Classification::Low | Classification::NoDataFail => {
                        Verdict::Failed
                    }
                    Classification::NoData if judge.must_have_data => Verdict::Failed,
                    Classification::NoData => Verdict::Inconclusive,
                    Classification::Error => Verdict::Error,
                };
                (verdict, result.reason)
            }
            (MetricCheck::Sequential(_), Measurement::Samples { canary, baseline }) => {
                let Some(test) = self.sequential.as_mut() else {
                    return (
                        Verdict::Error,
                        "the sequential test state is missing".to_owned(),
                    );
                };
                if canary.iter().all(|v| !v.is_finite()) || baseline.iter().all(|v| !v.is_finite())
                {
                    return no_data();
                }
                match test.look(&canary, &baseline) {
                    Ok(look) if look.failed => (
                        Verdict::Failed,
                        format!(
                            "sequential test rejects: z = {:.3}, always-valid p = {:.4}",
                            look.z, look.p_value
                        ),
                    ),
                    Ok(look) => (
                        Verdict::Successful,
                        format!(
                            "no significant shift so far: z = {:.3}, always-valid p = {:.4}",
                            look.z, look.p_value
                        ),
                    ),
                    Err(error) => (Verdict::Error, error.to_string()),
                }
            }
            (MetricCheck::Threshold { .. }, Measurement::Samples { .. }) => (
                Verdict::Error,
                "this metric checks a value, but samples were measured".to_owned(),
            ),
            (_, Measurement::Value(_)) => (
                Verdict::Error,
                "this metric compares samples, but a single value was measured".to_owned(),
            ),
        }
    }

    fn assess(&mut self) {
        let spec = &self.spec;
        let c = self.counts;
        let mut decided = None;
        if spec.failure_limit >= 0 && i64::from(c.failed) > spec.failure_limit {
            decided = Some((
                RunPhase::Failed,
                format!(
                    "failed ({}) > failure_limit ({})",
                    c.failed, spec.failure_limit
                ),
            ));
        }
        if i64::from(c.inconclusive) > spec.inconclusive_limit {
            decided = Some((
                RunPhase::Inconclusive,
                format!(
                    "inconclusive ({}) > inconclusive_limit ({})",
                    c.inconclusive, spec.inconclusive_limit
                ),
            ));
        }
        if i64::from(c.consecutive_error) > spec.consecutive_error_limit {
            decided = Some((
                RunPhase::Error,
                format!(
                    "consecutive errors ({}) > consecutive_error_limit ({})",
                    c.consecutive_error, spec.consecutive_error_limit
                ),
            ));
        }
        let success_limit = spec.consecutive_success_limit;
        if decided.is_none()
            && success_limit > 0
            && i64::from(c.consecutive_success) >= success_limit
        {
            decided = Some((
                RunPhase::Successful,
                format!("consecutive_success_limit ({success_limit}) reached"),
            ));
        }
        if decided.is_none() && spec.effective_count().is_some_and(|count| c.count >= count) {
            decided = Some(if success_limit > 0 && spec.failure_limit >= 0 {
                (
                    RunPhase::Inconclusive,
                    format!(
                        "count reached: consecutive_success_limit ({success_limit}) not reached and failure_limit not exceeded"
                    ),
                )
            } else if success_limit > 0 {
                (
                    RunPhase::Failed,
                    format!(
                        "count reached: consecutive_success_limit ({success_limit}) not reached"
                    ),
                )
            } else {
                (RunPhase::Successful, format!("count ({}) reached", c.count))
            });
        }
        match decided {
            Some((phase, reason)) => {
                self.phase = phase;
                // The limit says when; the last measurement says why (for a judge: the
                // classification, the shift, the effect size and the p-value).
                self.reason = match &self.last {
                    Some(last) => format!("{reason}; last measurement: {}", last.message),
                    None => reason,
                };
            }
            None => {
                self.reason = format!(
                    "{} of {} measurements taken",
                    c.count,
                    spec.effective_count()
                        .map_or("unlimited".to_owned(), |n| n.to_string())
                );
            }
        }
    }
}

/// Several metrics measured together, with one verdict (an Argo `AnalysisRun`).
///
/// The host (the rollout engine) calls [`next_due`](AnalysisRun::next_due) to arm a
/// timer; when it fires, asks [`due`](AnalysisRun::due) which metrics to measure,
/// requests the measurements, and passes each answer to
/// [`record`](AnalysisRun::record). [`phase`](AnalysisRun::phase) is the verdict. The
/// whole value serializes, so it persists with whatever hosts it.
///
/// # Examples
///
/// ```
/// use cutover::{Duration, Timestamp};
/// use cutover::analysis::{AnalysisRun, Condition, Measurement, MetricCheck, MetricSpec, RunPhase};
/// let mut spec = MetricSpec::new("error-rate", MetricCheck::Threshold {
///     success: Some(Condition::Below(0.01)),
///     failure: None,
/// });
/// spec.interval = Some(Duration::from_secs(60));
/// spec.count = Some(3);
/// let mut run = AnalysisRun::new(Timestamp::ZERO, vec![spec])?;
/// while let Some(at) = run.next_due() {
///     for metric in run.due(at) {
///         run.record(at, &metric, Measurement::Value(0.002));
///     }
/// }
/// assert_eq!(run.phase(), RunPhase::Successful);
/// # Ok::<(), cutover::analysis::AnalysisSpecError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AnalysisRun {
    metrics: Vec<MetricRun>,
}

impl AnalysisRun {
    /// Starts every metric at `now`.
    ///
    /// # Errors
    ///
    /// [`AnalysisSpecError`] for an invalid metric, two metrics with one name, or none.
    pub fn new(now: Timestamp, specs: Vec<MetricSpec>) -> Result<Self, AnalysisSpecError> {
        if specs.is_empty() {
            return Err(AnalysisSpecError::NoMetrics { what: "analysis" });
        }
        let mut metrics: Vec<MetricRun> = Vec::with_capacity(specs.len());
        for spec in specs {
            if metrics.iter().any(|m| m.name() == spec.name) {
                return Err(AnalysisSpecError::Duplicate {
                    what: "metric",
                    name: spec.name,
                });
            }
            metrics.push(MetricRun::new(now, spec)?);
        }
        Ok(AnalysisRun { metrics })
    }

    /// The metrics, in the order given.
    #[must_use]
    pub fn metrics(&self) -> &[MetricRun] {
        &self.metrics
    }

    /// One metric by name.
    #[must_use]
    pub fn metric(&self, name: &str) -> Option<&MetricRun> {
        self.metrics.iter().find(|m| m.name() == name)
    }

    /// The earliest time a measurement is due; `None` when nothing more is to be
    /// measured.
    #[must_use]
    pub fn next_due(&self) -> Option<Timestamp> {
        self.metrics.iter().filter_map(MetricRun::next_due).min()
    }

    /// The names of the metrics due at `now`, in spec order.
    #[must_use]
    pub fn due(&self, now: Timestamp) -> Vec<String> {
        self.metrics
            .iter()
            .filter(|m| m.next_due().is_some_and(|t| t <= now))
            .map(|m| m.name().to_owned())
            .collect()
    }

    /// Records a measurement of `metric` taken at `now`; returns its verdict, or `None`
    /// when the metric is unknown or already complete (the answer is then ignored).
    pub fn record(
        &mut self,
        now: Timestamp,
        metric: &str,
        measurement: Measurement,
    ) -> Option<Verdict> {
        let verdict = self
            .metrics
            .iter_mut()
            .find(|m| m.name() == metric)?
            .record(now, measurement);
        let stops = self.metrics.iter().any(|m| {
            !m.spec.dry_run
                && matches!(
                    m.phase,
                    RunPhase::Failed | RunPhase::Error | RunPhase::Inconclusive
                )
        });
        if stops {
            self.terminate();
        }
        verdict
    }

    /// Stops the run: every running metric ends Successful ("run terminated").
    pub fn terminate(&mut self) {
        for m in &mut self.metrics {
            m.terminate();
        }
    }

    /// The run's verdict: Running while any metric is, then the worst of the metrics
    /// that are not dry runs (Successful when all are dry runs).
    #[must_use]
    pub fn phase(&self) -> RunPhase {
        if self.metrics.iter().any(|m| !m.phase.is_complete()) {
            return RunPhase::Running;
        }
        self.deciding().map_or(RunPhase::Successful, |m| m.phase)
    }

    /// Why the run has its verdict, in a sentence.
    #[must_use]
    pub fn reason(&self) -> String {
        match self.phase() {
            RunPhase::Running => "measuring".to_owned(),
            phase => match self.deciding() {
                Some(m) => format!("metric {:?} assessed {phase:?}: {}", m.name(), m.reason()),
                None => "every metric is a dry run".to_owned(),
            },
        }
    }

    fn deciding(&self) -> Option<&MetricRun> {
        self.metrics
            .iter()
            .filter(|m| !m.spec.dry_run)
            .max_by(|a, b| {
                // Ties keep the first metric in spec order.
                a.phase.cmp(&b.phase).then(std::cmp::Ordering::Greater)
            })
    }
}

#[cfg(test)]
mod tests;
