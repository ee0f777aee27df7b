//! Blue-green rollouts as scripts. Every call goes through the one test world
//! (`tests/world`), which checks every invariant after each step.

mod world;

use cutover::analysis::{Condition, Measurement, MetricCheck, MetricSpec};
use cutover::spec::{Checks, HookSpec, Promotion};
use cutover::status::Waiting;
use cutover::strategy::StepKind;
use cutover::traffic::MatchCondition;
use cutover::{
    AbortReason, Adoption, CommandError, Duration, EventKind, Instance, PauseReason, Phase,
    Rollout, RolloutSpec, StrategySpec, Timestamp, Weight,
};
use world::{World, blue_green, fleet, old};

fn hooks(names: &[&str]) -> Checks {
    Checks {
        hooks: names
            .iter()
            .map(|n| HookSpec::new(*n, Duration::from_mins(5)))
            .collect(),
        analysis: None,
    }
}

fn names(prefix: &str, range: std::ops::RangeInclusive<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}-{i}")).collect()
}

/// Generations in which all traffic moved between blue and green at once, and none
/// in which it was split.
fn assert_switched_once(world: &World, blue: &str, green: &str) {
    let blue = world.weights(blue);
    let green = world.weights(green);
    for (b, g) in blue.iter().zip(&green) {
        assert!(
            (*b == 10_000 && *g == 0) || (*b == 0 && *g == 10_000) || (*b == 0 && *g == 0),
            "traffic split between blue and green: blue {blue:?} green {green:?}"
        );
    }
    let flips = blue.windows(2).filter(|w| w[0] != w[1]).count();
    assert_eq!(flips, 1, "one switch: blue {blue:?} green {green:?}");
}

fn bring_up_all(world: &mut World, instances: &[String]) {
    for name in instances {
        world.bring_up(name);
    }
}

#[test]
fn happy_path_with_auto_promotion_switches_in_one_update_and_retires_blue_after_its_delay() {
    let mut world = World::new(blue_green(3, |_| {}), fleet("v1", 3));
    world.deploy("v2").unwrap();
    let step = world.take();
    // Green at full size beside blue: twice the instances, nothing removed.
    assert_eq!(step.provision, names("v2", 1..=3));
    assert!(step.removed.is_empty() && step.drain.is_empty());
    bring_up_all(&mut world, &names("v2", 1..=2));
    assert_eq!(world.rollout.traffic().weight(&"v1".into()), Weight::FULL);
    assert_eq!(
        world.rollout.status().step,
        Some((0, 5)),
        "green's preview is all of it"
    );
    world.bring_up("v2-3");
    // Green complete: the switch is published at once, blue kept in the table at 0.
    assert_eq!(world.rollout.traffic().weight(&"v2".into()), Weight::FULL);
    assert_eq!(world.rollout.traffic().weight(&"v1".into()), Weight::ZERO);
    assert_eq!(world.table_count("v1"), 3, "blue stays warm in the table");
    world.ack_traffic();
    assert_eq!(world.phase(), Phase::Completed);
    assert_eq!(world.rollout.standby().map(|r| r.as_str()), Some("v1"));
    assert!(world.saw(|e| matches!(e, EventKind::StandbyKept { until: Some(_), .. })));
    // Nothing happens to blue until its scale-down delay is over.
    world.advance(29_000);
    assert!(world.take().drain.is_empty());
    world.advance(1_001);
    world.ack_traffic();
    assert_eq!(world.take().drain, old("v1", 0..3));
    world.drive(10);
    assert_eq!(world.rollout.standby(), None);
    assert_eq!(world.revisions(), ["v2"]);
    assert_switched_once(&world, "v1", "v2");
    assert!(world.watermarks.peak_live <= 6);
}

