//! The driver against scripted adapters: every strategy to completion, then each
//! failure the driver must survive, each with the behaviour the adapter traits
//! document — and with the invariants of the test world checked after every call the
//! driver made (`driver_support::checked`).

mod driver_support;
mod world;

use cutover::adapter::Probe;
use cutover::analysis::Measurement;
use cutover::driver::{Call, Step};
use cutover::store::MemoryStore;
use cutover::strategy::StepKind;
use cutover::{AbortReason, EventKind, HaltReason, Input, Phase};
use driver_support::{
    Asked, HookScript, MockWorld, Scenario, Timing, blue_green, canary, drive, every_strategy,
    rolling, start,
};

/// Runs `scenario` in `world` to an outcome, every step checked; returns the outcome
/// and the steps.
fn run(scenario: &Scenario, world: &MockWorld) -> (cutover::driver::Outcome, Vec<Step>) {
    let mut checked = scenario.checked();
    let mut driver = start(scenario, MemoryStore::new(), world.clone()).unwrap();
    let mut steps = Vec::new();
    let outcome = drive(&mut driver, Some(&mut checked), 20_000, |s| {
        steps.push(s.clone());
    })
    .unwrap();
    (outcome, steps)
}

fn inputs(steps: &[Step]) -> impl Iterator<Item = &Input> {
    steps.iter().flat_map(|s| &s.calls).filter_map(|c| match c {
        Call::Input(input) => Some(input),
        _ => None,
    })
}

fn events(steps: &[Step]) -> impl Iterator<Item = &EventKind> {
    steps.iter().flat_map(|s| &s.events).map(|e| &e.kind)
}

fn refused(world: &MockWorld, kind: fn(&Asked) -> bool) -> usize {
    let state = world.state();
    state
        .log
        .iter()
        .filter(|r| kind(&r.what) && !r.accepted)
        .count()
}

/// Every instance the world created once, and the new revision's in the end.
fn assert_clean_end(world: &MockWorld, desired: usize) {
    let state = world.state();
    for (name, times) in &state.created {
        assert_eq!(*times, 1, "{name} was created {times} times");
    }
    drop(state);
    let live = world.live();
    assert_eq!(live.len(), desired, "{live:?}");
    assert!(live.values().all(|r| r.as_str() == "v2"), "{live:?}");
}

#[test]
fn every_strategy_completes_with_every_invariant_checked() {
    for timing in [Timing::INSTANT, Timing::REALISTIC] {
        for scenario in every_strategy() {
            let world = scenario.world(timing);
            let (outcome, _) = run(&scenario, &world);
            assert!(outcome.is_completed(), "{}: {outcome:?}", scenario.name);
            let desired = scenario.spec.desired as usize;
            assert_clean_end(&world, desired);
            // The world's load balancer routes to the new revision only.
            let state = world.state();
            let table = &state.tables[&state.applied];
            assert_eq!(table.instance_count(), desired, "{}", scenario.name);
            assert!(
                table
                    .backends()
                    .iter()
                    .all(|b| b.revision().as_str() == "v2"
                        || b.weight().is_zero() && b.instance_count() == 0)
            );
        }
    }
}

#[test]
fn a_provisioner_that_fails_then_succeeds_is_retried_by_the_rollout() {
    let scenario = rolling();
    let world = scenario.world(Timing::REALISTIC);
    world.state().provision_script.extend([
        Err("quota exceeded".to_owned()),
        Err("quota exceeded".to_owned()),
    ]);
    let (outcome, steps) = run(&scenario, &world);
    assert!(outcome.is_completed(), "{outcome:?}");
    let failed: Vec<&Input> = inputs(&steps)
        .filter(
            |i| matches!(i, Input::ProvisionFailed { reason, .. } if reason == "quota exceeded"),
        )
        .collect();
    assert_eq!(failed.len(), 2, "each refusal is one ProvisionFailed input");
    assert_eq!(
        events(&steps)
            .filter(|e| matches!(e, EventKind::ProvisionBackoff { .. }))
            .count(),
        2,
        "the rollout retries with its backoff"
    );
    // The driver never retried a refused provision itself: every provision request
    // is one the rollout asked for (two refused, four accepted).
    let state = world.state();
    let provisions = state
        .log
        .iter()
        .filter(|r| matches!(r.what, Asked::Provision(..)))
        .count();
    assert_eq!(provisions, 6);
    drop(state);
    assert_clean_end(&world, 4);
}

