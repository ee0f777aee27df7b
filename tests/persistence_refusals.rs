//! Persistence: a document whose contents contradict each other (or would break an
//! invariant once restored) is refused with a [`RestoreError`] that names what.

mod world;

use cutover::{RestoreError, SpecError};
use serde_json::{Value, json};
use world::{assert_refused_with, document, inconsistent, instance, refused};

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

/// A format-3 document (committed as its engine wrote it) read back with its fields
/// edited.
fn format_3(edit: impl FnOnce(&mut Value)) -> Value {
    let path = format!(
        "{}/tests/fixtures/format3_rolling_in_flight.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut doc);
    doc
}

/// Format 3 kept the phase and the target apart, so a document could put a rollout in
/// flight with nothing to roll out, or complete one that still has a target: the
/// migration refuses both. Format 4 cannot say either (the target lives in the stage).
#[test]
fn an_in_flight_phase_without_a_target_is_refused() {
    let doc = format_3(|doc| doc["rollout"]["target"] = Value::Null);
    assert_refused_with(doc, &inconsistent("phase progressing has no target"));
    let mut current = document();
    let flight = current["rollout"]["stage"]["in_flight"]
        .as_object_mut()
        .expect("a stage in flight");
    flight.remove("target");
    assert!(refused(current).contains("target"));
}

#[test]
fn a_terminal_phase_with_a_target_is_refused() {
    let doc = format_3(|doc| doc["rollout"]["phase"] = json!({ "phase": "completed" }));
    assert_refused_with(doc, &inconsistent("phase completed has a target, v2"));
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