#[test]
fn manual_promotion_pauses_until_promoted() {
    let mut world = World::new(
        blue_green(2, |bg| bg.promotion = Promotion::Manual),
        fleet("v1", 2),
    );
    world.deploy("v2").unwrap();
    world.provision_all();
    world.health_all();
    world.drive(5);
    assert_eq!(
        world.phase(),
        Phase::Paused {
            reason: PauseReason::Step { until: None }
        }
    );
    let status = world.rollout.status();
    assert!(
        status.waiting_for.contains(&Waiting::Promotion),
        "{status:?}"
    );
    assert_eq!(world.rollout.traffic().weight(&"v1".into()), Weight::FULL);
    // A step's pause is finished by promote, not by resume.
    assert!(matches!(
        world.resume(),
        Err(CommandError::InvalidPhase { .. })
    ));
    world.promote().unwrap();
    assert_eq!(world.rollout.traffic().weight(&"v2".into()), Weight::FULL);
    world.drive(10);
    assert_eq!(world.phase(), Phase::Completed);
    assert_switched_once(&world, "v1", "v2");
}

#[test]
fn auto_promotion_delay_waits_then_switches() {
    let mut world = World::new(
        blue_green(2, |bg| {
            bg.promotion = Promotion::Auto(Duration::from_secs(60))
        }),
        fleet("v1", 2),
    );
    world.deploy("v2").unwrap();
    bring_up_all(&mut world, &names("v2", 1..=2));
    world.ack_traffic();
    let Phase::Paused {
        reason: PauseReason::Step { until: Some(at) },
    } = world.phase()
    else {
        panic!("paused until the delay: {:?}", world.phase());
    };
    assert_eq!(at, Timestamp::from_millis(60_000));
    assert_eq!(world.rollout.poll_timeout(), Some(at));
    world.advance(59_999);
    assert_eq!(world.rollout.traffic().weight(&"v1".into()), Weight::FULL);
    world.advance(1);
    assert_eq!(world.rollout.traffic().weight(&"v2".into()), Weight::FULL);
}

#[test]
fn a_failing_pre_promotion_hook_never_switches_and_cleans_green_up() {
    let route = MatchCondition::header_equals("x-preview", "1");
    let mut world = World::new(
        blue_green(2, |bg| {
            bg.preview_route = Some(route.clone());
            bg.pre_promotion = hooks(&["smoke", "e2e"]);
        }),
        fleet("v1", 2),
    );
    world.deploy("v2").unwrap();
    bring_up_all(&mut world, &names("v2", 1..=2));
    world.ack_traffic();
    // The preview route reaches green; users' weights stay all on blue.
    let table = world.rollout.traffic().clone();
    assert_eq!(table.routes().len(), 1);
    assert_eq!(table.routes()[0].revision.as_str(), "v2");
    assert_eq!(table.weight(&"v1".into()), Weight::FULL);
    assert_eq!(world.take().hooks, ["smoke", "e2e"]);
    let status = world.rollout.status();
    assert!(status.waiting_for.contains(&Waiting::Checks), "{status:?}");
    world.hook("smoke", true);
    world.hook("e2e", false);
    assert_eq!(
        world.phase(),
        Phase::Aborted {
            reason: AbortReason::ChecksFailed {
                step: StepKind::PrePromotion
            }
        }
    );
    // The preview route is gone with the abort; green leaves after the abort delay.
    assert!(world.rollout.traffic().routes().is_empty());
    world.ack_traffic();
    world.advance(30_000);
    world.drive(10);
    assert_eq!(world.revisions(), ["v1"]);
    // No table ever gave green any weight.
    assert!(world.weights("v2").iter().all(|w| *w == 0));
}

#[test]
fn a_hook_that_times_out_fails_the_checks() {
    let mut world = World::new(
        blue_green(1, |bg| {
            bg.pre_promotion = Checks {
                hooks: vec![HookSpec::new("smoke", Duration::from_secs(10))],
                analysis: None,
            };
        }),
        fleet("v1", 1),
    );
    world.deploy("v2").unwrap();
    world.bring_up("v2-1");
    world.ack_traffic();
    assert_eq!(world.take().hooks, ["smoke"]);
    world.advance(10_000);
    assert!(world.saw(|e| matches!(
        e,
        EventKind::HookFinished { passed: false, reason, .. } if reason == "timed out"
    )));
    assert!(matches!(world.phase(), Phase::Aborted { .. }));
    // A late answer is ignored.
    world.hook("smoke", true);
    assert!(world.saw(|e| matches!(e, EventKind::InputIgnored { .. })));
    assert!(matches!(world.phase(), Phase::Aborted { .. }));
}

