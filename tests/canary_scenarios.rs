//! Canary rollouts as scripts. Every call goes through the one test world
//! (`tests/world`), which checks every invariant (and the canary's own promises: the
//! peak `canary_cost` states, sticky keys that never flap back) after each step.

mod world;

use cutover::analysis::{
    AnalysisStart, BackgroundAnalysis, Condition, Measurement, MetricCheck, MetricSpec, OnFailure,
};
use cutover::spec::{CanaryPlan, CanaryStep, Quantity};
use cutover::status::Waiting;
use cutover::strategy::{CanaryScale, StepKind};
use cutover::traffic::MatchCondition;
use cutover::{AbortReason, CommandError, Duration, EventKind, PauseReason, Phase, Router, Weight};
use world::{World, canary, fleet, with_errors_analysis};

fn percent(p: u64) -> Weight {
    Weight::from_percent(p).unwrap()
}

fn set_weight(p: u64) -> CanaryStep {
    CanaryStep::SetWeight(percent(p))
}

fn pause(ms: Option<u64>) -> CanaryStep {
    CanaryStep::Pause {
        duration: ms.map(Duration::from_millis),
    }
}

/// `weights` with repeats removed: the distinct weights in the order they came.
fn weight_steps(world: &World, revision: &str) -> Vec<u16> {
    let mut steps = world.weights(revision);
    steps.dedup();
    steps
}

/// Instances of `revision` that exist and are not on their way out.
fn live(world: &World, revision: &str) -> usize {
    world.rollout.fleet().counts(&revision.into()).live()
}

#[test]
fn a_routed_canary_follows_its_weights_then_moves_all_traffic_and_scales_stable_away() {
    let steps = vec![
        set_weight(25),
        pause(Some(1_000)),
        set_weight(50),
        pause(None),
    ];
    let mut world = World::new(canary(4, steps, |_| {}), fleet("v1", 4));
    world.deploy("v2").unwrap();
    // One canary instance for 25%; no weight before it can carry it.
    assert_eq!(world.take().provision, ["v2-1"]);
    world.provision("v2-1");
    assert_eq!(world.rollout.traffic().weight(&"v2".into()), Weight::ZERO);
    world.health("v2-1", true);
    assert_eq!(world.rollout.traffic().weight(&"v2".into()), percent(25));
    world.ack_traffic();
    assert_eq!(world.step_kind(), Some(StepKind::Pause));
    assert!(matches!(
        world.phase(),
        Phase::Paused {
            reason: PauseReason::Step { until: Some(_) }
        }
    ));
    world.advance(1_000);
    world.drive(20);
    // 50%, then the untimed pause waits for a person.
    assert_eq!(world.rollout.traffic().weight(&"v2".into()), percent(50));
    assert!(
        world
            .rollout
            .status()
            .waiting_for
            .contains(&Waiting::Promotion)
    );
    assert_eq!(
        live(&world, "v1"),
        4,
        "stable stays full behind a traffic router"
    );
    world.promote().unwrap();
    world.drive(30);
    assert_eq!(world.phase(), Phase::Completed);
    assert_eq!(world.revisions(), ["v2"]);
    assert_eq!(weight_steps(&world, "v2"), [0, 2_500, 5_000, 10_000]);
    // The stable revision left only after its weight did.
    assert!(world.watermarks.peak_live <= world.canary_peak() as usize);
    assert_eq!(world.canary_peak(), 8);
}

#[test]
fn an_instance_count_canary_approximates_its_weight_within_the_surge() {
    let steps = vec![set_weight(50), pause(None)];
    let spec = canary(4, steps, |c| {
        c.traffic_routing = false;
        c.max_surge = Quantity::Count(1);
        c.max_unavailable = Quantity::Count(0);
    });
    let mut world = World::new(spec, fleet("v1", 4));
    world.deploy("v2").unwrap();
    world.drive(30);
    // 50% of 4: two canary, two stable; the surge never passed.
    assert_eq!((live(&world, "v2"), live(&world, "v1")), (2, 2));
    assert_eq!(world.rollout.traffic().weight(&"v2".into()), percent(50));
    assert!(world.watermarks.peak_live <= 5);
    assert!(world.watermarks.low_available >= 4);
    world.promote().unwrap();
    world.drive(30);
    assert_eq!(world.phase(), Phase::Completed);
    assert_eq!(world.revisions(), ["v2"]);
}

