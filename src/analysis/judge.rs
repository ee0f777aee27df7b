//! A canary judge compatible with Kayenta's `NetflixACAJudge-v1.0`.
//!
//! Per metric ([`classify_metric`]): NaNs are removed or replaced, outliers optionally
//! removed (Tukey's fences at `factor` × IQR, widened to the 1st / 99th percentiles, as
//! Kayenta's `IQRDetector(reduceSensitivity = true)`), then the canary is compared with
//! the baseline by the rank-sum test ([`rank_sum_test`]) at `confidence` (0.98). The
//! metric is **High** when the whole interval for the shift lies above the tolerance
//! band `±tolerance × |estimate|` (0.25) and the effect size reaches `allowed_increase`;
//! **Low** symmetrically; otherwise **Pass**. Empty samples are **NoData**
//! (**NoDataFail** when the metric must have data); samples the test refuses are
//! **Error**.
//!
//! For the whole judgement ([`score_judgement`]): each group scores the share of its
//! metrics that passed (no-data metrics are left out; a group with nothing but no-data
//! counts as 100); the summary score is the weighted sum of the group scores, groups
//! without an explicit weight sharing what is left of 100 equally, rounded to two
//! decimals. A failed critical metric, or 50% or more of the metrics without data, sets
//! the score to 0. The score is then Pass at `pass_threshold` or above, Marginal at
//! `marginal_threshold` or above, Fail below.
//!
//! Where Kayenta differs, on purpose:
//! * **Both samples internally constant** (each sample one repeated value, the two
//!   values different): Kayenta adds unseeded Gaussian noise of 1e-5 × the value before
//!   testing, so its answer is random. Here every pairwise difference equals
//!   `canary − baseline`, so the estimate and both interval ends are that difference,
//!   and the tolerance band is applied to it directly: a higher canary is High, a lower
//!   one Low (subject to direction and effect size), deterministically.
//! * **Empty samples** are NoData whatever the NaN strategy (Kayenta passes an empty
//!   metric when NaNs are replaced).
//! * **Errors of a critical metric** fail the judgement as NoData of a critical metric
//!   does (Kayenta leaves an erroring critical metric non-critical).
//! * **Muted metrics** are classified and reported but never count: not in group scores,
//!   not as critical failures, not in the no-data rule.

use std::fmt;

use super::error::{AnalysisSpecError, check_number};
use super::rank_sum::{RankSumError, rank_sum_test};

/// Which change of a metric counts against the canary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Direction {
    /// Only an increase fails (latency, error rate).
    Increase,
    /// Only a decrease fails (throughput, success rate).
    Decrease,
    /// Either change fails (Kayenta's default).
    #[default]
    Either,
}

/// What to do with NaN values in the samples.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum NanStrategy {
    /// Drop them (Kayenta's default).
    #[default]
    Remove,
    /// Replace each with this value (Kayenta's `replace` uses 0).
    Replace(f64),
}

/// How the size of a difference is measured, for the effect-size limits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum EffectSize {
    /// `mean(canary) / mean(baseline)`; 1 when the baseline mean is 0 (Kayenta).
    /// Limits default to 1.0.
    #[default]
    MeanRatio,
    /// The common-language effect size: the chance that a canary value exceeds a
    /// baseline value (ties count half), `W / (n m)`. Limits default to 0.5.
    Cles,
}

impl EffectSize {
    /// The "no effect" value: 1 for the mean ratio, 0.5 for CLES.
    #[must_use]
    pub fn neutral(self) -> f64 {
        match self {
            EffectSize::MeanRatio => 1.0,
            EffectSize::Cles => 0.5,
        }
    }
}

