//! Rolling updates as scripts: drive inputs, assert actions.
//!
//! Every call goes through the harness in `support`, which after each one checks that
//! the published table only lists ready, available instances (and lists all of them),
//! that weights add up, that instances never exceed `desired + max_surge`, that the
//! rollout never takes an available instance out of service below
//! `desired - max_unavailable` (switched off around aborts), and that the load balancer
//! never routes to an instance it was asked to drain or terminate.

mod world;

use cutover::{
    AbortReason, CommandError, Duration, EventKind, HaltReason, InstanceState, OnDeadline, Phase,
    ProvisionRetry, Revision, Timestamp, Weight,
};
use world::{World, fleet, of_revision, old, spec};

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

/// A 10 @ 25%/25% rollout to v2 half way: v2-1 and v2-2 in rotation, v2-3 starting,
/// v2-4..v2-7 provisioning, v1-old-4..9 in rotation.
fn half_way_to_v2() -> World {
    half_way_to_v2_with(spec(10, "25%", "25%"))
}

fn half_way_to_v2_with(spec: cutover::RolloutSpec) -> World {
    let mut world = World::new(spec, fleet("v1", 10));
    world.deploy("v2").unwrap();
    world.bring_up("v2-1");
    world.bring_up("v2-2");
    world.provision("v2-3");
    world.plumb();
    assert_eq!(
        world.provisioning(),
        names(&["v2-4", "v2-5", "v2-6", "v2-7"])
    );
    assert_eq!(world.table_count("v2"), 2);
    assert_eq!(world.table_count("v1"), 6);
    world.take();
    world
}

/// Half way (6 v1 and 2 v2 available, floor 8), the stable revision alone cannot carry
/// the traffic: the abort is a reverse rolling update. The v2 instances that serve keep
/// serving until v1 is back; the ones that never served go at once; the floor holds
/// throughout (the world checks it after every call).
#[test]
fn abort_half_way_is_a_reverse_rolling_update_that_keeps_the_floor() {
    let mut world = half_way_to_v2();
    world.take_events();
    world.abort().unwrap();
    assert_eq!(world.phase(), aborted(AbortReason::Operator));
    let status = world.rollout.status();
    let revert = status.revert.expect("an abort reports how far back it is");
    assert!(!revert.one_update, "6 of a floor of 8: not in one update");
    assert!(!revert.done);
    let step = world.take();
    // The serving v2 instances stay in the table; no v1 traffic is taken away.
    assert!(step.removed.is_empty(), "{:?}", step.removed);
    assert_eq!(
        world
            .rollout
            .traffic()
            .backend(&"v2".into())
            .map(|b| b.instance_count()),
        Some(2)
    );
    // Nothing is terminated before it is drained.
    assert!(step.terminate.is_empty());

    // Instances still being provisioned are terminated as soon as they exist, without a
    // drain (they never served).
    world.provision_all();
    let step = world.take();
    assert_eq!(step.terminate, names(&["v2-4", "v2-5", "v2-6", "v2-7"]));
    assert!(step.drain.is_empty());

    // As v2 goes, v1 is brought back to 10, and v2's last instances leave only then.
    world.drive(50);
    assert_eq!(world.revisions(), ["v1"]);
    assert_eq!(world.available("v1"), 10);
    assert_eq!(world.lb_count("v1"), 10);
    assert!(world.rollout.status().revert.unwrap().done);
    assert!(world.rollout.status().message.contains("back on v1"));
    assert_eq!(world.rollout.stable().unwrap().as_str(), "v1");
    assert_eq!(world.rollout.target(), None);
    // The surge and the floor hold during the abort too.
    assert_eq!(world.watermarks.peak_live, 13);
    assert!(
        world.watermarks.low_available >= 8,
        "{:?}",
        world.watermarks
    );
    assert_eq!(
        world.abort().unwrap_err().to_string(),
        "cannot abort while the rollout is aborted (by an operator)"
    );

    // And the aborted rollout can be tried again.
    world.retry().unwrap();
    assert_eq!(world.rollout.target().unwrap().as_str(), "v2");
    world.drive(100);
    assert_eq!(world.phase(), Phase::Completed);
    assert_eq!(world.available("v2"), 10);
}

/// Early on (8 v1 available, the floor), the stable revision carries all the traffic
/// already: the abort needs no reverse rolling, and v2 goes at once.
#[test]
fn abort_with_stable_at_the_floor_goes_back_at_once() {
    let mut world = World::new(spec(10, "25%", "25%"), fleet("v1", 10));
    world.deploy("v2").unwrap();
    world.provision_all();
    world.plumb();
    assert_eq!(world.table_count("v1"), 8);
    world.take();
    world.abort().unwrap();
    assert!(world.rollout.status().revert.unwrap().one_update);
    let step = world.take();
    assert_eq!(
        step.drain.len(),
        3,
        "the v2 instances never served: drained at once"
    );
    assert_eq!(world.rollout.traffic().weight(&"v1".into()), Weight::FULL);
    world.drive(50);
    assert_eq!(
        (world.available("v1"), world.revisions()),
        (10, vec!["v1".to_string()])
    );
}

