//! Spec documents as people write them (issue 20, section 2): weights carry a unit, no
//! setting is dropped silently, and every refusal names the path of the setting to
//! change, as the document spells it.

#![cfg(feature = "json")]

use cutover::docs::specs;
use cutover::spec::{CanaryPlan, CanaryStep};
use cutover::strategy::CanaryScale;
use cutover::{Duration, RolloutSpec, SpecDocumentError, SpecError, StrategySpec, Weight};
use serde_json::{Value, json};

/// The refusal of `doc`, which must be refused.
fn refused(doc: &str) -> SpecDocumentError {
    match RolloutSpec::from_json(doc) {
        Ok(spec) => panic!("{doc} was accepted: {spec:?}"),
        Err(error) => error,
    }
}

/// Asserts that `error` names `path` and says each of `parts`.
fn assert_refused_at(error: &SpecDocumentError, path: &str, parts: &[&str]) {
    assert_eq!(error.path(), path, "{error}");
    let message = error.to_string();
    assert!(message.starts_with(&format!("{path}: ")), "{message}");
    for part in parts {
        assert!(message.contains(part), "{message:?} does not say {part:?}");
    }
}

/// A canary of ten instances with these steps.
fn canary_doc(steps: &str) -> String {
    format!(r#"{{"desired": 10, "strategy": {{"canary": {{"plan": {{"steps": {steps}}}}}}}}}"#)
}

/// The steps of a canary spec.
fn steps_of(spec: &RolloutSpec) -> Vec<CanaryStep> {
    let StrategySpec::Canary(canary) = &spec.strategy else {
        panic!("not a canary: {spec:?}");
    };
    canary.plan.steps().map(|step| step.into_owned()).collect()
}

fn basis_points(basis_points: u64) -> Weight {
    Weight::from_basis_points(basis_points).unwrap()
}

// ----- weights carry a unit ------------------------------------------------------------

#[test]
fn a_weight_without_a_unit_is_refused_with_what_to_write() {
    // `"set_weight": 10` was 0.1% and 150 was 1.5%: Argo's `setWeight: 10`, read a
    // hundredfold wrong.
    for (weight, amount) in [
        ("10", "10"),
        ("150", "150"),
        (r#""10""#, "10"),
        ("2.5", "2.5"),
    ] {
        let error = refused(&canary_doc(&format!(r#"[{{"set_weight": {weight}}}]"#)));
        assert!(
            matches!(error, SpecDocumentError::Unreadable { .. }),
            "{error:?}"
        );
        assert_refused_at(
            &error,
            "strategy.canary.plan.steps[0].set_weight",
            &[&format!(
                r#"weight {amount} has no unit: write "{amount}%" for {amount} percent"#
            )],
        );
    }
    // Every weight of a spec, not only set_weight.
    for (plan, path) in [
        (
            r#"{"steps": [{"set_weight": "10%"}, {"set_mirror": 5}]}"#,
            "strategy.canary.plan.steps[1].set_mirror",
        ),
        (
            r#"{"steps": [{"set_canary_scale": {"weight": 20}}]}"#,
            "strategy.canary.plan.steps[0].set_canary_scale.weight",
        ),
        (
            r#"{"canary": {"weight": 10, "after": "5m"}}"#,
            "strategy.canary.plan.canary.weight",
        ),
        (
            r#"{"linear": {"weight": 1000, "every": "1m"}}"#,
            "strategy.canary.plan.linear.weight",
        ),
    ] {
        let doc = format!(r#"{{"desired": 10, "strategy": {{"canary": {{"plan": {plan}}}}}}}"#);
        assert_refused_at(&refused(&doc), path, &["has no unit: write"]);
    }
}

#[test]
fn weights_with_a_unit_read_as_written_and_write_back_the_same() {
    let doc = canary_doc(
        r#"[{"set_weight": "10%"}, {"set_weight": "12.5%"}, {"set_weight": "250bp"},
            {"set_weight": "0.25%"}, {"set_mirror": "5%"}, {"set_mirror": 0},
            {"set_canary_scale": {"weight": "20%"}}]"#,
    );
    let spec = RolloutSpec::from_json(&doc).unwrap();
    let steps = steps_of(&spec);
    let weights: Vec<u16> = steps
        .iter()
        .filter_map(|step| match step {
            CanaryStep::SetWeight(weight) | CanaryStep::SetMirror(weight) => {
                Some(weight.basis_points())
            }
            CanaryStep::SetCanaryScale(CanaryScale::Weight(weight)) => Some(weight.basis_points()),
            _ => None,
        })
        .collect();
    assert_eq!(weights, [1_000, 1_250, 250, 25, 500, 0, 2_000]);
    let written = serde_json::to_value(&spec).unwrap();
    assert_eq!(
        written["strategy"]["canary"]["plan"]["steps"][1],
        json!({"set_weight": "12.5%"})
    );
    assert_eq!(
        written["strategy"]["canary"]["plan"]["steps"][2],
        json!({"set_weight": "2.5%"})
    );
    let again = RolloutSpec::from_json(&written.to_string()).unwrap();
    assert_eq!(again, spec);
}

#[test]
fn weights_out_of_range_or_finer_than_a_basis_point_name_their_path() {
    for (weight, says) in [
        (r#""101%""#, r#"weight "101%" is above 100%"#),
        (r#""0.125%""#, "finer than a basis point"),
        (r#""-5%""#, r#"invalid weight "-5%""#),
        (r#""10 percent""#, r#"invalid weight "10 percent""#),
    ] {
        let error = refused(&canary_doc(&format!(
            r#"[{{"set_weight": "5%"}}, {{"set_weight": {weight}}}]"#
        )));
        assert_refused_at(&error, "strategy.canary.plan.steps[1].set_weight", &[says]);
    }
}

/// A traffic table is a machine document for load balancers, not a spec: its weights
/// stay integers in basis points, as committed rollout documents hold them.
#[test]
fn traffic_tables_keep_their_weights_in_basis_points() {
    let table: cutover::TrafficTable = serde_json::from_value(json!({
        "generation": 3,
        "revisions": [
            {"revision": "v1", "weight": 7500, "instances": [{"id": "a"}]},
            {"revision": "v2", "weight": 2500, "instances": [{"id": "b"}]}
        ],
        "mirror": {"revision": "v2", "share": 500}
    }))
    .unwrap();
    assert_eq!(table.weight(&"v2".into()), basis_points(2_500));
    let written = serde_json::to_value(&table).unwrap();
    assert_eq!(written["revisions"][1]["weight"], json!(2500));
    assert_eq!(written["mirror"]["share"], json!(500));
}

// ----- no setting is dropped silently ----------------------------------------------------

#[test]
fn misspelt_metric_settings_are_refused_with_their_path() {
    // A metric meant to run every 30s ran once; a failure limit of 3 was 0.
    for (field, value) in [("intervall", r#""30s""#), ("failure_limt", "3")] {
        let doc = format!(
            r#"{{"desired": 3, "analyses": {{"errors": [{{"name": "error-rate",
                "check": {{"threshold": {{"success": {{"below": 0.01}}}}}},
                "count": 1, "{field}": {value}}}]}}}}"#
        );
        assert_refused_at(
            &refused(&doc),
            &format!("analyses.errors[0].{field}"),
            &[&format!("unknown field `{field}`")],
        );
    }
    // The judge's confidence was left at 0.98.
    let doc = r#"{"desired": 3, "analyses": {"latency": [{"name": "p99",
        "check": {"judge": {"name": "p99", "confidance": 0.99}}}]}}"#;
    assert_refused_at(
        &refused(doc),
        "analyses.latency[0].check.judge.confidance",
        &["unknown field `confidance`", "`confidence`"],
    );
    let doc = r#"{"desired": 3, "background_analysis": {"metrics": [{"name": "errors",
        "check": {"sequential": {"alpah": 0.01}}, "interval": "1m", "count": 5}]}}"#;
    assert_refused_at(
        &refused(doc),
        "background_analysis.metrics[0].check.sequential.alpah",
        &["unknown field `alpah`"],
    );
    let doc = r#"{"desired": 3, "analyses": {"errors": [{"name": "e",
        "check": {"threshold": {"success": {"between": {"low": 0, "hihg": 1}}}}}]}}"#;
    assert_refused_at(
        &refused(doc),
        "analyses.errors[0].check.threshold.success.between.hihg",
        &["unknown field `hihg`"],
    );
}

