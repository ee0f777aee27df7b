//! The events tell the whole story (issue 20, section 3): every step is announced, the
//! first included; an analysis says how it ended when it passes as well as when it
//! fails; and a failed verdict says why (metric, classification, effect size, p-value).

mod world;

use cutover::analysis::{
    AnalysisRun, Measurement, MetricCheck, MetricJudgeSpec, MetricSpec, OnFailure, RunPhase,
};
use cutover::spec::CanaryStep;
use cutover::strategy::StepKind;
use cutover::{EventKind, Phase, Timestamp, Weight};
use world::{World, canary, fleet, with_errors_analysis};

fn set_weight(p: u64) -> CanaryStep {
    CanaryStep::SetWeight(Weight::from_percent(p).unwrap())
}

fn steps_started(world: &World) -> Vec<(u32, u32, StepKind)> {
    world
        .event_log
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::StepStarted { index, count, step } => Some((index, count, step)),
            _ => None,
        })
        .collect()
}

#[test]
fn the_first_step_is_announced_like_every_other() {
    let steps = vec![set_weight(20), CanaryStep::Pause { duration: None }];
    let mut world = World::new(canary(5, steps, |_| {}), fleet("v1", 5));
    world.deploy("v2").unwrap();
    let (_, count) = world.rollout.status().step.expect("a step plan");
    assert_eq!(
        steps_started(&world),
        [(0, count, StepKind::SetWeight)],
        "the deploy announces the first step"
    );
    world.round_until_step(StepKind::Pause, 30);
    assert_eq!(
        steps_started(&world),
        [(0, count, StepKind::SetWeight), (1, count, StepKind::Pause)]
    );
    // The announcement comes after the rollout's own start.
    let started = world
        .event_log
        .iter()
        .position(|e| matches!(e.kind, EventKind::RolloutStarted { .. }))
        .unwrap();
    let first_step = world
        .event_log
        .iter()
        .position(|e| matches!(e.kind, EventKind::StepStarted { .. }))
        .unwrap();
    assert!(started < first_step);
}

#[test]
fn a_passing_step_analysis_says_so_before_its_checks_complete() {
    let steps = vec![
        set_weight(40),
        CanaryStep::Analysis {
            analysis: "errors".into(),
            on_failure: OnFailure::Abort,
        },
        CanaryStep::Pause { duration: None },
    ];
    let spec = with_errors_analysis(canary(5, steps, |_| {}));
    let mut world = World::new(spec, fleet("v1", 5));
    world.deploy("v2").unwrap();
    world.round_until_step(StepKind::Analysis, 30);
    world.drive(5);
    world.measure("error-rate", Measurement::Value(0.01));
    let completed = world
        .event_log
        .iter()
        .position(|e| {
            matches!(
                &e.kind,
                EventKind::AnalysisCompleted { phase: RunPhase::Successful, reason }
                    if reason.contains("error-rate")
            )
        })
        .expect("a passed analysis is reported");
    let checks = world
        .event_log
        .iter()
        .position(|e| matches!(e.kind, EventKind::ChecksCompleted { passed: true, .. }))
        .expect("the step's checks pass");
    assert!(completed < checks);
    let reported = world
        .event_log
        .iter()
        .filter(|e| matches!(e.kind, EventKind::AnalysisCompleted { .. }))
        .count();
    assert_eq!(reported, 1, "said once");
    world.drive(30);
    assert_eq!(world.step_kind(), Some(StepKind::Pause));
    assert!(matches!(world.phase(), Phase::Paused { .. }));
}

#[test]
fn a_failed_verdict_says_which_metric_how_it_classified_and_how_sure() {
    let spec = MetricSpec::new(
        "latency",
        MetricCheck::Judge(MetricJudgeSpec::new("latency")),
    );
    let mut run = AnalysisRun::new(Timestamp::ZERO, vec![spec]).unwrap();
    let baseline: Vec<f64> = (0..40).map(|i| 100.0 + f64::from(i % 7)).collect();
    let canary: Vec<f64> = baseline.iter().map(|v| v * 1.6).collect();
    run.record(
        Timestamp::from_millis(1_000),
        "latency",
        Measurement::Samples { canary, baseline },
    );
    assert_eq!(run.phase(), RunPhase::Failed);
    let reason = run.reason();
    for part in ["\"latency\"", "Failed", "High", "effect size", "p = "] {
        assert!(reason.contains(part), "{reason:?} does not say {part:?}");
    }
}

/// A status reads like Argo's `kubectl argo rollouts get rollout` header: the strategy,
/// `Step: n/m`, the set weight against the actual weight, each revision's instances,
/// and what the rollout waits for.
#[test]
fn a_status_reads_like_argos_header() {
    let steps = vec![set_weight(20), CanaryStep::Pause { duration: None }];
    let mut world = World::new(
        canary(5, steps, |c| c.traffic_routing = true),
        fleet("v1", 5),
    );
    world.deploy("v2").unwrap();
    world.provision_all();
    world.health_all();
    // The canary is up; its 20% is published and not yet applied.
    assert!(!world.rollout.status().split_applied);
    let text = world.rollout.status().to_string();
    for part in [
        "Strategy:       canary",
        "  Step:         1/",
        "(set weight, since",
        "  SetWeight:    v2 20%",
        "  ActualWeight: v2 20% (published, not yet applied)",
        "v1 (stable): 5 ready, 5 available",
        "v2 (target): 1 ready",
        "Waiting for:    the load balancer to apply generation",
    ] {
        assert!(text.contains(part), "{text}\ndoes not say {part:?}");
    }
    world.ack_traffic();
    let text = world.rollout.status().to_string();
    assert!(text.contains("  ActualWeight: v2 20%\n"), "{text}");
    let table = world.rollout.traffic().to_string();
    assert!(
        table.contains("v1 80% (5 instances), v2 20% (1 instance)"),
        "{table}"
    );
}
