//! Persistence: a `Rollout` is a versioned serde document. A document of another format
//! or with contradictory contents is refused with a [`RestoreError`] (carried in the
//! deserializer's error, whose message is the `RestoreError`'s), and a rollout saved at
//! any point and restored continues with exactly the actions of the original.

mod world;

use cutover::{
    Action, Duration, FORMAT_VERSION, Input, RestoreError, Rollout, RolloutSpec, SpecError,
    Timestamp,
};
use serde_json::{Value, json};
use world::{Command, Index, Move, World, counted_spec as spec, ready_fleet, round_trip};

/// A rollout of `v2` over three `v1` instances, mid-way: `v2-1` serves beside
/// `v1-old-1` and `v1-old-2`, and `v1-old-0` is draining (drain action #3 pending).
fn mid_rollout() -> Rollout {
    let mut world = World::new(spec(3, 1, 0), ready_fleet(3));
    world.step(&Move::Command(Command::Deploy(1)));
    world.step(&Move::ProvisionOk(Index(0)));
    world.health("v2-1", true);
    world.step(&Move::AckLatest);
    assert_eq!(world.drains.len(), 1, "v1-old-0 is draining");
    world.rollout
}

fn document() -> Value {
    serde_json::to_value(mid_rollout()).expect("serializes")
}

/// Restores `document`, which must be refused; returns the message.
fn refused(document: Value) -> String {
    match serde_json::from_value::<Rollout>(document) {
        Ok(rollout) => panic!(
            "restored a document that should be refused: {:#?}",
            rollout.status()
        ),
        Err(error) => error.to_string(),
    }
}

fn assert_refused_with(document: Value, expected: &RestoreError) {
    let message = refused(document);
    let wanted = match expected {
        // A contradiction is named by its field; the test names what it must say.
        RestoreError::Field { why, .. } => why.clone(),
        other => other.to_string(),
    };
    assert!(
        message.contains(&wanted),
        "expected {expected:?}, got: {message}"
    );
}

fn inconsistent(what: &str) -> RestoreError {
    RestoreError::Field {
        field: "",
        why: what.to_owned(),
    }
}

fn instance<'a>(document: &'a mut Value, id: &str) -> &'a mut Value {
    document["rollout"]["fleet"]["instances"]
        .as_array_mut()
        .expect("instances")
        .iter_mut()
        .find(|i| i["id"] == id)
        .unwrap_or_else(|| panic!("no instance {id}"))
}

// ----- the format -------------------------------------------------------------------

#[test]
fn a_document_carries_the_format_and_round_trips_exactly() {
    let rollout = mid_rollout();
    let text = serde_json::to_string(&rollout).unwrap();
    let value: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["format"], json!(FORMAT_VERSION));
    let restored: Rollout = serde_json::from_str(&text).unwrap();
    assert_eq!(restored, rollout);
    assert_eq!(
        serde_json::to_string(&restored).unwrap(),
        text,
        "the document is stable"
    );
}

#[test]
fn a_future_format_is_refused_as_unknown() {
    let mut doc = document();
    doc["format"] = json!(FORMAT_VERSION + 1);
    let expected = RestoreError::UnknownFormat {
        found: FORMAT_VERSION + 1,
        supported: FORMAT_VERSION,
    };
    assert_refused_with(doc, &expected);
}

#[test]
fn a_future_format_is_refused_before_its_body_is_read() {
    // A body this version cannot read at all: the format is what is reported.
    let doc = json!({ "format": FORMAT_VERSION + 1, "rollout": { "something": ["new"] } });
    let expected = RestoreError::UnknownFormat {
        found: FORMAT_VERSION + 1,
        supported: FORMAT_VERSION,
    };
    assert_refused_with(doc, &expected);
}

#[test]
fn a_future_format_is_refused_wherever_the_key_is() {
    let body = document()["rollout"].clone();
    let text = format!("{{\"rollout\": {body}, \"format\": 7}}");
    let message = serde_json::from_str::<Rollout>(&text)
        .unwrap_err()
        .to_string();
    let expected = RestoreError::UnknownFormat {
        found: 7,
        supported: FORMAT_VERSION,
    };
    assert!(message.contains(&expected.to_string()), "{message}");
}

