//! The core's rules exercised with plans no built-in strategy makes yet: explicit
//! weights, routes and mirrors (blue-green's and canary's intents), and plans that ask
//! for more than the envelope allows.

use crate::input::Input;
use crate::model::Instance;
use crate::output::{Action, EventKind};
use crate::rollout::core::{Adoption, Core};
use crate::rollout::phase::PauseReason;
use crate::rollout::stage::{Flight, Hold, Stage};
use crate::spec::{Quantity, RollingSpec, RolloutSpec, StrategySpec};
use crate::strategy::{ExplicitTraffic, Mode, PerRole, Plan, Role, StepProgress, TrafficIntent};
use crate::time::Timestamp;
use crate::traffic::{MatchCondition, TableChange, Weight};

/// 3 `v1` instances serving at rest (3, surge 1, unavailable 0: floor 3, peak 4); then
/// a rollout of `v2` paused by a step (so it acts on its plan) whose 2 instances are
/// ready and available, not yet listed. The tests hand the core intents directly.
fn two_revisions() -> Core {
    let spec = RolloutSpec {
        desired: 3,
        strategy: StrategySpec::Rolling(RollingSpec {
            max_surge: Quantity::Count(1),
            max_unavailable: Quantity::Count(0),
        }),
        ..RolloutSpec::default()
    };
    let fleet = ["a", "b", "c"].map(|i| Instance::serving(format!("v1-{i}"), "v1"));
    let mut core = Core::new(Timestamp::ZERO, spec, fleet.into(), Adoption::default()).unwrap();
    let mut flight = Flight::new("v2".into(), Timestamp::ZERO, false);
    flight.hold = Hold::Paused(PauseReason::Step { until: None });
    core.stage = Stage::InFlight(flight);
    for i in ["d", "e"] {
        let mut instance = Instance::serving(format!("v2-{i}"), "v2");
        instance.in_rotation = false;
        core.dirty.insert(instance.id.clone());
        core.fleet.insert(Timestamp::ZERO, instance).unwrap();
    }
    core.actions.clear();
    core.events.clear();
    core
}

fn split(stable: u16, target: u16) -> ExplicitTraffic {
    let bp = |n: u16| Weight::from_basis_points(u64::from(n)).unwrap();
    let weights = PerRole {
        stable: bp(stable),
        target: bp(target),
        ..PerRole::default()
    };
    ExplicitTraffic {
        weights,
        routes: Vec::new(),
        mirror: None,
        gradual: true,
    }
}

fn updates(core: &mut Core) -> Vec<Vec<TableChange>> {
    core.actions
        .drain(..)
        .filter_map(|a| match a {
            Action::UpdateTraffic { diff, .. } => Some(diff.changes),
            _ => None,
        })
        .collect()
}

#[test]
fn weight_only_changes_are_published_and_a_weight_0_revision_stays_listed() {
    let mut core = two_revisions();
    core.flush(&TrafficIntent::Explicit(split(10_000, 0)));
    assert_eq!(updates(&mut core).len(), 1);
    let table = &core.rotation.published;
    assert_eq!(table.weight(&"v1".into()), Weight::FULL);
    assert_eq!(
        table.backend(&"v2".into()).map(|b| b.instance_count()),
        Some(2),
        "v2 is listed at weight 0 (a preview route could reach it)"
    );
    core.flush(&TrafficIntent::Explicit(split(10_000, 0)));
    assert!(
        updates(&mut core).is_empty(),
        "nothing changed, nothing published"
    );
    core.flush(&TrafficIntent::Explicit(split(5_000, 5_000)));
    let changes = updates(&mut core);
    assert_eq!(changes.len(), 1, "a weight-only update is published");
    assert!(
        changes[0]
            .iter()
            .all(|c| matches!(c, TableChange::SetWeight { .. }))
    );
    assert_eq!(
        core.rotation.published.weight(&"v2".into()).basis_points(),
        5_000
    );
}

#[test]
fn explicit_weights_follow_capacity() {
    let mut core = two_revisions();
    // v2 asks for everything, but 2 instances carry 2/3 of a floor of 3.
    core.flush(&TrafficIntent::Explicit(split(0, 10_000)));
    updates(&mut core);
    let table = &core.rotation.published;
    assert_eq!(table.weight(&"v2".into()).basis_points(), 6_666);
    assert_eq!(table.weight(&"v1".into()).basis_points(), 3_334);
}

#[test]
fn a_route_to_a_revision_losing_its_last_instance_is_dropped_in_the_same_update() {
    let mut core = two_revisions();
    let mut intent = split(10_000, 0);
    intent.routes = vec![(MatchCondition::header_equals("x-canary", "1"), Role::Target)];
    intent.mirror = Some((Role::Target, Weight::from_basis_points(500).unwrap()));
    core.flush(&TrafficIntent::Explicit(intent.clone()));
    assert_eq!(core.rotation.published.routes().len(), 1);
    assert!(core.rotation.published.mirror().is_some());
    updates(&mut core);
    // Both v2 instances fail: the update that removes them drops the route and mirror.
    for id in ["v2-d", "v2-e"] {
        core.handle_input(Input::Health {
            instance: id.into(),
            healthy: false,
        });
    }
    core.flush(&TrafficIntent::Explicit(intent));
    let changes = updates(&mut core);
    assert_eq!(changes.len(), 1, "{changes:?}");
    let change = &changes[0];
    assert!(
        change
            .iter()
            .any(|c| matches!(c, TableChange::RemoveInstance { .. }))
    );
    assert!(
        change
            .iter()
            .any(|c| matches!(c, TableChange::SetRoutes { routes } if routes.is_empty()))
    );
    assert!(
        change
            .iter()
            .any(|c| matches!(c, TableChange::SetMirror { mirror: None }))
    );
    assert!(core.rotation.published.backend(&"v2".into()).is_none());
}

#[test]
fn a_plan_asking_for_too_much_gets_the_safe_part_and_an_event() {
    let mut core = two_revisions();
    // Everything at once: 10 more v2, no v1 at all.
    let plan = Plan {
        wanted: PerRole {
            target: 12,
            ..PerRole::default()
        },
        traffic: TrafficIntent::Proportional,
        step: StepProgress::default(),
        wake_at: None,
    };
    let view = core.fleet_view();
    core.execute(&plan, &view, Mode::Rollout);
    let provisions = core
        .actions
        .iter()
        .filter(|a| matches!(a, Action::Provision { .. }))
        .count();
    // 5 live of a peak of 4: no room to add; removals stop at the floor of 3.
    assert_eq!(provisions, 0);
    assert!(core.fleet.total().available >= 3);
    let held = core.events.iter().find_map(|e| match &e.kind {
        EventKind::EnvelopeHeldBack { held } => Some(*held),
        _ => None,
    });
    let held = held.expect("the envelope says what it held back");
    assert_eq!(held.scale_up, 10);
    assert!(held.scale_down > 0);
    // Asking the same again is not news.
    core.events.clear();
    let view = core.fleet_view();
    core.execute(&plan, &view, Mode::Rollout);
    assert!(core.events.is_empty(), "{:?}", core.events);
}
