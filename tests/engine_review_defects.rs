//! One scenario per engine defect found in review (issue 19, part 2), each failing on
//! the engine before its fix. Every call goes through the one test world, which checks
//! every invariant after each step.

mod world;

use cutover::analysis::{AnalysisStart, BackgroundAnalysis, Condition, MetricCheck, MetricSpec};
use cutover::spec::{CanaryStep, Checks, HookSpec, Promotion};
use cutover::strategy::StepKind;
use cutover::traffic::MatchCondition;
use cutover::{Duration, Phase, Weight};
use world::{World, blue_green, canary, fleet, spec};

fn percent(p: u64) -> Weight {
    Weight::from_percent(p).unwrap()
}

fn smoke_hook() -> Checks {
    Checks {
        hooks: vec![HookSpec::new("smoke", Duration::from_mins(5))],
        analysis: None,
    }
}

/// Argo's "blue-green first deploy" (expected 10): with nothing serving there is no
/// blue to protect, so green goes straight to full size and takes the traffic, without
/// a preview, checks or a promotion to wait for.
#[test]
fn a_first_blue_green_deploy_goes_to_full_size_and_serves() {
    let spec = blue_green(10, |s| {
        s.preview_replicas = Some(2);
        s.promotion = Promotion::Manual;
        s.pre_promotion = smoke_hook();
    });
    let mut world = World::new(spec, Vec::new());
    world.deploy("v1").unwrap();
    assert_eq!(world.take().provision.len(), 10, "full size at once");
    world.drive(40);
    assert_eq!(world.phase(), Phase::Completed);
    assert_eq!(world.rollout.traffic().weight(&"v1".into()), Weight::FULL);
    assert_eq!(world.lb_count("v1"), 10);
    assert!(world.hooks.is_empty(), "no checks on a first deploy");
}

/// A step's checks start once its table is acknowledged: the smoke test through the
/// preview route must not reach blue because the load balancer has not the route yet.
#[test]
fn a_pre_promotion_hook_waits_for_the_preview_route_to_be_applied() {
    let spec = blue_green(2, |s| {
        s.preview_route = Some(MatchCondition::header_equals("x-preview", "1"));
        s.pre_promotion = smoke_hook();
    });
    let mut world = World::new(spec, fleet("v1", 2));
    world.deploy("v2").unwrap();
    for _ in 0..4 {
        world.provision_all();
        world.health_all();
    }
    assert_eq!(
        world.rollout.traffic().routes().len(),
        1,
        "the route is published"
    );
    assert!(
        world.hooks.is_empty(),
        "the hook was asked before the load balancer applied the preview route"
    );
    world.ack_traffic();
    assert_eq!(world.step_kind(), Some(StepKind::PrePromotion));
    assert_eq!(world.hooks.values().collect::<Vec<_>>(), ["smoke"]);
}

fn error_rate_every_minute() -> MetricSpec {
    let mut metric = MetricSpec::new(
        "error-rate",
        MetricCheck::Threshold {
            success: Some(Condition::Below(0.05)),
            failure: None,
        },
    );
    metric.interval = Some(Duration::from_mins(1));
    metric
}

/// Argo starts a background analysis at its starting step, pauses included: it does
/// not wait for the pause to end.
#[test]
fn a_background_analysis_starting_at_a_pause_starts_during_the_pause() {
    let steps = vec![
        CanaryStep::SetWeight(percent(20)),
        CanaryStep::Pause { duration: None },
        CanaryStep::SetWeight(percent(50)),
    ];
    let mut spec = canary(4, steps, |_| {});
    let mut analysis = BackgroundAnalysis::new(vec![error_rate_every_minute()]);
    analysis.start = AnalysisStart::AtStep(1);
    spec.background_analysis = Some(analysis);
    let mut world = World::new(spec, fleet("v1", 4));
    world.deploy("v2").unwrap();
    world.drive(20);
    assert_eq!(world.step_kind(), Some(StepKind::Pause));
    assert!(
        world.rollout.status().analysis.is_some(),
        "the analysis waits for the pause to end"
    );
    world.advance(60_000);
    assert_eq!(world.measures.values().collect::<Vec<_>>(), ["error-rate"]);
}

/// The first measurement of a background analysis covers a window of the target's
/// life, not the instant the analysis started; and `Immediately` waits for a target
/// instance to measure.
#[test]
fn a_background_analysis_measures_a_window_of_a_target_that_exists() {
    let mut spec = spec(4, "1", "0");
    spec.background_analysis = Some(BackgroundAnalysis::new(vec![error_rate_every_minute()]));
    let mut world = World::new(spec, fleet("v1", 4));
    world.deploy("v2").unwrap();
    assert!(
        world.rollout.status().analysis.is_none(),
        "started before any target instance existed"
    );
    world.provision_all();
    world.health_all();
    assert!(
        world.rollout.status().analysis.is_some(),
        "a target instance serves"
    );
    world.advance(60_000);
    let windows: Vec<(u64, u64)> = world
        .history
        .iter()
        .filter_map(|a| match a {
            cutover::Action::Measure { from, to, .. } => Some((from.as_millis(), to.as_millis())),
            _ => None,
        })
        .collect();
    assert!(!windows.is_empty(), "measured");
    assert!(
        windows.iter().all(|(from, to)| from < to),
        "an empty window: {windows:?}"
    );
}

