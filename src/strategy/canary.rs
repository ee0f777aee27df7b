//! The canary planner, and what a canary costs as a public function.
//!
//! The canary is the target revision. Its plan is the spec's steps, then a promotion
//! step (all traffic to the canary, the stable revision scaled away). At each step the
//! settings given so far (weight, scale, route, mirror) decide the desired state:
//!
//! * **With a traffic router** the weights are explicit: the canary gets the instances
//!   its share needs ([`canary_routed_replicas`]) and the stable revision stays full (or
//!   shrinks with dynamic stable scaling, never below what its *published* share
//!   needs). The core publishes a weight only when the canary can carry it.
//! * **Without one** traffic follows instance counts: the weight is approximated by
//!   counts ([`canary_basic_target`]) and the core moves there within the surge and the
//!   floor, stable scaled up first.
//!
//! **The layout rule** that keeps sticky routing monotone (see the router's theorem):
//! the core lays the canary out last in the table (so its keys depend on its own weight
//! alone), and while a superseded canary still has weight in the published table, the
//! new canary gets none: the superseded weight goes back to stable first, so that the
//! canary grows next to stable.

use crate::error::SpecError;
use crate::spec::check_desired;
use crate::spec::{CanaryPlan, CanarySpec, CanaryStep, CapacityLimits};
use crate::strategy::canary_counts::{
    CanaryScale, RoutedScaling, basic_target, routed_replicas, share_of,
};
use crate::strategy::plan::{
    ExplicitTraffic, Mode, PerRole, Plan, PlanInput, Role, StepKind, StepProgress, StepWait,
    TrafficIntent,
};
use crate::traffic::{MatchCondition, Weight};

/// What a canary costs for a given `desired`: the most instances it runs at once and
/// the fewest available ones it keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct CanaryCost {
    /// The most instances at once: `desired + max_surge` without a traffic router;
    /// with one, the full stable revision plus the largest canary (or, with dynamic
    /// stable scaling, the largest canary beside what the stable revision's published
    /// share still needs, at every step change).
    pub peak: u32,
    /// The fewest available instances the rollout itself leaves:
    /// `desired - max_unavailable`.
    pub min_available: u32,
    /// The largest experiment baseline (0 without experiment steps), counted in `peak`.
    pub baseline: u32,
}

/// The settings in force at a step: what the steps so far set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct CanarySetting {
    pub weight: Weight,
    pub scale: Option<CanaryScale>,
    pub route: Option<MatchCondition>,
    pub mirror: Weight,
}

impl CanarySetting {
    /// The promotion's setting: all traffic, full size, no route, no mirror.
    fn promoted() -> Self {
        CanarySetting {
            weight: Weight::FULL,
            ..CanarySetting::default()
        }
    }

    /// The settings once steps `0..=index` have run, for a planner that needs them at
    /// one step.
    ///
    /// Each setting is the one its last step before `index` gave, so the plan is read
    /// backward from `index` and only until every setting is known: nothing is cloned
    /// but the route in force. Code that needs the settings at every step carries them
    /// from one step to the next with [`CanarySetting::apply`] instead.
    pub(crate) fn at(plan: &CanaryPlan, index: usize) -> Self {
        let mut setting = CanarySetting::default();
        // Which settings are known, by `CanarySetting::field_set_by`. A preset sets
        // weights and nothing else.
        let mut known = [false; 4];
        if plan.sets_only_weights() {
            known = [false, true, true, true];
        }
        for i in (0..=index.min(plan.len())).rev() {
            if known.iter().all(|known| *known) {
                break;
            }
            let Some(step) = plan.step(i) else { continue };
            if let Some(field) = CanarySetting::field_set_by(&step)
                && !known[field]
            {
                setting.apply(&step);
                known[field] = true;
            }
        }
        setting
    }

