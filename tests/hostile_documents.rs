//! A catalogue of hostile documents (issue 24, section 3): each row is a document a
//! controller might be handed, and the refusal it must get — a typed error whose message
//! names what is wrong. None may panic or allocate without bound; every refusal is short.

mod world;

use cutover::{Rollout, RolloutSpec, TrafficTable};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug)]
enum Kind {
    /// `RolloutSpec::from_json`: the path named.
    Spec,
    /// A traffic table read with serde.
    Table,
    /// A saved rollout read with serde.
    Rollout,
}

/// Reads `text` as `kind`; returns the refusal (the path first, for a spec).
fn refusal(kind: Kind, text: &str) -> String {
    match kind {
        Kind::Spec => match RolloutSpec::from_json(text) {
            Ok(spec) => panic!("accepted: {spec:?}"),
            Err(error) => format!("{} | {error}", error.path()),
        },
        Kind::Table => match serde_json::from_str::<TrafficTable>(text) {
            Ok(table) => panic!("accepted: {table:?}"),
            Err(error) => error.to_string(),
        },
        Kind::Rollout => match serde_json::from_str::<Rollout>(text) {
            Ok(rollout) => panic!("accepted: {:?}", rollout.status()),
            Err(error) => error.to_string(),
        },
    }
}

fn spec(body: &str) -> String {
    body.to_owned()
}

fn rollout_with(edit: impl FnOnce(&mut Value)) -> String {
    let mut doc = world::document();
    edit(&mut doc);
    doc.to_string()
}

fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

