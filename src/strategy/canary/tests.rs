use super::*;
use crate::analysis::OnFailure;
use crate::spec::{MAX_CANARY_STEPS, Quantity};
use crate::strategy::plan::{FleetView, RoleCounts, StepState};
use crate::time::{Duration, Timestamp};

fn percent(p: u64) -> Weight {
    Weight::from_percent(p).unwrap()
}

fn counts(n: u32) -> RoleCounts {
    RoleCounts {
        replicas: n,
        available: n,
        ready: n,
    }
}

/// A rollout input over 10 instances at step `index`, with `canary` available canary
/// instances.
fn input(spec: &CanarySpec, index: u32, canary: u32) -> PlanInput {
    let mut view = FleetView::default();
    view.roles.stable = counts(10);
    view.roles.target = counts(canary);
    PlanInput {
        mode: Mode::Rollout,
        limits: spec.validate(10, &Default::default()).unwrap(),
        view,
        has_stable: true,
        now: Timestamp::from_millis(10_000),
        step: StepState {
            index,
            ..StepState::default()
        },
    }
}

fn steps(steps: Vec<CanaryStep>) -> CanarySpec {
    CanarySpec::with_plan(CanaryPlan::Steps(steps))
}

#[test]
fn a_weight_step_is_in_place_once_the_canary_instances_to_carry_it_are_available() {
    let spec = steps(vec![CanaryStep::SetWeight(percent(30))]);
    let building = canary_plan(&spec, &input(&spec, 0, 1));
    assert_eq!((building.wanted.stable, building.wanted.target), (10, 3));
    assert!(!building.step.done);
    assert_eq!(building.step.waiting, Some(StepWait::Capacity));
    // The plan says where traffic ends up; the core's shaper moves it there as the
    // canary's instances carry it, and holds the step until the table is applied.
    let TrafficIntent::Explicit(traffic) = &building.traffic else {
        panic!("a routed canary has explicit weights");
    };
    assert_eq!(traffic.weights.target, percent(30));
    assert!(canary_plan(&spec, &input(&spec, 0, 3)).step.done);
}

#[test]
fn the_promotion_wants_the_stable_revision_gone() {
    // The core removes stable instances only as its traffic leaves them.
    let spec = steps(vec![CanaryStep::SetWeight(percent(50))]);
    let plan = canary_plan(&spec, &input(&spec, 1, 10));
    assert_eq!(plan.step.kind, StepKind::Promote);
    assert_eq!((plan.wanted.stable, plan.wanted.target), (0, 10));
    assert!(!plan.step.complete, "stable instances are still there");
}

#[test]
fn dynamic_stable_scale_sizes_stable_for_its_share() {
    let spec = CanarySpec {
        dynamic_stable_scale: true,
        ..steps(vec![CanaryStep::SetWeight(percent(40))])
    };
    let plan = canary_plan(&spec, &input(&spec, 0, 4));
    assert_eq!((plan.wanted.stable, plan.wanted.target), (6, 4));
    // A superseded canary still around: stable stays whole to take its share back.
    let mut superseded = input(&spec, 0, 4);
    superseded.view.roles.superseded = counts(2);
    let plan = canary_plan(&spec, &superseded);
    assert_eq!((plan.wanted.stable, plan.wanted.target), (10, 4));
}

#[test]
fn without_a_router_the_weight_is_carried_by_instance_counts() {
    let spec = CanarySpec {
        traffic_routing: false,
        max_surge: Quantity::Count(1),
        max_unavailable: Quantity::Count(0),
        ..steps(vec![CanaryStep::SetWeight(percent(15))])
    };
    let plan = canary_plan(&spec, &input(&spec, 0, 0));
    assert_eq!(plan.traffic, TrafficIntent::Proportional);
    // 15% of 10 is 1.5 instances; two of eleven (18%) is closer than two of ten (20%)
    // or one of ten, and the surge allows the eleventh.
    assert_eq!((plan.wanted.stable, plan.wanted.target), (9, 2));
}

