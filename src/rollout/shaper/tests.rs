use proptest::prelude::*;

use super::*;

fn lane(role: Role, current: u32, planned: u32, servable: u32) -> Lane {
    Lane {
        role,
        current,
        planned,
        servable,
    }
}

fn rules(floor: u32) -> Rules {
    Rules {
        floor,
        held: false,
        gradual: false,
        policy: EmergencyRouting::ServeAvailable,
    }
}

fn gradual(floor: u32) -> Rules {
    Rules {
        gradual: true,
        ..rules(floor)
    }
}

fn weights(lanes: &[Lane], rules: Rules) -> Vec<u32> {
    shape(lanes, rules).weights
}

#[test]
fn a_rise_waits_for_the_capacity_that_carries_it() {
    // Floor 10: one canary instance carries 10%, two carry the planned 20%. Held until
    // carried, the weight stays; moving gradually, it goes as far as capacity allows.
    let one = [
        lane(Role::Stable, 10_000, 8_000, 10),
        lane(Role::Target, 0, 2_000, 1),
    ];
    assert_eq!(weights(&one, rules(10)), [10_000, 0]);
    assert_eq!(weights(&one, gradual(10)), [9_000, 1_000]);
    let two = [
        lane(Role::Stable, 10_000, 8_000, 10),
        lane(Role::Target, 0, 2_000, 2),
    ];
    assert_eq!(weights(&two, rules(10)), [8_000, 2_000]);
}

#[test]
fn a_fall_goes_only_as_far_as_the_others_can_take_it() {
    // An abort with three of eight stable instances: the target keeps what stable
    // cannot carry yet (a reverse rolling update).
    let lanes = [
        lane(Role::Stable, 0, 10_000, 3),
        lane(Role::Target, 10_000, 0, 8),
    ];
    assert_eq!(weights(&lanes, gradual(8)), [3_750, 6_250]);
    let whole = [
        lane(Role::Stable, 0, 10_000, 8),
        lane(Role::Target, 10_000, 0, 8),
    ];
    assert_eq!(weights(&whole, gradual(8)), [10_000, 0]);
}

#[test]
fn a_fault_never_lifts_an_unplanned_revision() {
    // Blue-green before the switch: one blue instance of four failed. Green has room
    // and gets nothing; blue runs hot.
    let lanes = [
        lane(Role::Stable, 10_000, 10_000, 3),
        lane(Role::Target, 0, 0, 4),
    ];
    assert_eq!(weights(&lanes, rules(4)), [10_000, 0]);
}

#[test]
fn a_fault_never_lifts_a_canary_past_its_plan() {
    let lanes = [
        lane(Role::Stable, 9_500, 9_500, 5),
        lane(Role::Target, 500, 500, 1),
    ];
    assert_eq!(weights(&lanes, rules(10)), [9_500, 500]);
}

#[test]
fn the_target_waits_while_a_superseded_revision_holds_weight() {
    let lanes = [
        lane(Role::Stable, 7_500, 7_500, 4),
        lane(Role::Superseded, 2_500, 0, 1),
        lane(Role::Target, 0, 2_500, 1),
    ];
    assert_eq!(weights(&lanes, rules(4)), [10_000, 0, 0]);
    let after = [
        lane(Role::Stable, 10_000, 7_500, 4),
        lane(Role::Superseded, 0, 0, 1),
        lane(Role::Target, 0, 2_500, 1),
    ];
    assert_eq!(weights(&after, rules(4)), [7_500, 0, 2_500]);
}

#[test]
fn a_held_rollout_moves_no_weight_forward_but_still_rehomes_an_orphan() {
    let held = Rules {
        held: true,
        ..rules(4)
    };
    let lanes = [
        lane(Role::Stable, 10_000, 8_000, 4),
        lane(Role::Target, 0, 2_000, 1),
    ];
    assert_eq!(weights(&lanes, held), [10_000, 0]);
    // The canary lost its only instance: its share goes back to stable at once.
    let orphaned = [
        lane(Role::Stable, 8_000, 8_000, 4),
        lane(Role::Target, 2_000, 2_000, 0),
    ];
    assert_eq!(weights(&orphaned, held), [10_000, 0]);
    // Back toward stable is no progress: a held rollout still makes that move.
    let back = [
        lane(Role::Stable, 7_000, 8_000, 4),
        lane(Role::Target, 3_000, 2_000, 2),
    ];
    assert_eq!(weights(&back, held), [8_000, 2_000]);
}

#[test]
fn an_orphan_goes_to_known_good_revisions_before_unverified_ones() {
    // Blue-green after the switch lost every green instance: users go back to blue.
    let lanes = [
        lane(Role::Stable, 0, 0, 4),
        lane(Role::Target, 10_000, 10_000, 0),
    ];
    assert_eq!(weights(&lanes, rules(4)), [10_000, 0]);
}