#[test]
fn format_zero_and_a_missing_format_are_refused() {
    let mut doc = document();
    doc["format"] = json!(0);
    let expected = RestoreError::UnknownFormat {
        found: 0,
        supported: FORMAT_VERSION,
    };
    assert_refused_with(doc, &expected);

    let mut doc = document();
    doc.as_object_mut().unwrap().remove("format");
    assert!(refused(doc).contains("format"));

    let mut doc = document();
    doc["comment"] = json!("hand edited");
    assert!(refused(doc).contains("comment"));
}

// ----- inconsistent contents --------------------------------------------------------

#[test]
fn an_instance_in_the_table_but_not_in_the_fleet_is_refused() {
    let mut doc = document();
    let instances = doc["rollout"]["fleet"]["instances"].as_array_mut().unwrap();
    instances.retain(|i| i["id"] != "v2-1");
    assert_refused_with(
        doc,
        &inconsistent("instance v2-1 is in the table but not in the fleet"),
    );
}

#[test]
fn a_retiring_instance_that_is_not_draining_is_refused() {
    let mut doc = document();
    let old = instance(&mut doc, "v1-old-0");
    old["state"] = json!("ready");
    old["ready_since"] = json!(0);
    old["available"] = json!(true);
    assert_refused_with(doc, &inconsistent("is Some(Ready) in the fleet"));
}

#[test]
fn an_acknowledged_generation_ahead_of_the_published_one_is_refused() {
    let mut doc = document();
    doc["rollout"]["rotation"]["acknowledged"] = json!(5);
    assert_refused_with(
        doc,
        &inconsistent("acknowledged generation 5 is ahead of the published 1"),
    );
}

#[test]
fn a_pending_action_for_an_unknown_instance_is_refused() {
    let mut doc = document();
    doc["rollout"]["pending"]["3"] = json!({ "kind": "drain", "instance": "ghost" });
    assert_refused_with(
        doc,
        &inconsistent("action #3 is for unknown instance ghost"),
    );
}

#[test]
fn an_in_flight_phase_without_a_target_is_refused() {
    let mut doc = document();
    doc["rollout"]["target"] = Value::Null;
    assert_refused_with(
        doc,
        &inconsistent("phase progressing does not fit target None"),
    );
}

#[test]
fn a_terminal_phase_with_a_target_is_refused() {
    let mut doc = document();
    doc["rollout"]["phase"] = json!({ "phase": "completed" });
    assert_refused_with(
        doc,
        &inconsistent("phase completed does not fit target Some(Revision(\"v2\"))"),
    );
}

#[test]
fn an_instance_listed_under_another_revision_is_refused() {
    let mut doc = document();
    instance(&mut doc, "v2-1")["revision"] = json!("v1");
    assert_refused_with(
        doc,
        &inconsistent("instance v2-1 is listed under v2 but runs v1"),
    );
}

/// Derived state is not stored: a document that carries it (as format 1 did) is
/// refused by name.
#[test]
fn derived_state_in_a_format_2_document_is_refused() {
    for field in ["drain_deadlines", "limits", "dirty"] {
        let mut doc = document();
        doc["rollout"][field] = json!([]);
        let message = refused(doc);
        assert!(
            message.contains(&format!("unknown field `{field}`")),
            "{message}"
        );
    }
}

#[test]
fn a_draining_instance_nobody_removes_is_refused() {
    let mut doc = document();
    doc["rollout"]["retiring"] = json!({});
    assert_refused_with(
        doc,
        &inconsistent("instance v1-old-0 is draining but not being removed"),
    );
}

#[test]
fn a_pending_action_id_from_the_future_is_refused() {
    let mut doc = document();
    doc["rollout"]["next_action"] = json!(2);
    assert_refused_with(
        doc,
        &inconsistent("2 is not above action #3, already issued"),
    );
}

