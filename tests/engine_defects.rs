//! One scenario per defect found in the first rolling engine (issue 6), each failing on
//! that engine, and the verb × phase table (invariant 9).

mod world;

use cutover::status::Waiting;
use cutover::{
    CommandError, Duration, EventKind, Input, Instance, InstanceState, PauseReason, Phase, Rollout,
    RolloutSpec, Timestamp,
};
use world::{World, fleet, spec};

/// A starting instance that fails its checks is failed after `failure_threshold`, taken
/// out and replaced (the first engine ignored the failures and waited forever).
#[test]
fn a_starting_instance_that_keeps_failing_is_failed_and_replaced() {
    let mut world = World::new(spec(4, "1", "0"), fleet("v1", 4));
    world.deploy("v2").unwrap();
    world.provision("v2-1");
    world.take();
    for _ in 0..3 {
        world.health("v2-1", false);
    }
    assert!(world.saw(
        |e| matches!(e, EventKind::InstanceFailed { instance, .. } if instance.as_str() == "v2-1")
    ));
    let step = world.take();
    assert!(step.drain.contains(&"v2-1".to_string()), "{step:?}");
    // Replaced after the backoff.
    world.drain_all();
    world.terminate_all();
    world.advance(1_000);
    assert_eq!(world.take().provision, ["v2-2"]);
}

/// A starting instance that never answers is failed at its start-up timeout.
#[test]
fn a_starting_instance_past_its_startup_timeout_is_failed() {
    let mut world = World::new(spec(4, "1", "0"), fleet("v1", 4));
    world.deploy("v2").unwrap();
    world.provision("v2-1");
    world.take();
    world.advance(600_000);
    assert!(!world.saw(|e| matches!(e, EventKind::InstanceFailed { .. })));
    world.advance(1);
    assert!(world.saw(
        |e| matches!(e, EventKind::InstanceFailed { instance, .. } if instance.as_str() == "v2-1")
    ));
}

/// The rollout completes only once the load balancer acknowledged the last table.
#[test]
fn completion_waits_for_the_last_acknowledgement() {
    let mut world = World::new(spec(4, "1", "1"), fleet("v1", 4));
    world.deploy("v2").unwrap();
    world.drive(60);
    assert_eq!(world.phase(), Phase::Completed);
    let kinds: Vec<&EventKind> = world.event_log.iter().map(|e| &e.kind).collect();
    let completed = kinds
        .iter()
        .position(|k| {
            matches!(
                k,
                EventKind::PhaseChanged {
                    to: Phase::Completed,
                    ..
                }
            )
        })
        .unwrap();
    let last_table = world.rollout.traffic().generation();
    let acked = kinds
        .iter()
        .position(
            |k| matches!(k, EventKind::TrafficApplied { generation } if *generation == last_table),
        )
        .unwrap();
    assert!(
        acked < completed,
        "completed before the last table was acknowledged"
    );
}

/// A load balancer that never acknowledges gets its own event and waiting reason.
#[test]
fn an_unacknowledged_table_is_reported_overdue() {
    let mut world = World::new(spec(4, "1", "0"), fleet("v1", 4));
    world.deploy("v2").unwrap();
    world.bring_up("v2-1");
    world.take();
    world.advance(60_001);
    assert!(world.saw(|e| matches!(e, EventKind::TrafficAckOverdue { .. })));
    let waiting = world.rollout.status().waiting_for;
    assert!(
        waiting
            .iter()
            .any(|w| matches!(w, Waiting::TrafficAck { overdue: true, .. })),
        "{waiting:?}"
    );
}

/// Kubernetes keeps a paused Deployment paused across a new revision.
#[test]
fn deploy_on_a_paused_rollout_stays_paused() {
    let mut world = World::new(spec(4, "1", "0"), fleet("v1", 4));
    world.deploy("v2").unwrap();
    world.take();
    world.pause().unwrap();
    world.deploy("v3").unwrap();
    assert_eq!(
        world.phase(),
        Phase::Paused {
            reason: PauseReason::Operator
        }
    );
    assert!(
        world.take().provision.is_empty(),
        "nothing of v3 while paused"
    );
    world.resume().unwrap();
    world.drive(80);
    assert_eq!(world.rollout.stable().unwrap().as_str(), "v3");
}

/// A serving fleet under `min_ready` stays in the table (the first engine took it all
/// out in generation 1).
#[test]
fn an_adopted_serving_fleet_under_min_ready_keeps_serving() {
    let spec = RolloutSpec {
        min_ready: Duration::from_secs(30),
        ..spec(3, "1", "0")
    };
    let observed: Vec<Instance> = (0..3)
        .map(|i| Instance::serving(format!("web-{i}"), "v1"))
        .collect();
    let mut rollout = Rollout::new(Timestamp::ZERO, spec, observed).unwrap();
    assert!(
        std::iter::from_fn(|| rollout.poll_action())
            .next()
            .is_none()
    );
    assert_eq!(rollout.traffic().instance_count(), 3);
}

