//! Persistence: a `Rollout` is a versioned serde document that round-trips exactly; a
//! document of another format is refused with a [`RestoreError`] (carried in the
//! deserializer's error, whose message is the `RestoreError`'s), and a rollout saved at
//! any point and restored continues with exactly the actions of the original.
//! (`persistence_refusals.rs`: contradictory contents; `persistence_mangled.rs`: every
//! field of a document mangled.)

mod world;

use cutover::{Action, FORMAT_VERSION, Input, RestoreError, Rollout, Timestamp};
use serde_json::{Value, json};
use world::{
    World, assert_refused_with, counted_spec as spec, document, mid_rollout, ready_fleet, refused,
    round_trip, scripted_rollout,
};

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

// ----- continuing identically -------------------------------------------------------

#[test]
fn a_rollout_restored_at_any_step_continues_identically() {
    let (spec, moves) = scripted_rollout();
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
    let (spec, moves) = scripted_rollout();
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
