//! [`BackgroundAnalysis`]: an analysis that runs beside a rollout (as AWS CodeDeploy's
//! alarms watch an in-place update, or Argo Rollouts' background analysis a canary),
//! with its start condition and what its verdicts do.

use super::error::AnalysisSpecError;
use super::spec::MetricSpec;

/// When a background analysis starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum AnalysisStart {
    /// As soon as the rollout starts.
    #[default]
    Immediately,
    /// Once this many instances of the new revision are available (there is then
    /// something to measure).
    AfterReplaced(u32),
    /// Once a canary reaches this step (from 0): Argo's background analysis
    /// `startingStep`. Canary steps only.
    AtStep(u32),
}

/// What a failed analysis (or one that could not measure) does to the rollout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum OnFailure {
    /// Abort: traffic back to the stable revision within the safety envelope.
    #[default]
    Abort,
    /// Pause for a person (`promote` goes on, `abort` gives up).
    Pause,
    /// Go back to the weight before the current one and pause for a person (canary
    /// steps only).
    StepBack,
}

/// What an inconclusive analysis does to the rollout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum OnInconclusive {
    /// Pause for a person, as Argo Rollouts does (`promote` goes on).
    #[default]
    Pause,
    /// Treat it as a failure.
    Fail,
}

/// An analysis that runs beside the rollout from its start condition until the rollout
/// ends, measuring the target revision (with the stable one as the baseline).
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[allow(clippy::exhaustive_structs)] // Built by callers with a struct literal: a new field is a deliberate, breaking change.
pub struct BackgroundAnalysis {
    /// The metrics measured.
    pub metrics: Vec<MetricSpec>,
    /// When it starts. Default: at once.
    #[cfg_attr(
        feature = "serde",
        serde(default, deserialize_with = "crate::one_key::deserialize")
    )]
    pub start: AnalysisStart,
    /// What a failure (or too many measurement errors) does. Default: abort.
    #[cfg_attr(feature = "serde", serde(default))]
    pub on_failure: OnFailure,
    /// What an inconclusive verdict does. Default: pause.
    #[cfg_attr(feature = "serde", serde(default))]
    pub on_inconclusive: OnInconclusive,
}

impl BackgroundAnalysis {
    /// An analysis of `metrics`, starting at once, aborting on failure and pausing when
    /// inconclusive.
    #[must_use]
    pub fn new(metrics: Vec<MetricSpec>) -> Self {
        BackgroundAnalysis {
            metrics,
            start: AnalysisStart::default(),
            on_failure: OnFailure::default(),
            on_inconclusive: OnInconclusive::default(),
        }
    }

    /// Checks every metric, their names, and that the policies fit a strategy with
    /// (`has_steps`) or without steps.
    ///
    /// # Errors
    ///
    /// The first problem found, saying what to change.
    pub fn validate(&self, has_steps: bool) -> Result<(), AnalysisSpecError> {
        if self.metrics.is_empty() {
            return Err(AnalysisSpecError::NoMetrics { what: "analysis" });
        }
        let mut names = std::collections::BTreeSet::new();
        for metric in &self.metrics {
            metric.validate()?;
            if metric.interval.is_none() && metric.initial_delay.is_zero() {
                return Err(AnalysisSpecError::EmptyFirstWindow {
                    metric: metric.name.clone(),
                });
            }
            if !names.insert(metric.name.as_str()) {
                return Err(AnalysisSpecError::Duplicate {
                    what: "metric",
                    name: metric.name.clone(),
                });
            }
        }
        if self.on_failure == OnFailure::StepBack && !has_steps {
            return Err(AnalysisSpecError::StepBackWithoutSteps);
        }
        if matches!(self.start, AnalysisStart::AtStep(_)) && !has_steps {
            return Err(AnalysisSpecError::AtStepWithoutSteps);
        }
        Ok(())
    }
}