#[test]
fn pauses_wait_for_their_time_or_a_promotion_and_analysis_for_its_verdict() {
    let spec = steps(vec![
        CanaryStep::Pause {
            duration: Some(Duration::from_secs(60)),
        },
        CanaryStep::Pause { duration: None },
        CanaryStep::Analysis {
            analysis: "errors".to_owned(),
            on_failure: OnFailure::Abort,
        },
    ]);
    let analyses = ["errors"].into_iter().collect();
    let limits = spec.validate(10, &analyses).unwrap();
    let at = |index, tweak: &dyn Fn(&mut PlanInput)| {
        let mut input = input(&steps(Vec::new()), index, 0);
        input.limits = limits;
        tweak(&mut input);
        canary_plan(&spec, &input)
    };
    let timed = at(0, &|_| {});
    assert_eq!(
        timed.step.waiting,
        Some(StepWait::Until {
            at: Timestamp::from_millis(60_000)
        })
    );
    assert_eq!(timed.wake_at, Some(Timestamp::from_millis(60_000)));
    assert!(at(0, &|i| i.now = Timestamp::from_millis(60_000)).step.done);
    assert_eq!(at(1, &|_| {}).step.waiting, Some(StepWait::Promotion));
    assert!(at(1, &|i| i.step.promoted = true).step.done);
    assert_eq!(at(2, &|_| {}).step.waiting, Some(StepWait::Checks));
    assert!(at(2, &|i| i.step.checks = Some(true)).step.done);
    assert!(!at(2, &|i| i.step.checks = Some(false)).step.done);
}

#[test]
fn an_abort_keeps_the_canary_beside_a_full_stable_for_its_delay_only() {
    let spec = steps(vec![CanaryStep::SetWeight(percent(30))]);
    let mut revert = input(&spec, 0, 3);
    revert.mode = Mode::Revert;
    revert.step.aborted_at = Some(Timestamp::from_millis(0));
    assert_eq!(canary_plan(&spec, &revert).wanted.target, 3);
    revert.now = Timestamp::from_millis(30_000);
    assert_eq!(canary_plan(&spec, &revert).wanted.target, 0);
    let dynamic = CanarySpec {
        dynamic_stable_scale: true,
        ..spec
    };
    revert.now = Timestamp::from_millis(0);
    assert_eq!(canary_plan(&dynamic, &revert).wanted.target, 0);
}

#[test]
fn the_routed_peak_is_the_largest_canary_beside_what_stable_still_needs() {
    let spec = steps(vec![
        CanaryStep::SetWeight(percent(20)),
        CanaryStep::SetWeight(percent(60)),
    ]);
    assert_eq!(canary_cost(&spec, 10).unwrap().peak, 20);
    let dynamic = CanarySpec {
        dynamic_stable_scale: true,
        ..spec
    };
    // 20% -> 60%: six canary instances while stable still carries 80% (eight).
    assert_eq!(canary_cost(&dynamic, 10).unwrap().peak, 14);
}

#[test]
fn an_experiment_wants_a_baseline_like_the_canary_and_its_clock_starts_once_in_place() {
    let spec = steps(vec![
        CanaryStep::SetWeight(percent(20)),
        CanaryStep::Experiment {
            duration: Some(Duration::from_millis(1_000)),
            analysis: None,
            on_failure: OnFailure::Abort,
        },
    ]);
    let mut at = input(&spec, 1, 2);
    let plan = canary_plan(&spec, &at);
    assert_eq!((plan.wanted.target, plan.wanted.baseline), (2, 2));
    assert_eq!(
        plan.step.waiting,
        Some(StepWait::Capacity),
        "no baseline yet"
    );
    at.view.roles.baseline = counts(2);
    let plan = canary_plan(&spec, &at);
    assert_eq!(
        plan.step.waiting,
        Some(StepWait::Until {
            at: Timestamp::from_millis(11_000)
        })
    );
    // The clock runs from when the core saw it in place, not from the step's start.
    at.step.in_place_at = Some(Timestamp::from_millis(9_500));
    at.now = Timestamp::from_millis(10_499);
    assert!(!canary_plan(&spec, &at).step.done);
    at.now = Timestamp::from_millis(10_500);
    assert!(canary_plan(&spec, &at).step.done);
    // The next step, an abort, or a promotion past it: no baseline.
    assert_eq!(canary_plan(&spec, &input(&spec, 2, 2)).wanted.baseline, 0);
    at.mode = Mode::Revert;
    assert_eq!(canary_plan(&spec, &at).wanted.baseline, 0);
}

