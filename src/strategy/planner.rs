//! The one trait every strategy implements, so that the rollout core never asks which
//! strategy it runs: what the strategy wants (its plan), what each of its steps checks
//! and what a failure there does, where it steps back to, what it keeps warm after a
//! rollout, and how it says where a rollout is. A fourth strategy is one more
//! implementation (and one more `StrategySpec` variant), nothing in the core.

use crate::analysis::OnFailure;
use crate::model::{InstanceGroup, Revision};
use crate::spec::{Checks, StrategySpec};
use crate::strategy::plan::{FleetView, Plan, PlanInput, StepKind};
use crate::time::Timestamp;
use crate::traffic::Weight;

/// What a strategy's sentence about the current step may say: a view of the rollout
/// in flight, read by [`Planner::describe_step`].
pub(crate) struct StepView<'a> {
    /// The revision rolled out.
    pub target: &'a Revision,
    /// The revision it replaces.
    pub stable: &'a Revision,
    /// The plan for the current step.
    pub plan: &'a Plan,
    /// The fleet by role.
    pub fleet: FleetView,
    /// Instances wanted in all.
    pub desired: u32,
    /// When the current step started.
    pub started_at: Timestamp,
    /// What the step's checks still wait for (`": waiting for hooks smoke"`), or "".
    pub checks_waiting: String,
    /// The target's share of the published table.
    pub target_weight: Weight,
    /// Whether the published table routes requests by match (a preview route).
    pub routes_live: bool,
}

/// A strategy, as the rollout core drives it.
pub(crate) trait Planner {
    /// The desired state for `input` (see [`Plan`]).
    fn plan(&self, input: &PlanInput) -> Plan;

    /// The checks step `index` (of kind `step`) runs, if any.
    fn step_checks(&self, _index: u32, _step: StepKind) -> Option<Checks> {
        None
    }

    /// What a failure of step `index`'s checks does. Default: abort.
    fn on_checks_failure(&self, _index: u32) -> OnFailure {
        OnFailure::Abort
    }

    /// Which instances of the stable revision step `index`'s checks compare the target
    /// with. Default: the whole revision.
    fn checks_baseline(&self, _index: u32) -> InstanceGroup {
        InstanceGroup::Main
    }

    /// Where a failure that says "step back" goes from step `index`; `None` for a
    /// strategy with no steps to go back through (the rollout only pauses).
    fn step_back(&self, _index: u32) -> Option<u32> {
        None
    }

    /// What becomes of the previous stable revision when a rollout completes at `now`:
    /// `None` if it is simply scaled away; `Some(until)` if it stays as the warm
    /// standby, until `until` (`None`: for good).
    fn standby_after_completion(&self, _now: Timestamp) -> Option<Option<Timestamp>> {
        None
    }

    /// Where the rollout in flight is, in words, for strategies with steps of their
    /// own; `None` lets the core say it in a rolling update's terms.
    fn describe_step(&self, _view: &StepView<'_>) -> Option<String> {
        None
    }

    /// Why an operator's `promote` finds nothing to finish while the rollout progresses.
    fn nothing_to_promote(&self) -> &'static str {
        "the current step waits for instances to become available, which no promotion can skip"
    }
}

impl StrategySpec {
    /// The strategy, as the core drives it: the one place that tells them apart.
    pub(crate) fn planner(&self) -> &dyn Planner {
        match self {
            StrategySpec::Rolling(rolling) => rolling,
            StrategySpec::BlueGreen(blue_green) => blue_green,
            StrategySpec::Canary(canary) => canary,
        }
    }
}
