//! Checks: [`Metrics`] answering measurements, [`Hooks`] running tests against a
//! revision.

use std::fmt;

use super::forward;
use crate::analysis::Measurement;
use crate::model::{InstanceGroup, Revision};
use crate::output::ActionId;
use crate::strategy::StepKind;
use crate::time::Timestamp;

/// One measurement to make: [`Action::Measure`](crate::Action::Measure)'s fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MeasureQuery<'a> {
    /// The action asking (the same query is asked again under the same id after a
    /// crash).
    pub id: ActionId,
    /// The metric, by its name in the analysis spec.
    pub metric: &'a str,
    /// The revision measured (the target).
    pub revision: &'a Revision,
    /// The revision to compare against, for metrics that compare samples.
    pub baseline: Option<&'a Revision>,
    /// Which of the baseline revision's instances to measure (a canary experiment's
    /// baseline group, or all of them).
    pub baseline_group: InstanceGroup,
    /// The start of the window.
    pub from: Timestamp,
    /// The end of the window.
    pub to: Timestamp,
}

/// Answers measurements: Prometheus, Datadog, CloudWatch.
///
/// # Contract
///
/// [`measure`](Metrics::measure) answers at once (a query, not a job): an adapter
/// bounds it with its own timeout and returns an error when it passes. Its window is
/// closed (`from..to`), so asking again after a crash gives the same answer from a
/// store that keeps its data.
///
/// | result | becomes |
/// |---|---|
/// | `Ok(measurement)` | [`Input::Measured`](crate::Input::Measured) |
/// | `Err` (a timeout included) | [`Input::Measured`](crate::Input::Measured) with [`Measurement::Error`]: the analysis counts it against its `consecutive_error_limit` and asks again after [`ERROR_RETRY_INTERVAL`](crate::analysis::ERROR_RETRY_INTERVAL) |
pub trait Metrics {
    /// What went wrong.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Measures `query.metric` of `query.revision` over `query.from..query.to`.
    ///
    /// # Errors
    ///
    /// The query could not be made, or took too long.
    fn measure(&mut self, query: &MeasureQuery<'_>) -> Result<Measurement, Self::Error>;
}

/// One hook to run: [`Action::RunHook`](crate::Action::RunHook)'s fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HookRun<'a> {
    /// The action asking: a hook run is idempotent by it.
    pub id: ActionId,
    /// The hook, by its name in the spec.
    pub hook: &'a str,
    /// The step whose checks run it.
    pub step: StepKind,
    /// The revision checked (the target).
    pub revision: &'a Revision,
    /// The stable revision, for hooks that compare.
    pub baseline: Option<&'a Revision>,
}

/// How a hook ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HookOutcome {
    /// Whether it passed.
    pub passed: bool,
    /// Why, in the hook's words.
    pub reason: String,
}

impl HookOutcome {
    /// A hook that passed.
    #[must_use]
    pub fn passed(reason: impl Into<String>) -> HookOutcome {
        HookOutcome {
            passed: true,
            reason: reason.into(),
        }
    }

    /// A hook that failed.
    #[must_use]
    pub fn failed(reason: impl Into<String>) -> HookOutcome {
        HookOutcome {
            passed: false,
            reason: reason.into(),
        }
    }
}

/// Runs hooks: smoke tests, a CI job, a webhook (Argo Rollouts' analysis jobs, AWS
/// CodeDeploy's lifecycle hooks).
///
/// # Contract
///
/// A hook may run for minutes, so it is a request, then observations:
///
/// | call | `Ok` becomes | `Err` becomes |
/// |---|---|---|
/// | [`run_hook`](Hooks::run_hook) | nothing yet: the driver asks for the outcome at every poll | [`Input::HookResult`](crate::Input::HookResult) failed, with the error's message: a hook that cannot run fails its step's checks |
/// | [`hook_result`](Hooks::hook_result) | `Some` becomes [`Input::HookResult`](crate::Input::HookResult); `None` (still running): asked again at the next poll | no verdict: asked again at the next poll; a hook that never answers fails at its timeout (the rollout's) |
///
/// `run_hook` is **idempotent by [`HookRun::id`]**: asked again for the same id (a
/// driver resuming after a crash), it does not start a second run. A hook system that
/// answers at once may run the hook inside `run_hook` and keep the outcome for
/// `hook_result`.
pub trait Hooks {
    /// What went wrong.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Starts `run.hook` against `run.revision`, unless a run of `run.id` exists.
    ///
    /// # Errors
    ///
    /// The hook could not be started: it fails.
    fn run_hook(&mut self, run: &HookRun<'_>) -> Result<(), Self::Error>;

    /// How the run of `id` ended, or `None` while it runs.
    ///
    /// # Errors
    ///
    /// Its state could not be read: the driver asks again at its next poll.
    fn hook_result(&mut self, id: ActionId) -> Result<Option<HookOutcome>, Self::Error>;
}

/// The [`Metrics`] and [`Hooks`] of a world that has none: every measurement is an
/// error and every hook fails, saying so. For rollouts whose spec asks for neither.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[allow(clippy::exhaustive_structs)] // Built by callers with a struct literal: a new field is a deliberate, breaking change.
pub struct Unconfigured;

impl fmt::Display for Unconfigured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no adapter is configured for this")
    }
}

impl std::error::Error for Unconfigured {}

impl Metrics for Unconfigured {
    type Error = Unconfigured;

    fn measure(&mut self, _: &MeasureQuery<'_>) -> Result<Measurement, Unconfigured> {
        Err(Unconfigured)
    }
}

impl Hooks for Unconfigured {
    type Error = Unconfigured;

    fn run_hook(&mut self, _: &HookRun<'_>) -> Result<(), Unconfigured> {
        Err(Unconfigured)
    }

    fn hook_result(&mut self, _: ActionId) -> Result<Option<HookOutcome>, Unconfigured> {
        Err(Unconfigured)
    }
}

forward!(Metrics {
    fn measure(&mut self, query: &MeasureQuery<'_>) -> Result<Measurement, Self::Error>;
});

forward!(Hooks {
    fn run_hook(&mut self, run: &HookRun<'_>) -> Result<(), Self::Error>;
    fn hook_result(&mut self, id: ActionId) -> Result<Option<HookOutcome>, Self::Error>;
});