#[test]
fn a_failing_post_promotion_check_switches_back_to_blue_in_one_update() {
    let mut world = World::new(
        blue_green(3, |bg| bg.post_promotion = hooks(&["e2e"])),
        fleet("v1", 3),
    );
    world.deploy("v2").unwrap();
    world.provision_all();
    world.health_all();
    world.ack_traffic();
    assert_eq!(world.rollout.traffic().weight(&"v2".into()), Weight::FULL);
    assert_eq!(world.take().hooks, ["e2e"]);
    let before = world.published();
    world.hook("e2e", false);
    // One update puts every request back on blue, which never left rotation.
    assert_eq!(world.published(), before + 1);
    assert_eq!(world.rollout.traffic().weight(&"v1".into()), Weight::FULL);
    assert_eq!(world.table_count("v1"), 3);
    assert!(
        world.take().provision.is_empty(),
        "blue was warm: nothing to build"
    );
    assert!(world.history.iter().all(|a| !matches!(
        a,
        cutover::Action::Drain { instance, .. } if instance.as_str().starts_with("v1")
    )));
}

#[test]
fn abort_before_and_after_the_switch_is_one_update_back_to_blue() {
    for switched in [false, true] {
        // Post-promotion checks keep the rollout in flight after the switch.
        let mut world = World::new(
            blue_green(2, |bg| {
                bg.promotion = Promotion::Manual;
                bg.post_promotion = hooks(&["e2e"]);
            }),
            fleet("v1", 2),
        );
        world.deploy("v2").unwrap();
        bring_up_all(&mut world, &names("v2", 1..=2));
        world.ack_traffic();
        if switched {
            world.promote().unwrap();
            world.ack_traffic();
            assert_eq!(world.rollout.traffic().weight(&"v2".into()), Weight::FULL);
        }
        let before = world.published();
        world.abort().unwrap();
        assert_eq!(world.rollout.traffic().weight(&"v1".into()), Weight::FULL);
        assert!(world.published() <= before + 1);
        assert!(world.rollout.status().revert.unwrap().one_update);
        // Green is kept for the abort delay (30s), then removed.
        world.ack_traffic();
        world.advance(29_999);
        assert_eq!(world.table_count("v2"), 2, "green still warm for debugging");
        world.advance(1);
        world.drive(10);
        assert_eq!(world.revisions(), ["v1"], "switched: {switched}");
    }
}

#[test]
fn an_abort_can_keep_green_for_debugging() {
    let mut world = World::new(
        blue_green(2, |bg| bg.abort_scale_down_delay = None),
        fleet("v1", 2),
    );
    world.deploy("v2").unwrap();
    world.bring_up("v2-1");
    world.abort().unwrap();
    world.provision_all();
    world.health_all();
    world.drive(10);
    world.advance(86_400_000);
    assert_eq!(world.revisions(), ["v1", "v2"]);
    assert_eq!(world.rollout.traffic().weight(&"v1".into()), Weight::FULL);
    // The next deploy clears it out.
    world.deploy("v3").unwrap();
    world.round();
    world.drive(20);
    assert_eq!(world.phase(), Phase::Completed);
    assert!(!world.revisions().contains(&"v2".to_owned()));
}

#[test]
fn a_green_instance_dying_before_the_switch_is_replaced_and_the_switch_waits() {
    let mut world = World::new(blue_green(2, |_| {}), fleet("v1", 2));
    world.deploy("v2").unwrap();
    world.bring_up("v2-1");
    world.provision("v2-2");
    world.lose("v2-1", "host died");
    assert_eq!(world.take().provision, ["v2-1", "v2-2", "v2-3"]);
    world.health("v2-2", true);
    assert_eq!(world.rollout.traffic().weight(&"v1".into()), Weight::FULL);
    world.bring_up("v2-3");
    assert_eq!(world.rollout.traffic().weight(&"v2".into()), Weight::FULL);
    world.drive(10);
    assert_switched_once(&world, "v1", "v2");
}

