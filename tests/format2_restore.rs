//! A document written by the format-2 engine (committed as it wrote it, before format 3
//! added the step machine) restores, saves again as the current format, and continues
//! to completion.

use cutover::{Action, FORMAT_VERSION, Input, Phase, Rollout, Timestamp};

fn honest(action: Action) -> Vec<Input> {
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
        other => panic!("a rolling update asks for no {other:?}"),
    }
}

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
        if rollout.phase() == &Phase::Completed {
            break;
        }
        let actions: Vec<Action> = std::iter::from_fn(|| rollout.poll_action()).collect();
        while rollout.poll_event().is_some() {}
        now = Timestamp::from_millis(now.as_millis() + 1_000);
        for input in actions.into_iter().flat_map(honest) {
            rollout.handle_input(now, input);
        }
        if rollout.poll_timeout().is_some_and(|at| at <= now) {
            rollout.handle_timeout(now);
        }
    }
    assert_eq!(rollout.phase(), &Phase::Completed);
    assert_eq!(rollout.stable().map(|r| r.as_str()), Some("v2"));
    assert_eq!(rollout.fleet().counts(&"v2".into()).available, 3);
}