#[test]
fn the_judge_and_its_groups_refuse_unknown_fields() {
    for (doc, field) in [
        (
            r#"{"metrics": [], "groups": [], "pass_threshold": 95, "marginal_threshold": 75, "pass": 1}"#,
            "pass",
        ),
        (
            r#"{"metrics": [], "groups": [{"name": "g", "metrics": [], "wieght": 1}],
                "pass_threshold": 95, "marginal_threshold": 75}"#,
            "wieght",
        ),
    ] {
        let error = serde_json::from_str::<cutover::analysis::JudgeSpec>(doc).unwrap_err();
        assert!(
            error
                .to_string()
                .contains(&format!("unknown field `{field}`")),
            "{error}"
        );
    }
}

/// Walks every object of `value`, calling `visit` with its path.
fn objects(value: &Value, path: &str, visit: &mut dyn FnMut(&str)) {
    match value {
        Value::Object(fields) => {
            visit(path);
            for (key, field) in fields {
                let inner = match path {
                    "" => key.clone(),
                    path => format!("{path}.{key}"),
                };
                objects(field, &inner, visit);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                objects(item, &format!("{path}[{index}]"), visit);
            }
        }
        _ => {}
    }
}

/// The object at `path` in `value`.
fn object_at<'a>(value: &'a mut Value, path: &str) -> &'a mut serde_json::Map<String, Value> {
    let mut here = value;
    for part in path.split('.').filter(|part| !part.is_empty()) {
        let (key, indexes) = part.split_once('[').unwrap_or((part, ""));
        here = &mut here[key];
        for index in indexes.split('[') {
            if let Some(index) = index.strip_suffix(']') {
                here = &mut here[index.parse::<usize>().unwrap()];
            }
        }
    }
    here.as_object_mut().expect("an object")
}

