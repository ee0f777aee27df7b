//! Rolling updates as scripts: drive inputs, assert actions. Aborts, rollbacks and
//! supersedes are in `abort_and_supersede.rs`.
//!
//! Every call goes through the one test world (`tests/world`), which checks every
//! invariant after each step, the capacity floor included — never switched off.

mod world;

use cutover::spec::{OnDeadline, ProvisionRetry};
use cutover::{
    AbortReason, Duration, EventKind, HaltReason, InstanceState, Phase, Timestamp, Weight,
};
use world::{World, fleet, old, spec};

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(ToString::to_string).collect()
}

fn at(ms: u64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn aborted(reason: AbortReason) -> Phase {
    Phase::Aborted { reason }
}

fn backoff(failures: u32, until_ms: u64) -> EventKind {
    EventKind::ProvisionBackoff {
        failures,
        until: at(until_ms),
    }
}

fn failed(instance: &str, reason: &str) -> EventKind {
    EventKind::InstanceFailed {
        instance: instance.into(),
        reason: reason.into(),
    }
}

#[test]
fn full_rolling_update_of_ten_at_25_percent() {
    let mut world = World::new(spec(10, "25%", "25%"), fleet("v1", 10));
    assert_eq!(world.phase(), Phase::Idle);
    assert!(world.take().is_empty(), "a fleet at desired needs nothing");

    world.deploy("v2").unwrap();
    // 25% surge of 10 rounds up to 3; 25% unavailable rounds down to 2.
    let step = world.take();
    assert_eq!(step.provision, names(&["v2-1", "v2-2", "v2-3"]));
    // Two old instances leave rotation in one update.
    assert_eq!(step.tables, 1);
    assert_eq!(step.removed, old("v1", 0..2));
    // Nothing drains before the ack.
    assert!(step.added.is_empty() && step.drain.is_empty());
    assert_eq!(world.rollout.fleet().total().live(), 13);

    // Each new instance that comes up lets exactly one more old one go, in the same
    // table update that puts it in rotation: capacity stays at 8.
    for (new, gone) in ["v2-1", "v2-2", "v2-3"].iter().zip(old("v1", 2..5)) {
        world.bring_up(new);
        let step = world.take();
        assert_eq!((step.tables, step.swap()), (1, format!("+{new} -{gone}")));
        // The surge is still held by draining instances.
        assert!(step.provision.is_empty());
    }
    assert_eq!(world.table_count("v2"), 3);
    assert_eq!(world.table_count("v1"), 5);

    // The load balancer acknowledges: the five old instances are drained, then
    // terminated; each termination frees a place for a new instance.
    world.ack_traffic();
    assert_eq!(world.take().drain, old("v1", 0..5));
    assert_eq!(world.lb().instance_count(), 8);
    world.drain_all();
    assert_eq!(world.take().terminate, old("v1", 0..5));
    world.terminate_all();
    let step = world.take();
    assert_eq!(
        step.provision,
        names(&["v2-4", "v2-5", "v2-6", "v2-7", "v2-8"])
    );
    // No old instance may go while 5 new ones are unavailable.
    assert_eq!(step.tables, 0);

    // Those five come up: the last five old instances leave as they do.
    world.provision_all();
    world.health_all();
    let step = world.take();
    assert_eq!(step.tables, 5);
    assert_eq!(step.removed, old("v1", 5..10));
    assert_eq!(step.revisions_removed, ["v1"]);
    assert_eq!(world.rollout.traffic().weight(&"v2".into()), Weight::FULL);
    world.plumb();
    assert_eq!(world.take().provision, names(&["v2-9", "v2-10"]));

    world.drive(50);
    assert_eq!(world.phase(), Phase::Completed);
    assert_eq!(world.count("v2", InstanceState::Ready), 10);
    assert_eq!(world.count("v1", InstanceState::Ready), 0);
    assert_eq!(world.rollout.stable().unwrap().as_str(), "v2");
    assert_eq!(world.rollout.target(), None);
    assert_eq!(world.lb().instance_count(), 10);
    assert_eq!(world.lb().weight(&"v2".into()), Weight::FULL);
    assert_eq!(world.rollout.status().progress, 1.0);
    // Never more than desired + surge, never fewer available than desired - unavailable,
    // and not one instance more than needed.
    assert_eq!(world.watermarks.peak_live, 13);
    assert_eq!(world.watermarks.low_available, 8);
    let all = world::Summary::of(&world.history);
    assert_eq!(all.provision.len(), 10);
    assert_eq!(all.terminate.len(), 10);
}

#[test]
fn surge_only_replaces_one_at_a_time_with_full_capacity() {
    // max_unavailable 0: a new instance first, then an old one goes.
    let mut world = World::new(spec(4, "1", "0"), fleet("v1", 4));
    world.deploy("v2").unwrap();
    let step = world.take();
    assert_eq!(step.provision, ["v2-1"]);
    // No old instance leaves before a new one is available.
    assert_eq!(step.tables, 0);

    for round in 0..4 {
        let new = format!("v2-{}", round + 1);
        let gone = format!("v1-old-{round}");
        world.provision(&new);
        assert!(world.take().is_empty(), "provisioned is not ready");
        world.health(&new, true);
        let step = world.take();
        // The new one in and the old one out in one update: the balancer always has 4.
        assert_eq!((step.tables, step.swap()), (1, format!("+{new} -{gone}")));
        world.ack_traffic();
        assert_eq!(world.lb().instance_count(), 4);
        assert_eq!(world.take().drain, [gone.as_str()]);
        world.drain(&gone);
        assert_eq!(world.take().terminate, [gone.as_str()]);
        world.terminate(&gone);
        let step = world.take();
        if round < 3 {
            assert_eq!(
                step.provision,
                [format!("v2-{}", round + 2)],
                "round {round}"
            );
        } else {
            assert!(step.is_empty());
        }
    }
    assert_eq!(world.phase(), Phase::Completed);
    assert_eq!(world.watermarks.peak_live, 5);
    assert_eq!(world.watermarks.low_available, 4, "never below desired");
}

#[test]
fn unavailable_only_never_runs_an_extra_instance() {
    // max_surge 0: an old instance goes first, then its replacement is created.
    let mut world = World::new(spec(4, "0", "1"), fleet("v1", 4));
    world.deploy("v2").unwrap();
    let step = world.take();
    assert!(step.provision.is_empty(), "no room for a fifth instance");
    assert_eq!((step.tables, step.removed.clone()), (1, old("v1", 0..1)));

    for round in 0..4 {
        let gone = format!("v1-old-{round}");
        let new = format!("v2-{}", round + 1);
        world.ack_traffic();
        assert_eq!(world.take().drain, [gone.as_str()]);
        world.drain(&gone);
        world.terminate(&gone);
        // The replacement only once the old one is gone.
        assert_eq!(world.take().provision, [new.as_str()]);
        world.bring_up(&new);
        let step = world.take();
        let next = if round < 3 {
            format!(" -v1-old-{}", round + 1)
        } else {
            String::new()
        };
        assert_eq!(step.swap(), format!("+{new}{next}"));
    }
    world.plumb();
    assert_eq!(world.phase(), Phase::Completed);
    assert_eq!(world.watermarks.peak_live, 4, "never above desired");
    assert_eq!(world.watermarks.low_available, 3);
}

#[test]
fn min_ready_keeps_a_new_instance_out_of_rotation_until_it_has_waited() {
    let mut spec = spec(4, "1", "0");
    spec.min_ready = Duration::from_secs(10);
    let mut world = World::new(spec, fleet("v1", 4));
    world.deploy("v2").unwrap();
    world.take();
    world.bring_up("v2-1");
    // Ready but not yet available: not in the table.
    assert!(world.take().is_empty());
    assert_eq!(world.rollout.poll_timeout(), Some(at(10_000)));
    world.advance(9_999);
    assert!(world.take().is_empty());
    world.advance(1);
    let step = world.take();
    assert_eq!(step.swap(), "+v2-1 -v1-old-0");
    world.drive(50);
    assert_eq!(world.phase(), Phase::Completed);
}

fn deadline_spec(on_deadline: OnDeadline) -> cutover::RolloutSpec {
    let mut spec = spec(4, "1", "0");
    spec.progress_deadline = Some(Duration::from_mins(5));
    spec.on_progress_deadline = on_deadline;
    spec
}

#[test]
fn an_instance_that_never_turns_healthy_is_reported_at_the_deadline() {
    let mut world = World::new(deadline_spec(OnDeadline::Report), fleet("v1", 4));
    world.deploy("v2").unwrap();
    assert_eq!(world.take().provision, ["v2-1"]);
    // The deadline passes strictly after last progress + 5m, as Kubernetes'.
    assert_eq!(world.rollout.poll_timeout(), Some(at(300_001)));
    world.provision("v2-1");
    world.health("v2-1", false);
    assert!(world.take().is_empty());

    world.advance(300_000);
    assert!(!world.rollout.status().deadline_exceeded);
    world.take_events();
    world.advance(1);
    let events = world.take_events();
    assert!(events.contains(&EventKind::ProgressDeadlineExceeded {
        last_progress: Timestamp::ZERO
    }));
    let status = world.rollout.status();
    assert!(status.deadline_exceeded);
    assert!(status.message.ends_with("; progress deadline exceeded"));
    // Reported, not given up: still progressing, nothing removed, old capacity intact.
    assert_eq!(world.phase(), Phase::Progressing);
    assert!(world.take().is_empty());
    assert_eq!(world.available("v1"), 4);
    assert_eq!(world.lb_count("v1"), 4);
    assert_eq!(world.traffic_updates(), 0);
    // The deadline fires once; what is left is v2-1's start-up timeout (10m).
    assert_eq!(world.rollout.poll_timeout(), Some(at(600_001)));

    // It recovers after all: the rollout goes on and the flag clears.
    world.advance(60_000);
    world.health("v2-1", true);
    let step = world.take();
    assert_eq!(step.swap(), "+v2-1 -v1-old-0");
    assert!(!world.rollout.status().deadline_exceeded);
    world.drive(50);
    assert_eq!(world.phase(), Phase::Completed);
}

#[test]
fn an_instance_that_never_turns_healthy_aborts_at_the_deadline_when_asked() {
    let mut world = World::new(deadline_spec(OnDeadline::Abort), fleet("v1", 4));
    world.deploy("v2").unwrap();
    world.take();
    world.provision("v2-1");
    world.health("v2-1", false);
    world.advance_to_timeout();
    assert_eq!(world.phase(), aborted(AbortReason::ProgressDeadline));
    assert!(world.saw(|e| matches!(e, EventKind::ProgressDeadlineExceeded { .. })));
    // The instance that never served goes; it was never in a table, so no table changes.
    let step = world.take();
    assert_eq!(step.tables, 0);
    assert!(step.drain == ["v2-1"] || step.terminate == ["v2-1"]);
    world.drive(20);
    assert!(world.rollout.fleet().get(&"v2-1".into()).is_none());
    assert_eq!(world.available("v1"), 4);
    assert_eq!(world.lb_count("v1"), 4);
    // Old capacity never left rotation.
    assert_eq!(world.traffic_updates(), 0);
    assert_eq!(world.rollout.stable().unwrap().as_str(), "v1");
}

#[test]
fn provision_failures_back_off_then_halt_with_old_capacity_intact() {
    let mut spec = spec(4, "1", "0");
    spec.provision_retry = ProvisionRetry {
        max_failures: 3,
        backoff_initial: Duration::from_secs(1),
        backoff_max: Duration::from_mins(1),
    };
    let mut world = World::new(spec, fleet("v1", 4));
    world.deploy("v2").unwrap();
    assert_eq!(world.take().provision, ["v2-1"]);
    world.take_events();

    world.fail_provision("v2-1", "quota exceeded");
    let events = world.take_events();
    assert!(events.contains(&failed("v2-1", "provision failed: quota exceeded")));
    assert!(events.contains(&backoff(1, 1_000)));
    // No new provision during the backoff.
    assert!(world.take().is_empty());
    assert_eq!(world.rollout.poll_timeout(), Some(at(1_000)));
    world.advance(999);
    assert!(world.take().is_empty());
    world.advance(1);
    assert_eq!(world.take().provision, ["v2-2"]);

    // The backoff doubles.
    world.fail_provision("v2-2", "quota exceeded");
    assert!(world.take_events().contains(&backoff(2, 3_000)));
    assert_eq!(world.advance_to_timeout(), Some(2_000));
    assert_eq!(world.take().provision, ["v2-3"]);

    // The third failure in a row halts.
    world.fail_provision("v2-3", "quota exceeded");
    assert_eq!(
        world.phase(),
        Phase::Halted {
            reason: HaltReason::ProvisionFailed {
                failures: 3,
                last_error: "quota exceeded".into()
            }
        }
    );
    assert_eq!(world.rollout.poll_timeout(), None);
    world.advance(3_600_000);
    assert!(world.take().is_empty(), "halted: nothing happens by itself");
    assert_eq!(world.available("v1"), 4);
    assert_eq!(world.lb_count("v1"), 4);
    assert_eq!(world.traffic_updates(), 0);
    // Failed instances are forgotten.
    assert_eq!(world.rollout.fleet().total().live(), 4);

    // An operator retries once the quota is fixed.
    world.retry().unwrap();
    assert_eq!(world.phase(), Phase::Progressing);
    assert_eq!(world.take().provision, ["v2-4"]);
    world.drive(50);
    assert_eq!(world.phase(), Phase::Completed);
}

#[test]
fn a_provision_failure_blocks_scale_ups_only_for_its_backoff() {
    let mut world = World::new(spec(10, "25%", "25%"), fleet("v1", 10));
    world.deploy("v2").unwrap();
    assert_eq!(world.take().provision, names(&["v2-1", "v2-2", "v2-3"]));
    world.fail_provision("v2-1", "no capacity in zone");
    // The freed surge waits for the backoff.
    assert!(world.take().provision.is_empty());
    // A success in between resets the count of consecutive failures.
    world.provision("v2-2");
    world.fail_provision("v2-3", "no capacity in zone");
    assert!(world.take_events().contains(&backoff(1, 1_000)));
    assert_eq!(world.advance_to_timeout(), Some(1_000));
    assert_eq!(world.take().provision, names(&["v2-4", "v2-5"]));
    assert_eq!(world.phase(), Phase::Progressing);
    world.drive(50);
    assert_eq!(world.phase(), Phase::Completed);
    assert_eq!(world.watermarks.low_available, 8);
}

#[test]
fn an_instance_lost_mid_rollout_leaves_the_table_and_is_replaced() {
    let mut world = World::new(spec(4, "1", "0"), fleet("v1", 4));
    world.deploy("v2").unwrap();
    assert_eq!(world.take().provision, ["v2-1"]);

    world.take_events();
    world.lose("v1-old-3", "host died");
    let events = world.take_events();
    assert!(events.contains(&failed("v1-old-3", "lost: host died")));
    let step = world.take();
    assert_eq!((step.tables, step.removed), (1, names(&["v1-old-3"])));
    // The lost place is filled (with the new revision).
    assert_eq!(step.provision, ["v2-2"]);
    // Nothing to drain on a lost instance.
    assert!(step.drain.is_empty() && step.terminate.is_empty());
    world.ack_traffic();
    assert!(world.take().is_empty());
    // Forgotten once out of every table.
    assert!(world.rollout.fleet().get(&"v1-old-3".into()).is_none());

    // A new instance crashes before it is ever ready: no table change, replaced.
    world.provision("v2-2");
    world.lose("v2-2", "crashed on boot");
    let step = world.take();
    assert_eq!(step.tables, 0);
    assert_eq!(step.provision, ["v2-3"]);

    // Capacity is below desired (a fault): the rollout takes nothing more away until
    // new instances make up for it.
    world.bring_up("v2-1");
    let step = world.take();
    assert_eq!(step.swap(), "+v2-1");
    world.bring_up("v2-3");
    let step = world.take();
    assert_eq!(step.swap(), "+v2-3 -v1-old-0");

    world.drive(50);
    assert_eq!(world.phase(), Phase::Completed);
    assert_eq!(world.count("v2", InstanceState::Ready), 4);
    // The loss, not the rollout.
    assert_eq!(world.watermarks.low_available, 3);
    // Unknown or already gone instances are ignored, not errors.
    world.take_events();
    world.lose("v1-old-3", "reported twice");
    assert!(matches!(
        world.take_events()[..],
        [EventKind::InputIgnored { .. }]
    ));
}

#[test]
fn an_instance_lost_while_draining_is_not_terminated() {
    let mut world = World::new(spec(4, "0", "1"), fleet("v1", 4));
    world.deploy("v2").unwrap();
    world.ack_traffic();
    assert_eq!(world.take().drain, ["v1-old-0"]);
    world.lose("v1-old-0", "host died");
    let step = world.take();
    assert!(step.terminate.is_empty());
    assert_eq!(step.provision, ["v2-1"]);
    // The drain's late answer is ignored.
    world.take_events();
    world.drain_all();
    assert!(world.take().is_empty());
    assert!(matches!(
        world.take_events()[..],
        [EventKind::InputIgnored { .. }]
    ));
}

#[test]
fn a_drain_that_never_finishes_is_cut_off_at_the_drain_timeout() {
    let mut world = World::new(spec(4, "0", "1"), fleet("v1", 4));
    world.deploy("v2").unwrap();
    world.ack_traffic();
    assert_eq!(world.take().drain, ["v1-old-0"]);
    assert_eq!(world.rollout.poll_timeout(), Some(at(30_000)));
    world.advance(30_000);
    let timed_out = EventKind::DrainTimedOut {
        instance: "v1-old-0".into(),
    };
    assert!(world.take_events().contains(&timed_out));
    assert_eq!(world.take().terminate, ["v1-old-0"]);
    world.terminate("v1-old-0");
    assert_eq!(world.take().provision, ["v2-1"]);
}

#[test]
fn pause_freezes_scaling_and_the_deadline_and_resume_continues() {
    let mut world = World::new(spec(10, "25%", "25%"), fleet("v1", 10));
    world.deploy("v2").unwrap();
    let step = world.take();
    assert_eq!(
        (step.provision.len(), step.swap()),
        (3, "-v1-old-0 -v1-old-1".into())
    );

    world.pause().unwrap();
    assert_eq!(
        world.phase(),
        Phase::Paused {
            reason: cutover::PauseReason::Operator
        }
    );
    assert_eq!(
        world.pause().unwrap_err().to_string(),
        "cannot pause while the rollout is paused (by an operator)"
    );
    assert!(world.take().is_empty());

    // Safety work goes on while paused: new instances enter rotation as they become
    // ready, and started drains finish. Nothing is scaled.
    for new in ["v2-1", "v2-2", "v2-3"] {
        world.bring_up(new);
        let step = world.take();
        // No scale-down while paused.
        assert_eq!(step.swap(), format!("+{new}"));
    }
    world.plumb();
    let step = world.take();
    assert_eq!(step.terminate, old("v1", 0..2));
    assert!(step.provision.is_empty(), "no scale-up while paused");
    // The deadline does not run while paused.
    assert_eq!(world.rollout.poll_timeout(), None);
    world.advance(3_600_000);
    assert!(!world.saw(|e| matches!(e, EventKind::ProgressDeadlineExceeded { .. })));
    assert!(world.take().is_empty());

    world.resume().unwrap();
    assert_eq!(
        world.resume().unwrap_err().to_string(),
        "cannot resume while the rollout is progressing"
    );
    // 3 new + 8 old available, 11 in all: 2 more new (13 = 10 + 3 surge) and 3 old out
    // (11 - 3 = 8 = 10 - 2 unavailable).
    let step = world.take();
    assert_eq!(step.provision, names(&["v2-4", "v2-5"]));
    assert_eq!((step.tables, step.removed.clone()), (1, old("v1", 2..5)));
    // The deadline counts from the resume (strictly after 10m); the earliest timer now
    // is the load balancer's acknowledgement of the resume's table (1m).
    assert_eq!(world.rollout.poll_timeout(), Some(at(3_600_000 + 60_001)));
    world.drive(50);
    assert_eq!(world.phase(), Phase::Completed);
    assert_eq!(world.watermarks.low_available, 8);
}
