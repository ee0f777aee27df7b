//! The blue-green planner, and its arithmetic as public functions so that a tool can
//! show the cost of a blue-green rollout before running it.
//!
//! Blue is the stable revision, green the target; the steps are
//! [`BLUE_GREEN_STEPS`], described in the [`strategy`](crate::strategy) module docs.

use crate::error::SpecError;
use crate::spec::Checks;
use crate::spec::{BlueGreenSpec, CapacityLimits, Promotion, check_desired};
use crate::strategy::plan::{
    ExplicitTraffic, Mode, PerRole, Plan, PlanInput, Role, StepKind, StepProgress, StepWait,
    TrafficIntent,
};
use crate::strategy::planner::{Planner, StepView};
use crate::time::Timestamp;

/// The steps of a blue-green rollout, in order: green previewed, checked, promoted,
/// switched to in one table update, checked again. What each step sizes green to,
/// where traffic goes and when it is done: the table in the
/// [`strategy`](crate::strategy#the-steps-of-each-strategy) module docs.
pub const BLUE_GREEN_STEPS: [StepKind; 5] = [
    StepKind::Preview,
    StepKind::PrePromotion,
    StepKind::Promotion,
    StepKind::Switch,
    StepKind::PostPromotion,
];

/// What a blue-green rollout costs, for a given `desired`: the most instances it runs
/// at once and the fewest available ones it keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct BlueGreenCost {
    /// Green's size while in preview (until it is promoted).
    pub preview: u32,
    /// Blue instances that may be given up while green is at full size.
    pub blue_may_go: u32,
    /// The most instances at once: `2 * desired - blue_may_go`.
    pub peak: u32,
    /// The fewest available instances the rollout itself leaves:
    /// `desired - blue_may_go`.
    pub min_available: u32,
}

/// The cost of a blue-green rollout of `desired` instances under `spec`.
///
/// # Examples
///
/// ```
/// use cutover::spec::{BlueGreenSpec, Quantity};
/// use cutover::strategy::blue_green_cost;
/// let spec = BlueGreenSpec { preview_replicas: Some(2), max_unavailable: Quantity::Percent(25), ..BlueGreenSpec::default() };
/// let cost = blue_green_cost(&spec, 10)?;
/// assert_eq!((cost.preview, cost.blue_may_go, cost.peak, cost.min_available), (2, 2, 18, 8));
/// # Ok::<(), cutover::SpecError>(())
/// ```
///
/// # Errors
///
/// [`SpecError::DesiredTooLarge`] for a `desired` above [`MAX_DESIRED`](crate::spec::MAX_DESIRED).
pub fn blue_green_cost(spec: &BlueGreenSpec, desired: u32) -> Result<BlueGreenCost, SpecError> {
    let desired = check_desired(desired)?;
    let blue_may_go = spec.max_unavailable.of(desired, false).min(desired);
    Ok(BlueGreenCost {
        preview: preview_size(spec, desired),
        blue_may_go,
        // desired <= MAX_DESIRED, so twice it fits.
        peak: 2 * desired - blue_may_go,
        min_available: desired - blue_may_go,
    })
}

/// Green's size while in preview: the preview size, at most `desired`.
fn preview_size(spec: &BlueGreenSpec, desired: u32) -> u32 {
    spec.preview_replicas.unwrap_or(desired).min(desired)
}

/// Green's size in a step: the preview size until it is promoted (Argo's
/// `previewReplicaCount`: a promotion that waits for a person costs the preview, not a
/// second fleet), full size from the switch on. A rollback or full promotion skips the
/// preview.
///
/// # Examples
///
/// ```
/// use cutover::spec::BlueGreenSpec;
/// use cutover::strategy::{StepKind, blue_green_green_size};
/// let spec = BlueGreenSpec { preview_replicas: Some(1), ..BlueGreenSpec::default() };
/// assert_eq!(blue_green_green_size(&spec, 4, StepKind::Preview, false), Ok(1));
/// assert_eq!(blue_green_green_size(&spec, 4, StepKind::Promotion, false), Ok(1));
/// assert_eq!(blue_green_green_size(&spec, 4, StepKind::Switch, false), Ok(4));
/// assert_eq!(blue_green_green_size(&spec, 4, StepKind::Preview, true), Ok(4));
/// ```
///
/// # Errors
///
/// [`SpecError::DesiredTooLarge`] for a `desired` above [`MAX_DESIRED`](crate::spec::MAX_DESIRED).
pub fn blue_green_green_size(
    spec: &BlueGreenSpec,
    desired: u32,
    step: StepKind,
    skip_preview: bool,
) -> Result<u32, SpecError> {
    Ok(green_size(
        spec,
        check_desired(desired)?,
        step,
        skip_preview,
    ))
}

