//! Background analysis hosted by the rollout engine (issue 8): measurements asked for
//! with `Measure` actions on the analysis' schedule, answered with `Measured` inputs,
//! and verdicts that abort or pause the rollout as the spec says — in the one world, so
//! every invariant is checked after every step (the floor during an analysis abort too).

mod world;

use cutover::analysis::{
    BackgroundAnalysis, Condition, Measurement, MetricCheck, MetricSpec, RunPhase,
};
use cutover::{AbortReason, Duration, EventKind, PauseReason, Phase, RolloutSpec, SpecError};
use world::{World, fleet, spec};

/// An error-rate metric measured every 10 s: fails above 5%, succeeds below 1%.
fn error_rate() -> MetricSpec {
    MetricSpec {
        interval: Some(Duration::from_secs(10)),
        ..MetricSpec::new(
            "error-rate",
            MetricCheck::Threshold {
                success: Some(Condition::Below(0.01)),
                failure: Some(Condition::Above(0.05)),
            },
        )
    }
}

fn analysed(metrics: Vec<MetricSpec>) -> RolloutSpec {
    RolloutSpec {
        background_analysis: Some(BackgroundAnalysis::new(metrics)),
        ..spec(10, "25%", "25%")
    }
}

/// The rollout was aborted by its analysis, whose verdict was `phase`.
fn assert_aborted_by_analysis(world: &World, phase: RunPhase) {
    assert_eq!(
        world.phase(),
        Phase::Aborted {
            reason: AbortReason::Analysis
        }
    );
    assert!(
        world.saw(|e| matches!(e, EventKind::AnalysisCompleted { phase: p, .. } if *p == phase))
    );
}

/// Brings the first target instances up (an analysis starts once there is a target
/// instance to measure), then lets its first window pass: the first measurement is
/// asked for one interval after the start.
fn first_measurement(world: &mut World) {
    assert!(
        world.rollout.status().analysis.is_none(),
        "nothing to measure before a target instance serves"
    );
    world.provision_all();
    world.health_all();
    assert!(world.saw(|e| matches!(e, EventKind::AnalysisStarted { .. })));
    next_measurement(world);
}

/// Lets the next measurement come due and be asked for.
fn next_measurement(world: &mut World) {
    let due = world
        .rollout
        .status()
        .analysis
        .and_then(|a| a.next_at)
        .expect("a measurement is scheduled");
    let wait = due.as_millis().saturating_sub(world.now.as_millis());
    world.advance(wait);
}

#[test]
fn a_failing_analysis_aborts_within_the_envelope() {
    let mut world = World::new(analysed(vec![error_rate()]), fleet("v1", 10));
    world.deploy("v2").unwrap();
    first_measurement(&mut world);
    world.measure("error-rate", Measurement::Value(0.001));
    // The first batch is replaced.
    world.round();
    world.round();
    next_measurement(&mut world);
    world.measure("error-rate", Measurement::Value(0.2));
    assert_aborted_by_analysis(&world, RunPhase::Failed);
    world.drive_back_to("v1", 10, 8);
    // No more measurements once aborted.
    assert_eq!(world.rollout.status().analysis.unwrap().next_at, None);
}

#[test]
fn an_inconclusive_analysis_pauses_and_promote_goes_on() {
    let mut world = World::new(analysed(vec![error_rate()]), fleet("v1", 10));
    world.deploy("v2").unwrap();
    first_measurement(&mut world);
    // 3%: neither condition.
    world.measure("error-rate", Measurement::Value(0.03));
    assert_eq!(
        world.phase(),
        Phase::Paused {
            reason: PauseReason::AnalysisInconclusive
        }
    );
    let status = world.rollout.status();
    assert_eq!(status.analysis.unwrap().phase, RunPhase::Inconclusive);
    assert!(
        status
            .waiting_for
            .contains(&cutover::status::Waiting::Promotion)
    );
    world.promote().unwrap();
    world.drive(80);
    assert_eq!(world.phase(), Phase::Completed);
}

#[test]
fn measurement_errors_are_tolerated_up_to_the_limit() {
    let metric = MetricSpec {
        consecutive_error_limit: 2,
        ..error_rate()
    };
    let mut world = World::new(analysed(vec![metric]), fleet("v1", 10));
    world.deploy("v2").unwrap();
    first_measurement(&mut world);
    for _ in 0..2 {
        world.measure("error-rate", Measurement::Error("timeout".into()));
        assert_eq!(world.phase(), Phase::Progressing, "tolerated");
        next_measurement(&mut world);
    }
    world.measure("error-rate", Measurement::Error("timeout".into()));
    assert_aborted_by_analysis(&world, RunPhase::Error);
}

