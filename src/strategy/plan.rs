//! What a planner sees and what it returns: the fleet counted by role, and a desired
//! state (instances wanted per role, a traffic intent, step bookkeeping).
//!
//! The types are public so that tools can run a planner themselves (previews,
//! peer-compatibility tables); the rollout core is their only other user.

use std::ops::{Index, IndexMut};

use crate::model::InstanceGroup;
use crate::spec::CapacityLimits;
use crate::time::Timestamp;
use crate::traffic::{MatchCondition, Weight};

/// The part a revision plays in a rollout. Instances are counted by the role of their
/// revision, never by "new" or "old".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Role {
    /// Serving, and the revision to fall back to.
    Stable,
    /// Being rolled out: rolling's new revision, green, the canary.
    Target,
    /// A previous environment kept warm for instant rollback or reuse.
    Standby,
    /// An earlier target replaced by a newer deploy (or a revision found in the fleet
    /// that plays no other part): weight 0 first, removed first.
    Superseded,
    /// A canary experiment's baseline: instances of the stable revision in the
    /// [`InstanceGroup::Baseline`](crate::InstanceGroup::Baseline) group (any revision's
    /// instances of that group count here). They have no row of their own in the
    /// traffic table: they serve in their revision's row, so a baseline weight is never
    /// read.
    Baseline,
}

impl Role {
    /// Every role, in the order the core scales instances up (how many there are is not
    /// API: more may come).
    pub const ALL: &'static [Role] = &[
        Role::Stable,
        Role::Target,
        Role::Baseline,
        Role::Standby,
        Role::Superseded,
    ];

    /// The order the core removes instances in: the most disposable first.
    pub const REMOVAL_ORDER: &'static [Role] = &[
        Role::Superseded,
        Role::Baseline,
        Role::Standby,
        Role::Target,
        Role::Stable,
    ];

    /// The group of instances that plays this role.
    #[must_use]
    pub fn group(self) -> InstanceGroup {
        match self {
            Role::Baseline => InstanceGroup::Baseline,
            _ => InstanceGroup::Main,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Stable => "stable",
            Role::Target => "target",
            Role::Standby => "standby",
            Role::Superseded => "superseded",
            Role::Baseline => "baseline",
        })
    }
}

/// One value per [`Role`], indexed by role.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct PerRole<T> {
    /// The stable revision's value.
    pub stable: T,
    /// The target revision's value.
    pub target: T,
    /// The standby revision's value.
    pub standby: T,
    /// All superseded revisions' value together.
    pub superseded: T,
    /// The experiment baseline's value.
    #[cfg_attr(feature = "serde", serde(default))]
    pub baseline: T,
}

impl<T> PerRole<T> {
    /// Builds a value per role from `value_of`, called once for each role in
    /// [`Role::ALL`] order: the way to build one outside this crate, since roles may
    /// be added.
    pub fn from_fn(mut value_of: impl FnMut(Role) -> T) -> Self {
        Self {
            stable: value_of(Role::Stable),
            target: value_of(Role::Target),
            standby: value_of(Role::Standby),
            superseded: value_of(Role::Superseded),
            baseline: value_of(Role::Baseline),
        }
    }
}

impl<T> Index<Role> for PerRole<T> {
    type Output = T;
    fn index(&self, role: Role) -> &T {
        match role {
            Role::Stable => &self.stable,
            Role::Target => &self.target,
            Role::Standby => &self.standby,
            Role::Superseded => &self.superseded,
            Role::Baseline => &self.baseline,
        }
    }
}

impl<T> IndexMut<Role> for PerRole<T> {
    fn index_mut(&mut self, role: Role) -> &mut T {
        match role {
            Role::Stable => &mut self.stable,
            Role::Target => &mut self.target,
            Role::Standby => &mut self.standby,
            Role::Superseded => &mut self.superseded,
            Role::Baseline => &mut self.baseline,
        }
    }
}