    /// Which setting `step` sets, if any: 0 the weight, 1 the scale, 2 the route, 3 the
    /// mirror.
    fn field_set_by(step: &CanaryStep) -> Option<usize> {
        match step {
            CanaryStep::SetWeight(_) => Some(0),
            CanaryStep::SetCanaryScale(_) => Some(1),
            CanaryStep::SetRoute(_) => Some(2),
            CanaryStep::SetMirror(_) => Some(3),
            CanaryStep::Pause { .. }
            | CanaryStep::Analysis { .. }
            | CanaryStep::Experiment { .. } => None,
        }
    }

    /// The settings after `step` has run, from the settings before it.
    pub(crate) fn apply(&mut self, step: &CanaryStep) {
        match step {
            CanaryStep::SetWeight(weight) => self.weight = *weight,
            CanaryStep::SetCanaryScale(CanaryScale::MatchTrafficWeight) => self.scale = None,
            CanaryStep::SetCanaryScale(scale) => self.scale = Some(*scale),
            CanaryStep::SetRoute(route) => self.route.clone_from(route),
            CanaryStep::SetMirror(share) => self.mirror = *share,
            CanaryStep::Pause { .. }
            | CanaryStep::Analysis { .. }
            | CanaryStep::Experiment { .. } => {}
        }
    }

    /// Whether something routes to the canary besides its weight, so that it needs an
    /// instance whatever the weight says.
    pub(crate) fn reaches_canary(&self) -> bool {
        self.route.is_some() || self.mirror != Weight::ZERO
    }
}

/// The kind of step `index` of `plan` (the promotion after the last).
#[must_use]
pub(crate) fn canary_step_kind(plan: &CanaryPlan, index: usize) -> StepKind {
    match plan.step(index).as_deref() {
        None => StepKind::Promote,
        Some(CanaryStep::SetWeight(_)) => StepKind::SetWeight,
        Some(CanaryStep::Pause { .. }) => StepKind::Pause,
        Some(CanaryStep::Analysis { .. }) => StepKind::Analysis,
        Some(CanaryStep::SetCanaryScale(_)) => StepKind::SetCanaryScale,
        Some(CanaryStep::SetRoute(_)) => StepKind::SetRoute,
        Some(CanaryStep::SetMirror(_)) => StepKind::SetMirror,
        Some(CanaryStep::Experiment { .. }) => StepKind::Experiment,
    }
}

/// Instances a traffic-routed canary wants for `setting`, given the weights the load
/// balancer has (`published`) and the floor (`min_available`).
///
/// A `set_canary_scale` smaller than the weight can carry is raised to what carries it
/// at the floor (the core never publishes a share its instances cannot carry, so the
/// step could not finish otherwise), and a route or a mirror needs one instance.
fn routed_counts(
    spec: &CanarySpec,
    desired: u32,
    min_available: u32,
    setting: &CanarySetting,
    published: Option<PerRole<Weight>>,
) -> (u32, u32) {
    let scaling = RoutedScaling {
        min_instances: spec.min_instances,
        dynamic_stable_scale: spec.dynamic_stable_scale,
        published,
    };
    let counts = routed_replicas(desired, setting.weight, setting.scale, scaling);
    let carries = if setting.weight.is_zero() {
        0
    } else {
        share_of(min_available, setting.weight).max(1)
    };
    let mut canary = counts.canary.max(carries);
    if setting.reaches_canary() {
        canary = canary.max(1);
    }
    (canary, counts.stable)
}

/// The (canary, stable) instance counts a canary without a traffic router moves to
/// for `setting`, within the spec's own surge (Kubernetes' rounding).
fn basic_counts(spec: &CanarySpec, desired: u32, setting: &CanarySetting) -> (u32, u32) {
    match setting.scale {
        Some(CanaryScale::Replicas(n)) => (n, desired),
        Some(CanaryScale::Weight(share)) => (share_of(desired, share), desired),
        _ => {
            let surge = spec.max_surge.of(desired, true);
            let end = basic_target(desired, setting.weight, surge);
            (end.canary, end.stable)
        }
    }
}