#[test]
fn an_experiments_baseline_comes_on_top_of_the_peak() {
    let experiment = CanaryStep::Experiment {
        duration: None,
        analysis: Some("errors".into()),
        on_failure: OnFailure::Abort,
    };
    let spec = steps(vec![CanaryStep::SetWeight(percent(20)), experiment.clone()]);
    // Routed, full stable: the promotion (ten beside ten) is still the peak.
    assert_eq!(
        canary_cost(&spec, 10).unwrap(),
        CanaryCost {
            peak: 20,
            min_available: 8,
            baseline: 2
        }
    );
    // Dynamic stable scale, in steps of 20%: at most twelve at each change, and
    // fourteen at an experiment at 40% (six stable, four canary, four baseline).
    let dynamic = |plan: Vec<u64>| {
        let steps = plan
            .into_iter()
            .map(|p| match p {
                0 => experiment.clone(),
                p => CanaryStep::SetWeight(percent(p)),
            })
            .collect();
        CanarySpec {
            dynamic_stable_scale: true,
            ..self::steps(steps)
        }
    };
    assert_eq!(
        canary_cost(&dynamic(vec![20, 40, 60, 80, 100]), 10)
            .unwrap()
            .peak,
        12
    );
    let with_experiment = canary_cost(&dynamic(vec![20, 40, 0, 60, 80, 100]), 10).unwrap();
    assert_eq!((with_experiment.peak, with_experiment.baseline), (14, 4));
    // By instance count: desired + max_surge (three), and the baseline.
    let basic = CanarySpec {
        traffic_routing: false,
        ..spec
    };
    assert_eq!(canary_cost(&basic, 10).unwrap().peak, 10 + 3 + 2);
}

#[test]
fn settings_hold_until_a_later_step_changes_them() {
    let route = MatchCondition::HeaderEquals {
        name: "x-canary".to_owned(),
        value: "1".to_owned(),
    };
    let plan = CanaryPlan::Steps(vec![
        CanaryStep::SetRoute(Some(route.clone())),
        CanaryStep::SetCanaryScale(CanaryScale::Replicas(2)),
        CanaryStep::SetWeight(percent(10)),
        CanaryStep::SetCanaryScale(CanaryScale::MatchTrafficWeight),
        CanaryStep::SetRoute(None),
    ]);
    let at2 = CanarySetting::at(&plan, 2);
    assert_eq!(at2.route, Some(route));
    assert_eq!(at2.scale, Some(CanaryScale::Replicas(2)));
    assert_eq!(at2.weight, percent(10));
    let at4 = CanarySetting::at(&plan, 4);
    assert_eq!((at4.route, at4.scale), (None, None));
}

#[test]
fn presets_expand_into_codedeploy_steps() {
    let linear = CanaryPlan::Linear {
        weight: percent(30),
        every: Duration::from_mins(1),
    };
    let weights: Vec<Weight> = linear
        .steps()
        .filter_map(|s| match s.as_ref() {
            CanaryStep::SetWeight(w) => Some(*w),
            _ => None,
        })
        .collect();
    assert_eq!(weights, vec![percent(30), percent(60), percent(90)]);
    assert_eq!(linear.len(), 6);
    assert!(CanaryPlan::AllAtOnce.is_empty());
    let canary = CanaryPlan::Canary {
        weight: percent(10),
        after: Duration::from_mins(5),
    };
    assert_eq!(
        canary.steps().map(|s| s.into_owned()).collect::<Vec<_>>(),
        vec![
            CanaryStep::SetWeight(percent(10)),
            CanaryStep::Pause {
                duration: Some(Duration::from_mins(5))
            }
        ]
    );
}

/// Steps read by `CanaryPlan::step` while `f` runs.
fn steps_read<T>(f: impl FnOnce() -> T) -> usize {
    use crate::spec::STEPS_READ;
    STEPS_READ.with(|read| read.set(0));
    let _ = f();
    STEPS_READ.with(std::cell::Cell::get)
}