#[test]
fn every_hostile_document_gets_its_typed_refusal() {
    let huge = "x".repeat(10 << 20);
    let rows: Vec<(&str, Kind, String, &str)> = vec![
        // Malformed JSON.
        ("empty text", Kind::Spec, spec(""), "EOF"),
        ("a bare word", Kind::Spec, spec("rolling"), "expected value"),
        ("unclosed object", Kind::Spec, spec(r#"{"desired": 3"#), "EOF"),
        ("trailing comma", Kind::Spec, spec(r#"{"desired": 3,}"#), "trailing comma"),
        ("trailing garbage", Kind::Spec, spec(r#"{"desired": 3} x"#), "trailing characters"),
        ("a table that is not JSON", Kind::Table, "{generation".to_owned(), "key must be a string"),
        ("a rollout that is not JSON", Kind::Rollout, "\u{0}".to_owned(), "expected value"),
        // Wrong types.
        ("desired as text", Kind::Spec, spec(r#"{"desired": "three"}"#), "desired |"),
        ("desired as an array", Kind::Spec, spec(r#"{"desired": [3]}"#), "desired |"),
        ("a strategy as a number", Kind::Spec, spec(r#"{"strategy": 7}"#), "strategy |"),
        ("a duration as a number", Kind::Spec, spec(r#"{"drain_timeout": 30}"#), "drain_timeout |"),
        ("a duration without a unit", Kind::Spec, spec(r#"{"drain_timeout": "30"}"#), "drain_timeout |"),
        ("a boolean as text", Kind::Spec, spec(r#"{"allow_downtime": "yes"}"#), "allow_downtime |"),
        ("a table generation as text", Kind::Table, r#"{"generation": "1", "revisions": []}"#.to_owned(), "invalid type"),
        ("a rollout format as text", Kind::Rollout, r#"{"format": "4", "rollout": {}}"#.to_owned(), "invalid type"),
        // Huge and negative numbers.
        ("desired zero", Kind::Spec, spec(r#"{"desired": 0}"#), "desired | "),
        ("desired negative", Kind::Spec, spec(r#"{"desired": -1}"#), "desired |"),
        ("desired above u32", Kind::Spec, spec(r#"{"desired": 4294967296}"#), "desired |"),
        ("desired above the maximum", Kind::Spec, spec(r#"{"desired": 100001}"#), "desired |"),
        ("a huge surge", Kind::Spec, spec(r#"{"desired": 3, "strategy": {"rolling": {"max_surge": 4000000000, "max_unavailable": 0}}}"#), "strategy.rolling.max_surge |"),
        ("a duration in 999999999 hours", Kind::Spec, spec(r#"{"progress_deadline": "999999999h"}"#), "progress_deadline |"),
        ("a duration that overflows", Kind::Spec, spec(r#"{"drain_timeout": "99999999999999999999ms"}"#), "drain_timeout |"),
        ("a negative duration", Kind::Spec, spec(r#"{"drain_timeout": "-5s"}"#), "drain_timeout |"),
        ("a float where a count goes", Kind::Spec, spec(r#"{"desired": 2.5}"#), "desired |"),
        ("a table generation above u64", Kind::Table, r#"{"generation": 18446744073709551616, "revisions": []}"#.to_owned(), "expected u64"),
        // Percentages over 100, weights without units.
        ("max_unavailable over 100%", Kind::Spec, spec(r#"{"desired": 3, "strategy": {"rolling": {"max_surge": 1, "max_unavailable": "150%"}}}"#), "strategy.rolling.max_unavailable |"),
        ("a canary weight over 100%", Kind::Spec, spec(r#"{"desired": 3, "strategy": {"canary": {"plan": {"steps": [{"set_weight": "120%"}]}}}}"#), "strategy.canary.plan.steps[0]"),
        ("a canary weight without a unit", Kind::Spec, spec(r#"{"desired": 3, "strategy": {"canary": {"plan": {"steps": [{"set_weight": 20}]}}}}"#), "strategy.canary.plan.steps[0]"),
        ("a table weight over 100%", Kind::Table, r#"{"generation": 1, "revisions": [{"revision": "v1", "weight": 10100, "instances": [{"id": "a", "weight": 1}]}]}"#.to_owned(), "10100"),
        ("table weights that do not sum", Kind::Table, r#"{"generation": 1, "revisions": [{"revision": "v1", "weight": 6000, "instances": [{"id": "a", "weight": 1}]}]}"#.to_owned(), "10000"),
        // Empty fleets, duplicate ids, empty names.
        ("weight on a revision without instances", Kind::Table, r#"{"generation": 1, "revisions": [{"revision": "v1", "weight": 10000, "instances": []}]}"#.to_owned(), "no instance in rotation"),
        ("an instance listed twice", Kind::Table, r#"{"generation": 1, "revisions": [{"revision": "v1", "weight": 10000, "instances": [{"id": "a", "weight": 1}, {"id": "a", "weight": 1}]}]}"#.to_owned(), "a"),
        ("a revision listed twice", Kind::Table, r#"{"generation": 1, "revisions": [{"revision": "v1", "weight": 10000, "instances": [{"id": "a", "weight": 1}]}, {"revision": "v1", "weight": 0, "instances": []}]}"#.to_owned(), "v1"),
        ("an empty instance id", Kind::Table, r#"{"generation": 1, "revisions": [{"revision": "v1", "weight": 10000, "instances": [{"id": "", "weight": 1}]}]}"#.to_owned(), "empty InstanceId"),
        ("an empty revision name", Kind::Table, r#"{"generation": 1, "revisions": [{"revision": "", "weight": 10000, "instances": [{"id": "a", "weight": 1}]}]}"#.to_owned(), "empty Revision"),
        ("an empty hook name", Kind::Spec, spec(r#"{"desired": 3, "strategy": {"blue_green": {"pre_promotion": {"hooks": [{"name": "", "timeout": "1m"}]}}}}"#), "strategy.blue_green.pre_promotion.hooks"),
        ("a duplicate hook name", Kind::Spec, spec(r#"{"desired": 3, "strategy": {"blue_green": {"pre_promotion": {"hooks": [{"name": "a", "timeout": "1m"}, {"name": "a", "timeout": "1m"}]}}}}"#), "strategy.blue_green.pre_promotion.hooks"),
        ("an unknown field", Kind::Spec, spec(r#"{"desired": 3, "replicas": 3}"#), "unknown field"),
        ("an unknown strategy", Kind::Spec, spec(r#"{"strategy": {"recreate": {}}}"#), "strategy |"),
        // Unknown format versions and key order.
        ("format 99", Kind::Rollout, r#"{"format": 99, "rollout": {}}"#.to_owned(), "format 99 is not supported"),
        ("format 0", Kind::Rollout, r#"{"format": 0, "rollout": {}}"#.to_owned(), "format 0 is not supported"),
        ("no format", Kind::Rollout, r#"{"rollout": {}}"#.to_owned(), "format"),
        ("the body before its format", Kind::Rollout, format!(r#"{{"rollout": {}, "format": 4}}"#, world::document()["rollout"]), "before its \"format\""),
        // State documents that contradict themselves.
        ("counts that contradict the instances", Kind::Rollout, rollout_with(|d| d["rollout"]["instances"] = json!(7)), "rollout.fleet.instances"),
        ("a phase that contradicts its target", Kind::Rollout, rollout_with(|d| { d["rollout"]["stage"]["in_flight"].as_object_mut().unwrap().remove("target"); }), "target"),
        ("a target edited", Kind::Rollout, rollout_with(|d| d["rollout"]["stage"]["in_flight"]["target"] = json!("v7")), "rollout.stage"),
        ("a counter set back", Kind::Rollout, rollout_with(|d| d["rollout"]["next_action"] = json!(4 - 1)), "rollout.next_action"),
        ("an acknowledged generation ahead", Kind::Rollout, rollout_with(|d| d["rollout"]["rotation"]["acknowledged"] = json!(9)), "acknowledged"),
        ("a seal that is not hexadecimal", Kind::Rollout, rollout_with(|d| d["rollout"]["seal"]["fleet"] = json!("zz")), "seal digest"),
        ("no seal", Kind::Rollout, rollout_with(|d| { d["rollout"].as_object_mut().unwrap().remove("seal"); }), "seal"),
        // Deeply nested and huge inputs.
        // Refused at the first level that cannot hold a list, or skipped unread with a body
        // in an unknown format: never a stack overflow.
        ("a deeply nested spec", Kind::Spec, nested(100_000), "invalid type: sequence"),
        ("a deeply nested table", Kind::Table, nested(100_000), "invalid type: sequence"),
        ("a deeply nested unknown body", Kind::Rollout, format!(r#"{{"format": 99, "rollout": {}}}"#, nested(100_000)), "format 99 is not supported"),
        ("a 10 MB analysis name", Kind::Spec, format!(r#"{{"analyses": {{"{huge}": []}}}}"#), "analyses |"),
        ("a 10 MB reason in a saved event", Kind::Rollout, rollout_with(|d| d["rollout"]["events"] = json!([{ "at": 0, "kind": { "event": "instance_failed", "instance": "v2-1", "reason": huge.clone() } }])), "longer than the 4096"),
        ("a 10 MB revision name", Kind::Table, format!(r#"{{"generation": 1, "revisions": [{{"revision": "{huge}", "weight": 10000, "instances": []}}]}}"#), "longer than the 512"),
    ];
    assert!(rows.len() >= 40, "the issue asks for at least 40 rows");
    let mut failures = Vec::new();
    for (name, kind, text, expected) in &rows {
        let message = std::panic::catch_unwind(|| refusal(*kind, text))
            .unwrap_or_else(|_| "PANICKED or ACCEPTED".to_owned());
        if !message.contains(expected) || message.len() > 4_096 {
            failures.push(format!(
                "{name}: expected {expected:?} in {:?}",
                message.chars().take(300).collect::<String>()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