#[test]
fn dynamic_stable_scale_shrinks_stable_behind_its_traffic_and_an_abort_grows_it_back_first() {
    let steps = vec![set_weight(50), pause(None)];
    let spec = canary(4, steps, |c| c.dynamic_stable_scale = true);
    let mut world = World::new(spec, fleet("v1", 4));
    assert_eq!(world.canary_peak(), 6);
    world.deploy("v2").unwrap();
    world.drive(30);
    assert_eq!(world.rollout.traffic().weight(&"v2".into()), percent(50));
    assert_eq!((live(&world, "v2"), live(&world, "v1")), (2, 2));
    world.abort().unwrap();
    world.drive(30);
    assert!(matches!(world.phase(), Phase::Aborted { .. }));
    assert_eq!(world.revisions(), ["v1"], "no canary instance is left");
    assert_eq!(live(&world, "v1"), 4);
    assert_eq!(world.rollout.traffic().weight(&"v1".into()), Weight::FULL);
    assert!(world.watermarks.peak_live <= 6);
}

#[test]
fn an_abort_sends_traffic_to_a_full_stable_in_one_update_and_scales_the_canary_away_after_its_delay()
 {
    let steps = vec![set_weight(50), pause(None)];
    let mut world = World::new(canary(4, steps, |_| {}), fleet("v1", 4));
    world.deploy("v2").unwrap();
    world.drive(30);
    let before = world.published();
    world.abort().unwrap();
    assert_eq!(world.published(), before + 1, "one table update");
    assert_eq!(world.rollout.traffic().weight(&"v1".into()), Weight::FULL);
    world.drive(5);
    assert_eq!(live(&world, "v2"), 2, "kept at weight 0 for its delay");
    world.advance(30_000);
    world.drive(20);
    assert_eq!(world.revisions(), ["v1"]);
    assert!(world.rollout.traffic().backend(&"v2".into()).is_none());
    // Retry starts over from the first step.
    world.retry().unwrap();
    assert_eq!(world.rollout.status().step, Some((0, 3)));
}

#[test]
fn analysis_steps_go_on_abort_pause_or_step_back_as_their_policy_says() {
    for policy in [
        None,
        Some(OnFailure::Abort),
        Some(OnFailure::Pause),
        Some(OnFailure::StepBack),
    ] {
        let steps = vec![
            set_weight(25),
            set_weight(50),
            CanaryStep::Analysis {
                analysis: "errors".into(),
                on_failure: policy.unwrap_or_default(),
            },
        ];
        let mut world = World::new(
            with_errors_analysis(canary(4, steps, |_| {})),
            fleet("v1", 4),
        );
        world.deploy("v2").unwrap();
        world.drive(30);
        assert_eq!(world.step_kind(), Some(StepKind::Analysis));
        let value = if policy.is_none() { 0.01 } else { 0.5 };
        world.measure("error-rate", Measurement::Value(value));
        match policy {
            None => {
                world.drive(30);
                assert_eq!(world.phase(), Phase::Completed);
            }
            Some(OnFailure::Abort) => {
                assert!(matches!(
                    world.phase(),
                    Phase::Aborted {
                        reason: AbortReason::ChecksFailed { .. }
                    }
                ));
                assert_eq!(world.rollout.traffic().weight(&"v2".into()), Weight::ZERO);
            }
            Some(OnFailure::Pause) => {
                assert_eq!(
                    world.phase(),
                    Phase::Paused {
                        reason: PauseReason::AnalysisFailed
                    }
                );
                world.promote().unwrap();
                world.drive(30);
                assert_eq!(world.phase(), Phase::Completed);
            }
            Some(_) => {
                // Back to the weight before the current one, paused for a person.
                assert_eq!(
                    world.phase(),
                    Phase::Paused {
                        reason: PauseReason::AnalysisFailed
                    }
                );
                assert_eq!(world.rollout.status().step, Some((0, 4)));
                world.resume().unwrap();
                // One round: the weight steps back (a later drive would go on again).
                world.round();
                assert_eq!(world.rollout.traffic().weight(&"v2".into()), percent(25));
                assert!(weight_steps(&world, "v2").ends_with(&[5_000, 2_500]));
            }
        }
    }
}