/// Head counts of one role, as a planner needs them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct RoleCounts {
    /// Instances that exist or are being created and are not on their way out
    /// (Kubernetes' replicas).
    pub replicas: u32,
    /// Of those, the ones ready for at least `min_ready`.
    pub available: u32,
    /// Of those, the ones ready (available or still inside `min_ready`).
    pub ready: u32,
}

impl RoleCounts {
    /// Head counts of one role: `replicas`, of which `available`, of which or
    /// besides which `ready` (see the fields).
    #[must_use]
    pub const fn new(replicas: u32, available: u32, ready: u32) -> Self {
        Self {
            replicas,
            available,
            ready,
        }
    }

    /// Replicas that are not (yet) available.
    #[must_use]
    pub fn unavailable(&self) -> u32 {
        self.replicas.saturating_sub(self.available)
    }
}

/// The fleet as a planner sees it: counts per role, and instances on their way out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct FleetView {
    /// Counts per role.
    pub roles: PerRole<RoleCounts>,
    /// Instances being removed that still exist: they hold capacity against the peak.
    pub leaving: u32,
}

impl FleetView {
    /// The fleet from counts per role and the instances still leaving.
    #[must_use]
    pub const fn new(roles: PerRole<RoleCounts>, leaving: u32) -> Self {
        Self { roles, leaving }
    }

    /// Replicas of every role but `role` (saturating at `u32::MAX`, as every sum here).
    #[must_use]
    pub fn replicas_except(&self, role: Role) -> u32 {
        saturating_sum(
            Role::ALL
                .iter()
                .filter(|r| **r != role)
                .map(|r| self.roles[*r].replicas),
        )
    }

    /// Instances that hold capacity against the peak: every replica and every instance
    /// on its way out.
    #[must_use]
    pub fn live(&self) -> u32 {
        saturating_sum(
            Role::ALL
                .iter()
                .map(|r| self.roles[*r].replicas)
                .chain([self.leaving]),
        )
    }

    /// Available instances of every role.
    #[must_use]
    pub fn available(&self) -> u32 {
        saturating_sum(Role::ALL.iter().map(|r| self.roles[*r].available))
    }

    /// Available instances of every role but `role`.
    #[must_use]
    pub fn available_except(&self, role: Role) -> u32 {
        saturating_sum(
            Role::ALL
                .iter()
                .filter(|r| **r != role)
                .map(|r| self.roles[*r].available),
        )
    }
}

/// The sum of `counts`, saturating at `u32::MAX`: a view is the caller's to fill, so its
/// counts may be anything.
fn saturating_sum(counts: impl Iterator<Item = u32>) -> u32 {
    counts.fold(0, u32::saturating_add)
}

/// What the core asks a planner for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Mode {
    /// Move toward the target revision.
    Rollout,
    /// Abort or roll back: move everything back to the stable revision, as fast as it
    /// can carry the traffic.
    Revert,
    /// Nothing in flight: keep the stable revision at `desired`, clear out the rest.
    Steady,
}

/// The kinds of step a strategy's plan goes through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum StepKind {
    /// A rolling update's one step: replace every instance.
    #[default]
    Replace,
    /// Blue-green: green built to its preview size beside blue.
    Preview,
    /// Blue-green: green's pre-promotion checks.
    PrePromotion,
    /// Blue-green: waiting for the promotion (automatic after a delay, or manual).
    Promotion,
    /// Blue-green: green at full size and available, then traffic switched to it.
    Switch,
    /// Blue-green: traffic on green; its post-promotion checks.
    PostPromotion,
    /// Canary: a share of traffic to the canary, once it can carry it.
    SetWeight,
    /// Canary: a wait, for a time or a promotion.
    Pause,
    /// Canary: an analysis of the canary, run to its verdict.
    Analysis,
    /// Canary: the canary sized apart from its weight.
    SetCanaryScale,
    /// Canary: a match route to the canary set (or removed).
    SetRoute,
    /// Canary: an experiment: a fresh baseline of the stable revision beside the
    /// canary, the canary judged against it, the baseline removed at the step's end.
    Experiment,
    /// Canary: a share of requests mirrored to the canary (or no longer).
    SetMirror,
    /// Canary: after the last step, all traffic to the canary and the stable revision
    /// scaled away.
    Promote,
}