#[test]
fn rollback_while_blue_is_warm_is_one_update_without_provisioning() {
    let mut world = World::new(blue_green(3, |_| {}), fleet("v1", 3));
    world.deploy("v2").unwrap();
    world.provision_all();
    world.health_all();
    world.ack_traffic();
    assert_eq!(world.phase(), Phase::Completed);
    world.take();
    let before = world.published();
    world.rollback().unwrap();
    let step = world.take();
    assert!(step.provision.is_empty(), "blue is warm: {step:?}");
    assert_eq!(world.published(), before + 1);
    assert_eq!(world.rollout.traffic().weight(&"v1".into()), Weight::FULL);
    world.ack_traffic();
    assert_eq!(world.phase(), Phase::Completed);
    assert_eq!(world.rollout.stable().map(|r| r.as_str()), Some("v1"));
    assert_eq!(world.rollout.standby().map(|r| r.as_str()), Some("v2"));
    assert!(world.rollout.status().is_rollback);
}

#[test]
fn a_kept_standby_is_reused_by_a_deploy_of_its_revision() {
    let mut world = World::new(blue_green(2, |bg| bg.keep_standby = true), fleet("v1", 2));
    world.deploy("v2").unwrap();
    world.provision_all();
    world.health_all();
    world.drive(10);
    world.advance(3_600_000);
    assert_eq!(world.rollout.standby().map(|r| r.as_str()), Some("v1"));
    assert_eq!(world.table_count("v1"), 2, "kept warm for good");
    world.take();
    world.deploy("v1").unwrap();
    world.drive(10);
    assert!(world.take().provision.is_empty(), "the standby was reused");
    assert_eq!(world.rollout.stable().map(|r| r.as_str()), Some("v1"));
}

#[test]
fn a_new_revision_during_preview_discards_the_old_green() {
    let mut world = World::new(
        blue_green(2, |bg| bg.promotion = Promotion::Manual),
        fleet("v1", 2),
    );
    world.deploy("v2").unwrap();
    bring_up_all(&mut world, &names("v2", 1..=2));
    world.deploy("v3").unwrap();
    assert!(world.saw(|e| matches!(
        e,
        EventKind::RolloutStarted { supersedes: Some(r), .. } if r.as_str() == "v2"
    )));
    world.round();
    world.drive(10);
    assert_eq!(
        world.phase(),
        Phase::Paused {
            reason: PauseReason::Step { until: None }
        },
        "a step's pause does not carry over to the new revision as an operator's"
    );
    world.promote().unwrap();
    world.drive(10);
    assert_eq!(
        world.phase(),
        Phase::Completed,
        "{:#?}",
        world.rollout.status()
    );
    assert_eq!(world.rollout.stable().map(|r| r.as_str()), Some("v3"));
    assert!(!world.revisions().contains(&"v2".to_owned()));
    assert!(world.weights("v2").iter().all(|w| *w == 0));
}

#[test]
fn max_unavailable_trades_blue_instances_for_a_lower_peak() {
    let spec = blue_green(4, |bg| {
        bg.max_unavailable = cutover::spec::Quantity::Count(1)
    });
    let cost = match &spec.strategy {
        StrategySpec::BlueGreen(bg) => cutover::strategy::blue_green_cost(bg, 4).unwrap(),
        _ => unreachable!(),
    };
    assert_eq!((cost.peak, cost.min_available), (7, 3));
    let mut world = World::new(spec, fleet("v1", 4));
    world.deploy("v2").unwrap();
    let step = world.take();
    assert_eq!(step.provision.len(), 3, "room for three green at first");
    assert_eq!(step.removed.len(), 1, "one blue instance given up");
    world.round();
    world.drive(20);
    assert_eq!(world.phase(), Phase::Completed);
    assert!(world.watermarks.peak_live <= 7);
    assert!(world.watermarks.low_available >= 3);
}

