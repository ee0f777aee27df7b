use super::*;
use crate::analysis::check::Condition;
use crate::analysis::judge::MetricJudgeSpec;
use crate::analysis::sequential::SequentialSpec;

fn t(secs: u64) -> Timestamp {
    Timestamp::from_millis(secs * 1000)
}

fn error_rate(count: i64) -> MetricSpec {
    let mut spec = MetricSpec::new(
        "error-rate",
        MetricCheck::Threshold {
            success: Some(Condition::Below(0.01)),
            failure: Some(Condition::AtLeast(0.05)),
        },
    );
    spec.interval = Some(Duration::from_secs(60));
    spec.count = Some(count);
    spec
}

#[test]
fn schedule_follows_initial_delay_interval_and_error_retry() {
    let mut spec = error_rate(3);
    spec.initial_delay = Duration::from_secs(30);
    let mut run = MetricRun::new(t(100), spec).unwrap();
    assert_eq!(run.next_due(), Some(t(130)));
    assert_eq!(
        run.record(t(131), Measurement::Value(0.001)),
        Some(Verdict::Successful)
    );
    assert_eq!(run.next_due(), Some(t(191)));
    assert_eq!(
        run.record(t(191), Measurement::Error("timeout".into())),
        Some(Verdict::Error)
    );
    assert_eq!(run.next_due(), Some(t(201)), "errors are retried after 10s");
    run.record(t(201), Measurement::Value(0.002));
    run.record(t(261), Measurement::Value(0.003));
    assert_eq!(run.phase(), RunPhase::Successful);
    assert_eq!(run.next_due(), None);
    assert_eq!(
        run.record(t(400), Measurement::Value(1.0)),
        None,
        "a complete metric ignores answers"
    );
}

#[test]
fn errors_up_to_the_limit_are_tolerated_one_more_is_an_error() {
    let mut run = MetricRun::new(t(0), error_rate(10)).unwrap();
    for i in 0..4 {
        run.record(t(i), Measurement::Error("down".into()));
        assert_eq!(run.phase(), RunPhase::Running);
    }
    run.record(t(5), Measurement::Error("down".into()));
    assert_eq!(run.phase(), RunPhase::Error);
    assert!(
        run.reason()
            .contains("consecutive errors (5) > consecutive_error_limit (4)")
    );
}

#[test]
fn a_success_resets_the_error_streak() {
    let mut run = MetricRun::new(t(0), error_rate(10)).unwrap();
    for i in 0..12 {
        let m = if i % 3 == 2 {
            Measurement::Value(0.0)
        } else {
            Measurement::Error("flaky".into())
        };
        run.record(t(i), m);
    }
    assert_eq!(run.phase(), RunPhase::Running);
}

#[test]
fn failure_limit_counts_failures_not_streaks() {
    let mut spec = error_rate(10);
    spec.failure_limit = 2;
    let mut run = MetricRun::new(t(0), spec).unwrap();
    for (i, v) in [0.1, 0.0, 0.1, 0.0, 0.0].iter().enumerate() {
        run.record(t(i as u64), Measurement::Value(*v));
    }
    assert_eq!(run.phase(), RunPhase::Running);
    run.record(t(9), Measurement::Value(0.2));
    assert_eq!(run.phase(), RunPhase::Failed);
}

#[test]
fn no_data_is_inconclusive_unless_the_metric_must_have_data() {
    let mut run = MetricRun::new(t(0), error_rate(5)).unwrap();
    assert_eq!(
        run.record(t(0), Measurement::NoData),
        Some(Verdict::Inconclusive)
    );
    assert_eq!(run.phase(), RunPhase::Inconclusive);
    let mut spec = error_rate(5);
    spec.must_have_data = true;
    let mut run = MetricRun::new(t(0), spec).unwrap();
    assert_eq!(
        run.record(t(0), Measurement::Value(f64::NAN)),
        Some(Verdict::Failed)
    );
    assert_eq!(run.phase(), RunPhase::Failed);
}

#[test]
fn consecutive_success_limit_ends_early_or_leaves_it_inconclusive() {
    let mut spec = error_rate(4);
    spec.consecutive_success_limit = 2;
    spec.failure_limit = 3;
    let mut run = MetricRun::new(t(0), spec.clone()).unwrap();
    run.record(t(0), Measurement::Value(0.0));
    run.record(t(1), Measurement::Value(0.0));
    assert_eq!(run.phase(), RunPhase::Successful);

    let mut run = MetricRun::new(t(0), spec.clone()).unwrap();
    for (i, v) in [0.0, 0.1, 0.0, 0.1].iter().enumerate() {
        run.record(t(i as u64), Measurement::Value(*v));
    }
    assert_eq!(run.phase(), RunPhase::Inconclusive);

    spec.failure_limit = -1;
    let mut run = MetricRun::new(t(0), spec).unwrap();
    for (i, v) in [0.1, 0.1, 0.0, 0.1].iter().enumerate() {
        run.record(t(i as u64), Measurement::Value(*v));
    }
    assert_eq!(
        run.phase(),
        RunPhase::Failed,
        "success limit not reached, failures ignored"
    );
}