#[test]
fn scale_route_and_mirror_steps_reach_the_canary_apart_from_its_weight() {
    let route = MatchCondition::header_equals("x-canary", "1");
    let steps = vec![
        CanaryStep::SetCanaryScale(CanaryScale::Replicas(2)),
        CanaryStep::SetRoute(Some(route.clone())),
        CanaryStep::SetMirror(percent(10)),
        pause(None),
        CanaryStep::SetRoute(None),
        CanaryStep::SetMirror(Weight::ZERO),
        CanaryStep::SetCanaryScale(CanaryScale::MatchTrafficWeight),
        set_weight(25),
        pause(None),
    ];
    let mut world = World::new(canary(4, steps, |_| {}), fleet("v1", 4));
    world.deploy("v2").unwrap();
    world.drive(30);
    // Two canary instances with no weight, reached by the route and the mirror only.
    assert_eq!(live(&world, "v2"), 2);
    let table = world.rollout.traffic();
    assert_eq!(table.weight(&"v2".into()), Weight::ZERO);
    assert_eq!(table.routes().len(), 1);
    assert_eq!(table.routes()[0].condition, route);
    assert_eq!(table.mirror().map(|m| m.revision.as_str()), Some("v2"));
    let router = Router::new(table);
    let mut rng = rand::rng();
    let tester = cutover::router::Request::new().with_headers(&[("x-canary", "1")]);
    assert_eq!(
        router.route(&tester, &mut rng).unwrap().revision().as_str(),
        "v2"
    );
    world.promote().unwrap();
    world.drive(30);
    // Route and mirror gone, the canary back to what 25% needs.
    let table = world.rollout.traffic();
    assert!(table.routes().is_empty() && table.mirror().is_none());
    assert_eq!(table.weight(&"v2".into()), percent(25));
    assert_eq!(live(&world, "v2"), 1);
}

#[test]
fn presets_expand_into_codedeploy_steps() {
    let linear = CanaryPlan::Linear {
        weight: percent(34),
        every: Duration::from_millis(500),
    };
    let mut world = World::new(canary(3, Vec::new(), |c| c.plan = linear), fleet("v1", 3));
    world.deploy("v2").unwrap();
    // 34% and 68% (102% is past all), each watched, then the promotion.
    assert_eq!(world.rollout.status().step, Some((0, 5)));
    for _ in 0..10 {
        world.drive(30);
        if world.advance_to_timeout().is_none() {
            break;
        }
    }
    world.drive(30);
    assert_eq!(world.phase(), Phase::Completed);
    assert_eq!(weight_steps(&world, "v2"), [0, 3_400, 6_800, 10_000]);

    let once = CanaryPlan::Canary {
        weight: percent(10),
        after: Duration::from_mins(5),
    };
    let mut world = World::new(canary(10, Vec::new(), |c| c.plan = once), fleet("v1", 10));
    world.deploy("v2").unwrap();
    for _ in 0..5 {
        world.round();
    }
    assert_eq!(world.rollout.traffic().weight(&"v2".into()), percent(10));
    world.advance(300_000);
    world.drive(30);
    assert_eq!(world.phase(), Phase::Completed);
    assert_eq!(weight_steps(&world, "v2"), [0, 1_000, 10_000]);

    let mut world = World::new(
        canary(2, Vec::new(), |c| c.plan = CanaryPlan::AllAtOnce),
        fleet("v1", 2),
    );
    world.deploy("v2").unwrap();
    assert_eq!(world.rollout.status().step, Some((0, 1)));
    world.drive(30);
    assert_eq!(world.phase(), Phase::Completed);
    assert_eq!(weight_steps(&world, "v2"), [0, 10_000]);
}

#[test]
fn verbs_answer_in_every_canary_step() {
    let steps = vec![set_weight(50), pause(None)];
    let mut world = World::new(canary(2, steps, |_| {}), fleet("v1", 2));
    world.deploy("v2").unwrap();
    // In a weight step waiting for capacity: promote has nothing to finish.
    assert!(matches!(
        world.promote(),
        Err(CommandError::NothingToPromote { .. })
    ));
    world.pause().unwrap();
    world.drive(10);
    assert_eq!(
        world.rollout.traffic().weight(&"v2".into()),
        Weight::ZERO,
        "paused"
    );
    world.resume().unwrap();
    world.drive(30);
    // In the untimed pause: resume is refused (promote finishes it), pause holds it.
    assert!(world.resume().is_err());
    world.pause().unwrap();
    world.resume().unwrap();
    world.drive(10);
    // promote_full skips the rest: straight to all traffic, through the steps between
    // (each reported as started, so the status and the audit log show where it is).
    world.promote_full().unwrap();
    assert_eq!(world.rollout.status().step, Some((2, 3)));
    assert!(world.saw(|e| matches!(
        e,
        EventKind::StepStarted {
            step: StepKind::Promote,
            ..
        }
    )));
    world.drive(30);
    assert_eq!(world.phase(), Phase::Completed);
    assert!(world.abort().is_err() && world.promote().is_err() && world.retry().is_err());
    // Rollback after completion goes straight back, skipping the steps.
    world.rollback().unwrap();
    world.drive(30);
    assert_eq!(world.phase(), Phase::Completed);
    assert_eq!(world.revisions(), ["v1"]);
}

