//! Persistence: every field of saved documents mangled, dropped or exhausted: each is
//! refused naming the field, or restores to a rollout that keeps every invariant.

mod world;

use cutover::{Input, Rollout, Timestamp};
use serde_json::{Value, json};
use world::{
    Command, Index, Move, World, counted_spec as spec, document, instance, mid_rollout,
    ready_fleet, refused, scripted_rollout,
};

// ----- mangled documents ------------------------------------------------------------

/// Every document along the scripted rollout.
fn documents() -> Vec<Value> {
    let (spec, moves) = scripted_rollout();
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
