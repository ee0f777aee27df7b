//! Every `SpecError`, from a spec built in Rust and (where a document can say it) from
//! JSON: each refused with a message that says what to change.

use cutover::error::{DurationError, FleetError};
use cutover::spec::{CapacityLimits, MAX_DESIRED, Quantity};
use cutover::{
    Action, Duration, Event, EventKind, Input, Instance, InstanceState, Rollout, RolloutSpec,
    SpecError, Timestamp, TrafficTable,
};

fn rolling(desired: u32, max_surge: Quantity, max_unavailable: Quantity) -> RolloutSpec {
    RolloutSpec::rolling(desired, max_surge, max_unavailable)
}

/// Reads a spec document and checks it, as a controller loading its config would; the
/// refusal's message, whichever step refused.
fn refusal(doc: &str) -> String {
    match serde_json::from_str::<RolloutSpec>(doc) {
        Err(error) => error.to_string(),
        Ok(spec) => match spec.validate() {
            Err(error) => error.to_string(),
            Ok(limits) => panic!("{doc} was accepted: {limits:?}"),
        },
    }
}

fn accepted(doc: &str) -> CapacityLimits {
    let spec: RolloutSpec = serde_json::from_str(doc).unwrap_or_else(|e| panic!("{doc}: {e}"));
    spec.validate().unwrap_or_else(|e| panic!("{doc}: {e}"))
}

fn assert_says(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "{message:?} does not say {part:?}");
    }
}

fn ready(id: &str, revision: &str) -> Instance {
    let mut instance = Instance::new(id, revision, InstanceState::Ready);
    instance.available = true;
    instance.in_rotation = true;
    instance
}

/// What to write instead of an unreadable quantity.
const WRITE_A_QUANTITY: &str =
    r#"write a whole number of instances (2, a number) or a percentage ("25%", a string)"#;