#[test]
fn a_provisioner_that_keeps_failing_halts_until_an_operator_retries() {
    let scenario = rolling();
    let world = scenario.world(Timing::REALISTIC);
    world
        .state()
        .provision_script
        .extend((0..5).map(|_| Err("no capacity".to_owned())));
    let mut checked = scenario.checked();
    let mut driver = start(&scenario, MemoryStore::new(), world.clone()).unwrap();
    let outcome = drive(&mut driver, Some(&mut checked), 10_000, |_| {}).unwrap();
    assert!(
        matches!(
            &outcome,
            cutover::driver::Outcome::NeedsOperator(Phase::Halted {
                reason: HaltReason::ProvisionFailed { failures: 5, last_error }
            }) if last_error == "no capacity"
        ),
        "{outcome:?}"
    );
    // The operator retries once capacity is back (the script is used up).
    let reply = driver.handle().send(cutover::driver::Command::Retry);
    let outcome = drive(&mut driver, Some(&mut checked), 10_000, |_| {}).unwrap();
    assert!(matches!(reply.try_wait(), Some(Ok(()))));
    assert!(outcome.is_completed(), "{outcome:?}");
    assert_clean_end(&world, 4);
}

#[test]
fn a_late_load_balancer_is_waited_for_and_nothing_is_drained_before_it_applies() {
    for scenario in every_strategy() {
        let timing = Timing {
            apply: cutover::Duration::from_secs(5),
            ..Timing::REALISTIC
        };
        let world = scenario.world(timing);
        // The mock refuses a drain or termination of an instance the table in force
        // routes to, and counts every table applied.
        let (outcome, steps) = run(&scenario, &world);
        assert!(outcome.is_completed(), "{}: {outcome:?}", scenario.name);
        let acked: Vec<u64> = inputs(&steps)
            .filter_map(|i| match i {
                Input::TrafficApplied { generation } => Some(*generation),
                _ => None,
            })
            .collect();
        assert!(acked.windows(2).all(|w| w[0] < w[1]), "{acked:?}");
        assert_eq!(acked.last(), world.state().applied_history.last());
    }
}

#[test]
fn tables_applied_out_of_order_are_fenced_and_acknowledged_once() {
    let scenario = rolling();
    let world = scenario.world(Timing::REALISTIC);
    // The first tables arrive late, the next ones at once: later generations are in
    // force before earlier ones arrive, which are then ignored.
    world.state().apply_delays.extend([
        cutover::Duration::from_secs(8),
        cutover::Duration::from_secs(4),
    ]);
    let (outcome, steps) = run(&scenario, &world);
    assert!(outcome.is_completed(), "{outcome:?}");
    let state = world.state();
    let history = &state.applied_history;
    assert!(history.windows(2).all(|w| w[0] < w[1]), "{history:?}");
    let asked: Vec<u64> = state
        .log
        .iter()
        .filter_map(|r| match r.what {
            Asked::Apply(g) if r.accepted => Some(g),
            _ => None,
        })
        .collect();
    assert!(
        asked.iter().any(|g| !history.contains(g)),
        "a late table must have been fenced: asked {asked:?}, applied {history:?}"
    );
    drop(state);
    let acked: Vec<u64> = inputs(&steps)
        .filter_map(|i| match i {
            Input::TrafficApplied { generation } => Some(*generation),
            _ => None,
        })
        .collect();
    assert!(acked.windows(2).all(|w| w[0] < w[1]), "{acked:?}");
}

#[test]
fn a_load_balancer_that_refuses_is_asked_again() {
    let scenario = rolling();
    let world = scenario.world(Timing::REALISTIC);
    {
        let mut state = world.state();
        let no = || Err("the API is down".to_owned());
        state.apply_script.extend([no(), no(), no()]);
        state.applied_generation_script.extend([no(), no()]);
        state.drain_script.extend([no(), no()]);
        state.terminate_script.extend([no(), no()]);
    }
    let (outcome, _) = run(&scenario, &world);
    assert!(outcome.is_completed(), "{outcome:?}");
    assert_eq!(refused(&world, |a| matches!(a, Asked::Apply(_))), 3);
    assert_eq!(refused(&world, |a| matches!(a, Asked::Drain(_))), 2);
    assert_eq!(refused(&world, |a| matches!(a, Asked::Terminate(_))), 2);
    // Every refused request was asked again until accepted.
    let state = world.state();
    for (i, request) in state.log.iter().enumerate() {
        if !request.accepted {
            let again = state.log[i + 1..].iter().any(|r| {
                r.accepted
                    && match (&request.what, &r.what) {
                        (Asked::Apply(a), Asked::Apply(b)) => b >= a,
                        (a, b) => a == b,
                    }
            });
            assert!(again, "{request:?} was not asked again");
        }
    }
    drop(state);
    assert_clean_end(&world, 4);
}

