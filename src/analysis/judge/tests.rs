use proptest::prelude::*;

use super::*;
use crate::analysis::score::*;

fn base() -> Vec<f64> {
    (0..60).map(|i| 100.0 + f64::from(i % 13)).collect()
}

fn scaled(values: &[f64], factor: f64) -> Vec<f64> {
    values.iter().map(|v| v * factor).collect()
}

fn classify(spec: &MetricJudgeSpec, canary: &[f64], baseline: &[f64]) -> Classification {
    classify_metric(spec, canary, baseline)
        .unwrap()
        .classification
}

#[test]
fn high_low_and_pass_follow_the_interval_and_the_band() {
    let spec = MetricJudgeSpec::new("latency");
    let b = base();
    assert_eq!(classify(&spec, &scaled(&b, 1.5), &b), Classification::High);
    assert_eq!(classify(&spec, &scaled(&b, 0.6), &b), Classification::Low);
    assert_eq!(classify(&spec, &b, &b), Classification::Pass);
    let shuffled: Vec<f64> = b.iter().rev().copied().collect();
    assert_eq!(
        classify_metric(&spec, &shuffled, &b).unwrap().reason,
        "the canary and baseline data are identical"
    );
}

#[test]
fn direction_ignores_the_harmless_change() {
    let b = base();
    let increase = MetricJudgeSpec {
        direction: Direction::Increase,
        ..MetricJudgeSpec::new("latency")
    };
    assert_eq!(
        classify(&increase, &scaled(&b, 0.5), &b),
        Classification::Pass
    );
    let decrease = MetricJudgeSpec {
        direction: Direction::Decrease,
        ..MetricJudgeSpec::new("throughput")
    };
    assert_eq!(
        classify(&decrease, &scaled(&b, 1.5), &b),
        Classification::Pass
    );
}

#[test]
fn effect_size_limits_gate_significant_changes() {
    let b = base();
    let canary = scaled(&b, 1.1);
    let strict = MetricJudgeSpec::new("latency");
    assert_eq!(classify(&strict, &canary, &b), Classification::High);
    let lenient = MetricJudgeSpec {
        allowed_increase: 1.2,
        ..MetricJudgeSpec::new("latency")
    };
    assert_eq!(classify(&lenient, &canary, &b), Classification::Pass);
    let cles = MetricJudgeSpec {
        effect_size: EffectSize::Cles,
        allowed_increase: 0.99,
        allowed_decrease: 0.5,
        critical_increase: 0.5,
        critical_decrease: 0.5,
        ..MetricJudgeSpec::new("latency")
    };
    assert_eq!(classify(&cles, &canary, &b), Classification::Pass);
    let far = scaled(&b, 3.0);
    let result = classify_metric(&cles, &far, &b).unwrap();
    assert_eq!(
        (result.classification, result.effect_size),
        (Classification::High, 1.0)
    );
}

#[test]
fn critical_limits_decide_whether_a_failure_is_critical() {
    let b = base();
    let spec = MetricJudgeSpec {
        critical: true,
        critical_increase: 2.0,
        ..MetricJudgeSpec::new("latency")
    };
    let mild = classify_metric(&spec, &scaled(&b, 1.3), &b).unwrap();
    assert_eq!(
        (mild.classification, mild.critical),
        (Classification::High, false)
    );
    let severe = classify_metric(&spec, &scaled(&b, 2.5), &b).unwrap();
    assert_eq!(
        (severe.classification, severe.critical),
        (Classification::High, true)
    );
    assert!(severe.reason.contains("(Critical)"));
}

#[test]
fn no_data_nans_and_outliers() {
    let spec = MetricJudgeSpec::new("errors");
    let b = base();
    assert_eq!(classify(&spec, &[], &b), Classification::NoData);
    assert_eq!(
        classify(&spec, &[f64::NAN, f64::NAN], &b),
        Classification::NoData
    );
    let required = MetricJudgeSpec {
        must_have_data: true,
        ..MetricJudgeSpec::new("errors")
    };
    assert_eq!(classify(&required, &[], &b), Classification::NoDataFail);
    let critical = classify_metric(
        &MetricJudgeSpec {
            critical: true,
            ..MetricJudgeSpec::new("e")
        },
        &[],
        &b,
    )
    .unwrap();
    assert_eq!(
        (critical.classification, critical.critical),
        (Classification::NoData, true)
    );

    let replace = MetricJudgeSpec {
        nan_strategy: NanStrategy::Replace(0.0),
        ..MetricJudgeSpec::new("errors")
    };
    let with_nans: Vec<f64> = b
        .iter()
        .map(|&v| if v > 104.0 { f64::NAN } else { v })
        .collect();
    let r = classify_metric(&replace, &with_nans, &b).unwrap();
    assert!(r.estimate.unwrap() < -50.0 && r.effect_size < 0.5, "{r:?}");

    let mut spiky: Vec<f64> = b.iter().cycle().take(300).copied().collect();
    spiky.push(1e12);
    let kept = classify_metric(&spec, &spiky, &b).unwrap();
    let trimmed = MetricJudgeSpec {
        outlier_factor: Some(3.0),
        ..MetricJudgeSpec::new("errors")
    };
    let removed = classify_metric(&trimmed, &spiky, &b).unwrap();
    assert!(
        kept.effect_size > 1e6 && removed.effect_size < 1.01,
        "{kept:?} {removed:?}"
    );

    assert_eq!(
        classify(&spec, &[1.0, f64::INFINITY], &b),
        Classification::Error
    );
}

