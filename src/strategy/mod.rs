//! Strategies decide; the rollout core enforces.
//!
//! A strategy is a pure planner: from head counts it says how many instances of which
//! revision to add or remove next, and how traffic should be split. It never emits
//! actions. The core ([`Rollout`](crate::Rollout)) turns the plan into safe actions.

mod rolling;

pub use rolling::{
    ReplicaCounts, ScaleStep, rolling_preview, rolling_scale_down_old, rolling_scale_up,
    rolling_step,
};

use crate::spec::{CapacityLimits, StrategySpec};

/// How the load balancer should split traffic between the revisions that have
/// instances in rotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TrafficIntent {
    /// In proportion to instances in rotation, as a plain load balancer would (rolling).
    Proportional,
}

/// What a strategy wants next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub scale: ScaleStep,
    pub traffic: TrafficIntent,
}

/// Asks the strategy in `spec` for the next step.
pub(crate) fn plan(spec: &StrategySpec, limits: CapacityLimits, counts: ReplicaCounts) -> Plan {
    match spec {
        StrategySpec::Rolling(_) => Plan {
            scale: rolling_step(limits, counts),
            traffic: TrafficIntent::Proportional,
        },
    }
}