#[test]
fn a_rotation_change_outside_the_unacknowledged_range_is_refused() {
    let mut doc = document();
    doc["rollout"]["rotation"]["joining"] = json!({ "1": ["v2-1"] });
    assert_refused_with(
        doc,
        &inconsistent("a rotation change at generation 1 is outside the unacknowledged range"),
    );
}

#[test]
fn a_fleet_min_ready_that_disagrees_with_the_spec_is_refused() {
    let mut doc = document();
    doc["rollout"]["fleet"]["min_ready"] = json!("5s");
    let message = refused(doc);
    assert!(
        message.contains("rollout document field rollout.fleet.min_ready"),
        "{message}"
    );
}

#[test]
fn an_invalid_spec_is_refused_with_the_spec_error() {
    let mut doc = document();
    doc["rollout"]["spec"]["desired"] = json!(0);
    assert_refused_with(doc, &RestoreError::Spec(SpecError::ZeroDesired));
}

#[test]
fn an_invalid_table_or_fleet_is_refused() {
    let mut doc = document();
    doc["rollout"]["rotation"]["published"]["revisions"][0]["weight"] = json!(5_000);
    assert!(refused(doc).contains("add up to"));

    let mut doc = document();
    let copy = instance(&mut doc, "v2-1").clone();
    doc["rollout"]["fleet"]["instances"]
        .as_array_mut()
        .unwrap()
        .push(copy);
    assert!(refused(doc).contains("listed twice"));
}

// ----- contradictions the restore check lets through --------------------------------
//
// Each of these documents contradicts itself, and a rollout restored from it breaks an
// invariant or never finishes; each should be refused as inconsistent.

/// Restores `document`, which should be refused as inconsistent; the message names
/// what the test expects it to name.
fn assert_inconsistent(document: Value, naming: &str) {
    let message = refused(document);
    assert!(message.contains("rollout document field"), "{message}");
    assert!(message.contains(naming), "{message}");
}

/// Restored, the table routes to an instance that is not ready (invariant 1).
#[test]
fn an_instance_in_the_table_that_is_not_ready_is_refused() {
    let mut doc = document();
    let listed = instance(&mut doc, "v2-1");
    listed["state"] = json!("starting");
    listed["ready_since"] = Value::Null;
    listed["available"] = json!(false);
    assert_inconsistent(doc, "v2-1");
}

/// Restored, `Drained { action: #2 }` makes the rollout terminate `v2-1`, which is in
/// the table and serving (invariant 2).
#[test]
fn a_pending_drain_for_an_instance_not_being_drained_is_refused() {
    let mut doc = document();
    doc["rollout"]["pending"]["2"] = json!({ "kind": "drain", "instance": "v2-1" });
    assert_inconsistent(doc, "v2-1");
}

/// Restored, `Provisioned { action: #2 }` turns the serving `v2-1` back to starting
/// while the table keeps routing to it (invariants 1 and 2).
#[test]
fn a_pending_provision_for_an_existing_instance_is_refused() {
    let mut doc = document();
    doc["rollout"]["pending"]["2"] = json!({ "kind": "provision", "instance": "v2-1" });
    assert_inconsistent(doc, "v2-1");
}

/// Restored, nothing can ever answer for `v2-9`: it holds a place among the new
/// replicas, and once retired it waits for a provision result forever, so the rollout
/// never completes.
#[test]
fn a_provisioning_instance_without_a_pending_provision_is_refused() {
    let mut doc = document();
    let ghost = json!({
        "id": "v2-9", "revision": "v2", "state": "provisioning",
        "ready_since": null, "available": false, "in_rotation": false
    });
    doc["rollout"]["fleet"]["instances"]
        .as_array_mut()
        .unwrap()
        .push(ghost);
    assert_inconsistent(doc, "v2-9");
}

/// Restored, a retiring instance stays listed (and is routed to) although the engine
/// only removes instances from the table when they change.
#[test]
fn a_retiring_instance_still_in_the_table_is_refused() {
    let mut doc = document();
    instance(&mut doc, "v1-old-1")["state"] = json!("draining");
    doc["rollout"]["retiring"]["v1-old-1"] = json!("await_exit");
    assert_inconsistent(doc, "v1-old-1");
}