impl std::fmt::Display for StepKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StepKind::Replace => "replace",
            StepKind::Preview => "preview",
            StepKind::PrePromotion => "pre-promotion checks",
            StepKind::Promotion => "promotion",
            StepKind::Switch => "switch",
            StepKind::PostPromotion => "post-promotion checks",
            StepKind::SetWeight => "set weight",
            StepKind::Pause => "pause",
            StepKind::Analysis => "analysis",
            StepKind::SetCanaryScale => "set canary scale",
            StepKind::SetRoute => "set route",
            StepKind::Experiment => "experiment",
            StepKind::SetMirror => "set mirror",
            StepKind::Promote => "promotion to all traffic",
        })
    }
}

/// Where the core's step machine stands, as a planner reads it. The core advances the
/// step when the plan says it is done; everything else here is what operators and
/// checks said about it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct StepState {
    /// The current step, from 0.
    pub index: u32,
    /// When the current step started.
    pub started_at: Timestamp,
    /// An operator promoted the current step (finishes a wait for promotion, or skips
    /// its checks).
    pub promoted: bool,
    /// An operator asked to skip every remaining pause and check (`promote_full`).
    pub full: bool,
    /// The current step's checks passed (`Some(true)`) or failed (`Some(false)`);
    /// `None` while they run or if it has none.
    pub checks: Option<bool>,
    /// The rollout goes back to a known-good revision: no checks, no waits.
    pub is_rollback: bool,
    /// An operator or a check paused the rollout, or it halted: the core moves no
    /// instance until it goes on, and only keeps the plan's traffic in line.
    pub held: bool,
    /// When the rollout was aborted (an abort's scale-down delay counts from it).
    pub aborted_at: Option<Timestamp>,
    /// Until when the standby revision stays warm; `None` keeps it.
    pub standby_until: Option<Timestamp>,
    /// When the current step's instances were first in place (the first time its
    /// planner stopped waiting for capacity); `None` before. A canary experiment's
    /// duration counts from then.
    pub in_place_at: Option<Timestamp>,
    /// The `desired` the fleet was sized for, when a resize has not been planned for
    /// yet (Kubernetes' desired-replicas annotation): a rolling update spreads the
    /// change over its revisions in proportion to their sizes. `None` otherwise.
    pub resized_from: Option<u32>,
}

impl StepState {
    /// Step `index`, started at `started_at`, with nothing promoted, checked, held
    /// or aborted: set the other (public) fields on the value to describe more.
    #[must_use]
    pub fn new(index: u32, started_at: Timestamp) -> Self {
        Self {
            index,
            started_at,
            ..Self::default()
        }
    }

    /// Whether waits and checks are skipped (a full promotion or a rollback).
    #[must_use]
    pub fn skips_checks(&self) -> bool {
        self.full || self.is_rollback
    }
}

/// Everything a planner decides from: the fleet and the step, never the traffic table.
/// Where traffic stands is the core's business (its traffic shaper moves the table
/// toward the plan as capacity allows, and a step that sets traffic is done only once
/// the load balancer applies the plan's table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::exhaustive_structs)] // Built by callers with a struct literal: a new field is a deliberate, breaking change.
pub struct PlanInput {
    /// What is asked for.
    pub mode: Mode,
    /// The strategy's capacity limits.
    pub limits: CapacityLimits,
    /// The fleet, by role.
    pub view: FleetView,
    /// Whether there is a stable revision apart from the target (a first deploy has
    /// none: reverting it removes everything, with no capacity to keep; a rollout onto
    /// the stable revision itself has none to shift traffic from).
    pub has_stable: bool,
    /// The caller's clock.
    pub now: Timestamp,
    /// The step machine's state.
    pub step: StepState,
}