#[test]
fn a_dry_run_metric_never_decides() {
    let dry = MetricSpec {
        dry_run: true,
        count: Some(2),
        ..error_rate()
    };
    let mut world = World::new(analysed(vec![dry]), fleet("v1", 10));
    world.deploy("v2").unwrap();
    first_measurement(&mut world);
    // The metric fails, but as a dry run it is reported and decides nothing.
    world.measure("error-rate", Measurement::Value(0.5));
    assert_eq!(world.phase(), Phase::Progressing);
    assert!(world.saw(|e| matches!(
        e,
        EventKind::AnalysisCompleted {
            phase: RunPhase::Successful,
            ..
        }
    )));
    world.drive(80);
    assert_eq!(world.phase(), Phase::Completed);
    assert!(!world.saw(|e| matches!(
        e,
        EventKind::AnalysisCompleted {
            phase: RunPhase::Failed,
            ..
        }
    )));
}

/// A rollout saved mid-analysis and restored asks for the same measurements and reaches
/// the same verdict (the world also round-trips the rollout after every step).
#[test]
fn a_restored_rollout_continues_the_run_identically() {
    let mut world = World::new(analysed(vec![error_rate()]), fleet("v1", 10));
    world.deploy("v2").unwrap();
    first_measurement(&mut world);
    world.measure("error-rate", Measurement::Value(0.001));
    let saved = serde_json::to_string(&world.rollout).unwrap();
    let mut restored: cutover::Rollout = serde_json::from_str(&saved).unwrap();
    let mut original = world.rollout.clone();
    let at = world.now.saturating_add(Duration::from_secs(10));
    original.handle_timeout(at);
    restored.handle_timeout(at);
    let asked: Vec<_> = std::iter::from_fn(|| original.poll_action()).collect();
    let asked_again: Vec<_> = std::iter::from_fn(|| restored.poll_action()).collect();
    assert_eq!(asked, asked_again);
    assert!(
        asked
            .iter()
            .any(|a| matches!(a, cutover::Action::Measure { .. }))
    );
    assert_eq!(original, restored);
}

#[test]
fn a_late_or_unknown_measurement_is_ignored() {
    let mut world = World::new(analysed(vec![error_rate()]), fleet("v1", 10));
    world.deploy("v2").unwrap();
    world.input(cutover::Input::Measured {
        action: cutover::ActionId(999),
        measurement: Measurement::Value(1.0),
    });
    assert!(world.saw(|e| matches!(e, EventKind::InputIgnored { .. })));
    assert_eq!(world.phase(), Phase::Progressing);
}

#[test]
fn an_invalid_background_analysis_is_refused() {
    let no_condition = MetricSpec::new(
        "x",
        MetricCheck::Threshold {
            success: None,
            failure: None,
        },
    );
    let invalid = analysed(vec![no_condition]);
    assert!(matches!(invalid.validate(), Err(SpecError::Analysis(_))));
    let mut step_back = BackgroundAnalysis::new(vec![error_rate()]);
    step_back.on_failure = cutover::analysis::OnFailure::StepBack;
    let rolling = RolloutSpec {
        background_analysis: Some(step_back),
        ..spec(4, "1", "0")
    };
    let error = rolling.validate().unwrap_err();
    assert!(error.to_string().contains("step_back"), "{error}");
}

/// With `AfterReplaced(n)`, the analysis starts once `n` new instances are available.
#[test]
fn an_analysis_can_wait_for_replaced_instances() {
    let mut analysis = BackgroundAnalysis::new(vec![error_rate()]);
    analysis.start = cutover::analysis::AnalysisStart::AfterReplaced(3);
    let spec = RolloutSpec {
        background_analysis: Some(analysis),
        ..spec(10, "25%", "25%")
    };
    let mut world = World::new(spec, fleet("v1", 10));
    world.deploy("v2").unwrap();
    assert!(world.rollout.status().analysis.is_none());
    world.round();
    assert_eq!(world.available("v2"), 3);
    assert!(world.saw(|e| matches!(e, EventKind::AnalysisStarted { .. })));
}

/// A restored document whose analysis measures other metrics than its spec names is
/// refused.
#[test]
fn a_document_whose_analysis_disagrees_with_its_spec_is_refused() {
    let mut world = World::new(analysed(vec![error_rate()]), fleet("v1", 10));
    world.deploy("v2").unwrap();
    world.provision_all();
    world.health_all();
    let mut doc = serde_json::to_value(&world.rollout).unwrap();
    doc["rollout"]["spec"]["background_analysis"]["metrics"][0]["name"] =
        serde_json::json!("latency");
    let error = serde_json::from_value::<cutover::Rollout>(doc).unwrap_err();
    assert!(error.to_string().contains("rollout.analysis"), "{error}");
}