#[test]
fn both_constant_is_decided_without_noise() {
    let spec = MetricJudgeSpec::new("errors");
    assert_eq!(
        classify(&spec, &[5.0; 10], &[4.0; 10]),
        Classification::High
    );
    assert_eq!(classify(&spec, &[3.0; 10], &[4.0; 12]), Classification::Low);
    assert_eq!(classify(&spec, &[4.0; 3], &[4.0; 12]), Classification::Pass);
    // Deterministic: the same answer every time.
    let first = classify_metric(&spec, &[5.0; 10], &[4.0; 10]).unwrap();
    assert_eq!(
        classify_metric(&spec, &[5.0; 10], &[4.0; 10]).unwrap(),
        first
    );
}

#[test]
fn percentiles_are_apache_commons_legacy_estimates() {
    let sorted = [1.0, 2.0, 3.0, 4.0, 5.0];
    assert_eq!(percentile(&sorted, 25.0), 1.5);
    assert_eq!(percentile(&sorted, 75.0), 4.5);
    assert_eq!(percentile(&sorted, 1.0), 1.0);
    assert_eq!(percentile(&sorted, 99.0), 5.0);
    assert_eq!(percentile(&[7.0], 50.0), 7.0);
}

fn spec_of(metrics: &[(&str, bool, bool)], groups: &[(&str, Option<f64>, &[&str])]) -> JudgeSpec {
    JudgeSpec {
        metrics: metrics
            .iter()
            .map(|(name, critical, muted)| MetricJudgeSpec {
                critical: *critical,
                muted: *muted,
                ..MetricJudgeSpec::new(*name)
            })
            .collect(),
        groups: groups
            .iter()
            .map(|(name, weight, members)| GroupSpec {
                name: (*name).into(),
                weight: *weight,
                metrics: members.iter().map(|m| (*m).to_owned()).collect(),
            })
            .collect(),
        pass_threshold: 95.0,
        marginal_threshold: 75.0,
    }
}

fn result(name: &str, classification: Classification) -> MetricClassification {
    MetricClassification {
        name: name.into(),
        classification,
        critical: false,
        muted: false,
        effect_size: 1.0,
        estimate: None,
        p_value: None,
        reason: String::new(),
    }
}

#[test]
fn group_weights_share_what_is_left_of_100() {
    let spec = spec_of(
        &[
            ("a", false, false),
            ("b", false, false),
            ("c", false, false),
        ],
        &[
            ("latency", Some(50.0), &["a", "b"]),
            ("errors", None, &["c"]),
        ],
    );
    let j = score_judgement(
        &spec,
        &[
            result("a", Classification::Pass),
            result("b", Classification::High),
            result("c", Classification::Pass),
        ],
    )
    .unwrap();
    assert_eq!(j.score, 75.0);
    assert_eq!(j.outcome, Outcome::Marginal);
    assert_eq!(j.groups[0].score, 50.0);
}

#[test]
fn critical_failures_and_missing_data_zero_the_score() {
    let spec = spec_of(
        &[("a", true, false), ("b", false, false)],
        &[("all", None, &["a", "b"])],
    );
    let mut critical = result("a", Classification::High);
    critical.critical = true;
    let j = score_judgement(&spec, &[critical, result("b", Classification::Pass)]).unwrap();
    assert_eq!((j.score, j.outcome), (0.0, Outcome::Fail));
    assert!(j.reason.contains("critical metric a"));

    let spec = spec_of(
        &[("a", false, false), ("b", false, false)],
        &[("all", None, &["a", "b"])],
    );
    let j = score_judgement(
        &spec,
        &[
            result("a", Classification::NoData),
            result("b", Classification::Pass),
        ],
    )
    .unwrap();
    assert_eq!(j.score, 0.0, "half the metrics without data fails");
    let spec = spec_of(
        &[
            ("a", false, false),
            ("b", false, false),
            ("c", false, false),
        ],
        &[("x", None, &["a"]), ("y", None, &["b", "c"])],
    );
    let j = score_judgement(
        &spec,
        &[
            result("a", Classification::NoData),
            result("b", Classification::Pass),
            result("c", Classification::Pass),
        ],
    )
    .unwrap();
    assert_eq!(
        j.score, 100.0,
        "a group with only no-data metrics counts as 100"
    );
}