#[test]
fn a_new_revision_mid_canary_returns_the_old_canarys_weight_to_stable_before_it_gets_any() {
    let steps = vec![set_weight(50), pause(None), set_weight(75), pause(None)];
    let mut world = World::new(canary(4, steps, |_| {}), fleet("v1", 4));
    world.deploy("v2").unwrap();
    world.drive(30);
    assert_eq!(world.rollout.traffic().weight(&"v2".into()), percent(50));
    world.deploy("v3").unwrap();
    assert_eq!(
        world.rollout.status().step,
        Some((0, 5)),
        "from the first step"
    );
    world.drive(40);
    assert_eq!(world.rollout.traffic().weight(&"v3".into()), percent(50));
    assert!(world.rollout.traffic().backend(&"v2".into()).is_none());
    // No table gave v3 weight while v2 still had some.
    for table in world.tables.values() {
        let (old, new) = (table.weight(&"v2".into()), table.weight(&"v3".into()));
        assert!(
            old.is_zero() || new.is_zero(),
            "v2 {old:?} and v3 {new:?} both weighted"
        );
    }
    // v3 sits next to stable in the layout.
    let order: Vec<&str> = world
        .rollout
        .traffic()
        .backends()
        .iter()
        .map(|b| b.revision().as_str())
        .collect();
    assert_eq!(order, ["v1", "v3"]);
}

#[test]
fn sticky_users_never_flap_back_to_stable_over_a_whole_plan() {
    let steps = vec![
        set_weight(1),
        set_weight(10),
        set_weight(25),
        set_weight(50),
        set_weight(75),
    ];
    let mut world = World::new(canary(6, steps, |_| {}), fleet("v1", 6));
    world.deploy("v2").unwrap();
    world.drive(60);
    assert_eq!(world.phase(), Phase::Completed);
    let keys: Vec<String> = (0..2_000).map(|k| format!("user-{k}")).collect();
    let mut on_canary = vec![false; keys.len()];
    let mut counts = Vec::new();
    for table in world.tables.values() {
        let router = Router::new(table);
        for (key, was) in keys.iter().zip(on_canary.iter_mut()) {
            let now = router
                .route_sticky(key.as_bytes())
                .is_some_and(|d| d.revision().as_str() == "v2");
            assert!(now || !*was, "{key} moved back to stable");
            *was = now;
        }
        counts.push(on_canary.iter().filter(|c| **c).count());
    }
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    assert_eq!(*counts.last().unwrap(), keys.len());
}

#[test]
fn background_analysis_starts_at_its_step() {
    let steps = vec![set_weight(25), pause(None), set_weight(50), pause(None)];
    let mut spec = canary(4, steps, |_| {});
    let check = MetricCheck::Threshold {
        success: Some(Condition::Below(0.05)),
        failure: None,
    };
    let metric = MetricSpec {
        interval: Some(Duration::from_mins(1)),
        ..MetricSpec::new("error-rate", check)
    };
    let mut background = BackgroundAnalysis::new(vec![metric]);
    background.start = AnalysisStart::AtStep(2);
    spec.background_analysis = Some(background);
    let mut world = World::new(spec, fleet("v1", 4));
    world.deploy("v2").unwrap();
    world.drive(30);
    assert!(!world.saw(|e| matches!(e, EventKind::AnalysisStarted { .. })));
    world.promote().unwrap();
    world.drive(10);
    assert!(world.saw(|e| matches!(e, EventKind::AnalysisStarted { .. })));
}

