//! The public planning arithmetic is total (issue 19, items 5 and 6): every function
//! refuses a `desired` above `MAX_DESIRED` with a typed error or stays within its
//! documented bounds, whatever the numbers; none panics (this suite runs in debug, so an
//! overflow would), and none allocates beyond what `MAX_DESIRED` bounds.
//!
//! First the cases the issue reported, then a property per function over arbitrary
//! `u32`/`u64` inputs.

use cutover::spec::{
    BlueGreenSpec, CanaryPlan, CanarySpec, CanaryStep, CapacityLimits, MAX_DESIRED, ProvisionRetry,
    Quantity, RollingSpec,
};
use cutover::strategy::{
    FleetView, Mode, PerRole, PlanInput, ProgressCounts, ReplicaCounts, RoleCounts, ScaleStep,
    StepKind, StepState, blue_green_cost, blue_green_green_size, blue_green_plan, canary_cost,
    canary_plan, instances_for_weight, rolling_is_complete, rolling_is_progress, rolling_plan,
    rolling_preview, rolling_preview_from, rolling_scale_down_old, rolling_scale_up, rolling_step,
};
use cutover::traffic::MatchCondition;
use cutover::{Duration, RolloutSpec, SpecError, StrategySpec, Timestamp, Weight};
use proptest::prelude::*;

fn too_large(desired: u32) -> SpecError {
    SpecError::DesiredTooLarge {
        desired,
        max: MAX_DESIRED,
    }
}

// ----- the reported cases -------------------------------------------------------------

/// `blue_green_cost(_, u32::MAX)` overflowed `2 * desired`.
#[test]
fn a_blue_green_cost_above_max_desired_is_refused() {
    let spec = BlueGreenSpec::default();
    assert_eq!(blue_green_cost(&spec, u32::MAX), Err(too_large(u32::MAX)));
    let largest = blue_green_cost(&spec, MAX_DESIRED).unwrap();
    assert_eq!(
        (largest.peak, largest.min_available),
        (2 * MAX_DESIRED, MAX_DESIRED)
    );
}

/// `canary_cost(_, 3_000_000_000)` overflowed `2 * desired`.
#[test]
fn a_canary_cost_above_max_desired_is_refused() {
    let spec = CanarySpec::default();
    assert_eq!(
        canary_cost(&spec, 3_000_000_000),
        Err(too_large(3_000_000_000))
    );
    assert_eq!(
        canary_cost(&spec, MAX_DESIRED).unwrap().peak,
        2 * MAX_DESIRED
    );
}

