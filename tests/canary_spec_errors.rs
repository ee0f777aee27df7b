//! Every invalid canary spec is refused with a `SpecError` that says what to change,
//! from Rust and from a document.

mod world;

use world::{assert_says, canary, refusal};

use cutover::analysis::{
    AnalysisSpecError, AnalysisStart, BackgroundAnalysis, Condition, MetricCheck, MetricSpec,
};
use cutover::spec::{CanaryPlan, CanaryStep, Quantity};
use cutover::strategy::CanaryScale;
use cutover::traffic::MatchCondition;
use cutover::{Duration, RolloutSpec, SpecError, StrategySpec, Weight};

fn percent(p: u64) -> Weight {
    Weight::from_percent(p).unwrap()
}

#[test]
fn a_document_reads_steps_and_presets_and_writes_back_the_same() {
    let doc = r#"{"desired": 10, "analyses": {"errors": [{"name": "error-rate",
            "check": {"threshold": {"success": {"below": 0.05}}}}]},
        "strategy": {"canary": {
        "plan": {"steps": [
            {"set_weight": "10%"},
            {"pause": {"duration": "5m"}},
            {"set_canary_scale": {"replicas": 2}},
            {"set_route": {"match": "header_equals", "name": "x-canary", "value": "1"}},
            {"set_mirror": "5%"},
            {"analysis": {"analysis": "errors", "on_failure": "pause"}},
            {"experiment": {"duration": "10m", "analysis": "errors", "on_failure": "step_back"}},
            {"pause": {}}
        ]},
        "dynamic_stable_scale": true
    }}}"#;
    let spec: RolloutSpec = serde_json::from_str(doc).unwrap();
    spec.validate().unwrap();
    let StrategySpec::Canary(c) = &spec.strategy else {
        panic!("{spec:?}");
    };
    assert_eq!(c.plan.len(), 8);
    assert!(c.traffic_routing, "a traffic router by default");
    assert_eq!(c.abort_scale_down_delay, Some(Duration::from_secs(30)));
    let written = serde_json::to_string(&spec).unwrap();
    assert_eq!(serde_json::from_str::<RolloutSpec>(&written).unwrap(), spec);

    let linear = r#"{"desired": 3, "strategy": {"canary": {"plan": {"linear": {"weight": "10%", "every": "1m"}}}}}"#;
    let spec: RolloutSpec = serde_json::from_str(linear).unwrap();
    let StrategySpec::Canary(c) = &spec.strategy else {
        panic!("{spec:?}");
    };
    assert_eq!(c.plan.len(), 18, "10% .. 90%, each watched");
    let all = r#"{"desired": 3, "strategy": {"canary": {"plan": "all_at_once"}}}"#;
    serde_json::from_str::<RolloutSpec>(all)
        .unwrap()
        .validate()
        .unwrap();
}