/// Issue 19, item 7: the settings in force at each step were replayed from step 0 for
/// every step (and every experiment), so a plan of `MAX_CANARY_STEPS` steps was read
/// half a million times over to be validated. Validation and the cost now fold the
/// settings once: a few reads per step.
#[test]
fn validation_and_the_cost_read_each_step_a_few_times_not_once_per_step() {
    let route = |step: usize| MatchCondition::header_equals("x-canary", step.to_string());
    let mut plan = vec![CanaryStep::SetWeight(percent(10))];
    for step in 1..MAX_CANARY_STEPS {
        plan.push(if step % 2 == 1 {
            CanaryStep::SetRoute(Some(route(step)))
        } else {
            CanaryStep::Experiment {
                duration: Some(Duration::from_mins(1)),
                analysis: None,
                on_failure: OnFailure::Abort,
            }
        });
    }
    let spec = steps(plan);
    let validation = steps_read(|| spec.validate(10, &Default::default()).unwrap());
    assert!(
        validation <= 6 * MAX_CANARY_STEPS,
        "validation read {validation} steps"
    );
    let cost = steps_read(|| canary_cost(&spec, 10).unwrap());
    assert!(cost <= 3 * MAX_CANARY_STEPS, "the cost read {cost} steps");
}

mod settings_properties {
    use super::*;
    use proptest::prelude::*;

    fn weight() -> impl Strategy<Value = Weight> {
        (0u64..=10_000).prop_map(|bp| Weight::from_basis_points(bp).unwrap())
    }

    fn step() -> impl Strategy<Value = CanaryStep> {
        let scale = prop_oneof![
            (0u32..5).prop_map(CanaryScale::Replicas),
            weight().prop_map(CanaryScale::Weight),
            Just(CanaryScale::MatchTrafficWeight),
        ];
        let route = proptest::option::of(0u8..4)
            .prop_map(|r| r.map(|r| MatchCondition::header_equals("x-canary", r.to_string())));
        prop_oneof![
            weight().prop_map(CanaryStep::SetWeight),
            scale.prop_map(CanaryStep::SetCanaryScale),
            route.prop_map(CanaryStep::SetRoute),
            weight().prop_map(CanaryStep::SetMirror),
            Just(CanaryStep::Pause { duration: None }),
        ]
    }

    /// The reference: the settings at `index`, replayed from the plan's first step.
    fn replayed(plan: &CanaryPlan, index: usize) -> CanarySetting {
        let mut setting = CanarySetting::default();
        for step in plan.steps().take(index + 1) {
            match step.into_owned() {
                CanaryStep::SetWeight(weight) => setting.weight = weight,
                CanaryStep::SetCanaryScale(CanaryScale::MatchTrafficWeight) => setting.scale = None,
                CanaryStep::SetCanaryScale(scale) => setting.scale = Some(scale),
                CanaryStep::SetRoute(route) => setting.route = route,
                CanaryStep::SetMirror(share) => setting.mirror = share,
                _ => {}
            }
        }
        setting
    }

    /// Both the settings carried step to step and the planner's lookup at one step.
    fn agree_with_a_replay(plan: &CanaryPlan) -> Result<(), TestCaseError> {
        let mut carried = CanarySetting::default();
        for (index, step) in plan.steps().enumerate() {
            carried.apply(&step);
            let reference = replayed(plan, index);
            prop_assert_eq!(&carried, &reference, "carried, step {}", index);
            prop_assert_eq!(
                CanarySetting::at(plan, index),
                reference,
                "looked up, step {}",
                index
            );
        }
        // Past the last step (the promotion's index), the settings of the last.
        prop_assert_eq!(CanarySetting::at(plan, plan.len()), carried);
        Ok(())
    }

    proptest! {
        #[test]
        fn settings_carried_and_looked_up_are_the_replayed_ones(
            steps in proptest::collection::vec(step(), 0..40)
        ) {
            agree_with_a_replay(&CanaryPlan::Steps(steps))?;
        }

        #[test]
        fn preset_settings_are_the_replayed_ones(bp in 200u64..10_000, linear: bool) {
            let weight = Weight::from_basis_points(bp).unwrap();
            let plan = if linear {
                CanaryPlan::Linear { weight, every: Duration::from_mins(1) }
            } else {
                CanaryPlan::Canary { weight, after: Duration::from_mins(1) }
            };
            agree_with_a_replay(&plan)?;
        }
    }
}