/// An adopted instance still provisioning is asked for again under its name, so its
/// provisioner's answer has an action to name (the first engine never moved it).
#[test]
fn an_adopted_provisioning_instance_is_asked_for_again() {
    let mut observed = fleet("v1", 3);
    observed.push(Instance::new("v1-new", "v1", InstanceState::Provisioning));
    let mut world = World::new(spec(4, "1", "0"), observed);
    let step = world.take();
    assert_eq!(step.provision, ["v1-new"]);
    world.bring_up("v1-new");
    world.plumb();
    assert_eq!(world.available("v1"), 4);
}

#[test]
fn promote_finishes_a_pause_and_refuses_with_nothing_to_finish() {
    let mut world = World::new(spec(4, "1", "0"), fleet("v1", 4));
    world.deploy("v2").unwrap();
    let now = world.now;
    assert!(matches!(
        world.rollout.promote(now),
        Err(CommandError::NothingToPromote { .. })
    ));
    world.pause().unwrap();
    world.rollout.promote(now).unwrap();
    assert_eq!(world.phase(), Phase::Progressing);
}

/// An autoscaler resizing mid-rollout: the rollout ends at the new size.
#[test]
fn scale_mid_rollout_ends_at_the_new_size() {
    let mut world = World::new(spec(4, "1", "1"), fleet("v1", 4));
    world.deploy("v2").unwrap();
    world.round();
    let now = world.now;
    world.rollout.scale(now, 6).unwrap();
    assert!(matches!(
        world.rollout.scale(now, 0),
        Err(CommandError::InvalidSpec(_))
    ));
    world.drive(80);
    assert_eq!(world.phase(), Phase::Completed);
    assert_eq!(world.available("v2"), 6);
}

#[test]
fn update_spec_applies_limits_and_refuses_min_ready() {
    let mut world = World::new(spec(4, "1", "0"), fleet("v1", 4));
    world.deploy("v2").unwrap();
    let now = world.now;
    world.rollout.update_spec(now, spec(4, "2", "0")).unwrap();
    assert_eq!(world.rollout.limits().max_surge(), 2);
    let slower = RolloutSpec {
        min_ready: Duration::from_secs(5),
        ..spec(4, "2", "0")
    };
    assert!(matches!(
        world.rollout.update_spec(now, slower),
        Err(CommandError::UnsupportedChange {
            field: "min_ready",
            ..
        })
    ));
    world.drive(80);
    assert_eq!(world.phase(), Phase::Completed);
}

/// Invariant 9: every phase answers every verb, as the table in `commands.rs` says; a
/// refused verb changes nothing at all.
#[test]
fn every_verb_in_every_phase() {
    type Verb = fn(&mut Rollout, Timestamp) -> Result<(), CommandError>;
    let verbs: [(&str, Verb); 10] = [
        ("deploy", |r, t| r.deploy(t, "v9")),
        ("pause", Rollout::pause),
        ("resume", Rollout::resume),
        ("promote", Rollout::promote),
        ("promote_full", Rollout::promote_full),
        ("abort", Rollout::abort),
        ("retry", Rollout::retry),
        ("rollback", Rollout::rollback),
        ("scale", |r, t| r.scale(t, 5)),
        ("update_spec", |r, t| r.update_spec(t, spec(4, "2", "1"))),
    ];
    // Which verbs act, per phase (the rest refuse).
    let table: [(&str, &[&str]); 6] = [
        ("idle", &["deploy", "scale", "update_spec"]),
        (
            "progressing",
            &[
                "deploy",
                "pause",
                "promote_full",
                "abort",
                "rollback",
                "scale",
                "update_spec",
            ],
        ),
        (
            "paused",
            &[
                "deploy",
                "resume",
                "promote",
                "promote_full",
                "abort",
                "rollback",
                "scale",
                "update_spec",
            ],
        ),
        (
            "halted",
            &[
                "deploy",
                "abort",
                "retry",
                "rollback",
                "scale",
                "update_spec",
            ],
        ),
        ("completed", &["deploy", "rollback", "scale", "update_spec"]),
        ("aborted", &["deploy", "retry", "scale", "update_spec"]),
    ];
    for (phase, acting) in table {
        let rollout = in_phase(phase);
        for (name, verb) in verbs {
            let mut copy = rollout.clone();
            let now = Timestamp::from_millis(copy.now().as_millis() + 10);
            let result = verb(&mut copy, now);
            if acting.contains(&name) {
                assert!(result.is_ok(), "{name} in {phase}: {result:?}");
            } else {
                assert!(result.is_err(), "{name} in {phase} acted");
                assert_eq!(
                    copy, rollout,
                    "{name} in {phase} was refused yet changed the rollout"
                );
            }
        }
    }
}

