//! Rollout documents for the persistence tests: a rollout saved mid-way, and how a
//! refused document is read.

use cutover::{Duration, RestoreError, Rollout, RolloutSpec};
use serde_json::Value;

use super::harness::World;
use super::moves::{Command, Index, Move};
use super::scenarios::{counted_spec as spec, ready_fleet};

/// A rollout of `v2` over three `v1` instances, mid-way: `v2-1` serves beside
/// `v1-old-1` and `v1-old-2`, and `v1-old-0` is draining (drain action #3 pending).
pub fn mid_rollout() -> Rollout {
    let mut world = World::new(spec(3, 1, 0), ready_fleet(3));
    world.step(&Move::Command(Command::Deploy(1)));
    world.step(&Move::ProvisionOk(Index(0)));
    world.health("v2-1", true);
    world.step(&Move::AckLatest);
    assert_eq!(world.drains.len(), 1, "v1-old-0 is draining");
    world.rollout
}

/// [`mid_rollout`] as a JSON document, to be mangled by a test.
pub fn document() -> Value {
    serde_json::to_value(mid_rollout()).expect("serializes")
}

/// Restores `document`, which must be refused; returns the message.
pub fn refused(document: Value) -> String {
    match serde_json::from_value::<Rollout>(document) {
        Ok(rollout) => panic!(
            "restored a document that should be refused: {:#?}",
            rollout.status()
        ),
        Err(error) => error.to_string(),
    }
}

/// Restores `document`, which must be refused with `expected` (a field's contradiction
/// by what it says).
pub fn assert_refused_with(document: Value, expected: &RestoreError) {
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

/// The refusal of a document whose fields contradict each other, by what it says.
pub fn inconsistent(what: &str) -> RestoreError {
    RestoreError::Field {
        field: "",
        why: what.to_owned(),
    }
}

/// The record of instance `id` in a rollout document's fleet.
pub fn instance<'a>(document: &'a mut Value, id: &str) -> &'a mut Value {
    document["rollout"]["fleet"]["instances"]
        .as_array_mut()
        .expect("instances")
        .iter_mut()
        .find(|i| i["id"] == id)
        .unwrap_or_else(|| panic!("no instance {id}"))
}

/// A full rolling update of four instances, scripted: a provision failure and its
/// backoff, a health flap, `min_ready`, a drain that times out, then honest answers
/// until the rollout rests. Returns the moves made.
pub fn scripted_rollout() -> (RolloutSpec, Vec<Move>) {
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
    assert_eq!(world.rollout.phase(), cutover::Phase::Completed);
    (spec, world.log)
}