/// The cost of a canary of `desired` instances under `spec`.
///
/// An experiment step's baseline is as large as the canary at that step, and comes on
/// top: `baseline` is the largest, and `peak` counts it.
///
/// # Examples
///
/// ```
/// use cutover::{Duration, Weight};
/// use cutover::spec::{CanaryPlan, CanarySpec, CanaryStep};
/// use cutover::strategy::canary_cost;
/// let ten = Weight::from_percent(10).unwrap();
/// let linear = CanarySpec::with_plan(CanaryPlan::Linear { weight: ten, every: Duration::from_mins(1) });
/// // A full stable revision, and at the promotion a full canary beside it.
/// assert_eq!(canary_cost(&linear, 10)?.peak, 20);
/// // Dynamic stable scaling: the stable revision shrinks as its traffic leaves.
/// let dynamic = CanarySpec { dynamic_stable_scale: true, ..linear.clone() };
/// assert_eq!(canary_cost(&dynamic, 10)?.peak, 11);
/// // No traffic router: desired + max_surge (25% of 10, rounded up).
/// let basic = CanarySpec { traffic_routing: false, ..linear };
/// assert_eq!(canary_cost(&basic, 10)?.peak, 13);
/// // An experiment at 30%: a baseline of 3 beside 3 canary instances.
/// let experiment = CanarySpec {
///     plan: CanaryPlan::Steps(vec![
///         CanaryStep::SetWeight(Weight::from_percent(30).unwrap()),
///         CanaryStep::Experiment { duration: Some(Duration::from_mins(10)), analysis: None, on_failure: Default::default() },
///     ]),
///     ..basic
/// };
/// let cost = canary_cost(&experiment, 10)?;
/// assert_eq!((cost.baseline, cost.peak), (3, 16));
/// # Ok::<(), cutover::SpecError>(())
/// ```
///
/// # Errors
///
/// [`SpecError::DesiredTooLarge`] for a `desired` above [`MAX_DESIRED`](crate::spec::MAX_DESIRED);
/// without a traffic router, [`SpecError::SurgeTooLarge`] when the spec's `max_surge`
/// resolves past `2 * MAX_DESIRED` instances in all.
pub fn canary_cost(spec: &CanarySpec, desired: u32) -> Result<CanaryCost, SpecError> {
    let desired = check_desired(desired)?;
    let unavailable = spec.max_unavailable.of(desired, false).min(desired);
    let is_experiment = |step: &CanaryStep| matches!(step, CanaryStep::Experiment { .. });
    // The settings in force, carried from step to step: the plan is read once.
    let mut setting = CanarySetting::default();
    if !spec.traffic_routing {
        let limits = CapacityLimits::resolve(desired, spec.max_surge, spec.max_unavailable)?;
        let mut baseline = 0;
        for step in spec.plan.steps() {
            setting.apply(&step);
            if is_experiment(&step) {
                baseline = baseline.max(basic_counts(spec, desired, &setting).0);
            }
        }
        return Ok(CanaryCost {
            peak: limits.max_total().saturating_add(baseline),
            min_available: limits.min_available(),
            baseline,
        });
    }
    // Walk the steps as the planner does: at each change the canary grows to its new
    // size while the stable revision still holds what its published share needs.
    let mut published = PerRole {
        stable: Weight::FULL,
        ..PerRole::default()
    };
    let (mut peak, mut baseline, mut with_baseline) = (desired, 0, 0);
    let min_available = desired - unavailable;
    let mut visit = |setting: &CanarySetting, experiment: bool| {
        let (canary, stable) =
            routed_counts(spec, desired, min_available, setting, Some(published));
        peak = peak.max(canary.saturating_add(stable));
        if experiment {
            baseline = baseline.max(canary);
            with_baseline = with_baseline.max(canary.saturating_mul(2).saturating_add(stable));
        }
        published = PerRole {
            stable: setting.weight.complement(),
            target: setting.weight,
            ..PerRole::default()
        };
    };
    for step in spec.plan.steps() {
        setting.apply(&step);
        visit(&setting, is_experiment(&step));
    }
    visit(&CanarySetting::promoted(), false);
    // An abort grows the stable revision back beside the canary as traffic returns:
    // one instance of room at least, so that the way back never waits on itself.
    Ok(CanaryCost {
        peak: peak.max(desired + 1).min(2 * desired).max(with_baseline),
        min_available,
        baseline,
    })
}