/// [`blue_green_green_size`] for a `desired` already checked.
fn green_size(spec: &BlueGreenSpec, desired: u32, step: StepKind, skip_preview: bool) -> u32 {
    match step {
        StepKind::Preview | StepKind::PrePromotion | StepKind::Promotion if !skip_preview => {
            preview_size(spec, desired)
        }
        _ => desired,
    }
}

/// The blue-green planner: the desired state for the current step (see the module
/// docs for the table), an abort (`Mode::Revert`: all traffic on blue, green kept for
/// the abort delay) or a rollout at rest (`Mode::Steady`: blue at `desired`, the standby
/// kept while warm). What is kept beside blue never takes the room blue needs to get
/// back to `desired` under the peak: with `max_unavailable` above 0, part of a kept
/// green (or standby) goes so that blue is whole again.
///
/// # Examples
///
/// ```
/// use cutover::Timestamp;
/// use cutover::spec::{BlueGreenSpec, CapacityLimits};
/// use cutover::strategy::{FleetView, Mode, PerRole, PlanInput, RoleCounts, StepState, blue_green_plan};
/// let spec = BlueGreenSpec::default();
/// let limits = CapacityLimits::new(3, 3, 0).unwrap();
/// let mut view = FleetView::default();
/// view.roles.stable = RoleCounts::new(3, 3, 3);
/// let input = PlanInput { mode: Mode::Rollout, limits, view, has_stable: true, now: Timestamp::ZERO, step: StepState::default() };
/// let plan = blue_green_plan(&spec, &input);
/// assert_eq!((plan.wanted.stable, plan.wanted.target), (3, 3)); // green beside blue
/// ```
#[must_use]
pub fn blue_green_plan(spec: &BlueGreenSpec, input: &PlanInput) -> Plan {
    match input.mode {
        Mode::Rollout => rollout_plan(spec, input),
        Mode::Revert | Mode::Steady => at_rest_plan(spec, input),
    }
}

fn rollout_plan(spec: &BlueGreenSpec, input: &PlanInput) -> Plan {
    let limits: CapacityLimits = input.limits;
    let view = input.view;
    let state = input.step;
    let last = BLUE_GREEN_STEPS.len() as u32 - 1;
    let index = state.index.min(last);
    let kind = BLUE_GREEN_STEPS[index as usize];
    // A first deploy has no blue to protect (Argo's "blue-green first deploy"): green
    // goes to full size and takes the traffic, with no preview, checks or promotion.
    let first = !input.has_stable;
    let skip = state.skips_checks() || first;
    let green = green_size(spec, limits.desired(), kind, skip);
    let green_available = view.roles[Role::Target].available;
    let checks_passed = skip || state.promoted || state.checks == Some(true);
    let (done, waiting) = match kind {
        StepKind::Preview => (green_available >= green, Some(StepWait::Capacity)),
        StepKind::PrePromotion => (
            spec.pre_promotion.is_empty() || checks_passed,
            Some(StepWait::Checks),
        ),
        StepKind::Promotion => match spec.promotion {
            _ if skip || state.promoted => (true, None),
            Promotion::Auto(delay) => {
                let at = state.started_at + delay;
                (input.now >= at, Some(StepWait::Until { at }))
            }
            Promotion::Manual => (false, Some(StepWait::Promotion)),
        },
        StepKind::Switch => (
            green_available >= limits.desired(),
            Some(StepWait::Capacity),
        ),
        _ => (
            spec.post_promotion.is_empty() || checks_passed,
            Some(StepWait::Checks),
        ),
    };
    let switched = kind == StepKind::PostPromotion || first;
    // Blue stays whole unless green at full size needs the room (`max_unavailable`).
    // After the switch it is kept as it is, not rebuilt: a blue instance lost then
    // would be built only to become the standby.
    let blue = limits
        .desired()
        .min(limits.max_total().saturating_sub(green));
    let wanted = PerRole::<u32> {
        target: green,
        stable: if switched {
            blue.min(view.roles[Role::Stable].replicas)
        } else {
            blue
        },
        ..PerRole::default()
    };
    // Complete only with green whole and every other environment but blue gone (blue
    // then becomes the standby).
    let target = view.roles[Role::Target];
    let settled = target.replicas == limits.desired()
        && target.available >= limits.desired()
        && view.roles[Role::Superseded].replicas == 0
        && view.roles[Role::Standby].replicas == 0
        && view.leaving == 0;
    // Before the switch only blue rises (taking back any share green holds, as blue's
    // capacity allows); the switch moves everything to green at once.
    let traffic = if switched {
        ExplicitTraffic::all_on(Role::Target)
    } else {
        let mut before = ExplicitTraffic::back_to(Role::Stable);
        if let Some(route) = &spec.preview_route {
            before.routes.push((route.clone(), Role::Target));
        }
        before
    };
    Plan {
        wanted,
        traffic: TrafficIntent::Explicit(traffic),
        step: StepProgress {
            kind,
            index,
            count: last + 1,
            done,
            waiting: if done { None } else { waiting },
            complete: index == last && done && settled,
        },
        wake_at: match waiting {
            Some(StepWait::Until { at }) if !done => Some(at),
            _ => None,
        },
    }
}

