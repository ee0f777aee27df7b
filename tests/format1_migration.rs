//! Documents written by earlier engines (committed as they wrote them, before the format
//! changed) restore, save again in the current format, and continue to completion:
//! format 1 (migrated on read), format 2 (format 3 only added fields with defaults) and
//! format 3.

mod world;

use cutover::{Action, FORMAT_VERSION, Input, Phase, Rollout, Timestamp};
use serde_json::{Value, json};
use world::round_trip;

/// Documents written by the format-1 engine (committed as it wrote them) migrate, and
/// the restored rollout runs to completion in a world that answers everything.
#[test]
fn format_1_documents_migrate_and_continue() {
    for name in [
        "format1_provisioning.json",
        "format1_settled_mid_rollout.json",
        "format1_in_flight.json",
    ] {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).expect("fixture");
        let rollout: Rollout = serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("{name} does not migrate: {error}"));
        assert_eq!(rollout.stable().map(|r| r.as_str()), Some("v1"), "{name}");
        assert_eq!(rollout.target().map(|r| r.as_str()), Some("v2"), "{name}");
        // Saved again, it is a format-2 document that restores to the same rollout.
        let saved = serde_json::to_value(&rollout).unwrap();
        assert_eq!(saved["format"], json!(FORMAT_VERSION));
        assert_eq!(round_trip(&rollout), rollout, "{name}");
        // And it finishes: the format-1 state holds everything the engine needs. The
        // actions outstanding when it was saved were already handed out; answer them
        // from the document, then everything the rollout asks.
        let document: Value = serde_json::from_str(&text).unwrap();
        let mut answers = outstanding_v1(&document);
        let mut rollout = rollout;
        let mut now = rollout.now();
        for _ in 0..200 {
            if rollout.phase() == cutover::Phase::Completed {
                break;
            }
            now = Timestamp::from_millis(now.as_millis() + 1_000);
            for input in answers.drain(..) {
                rollout.handle_input(now, input);
            }
            rollout.handle_timeout(now);
            while let Some(action) = rollout.poll_action() {
                answers.extend(honest_answers(action));
            }
            while rollout.poll_event().is_some() {}
        }
        assert_eq!(rollout.phase(), cutover::Phase::Completed, "{name}");
        assert_eq!(rollout.stable().map(|r| r.as_str()), Some("v2"), "{name}");
        assert_eq!(rollout.fleet().counts(&"v2".into()).available, 4, "{name}");
        assert_eq!(rollout.fleet().len(), 4, "{name}");
    }
}