/// An abort with nothing to go back to (a first deploy superseded by another) keeps
/// serving what serves instead of emptying the table.
#[test]
fn aborting_a_first_deploy_keeps_serving_what_serves() {
    let steps = vec![
        CanaryStep::SetWeight(percent(20)),
        CanaryStep::Pause { duration: None },
    ];
    let mut world = World::new(canary(4, steps, |_| {}), Vec::new());
    world.deploy("v3").unwrap();
    world.bring_up("v3-1");
    world.bring_up("v3-2");
    world.ack_traffic();
    world.deploy("v4").unwrap();
    world.provision_all();
    world.health_all();
    world.ack_traffic();
    assert_eq!(world.rollout.stable(), None);
    assert!(world.lb_count("v4") > 0, "v4 serves");
    world.abort().unwrap();
    world.drive(20);
    assert!(
        !world.rollout.traffic().is_empty(),
        "the abort emptied the table while v3 and v4 served"
    );
    let serving = world.lb_count("v3") + world.lb_count("v4");
    assert!(serving >= 2, "{serving} instances serve");
}

/// A restored document whose background analysis is still running once the rollout is
/// over (phase `completed`, no target) must not leave a timer that fires forever: it is
/// refused, or, restored, its timer moves on.
#[test]
fn a_completed_document_with_a_running_analysis_cannot_spin_the_callers_loop() {
    let mut spec = spec(4, "1", "0");
    spec.background_analysis = Some(BackgroundAnalysis::new(vec![error_rate_every_minute()]));
    let mut world = World::new(spec, fleet("v1", 4));
    world.deploy("v2").unwrap();
    world.provision_all();
    world.health_all();
    assert!(
        world.rollout.status().analysis.is_some(),
        "the analysis runs"
    );
    let mut document = serde_json::to_value(&world.rollout).unwrap();
    document["rollout"]["phase"] = serde_json::json!({"phase": "completed"});
    document["rollout"]["target"] = serde_json::Value::Null;
    let Ok(mut restored) = serde_json::from_value::<cutover::Rollout>(document) else {
        return;
    };
    let mut now = restored.now();
    for _ in 0..10 {
        let Some(at) = restored.poll_timeout() else {
            return;
        };
        now = now.max(at);
        restored.handle_timeout(now);
        while restored.poll_action().is_some() {}
        while restored.poll_event().is_some() {}
        assert!(
            restored.poll_timeout().is_none_or(|next| next > now),
            "poll_timeout stays at {now} after handle_timeout({now})"
        );
    }
}

/// Kubernetes spreads a resize during a rolling update over the revisions in proportion
/// to their sizes (`getReplicaSetFraction`), so that new capacity does not all go to the
/// unproven revision, and does so while the rollout is paused too (an autoscaler does
/// not wait for a person).
#[test]
fn a_resize_mid_rollout_is_spread_in_proportion_even_while_paused() {
    let mut world = World::new(spec(10, "5", "0"), fleet("v1", 10));
    world.deploy("v2").unwrap();
    assert_eq!(
        world.take().provision.len(),
        5,
        "the rolling update's first batch"
    );
    world.pause().unwrap();
    // v1 has 10 replicas, v2 5 (provisioning): 15 more, spread 10 : 5.
    world.scale(25).unwrap();
    let resized = world.take();
    let of = |revision: &str| {
        resized
            .provision
            .iter()
            .filter(|n| n.starts_with(&format!("{revision}-")))
            .count()
    };
    assert_eq!((of("v1"), of("v2")), (10, 5), "{resized:?}");
    // The rolling update goes on from there once resumed, and completes at the new size.
    world.resume().unwrap();
    world.drive(80);
    assert_eq!(world.phase(), Phase::Completed);
    assert_eq!(world.available("v2"), 25);
}

/// Found while writing the status display (issue 20): a canary's weight step counted as
/// done the moment its first instance became available, before the table giving it the
/// weight was even published (the shaper's fixed point was taken over the table
/// without the instance about to join). `SetWeight(20)` then `SetWeight(40)` jumped to
/// 40% without 20% ever being applied. A step is done only once its split is applied.
#[test]
fn a_weight_step_waits_for_its_weight_to_be_applied() {
    let steps = vec![
        CanaryStep::SetWeight(percent(20)),
        CanaryStep::SetWeight(percent(40)),
        CanaryStep::Pause { duration: None },
    ];
    let mut world = World::new(
        canary(5, steps, |c| c.traffic_routing = true),
        fleet("v1", 5),
    );
    world.deploy("v2").unwrap();
    world.provision_all();
    world.health_all();
    assert_eq!(world.step_kind(), Some(StepKind::SetWeight));
    assert_eq!(world.rollout.status().step.map(|(index, _)| index), Some(0));
    assert_eq!(world.rollout.traffic().weight(&"v2".into()), percent(20));
    world.ack_traffic();
    assert_eq!(world.rollout.status().step.map(|(index, _)| index), Some(1));
}
