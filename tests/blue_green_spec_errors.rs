//! Every invalid blue-green spec is refused with a `SpecError` that says what to change,
//! from Rust and from a document.

mod world;

use world::{assert_says, blue_green, refusal};

use cutover::analysis::{MetricCheck, MetricSpec};
use cutover::spec::{Checks, HookSpec, Quantity};
use cutover::traffic::MatchCondition;
use cutover::{Duration, Rollout, RolloutSpec, SpecError, StrategySpec, Timestamp};

fn hook(name: &str, timeout: Duration) -> Checks {
    Checks {
        hooks: vec![HookSpec::new(name, timeout)],
        analysis: None,
    }
}

#[test]
fn a_document_reads_with_argo_vocabulary_and_defaults() {
    let doc = r#"{"desired": 4, "strategy": {"blue_green": {
        "preview_replicas": 1,
        "preview_route": {"match": "header_equals", "name": "x-preview", "value": "1"},
        "pre_promotion": {"hooks": [{"name": "smoke", "timeout": "5m"}]},
        "promotion": "manual",
        "keep_standby": true
    }}}"#;
    let spec: RolloutSpec = serde_json::from_str(doc).unwrap();
    let limits = spec.validate().unwrap();
    assert_eq!((limits.max_total(), limits.min_available()), (8, 4));
    let StrategySpec::BlueGreen(bg) = &spec.strategy else {
        panic!("{spec:?}");
    };
    assert_eq!(bg.scale_down_delay, Duration::from_secs(30));
    assert_eq!(bg.abort_scale_down_delay, Some(Duration::from_secs(30)));
    // A written spec reads back the same.
    let written = serde_json::to_string(&spec).unwrap();
    assert_eq!(serde_json::from_str::<RolloutSpec>(&written).unwrap(), spec);
}

#[test]
fn a_preview_larger_than_the_service() {
    let spec = blue_green(3, |bg| bg.preview_replicas = Some(4));
    assert_eq!(
        spec.validate(),
        Err(SpecError::PreviewTooLarge {
            preview: 4,
            desired: 3
        })
    );
    assert_eq!(
        Rollout::new(Timestamp::ZERO, spec, []).unwrap_err(),
        SpecError::PreviewTooLarge {
            preview: 4,
            desired: 3
        }
    );
    let message = refusal(r#"{"desired": 3, "strategy": {"blue_green": {"preview_replicas": 4}}}"#);
    assert_says(
        &message,
        &["preview_replicas is 4", "at most the full size"],
    );
}

#[test]
fn hooks_need_a_name_a_timeout_and_a_name_of_their_own() {
    let cases = [
        (hook("", Duration::from_secs(5)), "it has no name"),
        (hook("smoke", Duration::ZERO), "its timeout is 0"),
        (
            Checks {
                hooks: vec![
                    HookSpec::new("smoke", Duration::from_secs(5)),
                    HookSpec::new("smoke", Duration::from_secs(9)),
                ],
                analysis: None,
            },
            "listed twice",
        ),
    ];
    for (checks, says) in cases {
        let spec = blue_green(2, |bg| bg.post_promotion = checks.clone());
        let error = spec.validate().unwrap_err();
        assert!(
            matches!(
                error,
                SpecError::InvalidHook {
                    stage: "post_promotion",
                    ..
                }
            ),
            "{error:?}"
        );
        assert_says(&error.to_string(), &["post_promotion hook", says]);
    }
    // A document that leaves the timeout out is refused as it is read.
    let message = refusal(
        r#"{"desired": 2, "strategy": {"blue_green": {"pre_promotion": {"hooks": [{"name": "smoke"}]}}}}"#,
    );
    assert_says(&message, &["missing field `timeout`"]);
}

#[test]
fn checks_may_name_only_defined_analyses_that_end() {
    let spec = blue_green(2, |bg| {
        bg.pre_promotion = Checks {
            hooks: vec![],
            analysis: Some("latency".into()),
        }
    });
    assert_eq!(
        spec.validate(),
        Err(SpecError::UnknownAnalysis {
            stage: "pre_promotion",
            name: "latency".into()
        })
    );
    let mut open_ended = spec.clone();
    let mut metric = MetricSpec::new(
        "p99",
        MetricCheck::Threshold {
            success: Some(cutover::analysis::Condition::Below(0.3)),
            failure: None,
        },
    );
    metric.interval = Some(Duration::from_secs(60));
    open_ended.analyses.insert("latency".into(), vec![metric]);
    let error = open_ended.validate().unwrap_err();
    assert_eq!(
        error,
        SpecError::OpenEndedAnalysis {
            analysis: "latency".into(),
            metric: "p99".into()
        }
    );
    assert_says(&error.to_string(), &["never ends", "give it a count"]);
    let mut empty = spec;
    empty.analyses.insert("latency".into(), vec![]);
    let error = empty.validate().unwrap_err();
    assert!(
        matches!(error, SpecError::InvalidAnalysis { .. }),
        "{error:?}"
    );
    assert_says(&error.to_string(), &["analysis \"latency\"", "no metrics"]);
}

#[test]
fn a_preview_route_must_be_a_header_or_cookie_with_a_name() {
    let keys = MatchCondition::KeyIn {
        keys: ["alice".to_owned()].into_iter().collect(),
    };
    let error = blue_green(2, |bg| bg.preview_route = Some(keys))
        .validate()
        .unwrap_err();
    assert_says(&error.to_string(), &["preview_route", "header or cookie"]);
    let nameless = MatchCondition::header_equals("", "1");
    let error = blue_green(2, |bg| bg.preview_route = Some(nameless))
        .validate()
        .unwrap_err();
    assert_says(&error.to_string(), &["preview_route", "name is empty"]);
}

#[test]
fn max_unavailable_is_a_share_of_desired_and_downtime_must_be_allowed() {
    let error = blue_green(4, |bg| bg.max_unavailable = Quantity::Percent(120))
        .validate()
        .unwrap_err();
    assert_eq!(
        error,
        SpecError::PercentOutOfRange {
            field: "max_unavailable",
            percent: 120
        }
    );
    // Giving up all of blue before green is built is a recreate: downtime.
    let all = blue_green(4, |bg| bg.max_unavailable = Quantity::Percent(100));
    assert!(matches!(
        all.validate(),
        Err(SpecError::DowntimeRequired { .. })
    ));
    let allowed = RolloutSpec {
        allow_downtime: true,
        ..all
    };
    assert_eq!(allowed.validate().unwrap().max_total(), 4);
    // Argo's blue-green rounds down and has no both-zero rule: 10% of 4 is 0.
    let limits = blue_green(4, |bg| bg.max_unavailable = Quantity::Percent(10))
        .validate()
        .unwrap();
    assert_eq!((limits.max_total(), limits.min_available()), (8, 4));
}

#[test]
fn negative_delays_and_unknown_fields_are_refused_in_documents() {
    let message =
        refusal(r#"{"desired": 2, "strategy": {"blue_green": {"scale_down_delay": "-30s"}}}"#);
    assert_says(&message, &["invalid duration", "-30s"]);
    let message =
        refusal(r#"{"desired": 2, "strategy": {"blue_green": {"auto_promotion_seconds": 30}}}"#);
    assert_says(&message, &["unknown field `auto_promotion_seconds`"]);
    let message =
        refusal(r#"{"desired": 2, "strategy": {"blue_green": {"promotion": {"auto": 30}}}}"#);
    assert_says(&message, &["no unit"]);
}