/// `{"desired":1,"max_surge":0,"max_unavailable":2}` deserialized, and
/// `min_available` then computed `1 - 2`.
#[test]
fn limits_that_break_their_invariants_are_refused_when_read() {
    let refused = |doc: &str| serde_json::from_str::<CapacityLimits>(doc).unwrap_err();
    let error = refused(r#"{"desired":1,"max_surge":0,"max_unavailable":2}"#);
    assert!(
        error
            .to_string()
            .contains("max_unavailable is 2, more than desired = 1"),
        "{error}"
    );
    let error = refused(r#"{"desired":2000000,"max_surge":1,"max_unavailable":0}"#);
    assert!(error.to_string().contains("desired is 2000000"), "{error}");
    let error = refused(r#"{"desired":10,"max_surge":4294967295,"max_unavailable":0}"#);
    assert!(
        error.to_string().contains("max_surge is 4294967295"),
        "{error}"
    );
    let error = refused(r#"{"desired":10,"max_surge":0,"max_unavailable":0}"#);
    assert!(error.to_string().contains("both 0"), "{error}");

    let limits = CapacityLimits::new(10, 3, 2).unwrap();
    let written = serde_json::to_string(&limits).unwrap();
    assert_eq!(
        written,
        r#"{"desired":10,"max_surge":3,"max_unavailable":2}"#
    );
    assert_eq!(
        serde_json::from_str::<CapacityLimits>(&written).unwrap(),
        limits
    );
}

/// `rolling_scale_up` with `old_replicas: u32::MAX` overflowed summing the counts.
#[test]
fn scaling_up_beside_u32_max_old_replicas_has_no_room() {
    let limits = CapacityLimits::resolve(10, Quantity::Count(1), Quantity::Count(0)).unwrap();
    let counts = ReplicaCounts {
        new_replicas: 1,
        old_replicas: u32::MAX,
        ..ReplicaCounts::default()
    };
    assert_eq!(rolling_scale_up(limits, counts), 0);
}

/// Issue 19, item 6: a preview of 2,000,000 instances returned 4,000,000 steps (and
/// `u32::MAX` would have asked for hundreds of GB). Limits that large cannot be built,
/// and the largest preview there is stays within `2 * desired + 4` steps.
#[test]
fn a_preview_of_an_oversized_fleet_is_refused_and_the_largest_is_bounded() {
    for desired in [MAX_DESIRED + 1, 2_000_000, u32::MAX] {
        assert_eq!(
            CapacityLimits::resolve(desired, Quantity::Count(1), Quantity::Count(0)),
            Err(too_large(desired))
        );
        assert_eq!(CapacityLimits::new(desired, 1, 0), Err(too_large(desired)));
    }
    let largest =
        CapacityLimits::resolve(MAX_DESIRED, Quantity::Count(1), Quantity::Count(0)).unwrap();
    let steps = rolling_preview(largest);
    assert!(
        steps.len() <= 2 * MAX_DESIRED as usize + 4,
        "{}",
        steps.len()
    );
    assert!(rolling_is_complete(largest, steps.last().unwrap().1));
    // From counts far beyond the limits, too.
    let wild = ReplicaCounts {
        new_replicas: u32::MAX,
        new_available: u32::MAX,
        old_replicas: u32::MAX,
        old_available: u32::MAX,
        terminating: u32::MAX,
    };
    let steps = rolling_preview_from(largest, wild);
    assert!(
        steps.len() <= 2 * MAX_DESIRED as usize + 4,
        "{}",
        steps.len()
    );
    assert!(rolling_is_complete(largest, steps.last().unwrap().1));
}

/// A canary whose experiment baseline would take the peak past `2 * MAX_DESIRED`
/// instances (the bound limits keep) is refused, saying why.
#[test]
fn a_canary_peak_past_twice_max_desired_is_refused() {
    let spec = |weight| RolloutSpec {
        desired: MAX_DESIRED,
        strategy: StrategySpec::Canary(CanarySpec::with_plan(CanaryPlan::Steps(vec![
            CanaryStep::SetWeight(Weight::from_percent(weight).unwrap()),
            CanaryStep::Experiment {
                duration: Some(Duration::from_mins(1)),
                analysis: None,
                on_failure: Default::default(),
            },
        ]))),
        ..RolloutSpec::default()
    };
    let error = spec(99).validate().unwrap_err();
    assert!(
        matches!(error, SpecError::InvalidCanary { why, .. } if why.contains("twice MAX_DESIRED")),
        "{error}"
    );
    // Half the fleet as canary and as baseline beside a full stable revision fits.
    let limits = spec(50).validate().unwrap();
    assert_eq!(limits.max_total(), 2 * MAX_DESIRED);
}

// ----- strategies -----------------------------------------------------------------------

/// Any `desired`, the bound and its neighbours and small fleets drawn often.
fn any_desired() -> impl Strategy<Value = u32> {
    prop_oneof![
        1 => MAX_DESIRED - 1..=MAX_DESIRED + 1,
        2 => 0..=50u32,
        2 => 0..=MAX_DESIRED,
        2 => any::<u32>(),
    ]
}

/// Any count: small, around `MAX_DESIRED`, or anything up to `u32::MAX`.
fn any_count() -> impl Strategy<Value = u32> {
    prop_oneof![
        2 => 0..=50u32,
        1 => 0..=2 * MAX_DESIRED + 2,
        1 => Just(u32::MAX),
        2 => any::<u32>(),
    ]
}

fn any_quantity() -> impl Strategy<Value = Quantity> {
    prop_oneof![
        any_count().prop_map(Quantity::Count),
        prop_oneof![0..=300u32, any::<u32>()].prop_map(Quantity::Percent),
    ]
}

fn any_weight() -> impl Strategy<Value = Weight> {
    prop_oneof![
        Just(Weight::ZERO),
        Just(Weight::FULL),
        (0u64..=10_000).prop_map(|bp| Weight::from_basis_points(bp).unwrap()),
    ]
}

/// Any limits `CapacityLimits::new` accepts, the largest included.
fn any_limits() -> BoxedStrategy<CapacityLimits> {
    let desired = prop_oneof![0..=20u32, 0..=MAX_DESIRED, Just(MAX_DESIRED)];
    desired
        .prop_flat_map(|desired| {
            let most_surge = 2 * MAX_DESIRED - desired;
            (
                Just(desired),
                prop_oneof![0..=5u32, 0..=most_surge, Just(most_surge)],
                prop_oneof![0..=5u32.min(desired), 0..=desired, Just(desired)],
            )
        })
        .prop_filter_map("no progress possible", |(desired, surge, unavailable)| {
            CapacityLimits::new(desired, surge, unavailable).ok()
        })
        .boxed()
}

/// Limits small enough to preview in a property (the largest is a test of its own).
fn small_limits() -> impl Strategy<Value = CapacityLimits> {
    (0..=300u32, 0..=300u32, 0..=300u32).prop_filter_map(
        "no progress possible",
        |(desired, surge, unavailable)| {
            CapacityLimits::new(desired, surge, unavailable.min(desired)).ok()
        },
    )
}

fn any_replica_counts() -> BoxedStrategy<ReplicaCounts> {
    (
        any_count(),
        any_count(),
        any_count(),
        any_count(),
        any_count(),
    )
        .prop_map(
            |(new_replicas, new_available, old_replicas, old_available, terminating)| {
                ReplicaCounts {
                    new_replicas,
                    new_available,
                    old_replicas,
                    old_available,
                    terminating,
                }
            },
        )
        .boxed()
}

fn any_role_counts() -> BoxedStrategy<RoleCounts> {
    (any_count(), any_count(), any_count())
        .prop_map(|(replicas, available, ready)| RoleCounts::new(replicas, available, ready))
        .boxed()
}

fn any_view() -> BoxedStrategy<FleetView> {
    (
        [
            any_role_counts(),
            any_role_counts(),
            any_role_counts(),
            any_role_counts(),
            any_role_counts(),
        ],
        any_count(),
    )
        .prop_map(|(counts, leaving)| {
            let mut counts = counts.into_iter();
            let roles = PerRole::from_fn(|_| counts.next().unwrap_or_default());
            FleetView::new(roles, leaving)
        })
        .boxed()
}

fn any_timestamp() -> impl Strategy<Value = Timestamp> {
    prop_oneof![0..=1_000_000u64, any::<u64>()].prop_map(Timestamp::from_millis)
}

fn any_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![0..=1_000_000u64, any::<u64>()].prop_map(Duration::from_millis)
}

fn any_step_state() -> BoxedStrategy<StepState> {
    (
        prop_oneof![0..=8u32, any::<u32>()],
        any_timestamp(),
        any::<[bool; 5]>(),
        proptest::option::of(any::<bool>()),
        [
            proptest::option::of(any_timestamp()),
            proptest::option::of(any_timestamp()),
            proptest::option::of(any_timestamp()),
        ],
        proptest::option::of(any::<u32>()),
    )
        .prop_map(
            |(
                index,
                started_at,
                [promoted, full, is_rollback, held, _],
                checks,
                times,
                resized_from,
            )| {
                let [aborted_at, standby_until, in_place_at] = times;
                let mut step = StepState::new(index, started_at);
                step.promoted = promoted;
                step.full = full;
                step.checks = checks;
                step.is_rollback = is_rollback;
                step.held = held;
                step.aborted_at = aborted_at;
                step.standby_until = standby_until;
                step.in_place_at = in_place_at;
                step.resized_from = resized_from;
                step
            },
        )
        .boxed()
}

fn any_plan_input() -> BoxedStrategy<PlanInput> {
    (
        prop_oneof![Just(Mode::Rollout), Just(Mode::Revert), Just(Mode::Steady)],
        any_limits(),
        any_view(),
        any::<bool>(),
        any_timestamp(),
        any_step_state(),
    )
        .prop_map(|(mode, limits, view, has_stable, now, step)| PlanInput {
            mode,
            limits,
            view,
            has_stable,
            now,
            step,
        })
        .boxed()
}

fn any_blue_green() -> BoxedStrategy<BlueGreenSpec> {
    (
        proptest::option::of(any_count()),
        any_quantity(),
        any_duration(),
        proptest::option::of(any_duration()),
        any::<bool>(),
    )
        .prop_map(
            |(preview_replicas, max_unavailable, scale_down_delay, abort_delay, keep)| {
                BlueGreenSpec {
                    preview_replicas,
                    max_unavailable,
                    scale_down_delay,
                    abort_scale_down_delay: abort_delay,
                    keep_standby: keep,
                    ..BlueGreenSpec::default()
                }
            },
        )
        .boxed()
}

fn any_canary_step() -> BoxedStrategy<CanaryStep> {
    let scale = prop_oneof![
        any_count().prop_map(cutover::strategy::CanaryScale::Replicas),
        any_weight().prop_map(cutover::strategy::CanaryScale::Weight),
        Just(cutover::strategy::CanaryScale::MatchTrafficWeight),
    ];
    prop_oneof![
        any_weight().prop_map(CanaryStep::SetWeight),
        proptest::option::of(any_duration()).prop_map(|duration| CanaryStep::Pause { duration }),
        scale.prop_map(CanaryStep::SetCanaryScale),
        any::<bool>().prop_map(|on| CanaryStep::SetRoute(
            on.then(|| MatchCondition::header_equals("x-canary", "1"))
        )),
        any_weight().prop_map(CanaryStep::SetMirror),
        proptest::option::of(any_duration()).prop_map(|duration| CanaryStep::Experiment {
            duration,
            analysis: None,
            on_failure: Default::default(),
        }),
    ]
    .boxed()
}

fn any_canary() -> BoxedStrategy<CanarySpec> {
    let plan = prop_oneof![
        3 => proptest::collection::vec(any_canary_step(), 0..12).prop_map(CanaryPlan::Steps),
        1 => Just(CanaryPlan::AllAtOnce),
        1 => (any_weight(), any_duration())
            .prop_map(|(weight, after)| CanaryPlan::Canary { weight, after }),
        1 => (any_weight(), any_duration())
            .prop_map(|(weight, every)| CanaryPlan::Linear { weight, every }),
    ];
    (
        plan,
        any::<bool>(),
        any_quantity(),
        any_quantity(),
        any_count(),
        any::<bool>(),
        proptest::option::of(any_duration()),
    )
        .prop_map(
            |(plan, traffic_routing, max_surge, max_unavailable, min_instances, dynamic, delay)| {
                CanarySpec {
                    plan,
                    traffic_routing,
                    max_surge,
                    max_unavailable,
                    min_instances,
                    dynamic_stable_scale: dynamic,
                    abort_scale_down_delay: delay,
                }
            },
        )
        .boxed()
}

// ----- properties -----------------------------------------------------------------------

proptest! {
    #[test]
    fn quantities_resolve_exactly_or_refuse(
        quantity in any_quantity(), desired in any_desired(), round_up: bool
    ) {
        let resolved = quantity.resolve(desired, round_up);
        if desired > MAX_DESIRED {
            prop_assert_eq!(resolved, Err(too_large(desired)));
            return Ok(());
        }
        let expected = match quantity {
            Quantity::Count(n) => u64::from(n),
            Quantity::Percent(p) => {
                let scaled = u64::from(p) * u64::from(desired);
                if round_up { scaled.div_ceil(100) } else { scaled / 100 }
            }
            other => panic!("a quantity this test does not know: {other:?}"),
        };
        prop_assert_eq!(resolved, Ok(u32::try_from(expected).unwrap_or(u32::MAX)));
    }

    #[test]
    fn limits_are_built_only_valid(
        desired in any_desired(), surge in any_count(), unavailable in any_count()
    ) {
        let built = CapacityLimits::new(desired, surge, unavailable);
        let valid = desired <= MAX_DESIRED
            && u64::from(desired) + u64::from(surge) <= 2 * u64::from(MAX_DESIRED)
            && unavailable <= desired
            && (desired == 0 || surge > 0 || unavailable > 0);
        prop_assert_eq!(built.is_ok(), valid, "{:?}", built);
        if let Ok(limits) = built {
            prop_assert_eq!(
                (limits.desired(), limits.max_surge(), limits.max_unavailable()),
                (desired, surge, unavailable)
            );
            prop_assert_eq!(limits.max_total(), desired + surge);
            prop_assert_eq!(limits.min_available(), desired - unavailable);
        }
        // A document of the same numbers reads the same way.
        let doc = format!(
            r#"{{"desired":{desired},"max_surge":{surge},"max_unavailable":{unavailable}}}"#
        );
        let read = serde_json::from_str::<CapacityLimits>(&doc);
        prop_assert_eq!(read.ok(), built.ok());
    }

    #[test]
    fn resolved_limits_are_valid_or_refused(
        desired in any_desired(), surge in any_quantity(), unavailable in any_quantity()
    ) {
        match CapacityLimits::resolve(desired, surge, unavailable) {
            Ok(limits) => {
                prop_assert!(limits.desired() <= MAX_DESIRED);
                prop_assert!(limits.max_total() <= 2 * MAX_DESIRED);
                prop_assert!(limits.max_unavailable() <= limits.desired());
            }
            Err(SpecError::DesiredTooLarge { .. }) => prop_assert!(desired > MAX_DESIRED),
            Err(SpecError::SurgeTooLarge { max_surge, .. }) => prop_assert_eq!(max_surge, surge),
            Err(error) => prop_assert!(false, "unexpected {error}"),
        }
    }

    #[test]
    fn rolling_steps_stay_within_the_limits(
        limits in any_limits(), counts in any_replica_counts()
    ) {
        let up = rolling_scale_up(limits, counts);
        prop_assert!(up <= limits.desired().saturating_sub(counts.new_replicas));
        if up > 0 {
            let live = u64::from(counts.new_replicas)
                + u64::from(counts.old_replicas)
                + u64::from(counts.terminating);
            prop_assert!(live + u64::from(up) <= u64::from(limits.max_total()));
        }
        let (unavailable, available) = rolling_scale_down_old(limits, counts);
        prop_assert!(u64::from(unavailable) + u64::from(available) <= u64::from(counts.old_replicas));
        let step = rolling_step(limits, counts);
        prop_assert!(step.scale_down_old() <= counts.old_replicas);
        prop_assert!(step.scale_up_new <= limits.desired());
        prop_assert!(step.scale_down_new <= counts.new_replicas);
        let _ = rolling_is_complete(limits, counts);
    }

    #[test]
    fn rolling_previews_end_complete_within_their_bound(
        limits in small_limits(), counts in any_replica_counts()
    ) {
        let bound = 2 * limits.desired() as usize + 4;
        let whole = rolling_preview(limits);
        prop_assert!(whole.len() <= bound);
        let rest = rolling_preview_from(limits, counts);
        prop_assert!(rest.len() <= bound, "{} steps", rest.len());
        for steps in [whole, rest] {
            if let Some((_, last)) = steps.last() {
                prop_assert!(rolling_is_complete(limits, *last), "{:?}", last);
            }
        }
    }

    #[test]
    fn progress_is_compared_whatever_the_counts(before: [u32; 4], after: [u32; 4]) {
        let counts = |[updated, old, ready, available]: [u32; 4]| ProgressCounts {
            updated, old, ready, available,
        };
        let progress = rolling_is_progress(counts(before), counts(after));
        prop_assert_eq!(
            progress,
            after[0] > before[0] || after[1] < before[1] || after[2] > before[2] || after[3] > before[3]
        );
    }

    #[test]
    fn a_scale_step_sums_without_overflow(unavailable: u32, available: u32) {
        let mut step = ScaleStep::default();
        step.scale_down_old_unavailable = unavailable;
        step.scale_down_old_available = available;
        prop_assert_eq!(step.scale_down_old(), unavailable.saturating_add(available));
    }

    #[test]
    fn fleet_views_sum_without_overflow(view in any_view()) {
        let roles = [
            view.roles.stable, view.roles.target, view.roles.standby,
            view.roles.superseded, view.roles.baseline,
        ];
        let sum = |counts: &mut dyn Iterator<Item = u32>| {
            u32::try_from(counts.map(u64::from).sum::<u64>()).unwrap_or(u32::MAX)
        };
        prop_assert_eq!(
            view.live(),
            sum(&mut roles.iter().map(|r| r.replicas).chain([view.leaving]))
        );
        prop_assert_eq!(view.available(), sum(&mut roles.iter().map(|r| r.available)));
        prop_assert_eq!(
            view.replicas_except(cutover::strategy::Role::Stable),
            sum(&mut roles[1..].iter().map(|r| r.replicas))
        );
        prop_assert_eq!(
            view.available_except(cutover::strategy::Role::Stable),
            sum(&mut roles[1..].iter().map(|r| r.available))
        );
    }

    #[test]
    fn instances_for_a_weight_are_at_most_desired(desired in any_desired(), weight in any_weight()) {
        match instances_for_weight(desired, weight) {
            Ok(instances) => {
                prop_assert!(instances <= desired);
                prop_assert_eq!(instances == 0, desired == 0 || weight.is_zero());
            }
            Err(error) => prop_assert_eq!(error, too_large(desired)),
        }
    }

    #[test]
    fn blue_green_costs_are_within_twice_the_fleet(
        spec in any_blue_green(), desired in any_desired()
    ) {
        let cost = match blue_green_cost(&spec, desired) {
            Ok(cost) => cost,
            Err(error) => {
                prop_assert_eq!(error, too_large(desired));
                return Ok(());
            }
        };
        prop_assert!(cost.preview <= desired && cost.blue_may_go <= desired);
        prop_assert_eq!(cost.peak, 2 * desired - cost.blue_may_go);
        prop_assert_eq!(cost.min_available, desired - cost.blue_may_go);
        for step in [StepKind::Preview, StepKind::PrePromotion, StepKind::Switch] {
            for skip in [false, true] {
                let green = blue_green_green_size(&spec, desired, step, skip).unwrap();
                prop_assert!(green <= desired);
            }
        }
    }

    #[test]
    fn canary_costs_refuse_or_state_a_floor_within_the_fleet(
        spec in any_canary(), desired in any_desired()
    ) {
        match canary_cost(&spec, desired) {
            Ok(cost) => {
                prop_assert!(desired <= MAX_DESIRED);
                prop_assert!(cost.min_available <= desired);
                prop_assert!(cost.peak >= desired, "{:?}", cost);
            }
            Err(SpecError::DesiredTooLarge { .. }) => prop_assert!(desired > MAX_DESIRED),
            Err(SpecError::SurgeTooLarge { .. }) => prop_assert!(!spec.traffic_routing),
            Err(error) => prop_assert!(false, "unexpected {error}"),
        }
    }

    #[test]
    fn planners_answer_any_input(
        input in any_plan_input(), blue_green in any_blue_green(), canary in any_canary()
    ) {
        let plans = [
            rolling_plan(&input),
            blue_green_plan(&blue_green, &input),
            canary_plan(&canary, &input),
        ];
        for plan in plans {
            // The step a plan reports is one of its steps (a plan at rest reports none).
            prop_assert!(plan.step.count == 0 || plan.step.index < plan.step.count, "{:?}", plan.step);
        }
    }

    #[test]
    fn canary_plans_have_bounded_steps(spec in any_canary(), index: usize) {
        let len = spec.plan.len();
        prop_assert!(len <= 2 * cutover::spec::MAX_CANARY_STEPS);
        prop_assert_eq!(spec.plan.step(index).is_some(), index < len);
    }

    #[test]
    fn specs_validate_into_valid_limits_or_refuse(
        desired in any_desired(), surge in any_quantity(), unavailable in any_quantity(),
        blue_green in any_blue_green(), canary in any_canary(), which in 0..3u8,
        allow_downtime: bool,
    ) {
        let strategy = match which {
            0 => StrategySpec::Rolling(RollingSpec { max_surge: surge, max_unavailable: unavailable }),
            1 => StrategySpec::BlueGreen(blue_green),
            _ => StrategySpec::Canary(canary),
        };
        let spec = RolloutSpec { desired, strategy, allow_downtime, ..RolloutSpec::default() };
        if let Ok(limits) = spec.validate() {
            prop_assert_eq!(limits.desired(), desired);
            prop_assert!(limits.max_total() <= 2 * MAX_DESIRED);
        }
    }

    #[test]
    fn provision_backoff_stays_within_its_cap(
        failures: u32, initial in any_duration(), max in any_duration()
    ) {
        let retry = ProvisionRetry { max_failures: 5, backoff_initial: initial, backoff_max: max };
        prop_assert!(retry.backoff(failures) <= max);
    }
}