/// Restored, `v1-old-0` says it is terminating by action #3, but #3 is a drain: the
/// drain's answer terminates it a second time.
#[test]
fn a_retire_stage_that_disagrees_with_its_pending_action_is_refused() {
    let mut doc = document();
    doc["rollout"]["retiring"]["v1-old-0"] = json!({ "terminating": { "action": 3 } });
    assert_inconsistent(doc, "v1-old-0");
}

/// Restored, the fleet counts three `v1` instances in rotation where the table lists two.
#[test]
fn an_instance_in_rotation_that_no_table_lists_is_refused() {
    let mut doc = document();
    instance(&mut doc, "v1-old-0")["in_rotation"] = json!(true);
    assert_inconsistent(doc, "v1-old-0");
}

// ----- continuing identically -------------------------------------------------------

/// A full rolling update of four instances, scripted: a provision failure and its
/// backoff, a health flap, `min_ready`, a drain that times out, then honest answers
/// until the rollout rests. Returns the moves made.
fn script() -> (RolloutSpec, Vec<Move>) {
    let spec = RolloutSpec {
        min_ready: Duration::from_secs(2),
        drain_timeout: Duration::from_secs(5),
        ..spec(4, 1, 1)
    };
    let mut world = World::new(spec.clone(), ready_fleet(4));
    for mv in [
        Move::Command(Command::Deploy(1)),
        Move::ProvisionFail(Index(0)),
        Move::AckLatest,
        Move::ToNextTimeout,
        Move::ProvisionOk(Index(0)),
        Move::ProvisionOk(Index(0)),
        Move::Health(Index(0), true),
        Move::Health(Index(0), false),
        Move::Advance(1_000),
        Move::ToNextTimeout,
    ] {
        world.play(&mv);
    }
    // Let one drain time out, then answer everything honestly.
    if !world.drains.is_empty() {
        world.step(&Move::Advance(5_000));
    }
    world.settle_and_check_rest(200);
    assert_eq!(world.rollout.phase(), &cutover::Phase::Completed);
    (spec, world.log)
}

#[test]
fn a_rollout_restored_at_any_step_continues_identically() {
    let (spec, moves) = script();
    assert!(
        moves.len() >= 30,
        "the script is a whole rollout ({} moves)",
        moves.len()
    );
    let fresh = || {
        let mut world = World::new(spec.clone(), ready_fleet(4));
        world.round_trip_each_step = false;
        world
    };
    let mut reference = fresh();
    let expected: Vec<_> = moves.iter().map(|m| reference.step(m)).collect();
    for cut in 0..=moves.len() {
        let mut original = fresh();
        for m in &moves[..cut] {
            original.step(m);
        }
        let mut restored = original.clone();
        restored.rollout = round_trip(&original.rollout);
        assert_eq!(restored.rollout, original.rollout, "restored at step {cut}");
        for (k, m) in moves.iter().enumerate().skip(cut) {
            let a = original.step(m);
            let b = restored.step(m);
            assert_eq!(a, b, "restored at step {cut}, step {k} differs");
            assert_eq!(
                a, expected[k],
                "restored at step {cut}, step {k} differs from an uninterrupted run"
            );
        }
    }
}

#[test]
fn a_rollout_saved_chained_after_every_step_continues_identically() {
    let (spec, moves) = script();
    let mut world = World::new(spec.clone(), ready_fleet(4));
    let mut reference = World::new(spec, ready_fleet(4));
    for m in &moves {
        world.rollout = round_trip(&world.rollout);
        assert_eq!(world.step(m), reference.step(m));
    }
}