#[test]
fn health_that_flaps_is_reported_and_the_rollout_completes() {
    let scenario = rolling();
    let world = scenario.world(Timing::REALISTIC);
    let flaps = [
        Probe::Healthy,
        Probe::Unhealthy,
        Probe::Healthy,
        Probe::Unhealthy,
        Probe::Unhealthy,
        Probe::Healthy,
    ];
    world
        .state()
        .probe_script
        .insert("v2-1".into(), flaps.into_iter().map(Ok).collect());
    let (outcome, steps) = run(&scenario, &world);
    assert!(outcome.is_completed(), "{outcome:?}");
    let verdicts: Vec<bool> = inputs(&steps)
        .filter_map(|i| match i {
            Input::Health { instance, healthy } if instance.as_str() == "v2-1" => Some(*healthy),
            _ => None,
        })
        .take(flaps.len())
        .collect();
    assert_eq!(verdicts, [true, false, true, false, false, true]);
    // Two failures in a row are under the threshold of three: it was never failed.
    assert!(!events(&steps).any(
        |e| matches!(e, EventKind::InstanceFailed { instance, .. } if instance.as_str() == "v2-1")
    ));
    assert_clean_end(&world, 4);
}

#[test]
fn an_instance_that_keeps_failing_or_is_lost_is_replaced() {
    let scenario = rolling();
    let world = scenario.world(Timing::REALISTIC);
    world.state().probe_script.insert(
        "v2-1".into(),
        (0..3).map(|_| Ok(Probe::Unhealthy)).collect(),
    );
    let mut checked = scenario.checked();
    let mut driver = start(&scenario, MemoryStore::new(), world.clone()).unwrap();
    let mut steps = Vec::new();
    let mut lost = false;
    let outcome = drive(&mut driver, Some(&mut checked), 20_000, |s| {
        steps.push(s.clone());
        // Once v2-2 serves, its host dies.
        let serving = s.actions.iter().any(|a| matches!(a, cutover::Action::UpdateTraffic { diff, .. }
            if diff.changes.iter().any(|c| matches!(c, cutover::traffic::TableChange::AddInstance { instance, .. } if instance.as_str() == "v2-2"))));
        if serving && !lost {
            world.lose("v2-2");
            lost = true;
        }
    })
    .unwrap();
    assert!(outcome.is_completed(), "{outcome:?}");
    assert!(lost);
    assert!(
        inputs(&steps).any(
            |i| matches!(i, Input::InstanceLost { instance, .. } if instance.as_str() == "v2-2")
        )
    );
    for name in ["v2-1", "v2-2"] {
        assert!(
            events(&steps).any(
                |e| matches!(e, EventKind::InstanceFailed { instance, .. } if instance.as_str() == name)
            ),
            "{name} failed"
        );
    }
    let live = world.live();
    assert!(!live.contains_key("v2-1") && !live.contains_key("v2-2"));
    assert_clean_end(&world, 4);
}

/// Blue-green with its `smoke` hook scripted so; the outcome and the steps.
fn blue_green_with_hook(script: Vec<HookScript>) -> (cutover::driver::Outcome, Vec<Step>) {
    let scenario = blue_green();
    let world = scenario.world(Timing::REALISTIC);
    world
        .state()
        .hook_script
        .insert("smoke".into(), script.into());
    run(&scenario, &world)
}

fn aborted_by_checks(outcome: &cutover::driver::Outcome) -> bool {
    matches!(
        outcome.aborted(),
        Some(AbortReason::ChecksFailed {
            step: StepKind::PrePromotion
        })
    )
}

#[test]
fn a_hook_that_cannot_start_fails_its_checks() {
    let (outcome, steps) = blue_green_with_hook(vec![HookScript::Refuse("no runner".into())]);
    assert!(aborted_by_checks(&outcome), "{outcome:?}");
    assert!(inputs(&steps).any(
        |i| matches!(i, Input::HookResult { passed: false, reason, .. }
        if reason.contains("no runner"))
    ));
}