#[test]
fn a_failed_metric_stops_the_run_and_dry_runs_never_decide() {
    let mut dry = error_rate(3);
    dry.name = "dry".into();
    dry.dry_run = true;
    let mut other = error_rate(3);
    other.name = "other".into();
    let mut run = AnalysisRun::new(t(0), vec![dry, other]).unwrap();
    assert_eq!(run.due(t(0)), vec!["dry".to_owned(), "other".to_owned()]);
    run.record(t(0), "dry", Measurement::Value(0.5));
    assert_eq!(run.metric("dry").unwrap().phase(), RunPhase::Failed);
    assert_eq!(
        run.phase(),
        RunPhase::Running,
        "a dry run's failure stops nothing"
    );
    run.record(t(0), "other", Measurement::Value(0.0));
    run.record(t(60), "other", Measurement::Value(0.0));
    run.record(t(120), "other", Measurement::Value(0.0));
    assert_eq!(run.phase(), RunPhase::Successful);

    let mut a = error_rate(5);
    a.name = "a".into();
    let mut b = error_rate(5);
    b.name = "b".into();
    let mut run = AnalysisRun::new(t(0), vec![a, b]).unwrap();
    run.record(t(0), "a", Measurement::Value(0.9));
    assert_eq!(run.phase(), RunPhase::Failed);
    assert_eq!(run.metric("b").unwrap().reason(), "run terminated");
    assert_eq!(run.next_due(), None);
    assert!(run.reason().contains("\"a\" assessed Failed"));
    assert_eq!(run.record(t(1), "nope", Measurement::NoData), None);
}

#[test]
fn judged_and_sequential_metrics_take_samples() {
    let mut judged = MetricSpec::new(
        "latency",
        MetricCheck::Judge(MetricJudgeSpec::new("latency")),
    );
    judged.count = Some(1);
    let mut run = MetricRun::new(t(0), judged).unwrap();
    let baseline: Vec<f64> = (0..40).map(|i| 100.0 + f64::from(i % 9)).collect();
    let slow: Vec<f64> = baseline.iter().map(|v| v * 2.0).collect();
    let verdict = run.record(
        t(0),
        Measurement::Samples {
            canary: slow.clone(),
            baseline: baseline.clone(),
        },
    );
    assert_eq!(verdict, Some(Verdict::Failed));

    let mut seq = MetricSpec::new(
        "latency",
        MetricCheck::Sequential(SequentialSpec::default()),
    );
    seq.count = Some(5);
    seq.interval = Some(Duration::from_secs(60));
    let mut run = MetricRun::new(t(0), seq).unwrap();
    assert_eq!(
        run.record(t(0), Measurement::Value(1.0)),
        Some(Verdict::Error)
    );
    assert_eq!(
        run.record(
            t(10),
            Measurement::Samples {
                canary: slow,
                baseline
            }
        ),
        Some(Verdict::Failed)
    );
    assert_eq!(run.phase(), RunPhase::Failed);
}

#[cfg(feature = "serde")]
#[test]
fn a_restored_run_continues_identically() {
    let mut original = AnalysisRun::new(t(0), vec![error_rate(6)]).unwrap();
    original.record(t(0), "error-rate", Measurement::Value(0.001));
    original.record(t(60), "error-rate", Measurement::Error("x".into()));
    let text = serde_json::to_string(&original).unwrap();
    let mut restored: AnalysisRun = serde_json::from_str(&text).unwrap();
    assert_eq!(restored, original);
    for (i, v) in [0.0, 0.02, 0.0, 0.07].iter().enumerate() {
        let at = t(100 + 60 * i as u64);
        assert_eq!(
            original.record(at, "error-rate", Measurement::Value(*v)),
            restored.record(at, "error-rate", Measurement::Value(*v))
        );
        assert_eq!(original.next_due(), restored.next_due());
    }
    assert_eq!(original, restored);
}

#[test]
fn invalid_specs_say_what_to_change() {
    let neither = MetricSpec::new(
        "m",
        MetricCheck::Threshold {
            success: None,
            failure: None,
        },
    );
    assert!(matches!(
        neither.validate(),
        Err(AnalysisSpecError::NoCondition { .. })
    ));
    let mut spec = error_rate(0);
    assert!(matches!(
        spec.validate(),
        Err(AnalysisSpecError::ZeroCountWithInterval { .. })
    ));
    spec.count = Some(-2);
    assert!(matches!(
        spec.validate(),
        Err(AnalysisSpecError::NegativeLimit { field: "count", .. })
    ));
    let mut spec = error_rate(3);
    spec.inconclusive_limit = -1;
    assert!(matches!(
        spec.validate(),
        Err(AnalysisSpecError::NegativeLimit {
            field: "inconclusive_limit",
            ..
        })
    ));
    let mut spec = error_rate(3);
    spec.failure_limit = -1;
    assert!(matches!(
        spec.validate(),
        Err(AnalysisSpecError::NothingDecides { .. })
    ));
    let mut spec = error_rate(3);
    spec.interval = None;
    assert!(matches!(
        spec.validate(),
        Err(AnalysisSpecError::CountWithoutInterval { count: 3, .. })
    ));
    let range = MetricSpec::new(
        "m",
        MetricCheck::Threshold {
            success: Some(Condition::Between {
                low: 2.0,
                high: 1.0,
            }),
            failure: None,
        },
    );
    assert!(matches!(
        range.validate(),
        Err(AnalysisSpecError::InvalidCondition { .. })
    ));
    let seq = MetricSpec::new("m", MetricCheck::Sequential(SequentialSpec::default()));
    assert!(matches!(
        seq.validate(),
        Err(AnalysisSpecError::SequentialNeedsCount { .. })
    ));
    assert!(matches!(
        AnalysisRun::new(t(0), vec![]),
        Err(AnalysisSpecError::NoMetrics { .. })
    ));
    assert!(matches!(
        AnalysisRun::new(t(0), vec![error_rate(2), error_rate(3)]),
        Err(AnalysisSpecError::Duplicate { .. })
    ));
    let message = AnalysisSpecError::NegativeLimit {
        metric: "m".into(),
        field: "failure_limit",
        value: -3,
    }
    .to_string();
    assert!(message.contains("or -1 to disable it"), "{message}");
}
