//! The JSON Schema of spec documents (feature `schema`): committed, kept current, and
//! describing the forms the reader takes.

#![cfg(all(feature = "schema", feature = "json"))]

use cutover::RolloutSpec;
use proptest::prelude::*;
use serde_json::Value;

const COMMITTED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/src/docs/rollout-spec.schema.json"
);

/// The schema as the code generates it, as it is committed.
fn generated() -> String {
    let schema = cutover::docs::rollout_spec_schema();
    serde_json::to_string_pretty(&schema).expect("a schema serializes") + "\n"
}

fn schema() -> Value {
    serde_json::from_str(&generated()).unwrap()
}

/// The committed schema is the one the code generates: a change to a spec type that
/// changes its documents fails here until the schema is regenerated.
#[test]
fn the_committed_schema_is_current() {
    let generated = generated();
    if std::env::var_os("CUTOVER_UPDATE_SCHEMA").is_some() {
        // The crate embeds the file (`docs::ROLLOUT_SPEC_SCHEMA`): the next build checks it.
        std::fs::write(COMMITTED, &generated).expect("writes the schema");
        return;
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == generated,
        "src/docs/rollout-spec.schema.json is not the schema the spec types generate: \
         update it with `CUTOVER_UPDATE_SCHEMA=1 cargo test --all-features --test spec_schema` \
         and commit it"
    );
    assert_eq!(cutover::docs::ROLLOUT_SPEC_SCHEMA, committed);
}

/// The schema's top level has exactly the fields a spec document has, and refuses
/// others, as the reader does.
#[test]
fn the_schema_describes_the_fields_a_document_has() {
    let schema = schema();
    let written = serde_json::to_value(RolloutSpec::default()).unwrap();
    let mut fields: Vec<&String> = written.as_object().unwrap().keys().collect();
    let mut described: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
    fields.sort();
    described.sort();
    assert_eq!(fields, described);
    assert_eq!(schema["additionalProperties"], Value::Bool(false));
    // Every struct of a spec refuses unknown fields in the schema too.
    let definitions = schema["$defs"].as_object().unwrap();
    for name in [
        "RollingSpec",
        "BlueGreenSpec",
        "CanarySpec",
        "MetricSpec",
        "MetricJudgeSpec",
        "SequentialSpec",
        "BackgroundAnalysis",
        "HookSpec",
        "Checks",
        "ProvisionRetry",
        "HealthSpec",
    ] {
        assert_eq!(
            definitions[name]["additionalProperties"],
            Value::Bool(false),
            "{name}"
        );
    }
}

/// The pattern of the definition `name` in the schema.
fn pattern(name: &str) -> regex::Regex {
    let schema = schema();
    let forms = schema["$defs"][name]["anyOf"].as_array().unwrap();
    let pattern = forms
        .iter()
        .find_map(|form| form["pattern"].as_str())
        .unwrap_or_else(|| panic!("{name} has no pattern"));
    regex::Regex::new(pattern).unwrap()
}

#[test]
fn the_patterns_refuse_what_the_reader_refuses() {
    let weight = pattern("Weight");
    for text in [
        "10%", "2.5%", "0.25%", "100%", "100.00%", "0%", "0", "250bp", "10000bp",
    ] {
        assert!(weight.is_match(text), "{text}");
        text.parse::<cutover::Weight>().unwrap();
    }
    for text in [
        "10", "2.5", "101%", "100.01%", "0.125%", "-5%", "10001bp", "2.5bp", "10 %",
    ] {
        assert!(!weight.is_match(text), "{text}");
    }
    let duration = pattern("Duration");
    for text in ["500ms", "30s", "5m", "1h30m", "1d", "1m30s250ms", "0s", "0"] {
        assert!(duration.is_match(text), "{text}");
    }
    for text in ["600", "30m1h", "1h1h", "5 m", "1.5s", "-5s"] {
        assert!(!duration.is_match(text), "{text}");
        assert!(text.parse::<cutover::Duration>().is_err(), "{text}");
    }
}

proptest! {
    /// What the crate writes, the schema accepts.
    #[test]
    fn the_patterns_accept_every_written_weight_and_duration(
        basis_points in 0u64..=10_000,
        millis in 0u64..10_000_000_000_000,
    ) {
        let weight = cutover::Weight::from_basis_points(basis_points).unwrap();
        prop_assert!(pattern("Weight").is_match(&weight.to_string()), "{}", weight);
        let in_basis_points = format!("{basis_points}bp");
        prop_assert!(pattern("Weight").is_match(&in_basis_points), "{}", in_basis_points);
        let duration = cutover::Duration::from_millis(millis);
        prop_assert!(pattern("Duration").is_match(&duration.to_string()), "{}", duration);
    }
}
