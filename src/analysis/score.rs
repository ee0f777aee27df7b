//! Scoring a whole judgement as Kayenta's `WeightedSumScorer` and
//! `ThresholdScoreClassifier` do (see the judge's module docs in `judge.rs`).

use std::collections::BTreeMap;

use super::error::{AnalysisSpecError, check_number};
use super::judge::{Classification, MetricClassification, MetricJudgeSpec, classify_valid};

/// A group of metrics scored together, with an optional weight out of 100.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[allow(clippy::exhaustive_structs)] // Built by callers with a struct literal: a new field is a deliberate, breaking change.
pub struct GroupSpec {
    /// The group's name.
    pub name: String,
    /// Its share of the summary score; groups without one share what is left of 100.
    #[cfg_attr(feature = "serde", serde(default))]
    pub weight: Option<f64>,
    /// The metrics in it (a metric may be in several groups).
    pub metrics: Vec<String>,
}

/// A whole judgement: the metrics, their groups and the score thresholds.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[allow(clippy::exhaustive_structs)] // Built by callers with a struct literal: a new field is a deliberate, breaking change.
pub struct JudgeSpec {
    /// How each metric is judged.
    pub metrics: Vec<MetricJudgeSpec>,
    /// The groups.
    pub groups: Vec<GroupSpec>,
    /// A score at or above this passes.
    pub pass_threshold: f64,
    /// A score at or above this (and below the pass threshold) is marginal.
    pub marginal_threshold: f64,
}

impl JudgeSpec {
    /// Checks the metrics, the groups, the weights and the thresholds.
    ///
    /// # Errors
    ///
    /// [`AnalysisSpecError`] naming what to change.
    pub fn validate(&self) -> Result<(), AnalysisSpecError> {
        if self.metrics.is_empty() {
            return Err(AnalysisSpecError::NoMetrics { what: "judgement" });
        }
        let mut names = BTreeMap::new();
        for metric in &self.metrics {
            metric.validate()?;
            if names.insert(metric.name.as_str(), false).is_some() {
                return Err(AnalysisSpecError::Duplicate {
                    what: "metric",
                    name: metric.name.clone(),
                });
            }
        }
        let mut groups = BTreeMap::new();
        let mut total = 0.0;
        for group in &self.groups {
            if group.name.is_empty() {
                return Err(AnalysisSpecError::EmptyName { what: "group" });
            }
            if groups.insert(group.name.as_str(), ()).is_some() {
                return Err(AnalysisSpecError::Duplicate {
                    what: "group",
                    name: group.name.clone(),
                });
            }
            if let Some(weight) = group.weight {
                check_number(
                    || format!("group {:?} weight", group.name),
                    weight,
                    0.0,
                    false,
                    "a weight is a number from 0 to 100",
                )?;
                total += weight;
            }
            for metric in &group.metrics {
                match names.get_mut(metric.as_str()) {
                    Some(grouped) => *grouped = true,
                    None => {
                        return Err(AnalysisSpecError::UnknownMetricInGroup {
                            group: group.name.clone(),
                            metric: metric.clone(),
                        });
                    }
                }
            }
        }
        if total > 100.0 {
            return Err(AnalysisSpecError::GroupWeightsOver100 { total });
        }
        if let Some((metric, _)) = names.iter().find(|(_, grouped)| !**grouped) {
            return Err(AnalysisSpecError::MetricInNoGroup {
                metric: (*metric).to_owned(),
            });
        }
        for (field, value) in [
            ("pass_threshold", self.pass_threshold),
            ("marginal_threshold", self.marginal_threshold),
        ] {
            if !(0.0..=100.0).contains(&value) {
                return Err(AnalysisSpecError::ThresholdOutOfRange { field, value });
            }
        }
        if self.pass_threshold < self.marginal_threshold {
            return Err(AnalysisSpecError::PassBelowMarginal {
                pass: self.pass_threshold,
                marginal: self.marginal_threshold,
            });
        }
        Ok(())
    }
}

/// The verdict of a judgement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Outcome {
    /// The score reached the pass threshold.
    Pass,
    /// The score reached the marginal threshold but not the pass threshold.
    Marginal,
    /// Below the marginal threshold, or a critical failure, or too little data.
    Fail,
}

/// One group's score.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct GroupScore {
    /// The group.
    pub name: String,
    /// The share of its counted metrics that passed, 0 to 100.
    pub score: f64,
    /// No metric in it counted (all no data, or all muted).
    pub no_data: bool,
}

/// The result of [`score_judgement`] or [`judge`].
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Judgement {
    /// The summary score, 0 to 100, two decimals.
    pub score: f64,
    /// Pass, marginal or fail.
    pub outcome: Outcome,
    /// Why the score is what it is, in a sentence.
    pub reason: String,
    /// Each group's score, in the spec's order.
    pub groups: Vec<GroupScore>,
    /// Each metric's classification, in the spec's order.
    pub metrics: Vec<MetricClassification>,
}

/// Kayenta's rule: 50% or more of the metrics without data fails the judgement.
const NO_DATA_PERCENT: f64 = 50.0;