#[test]
fn outputs_not_yet_polled_are_saved_and_restored() {
    let mut rollout = Rollout::new(Timestamp::ZERO, spec(3, 1, 0), ready_fleet(3)).unwrap();
    rollout.deploy(Timestamp::ZERO, "v2").unwrap();
    let mut restored = round_trip(&rollout);
    let drain = |r: &mut Rollout| {
        let actions: Vec<Action> = std::iter::from_fn(|| r.poll_action()).collect();
        let events: Vec<_> = std::iter::from_fn(|| r.poll_event()).collect();
        (actions, events)
    };
    let (actions, events) = drain(&mut rollout);
    assert!(!actions.is_empty() && !events.is_empty());
    assert_eq!(drain(&mut restored), (actions.clone(), events));
    // And both take the same answer the same way.
    let Action::Provision { id, .. } = &actions[0] else {
        panic!("deploy provisions first: {actions:?}")
    };
    rollout.handle_input(
        Timestamp::from_millis(5),
        Input::Provisioned { action: *id },
    );
    restored.handle_input(
        Timestamp::from_millis(5),
        Input::Provisioned { action: *id },
    );
    assert_eq!(drain(&mut rollout), drain(&mut restored));
    assert_eq!(rollout, restored);
}

// ----- mangled documents ------------------------------------------------------------

/// Every document along the scripted rollout.
fn documents() -> Vec<Value> {
    let (spec, moves) = script();
    let mut world = World::new(spec, ready_fleet(4));
    world.round_trip_each_step = false;
    let mut documents = vec![serde_json::to_value(&world.rollout).unwrap()];
    for m in &moves {
        world.step(m);
        documents.push(serde_json::to_value(&world.rollout).unwrap());
    }
    documents
}

/// The paths of every node of `value` (object keys and array indexes).
fn paths(value: &Value, prefix: &mut Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    out.push(prefix.clone());
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                prefix.push(PathStep::Key(key.clone()));
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                prefix.push(PathStep::At(i));
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum PathStep {
    Key(String),
    At(usize),
}

fn node<'a>(value: &'a mut Value, path: &[PathStep]) -> &'a mut Value {
    path.iter().fold(value, |v, step| match step {
        PathStep::Key(k) => &mut v[k.as_str()],
        PathStep::At(i) => &mut v[*i],
    })
}

/// Values a corrupted or hand-edited document might hold.
fn replacements() -> Vec<Value> {
    vec![
        Value::Null,
        json!(0),
        json!(1),
        json!(2),
        json!(3),
        json!(7),
        json!(u64::MAX),
        json!(-1),
        json!(true),
        json!(""),
        json!("v1"),
        json!("v2"),
        json!("v2-1"),
        json!("v1-old-0"),
        json!("ghost"),
        json!("ready"),
        json!("draining"),
        json!("provisioning"),
        json!("await_exit"),
        json!({ "phase": "completed" }),
        json!({ "phase": "halted", "reason": { "kind": "provision_failed", "failures": 1, "last_error": "x" } }),
        json!({ "kind": "drain", "instance": "v2-1" }),
        json!({ "terminating": { "action": 1 } }),
        json!([]),
        json!({}),
    ]
}

