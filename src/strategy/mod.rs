//! Strategies decide; the rollout core enforces.
//!
//! A strategy is a pure planner: from the fleet counted by role ([`FleetView`]) and what
//! the core asks for ([`Mode`]), it returns a desired state ([`Plan`]): instances wanted
//! per role, a traffic intent and its step bookkeeping. It never emits actions. The core
//! ([`Rollout`](crate::Rollout)) moves toward the plan inside its safety envelope,
//! whatever the plan asks.
//!
//! # The steps of each strategy
//!
//! A rollout walks through steps ([`StepKind`]); [`Status::step`](crate::Status::step)
//! says where it is (`Step: 2/5`), and an [`EventKind::StepStarted`](crate::EventKind)
//! announces each one, the first included. A step is done only once the load balancer
//! has applied the split it asks for.
//!
//! **Rolling** has one step, [`StepKind::Replace`]: new instances up and old ones down
//! within `max_surge` and `max_unavailable`, as Kubernetes does
//! ([`rolling_step`] is one round of it), traffic following capacity.
//!
//! **Blue-green** (blue is the stable revision, green the target) is the fixed sequence
//! [`BLUE_GREEN_STEPS`]:
//!
//! | step | green's size | traffic | done when |
//! |---|---|---|---|
//! | [`Preview`](StepKind::Preview) | `preview_replicas` (default: full) | all on blue; the preview route to green | green's preview instances available |
//! | [`PrePromotion`](StepKind::PrePromotion) | preview size | same | the pre-promotion checks passed |
//! | [`Promotion`](StepKind::Promotion) | preview size (Argo's `previewReplicaCount`) | same | promoted (after `Promotion::Auto`'s delay, or by an operator) |
//! | [`Switch`](StepKind::Switch) | full | same | every green instance available |
//! | [`PostPromotion`](StepKind::PostPromotion) | full | **all on green, in one table update** | the switch applied and the post-promotion checks passed |
//!
//! Blue stays whole throughout (less `max_unavailable` when green at full size would
//! pass the peak), so an abort at any point puts all traffic back on blue in one update.
//! On completion blue becomes the standby: warm for `scale_down_delay` (counted from
//! completion, after the post-promotion checks: see the setting for why that differs
//! from Argo), or for good with `keep_standby`.
//!
//! **Canary** walks the spec's plan, one step per [`CanaryStep`](crate::spec::CanaryStep)
//! ([`SetWeight`](StepKind::SetWeight), [`Pause`](StepKind::Pause),
//! [`Analysis`](StepKind::Analysis), [`SetCanaryScale`](StepKind::SetCanaryScale),
//! [`SetRoute`](StepKind::SetRoute), [`SetMirror`](StepKind::SetMirror),
//! [`Experiment`](StepKind::Experiment)), then one last step of its own,
//! [`Promote`](StepKind::Promote): all traffic to the canary and the stable revision
//! scaled away. A plan of `n` steps is therefore `n + 1` steps long in the status. An
//! AWS CodeDeploy preset expands to the same steps: `Canary { weight, interval }` is
//! `SetWeight(weight)`, `Pause(interval)`; `Linear { weight, interval }` is
//! `SetWeight(weight)`, `Pause(interval)`, `SetWeight(2 × weight)`, … up to 100%;
//! `AllAtOnce` is no step before the promotion.

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