impl Planner for BlueGreenSpec {
    fn plan(&self, input: &PlanInput) -> Plan {
        blue_green_plan(self, input)
    }

    fn step_checks(&self, _index: u32, step: StepKind) -> Option<Checks> {
        let checks = match step {
            StepKind::PrePromotion => &self.pre_promotion,
            StepKind::PostPromotion => &self.post_promotion,
            _ => return None,
        };
        (!checks.is_empty()).then(|| checks.clone())
    }

    fn standby_after_completion(&self, now: Timestamp) -> Option<Option<Timestamp>> {
        Some((!self.keep_standby).then(|| now + self.scale_down_delay))
    }

    fn describe_step(&self, step: &StepView<'_>) -> Option<String> {
        let StepView {
            target,
            stable,
            plan,
            ..
        } = step;
        let green = step.fleet.roles[Role::Target].available;
        let desired = step.desired;
        let checks = &step.checks_waiting;
        Some(match plan.step.kind {
            StepKind::Preview => {
                let route = if step.routes_live {
                    " (preview route live)"
                } else {
                    ""
                };
                format!(
                    "building {target} beside {stable}: {green}/{} available{route}",
                    plan.wanted[Role::Target]
                )
            }
            StepKind::PrePromotion => format!("checking {target} before the switch{checks}"),
            StepKind::Promotion => match plan.step.waiting {
                Some(StepWait::Until { at }) => {
                    format!("{target} ready and checked; switching from {stable} at {at}")
                }
                _ => format!(
                    "{target} ready and checked; waiting for promotion since {}",
                    step.started_at
                ),
            },
            StepKind::Switch => format!(
                "{target} at full size: {green}/{desired} available; traffic switches from {stable} when all are"
            ),
            _ => format!(
                "traffic on {target}, {stable} warm for rollback; checking after the switch{checks}"
            ),
        })
    }
}