/// How one metric is judged. Build with [`MetricJudgeSpec::new`] and adjust fields.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
#[allow(clippy::exhaustive_structs)] // Built by callers with a struct literal: a new field is a deliberate, breaking change.
pub struct MetricJudgeSpec {
    /// The metric's name. In a [`MetricSpec`](crate::analysis::MetricSpec)'s check it may be left
    /// empty (out of a document): the metric's name is used.
    pub name: String,
    /// Which change fails.
    pub direction: Direction,
    /// What to do with NaNs.
    #[cfg_attr(
        feature = "serde",
        serde(deserialize_with = "crate::one_key::deserialize")
    )]
    pub nan_strategy: NanStrategy,
    /// Remove outliers beyond this many interquartile ranges (Kayenta uses 3.0);
    /// `None` keeps every value.
    pub outlier_factor: Option<f64>,
    /// How the effect size is measured.
    pub effect_size: EffectSize,
    /// The effect size a High needs to reach (default: neutral, so any).
    pub allowed_increase: f64,
    /// The effect size a Low needs to reach, from below (default: neutral).
    pub allowed_decrease: f64,
    /// For a critical metric: the effect size at which a High fails the judgement.
    pub critical_increase: f64,
    /// For a critical metric: the effect size at which a Low fails the judgement.
    pub critical_decrease: f64,
    /// A failure of this metric fails the whole judgement.
    pub critical: bool,
    /// No data is a failure of this metric (NoDataFail) rather than left out.
    pub must_have_data: bool,
    /// Classified and reported, never counted.
    pub muted: bool,
    /// The confidence level of the rank-sum interval (Kayenta: 0.98).
    pub confidence: f64,
    /// The tolerance band, as a fraction of `|estimate|` (Kayenta: 0.25).
    pub tolerance: f64,
}

impl Default for MetricJudgeSpec {
    fn default() -> Self {
        MetricJudgeSpec::new("")
    }
}

impl MetricJudgeSpec {
    /// Kayenta's defaults for a metric called `name`.
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        MetricJudgeSpec {
            name: name.into(),
            direction: Direction::Either,
            nan_strategy: NanStrategy::Remove,
            outlier_factor: None,
            effect_size: EffectSize::MeanRatio,
            allowed_increase: 1.0,
            allowed_decrease: 1.0,
            critical_increase: 1.0,
            critical_decrease: 1.0,
            critical: false,
            must_have_data: false,
            muted: false,
            confidence: 0.98,
            tolerance: 0.25,
        }
    }

    /// Checks every number.
    ///
    /// # Errors
    ///
    /// [`AnalysisSpecError`] naming the field to change.
    pub fn validate(&self) -> Result<(), AnalysisSpecError> {
        if self.name.is_empty() {
            return Err(AnalysisSpecError::EmptyName { what: "metric" });
        }
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(AnalysisSpecError::InvalidConfidence {
                value: self.confidence,
            });
        }
        let field = |f: &str| format!("{}.{f}", self.name);
        check_number(
            || field("tolerance"),
            self.tolerance,
            0.0,
            false,
            "use a finite fraction of 0 or more, such as 0.25",
        )?;
        if let Some(factor) = self.outlier_factor {
            check_number(
                || field("outlier_factor"),
                factor,
                0.0,
                true,
                "use a finite factor above 0, such as 3.0",
            )?;
        }
        if let NanStrategy::Replace(value) = self.nan_strategy {
            check_number(
                || field("nan_strategy.replace"),
                value,
                f64::MIN,
                false,
                "replace NaNs with a finite value, such as 0",
            )?;
        }
        for (name, value) in [
            ("allowed_increase", self.allowed_increase),
            ("allowed_decrease", self.allowed_decrease),
            ("critical_increase", self.critical_increase),
            ("critical_decrease", self.critical_decrease),
        ] {
            let (ok, expected) = match self.effect_size {
                EffectSize::MeanRatio => (
                    value.is_finite() && value >= 0.0,
                    "a mean ratio is finite and 0 or more, such as 1.2",
                ),
                EffectSize::Cles => (
                    (0.0..=1.0).contains(&value),
                    "a CLES limit is a probability from 0 to 1, such as 0.6",
                ),
            };
            if !ok {
                return Err(AnalysisSpecError::InvalidNumber {
                    field: field(name),
                    value,
                    expected,
                });
            }
        }
        Ok(())
    }
}

/// One metric's classification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Classification {
    /// No significant difference beyond the tolerance band.
    Pass,
    /// The canary is significantly higher.
    High,
    /// The canary is significantly lower.
    Low,
    /// A sample was empty; left out of the group score.
    NoData,
    /// A sample was empty and the metric must have data: counts as a failure.
    NoDataFail,
    /// The samples could not be tested (for example an infinite value).
    Error,
}

impl fmt::Display for Classification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Classification::Pass => "Pass",
            Classification::High => "High",
            Classification::Low => "Low",
            Classification::NoData => "Nodata",
            Classification::NoDataFail => "NodataFailMetric",
            Classification::Error => "Error",
        })
    }
}