/// How the split between revisions is set.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum TrafficIntent {
    /// In proportion to the instances in rotation, as a plain load balancer splits
    /// (rolling).
    Proportional,
    /// Explicit weights per role, match routes and a mirror (blue-green, canary).
    Explicit(ExplicitTraffic),
}

/// Weights per role in basis points (summing to 10,000), match routes and a mirror:
/// where traffic should end up.
///
/// The core's traffic shaper gets it there only as fast as capacity allows (invariant
/// 5): a role's share rises only as far as its available instances in rotation carry
/// it, and faults never raise one above what is asked here.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[allow(clippy::exhaustive_structs)] // Built by callers with a struct literal: a new field is a deliberate, breaking change.
pub struct ExplicitTraffic {
    /// Each role's share; superseded revisions share theirs in proportion to capacity.
    pub weights: PerRole<Weight>,
    /// Requests matching a condition go to a role's revision, whatever the weights.
    pub routes: Vec<(MatchCondition, Role)>,
    /// A copy of a share of requests goes to a role's revision (responses discarded).
    pub mirror: Option<(Role, Weight)>,
    /// How a share rises: `false` holds it where it is until the role's instances
    /// carry all of the new share, then moves it at once (a canary's weight step, as
    /// Argo sets it); `true` raises it as far as the instances carry at each moment (a
    /// reverse rolling update back to stable, or a canary whose stable revision shrinks
    /// behind its traffic and so frees the room the canary grows into).
    #[cfg_attr(feature = "serde", serde(default))]
    pub gradual: bool,
}

impl ExplicitTraffic {
    /// All traffic on one role, no routes, no mirror.
    #[must_use]
    pub fn all_on(role: Role) -> Self {
        let mut weights = PerRole::<Weight>::default();
        weights[role] = Weight::FULL;
        ExplicitTraffic {
            weights,
            routes: Vec::new(),
            mirror: None,
            gradual: false,
        }
    }

    /// All traffic on one role, raised as capacity comes (the way back to stable).
    #[must_use]
    pub fn back_to(role: Role) -> Self {
        ExplicitTraffic {
            gradual: true,
            ..ExplicitTraffic::all_on(role)
        }
    }
}

/// What a step waits for before it is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case", tag = "for"))]
#[non_exhaustive]
pub enum StepWait {
    /// An operator's `promote`.
    Promotion,
    /// A time.
    Until {
        /// When the wait ends.
        at: Timestamp,
    },
    /// An analysis verdict.
    Analysis,
    /// A hook's result.
    Hook,
    /// Instances to become available.
    Capacity,
    /// The step's checks (hooks and an analysis) to pass.
    Checks,
    /// The plan's traffic to be published and acknowledged by the load balancer (the
    /// core's traffic shaper moves weight only as fast as capacity carries it).
    Traffic,
}

/// A planner's step bookkeeping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct StepProgress {
    /// What the current step does.
    pub kind: StepKind,
    /// The current step, from 0.
    pub index: u32,
    /// How many steps there are.
    pub count: u32,
    /// Whether the current step is done.
    pub done: bool,
    /// What the current step waits for, if anything.
    pub waiting: Option<StepWait>,
    /// Whether the desired end state is reached (the core completes the rollout once
    /// the load balancer has acknowledged the table that goes with it).
    pub complete: bool,
}

impl StepProgress {
    /// Whether the current step is in place: its instances are there and the load
    /// balancer applies its traffic. Its checks start then, and
    /// [`StepState::in_place_at`] notes when.
    #[must_use]
    pub fn in_place(&self) -> bool {
        !matches!(self.waiting, Some(StepWait::Capacity | StepWait::Traffic))
    }
}

/// A planner's desired state.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Plan {
    /// Instances wanted per role (the core moves toward these within its envelope).
    pub wanted: PerRole<u32>,
    /// How traffic should be split.
    pub traffic: TrafficIntent,
    /// Step bookkeeping.
    pub step: StepProgress,
    /// When this plan changes by the clock alone (a timed wait ends, a delay runs out):
    /// the core wakes the planner then. `None` if only inputs change it.
    pub wake_at: Option<Timestamp>,
}
