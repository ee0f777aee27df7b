//! Strategies decide; the rollout core enforces.
//!
//! A strategy is a pure planner: from the fleet counted by role ([`FleetView`]) and what
//! the core asks for ([`Mode`]), it returns a desired state ([`Plan`]): instances wanted
//! per role, a traffic intent and its step bookkeeping. It never emits actions. The core
//! ([`Rollout`](crate::Rollout)) moves toward the plan inside its safety envelope,
//! whatever the plan asks.

mod blue_green;
mod canary_counts;
mod plan;
mod rolling;

pub use blue_green::{
    BLUE_GREEN_STEPS, BlueGreenCost, blue_green_cost, blue_green_green_size, blue_green_plan,
};
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

use crate::spec::{Checks, StrategySpec};
use crate::time::Timestamp;

/// Asks the strategy in `spec` for its desired state.
pub(crate) fn plan(spec: &StrategySpec, input: &PlanInput) -> Plan {
    match spec {
        StrategySpec::Rolling(_) => rolling_plan(input),
        StrategySpec::BlueGreen(blue_green) => blue_green_plan(blue_green, input),
    }
}

/// The checks a step of `spec` runs, if any.
pub(crate) fn step_checks(spec: &StrategySpec, step: StepKind) -> Option<&Checks> {
    let checks = match (spec, step) {
        (StrategySpec::BlueGreen(spec), StepKind::PrePromotion) => &spec.pre_promotion,
        (StrategySpec::BlueGreen(spec), StepKind::PostPromotion) => &spec.post_promotion,
        _ => return None,
    };
    (!checks.is_empty()).then_some(checks)
}

/// What becomes of the previous stable revision when a rollout completes at `now`:
/// `None` if it is simply scaled away; `Some(until)` if it stays as the warm standby,
/// until `until` (`None`: for good).
pub(crate) fn standby_after_completion(
    spec: &StrategySpec,
    now: Timestamp,
) -> Option<Option<Timestamp>> {
    match spec {
        StrategySpec::Rolling(_) => None,
        StrategySpec::BlueGreen(spec) if spec.keep_standby => Some(None),
        StrategySpec::BlueGreen(spec) => Some(Some(now + spec.scale_down_delay)),
    }
}