#[test]
fn muted_metrics_are_reported_but_never_count() {
    let spec = spec_of(
        &[("a", true, true), ("b", false, false)],
        &[("all", None, &["a", "b"])],
    );
    let mut loud = result("a", Classification::High);
    loud.critical = true;
    loud.muted = true;
    let j = score_judgement(&spec, &[loud, result("b", Classification::Pass)]).unwrap();
    assert_eq!((j.score, j.outcome), (100.0, Outcome::Pass));
    assert_eq!(j.metrics[0].classification, Classification::High);
}

#[test]
fn invalid_judge_specs_say_what_to_change() {
    let ok = spec_of(&[("a", false, false)], &[("g", Some(60.0), &["a"])]);
    assert!(ok.validate().is_ok());
    let unknown = spec_of(&[("a", false, false)], &[("g", None, &["a", "zz"])]);
    assert!(matches!(
        unknown.validate(),
        Err(AnalysisSpecError::UnknownMetricInGroup { .. })
    ));
    let heavy = spec_of(
        &[("a", false, false), ("b", false, false)],
        &[("g", Some(70.0), &["a"]), ("h", Some(40.0), &["b"])],
    );
    assert!(matches!(
        heavy.validate(),
        Err(AnalysisSpecError::GroupWeightsOver100 { .. })
    ));
    let lonely = spec_of(
        &[("a", false, false), ("b", false, false)],
        &[("g", None, &["a"])],
    );
    assert!(matches!(
        lonely.validate(),
        Err(AnalysisSpecError::MetricInNoGroup { .. })
    ));
    let mut inverted = ok.clone();
    inverted.pass_threshold = 50.0;
    assert!(matches!(
        inverted.validate(),
        Err(AnalysisSpecError::PassBelowMarginal { .. })
    ));
    let mut bad_conf = ok.clone();
    bad_conf.metrics[0].confidence = 1.0;
    assert!(matches!(
        bad_conf.validate(),
        Err(AnalysisSpecError::InvalidConfidence { .. })
    ));
    let mut bad_limit = ok.clone();
    bad_limit.metrics[0].allowed_increase = -1.0;
    assert!(matches!(
        bad_limit.validate(),
        Err(AnalysisSpecError::InvalidNumber { .. })
    ));
    let mut empty = ok;
    empty.metrics.clear();
    empty.groups.clear();
    assert!(matches!(
        empty.validate(),
        Err(AnalysisSpecError::NoMetrics { .. })
    ));
}

fn values() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(
        prop_oneof![
            Just(f64::NAN),
            (0i32..50).prop_map(f64::from),
            0.0f64..100.0
        ],
        0..30,
    )
}

proptest! {
    #[test]
    fn classification_never_panics_and_is_deterministic(canary in values(), baseline in values()) {
        let spec = MetricJudgeSpec { outlier_factor: Some(3.0), ..MetricJudgeSpec::new("m") };
        let a = classify_metric(&spec, &canary, &baseline).unwrap();
        let b = classify_metric(&spec, &canary, &baseline).unwrap();
        prop_assert_eq!(&a, &b);
        let swapped = classify_metric(&spec, &baseline, &canary).unwrap();
        // Swapping the samples mirrors High and Low (the band is symmetric).
        let mirrored = match a.classification {
            Classification::High => Classification::Low,
            Classification::Low => Classification::High,
            other => other,
        };
        if matches!(a.classification, Classification::High | Classification::Low) {
            prop_assert!(swapped.classification == mirrored || swapped.classification == Classification::Pass,
                "{:?} vs {:?}", a, swapped);
        }
    }

    #[test]
    fn scores_stay_in_range(classes in prop::collection::vec(0usize..6, 1..12), weight in prop::option::of(0.0f64..100.0)) {
        let all = [Classification::Pass, Classification::High, Classification::Low, Classification::NoData, Classification::NoDataFail, Classification::Error];
        let names: Vec<String> = (0..classes.len()).map(|i| format!("m{i}")).collect();
        let (first, rest) = names.split_at(1);
        let spec = JudgeSpec {
            metrics: names.iter().map(MetricJudgeSpec::new).collect(),
            groups: vec![
                GroupSpec { name: "g".into(), weight, metrics: first.to_vec() },
                GroupSpec { name: "h".into(), weight: None, metrics: rest.to_vec() },
            ],
            pass_threshold: 90.0,
            marginal_threshold: 50.0,
        };
        let results: Vec<MetricClassification> = names.iter().zip(&classes).map(|(n, &c)| result(n, all[c])).collect();
        let j = score_judgement(&spec, &results).unwrap();
        prop_assert!((0.0..=100.0).contains(&j.score), "{}", j.score);
        let all_pass = classes.iter().all(|&c| c == 0);
        if all_pass && weight.is_none() {
            prop_assert_eq!(j.score, 100.0);
        }
    }
}