/// Feeds a restored rollout every kind of input and command; none may panic, and the
/// engine must never report an internal error.
fn exercise(mut rollout: Rollout) {
    let status = rollout.status();
    let now = rollout.now();
    let later = Timestamp::from_millis(now.as_millis().saturating_add(60_000));
    let ids: Vec<cutover::InstanceId> = rollout.fleet().iter().map(|i| i.id.clone()).collect();
    let mut inputs = Vec::new();
    for action in 0..12 {
        let action = cutover::ActionId(action);
        inputs.push(Input::Provisioned { action });
        inputs.push(Input::Drained { action });
        inputs.push(Input::Terminated { action });
        inputs.push(Input::ProvisionFailed {
            action,
            reason: "x".into(),
        });
    }
    let published = status.traffic_generation;
    for generation in [
        0,
        1,
        2,
        published.saturating_sub(1),
        published,
        published.saturating_add(1),
    ] {
        inputs.push(Input::TrafficApplied { generation });
    }
    for id in &ids {
        inputs.push(Input::Health {
            instance: id.clone(),
            healthy: true,
        });
    }
    rollout.handle_timeout(later);
    for input in inputs {
        rollout.handle_input(later, input);
    }
    for id in ids {
        rollout.handle_input(
            later,
            Input::Health {
                instance: id.clone(),
                healthy: false,
            },
        );
        rollout.handle_input(
            later,
            Input::InstanceLost {
                instance: id,
                reason: "x".into(),
            },
        );
    }
    let _ = rollout.deploy(later, "v3");
    let _ = rollout.abort(later);
    let _ = rollout.retry(later);
    let _ = rollout.rollback(later);
    rollout.handle_timeout(Timestamp::from_millis(u64::MAX));
    let _ = rollout.status();
    while rollout.poll_action().is_some() {}
    while let Some(event) = rollout.poll_event() {
        assert!(
            !matches!(event.kind, cutover::EventKind::InternalError { .. }),
            "a restored rollout hit an internal error: {event}"
        );
    }
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config {
        cases: 1_024,
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    })]

    /// Invariant 7 for state documents: a document with one value replaced (or removed)
    /// is refused, or restores into a rollout that takes every input without panicking.
    #[test]
    fn a_mangled_document_is_refused_or_runs_without_panicking(
        which in 0usize..1_000,
        at in 0usize..100_000,
        replacement in 0usize..100,
        remove in proptest::bool::weighted(0.2),
    ) {
        let documents = documents_cached();
        let mut doc = documents[which % documents.len()].clone();
        let mut all = Vec::new();
        paths(&doc, &mut Vec::new(), &mut all);
        let path = &all[1 + at % (all.len() - 1)];
        let (last, parent) = path.split_last().expect("not the root");
        // Counters at their maximum overflow: see `exhausted_counters_are_refused_*`.
        let counter = matches!(last, PathStep::Key(k) if ["next_action", "next_instance", "generation"].contains(&k.as_str()));
        let target = node(&mut doc, parent);
        match (remove, last, target) {
            (true, PathStep::Key(k), Value::Object(map)) => { map.remove(k); }
            (true, PathStep::At(i), Value::Array(items)) => { items.remove(*i); }
            (_, _, target) => {
                // Mostly a value of the same JSON type, so that more documents parse.
                let slot = node(target, std::slice::from_ref(last));
                let kind = |v: &Value| std::mem::discriminant(v);
                let pool: Vec<Value> = replacements().into_iter().filter(|v| kind(v) == kind(slot)).collect();
                let pool = if pool.is_empty() || replacement % 5 == 0 { replacements() } else { pool };
                let value = pool[replacement % pool.len()].clone();
                proptest::prop_assume!(!(counter && value == json!(u64::MAX)));
                *slot = value;
            }
        }
        if let Ok(rollout) = serde_json::from_value::<Rollout>(doc) {
            exercise(rollout);
        }
    }
}

fn documents_cached() -> &'static [Value] {
    static DOCUMENTS: std::sync::OnceLock<Vec<Value>> = std::sync::OnceLock::new();
    DOCUMENTS.get_or_init(documents)
}

/// A document whose `field` (a counter the engine increments) is at `u64::MAX` must be
/// refused or run; it restores, and the next increment overflows (a panic in debug
/// builds; in release the counter wraps to 0 and ids or generations repeat).
fn exhausted_counter(set: impl FnOnce(&mut Value)) {
    let mut doc = document();
    set(&mut doc);
    if let Ok(rollout) = serde_json::from_value::<Rollout>(doc) {
        exercise(rollout);
    }
}

#[test]
fn exhausted_counters_are_refused_next_action() {
    exhausted_counter(|doc| doc["rollout"]["next_action"] = json!(u64::MAX));
}

#[test]
fn exhausted_counters_are_refused_next_instance() {
    exhausted_counter(|doc| doc["rollout"]["next_instance"] = json!(u64::MAX));
}

#[test]
fn exhausted_counters_are_refused_generation() {
    exhausted_counter(|doc| {
        doc["rollout"]["rotation"]["published"]["generation"] = json!(u64::MAX);
        doc["rollout"]["rotation"]["acknowledged"] = json!(u64::MAX);
    });
}

