//! Traffic never leaks (DESIGN.md, invariant 5): a fault never raises a revision above
//! the weight its plan gives it. One scenario per reproduction of issue 19, each of which
//! leaked on the engine that spilled a degraded revision's share onto whatever had room.
//! Every call goes through the one test world, which checks every invariant after each
//! step.

mod world;

use std::collections::BTreeMap;

use cutover::spec::{CanaryStep, Checks, HookSpec, Promotion, Quantity};
use cutover::strategy::StepKind;
use cutover::{Duration, EventKind, Revision, Router, Weight};
use world::{World, blue_green, canary, fleet};

fn percent(p: u64) -> Weight {
    Weight::from_percent(p).unwrap()
}

fn smoke_hook() -> Checks {
    Checks {
        hooks: vec![HookSpec::new("smoke", Duration::from_mins(60))],
        analysis: None,
    }
}

/// Blue-green of four behind a pre-promotion hook nobody answers: the rollout waits in
/// the checks, green complete and in the table at weight 0.
fn blue_green_waiting_in_its_checks() -> World {
    let spec = blue_green(4, |s| s.pre_promotion = smoke_hook());
    let mut world = World::new(spec, fleet("v1", 4));
    world.deploy("v2").unwrap();
    world.round_until_step(StepKind::PrePromotion, 20);
    world.drive(20);
    assert!(
        world.hooks.values().any(|h| h == "smoke"),
        "the smoke hook is out"
    );
    assert_eq!(world.step_kind(), Some(StepKind::PrePromotion));
    world
}

/// The most basis points `revision` held in any table published so far.
fn most(world: &World, revision: &str) -> u16 {
    world.weights(revision).into_iter().max().unwrap_or(0)
}

#[test]
fn a_blue_fault_before_the_switch_gives_green_no_user_traffic() {
    let mut world = blue_green_waiting_in_its_checks();
    world.sick.insert("v1-old-0".into());
    world.health("v1-old-0", false);
    world.round();
    assert_eq!(
        world.lb_count("v1"),
        3,
        "the sick blue instance left rotation"
    );
    assert_eq!(
        most(&world, "v2"),
        0,
        "green was given user traffic before its checks passed: {:?}",
        world.weights("v2")
    );
    // Blue runs hot instead, and says so.
    assert_eq!(world.rollout.traffic().weight(&"v1".into()), Weight::FULL);
    assert!(
        world.saw(|e| matches!(e, EventKind::TrafficShortfall { short } if short.len() == 1)),
        "the shortfall is reported"
    );
    let shortfall = world.rollout.status().shortfall;
    assert_eq!(shortfall.len(), 1);
    assert_eq!((shortfall[0].instances, shortfall[0].needed), (3, 4));
}

#[test]
fn sticky_users_stay_on_blue_through_a_blue_fault() {
    let mut world = blue_green_waiting_in_its_checks();
    let keys: Vec<String> = (0..2_000).map(|i| format!("user-{i}")).collect();
    let route = |world: &World| -> BTreeMap<String, Revision> {
        let router = Router::new(world.lb());
        keys.iter()
            .map(|k| {
                let decision = router.route_sticky(k.as_bytes()).expect("a revision");
                (k.clone(), decision.revision().clone())
            })
            .collect()
    };
    let before = route(&world);
    world.sick.insert("v1-old-0".into());
    world.health("v1-old-0", false);
    world.round();
    let during = route(&world);
    world.sick.clear();
    world.drive(20);
    let after = route(&world);
    let flapped = keys
        .iter()
        .filter(|k| before[*k] != during[*k] || during[*k] != after[*k])
        .count();
    assert_eq!(flapped, 0, "users moved between blue and green by a fault");
}

#[test]
fn a_stable_fault_never_lifts_a_canary_past_its_step() {
    let steps = vec![
        CanaryStep::SetWeight(percent(5)),
        CanaryStep::Pause { duration: None },
    ];
    let spec = canary(10, steps, |c| c.max_unavailable = Quantity::Count(0));
    let mut world = World::new(spec, fleet("v1", 10));
    world.deploy("v2").unwrap();
    world.drive(20);
    assert_eq!(world.rollout.traffic().weight(&"v2".into()), percent(5));
    for i in 0..5 {
        let id = format!("v1-old-{i}");
        world.sick.insert(id.as_str().into());
        world.health(&id, false);
    }
    world.round();
    assert_eq!(world.lb_count("v1"), 5);
    assert_eq!(
        most(&world, "v2"),
        500,
        "the canary at 5% carried more: {:?}",
        world.weights("v2")
    );
}

#[test]
fn a_resize_while_green_waits_for_promotion_gives_green_no_user_traffic() {
    let spec = blue_green(4, |s| s.promotion = Promotion::Manual);
    let mut world = World::new(spec, fleet("v1", 4));
    world.deploy("v2").unwrap();
    world.round_until_step(StepKind::Promotion, 20);
    world.drive(20);
    assert_eq!(world.step_kind(), Some(StepKind::Promotion));
    world.scale(5).unwrap();
    world.drive(20);
    assert_eq!(
        most(&world, "v2"),
        0,
        "green reached users before anyone promoted it: {:?}",
        world.weights("v2")
    );
    world.promote().unwrap();
    world.drive(40);
    assert_eq!(world.rollout.traffic().weight(&"v2".into()), Weight::FULL);
}

#[test]
fn a_new_canary_gets_weight_only_once_the_superseded_one_has_none() {
    let steps = || {
        vec![
            CanaryStep::SetWeight(percent(25)),
            CanaryStep::Pause { duration: None },
        ]
    };
    let spec = canary(4, steps(), |c| c.max_unavailable = Quantity::Count(0));
    let mut world = World::new(spec, fleet("v1", 4));
    world.deploy("v5").unwrap();
    world.drive(20);
    assert_eq!(world.rollout.traffic().weight(&"v5".into()), percent(25));
    // Stable falls short of its floor.
    for i in 0..2 {
        let id = format!("v1-old-{i}");
        world.sick.insert(id.as_str().into());
        world.health(&id, false);
    }
    world.round();
    world.deploy("v6").unwrap();
    world.round();
    world.round();
    world.sick.clear();
    world.drive(40);
    for (generation, table) in &world.tables {
        let old = table.weight(&"v5".into());
        let new = table.weight(&"v6".into());
        assert!(
            old.is_zero() || new.is_zero(),
            "generation {generation}: the new canary has {new} while the superseded one still has {old}"
        );
    }
    assert_eq!(world.rollout.traffic().weight(&"v6".into()), percent(25));
}