/// The outcome of [`classify_metric`].
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct MetricClassification {
    /// The metric.
    pub name: String,
    /// Its classification.
    pub classification: Classification,
    /// Whether this result fails the whole judgement (a critical metric that failed
    /// beyond its critical limit, or had no data, or erred).
    pub critical: bool,
    /// Whether the metric is muted (reported, never counted).
    pub muted: bool,
    /// The effect size (mean ratio or CLES; neutral when not computed).
    pub effect_size: f64,
    /// The estimated location shift, canary minus baseline, when computed.
    pub estimate: Option<f64>,
    /// The rank-sum test's two-sided p-value, when the test ran (not for constant or
    /// missing samples).
    pub p_value: Option<f64>,
    /// Why, in a sentence: the metric, its classification, the shift's interval, the
    /// effect size and the p-value.
    pub reason: String,
}

/// Classifies one metric: `canary` against `baseline`, as Kayenta's
/// `MannWhitneyClassifier` does (see the module docs for the rule and the deliberate
/// differences). Never fails: bad samples are [`Classification::Error`].
///
/// # Errors
///
/// [`AnalysisSpecError`] when the spec itself is invalid.
///
/// # Examples
///
/// ```
/// use cutover::analysis::{Classification, MetricJudgeSpec, classify_metric};
/// let spec = MetricJudgeSpec::new("latency");
/// let baseline: Vec<f64> = (0..50).map(|i| 100.0 + f64::from(i % 10)).collect();
/// let canary: Vec<f64> = baseline.iter().map(|v| v * 1.5).collect();
/// let result = classify_metric(&spec, &canary, &baseline)?;
/// assert_eq!(result.classification, Classification::High);
/// # Ok::<(), cutover::analysis::AnalysisSpecError>(())
/// ```
pub fn classify_metric(
    spec: &MetricJudgeSpec,
    canary: &[f64],
    baseline: &[f64],
) -> Result<MetricClassification, AnalysisSpecError> {
    spec.validate()?;
    Ok(classify_valid(spec, canary, baseline))
}

pub(crate) fn classify_valid(
    spec: &MetricJudgeSpec,
    canary: &[f64],
    baseline: &[f64],
) -> MetricClassification {
    let canary = prepare(canary, spec);
    let baseline = prepare(baseline, spec);
    let neutral = spec.effect_size.neutral();
    let result =
        |classification, critical, effect_size, estimate, reason: String| MetricClassification {
            name: spec.name.clone(),
            classification,
            critical,
            muted: spec.muted,
            effect_size,
            estimate,
            p_value: None,
            reason,
        };
    if canary.is_empty() || baseline.is_empty() {
        let which = if canary.is_empty() {
            "canary"
        } else {
            "baseline"
        };
        let reason = format!("missing data for {} ({which} has no values)", spec.name);
        return if spec.must_have_data && !spec.critical {
            result(Classification::NoDataFail, false, neutral, None, reason)
        } else {
            result(Classification::NoData, spec.critical, neutral, None, reason)
        };
    }
    if same_values(&canary, &baseline) {
        return result(
            Classification::Pass,
            false,
            neutral,
            Some(0.0),
            "the canary and baseline data are identical".into(),
        );
    }
    let effect = effect_size(spec.effect_size, &canary, &baseline);
    let (low, high, estimate, p_value) = match (constant(&canary), constant(&baseline)) {
        (Some(c), Some(b)) => (c - b, c - b, c - b, None),
        _ => match rank_sum_test(&canary, &baseline, spec.confidence) {
            Ok(test) => match (test.interval, test.estimate) {
                (Some(i), Some(e)) => (i.low, i.high, e, Some(test.p_value)),
                // R's interval fails only when the shifted samples are all tied, which
                // for non-constant samples means too few values to bound the shift.
                _ => {
                    return result(
                        Classification::Pass,
                        false,
                        effect.unwrap_or(neutral),
                        test.estimate,
                        "too few values to bound the shift".into(),
                    );
                }
            },
            Err(RankSumError::AllTied) => {
                return result(
                    Classification::Pass,
                    false,
                    neutral,
                    Some(0.0),
                    "every value is the same".into(),
                );
            }
            Err(error) => {
                return result(
                    Classification::Error,
                    spec.critical,
                    neutral,
                    None,
                    format!("metric classification failed: {error}"),
                );
            }
        },
    };
    let Some(effect) = effect else {
        return result(
            Classification::Error,
            spec.critical,
            neutral,
            Some(estimate),
            "the effect size is not finite".into(),
        );
    };
    let band = spec.tolerance * estimate.abs();
    let p = p_value.map_or_else(String::new, |p| format!(", p = {p:.4}"));
    let result = |classification, critical, effect_size, estimate, reason| MetricClassification {
        p_value,
        ..result(classification, critical, effect_size, estimate, reason)
    };
    let high_allowed = matches!(spec.direction, Direction::Increase | Direction::Either);
    let low_allowed = matches!(spec.direction, Direction::Decrease | Direction::Either);
    if high_allowed && low > band && effect >= spec.allowed_increase {
        let critical = spec.critical && effect >= spec.critical_increase;
        let reason = format!(
            "{} was classified as High{}: the shift is in [{low}, {high}], above +{band} (effect size {effect}{p})",
            spec.name,
            if critical { " (Critical)" } else { "" },
        );
        return result(
            Classification::High,
            critical,
            effect,
            Some(estimate),
            reason,
        );
    }
    if low_allowed && high < -band && effect <= spec.allowed_decrease {
        let critical = spec.critical && effect <= spec.critical_decrease;
        let reason = format!(
            "{} was classified as Low{}: the shift is in [{low}, {high}], below -{band} (effect size {effect}{p})",
            spec.name,
            if critical { " (Critical)" } else { "" },
        );
        return result(
            Classification::Low,
            critical,
            effect,
            Some(estimate),
            reason,
        );
    }
    result(
        Classification::Pass,
        false,
        effect,
        Some(estimate),
        format!(
            "{} passed: the shift is in [{low}, {high}] (tolerance ±{band}, effect size {effect}{p})",
            spec.name
        ),
    )
}