/// Every object of every documented spec, given a field it does not have, is refused
/// with that field's path: no struct or step of a spec drops a setting.
#[test]
fn every_object_of_every_documented_spec_refuses_an_unknown_field() {
    for (name, doc) in specs::ALL {
        let original: Value = serde_json::from_str(doc).unwrap();
        let mut paths = Vec::new();
        objects(&original, "", &mut |path| paths.push(path.to_owned()));
        assert!(paths.len() > 2, "{name}");
        for path in paths {
            let mut edited = original.clone();
            object_at(&mut edited, &path).insert("surplus".into(), json!(1));
            let error = refused(&edited.to_string());
            let message = error.to_string();
            let at = match path.as_str() {
                "" => "surplus".to_owned(),
                path => format!("{path}.surplus"),
            };
            // A struct says it has no such field; the map of analyses, that 1 is no
            // analysis; an object with one key (the kind of what it holds), that it has a
            // key too many, or, when the surplus key comes first, that it is no kind.
            assert!(
                error.path() == at || error.path() == path,
                "{name}: {path}: {message}"
            );
            assert!(
                message.contains("`surplus`") || error.path() == at,
                "{name}: {message}"
            );
        }
    }
}

// ----- steps people write ---------------------------------------------------------------

#[test]
fn an_untimed_pause_may_be_written_as_a_bare_name_or_an_empty_object() {
    let spec = RolloutSpec::from_json(&canary_doc(
        r#"[{"set_weight": "10%"}, "pause", {"pause": {}}, {"pause": null},
            {"pause": {"duration": null}}, {"pause": "5m"}, {"pause": {"duration": "5m"}}]"#,
    ))
    .unwrap();
    let untimed = CanaryStep::Pause { duration: None };
    let timed = CanaryStep::Pause {
        duration: Some(Duration::from_mins(5)),
    };
    assert_eq!(
        steps_of(&spec)[1..],
        [
            untimed.clone(),
            untimed.clone(),
            untimed.clone(),
            untimed,
            timed.clone(),
            timed
        ]
    );
    // Written back in one form, which reads as the same.
    let written = serde_json::to_value(&spec).unwrap();
    assert_eq!(
        written["strategy"]["canary"]["plan"]["steps"][1],
        json!({"pause": {}})
    );
    assert_eq!(RolloutSpec::from_json(&written.to_string()).unwrap(), spec);
}

