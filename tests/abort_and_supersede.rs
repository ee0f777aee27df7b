//! Aborts, rollbacks and supersedes as scripts: the way back to the stable revision keeps
//! the capacity floor (the world checks it after every step), and a newer revision
//! scales an older one away before the stable one.

mod world;

use cutover::{AbortReason, CommandError, EventKind, Phase, Revision, Weight};
use world::{World, fleet, of_revision, spec};

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(ToString::to_string).collect()
}

fn aborted(reason: AbortReason) -> Phase {
    Phase::Aborted { reason }
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