#[test]
fn a_stable_revision_returning_to_the_table_goes_before_the_canary() {
    // The random world found sticky keys moving from the canary back to stable at an
    // unchanged share after the stable revision left the table and came back. This
    // script pins the rule that prevents it: a revision coming back goes before the
    // canary, which stays last.
    let steps = vec![set_weight(50), pause(None)];
    let mut world = World::new(canary(2, steps, |_| {}), fleet("v1", 2));
    world.deploy("v2").unwrap();
    world.drive(30);
    assert_eq!(world.rollout.traffic().weight(&"v2".into()), percent(50));
    for name in ["v1-old-0", "v1-old-1"] {
        for _ in 0..3 {
            world.health(name, false);
        }
    }
    world.ack_traffic();
    world.drive(30);
    let order: Vec<String> = world
        .rollout
        .traffic()
        .backends()
        .iter()
        .map(|b| b.revision().to_string())
        .collect();
    assert_eq!(order.last().map(String::as_str), Some("v2"), "{order:?}");
    assert_eq!(world.rollout.traffic().weight(&"v2".into()), percent(50));
}

#[test]
fn a_full_promotion_with_dynamic_stable_scale_moves_weight_as_the_canary_grows() {
    // Found by the soak: `promote_full` jumps to all traffic, but the peak left room for
    // only three of four canary instances beside a stable revision still carrying all
    // traffic; holding the weight until all four were available waited forever.
    let steps = vec![set_weight(75), pause(None), set_weight(100)];
    let spec = canary(4, steps, |c| {
        c.dynamic_stable_scale = true;
        c.max_unavailable = Quantity::Count(0);
    });
    let mut world = World::new(spec, fleet("v1", 4));
    assert_eq!(world.canary_peak(), 7);
    world.deploy("v2").unwrap();
    world.promote_full().unwrap();
    world.drive(40);
    assert_eq!(world.phase(), Phase::Completed);
    assert_eq!(world.revisions(), ["v2"]);
    let steps = weight_steps(&world, "v2");
    assert!(steps.windows(2).all(|w| w[0] < w[1]), "{steps:?}");
}

#[test]
fn a_new_canary_over_a_superseded_one_with_dynamic_stable_scale_grows_stable_back_first() {
    // Found by the CI soak: the superseded canary kept 75% because stable, shrunk to
    // one instance, was sized for the new canary's 75% rather than for the superseded
    // weight it had to take back first; the new canary took the room and got no weight.
    let steps = vec![set_weight(75), pause(None)];
    let spec = canary(3, steps, |c| {
        c.dynamic_stable_scale = true;
        c.max_unavailable = Quantity::Count(0);
    });
    let mut world = World::new(spec, fleet("v1", 3));
    world.deploy("v2").unwrap();
    world.drive(30);
    assert_eq!(world.rollout.traffic().weight(&"v2".into()), percent(75));
    assert_eq!(live(&world, "v1"), 1, "stable shrank behind its share");
    world.deploy("v3").unwrap();
    world.drive(40);
    assert_eq!(world.rollout.traffic().weight(&"v3".into()), percent(75));
    assert!(world.rollout.traffic().backend(&"v2".into()).is_none());
    assert!(world.watermarks.peak_live <= world.canary_peak() as usize);
}

#[test]
fn a_canary_scale_too_small_for_the_weight_is_raised_to_carry_it() {
    // Found by the random world: a scale of 0 followed by a weight left the step
    // waiting for a share no instance could carry.
    let steps = vec![
        CanaryStep::SetCanaryScale(CanaryScale::Replicas(0)),
        set_weight(75),
        pause(None),
    ];
    let mut world = World::new(canary(2, steps, |_| {}), fleet("v1", 2));
    world.deploy("v2").unwrap();
    world.drive(30);
    assert_eq!(world.rollout.traffic().weight(&"v2".into()), percent(75));
    assert_eq!(
        live(&world, "v2"),
        2,
        "two instances carry 75% at a floor of two"
    );
}

#[test]
fn a_new_first_deploy_over_an_unfinished_one_takes_its_weight_with_no_stable_to_return_it_to() {
    // Found by the CI soak: with no stable revision, the superseded first deploy's
    // weight had nowhere to go first, and the new canary waited for it forever.
    let spec = canary(4, vec![set_weight(25)], |c| {
        c.dynamic_stable_scale = true;
        c.max_unavailable = Quantity::Count(0);
        c.min_instances = 2;
    });
    let mut world = World::new(spec, Vec::new());
    world.deploy("v2").unwrap();
    world.provision_all();
    world.health_all();
    assert_eq!(world.rollout.traffic().weight(&"v2".into()), Weight::FULL);
    assert_eq!(world.phase(), Phase::Progressing, "not acknowledged yet");
    world.deploy("v3").unwrap();
    world.drive(40);
    assert_eq!(world.phase(), Phase::Completed);
    assert_eq!(world.revisions(), ["v3"]);
}