/// Kubernetes-style rolling with `max_unavailable: 0` (4 instances, surge 1): aborting
/// near the end never goes below 4 available.
#[test]
fn abort_near_the_end_without_unavailability_never_drops_below_desired() {
    let mut world = World::new(spec(4, "1", "0"), fleet("v1", 4));
    world.deploy("v2").unwrap();
    for _ in 0..3 {
        world.round();
    }
    world.take();
    world.abort().unwrap();
    world.drive_back_to("v1", 4, 4);
}

/// With every v1 instance already replaced, the v2 instances serve until v1 is back
/// in full (not just until the first v1 instance is up).
#[test]
fn abort_after_all_was_replaced_keeps_the_target_serving_until_stable_is_back() {
    let mut world = World::new(spec(4, "1", "1"), fleet("v1", 4));
    world.deploy("v2").unwrap();
    // Stop just before completion: every v1 instance gone, v2 all available.
    for _ in 0..40 {
        if world.rollout.fleet().counts(&"v1".into()).live() == 0 {
            break;
        }
        world.round();
    }
    assert_eq!(world.rollout.fleet().counts(&"v1".into()).live(), 0);
    world.abort().unwrap();
    world.drive_back_to("v1", 4, 3);
}

#[test]
fn rollback_while_in_flight_is_an_abort() {
    let mut world = half_way_to_v2();
    world.rollback().unwrap();
    assert_eq!(world.phase(), aborted(AbortReason::Rollback));
    // The same reverse rolling update as an abort: v2 serves until v1 is back.
    world.drive(50);
    assert_eq!(
        (world.revisions(), world.available("v1")),
        (vec!["v1".to_string()], 10)
    );
    assert!(
        world.watermarks.low_available >= 8,
        "{:?}",
        world.watermarks
    );
}

#[test]
fn rollback_after_completion_rolls_the_previous_revision_out_again() {
    let mut world = World::new(spec(4, "1", "0"), fleet("v1", 4));
    assert_eq!(world.rollback(), Err(CommandError::NothingToRollBackTo));
    world.deploy("v2").unwrap();
    world.drive(50);
    assert_eq!(world.phase(), Phase::Completed);
    world.take();
    world.take_events();

    world.rollback().unwrap();
    assert_eq!(world.phase(), Phase::Progressing);
    let status = world.rollout.status();
    assert!(status.is_rollback);
    assert_eq!(status.target.unwrap().as_str(), "v1");
    assert!(status.message.starts_with("rolling back to v1 over v2"));
    assert!(world.take_events().contains(&EventKind::RolloutStarted {
        revision: "v1".into(),
        stable: Some("v2".into()),
        supersedes: None
    }));
    // A rolling update within the same limits, not a switch: one new v1, v2 untouched.
    let step = world.take();
    assert_eq!(of_revision(&step.provision, "v1").len(), 1);
    assert_eq!(step.tables, 0);
    assert_eq!(world.lb_count("v2"), 4);

    world.drive(50);
    assert_eq!(world.phase(), Phase::Completed);
    assert_eq!(world.rollout.stable().unwrap().as_str(), "v1");
    assert_eq!(world.available("v1"), 4);
    assert_eq!(world.lb().weight(&"v1".into()), Weight::FULL);
    assert_eq!(world.watermarks.peak_live, 5);
    assert_eq!(world.watermarks.low_available, 4);
    // And rolling back again goes forward to v2.
    world.rollback().unwrap();
    assert_eq!(world.rollout.target().unwrap().as_str(), "v2");
}

/// After `half_way_to_v2`, v3 supersedes v2.
fn superseded_by_v3() -> World {
    let mut world = half_way_to_v2();
    world.take_events();
    world.deploy("v3").unwrap();
    assert!(world.take_events().contains(&EventKind::RolloutStarted {
        revision: "v3".into(),
        stable: Some("v1".into()),
        supersedes: Some("v2".into())
    }));
    assert_eq!(world.rollout.target().unwrap().as_str(), "v3");
    // v2 never became stable.
    assert_eq!(world.rollout.stable().unwrap().as_str(), "v1");
    assert_eq!(
        world.deploy("v3"),
        Err(CommandError::AlreadyInFlight {
            revision: "v3".into()
        })
    );
    world
}