/// What holds nothing, or may hold nothing, reads from its bare name, `null` or `{}`
/// alike, as an untimed pause does; what needs a value says so.
#[test]
fn kinds_that_may_hold_nothing_read_from_a_bare_name_null_or_an_empty_object() {
    let strategy = |doc: &str| RolloutSpec::from_json(doc).map(|spec| spec.strategy);
    for (written, expected) in [
        (r#""rolling""#, StrategySpec::Rolling(Default::default())),
        (
            r#""blue_green""#,
            StrategySpec::BlueGreen(Default::default()),
        ),
        (r#""canary""#, StrategySpec::Canary(Default::default())),
    ] {
        let doc = format!(r#"{{"desired": 4, "strategy": {written}}}"#);
        assert_eq!(strategy(&doc), Ok(expected), "{written}");
    }
    for plan in [
        r#""all_at_once""#,
        r#"{"all_at_once": {}}"#,
        r#"{"all_at_once": null}"#,
    ] {
        let doc = format!(r#"{{"desired": 4, "strategy": {{"canary": {{"plan": {plan}}}}}}}"#);
        let StrategySpec::Canary(canary) = strategy(&doc).unwrap() else {
            unreachable!()
        };
        assert_eq!(canary.plan, CanaryPlan::AllAtOnce, "{plan}");
    }
    let spec = RolloutSpec::from_json(&canary_doc(
        r#"[{"set_canary_scale": {"match_traffic_weight": {}}}, {"set_canary_scale": "match_traffic_weight"}]"#,
    ))
    .unwrap();
    assert_eq!(
        steps_of(&spec),
        vec![CanaryStep::SetCanaryScale(CanaryScale::MatchTrafficWeight); 2]
    );
    let doc = r#"{"desired": 4, "strategy": {"blue_green": {"promotion": {"manual": {}}}}}"#;
    RolloutSpec::from_json(doc).unwrap();
    // A kind that holds nothing refuses a setting, by name.
    let doc =
        r#"{"desired": 4, "strategy": {"canary": {"plan": {"all_at_once": {"after": "5m"}}}}}"#;
    assert_refused_at(
        &refused(doc),
        "strategy.canary.plan.all_at_once.after",
        &["unknown field `after`", "holds nothing"],
    );
    // A kind that needs a value says so.
    let doc = r#"{"desired": 4, "strategy": {"blue_green": {"promotion": "auto"}}}"#;
    assert_refused_at(
        &refused(doc),
        "strategy.blue_green.promotion",
        &[r#"`auto` needs a value: write it as an object with one key, {"auto": …}"#],
    );
}

#[test]
fn steps_that_need_a_value_or_have_two_names_are_refused_with_their_path() {
    let error = refused(&canary_doc(r#"["pause", "set_weight"]"#));
    assert_refused_at(
        &error,
        "strategy.canary.plan.steps[1]",
        &["`set_weight` needs a value"],
    );
    let error = refused(&canary_doc(r#"["paws"]"#));
    assert_refused_at(
        &error,
        "strategy.canary.plan.steps[0]",
        &["unknown variant `paws`", "`pause`"],
    );
    let error = refused(&canary_doc(
        r#"[{"set_weight": "10%", "pause": {"duration": "5m"}}]"#,
    ));
    assert_refused_at(
        &error,
        "strategy.canary.plan.steps[0].pause",
        &["one key", "write each step as its own object"],
    );
    let error = refused(&canary_doc(
        r#"[{"pause": {"duration": "5m", "until": "promoted"}}]"#,
    ));
    assert_refused_at(
        &error,
        "strategy.canary.plan.steps[0].pause.until",
        &["unknown field `until`"],
    );
}

#[test]
fn a_bad_setting_deep_in_a_plan_names_its_path() {
    let error = refused(&canary_doc(
        r#"[{"set_weight": "10%"}, {"pause": {"duration": "5m"}}, {"set_weight": "20%"},
            {"pause": {"duration": "5 minutes"}}]"#,
    ));
    assert_refused_at(
        &error,
        "strategy.canary.plan.steps[3].pause.duration",
        &[r#"invalid duration "5 minutes""#],
    );
    let SpecDocumentError::Unreadable { line, column, .. } = error else {
        panic!("{error:?}");
    };
    assert_eq!(line, Some(2));
    assert!(column.is_some());
    // A shorthand pause names the same place.
    let error = refused(&canary_doc(r#"["pause", {"pause": "600"}]"#));
    assert_refused_at(
        &error,
        "strategy.canary.plan.steps[1].pause",
        &[r#"duration 600 has no unit"#],
    );
}

// ----- errors name the real field ---------------------------------------------------------

#[test]
fn the_canary_max_surge_is_named_as_the_rolling_one_is() {
    let error = refused(r#"{"desired": 10, "strategy": {"canary": {"max_surge": "90"}}}"#);
    assert_refused_at(
        &error,
        "strategy.canary.max_surge",
        &[r#"max_surge is "90", a string without %"#],
    );
    let error = refused(r#"{"desired": 10, "strategy": {"canary": {"max_surge": "-5%"}}}"#);
    assert_refused_at(
        &error,
        "strategy.canary.max_surge",
        &[r#"max_surge is "-5%""#],
    );
}

#[test]
fn a_metric_without_a_condition_is_told_cutovers_own_field() {
    let doc = r#"{"desired": 3, "analyses": {"errors": [{"name": "error-rate",
        "check": {"threshold": {}}}]}}"#;
    let error = refused(doc);
    assert!(
        matches!(error, SpecDocumentError::Invalid { .. }),
        "{error:?}"
    );
    assert_refused_at(
        &error,
        "analyses.errors[0].check.threshold",
        &[r#""check": {"threshold": {"success": {"below": 0.01}}}"#],
    );
    assert!(!error.to_string().contains("success_condition"), "{error}");
}

#[test]
fn a_spec_that_cannot_run_names_the_setting_to_change() {
    for (doc, path, says) in [
        (r#"{"desired": 0}"#.to_owned(), "desired", "desired is 0"),
        (
            r#"{"desired": 3, "min_ready": "1m", "progress_deadline": "30s"}"#.to_owned(),
            "progress_deadline",
            "must be longer than min_ready",
        ),
        (
            r#"{"desired": 3, "health": {"startup_timeout": "0s"}}"#.to_owned(),
            "health.startup_timeout",
            "startup_timeout is 0",
        ),
        (
            r#"{"desired": 3, "strategy": {"blue_green": {"preview_replicas": 4}}}"#.to_owned(),
            "strategy.blue_green.preview_replicas",
            "preview_replicas is 4",
        ),
        (
            r#"{"desired": 3, "strategy": {"canary": {"min_instances": 4}}}"#.to_owned(),
            "strategy.canary.min_instances",
            "min_instances is larger than desired",
        ),
        (
            canary_doc(r#"[{"set_weight": "100%"}, {"set_weight": "50%"}]"#),
            "strategy.canary.plan.steps[1]",
            "canary step 1",
        ),
        (
            canary_doc(r#"[{"set_weight": "10%"}, {"analysis": {"analysis": "latency"}}]"#),
            "strategy.canary.plan.steps[1].analysis.analysis",
            r#"names analysis "latency", which is not defined"#,
        ),
        (
            r#"{"desired": 3, "analyses": {"errors": [{"name": "e", "interval": "1m",
                "check": {"threshold": {"success": {"below": 1}}}}]}}"#
                .to_owned(),
            "analyses.errors[0].count",
            "never ends",
        ),
        (
            r#"{"desired": 3, "background_analysis": {"metrics": [{"name": "e",
                "check": {"threshold": {"success": {"below": 1}}}, "interval": "1m",
                "failure_limit": -2}]}}"#
                .to_owned(),
            "background_analysis.metrics[0].failure_limit",
            "failure_limit = -2",
        ),
    ] {
        let error = refused(&doc);
        assert!(
            matches!(error, SpecDocumentError::Invalid { .. }),
            "{error:?}"
        );
        assert_refused_at(&error, path, &[says]);
    }
    // The error inside is the one `validate` gives.
    let SpecDocumentError::Invalid { error, .. } = refused(r#"{"desired": 0}"#) else {
        unreachable!()
    };
    assert_eq!(error, SpecError::ZeroDesired);
}

#[test]
fn trailing_text_and_broken_syntax_are_refused_with_their_position() {
    let error = refused(r#"{"desired": 3} {"desired": 4}"#);
    assert!(
        matches!(&error, SpecDocumentError::Unreadable { line: Some(1), .. }),
        "{error:?}"
    );
    assert_eq!(error.path(), "");
    let error = refused("{\"desired\": 3,\n \"strategy\": {\"rolling\": }}");
    assert!(error.to_string().contains("(line 2, column"), "{error}");
}

// ----- the documented documents ------------------------------------------------------------

#[test]
fn every_documented_spec_reads_validates_and_writes_back_the_same() {
    for (name, doc) in specs::ALL {
        let spec = RolloutSpec::from_json(doc).unwrap_or_else(|error| panic!("{name}: {error}"));
        let written = serde_json::to_string(&spec).unwrap();
        assert_eq!(RolloutSpec::from_json(&written).unwrap(), spec, "{name}");
    }
    let spec = RolloutSpec::from_json(specs::CANARY_FULL).unwrap();
    let StrategySpec::Canary(canary) = &spec.strategy else {
        panic!("{spec:?}");
    };
    assert!(matches!(canary.plan, CanaryPlan::Steps(_)));
    assert_eq!(
        canary.plan.step(3).as_deref(),
        Some(&CanaryStep::SetWeight(basis_points(250)))
    );
}

/// A judge in a metric is the metric's: its name need not be written twice.
#[test]
fn a_judge_takes_its_metrics_name() {
    let doc = r#"{"desired": 3, "analyses": {"latency": [{"name": "p99",
        "check": {"judge": {"direction": "increase"}}}]}}"#;
    let spec = RolloutSpec::from_json(doc).unwrap();
    let metrics = spec.analyses["latency"].clone();
    let mut run = cutover::analysis::AnalysisRun::new(cutover::Timestamp::ZERO, metrics).unwrap();
    run.record(
        cutover::Timestamp::ZERO,
        "p99",
        cutover::analysis::Measurement::Samples {
            canary: vec![],
            baseline: vec![1.0],
        },
    );
    let last = run.metric("p99").unwrap().last_measurement().unwrap();
    assert!(
        last.message.contains("missing data for p99"),
        "{}",
        last.message
    );
}

#[test]
fn refusals_quote_bounded_excerpts_of_huge_keys_and_values() {
    let huge = "x".repeat(10 << 20);
    for doc in [
        format!(r#"{{"desired": 3, "{huge}": 1}}"#),
        format!(r#"{{"desired": 3, "strategy": {{"{huge}": {{}}}}}}"#),
        format!(r#"{{"desired": 3, "analyses": {{"{huge}": [{{"name": "e"}}]}}}}"#),
        canary_doc(&format!(r#"[{{"set_weight": "{huge}%"}}]"#)),
        canary_doc(&format!(r#"[{{"pause": {{}}, "{huge}": 1}}]"#)),
    ] {
        let error = refused(&doc);
        let message = error.to_string();
        assert!(message.len() < 2_000, "a {} byte message", message.len());
        assert!(
            error.path().len() < 300,
            "a {} byte path",
            error.path().len()
        );
    }
}

/// Every place a value can be in a document, as paths for `object_at`'s parent and a
/// key or index.
fn slots(value: &Value, path: &str, found: &mut Vec<(String, String)>) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields {
                found.push((path.to_owned(), key.clone()));
                let inner = match path {
                    "" => key.clone(),
                    path => format!("{path}.{key}"),
                };
                slots(field, &inner, found);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                slots(item, &format!("{path}[{index}]"), found);
            }
        }
        _ => {}
    }
}

fn replacement() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    prop_oneof![
        Just(json!(null)),
        Just(json!(0)),
        Just(json!(10)),
        Just(json!(-1)),
        Just(json!(2.5)),
        Just(json!(true)),
        Just(json!("10%")),
        Just(json!("250bp")),
        Just(json!("5m")),
        Just(json!("pause")),
        Just(json!("25%")),
        Just(json!("")),
        Just(json!({})),
        Just(json!([])),
        Just(json!(["pause"])),
        Just(json!({"surplus": 1})),
        Just(json!({"pause": "5m"})),
        Just(json!({"set_weight": "100%"})),
        Just(json!({"below": 0.5})),
        ".{0,12}".prop_map(Value::String),
        any::<u32>().prop_map(|n| json!(n)),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// A documented document with one value replaced by anything is read or refused,
    /// never a panic; what reads is checked, and writes back as the same spec.
    #[test]
    fn an_edited_document_reads_or_is_refused_and_what_reads_writes_back(
        document in 0..specs::ALL.len(),
        slot in proptest::prelude::any::<proptest::sample::Index>(),
        value in replacement(),
    ) {
        let mut edited: Value = serde_json::from_str(specs::ALL[document].1).unwrap();
        let mut found = Vec::new();
        slots(&edited, "", &mut found);
        let (parent, key) = slot.get(&found).clone();
        object_at(&mut edited, &parent).insert(key, value);
        match RolloutSpec::from_json(&edited.to_string()) {
            Ok(spec) => {
                spec.validate().unwrap();
                let written = serde_json::to_string(&spec).unwrap();
                proptest::prop_assert_eq!(RolloutSpec::from_json(&written).unwrap(), spec);
            }
            Err(error) => {
                proptest::prop_assert!(!error.to_string().is_empty());
            }
        }
    }

    /// Any text is read or refused, never a panic.
    #[test]
    fn any_text_is_read_or_refused(text in ".{0,200}") {
        let _ = RolloutSpec::from_json(&text);
    }
}