#[test]
fn pre_promotion_analysis_gates_the_switch() {
    for passes in [true, false] {
        let mut spec = blue_green(1, |bg| {
            bg.pre_promotion = Checks {
                hooks: vec![],
                analysis: Some("errors".into()),
            };
        });
        let check = MetricCheck::Threshold {
            success: Some(Condition::Below(0.05)),
            failure: None,
        };
        spec.analyses
            .insert("errors".into(), vec![MetricSpec::new("error-rate", check)]);
        let mut world = World::new(spec, fleet("v1", 1));
        world.deploy("v2").unwrap();
        world.bring_up("v2-1");
        world.ack_traffic();
        let value = if passes { 0.01 } else { 0.2 };
        world.measure("error-rate", Measurement::Value(value));
        if passes {
            assert_eq!(world.rollout.traffic().weight(&"v2".into()), Weight::FULL);
        } else {
            assert!(matches!(world.phase(), Phase::Aborted { .. }));
            assert!(world.weights("v2").iter().all(|w| *w == 0));
        }
    }
}

#[test]
fn adopting_a_fleet_with_blue_and_a_standby_keeps_the_standby_for_rollback() {
    let spec = blue_green(2, |bg| bg.keep_standby = true);
    let mut observed: Vec<Instance> = fleet("v2", 2);
    observed.extend(fleet("v1", 2));
    let adoption = Adoption {
        stable: Some("v2".into()),
        standby: Some("v1".into()),
        ..Adoption::default()
    };
    let rollout = Rollout::adopt(Timestamp::ZERO, spec, observed, adoption).unwrap();
    assert_eq!(rollout.standby().map(|r| r.as_str()), Some("v1"));
    assert_eq!(rollout.traffic().weight(&"v2".into()), Weight::FULL);
    let mut rollout = rollout;
    while rollout.poll_action().is_some() {}
    rollout.rollback(Timestamp::ZERO).unwrap();
    let provisions = std::iter::from_fn(|| rollout.poll_action())
        .filter(|a| matches!(a, cutover::Action::Provision { .. }))
        .count();
    assert_eq!(provisions, 0, "the standby serves the rollback");
    assert_eq!(rollout.traffic().weight(&"v1".into()), Weight::FULL);
}

#[test]
fn verbs_answer_in_every_blue_green_step() {
    let spec = blue_green(2, |bg| {
        bg.pre_promotion = hooks(&["smoke"]);
        bg.promotion = Promotion::Manual;
    });
    let mut world = World::new(spec, fleet("v1", 2));
    assert!(matches!(
        world.promote(),
        Err(CommandError::InvalidPhase { .. })
    ));
    world.deploy("v2").unwrap();
    // Preview: green not ready, promote cannot skip capacity.
    assert!(matches!(
        world.promote(),
        Err(CommandError::NothingToPromote { .. })
    ));
    bring_up_all(&mut world, &names("v2", 1..=2));
    world.ack_traffic();
    // Checks running: promote skips them.
    world.promote().unwrap();
    assert!(world.saw(|e| matches!(e, EventKind::ChecksCompleted { passed: true, .. })));
    // Waiting for promotion: pause, then resume back into the step's pause.
    world.pause().unwrap();
    assert_eq!(
        world.phase(),
        Phase::Paused {
            reason: PauseReason::Operator
        }
    );
    world.resume().unwrap();
    assert_eq!(
        world.phase(),
        Phase::Paused {
            reason: PauseReason::Step { until: None }
        }
    );
    assert!(matches!(
        world.retry(),
        Err(CommandError::InvalidPhase { .. })
    ));
    world.promote_full().unwrap();
    world.drive(10);
    assert_eq!(world.phase(), Phase::Completed);
    assert!(matches!(
        world.abort(),
        Err(CommandError::InvalidPhase { .. })
    ));
    world.rollback().unwrap();
    world.drive(10);
    assert_eq!(world.rollout.stable().map(|r| r.as_str()), Some("v1"));
}