fn at_rest_plan(spec: &BlueGreenSpec, input: &PlanInput) -> Plan {
    let view = input.view;
    let state = input.step;
    let mut wanted = PerRole::<u32>::default();
    // What is kept beside blue (an aborted green, the standby) gets only the room blue
    // at full size leaves under the peak: blue's capacity comes first.
    let room = input.limits.max_total() - input.limits.desired();
    let mut wake_at = None;
    if input.has_stable {
        wanted.stable = input.limits.desired();
        // Green stays after an abort for its delay (for good with `None`), never grown.
        let green_until = state
            .aborted_at
            .map(|at| spec.abort_scale_down_delay.map(|delay| at + delay));
        let keep_green = green_until.is_some_and(|until| until.is_none_or(|u| input.now < u));
        if input.mode == Mode::Revert && keep_green {
            wanted.target = view.roles[Role::Target].replicas.min(room);
            wake_at = green_until.flatten();
        }
    }
    let warm = state.standby_until.is_none_or(|until| input.now < until);
    if warm && view.roles[Role::Standby].replicas > 0 {
        wanted.standby = view.roles[Role::Standby].replicas.min(room);
        wake_at = wake_at.into_iter().chain(state.standby_until).min();
    }
    Plan {
        wanted,
        traffic: TrafficIntent::Explicit(ExplicitTraffic::back_to(Role::Stable)),
        step: StepProgress::default(),
        wake_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Quantity;
    use crate::strategy::plan::{FleetView, RoleCounts, StepState};
    use crate::time::{Duration, Timestamp};

    fn input(step: StepState, stable: u32, green_available: u32) -> PlanInput {
        let mut view = FleetView::default();
        view.roles.stable = RoleCounts {
            replicas: stable,
            available: stable,
            ready: stable,
        };
        view.roles.target = RoleCounts {
            replicas: green_available,
            available: green_available,
            ready: green_available,
        };
        PlanInput {
            mode: Mode::Rollout,
            limits: CapacityLimits::new(4, 3, 1).unwrap(),
            view,
            has_stable: true,
            now: Timestamp::from_millis(10_000),
            step,
        }
    }

    #[test]
    fn the_cost_is_twice_the_fleet_less_what_blue_may_give_up() {
        let spec = BlueGreenSpec::default();
        let cost = blue_green_cost(&spec, 5).unwrap();
        assert_eq!((cost.peak, cost.min_available, cost.preview), (10, 5, 5));
        let tight = BlueGreenSpec {
            max_unavailable: Quantity::Percent(30),
            ..spec
        };
        // 30% of 5 rounds down to 1, and there is no both-zero rule.
        assert_eq!(blue_green_cost(&tight, 5).unwrap().peak, 9);
        assert_eq!(blue_green_cost(&tight, 3).unwrap().blue_may_go, 0);
    }

    #[test]
    fn blue_gives_up_instances_only_when_green_needs_the_room() {
        let spec = BlueGreenSpec {
            preview_replicas: Some(1),
            max_unavailable: Quantity::Count(1),
            ..BlueGreenSpec::default()
        };
        let preview = blue_green_plan(&spec, &input(StepState::default(), 4, 0));
        assert_eq!((preview.wanted.stable, preview.wanted.target), (4, 1));
        let promotion = StepState {
            index: 2,
            ..StepState::default()
        };
        let waiting = blue_green_plan(&spec, &input(promotion, 4, 1));
        assert_eq!((waiting.wanted.stable, waiting.wanted.target), (4, 1));
        let switch = StepState {
            index: 3,
            ..StepState::default()
        };
        let full = blue_green_plan(&spec, &input(switch, 4, 1));
        assert_eq!((full.wanted.stable, full.wanted.target), (3, 4));
    }

    #[test]
    fn traffic_switches_only_in_the_step_after_green_is_complete() {
        let spec = BlueGreenSpec::default();
        let switch = StepState {
            index: 3,
            ..StepState::default()
        };
        let waiting = blue_green_plan(&spec, &input(switch, 4, 3));
        assert!(!waiting.step.done);
        assert_eq!(
            waiting.traffic,
            TrafficIntent::Explicit(ExplicitTraffic::back_to(Role::Stable))
        );
        assert!(blue_green_plan(&spec, &input(switch, 4, 4)).step.done);
        let after = StepState {
            index: 4,
            ..StepState::default()
        };
        let switched = blue_green_plan(&spec, &input(after, 4, 4));
        assert_eq!(
            switched.traffic,
            TrafficIntent::Explicit(ExplicitTraffic::all_on(Role::Target))
        );
        assert!(switched.step.complete, "no post-promotion checks");
    }

    #[test]
    fn promotion_waits_for_its_delay_or_an_operator() {
        let spec = BlueGreenSpec {
            promotion: Promotion::Auto(Duration::from_secs(60)),
            ..BlueGreenSpec::default()
        };
        let step = StepState {
            index: 2,
            started_at: Timestamp::from_millis(5_000),
            ..StepState::default()
        };
        let plan = blue_green_plan(&spec, &input(step, 4, 4));
        assert_eq!(
            plan.step.waiting,
            Some(StepWait::Until {
                at: Timestamp::from_millis(65_000)
            })
        );
        let manual = BlueGreenSpec {
            promotion: Promotion::Manual,
            ..spec
        };
        let plan = blue_green_plan(&manual, &input(step, 4, 4));
        assert_eq!(plan.step.waiting, Some(StepWait::Promotion));
        let promoted = StepState {
            promoted: true,
            ..step
        };
        assert!(blue_green_plan(&manual, &input(promoted, 4, 4)).step.done);
    }

    #[test]
    fn an_abort_keeps_green_for_its_delay_and_no_longer() {
        let spec = BlueGreenSpec::default();
        let aborted = StepState {
            aborted_at: Some(Timestamp::from_millis(0)),
            ..StepState::default()
        };
        let mut revert = input(aborted, 4, 2);
        revert.mode = Mode::Revert;
        assert_eq!(blue_green_plan(&spec, &revert).wanted.target, 2);
        revert.now = Timestamp::from_millis(30_000);
        assert_eq!(blue_green_plan(&spec, &revert).wanted.target, 0);
        let keep = BlueGreenSpec {
            abort_scale_down_delay: None,
            ..spec
        };
        assert_eq!(blue_green_plan(&keep, &revert).wanted.target, 2);
    }
}
