//! Strategies decide; the rollout core enforces.
//!
//! A strategy is a pure planner: from head counts it says how many instances of which
//! revision to add or remove next. It never emits
//! actions. The core ([`Rollout`](crate::Rollout)) turns the plan into safe actions.

mod rolling;

pub use rolling::{
    ReplicaCounts, ScaleStep, rolling_preview, rolling_scale_down_old, rolling_scale_up,
    rolling_step,
};

use crate::spec::{CapacityLimits, StrategySpec};

/// Asks the strategy in `spec` what to scale next. Traffic follows from what is in
/// rotation (in proportion to instances, as a plain load balancer would); strategies
/// that set weights of their own (canary, blue-green) will return them here too.
pub(crate) fn plan(
    spec: &StrategySpec,
    limits: CapacityLimits,
    counts: ReplicaCounts,
) -> ScaleStep {
    match spec {
        StrategySpec::Rolling(_) => rolling_step(limits, counts),
    }
}