#[test]
fn a_third_revision_supersedes_a_rollout_in_flight() {
    let mut world = superseded_by_v3();
    // At the surge limit (13) with 8 available: the v2 instances that do not serve yet
    // go first, to free room for v3; nothing that serves goes. v2-3 (started, never in
    // a table) is drained at once; v2-4..7 are terminated as soon as they exist.
    let step = world.take();
    assert_eq!((step.tables, step.drain), (0, names(&["v2-3"])));
    assert!(step.provision.is_empty());
    world.provision_all();
    let step = world.take();
    assert_eq!(step.terminate, names(&["v2-4", "v2-5", "v2-6", "v2-7"]));
    assert!(step.drain.is_empty(), "never served, nothing to drain");
    world.plumb();
    assert_eq!(
        world.take().provision,
        names(&["v3-8", "v3-9", "v3-10", "v3-11", "v3-12"])
    );

    // Each v3 instance that comes up lets one old one go: the intermediate v2 ones
    // before any of the stable v1.
    world.bring_up("v3-8");
    assert_eq!(world.take().swap(), "+v3-8 -v2-1");
    world.bring_up("v3-9");
    let step = world.take();
    assert_eq!(
        (step.swap(), step.revisions_removed),
        ("+v3-9 -v2-2".into(), names(&["v2"]))
    );
    world.bring_up("v3-10");
    assert_eq!(world.take().swap(), "+v3-10 -v1-old-4");
    world.plumb();
    assert_eq!(world.take().provision, names(&["v3-13", "v3-14", "v3-15"]));

    world.drive(50);
    assert_eq!(world.phase(), Phase::Completed);
    assert_eq!(world.rollout.stable().unwrap().as_str(), "v3");
    assert_eq!(world.available("v3"), 10);
    assert_eq!(world.revisions(), ["v3"]);
    assert_eq!(world.lb().backends().len(), 1);
    assert_eq!(world.watermarks.peak_live, 13);
    assert_eq!(world.watermarks.low_available, 8);
    // The revision to fall back to is the one that was stable, not the superseded one.
    world.rollback().unwrap();
    assert_eq!(world.rollout.target().unwrap().as_str(), "v1");
}

#[test]
fn abort_after_a_supersede_goes_back_to_the_original_stable() {
    let mut world = superseded_by_v3();
    world.provision_all();
    world.plumb();
    world.bring_up("v3-8");
    // Three revisions in rotation: v1 (6), v2-2, v3-8.
    assert_eq!(
        (
            world.table_count("v1"),
            world.table_count("v2"),
            world.table_count("v3")
        ),
        (6, 1, 1)
    );
    world.take();
    world.abort().unwrap();
    // 6 v1 of a floor of 8: v2-2 and v3-8 serve until v1 is back.
    let step = world.take();
    assert!(step.removed.is_empty(), "{:?}", step.removed);
    assert_eq!(world.rollout.stable().unwrap().as_str(), "v1");

    world.drive(100);
    assert_eq!(world.available("v1"), 10);
    assert_eq!(world.revisions(), ["v1"]);
    assert_eq!(world.lb().backends().len(), 1);
    assert_eq!(world.lb_count("v1"), 10);
    // Retrying retries the latest target, v3.
    world.retry().unwrap();
    assert_eq!(world.rollout.target(), Some(&Revision::from("v3")));
}

#[test]
fn deploying_the_stable_revision_mid_flight_scales_the_newer_one_away() {
    let mut world = World::new(spec(4, "1", "0"), fleet("v1", 4));
    world.deploy("v2").unwrap();
    world.drive(50);
    world.deploy("v3").unwrap();
    world.bring_up("v3-5");
    assert_eq!((world.table_count("v3"), world.table_count("v2")), (1, 3));
    world.take_events();
    world.deploy("v2").unwrap();
    assert!(world.take_events().contains(&EventKind::RolloutStarted {
        revision: "v2".into(),
        stable: Some("v2".into()),
        supersedes: Some("v3".into())
    }));
    world.drive(50);
    assert_eq!(world.phase(), Phase::Completed);
    assert_eq!(world.revisions(), ["v2"]);
    assert_eq!(world.available("v2"), 4);
    assert_eq!(world.watermarks.low_available, 4);
    // The fallback is still the revision before v2.
    world.rollback().unwrap();
    assert_eq!(world.rollout.target().unwrap().as_str(), "v1");
}

#[test]
fn failed_provisions_of_a_superseded_revision_do_not_hold_up_the_new_one() {
    let mut spec = spec(10, "25%", "25%");
    spec.provision_retry.max_failures = 3;
    let mut world = half_way_to_v2_with(spec);
    world.deploy("v3").unwrap();
    world.take_events();
    // v2's image is broken (which is why v3 was deployed): its last provisions fail.
    for name in ["v2-4", "v2-5", "v2-6", "v2-7"] {
        world.fail_provision(name, "bad v2 image");
    }
    // Those instances were no longer wanted: v3 has not failed anything yet.
    assert_eq!(world.phase(), Phase::Progressing);
    assert!(!world.saw(|e| matches!(e, EventKind::ProvisionBackoff { .. })));
    world.plumb();
    assert_eq!(
        world.take().provision,
        names(&["v3-8", "v3-9", "v3-10", "v3-11", "v3-12"])
    );
}

#[test]
fn failed_provisions_after_an_abort_do_not_delay_the_stable_recovery() {
    let mut world = half_way_to_v2();
    world.abort().unwrap();
    for name in ["v2-4", "v2-5", "v2-6", "v2-7"] {
        world.fail_provision(name, "bad v2 image");
    }
    world.plumb();
    // v1 is at 6 of 10 with room for 4 more: it should not wait out a v2 backoff.
    assert_eq!(world.available("v1"), 6);
    assert_eq!(of_revision(&world.take().provision, "v1").len(), 4);
}