/// A rollout of `v2` over four `v1` instances (4, surge 1, unavailable 1), in `phase`.
fn in_phase(phase: &str) -> Rollout {
    let spec = spec(4, "1", "1");
    let mut world = World::new(spec, fleet("v1", 4));
    match phase {
        "idle" => {}
        "progressing" => world.deploy("v2").unwrap(),
        "paused" => {
            world.deploy("v2").unwrap();
            world.pause().unwrap();
        }
        "halted" => {
            world.deploy("v2").unwrap();
            for _ in 0..5 {
                let pending = world.provisioning();
                for name in pending {
                    world.fail_provision(&name, "quota");
                }
                world.advance(60_000);
            }
            assert!(
                matches!(world.phase(), Phase::Halted { .. }),
                "{:?}",
                world.phase()
            );
        }
        "completed" => {
            world.deploy("v2").unwrap();
            world.drive(60);
            assert_eq!(world.phase(), Phase::Completed);
        }
        "aborted" => {
            world.deploy("v2").unwrap();
            world.abort().unwrap();
        }
        other => panic!("unknown phase {other}"),
    }
    world.rollout
}

#[test]
fn stale_answers_are_still_ignored() {
    let mut world = World::new(spec(2, "1", "0"), fleet("v1", 2));
    world.input(Input::TrafficApplied { generation: 99 });
    assert!(world.saw(|e| matches!(e, EventKind::InputIgnored { .. })));
}

/// The progress deadline can be switched off (`null`): a stuck rollout then waits
/// without a deadline event.
#[test]
fn the_progress_deadline_can_be_switched_off() {
    let spec: RolloutSpec = serde_json::from_str(
        r#"{"desired": 4, "progress_deadline": null, "strategy": {"rolling": {"max_surge": 1, "max_unavailable": 0}}}"#,
    )
    .unwrap();
    assert_eq!(spec.progress_deadline, None);
    let mut world = World::new(spec, fleet("v1", 4));
    world.deploy("v2").unwrap();
    world.provision("v2-1");
    world.advance(3_600_000);
    assert!(!world.saw(|e| matches!(e, EventKind::ProgressDeadlineExceeded { .. })));
    assert_eq!(world.phase(), Phase::Progressing);
}

/// An automatic abort at the progress deadline keeps the floor like an operator's.
#[test]
fn an_abort_at_the_progress_deadline_keeps_the_floor() {
    let spec = RolloutSpec {
        progress_deadline: Some(Duration::from_secs(60)),
        on_progress_deadline: cutover::spec::OnDeadline::Abort,
        ..spec(10, "25%", "25%")
    };
    let mut world = World::new(spec, fleet("v1", 10));
    world.deploy("v2").unwrap();
    // Half way, then the new instances stop becoming healthy.
    world.round();
    world.round();
    world.sick.extend(
        world
            .rollout
            .fleet()
            .iter()
            .filter(|i| i.revision.as_str() == "v2" && !i.available)
            .map(|i| i.id.clone()),
    );
    world.advance(60_001);
    assert!(
        matches!(world.phase(), Phase::Aborted { .. }),
        "{:?}",
        world.phase()
    );
    world.sick.clear();
    world.drive_back_to("v1", 10, 8);
}

/// Status messages are derived from state and true when read.
#[test]
fn status_messages_are_true() {
    // A fleet the load balancer does not route to yet is not "serving".
    let observed: Vec<Instance> = (0..2)
        .map(|i| {
            let mut instance = Instance::serving(format!("web-{i}"), "v1");
            instance.in_rotation = false;
            instance
        })
        .collect();
    let rollout = Rollout::new(Timestamp::ZERO, spec(2, "1", "0"), observed).unwrap();
    let message = rollout.status().message;
    assert!(message.contains("not yet acknowledged"), "{message}");
    // Deploying the stable revision onto itself never reads "v1 over v1".
    let mut world = World::new(spec(4, "1", "0"), fleet("v1", 4));
    world.deploy("v2").unwrap();
    world.deploy("v1").unwrap();
    let message = world.rollout.status().message;
    assert!(!message.contains("v1 over v1"), "{message}");
    // An abort is "back on v1" only once it is.
    let mut world = World::new(spec(4, "1", "0"), fleet("v1", 4));
    world.deploy("v2").unwrap();
    world.round();
    world.round();
    world.abort().unwrap();
    let status = world.rollout.status();
    assert!(
        !status.revert.unwrap().done,
        "v2 still serves right after the abort"
    );
    assert!(!status.message.contains("back on"), "{}", status.message);
    world.drive(80);
    let status = world.rollout.status();
    assert!(status.revert.unwrap().done);
    assert!(status.message.contains("back on v1"), "{}", status.message);
}
