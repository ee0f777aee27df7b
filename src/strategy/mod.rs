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
mod planner;
mod rolling;

pub use blue_green::{
    BLUE_GREEN_STEPS, BlueGreenCost, blue_green_cost, blue_green_green_size, blue_green_plan,
};
pub use canary::{CanaryCost, canary_cost, canary_plan};
pub(crate) use canary_counts::share_of;
pub use canary_counts::{
    CanaryReplicas, CanaryScale, RoutedScaling, canary_basic_target, canary_routed_replicas,
    instances_for_weight,
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

pub(crate) use canary::CanarySetting;
pub(crate) use planner::StepView;
