//! Strategies decide; the rollout core enforces.
//!
//! A strategy is a pure planner: from the fleet counted by role ([`FleetView`]) and what
//! the core asks for ([`Mode`]), it returns a desired state ([`Plan`]): instances wanted
//! per role, a traffic intent and its step bookkeeping. It never emits actions. The core
//! ([`Rollout`](crate::Rollout)) moves toward the plan inside its safety envelope,
//! whatever the plan asks.

mod blue_green;
mod canary;
mod canary_counts;
mod plan;
mod rolling;

pub use blue_green::{
    BLUE_GREEN_STEPS, BlueGreenCost, blue_green_cost, blue_green_green_size, blue_green_plan,
};
pub(crate) use canary::CanarySetting;
pub use canary::{CanaryCost, canary_cost, canary_plan};
pub(crate) use canary_counts::share_of;
pub use canary_counts::{
    CanaryCounts, CanaryReplicas, CanaryScale, RoutedScaling, canary_basic_step,
    canary_basic_target, canary_routed_replicas, instances_for_weight,
};
pub use plan::{
    ExplicitTraffic, FleetView, Mode, PerRole, Plan, PlanInput, Role, RoleCounts, StepKind,
    StepProgress, StepState, StepWait, TrafficIntent,
};
pub use rolling::{
    ProgressCounts, ReplicaCounts, ScaleStep, rolling_is_complete, rolling_is_progress,
    rolling_plan, rolling_preview, rolling_preview_from, rolling_scale_down_old, rolling_scale_up,
    rolling_step,
};

use crate::analysis::OnFailure;
use crate::model::InstanceGroup;
use crate::spec::{CanaryStep, Checks, StrategySpec};
use crate::time::Timestamp;

/// Asks the strategy in `spec` for its desired state.
pub(crate) fn plan(spec: &StrategySpec, input: &PlanInput) -> Plan {
    match spec {
        StrategySpec::Rolling(_) => rolling_plan(input),
        StrategySpec::BlueGreen(blue_green) => blue_green_plan(blue_green, input),
        StrategySpec::Canary(canary) => canary_plan(canary, input),
    }
}

/// The checks step `index` (of kind `step`) of `spec` runs, if any.
pub(crate) fn step_checks(spec: &StrategySpec, index: u32, step: StepKind) -> Option<Checks> {
    let checks = match (spec, step) {
        (StrategySpec::BlueGreen(spec), StepKind::PrePromotion) => spec.pre_promotion.clone(),
        (StrategySpec::BlueGreen(spec), StepKind::PostPromotion) => spec.post_promotion.clone(),
        (StrategySpec::Canary(spec), StepKind::Analysis | StepKind::Experiment) => {
            match spec.plan.step(index as usize).as_deref() {
                Some(CanaryStep::Analysis { analysis, .. }) => Checks {
                    hooks: Vec::new(),
                    analysis: Some(analysis.clone()),
                },
                Some(CanaryStep::Experiment { analysis, .. }) => Checks {
                    hooks: Vec::new(),
                    analysis: analysis.clone(),
                },
                _ => return None,
            }
        }
        _ => return None,
    };
    (!checks.is_empty()).then_some(checks)
}

/// What a failure of step `index`'s checks does: a canary analysis step says; every
/// other check aborts.
pub(crate) fn on_checks_failure(spec: &StrategySpec, index: u32) -> OnFailure {
    match spec {
        StrategySpec::Canary(spec) => match spec.plan.step(index as usize).as_deref() {
            Some(
                CanaryStep::Analysis { on_failure, .. } | CanaryStep::Experiment { on_failure, .. },
            ) => *on_failure,
            _ => OnFailure::Abort,
        },
        _ => OnFailure::Abort,
    }
}

/// Which instances of the stable revision step `index`'s checks compare the target
/// with: a canary experiment's own baseline group; the whole revision otherwise.
pub(crate) fn checks_baseline(spec: &StrategySpec, index: u32) -> InstanceGroup {
    match spec {
        StrategySpec::Canary(spec) => match spec.plan.step(index as usize).as_deref() {
            Some(CanaryStep::Experiment { .. }) => InstanceGroup::Baseline,
            _ => InstanceGroup::Main,
        },
        _ => InstanceGroup::Main,
    }
}

/// Where a canary steps back to from step `index`: the step that set the weight in
/// force before the current one (the first step if none did). `None` for strategies
/// with no steps to go back through.
pub(crate) fn step_back(spec: &StrategySpec, index: u32) -> Option<u32> {
    let StrategySpec::Canary(spec) = spec else {
        return None;
    };
    // The weight in force was set by the last weight step so far: read backward from
    // `index`, the one before it is the second found.
    let index = index.min(u32::try_from(spec.plan.len()).unwrap_or(u32::MAX));
    let mut weight_steps = (0..=index).rev().filter(|i| {
        matches!(
            spec.plan.step(*i as usize).as_deref(),
            Some(CanaryStep::SetWeight(_))
        )
    });
    Some(weight_steps.nth(1).unwrap_or(0))
}

/// What becomes of the previous stable revision when a rollout completes at `now`:
/// `None` if it is simply scaled away; `Some(until)` if it stays as the warm standby,
/// until `until` (`None`: for good).
pub(crate) fn standby_after_completion(
    spec: &StrategySpec,
    now: Timestamp,
) -> Option<Option<Timestamp>> {
    match spec {
        StrategySpec::Rolling(_) | StrategySpec::Canary(_) => None,
        StrategySpec::BlueGreen(spec) if spec.keep_standby => Some(None),
        StrategySpec::BlueGreen(spec) => Some(Some(now + spec.scale_down_delay)),
    }
}
