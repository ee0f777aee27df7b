//! Persistence: a restored document is one this crate could have written. Each edit of
//! a mid-rollout document below restored without complaint once, and broke the rollout
//! after it (issue 24, section 4); each is now refused naming what is wrong.

mod world;

use cutover::{RestoreError, Rollout, RolloutDocument};
use serde_json::{Value, json};
use world::{Index, Move, World, counted_spec as spec, document, instance, ready_fleet, refused};

/// Removes instance `id` from the document with everything that names it, and adjusts
/// the instance count: an edit that hides an instance the world still runs.
fn remove_instance(doc: &mut Value, id: &str) {
    let body = &mut doc["rollout"];
    body["fleet"]["instances"]
        .as_array_mut()
        .unwrap()
        .retain(|i| i["id"] != id);
    body["instances"] = json!(body["fleet"]["instances"].as_array().unwrap().len());
    for map in ["retiring", "starting"] {
        body[map].as_object_mut().unwrap().remove(id);
    }
    body["pending"]
        .as_object_mut()
        .unwrap()
        .retain(|_, p| p["instance"] != id);
    for changes in ["joining", "leaving"] {
        let changes = body["rotation"][changes].as_object_mut().unwrap();
        for ids in changes.values_mut() {
            ids.as_array_mut().unwrap().retain(|i| i != id);
        }
        changes.retain(|_, ids| !ids.as_array().unwrap().is_empty());
    }
}

/// A rollout whose `v2-1` has been provisioned and is starting (not yet healthy).
fn with_a_starting_instance() -> Value {
    let mut world = World::new(spec(3, 1, 0), ready_fleet(3));
    world.step(&Move::Command(world::Command::Deploy(1)));
    world.step(&Move::ProvisionOk(Index(0)));
    let doc = serde_json::to_value(&world.rollout).unwrap();
    assert_eq!(instance(&mut doc.clone(), "v2-1")["state"], "starting");
    doc
}

/// The document of a whole rollout come to rest: nothing pending names an action id.
fn at_rest() -> Value {
    let (spec, moves) = world::scripted_rollout();
    let mut world = World::new(spec, ready_fleet(4));
    for m in &moves {
        world.step(m);
    }
    let doc = serde_json::to_value(&world.rollout).unwrap();
    assert!(doc["rollout"]["next_action"].as_u64().unwrap() > 7);
    doc
}

fn refused_naming(doc: Value, field: &str) {
    let message = refused(doc);
    assert!(
        message.contains(field),
        "expected a refusal naming {field}, got: {message}"
    );
}

#[test]
fn an_instance_removed_while_draining_is_refused() {
    let mut doc = document();
    remove_instance(&mut doc, "v1-old-0");
    refused_naming(doc, "rollout.fleet.instances");
}

#[test]
fn an_instance_removed_while_starting_is_refused() {
    let mut doc = with_a_starting_instance();
    remove_instance(&mut doc, "v2-1");
    refused_naming(doc, "rollout.fleet.instances");
}

#[test]
fn next_action_set_back_is_refused() {
    let mut doc = at_rest();
    doc["rollout"]["next_action"] = json!(1);
    refused_naming(doc, "rollout.next_action");
}

#[test]
fn a_published_generation_moved_forward_is_refused() {
    let mut doc = document();
    doc["rollout"]["rotation"]["published"]["generation"] = json!(5);
    doc["rollout"]["rotation"]["acknowledged"] = json!(5);
    refused_naming(doc, "rollout.rotation.published.generation");
}

#[test]
fn a_changed_target_is_refused() {
    let mut doc = document();
    doc["rollout"]["stage"]["in_flight"]["target"] = json!("v7");
    refused_naming(doc, "rollout.stage");
}

#[test]
fn a_stable_revision_with_no_instance_is_refused() {
    let mut doc = document();
    doc["rollout"]["stable"] = json!("v9");
    refused_naming(doc, "rollout.stable");
}

#[test]
fn a_stable_revision_set_to_null_mid_rollout_is_refused() {
    let mut doc = document();
    doc["rollout"]["stable"] = Value::Null;
    refused_naming(doc, "rollout.stable");
}

#[test]
fn a_strategy_changed_mid_rollout_is_refused() {
    let mut doc = document();
    doc["rollout"]["spec"]["strategy"] = json!({ "blue_green": {} });
    refused_naming(doc, "rollout.spec.strategy");
}

/// JSON objects are unordered: a body before its format must not be read as a format
/// this version does not know, with a message that contradicts itself.
#[test]
fn a_body_before_its_format_is_refused_for_what_it_is() {
    let doc = document();
    let text = format!(
        r#"{{"rollout": {}, "format": {}}}"#,
        doc["rollout"], doc["format"]
    );
    let document: RolloutDocument = serde_json::from_str(&text).unwrap();
    let error = Rollout::try_from(document).unwrap_err();
    assert_eq!(error, RestoreError::FormatAfterBody);
    assert!(!error.to_string().contains("not supported"), "{error}");
}

/// The edits above are refused; the same document unedited restores (the checks see the
/// edit, not the document).
#[test]
fn the_unedited_documents_restore() {
    for doc in [document(), with_a_starting_instance(), at_rest()] {
        serde_json::from_value::<Rollout>(doc).unwrap();
    }
}