/// Scores a judgement from its metrics' classifications (one per metric of `spec`,
/// matched by name; a metric without a classification counts as no data).
///
/// # Errors
///
/// [`AnalysisSpecError`] when the spec is invalid.
pub fn score_judgement(
    spec: &JudgeSpec,
    results: &[MetricClassification],
) -> Result<Judgement, AnalysisSpecError> {
    spec.validate()?;
    let metrics: Vec<MetricClassification> = spec
        .metrics
        .iter()
        .map(|m| {
            results
                .iter()
                .find(|r| r.name == m.name)
                .cloned()
                .unwrap_or_else(|| MetricClassification {
                    name: m.name.clone(),
                    classification: Classification::NoData,
                    critical: m.critical && !m.muted,
                    muted: m.muted,
                    effect_size: m.effect_size.neutral(),
                    estimate: None,
                    p_value: None,
                    reason: format!("no result for {}", m.name),
                })
        })
        .collect();
    Ok(score_valid(spec, metrics))
}

/// Classifies every metric of `spec` from its samples (`(canary, baseline)` per metric,
/// in the spec's order; missing pairs are no data) and scores the judgement.
///
/// # Errors
///
/// [`AnalysisSpecError`] when the spec is invalid.
///
/// # Examples
///
/// ```
/// use cutover::analysis::{GroupSpec, JudgeSpec, MetricJudgeSpec, Outcome, judge};
/// let spec = JudgeSpec {
///     metrics: vec![MetricJudgeSpec::new("latency"), MetricJudgeSpec::new("errors")],
///     groups: vec![GroupSpec { name: "all".into(), weight: None, metrics: vec!["latency".into(), "errors".into()] }],
///     pass_threshold: 95.0,
///     marginal_threshold: 75.0,
/// };
/// let base: Vec<f64> = (0..40).map(|i| f64::from(i % 7)).collect();
/// let judgement = judge(&spec, &[(&base[..], &base[..]), (&base[..], &base[..])])?;
/// assert_eq!((judgement.score, judgement.outcome), (100.0, Outcome::Pass));
/// # Ok::<(), cutover::analysis::AnalysisSpecError>(())
/// ```
pub fn judge(
    spec: &JudgeSpec,
    samples: &[(&[f64], &[f64])],
) -> Result<Judgement, AnalysisSpecError> {
    spec.validate()?;
    let metrics = spec
        .metrics
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let (canary, baseline) = samples.get(i).copied().unwrap_or((&[], &[]));
            classify_valid(m, canary, baseline)
        })
        .collect();
    Ok(score_valid(spec, metrics))
}

fn score_valid(spec: &JudgeSpec, metrics: Vec<MetricClassification>) -> Judgement {
    let counted: Vec<&MetricClassification> = metrics.iter().filter(|m| !m.muted).collect();
    let groups: Vec<GroupScore> = spec
        .groups
        .iter()
        .map(|group| {
            let (mut passed, mut total) = (0u32, 0u32);
            for m in counted.iter().filter(|m| group.metrics.contains(&m.name)) {
                match m.classification {
                    Classification::Pass => {
                        passed += 1;
                        total += 1;
                    }
                    Classification::High | Classification::Low | Classification::NoDataFail => {
                        total += 1
                    }
                    Classification::NoData | Classification::Error => {}
                }
            }
            GroupScore {
                name: group.name.clone(),
                score: if total == 0 {
                    0.0
                } else {
                    f64::from(passed) / f64::from(total) * 100.0
                },
                no_data: total == 0,
            }
        })
        .collect();
    let classify = |score: f64| {
        if score >= spec.pass_threshold {
            Outcome::Pass
        } else if score >= spec.marginal_threshold {
            Outcome::Marginal
        } else {
            Outcome::Fail
        }
    };
    if let Some(failure) = counted
        .iter()
        .find(|m| m.critical && m.classification != Classification::Pass)
    {
        return Judgement {
            score: 0.0,
            outcome: classify(0.0),
            reason: format!(
                "canary failed: critical metric {}: {}",
                failure.name, failure.reason
            ),
            groups,
            metrics,
        };
    }
    let no_data = counted
        .iter()
        .filter(|m| m.classification == Classification::NoData)
        .count();
    if !counted.is_empty() && no_data as f64 / counted.len() as f64 * 100.0 >= NO_DATA_PERCENT {
        return Judgement {
            score: 0.0,
            outcome: classify(0.0),
            reason: format!(
                "canary failed: {no_data} of {} metrics (50% or more) returned no data",
                counted.len()
            ),
            groups,
            metrics,
        };
    }
    let explicit: f64 = spec.groups.iter().filter_map(|g| g.weight).sum();
    let unweighted = spec.groups.iter().filter(|g| g.weight.is_none()).count();
    let shared = if unweighted == 0 {
        0.0
    } else {
        (100.0 - explicit) / unweighted as f64
    };
    let raw: f64 = spec
        .groups
        .iter()
        .zip(&groups)
        .map(
            |(g, s)| if s.no_data { 100.0 } else { s.score } * (g.weight.unwrap_or(shared) / 100.0),
        )
        .sum();
    let score = (raw * 100.0).round() / 100.0;
    let outcome = classify(score);
    Judgement {
        score,
        outcome,
        reason: format!(
            "score {score}: {outcome:?} (pass at {}, marginal at {})",
            spec.pass_threshold, spec.marginal_threshold
        ),
        groups,
        metrics,
    }
}