#[test]
fn post_promotion_checks_run_once_while_completion_waits_for_green() {
    // A green instance dies after the switch; the checks pass while its replacement is
    // built: completion waits for it, and the checks are not asked again meanwhile.
    let spec = blue_green(2, |bg| bg.post_promotion = hooks(&["e2e"]));
    let mut world = World::new(spec, fleet("v1", 2));
    world.deploy("v2").unwrap();
    bring_up_all(&mut world, &names("v2", 1..=2));
    world.ack_traffic();
    assert_eq!(world.rollout.traffic().weight(&"v2".into()), Weight::FULL);
    assert_eq!(world.take().hooks, ["e2e"]);
    world.lose("v2-1", "host died");
    world.hook("e2e", true);
    let step = world.take();
    assert!(step.hooks.is_empty(), "checks asked again: {step:?}");
    assert_eq!(step.provision, ["v2-3"]);
    assert_ne!(world.phase(), Phase::Completed, "green is short");
    world.bring_up("v2-3");
    world.drive(10);
    assert!(world.take().hooks.is_empty(), "checks asked again");
    assert_eq!(world.phase(), Phase::Completed);
}

#[test]
fn a_restored_rollout_does_not_report_again_what_the_envelope_held_back() {
    // Blue may all go (a recreate): green waits for blue's instances to be gone, and
    // the envelope says so once. A restored copy must not say it again.
    let mut spec = blue_green(2, |bg| {
        bg.max_unavailable = cutover::spec::Quantity::Percent(100)
    });
    spec.allow_downtime = true;
    let mut world = World::new(spec, fleet("v1", 2));
    world.deploy("v2").unwrap();
    assert!(world.saw(|e| matches!(e, EventKind::EnvelopeHeldBack { .. })));
    let mut original = world.rollout.clone();
    let mut restored = world::round_trip(&original);
    assert_eq!(restored, original);
    for rollout in [&mut original, &mut restored] {
        rollout.handle_timeout(Timestamp::from_millis(5));
    }
    let events = |r: &mut Rollout| std::iter::from_fn(|| r.poll_event()).collect::<Vec<_>>();
    assert_eq!(events(&mut restored), events(&mut original));
    assert_eq!(restored, original);
}

#[test]
fn the_next_deploy_redeploys_the_warm_standby_instead_of_provisioning() {
    let mut world = World::new(blue_green(3, |bg| bg.keep_standby = true), fleet("v1", 3));
    world.deploy("v2").unwrap();
    world.provision_all();
    world.health_all();
    world.drive(10);
    assert_eq!(world.rollout.standby().map(|r| r.as_str()), Some("v1"));
    world.take();
    // v3 reuses v1's warm instances: out of rotation, drained, redeployed in place.
    world.deploy("v3").unwrap();
    let step = world.take();
    assert!(
        step.provision.is_empty(),
        "nothing new to provision: {step:?}"
    );
    assert_eq!(step.removed, old("v1", 0..3));
    assert!(world.saw(|e| matches!(e, EventKind::StandbyReused { .. })));
    world.ack_traffic();
    assert_eq!(world.take().drain, old("v1", 0..3));
    world.drain_all();
    let step = world.take();
    assert_eq!(step.redeploy, old("v1", 0..3));
    assert!(step.terminate.is_empty() && step.provision.is_empty());
    for name in old("v1", 0..3) {
        world.bring_up(&name);
    }
    world.drive(10);
    assert_eq!(world.phase(), Phase::Completed);
    assert_eq!(world.rollout.stable().map(|r| r.as_str()), Some("v3"));
    assert_eq!(world.rollout.standby().map(|r| r.as_str()), Some("v2"));
    // v2 served throughout; no instance was provisioned for v3.
    assert!(world.history.iter().all(|a| !matches!(
        a,
        cutover::Action::Provision { revision, .. } if revision.as_str() == "v3"
    )));
    assert_eq!(world.rollout.fleet().counts(&"v3".into()).available, 3);
    assert!(world.watermarks.peak_live <= 6);
}