#[test]
fn a_hook_that_fails_aborts_and_one_that_passes_is_promoted() {
    let failing = HookScript::End {
        passed: false,
        reason: "500 on /health".into(),
    };
    let (outcome, _) = blue_green_with_hook(vec![failing]);
    assert!(aborted_by_checks(&outcome), "{outcome:?}");
    let (outcome, _) = blue_green_with_hook(vec![]);
    assert!(outcome.is_completed(), "{outcome:?}");
}

#[test]
fn a_hook_that_never_answers_fails_at_its_timeout() {
    let (outcome, steps) = blue_green_with_hook(vec![HookScript::Hang]);
    assert!(aborted_by_checks(&outcome), "{outcome:?}");
    // No answer came from the driver: the rollout's own timeout failed it.
    assert!(!inputs(&steps).any(|i| matches!(i, Input::HookResult { .. })));
    assert!(events(&steps).any(|e| matches!(e, EventKind::HookFinished { passed: false, .. })));
}

#[test]
fn a_hook_runner_that_does_not_answer_for_a_while_is_asked_again() {
    let scenario = blue_green();
    let world = scenario.world(Timing::REALISTIC);
    world.state().hook_result_errors = 20;
    let (outcome, steps) = run(&scenario, &world);
    assert!(outcome.is_completed(), "{outcome:?}");
    assert!(inputs(&steps).any(|i| matches!(i, Input::HookResult { passed: true, .. })));
}

#[test]
fn a_metrics_error_is_a_measurement_error_and_is_asked_again() {
    let scenario = canary();
    let world = scenario.world(Timing::REALISTIC);
    world
        .state()
        .measure_script
        .push_back(Err("query timed out".into()));
    let (outcome, steps) = run(&scenario, &world);
    assert!(outcome.is_completed(), "{outcome:?}");
    let measured: Vec<&Measurement> = inputs(&steps)
        .filter_map(|i| match i {
            Input::Measured { measurement, .. } => Some(measurement),
            _ => None,
        })
        .collect();
    assert_eq!(
        measured,
        [
            &Measurement::Error("query timed out".into()),
            &Measurement::Value(0.01)
        ]
    );
}

#[test]
fn metrics_that_keep_failing_or_fail_the_check_abort_the_canary() {
    for script in [
        (0..10).map(|_| Err("down".to_owned())).collect::<Vec<_>>(),
        vec![Ok(Measurement::Value(0.5))],
    ] {
        let scenario = canary();
        let world = scenario.world(Timing::REALISTIC);
        world.state().measure_script.extend(script.clone());
        let (outcome, _) = run(&scenario, &world);
        assert!(
            matches!(outcome.aborted(), Some(AbortReason::ChecksFailed { .. })),
            "{script:?}: {outcome:?}"
        );
        // Back on v1, the canary gone.
        let live = world.live();
        assert!(live.values().all(|r| r.as_str() == "v1"), "{live:?}");
        assert_eq!(live.len(), 4);
    }
}

#[test]
fn a_refused_table_is_asked_again_as_saved_never_as_a_newer_one_not_yet_saved() {
    use cutover::adapter::{Clock, Wakeup};
    let scenario = canary();
    let world = scenario.world(Timing::REALISTIC);
    world.state().apply_script.push_back(Err("busy".to_owned()));
    let mut checked = scenario.checked();
    let mut driver = start(&scenario, MemoryStore::new(), world.clone()).unwrap();
    // Step until the first table is refused.
    while refused(&world, |a| matches!(a, Asked::Apply(_))) == 0 {
        let step = driver.step().unwrap();
        checked.replay(&step, driver.rollout());
        driver.world_mut().sleep_until(step.next, &Wakeup::new());
    }
    // An abort publishes a newer table before the refused one is asked again: the
    // newer one is saved first, then asked for (with the refused one's changes).
    let reply = driver.handle().send(cutover::driver::Command::Abort);
    let outcome = drive(&mut driver, Some(&mut checked), 10_000, |_| {}).unwrap();
    assert!(matches!(reply.try_wait(), Some(Ok(()))));
    assert_eq!(outcome.aborted(), Some(&AbortReason::Operator));
    let live = world.live();
    assert!(live.values().all(|r| r.as_str() == "v1"), "{live:?}");
    assert_eq!(live.len(), 4);
}