#[test]
fn zero_desired() {
    let spec = RolloutSpec {
        desired: 0,
        ..RolloutSpec::default()
    };
    assert_eq!(spec.validate(), Err(SpecError::ZeroDesired));
    assert_eq!(
        Rollout::new(Timestamp::ZERO, spec, []).unwrap_err(),
        SpecError::ZeroDesired
    );
    let message = refusal(r#"{"desired": 0}"#);
    assert_says(&message, &["desired is 0", "set desired to 1 or more"]);
}

#[test]
fn invalid_quantity() {
    for text in ["-1", "-5%", "abc", "5.5%", "", "%", "+3", "1/4"] {
        let error = text.parse::<Quantity>().unwrap_err();
        assert!(
            matches!(&error, SpecError::InvalidQuantity { text: t, .. } if t == text),
            "{text:?}: {error:?}"
        );
        assert_says(
            &error.to_string(),
            &[&format!("{text:?}"), WRITE_A_QUANTITY],
        );
    }
    // From a document: negative percentages and counts, and fractions, are refused with
    // what to write instead.
    let message = refusal(
        r#"{"desired": 3, "strategy": {"rolling": {"max_surge": "-5%", "max_unavailable": 1}}}"#,
    );
    assert_says(&message, &[r#""-5%""#, WRITE_A_QUANTITY]);
    let message = refusal(
        r#"{"desired": 3, "strategy": {"rolling": {"max_surge": 1, "max_unavailable": -1}}}"#,
    );
    assert_says(&message, &[r#""-1""#, WRITE_A_QUANTITY]);
    let message = refusal(r#"{"desired": 3, "strategy": {"rolling": {"max_surge": 2.5}}}"#);
    assert_says(
        &message,
        &[
            "2.5",
            r#"a number of instances (2) or a percentage string ("25%")"#,
        ],
    );
}

#[test]
fn quantity_errors_in_a_document_name_the_field() {
    let message = refusal(
        r#"{"desired": 3, "strategy": {"rolling": {"max_surge": "-5%", "max_unavailable": 1}}}"#,
    );
    assert_says(&message, &[r#"max_surge is "-5%""#, WRITE_A_QUANTITY]);
    let message = refusal(
        r#"{"desired": 3, "strategy": {"rolling": {"max_surge": 1, "max_unavailable": -1}}}"#,
    );
    assert_says(&message, &[r#"max_unavailable is "-1""#, WRITE_A_QUANTITY]);
    let message =
        refusal(r#"{"desired": 3, "strategy": {"rolling": {"max_unavailable": "150%"}}}"#);
    assert_says(
        &message,
        &[
            "max_unavailable is 150%",
            "max_unavailable runs from 0% to 100% of desired",
        ],
    );
    let message = refusal(r#"{"desired": 3, "strategy": {"rolling": {"max_surge": "3"}}}"#);
    assert_says(&message, &[r#"max_surge is "3", a string without %"#]);
}

#[test]
fn percent_out_of_range() {
    // Built in Rust, the field is named by validation.
    let spec = rolling(10, Quantity::Count(1), Quantity::Percent(150));
    let error = spec.validate().unwrap_err();
    assert_eq!(
        error,
        SpecError::PercentOutOfRange {
            field: "max_unavailable",
            percent: 150
        }
    );
    assert_eq!(
        error.to_string(),
        "max_unavailable is 150%: max_unavailable runs from 0% to 100% of desired"
    );
    // Parsed, a percentage's range depends on the field: max_surge may exceed 100%.
    assert_eq!("101%".parse::<Quantity>(), Ok(Quantity::Percent(101)));
    // 100% is the top of max_unavailable's range, not past it.
    assert_eq!(
        accepted(
            r#"{"desired": 4, "strategy": {"rolling": {"max_surge": 0, "max_unavailable": "100%"}}, "allow_downtime": true}"#
        ),
        CapacityLimits::new(4, 0, 4).unwrap()
    );
    let message =
        refusal(r#"{"desired": 3, "strategy": {"rolling": {"max_unavailable": "101%"}}}"#);
    assert_says(
        &message,
        &["max_unavailable is 101%", "runs from 0% to 100%"],
    );
}

#[test]
fn no_progress_possible() {
    let spec = rolling(4, Quantity::Count(0), Quantity::Percent(0));
    assert_eq!(spec.validate(), Err(SpecError::NoProgressPossible));
    let message = refusal(
        r#"{"desired": 4, "strategy": {"rolling": {"max_surge": "0%", "max_unavailable": 0}}}"#,
    );
    assert_says(
        &message,
        &[
            "both 0",
            "set max_surge to 1 (zero downtime) or max_unavailable to 1",
        ],
    );
    // Percentages that only round down to zero are Kubernetes' fencepost, not an error:
    // one instance may be unavailable.
    let limits = rolling(3, Quantity::Percent(0), Quantity::Percent(10))
        .validate()
        .unwrap();
    assert_eq!((limits.max_surge(), limits.max_unavailable()), (0, 1));
}

#[test]
fn downtime_required() {
    let want_downtime = |desired, max_surge, max_unavailable| SpecError::DowntimeRequired {
        desired,
        max_surge,
        max_unavailable,
    };
    // One instance and no surge: replacing it means stopping it first.
    let one = rolling(1, Quantity::Count(0), Quantity::Count(1));
    assert_eq!(one.validate(), Err(want_downtime(1, 0, 1)));
    // The same through Kubernetes' fencepost: 0 surge and 25% of 1 (0) make 1.
    let fencepost = rolling(1, Quantity::Count(0), Quantity::Percent(25));
    assert_eq!(fencepost.validate(), Err(want_downtime(1, 0, 1)));
    // Every instance may be unavailable, surge or not.
    let all = rolling(4, Quantity::Percent(25), Quantity::Percent(100));
    assert_eq!(all.validate(), Err(want_downtime(4, 1, 4)));
    let message = all.validate().unwrap_err().to_string();
    assert_says(
        &message,
        &[
            "desired = 4, max_surge = 1 and max_unavailable = 4",
            "add surge (max_surge >= 1)",
            "lower max_unavailable below desired",
            "set allow_downtime = true only if downtime is acceptable",
        ],
    );
    let message = refusal(
        r#"{"desired": 1, "strategy": {"rolling": {"max_surge": 0, "max_unavailable": "25%"}}}"#,
    );
    assert_says(&message, &["desired = 1", "allow_downtime = true"]);

    // Saying downtime is acceptable accepts all three, and a rollout runs on them.
    for spec in [one, fencepost, all] {
        let limits = RolloutSpec {
            allow_downtime: true,
            ..spec.clone()
        }
        .validate()
        .unwrap();
        assert_eq!(limits.max_unavailable(), limits.desired());
    }
    let limits = accepted(
        r#"{"desired": 1, "strategy": {"rolling": {"max_surge": 0, "max_unavailable": 1}}, "allow_downtime": true}"#,
    );
    assert_eq!((limits.max_surge(), limits.max_unavailable()), (0, 1));
    let spec = RolloutSpec {
        allow_downtime: true,
        ..rolling(1, Quantity::Count(0), Quantity::Count(1))
    };
    assert!(Rollout::new(Timestamp::ZERO, spec, [ready("web-1", "v1")]).is_ok());
    // One instance with the default 25% surge needs no downtime: surge rounds up to 1.
    assert_eq!(
        accepted(r#"{"desired": 1}"#),
        CapacityLimits::new(1, 1, 0).unwrap()
    );
}

#[test]
fn deadline_too_short() {
    let spec = RolloutSpec {
        min_ready: Duration::from_secs(30),
        progress_deadline: Some(Duration::from_secs(30)),
        ..RolloutSpec::default()
    };
    let error = spec.validate().unwrap_err();
    assert_eq!(
        error,
        SpecError::DeadlineTooShort {
            deadline: Duration::from_secs(30),
            min_ready: Duration::from_secs(30)
        }
    );
    assert_says(
        &error.to_string(),
        &["progress_deadline (30s) must be longer than min_ready (30s)"],
    );
    let message = refusal(r#"{"min_ready": "1m", "progress_deadline": "30s"}"#);
    assert_says(
        &message,
        &["progress_deadline (30s) must be longer than min_ready (1m)"],
    );
    accepted(r#"{"min_ready": "1m", "progress_deadline": "1m1ms"}"#);
}

#[test]
fn backoff_inverted() {
    let mut spec = RolloutSpec::default();
    spec.provision_retry.backoff_initial = Duration::from_secs(10);
    spec.provision_retry.backoff_max = Duration::from_secs(5);
    assert_eq!(
        spec.validate(),
        Err(SpecError::BackoffInverted {
            initial: Duration::from_secs(10),
            max: Duration::from_secs(5)
        })
    );
    let message =
        refusal(r#"{"provision_retry": {"backoff_initial": "10s", "backoff_max": "5s"}}"#);
    assert_says(
        &message,
        &[
            "backoff_max (5s) is shorter than backoff_initial (10s)",
            "make backoff_max at least backoff_initial",
        ],
    );
    accepted(r#"{"provision_retry": {"backoff_initial": "5s", "backoff_max": "5s"}}"#);
}

/// A fleet of several revisions is adopted, not refused: the stable revision is named
/// or inferred (and the choice reported); the others are scaled away inside the
/// envelope.
#[test]
fn mixed_fleet_is_adopted() {
    let spec = rolling(2, Quantity::Count(1), Quantity::Count(0));
    let observed = [ready("web-1", "v1"), ready("web-2", "v2")];
    let mut rollout = Rollout::new(Timestamp::ZERO, spec.clone(), observed.clone()).unwrap();
    assert_eq!(
        rollout.stable().unwrap().as_str(),
        "v1",
        "a tie goes to the first name"
    );
    let events: Vec<_> = std::iter::from_fn(|| rollout.poll_event()).collect();
    assert!(
        events.iter().any(|e| matches!(&e.kind, cutover::EventKind::StableInferred { revision } if revision.as_str() == "v1")),
        "{events:?}"
    );
    let named = cutover::Adoption {
        stable: Some("v2".into()),
        ..cutover::Adoption::default()
    };
    let rollout = Rollout::adopt(Timestamp::ZERO, spec.clone(), observed, named).unwrap();
    assert_eq!(rollout.stable().unwrap().as_str(), "v2");
    // An instance of another revision on its way out is seen out.
    let mut leaving = Instance::new("web-0", "v0", InstanceState::Draining);
    leaving.in_rotation = false;
    let rollout = Rollout::new(Timestamp::ZERO, spec, [ready("web-1", "v1"), leaving]).unwrap();
    assert_eq!(rollout.stable().unwrap().as_str(), "v1");
}

#[test]
fn fleet_lists_an_instance_twice() {
    let spec = rolling(2, Quantity::Count(1), Quantity::Count(0));
    let error = Rollout::new(
        Timestamp::ZERO,
        spec,
        [ready("web-1", "v1"), ready("web-1", "v1")],
    )
    .unwrap_err();
    assert_eq!(
        error,
        SpecError::Fleet(FleetError::DuplicateInstance {
            instance: "web-1".into()
        })
    );
    assert_says(
        &error.to_string(),
        &["instance web-1 is listed twice in the fleet"],
    );
}

#[test]
fn unparsable_durations_say_how_to_write_one() {
    let message = refusal(r#"{"progress_deadline": "5 minutes"}"#);
    assert_says(
        &message,
        &[r#"invalid duration "5 minutes": write it like "500ms", "30s", "5m" or "1h30m""#],
    );
    let message = refusal(r#"{"drain_timeout": "30m1h"}"#);
    assert_says(&message, &[r#"invalid duration "30m1h""#]);
    let message = refusal(r#"{"min_ready": -5}"#);
    assert_says(&message, &["a duration cannot be negative: -5"]);
    assert_eq!(
        accepted(r#"{"progress_deadline": "1h30m", "min_ready": "500ms"}"#).desired(),
        1
    );
}

#[test]
fn misplaced_fields_are_refused_with_the_fields_allowed() {
    // max_surge belongs under strategy.rolling.
    let message = refusal(r#"{"desired": 3, "max_surge": "25%"}"#);
    assert_says(&message, &["unknown field `max_surge`", "`strategy`"]);
    let message = refusal(r#"{"strategy": {"rolling": {"surge": 1}}}"#);
    assert_says(
        &message,
        &["unknown field `surge`", "`max_surge`", "`max_unavailable`"],
    );
}

// ----- issue 6: documents that meant something else, or too much -----------------------

#[test]
fn a_quantity_string_without_percent_is_refused() {
    // "90" would be 90 instances here, is refused by Kubernetes, and is 90% in Argo
    // Rollouts: a string is always a percentage, a count is a number.
    assert_eq!(
        "3".parse::<Quantity>(),
        Err(SpecError::CountAsString {
            field: "quantity",
            count: 3
        })
    );
    let message = refusal(
        r#"{"desired": 10, "strategy": {"rolling": {"max_surge": "90", "max_unavailable": 0}}}"#,
    );
    assert_says(
        &message,
        &[
            r#"max_surge is "90", a string without %"#,
            r#"write "90%" for a percentage of desired, or 90 (a number, without quotes) for 90 instances"#,
        ],
    );
    let message =
        refusal(r#"{"desired": 10, "strategy": {"rolling": {"max_unavailable": " 1 "}}}"#);
    assert_says(&message, &[r#"max_unavailable is "1""#, r#"write "1%""#]);
    // What the message says to write is accepted.
    let limits = accepted(
        r#"{"desired": 10, "strategy": {"rolling": {"max_surge": "90%", "max_unavailable": 0}}}"#,
    );
    assert_eq!(limits.max_surge(), 9);
    let limits = accepted(
        r#"{"desired": 10, "strategy": {"rolling": {"max_surge": 90, "max_unavailable": 0}}}"#,
    );
    assert_eq!(limits.max_surge(), 90);
}

#[test]
fn max_surge_may_exceed_100_percent() {
    // Kubernetes allows it; max_unavailable stays within 100% (`percent_out_of_range`).
    assert_eq!(
        accepted(
            r#"{"desired": 4, "strategy": {"rolling": {"max_surge": "150%", "max_unavailable": 0}}}"#
        ),
        CapacityLimits::new(4, 6, 0).unwrap()
    );
    let spec = rolling(4, Quantity::Percent(150), Quantity::Count(0));
    assert_eq!(spec.validate().map(|limits| limits.max_surge()), Ok(6));
    assert!(
        Rollout::new(
            Timestamp::ZERO,
            spec,
            (1..=4).map(|i| ready(&format!("web-{i}"), "v1"))
        )
        .is_ok()
    );
}

#[test]
fn a_duration_without_a_unit_is_refused() {
    // 600 was 0.6 s, and passed validation.
    for doc in [
        r#"{"progress_deadline": 600}"#,
        r#"{"progress_deadline": "600"}"#,
    ] {
        let message = refusal(doc);
        assert_says(
            &message,
            &[r#"duration 600 has no unit: write "600s" (or "600ms") — a duration needs a unit"#],
        );
    }
    assert_eq!(
        "600".parse::<Duration>(),
        Err(DurationError::MissingUnit { amount: 600 })
    );
    // Zero is zero in any unit.
    accepted(r#"{"min_ready": 0, "drain_timeout": "0"}"#);
    // What a spec writes reads back as the same spec.
    let spec = RolloutSpec {
        min_ready: Duration::from_millis(1_500),
        ..RolloutSpec::default()
    };
    let written = serde_json::to_string(&spec).unwrap();
    assert_says(
        &written,
        &[
            r#""min_ready":"1s500ms""#,
            r#""progress_deadline":"10m""#,
            r#""drain_timeout":"30s""#,
        ],
    );
    assert_eq!(serde_json::from_str::<RolloutSpec>(&written).unwrap(), spec);
}

#[test]
fn errors_quote_a_bounded_excerpt_of_the_input() {
    let huge = "9".repeat(10 << 20);
    for (doc, quoted) in [
        (
            format!(r#"{{"progress_deadline": "x{huge}"}}"#),
            format!(
                "invalid duration \"x{}… ({} bytes)\"",
                "9".repeat(63),
                huge.len() + 1
            ),
        ),
        (
            format!(r#"{{"progress_deadline": "{huge}d"}}"#),
            format!(
                "duration \"{}… ({} bytes)\" is too long",
                "9".repeat(64),
                huge.len() + 1
            ),
        ),
        (
            format!(r#"{{"strategy": {{"rolling": {{"max_surge": "{huge}%"}}}}}}"#),
            format!(
                "max_surge is \"{}… ({} bytes)\"",
                "9".repeat(64),
                huge.len() + 1
            ),
        ),
    ] {
        let message = refusal(&doc);
        assert!(message.len() < 400, "a {} byte message", message.len());
        assert_says(&message, &[&quoted]);
    }
}

#[test]
fn desired_is_bounded() {
    // This passed, and Rollout::new then queued a Provision per instance until the
    // process aborted.
    let message = refusal(r#"{"desired": 4294967295}"#);
    assert_says(
        &message,
        &[
            "desired is 4294967295",
            "at most 100000 instances (MAX_DESIRED)",
            "lower desired, or split the fleet into several rollouts",
        ],
    );
    let spec = RolloutSpec {
        desired: u32::MAX,
        ..RolloutSpec::default()
    };
    let refused = SpecError::DesiredTooLarge {
        desired: u32::MAX,
        max: MAX_DESIRED,
    };
    assert_eq!(spec.validate(), Err(refused.clone()));
    assert_eq!(
        Rollout::new(Timestamp::ZERO, spec, []).unwrap_err(),
        refused
    );
    assert_eq!(
        accepted(&format!(r#"{{"desired": {MAX_DESIRED}}}"#)).desired(),
        MAX_DESIRED
    );

    // The surge is bounded with it, without overflowing: desired + max_surge <= 2 * MAX.
    let message = refusal(r#"{"desired": 10, "strategy": {"rolling": {"max_surge": 4000000000}}}"#);
    assert_says(
        &message,
        &[
            "max_surge is 4000000000, which with desired = 10 allows more than twice MAX_DESIRED instances at once",
            "lower max_surge to at most 199990 instances",
        ],
    );
    assert_eq!(
        rolling(10, Quantity::Percent(2_000_000), Quantity::Count(0)).validate(),
        Err(SpecError::SurgeTooLarge {
            max_surge: Quantity::Percent(2_000_000),
            desired: 10,
            max: 2 * MAX_DESIRED - 10
        })
    );
    let limits = accepted(
        r#"{"desired": 100000, "strategy": {"rolling": {"max_surge": "100%", "max_unavailable": 0}}}"#,
    );
    assert_eq!(limits.max_total(), 2 * MAX_DESIRED);
}

#[test]
fn inputs_actions_and_events_refuse_unknown_fields() {
    fn refused<T: serde::de::DeserializeOwned + std::fmt::Debug>(doc: &str, field: &str) {
        match serde_json::from_str::<T>(doc) {
            Ok(value) => panic!("{doc} was read as {value:?}"),
            Err(error) => assert_says(&error.to_string(), &[&format!("unknown field `{field}`")]),
        }
    }
    refused::<Input>(
        r#"{"input": "health", "instance": "web-1", "healthy": true, "healty": false}"#,
        "healty",
    );
    refused::<Action>(
        r#"{"action": "terminate", "id": 3, "instance": "web-1", "force": true}"#,
        "force",
    );
    refused::<Action>(
        r#"{"action": "update_traffic", "id": 3, "generation": 2,
            "diff": {"from_generation": 1, "to_generation": 2, "changes": [], "full": true}}"#,
        "full",
    );
    refused::<Action>(
        r#"{"action": "update_traffic", "id": 3, "generation": 2,
            "diff": {"from_generation": 1, "to_generation": 2,
                     "changes": [{"change": "add_revision", "revision": "v2", "weight": 5}]}}"#,
        "weight",
    );
    refused::<Event>(
        r#"{"at": 5, "kind": {"event": "instance_ready", "instance": "web-1"}, "level": "info"}"#,
        "level",
    );
    refused::<EventKind>(
        r#"{"event": "instance_ready", "instance": "web-1", "why": "probe"}"#,
        "why",
    );
    refused::<TrafficTable>(
        r#"{"revisions": [{"revision": "v1", "weight": 10000, "instances": [{"id": "web-1"}]}],
            "mirror": {"revision": "v1", "share": 100, "sample": 1}}"#,
        "sample",
    );
    refused::<TrafficTable>(
        r#"{"revisions": [{"revision": "v1", "weight": 10000, "instances": [{"id": "web-1"}]}],
            "routes": [{"match": "header_equals", "name": "x-canary", "value": "1",
                        "revision": "v1", "priority": 1}]}"#,
        "priority",
    );
    refused::<CapacityLimits>(
        r#"{"desired": 4, "max_surge": 1, "max_unavailable": 0, "max_total": 5}"#,
        "max_total",
    );
}

#[test]
fn an_observed_instance_refuses_unknown_fields() {
    let error = serde_json::from_str::<Instance>(
        r#"{"id": "web-1", "revision": "v1", "state": "ready", "ready_since": null,
            "available": true, "in_rotation": true, "healthy": true}"#,
    )
    .unwrap_err();
    assert_says(&error.to_string(), &["unknown field `healthy`"]);
}
