//! Bounds on every list, name, duration and text a spec or a document holds (issue 24,
//! section 5): each was accepted once; each is now refused with a typed error naming the
//! setting, and none is kept.

mod world;

use cutover::spec::{
    BlueGreenSpec, Checks, HookSpec, MAX_NAME_BYTES, MAX_SPEC_DURATION, MAX_SPEC_LIST, Promotion,
};
use cutover::{Duration, Revision, RolloutSpec, SpecError, StrategySpec, TrafficTable};
use serde_json::json;

fn blue_green(edit: impl FnOnce(&mut BlueGreenSpec)) -> RolloutSpec {
    let mut bg = BlueGreenSpec::default();
    edit(&mut bg);
    RolloutSpec {
        desired: 3,
        strategy: StrategySpec::BlueGreen(bg),
        ..RolloutSpec::default()
    }
}

#[test]
fn a_hundred_thousand_hooks_are_refused() {
    let spec = blue_green(|bg| {
        bg.pre_promotion = Checks {
            hooks: (0..100_000)
                .map(|i| HookSpec::new(format!("h{i}"), Duration::from_secs(1)))
                .collect(),
            analysis: None,
        };
    });
    assert_eq!(
        spec.validate().unwrap_err(),
        SpecError::TooMany {
            field: "strategy.blue_green.pre_promotion.hooks".to_owned(),
            count: 100_000,
            max: MAX_SPEC_LIST,
        }
    );
}

#[test]
fn a_promotion_in_999999999_hours_is_refused_naming_its_path() {
    let error = RolloutSpec::from_json(
        r#"{"desired": 3, "strategy": {"blue_green": {"promotion": {"auto": "999999999h"}}}}"#,
    )
    .unwrap_err();
    assert_eq!(
        error.path(),
        "strategy.blue_green.promotion.auto",
        "{error}"
    );
    let spec =
        blue_green(|bg| bg.promotion = Promotion::Auto(Duration::from_mins(999_999_999 * 60)));
    assert!(matches!(
        spec.validate(),
        Err(SpecError::DurationTooLong {
            max: MAX_SPEC_DURATION,
            ..
        })
    ));
}

#[test]
fn delays_of_u64_max_milliseconds_are_refused() {
    let forever = Duration::from_millis(u64::MAX);
    let cases: [(&str, RolloutSpec); 4] = [
        (
            "strategy.blue_green.scale_down_delay",
            blue_green(|bg| bg.scale_down_delay = forever),
        ),
        (
            "strategy.blue_green.abort_scale_down_delay",
            blue_green(|bg| bg.abort_scale_down_delay = Some(forever)),
        ),
        (
            "drain_timeout",
            RolloutSpec {
                drain_timeout: forever,
                ..RolloutSpec::default()
            },
        ),
        (
            "traffic_ack_timeout",
            RolloutSpec {
                traffic_ack_timeout: forever,
                ..RolloutSpec::default()
            },
        ),
    ];
    for (field, spec) in cases {
        match spec.validate() {
            Err(SpecError::DurationTooLong { field: named, .. }) => assert_eq!(named, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    // The bound itself is allowed.
    let spec = blue_green(|bg| bg.scale_down_delay = MAX_SPEC_DURATION);
    spec.validate().unwrap();
}

#[test]
fn empty_and_huge_names_are_refused_when_read() {
    assert!(serde_json::from_str::<Revision>(r#""""#).is_err());
    assert!(serde_json::from_str::<cutover::InstanceId>(r#""""#).is_err());
    let long = "x".repeat(MAX_NAME_BYTES + 1);
    assert!(serde_json::from_value::<Revision>(json!(long)).is_err());
    assert!(serde_json::from_value::<Revision>(json!("x".repeat(MAX_NAME_BYTES))).is_ok());
    let table = json!({
        "generation": 1,
        "revisions": [{ "revision": "v1", "weight": "100%", "instances": [{ "id": "", "weight": 1 }] }]
    });
    let error = serde_json::from_value::<TrafficTable>(table).unwrap_err();
    assert!(error.to_string().contains("empty InstanceId"), "{error}");
    // An empty hook name in a spec document: refused with its path.
    let error = RolloutSpec::from_json(
        r#"{"desired": 3, "strategy": {"blue_green": {"pre_promotion": {"hooks": [{"name": "", "timeout": "1m"}]}}}}"#,
    )
    .unwrap_err();
    assert!(
        error
            .path()
            .starts_with("strategy.blue_green.pre_promotion.hooks"),
        "{error}"
    );
}

#[test]
fn a_ten_megabyte_reason_in_a_document_is_refused_not_kept() {
    let mut doc = world::document();
    let reason = "x".repeat(10 << 20);
    doc["rollout"]["events"] = json!([{
        "at": 0,
        "kind": { "event": "instance_failed", "instance": "v2-1", "reason": reason }
    }]);
    let message = world::refused(doc);
    assert!(
        message.contains("longer than the 4096"),
        "{}",
        &message[..200.min(message.len())]
    );
    assert!(
        message.len() < 1_000,
        "the refusal quotes no more than a few lines"
    );
}