#[test]
fn a_weight_over_100_percent() {
    let doc = r#"{"desired": 3, "strategy": {"canary": {"plan": {"steps": [{"set_weight": "100.01%"}]}}}}"#;
    assert_says(&refusal(doc), &[r#"weight "100.01%" is above 100%"#]);
}

#[test]
fn steps_after_all_traffic_that_make_no_sense() {
    for step in [
        CanaryStep::SetWeight(percent(50)),
        CanaryStep::SetCanaryScale(CanaryScale::Replicas(1)),
        CanaryStep::SetRoute(Some(MatchCondition::header_equals("x", "1"))),
        CanaryStep::SetMirror(percent(10)),
        CanaryStep::Experiment {
            duration: Some(Duration::from_mins(5)),
            analysis: None,
            on_failure: Default::default(),
        },
    ] {
        let spec = canary(4, vec![CanaryStep::SetWeight(Weight::FULL), step], |_| {});
        let error = spec.validate().unwrap_err();
        assert!(
            matches!(error, SpecError::InvalidCanaryStep { step: 1, .. }),
            "{error}"
        );
        assert_says(&error.to_string(), &["canary step 1", "all traffic"]);
    }
    // A pause after 100% (bake time) is fine.
    let bake = canary(
        4,
        vec![
            CanaryStep::SetWeight(Weight::FULL),
            CanaryStep::Pause { duration: None },
        ],
        |_| {},
    );
    bake.validate().unwrap();
}

#[test]
fn a_route_or_mirror_without_a_router() {
    for step in [
        CanaryStep::SetRoute(Some(MatchCondition::header_equals("x", "1"))),
        CanaryStep::SetMirror(percent(10)),
    ] {
        let spec = canary(4, vec![step], |c| c.traffic_routing = false);
        let error = spec.validate().unwrap_err();
        assert!(
            matches!(error, SpecError::InvalidCanaryStep { step: 0, .. }),
            "{error}"
        );
        assert_says(&error.to_string(), &["traffic router"]);
    }
    let empty = canary(
        4,
        vec![CanaryStep::SetRoute(Some(MatchCondition::header_equals(
            "", "1",
        )))],
        |_| {},
    );
    assert_says(
        &empty.validate().unwrap_err().to_string(),
        &["name is empty"],
    );
}

#[test]
fn a_canary_scale_above_the_surge_without_a_router_or_above_the_service_with_one() {
    let basic = canary(
        10,
        vec![CanaryStep::SetCanaryScale(CanaryScale::Replicas(4))],
        |c| {
            c.traffic_routing = false;
            c.max_surge = Quantity::Count(3);
        },
    );
    let error = basic.validate().unwrap_err();
    assert!(
        matches!(
            error,
            SpecError::CanaryScaleTooLarge {
                step: 0,
                replicas: 4,
                max: 3,
                ..
            }
        ),
        "{error}"
    );
    assert_says(&error.to_string(), &["max_surge"]);
    let routed = canary(
        10,
        vec![CanaryStep::SetCanaryScale(CanaryScale::Replicas(11))],
        |_| {},
    );
    assert!(matches!(
        routed.validate(),
        Err(SpecError::CanaryScaleTooLarge { max: 10, .. })
    ));
}

#[test]
fn an_analysis_step_naming_an_unknown_analysis() {
    let spec = canary(
        4,
        vec![CanaryStep::Analysis {
            analysis: "latency".into(),
            on_failure: Default::default(),
        }],
        |_| {},
    );
    let error = spec.validate().unwrap_err();
    assert!(
        matches!(error, SpecError::UnknownAnalysis { ref name, .. } if name == "latency"),
        "{error}"
    );
}

#[test]
fn negative_or_malformed_durations_and_bad_presets() {
    let doc = r#"{"desired": 3, "strategy": {"canary": {"plan": {"steps": [{"pause": {"duration": "-5m"}}]}}}}"#;
    assert_says(&refusal(doc), &["-5m"]);
    for weight in [Weight::ZERO, Weight::FULL] {
        let spec = canary(3, Vec::new(), |c| {
            c.plan = CanaryPlan::Canary {
                weight,
                after: Duration::from_mins(1),
            };
        });
        assert!(matches!(
            spec.validate(),
            Err(SpecError::InvalidCanary { .. })
        ));
    }
    let tiny = canary(3, Vec::new(), |c| {
        c.plan = CanaryPlan::Linear {
            weight: Weight::from_basis_points(1).unwrap(),
            every: Duration::from_mins(1),
        };
    });
    assert!(matches!(
        tiny.validate(),
        Err(SpecError::TooManySteps { max: 1_000, .. })
    ));
    let many = canary(3, vec![CanaryStep::Pause { duration: None }; 1_001], |_| {});
    assert!(matches!(
        many.validate(),
        Err(SpecError::TooManySteps { count: 1_001, .. })
    ));
}

#[test]
fn limits_and_background_analysis_that_cannot_work() {
    let no_progress = canary(3, Vec::new(), |c| {
        c.traffic_routing = false;
        c.max_surge = Quantity::Count(0);
        c.max_unavailable = Quantity::Count(0);
    });
    assert_eq!(no_progress.validate(), Err(SpecError::NoProgressPossible));
    let min = canary(3, Vec::new(), |c| c.min_instances = 4);
    assert!(matches!(
        min.validate(),
        Err(SpecError::InvalidCanary { .. })
    ));
    let check = MetricCheck::Threshold {
        success: Some(Condition::Below(0.05)),
        failure: None,
    };
    let metric = MetricSpec {
        interval: Some(cutover::Duration::from_mins(1)),
        ..MetricSpec::new("error-rate", check)
    };
    let mut background = BackgroundAnalysis::new(vec![metric]);
    background.start = AnalysisStart::AtStep(3);
    let mut late = canary(3, vec![CanaryStep::SetWeight(percent(10))], |_| {});
    late.background_analysis = Some(background.clone());
    assert!(matches!(
        late.validate(),
        Err(SpecError::InvalidCanary { .. })
    ));
    // At a step is for canaries only.
    let mut rolling = world::spec(3, "1", "0");
    rolling.background_analysis = Some(background);
    assert_eq!(
        rolling.validate(),
        Err(SpecError::Analysis(AnalysisSpecError::AtStepWithoutSteps))
    );
}

#[test]
fn experiments_that_could_not_end_or_compare_anything() {
    let experiment = |duration: Option<u64>, analysis: Option<&str>| CanaryStep::Experiment {
        duration: duration.map(Duration::from_millis),
        analysis: analysis.map(String::from),
        on_failure: Default::default(),
    };
    // Nothing ends it.
    let spec = canary(
        4,
        vec![CanaryStep::SetWeight(percent(10)), experiment(None, None)],
        |_| {},
    );
    let error = spec.validate().unwrap_err();
    assert!(
        matches!(error, SpecError::InvalidCanaryStep { step: 1, .. }),
        "{error}"
    );
    assert_says(&error.to_string(), &["duration or an analysis"]);
    // No traffic reaches the canary yet (a route would do).
    let spec = canary(4, vec![experiment(Some(1_000), None)], |_| {});
    assert_says(
        &spec.validate().unwrap_err().to_string(),
        &["canary step 0", "no traffic reaches the canary"],
    );
    let routed = canary(
        4,
        vec![
            CanaryStep::SetRoute(Some(MatchCondition::header_equals("x", "1"))),
            experiment(Some(1_000), None),
        ],
        |_| {},
    );
    routed.validate().unwrap();
    // An analysis the spec does not define.
    let spec = canary(
        4,
        vec![
            CanaryStep::SetWeight(percent(10)),
            experiment(None, Some("latency")),
        ],
        |_| {},
    );
    assert_says(
        &spec.validate().unwrap_err().to_string(),
        &["latency", "experiment"],
    );
}