fn prepare(values: &[f64], spec: &MetricJudgeSpec) -> Vec<f64> {
    let mut kept: Vec<f64> = match spec.nan_strategy {
        NanStrategy::Remove => values.iter().copied().filter(|v| !v.is_nan()).collect(),
        NanStrategy::Replace(with) => values
            .iter()
            .map(|&v| if v.is_nan() { with } else { v })
            .collect(),
    };
    if let Some(factor) = spec.outlier_factor {
        remove_outliers(&mut kept, factor);
    }
    kept
}

/// Kayenta's `IQRDetector(factor, reduceSensitivity = true)`: drop values outside
/// `[min(p1, q1 − f·IQR), max(p99, q3 + f·IQR)]`, percentiles estimated as Apache
/// Commons Math's `StatUtils.percentile` does.
fn remove_outliers(values: &mut Vec<f64>, factor: f64) {
    if values.is_empty() {
        return;
    }
    let mut sorted = values.clone();
    sorted.sort_unstable_by(f64::total_cmp);
    let q1 = percentile(&sorted, 25.0);
    let q3 = percentile(&sorted, 75.0);
    let iqr = q3 - q1;
    let lower = percentile(&sorted, 1.0).min(q1 - factor * iqr);
    let upper = percentile(&sorted, 99.0).max(q3 + factor * iqr);
    values.retain(|&v| !(v > upper || v < lower));
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    match n {
        0 => return f64::NAN,
        1 => return sorted[0],
        _ => {}
    }
    let pos = p * (n as f64 + 1.0) / 100.0;
    let floor = pos.floor();
    if pos < 1.0 {
        return sorted[0];
    }
    if pos >= n as f64 {
        return sorted[n - 1];
    }
    // 1 <= pos < n, so 1 <= floor <= n - 1.
    let index = floor as usize;
    let (lower, upper) = (sorted[index - 1], sorted[index]);
    lower + (pos - floor) * (upper - lower)
}

fn same_values(a: &[f64], b: &[f64]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_unstable_by(f64::total_cmp);
    b.sort_unstable_by(f64::total_cmp);
    a.iter().zip(&b).all(|(x, y)| x == y)
}

fn constant(values: &[f64]) -> Option<f64> {
    let first = *values.first()?;
    values.iter().all(|&v| v == first).then_some(first)
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

fn effect_size(kind: EffectSize, canary: &[f64], baseline: &[f64]) -> Option<f64> {
    let value = match kind {
        EffectSize::MeanRatio => {
            let base = mean(baseline);
            if base == 0.0 {
                1.0
            } else {
                mean(canary) / base
            }
        }
        EffectSize::Cles => {
            let mut sorted = baseline.to_vec();
            sorted.sort_unstable_by(f64::total_cmp);
            let pairs: f64 = canary
                .iter()
                .map(|&c| {
                    let below = sorted.partition_point(|&b| b < c);
                    let not_above = sorted.partition_point(|&b| b <= c);
                    below as f64 + 0.5 * (not_above - below) as f64
                })
                .sum();
            pairs / (canary.len() as f64 * baseline.len() as f64)
        }
    };
    value.is_finite().then_some(value)
}

#[cfg(test)]
mod tests;