#[test]
fn with_nothing_planned_left_the_policy_decides() {
    // Blue-green before the switch lost every blue instance; only green can serve.
    let lanes = [
        lane(Role::Stable, 10_000, 10_000, 0),
        lane(Role::Target, 0, 0, 4),
    ];
    let serve = shape(&lanes, rules(4));
    assert_eq!((serve.weights, serve.outage), (vec![0, 10_000], false));
    let stop = Rules {
        policy: EmergencyRouting::StopServing,
        ..rules(4)
    };
    let stopped = shape(&lanes, stop);
    assert_eq!((stopped.weights, stopped.outage), (vec![0, 0], true));
}

#[test]
fn a_first_table_goes_to_what_the_plan_wants() {
    let lanes = [lane(Role::Target, 0, 10_000, 1)];
    assert_eq!(weights(&lanes, rules(4)), [10_000]);
}

#[test]
fn an_orphan_is_spread_by_instances_and_adds_up() {
    let lanes = [
        lane(Role::Stable, 0, 0, 1),
        lane(Role::Standby, 0, 0, 2),
        lane(Role::Target, 10_000, 10_000, 0),
    ];
    assert_eq!(weights(&lanes, rules(0)), [3_333, 6_667, 0]);
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![
        Just(Role::Stable),
        Just(Role::Target),
        Just(Role::Standby),
        Just(Role::Superseded),
    ]
}

/// Lanes whose current and planned weights each add up to the whole (or current to
/// nothing: an empty table).
fn lanes() -> impl Strategy<Value = Vec<Lane>> {
    (1usize..5)
        .prop_flat_map(|n| {
            (
                proptest::collection::vec((role(), 0u32..6, 0u32..=FULL, 0u32..=FULL), n),
                any::<bool>(),
            )
        })
        .prop_map(|(raw, empty)| {
            let split = |values: Vec<u32>| {
                let total: u64 = values.iter().map(|v| u64::from(*v)).sum();
                let mut out: Vec<u32> = values
                    .iter()
                    .map(|v| {
                        let share = (u64::from(*v) * u64::from(FULL)).checked_div(total);
                        share.map_or(0, |bp| u32::try_from(bp).unwrap())
                    })
                    .collect();
                let left = FULL - out.iter().sum::<u32>();
                out[0] += left;
                out
            };
            let current = split(raw.iter().map(|r| r.2).collect());
            let planned = split(raw.iter().map(|r| r.3).collect());
            raw.iter()
                .enumerate()
                .map(|(i, (role, servable, _, _))| Lane {
                    role: *role,
                    // A weight only where the table could list the revision.
                    current: if empty { 0 } else { current[i] },
                    planned: planned[i],
                    servable: *servable,
                })
                .collect::<Vec<_>>()
        })
}

proptest! {
    #[test]
    fn shaped_weights_keep_every_rule(
        lanes in lanes(),
        floor in 0u32..8,
        held in any::<bool>(),
        gradual in any::<bool>(),
        stop in any::<bool>(),
    ) {
        let policy = if stop { EmergencyRouting::StopServing } else { EmergencyRouting::ServeAvailable };
        let shaped = shape(&lanes, Rules { floor, held, gradual, policy });
        let total: u32 = shaped.weights.iter().sum();
        let any_servable = lanes.iter().any(|l| l.servable > 0);
        // Invariant 1: the whole, or nothing when nothing can (or may) serve.
        if any_servable && !shaped.outage {
            prop_assert_eq!(total, FULL);
        } else {
            prop_assert_eq!(total, 0);
        }
        let orphaned = lanes.iter().any(|l| l.current > 0 && l.servable == 0)
            || lanes.iter().map(|l| l.current).sum::<u32>() < FULL;
        let planned = effective_plan(&lanes);
        let stable_serves = lanes.iter().any(|l| l.role == Role::Stable && l.servable > 0);
        let superseded_holds = lanes.iter().any(|l| l.role == Role::Superseded && l.current > 0 && l.servable > 0);
        for ((lane, weight), planned) in lanes.iter().zip(&shaped.weights).zip(planned) {
            let lane = &Lane { planned, ..*lane };
            if lane.role == Role::Target && stable_serves && superseded_holds {
                prop_assert!(*weight <= lane.current, "the target rose before the superseded share went back");
            }
            prop_assert!(lane.servable > 0 || *weight == 0, "weight without an instance");
            if *weight > lane.current && !orphaned {
                // Traffic never leaks, and a rise is carried.
                prop_assert!(
                    !held || matches!(lane.role, Role::Stable | Role::Standby),
                    "a held rollout raised {lane:?} to {weight}"
                );
                prop_assert!(*weight <= lane.planned, "{lane:?} raised past its plan to {weight}");
                prop_assert!(*weight <= capacity(lane.servable, floor), "{lane:?} raised past its capacity to {weight}");
                prop_assert!(gradual || *weight == lane.planned, "{lane:?} raised part of the way to {weight}");
            }
            if *weight > lane.planned.max(lane.current) {
                // Only an orphaned share goes beyond a plan, and never to an unverified
                // revision under StopServing.
                prop_assert!(orphaned);
                prop_assert!(!stop || matches!(lane.role, Role::Stable | Role::Standby));
            }
        }

    }
}