/// The canary planner: the desired state for the current step (see the module docs),
/// an abort (`Mode::Revert`: all traffic on stable; the canary kept at weight 0 for the
/// abort delay beside a full stable revision behind a traffic router, otherwise scaled
/// away as its traffic returns) or a rollout at rest (`Mode::Steady`).
///
/// # Examples
///
/// ```
/// use cutover::{Timestamp, Weight};
/// use cutover::spec::{CanaryPlan, CanarySpec, CanaryStep, CapacityLimits};
/// use cutover::strategy::{FleetView, Mode, PlanInput, RoleCounts, StepState, canary_plan};
/// let spec = CanarySpec::with_plan(CanaryPlan::Steps(vec![CanaryStep::SetWeight(Weight::from_percent(20).unwrap())]));
/// let limits = CapacityLimits::new(10, 10, 2).unwrap();
/// let mut view = FleetView::default();
/// view.roles.stable = RoleCounts::new(10, 10, 10);
/// let input = PlanInput { mode: Mode::Rollout, limits, view, has_stable: true, now: Timestamp::ZERO, step: StepState::default() };
/// let plan = canary_plan(&spec, &input);
/// assert_eq!((plan.wanted.stable, plan.wanted.target), (10, 2)); // two canary instances
/// assert!(!plan.step.done); // until they carry 20%
/// ```
#[must_use]
pub fn canary_plan(spec: &CanarySpec, input: &PlanInput) -> Plan {
    match input.mode {
        Mode::Rollout => rollout_plan(spec, input),
        Mode::Revert | Mode::Steady => at_rest_plan(spec, input),
    }
}