/// A document written by the format-2 engine, in flight (a table update not yet
/// performed), restores and runs to completion.
#[test]
fn a_format_2_document_restores_and_continues() {
    let path = format!(
        "{}/tests/fixtures/format2_in_flight.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).expect("fixture");
    let mut rollout: Rollout = serde_json::from_str(&text).expect("format 2 restores");
    assert_eq!(rollout.target().map(|r| r.as_str()), Some("v2"));
    let saved = serde_json::to_value(&rollout).unwrap();
    assert_eq!(saved["format"], serde_json::json!(FORMAT_VERSION));
    let again: Rollout = serde_json::from_value(saved).unwrap();
    assert_eq!(again, rollout);
    // The table update it was saved with is still to be performed; then everything.
    let mut now = rollout.now();
    for _ in 0..100 {
        if rollout.phase() == Phase::Completed {
            break;
        }
        let actions: Vec<Action> = std::iter::from_fn(|| rollout.poll_action()).collect();
        while rollout.poll_event().is_some() {}
        now = Timestamp::from_millis(now.as_millis() + 1_000);
        for input in actions.into_iter().flat_map(honest_answers) {
            rollout.handle_input(now, input);
        }
        if rollout.poll_timeout().is_some_and(|at| at <= now) {
            rollout.handle_timeout(now);
        }
    }
    assert_eq!(rollout.phase(), Phase::Completed);
    assert_eq!(rollout.stable().map(|r| r.as_str()), Some("v2"));
    assert_eq!(rollout.fleet().counts(&"v2".into()).available, 3);
}

/// What a world would answer for the actions a format-1 document says are outstanding.
fn outstanding_v1(document: &Value) -> Vec<Input> {
    let body = &document["rollout"];
    let mut answers = Vec::new();
    for (id, pending) in body["pending"].as_object().expect("pending") {
        let action = cutover::ActionId(id.parse().unwrap());
        if let Some(instance) = pending.get("provision") {
            answers.push(Input::Provisioned { action });
            answers.push(Input::Health {
                instance: instance.as_str().unwrap().into(),
                healthy: true,
            });
        } else if pending.get("drain").is_some() {
            answers.push(Input::Drained { action });
        } else {
            answers.push(Input::Terminated { action });
        }
    }
    let generation = body["rotation"]["published"]["generation"]
        .as_u64()
        .unwrap();
    answers.push(Input::TrafficApplied { generation });
    answers
}

fn honest_answers(action: Action) -> Vec<Input> {
    match action {
        Action::Provision { id, instance, .. } => vec![
            Input::Provisioned { action: id },
            Input::Health {
                instance,
                healthy: true,
            },
        ],
        Action::UpdateTraffic { generation, .. } => vec![Input::TrafficApplied { generation }],
        Action::Drain { id, .. } => vec![Input::Drained { action: id }],
        Action::Terminate { id, .. } => vec![Input::Terminated { action: id }],
        Action::Measure { id, .. } => vec![Input::Measured {
            action: id,
            measurement: cutover::analysis::Measurement::Value(0.0),
        }],
        Action::RunHook { id, .. } => vec![Input::HookResult {
            action: id,
            passed: true,
            reason: "ok".into(),
        }],
        _ => vec![],
    }
}

/// Documents written by the format-3 engine (committed as it wrote them) restore, save
/// again in the current format to the same rollout, and go on to where an honest world
/// takes them: completed, or back on the stable revision.
#[test]
fn format_3_documents_restore_and_continue() {
    for (name, ends_on) in [
        ("format3_rolling_in_flight.json", "v2"),
        ("format3_blue_green_aborted.json", "v1"),
        ("format3_blue_green_standby.json", "v2"),
        ("format3_canary_paused_measuring.json", "v2"),
    ] {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).expect("fixture");
        let mut rollout: Rollout = serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("{name} does not restore: {error}"));
        let saved = serde_json::to_value(&rollout).unwrap();
        assert_eq!(saved["format"], json!(FORMAT_VERSION), "{name}");
        assert_eq!(round_trip(&rollout), rollout, "{name}");
        let mut now = rollout.now();
        let mut answers = Vec::new();
        for _ in 0..200 {
            if rollout.phase().is_terminal()
                && rollout.poll_timeout().is_none()
                && answers.is_empty()
            {
                break;
            }
            // A step's pause waits for a person: promote it.
            if matches!(
                rollout.phase(),
                Phase::Paused {
                    reason: cutover::PauseReason::Step { until: None }
                }
            ) {
                rollout.promote(now).expect("a step's pause is promoted");
            }
            while let Some(action) = rollout.poll_action() {
                answers.extend(honest_answers(action));
            }
            while rollout.poll_event().is_some() {}
            now = Timestamp::from_millis(now.as_millis() + 60_000);
            for input in answers.drain(..) {
                rollout.handle_input(now, input);
            }
            rollout.handle_timeout(now);
        }
        assert!(
            rollout.phase().is_terminal(),
            "{name}: {:?}",
            rollout.status()
        );
        assert_eq!(
            rollout.stable().map(|r| r.as_str()),
            Some(ends_on),
            "{name}"
        );
        let serving = rollout.traffic().weight(&ends_on.into());
        assert_eq!(serving, cutover::Weight::FULL, "{name}");
    }
    // Format 3 wrote weights as bare basis points; reading it leaves a person's spec
    // needing a unit, on the same thread.
    let bare = r#"{"strategy": {"canary": {"plan": {"steps": [{"set_weight": 10}]}}}}"#;
    assert!(cutover::RolloutSpec::from_json(bare).is_err());
}