/// An instance dropped from the document, whatever references it or not, is noticed:
/// restored, the rollout would replace it and leak the real one.
#[test]
fn an_instance_dropped_from_the_document_is_refused() {
    let count = document()["rollout"]["fleet"]["instances"]
        .as_array()
        .unwrap()
        .len();
    for k in 0..count {
        let mut doc = document();
        doc["rollout"]["fleet"]["instances"]
            .as_array_mut()
            .unwrap()
            .remove(k);
        let message = refused(doc);
        assert!(message.contains("rollout document field"), "{message}");
    }
}

/// Each of the corrupting edits to a mid-rollout document, refused by name.
#[test]
fn corrupting_edits_are_refused_naming_the_field() {
    type Edit = fn(&mut Value);
    let cases: [(&str, Edit); 5] = [
        ("rollout.fleet.min_ready", |d| {
            d["rollout"]["fleet"]["min_ready"] = json!("1s")
        }),
        ("rollout.rotation", |d| {
            let g = d["rollout"]["rotation"]["published"]["generation"]
                .as_u64()
                .unwrap();
            d["rollout"]["rotation"]["published"]["generation"] = json!(g + 3);
        }),
        ("rollout.next_action", |d| {
            d["rollout"]["next_action"] = json!(1)
        }),
        ("rollout.rotation.published", |d| {
            // v2-1 serves; take it out of the table: ready and available, never listed.
            let revisions = d["rollout"]["rotation"]["published"]["revisions"]
                .as_array_mut()
                .unwrap();
            revisions.retain(|r| r["revision"] != json!("v2"));
            let total: u64 = revisions
                .iter()
                .map(|r| r["weight"].as_u64().unwrap())
                .sum();
            if let Some(first) = revisions.first_mut() {
                first["weight"] = json!(first["weight"].as_u64().unwrap() + 10_000 - total);
            }
        }),
        ("unknown field", |d| d["rollout"]["surprise"] = json!(1)),
    ];
    for (field, edit) in cases {
        let mut doc = document();
        edit(&mut doc);
        let message = refused(doc);
        assert!(message.contains(field), "{field}: {message}");
    }
}

/// The queued actions of a document are checked against the state: a queued drain of
/// an instance still in the table, or a termination of a serving one, is refused.
#[test]
fn queued_actions_that_do_not_match_the_state_are_refused() {
    let rollout = mid_rollout();
    let mut doc = serde_json::to_value(&rollout).unwrap();
    doc["rollout"]["actions"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "action": "terminate", "id": 1, "instance": "v1-old-1" }));
    let message = refused(doc);
    assert!(message.contains("rollout.actions"), "{message}");
}

/// Dropping the `leaving` entries of an unacknowledged removal would leave the instance
/// waiting for an acknowledgement that can no longer free it: refused.
#[test]
fn dropped_leaving_entries_are_refused() {
    let mut world = World::new(spec(3, 1, 0), ready_fleet(3));
    world.step(&Move::Command(Command::Deploy(1)));
    world.step(&Move::ProvisionOk(Index(0)));
    world.health("v2-1", true);
    // The table that takes a v1 instance out is published, not acknowledged.
    let mut doc = serde_json::to_value(&world.rollout).unwrap();
    let leaving = doc["rollout"]["rotation"]["leaving"]
        .as_object()
        .unwrap()
        .len();
    assert!(leaving > 0, "a removal waits for its acknowledgement");
    doc["rollout"]["rotation"]["leaving"] = json!({});
    let message = refused(doc.clone());
    assert!(message.contains("rollout document field"), "{message}");
    // And with the instance's own record edited to match: the stuck retirement itself.
    let retiring: Vec<String> = doc["rollout"]["retiring"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    for id in &retiring {
        instance(&mut doc, id)["in_rotation"] = json!(false);
    }
    let message = refused(doc);
    assert!(message.contains("rollout.retiring"), "{message}");
}