fn rollout_plan(spec: &CanarySpec, input: &PlanInput) -> Plan {
    let desired = input.limits.desired();
    let view = input.view;
    let state = input.step;
    let last = spec.plan.len();
    // A rollback, a full promotion or a first deploy goes straight to the promotion:
    // every step before it is done at once (the core walks through them).
    let skip = state.skips_checks() || !input.has_stable;
    let index = (state.index as usize).min(last);
    let kind = canary_step_kind(&spec.plan, index);
    let setting = if index == last || skip {
        CanarySetting::promoted()
    } else {
        CanarySetting::at(&spec.plan, index)
    };
    let target = view.roles[Role::Target];
    let others_gone = view.roles[Role::Superseded].replicas == 0
        && view.roles[Role::Standby].replicas == 0
        && view.leaving == 0;
    let (mut wanted, traffic, in_place) = if spec.traffic_routing {
        let floor = input.limits.min_available();
        let (canary, mut stable) = routed_counts(spec, desired, floor, &setting, None);
        // The core's traffic shaper moves the weight toward this step's as fast as the
        // canary's instances carry it, and a superseded canary's share back to stable
        // before the new canary gets any: while a superseded canary is still there,
        // the stable revision stays whole to take that share back (with dynamic stable
        // scaling, and at the promotion, too).
        if input.has_stable && view.roles[Role::Superseded].replicas > 0 {
            stable = desired;
        } else if index == last {
            // Promoted: the stable revision goes (the core removes its instances only
            // as its traffic leaves them).
            stable = 0;
        }
        let weight = setting.weight;
        let mut explicit = ExplicitTraffic::all_on(Role::Stable);
        explicit.weights.stable = weight.complement();
        explicit.weights.target = weight;
        // With dynamic stable scaling the canary's room comes from stable shrinking
        // behind its traffic: the weight follows the canary's capacity step by step.
        explicit.gradual = spec.dynamic_stable_scale;
        if let Some(route) = setting.route.clone() {
            explicit.routes.push((route, Role::Target));
        }
        if setting.mirror != Weight::ZERO {
            explicit.mirror = Some((Role::Target, setting.mirror));
        }
        let in_place = target.available >= canary;
        let wanted = PerRole {
            stable,
            target: canary,
            ..PerRole::default()
        };
        (wanted, TrafficIntent::Explicit(explicit), in_place)
    } else {
        // The spec's own surge: the limits' also make room for experiments.
        let counts = basic_counts(spec, desired, &setting);
        let in_place = target.replicas == counts.0
            && target.available >= counts.0
            && view.roles[Role::Stable].replicas == counts.1
            && others_gone;
        let wanted = PerRole {
            stable: counts.1,
            target: counts.0,
            ..PerRole::default()
        };
        (wanted, TrafficIntent::Proportional, in_place)
    };
    // An experiment's baseline is as large as the canary, for as long as the step lasts.
    if !skip && kind == StepKind::Experiment {
        wanted.baseline = wanted.target;
    }
    let baseline = view.roles[Role::Baseline];
    let promoted = state.promoted || skip;
    let (done, waiting) = match spec.plan.step(index).as_deref() {
        _ if index < last && skip => (true, None),
        None => (false, Some(StepWait::Capacity)),
        Some(CanaryStep::Pause { .. }) if promoted => (true, None),
        Some(CanaryStep::Pause { duration: None }) => (false, Some(StepWait::Promotion)),
        Some(CanaryStep::Pause {
            duration: Some(duration),
        }) => {
            let at = state.started_at + *duration;
            (input.now >= at, Some(StepWait::Until { at }))
        }
        Some(CanaryStep::Analysis { .. }) => (
            promoted || state.checks == Some(true),
            Some(StepWait::Checks),
        ),
        Some(CanaryStep::Experiment { .. }) if promoted => (true, None),
        Some(CanaryStep::Experiment {
            duration, analysis, ..
        }) => {
            let baseline_in_place = baseline.available >= wanted.baseline;
            match state.in_place_at {
                // Once in place, the clock runs: a later fault does not restart it.
                None if !(in_place && baseline_in_place) => (false, Some(StepWait::Capacity)),
                since => {
                    let since = since.unwrap_or(input.now);
                    let at = duration.map(|d| since + d);
                    let judged = analysis.is_none() || state.checks == Some(true);
                    match at {
                        Some(at) if input.now < at => (false, Some(StepWait::Until { at })),
                        _ => (judged, Some(StepWait::Checks)),
                    }
                }
            }
        }
        Some(_) => (in_place, Some(StepWait::Capacity)),
    };
    let complete = index == last
        && target.replicas == desired
        && target.available >= desired
        && view.roles[Role::Stable].replicas == 0
        && baseline.replicas == 0
        && others_gone;
    Plan {
        wanted,
        traffic,
        step: StepProgress {
            kind,
            index: index as u32,
            count: last as u32 + 1,
            done: done || complete,
            waiting: if done || complete { None } else { waiting },
            complete,
        },
        wake_at: match waiting {
            Some(StepWait::Until { at }) if !done => Some(at),
            _ => None,
        },
    }
}

fn at_rest_plan(spec: &CanarySpec, input: &PlanInput) -> Plan {
    let view = input.view;
    let mut wanted = PerRole::<u32>::default();
    let mut wake_at = None;
    if input.has_stable {
        wanted.stable = input.limits.desired();
        // A canary beside a full stable revision may stay after an abort (at weight 0)
        // for its delay, never grown, and only in the room the peak leaves.
        let until = input
            .step
            .aborted_at
            .map(|at| spec.abort_scale_down_delay.map(|delay| at + delay));
        let keep = until.is_some_and(|until| until.is_none_or(|u| input.now < u));
        if input.mode == Mode::Revert && keep && spec.keeps_aborted_canary() {
            let room = input.limits.max_total() - input.limits.desired();
            wanted.target = view.roles[Role::Target].replicas.min(room);
            wake_at = until.flatten();
        }
    }
    let traffic = if spec.traffic_routing {
        TrafficIntent::Explicit(ExplicitTraffic::back_to(Role::Stable))
    } else {
        TrafficIntent::Proportional
    };
    Plan {
        wanted,
        traffic,
        step: StepProgress::default(),
        wake_at,
    }
}

mod steps;
#[cfg(test)]
mod tests;