/// Found by the random world: a deploy over a fleet of two revisions (v0 inferred
/// stable by name), blue lost on the way. After the switch blue is not rebuilt: it
/// would only become the standby (the call that completed the rollout used to ask for
/// a v0 instance).
#[test]
fn a_fleet_lost_mid_deploy_provisions_only_the_rollouts_revisions() {
    use world::{Index, Move};
    let spec = blue_green(1, |bg| {
        bg.scale_down_delay = Duration::ZERO;
        bg.abort_scale_down_delay = Some(Duration::ZERO);
    });
    let spec = RolloutSpec {
        progress_deadline: Some(Duration::from_millis(1)),
        drain_timeout: Duration::ZERO,
        provision_retry: cutover::spec::ProvisionRetry {
            max_failures: 2,
            backoff_initial: Duration::ZERO,
            backoff_max: Duration::ZERO,
        },
        ..spec
    };
    let mut observed = fleet("v1", 1);
    observed.extend(fleet("v0", 1));
    let mut world = World::new(spec, observed);
    world.deploy("v2").unwrap();
    for mv in [
        Move::Lose(Index(0)),
        Move::AckLatest,
        Move::Lose(Index(7)),
        Move::Health(Index(0), true),
        Move::ProvisionOk(Index(20)),
        Move::Advance(600_001),
        Move::Advance(0),
    ] {
        world.step(&mv);
    }
    world.settle_and_check_rest(200);
}

/// Found by the random world: an adopted fleet with a second revision (v3) beside
/// stable v1. Each v1 instance that comes up lets v3 give up some weight; the v3
/// instance that weight no longer needs goes in the same call (a second plan, amended
/// into the same update), not on the next unrelated input.
#[test]
fn a_removal_freed_by_this_calls_weights_happens_in_this_call() {
    use world::{Index, Move};
    let mut observed = fleet("v3", 2);
    observed.extend(fleet("v1", 2));
    let mut world = World::new(blue_green(4, |_| {}), observed);
    world.ack_traffic();
    for _ in 0..2 {
        let name = world.provisioning()[0].clone();
        world.bring_up(&name);
        // A stale acknowledgement changes nothing: the world checks that it acts not.
        world.step(&Move::AckOlder(0));
        world.ack_traffic();
        world.step(&Move::Replay(Index(0)));
    }
    world.drive(10);
    assert_eq!(world.revisions(), ["v1"]);
}

#[test]
fn status_tells_a_person_where_the_rollout_is() {
    let spec = blue_green(2, |bg| {
        bg.promotion = Promotion::Manual;
        bg.pre_promotion = hooks(&["smoke"]);
        bg.preview_route = Some(MatchCondition::header_equals("x-preview", "1"));
    });
    let mut world = World::new(spec, fleet("v1", 2));
    let message = |world: &World| world.rollout.status().message;
    world.deploy("v2").unwrap();
    assert_eq!(
        message(&world),
        "building v2 beside v1: 0/2 available (progressing)"
    );
    world.bring_up("v2-1");
    assert_eq!(
        message(&world),
        "building v2 beside v1: 1/2 available (preview route live) (progressing)"
    );
    world.bring_up("v2-2");
    world.ack_traffic();
    assert_eq!(
        message(&world),
        "checking v2 before the switch: waiting for hooks smoke (progressing)"
    );
    let checks = world.rollout.status().checks.expect("checks running");
    assert_eq!(checks.hooks_waiting, ["smoke"]);
    world.advance(1_000);
    world.hook("smoke", true);
    assert_eq!(
        message(&world),
        "v2 ready and checked; waiting for promotion since t+1000ms (paused (by a step, until promoted))"
    );
    assert_eq!(
        world.rollout.status().step_kind,
        Some((StepKind::Promotion, Timestamp::from_millis(1_000)))
    );
    world.promote().unwrap();
    world.ack_traffic();
    assert_eq!(
        message(&world),
        "v2 rolled out and stable; v1 warm for rollback until t+31000ms"
    );
    let standby = world.rollout.status().standby.expect("blue is the standby");
    assert_eq!(
        (standby.revision.as_str(), standby.warm_until),
        ("v1", Some(Timestamp::from_millis(31_000)))
    );
}
