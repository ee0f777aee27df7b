//! Canary experiment steps as scripts: a fresh baseline of the stable revision beside
//! the canary, the canary judged against it, the baseline gone when the step ends. Every
//! call goes through the one test world (`tests/world`), which checks every invariant
//! after each step (the peak `canary_cost` states, baseline included).

mod world;

use cutover::analysis::{Measurement, OnFailure};
use cutover::spec::{CanaryStep, Quantity};
use cutover::strategy::StepKind;
use cutover::{AbortReason, Duration, InstanceGroup, InstanceState, PauseReason, Phase, Weight};
use world::{World, canary, fleet, with_errors_analysis};

fn set_weight(p: u64) -> CanaryStep {
    CanaryStep::SetWeight(Weight::from_percent(p).unwrap())
}

fn experiment(ms: Option<u64>, analysis: Option<&str>, on_failure: OnFailure) -> CanaryStep {
    CanaryStep::Experiment {
        duration: ms.map(Duration::from_millis),
        analysis: analysis.map(String::from),
        on_failure,
    }
}

fn wait_for_promotion() -> CanaryStep {
    CanaryStep::Pause { duration: None }
}

/// Instances of `group` of `revision` that exist and are not on their way out.
fn wanted(world: &World, revision: &str, group: InstanceGroup) -> usize {
    let counts = world.rollout.fleet().group_counts(&revision.into(), group);
    counts.pending() + counts.ready()
}

fn baseline(world: &World, revision: &str) -> usize {
    wanted(world, revision, InstanceGroup::Baseline)
}

fn main_live(world: &World, revision: &str) -> usize {
    wanted(world, revision, InstanceGroup::Main)
}

/// The ready baseline instances (of `v1`).
fn baseline_ids(world: &World) -> Vec<String> {
    world.group_ids("v1", InstanceGroup::Baseline, InstanceState::Ready)
}

/// A new experiment runs: its baseline is as large as the `earlier` one, and none of
/// its instances, which are gone.
fn assert_fresh_baseline(world: &World, earlier: &[String]) {
    assert_eq!(world.step_kind(), Some(StepKind::Experiment));
    let now = baseline_ids(world);
    assert_eq!(now.len(), earlier.len());
    assert!(
        earlier
            .iter()
            .all(|id| !now.contains(id) && world.rollout.fleet().get(&id.as_str().into()).is_none()),
        "{earlier:?} {now:?}"
    );
}

#[test]
fn an_experiment_judges_the_canary_against_a_baseline_of_its_size_then_removes_it() {
    let steps = vec![
        set_weight(50),
        experiment(Some(1_000), Some("errors"), OnFailure::Abort),
        wait_for_promotion(),
    ];
    let spec = with_errors_analysis(canary(4, steps, |_| {}));
    let mut world = World::new(spec, fleet("v1", 4));
    world.deploy("v2").unwrap();
    // The weight step: two canary instances carry 50%.
    world.round_until_step(StepKind::Experiment, 20);
    // The experiment's baseline: two fresh v1 instances, asked for as the baseline
    // group; no measurement before they are in place.
    let asked: Vec<String> = world.take().provision;
    assert_eq!(asked, ["v2-1", "v2-2", "v1-3", "v1-4"]);
    assert_eq!(baseline(&world, "v1"), 2);
    assert_eq!(main_live(&world, "v1"), 4, "stable stays full beside it");
    assert!(
        world.measures.is_empty(),
        "measured before the baseline was in place"
    );
    world.provision_all();
    world.health_all();
    assert!(
        world.measures.is_empty(),
        "measured before the baseline served"
    );
    world.ack_traffic();
    let status = world.rollout.status().message;
    assert!(
        status.contains("experiment: baseline of v1 2/2"),
        "{status}"
    );
    // In place: the canary is measured against the baseline group, and the duration
    // counts from now.
    assert_eq!(world.baseline_measures, ["error-rate"]);
    world.measure("error-rate", Measurement::Value(0.01));
    assert_eq!(
        world.step_kind(),
        Some(StepKind::Experiment),
        "the duration runs"
    );
    world.advance(999);
    assert_eq!(world.step_kind(), Some(StepKind::Experiment));
    world.advance(1);
    // Done: the baseline goes, the plan goes on; the stable instances stay.
    world.drive(30);
    assert_eq!(world.step_kind(), Some(StepKind::Pause));
    assert_eq!(baseline(&world, "v1"), 0);
    assert_eq!(main_live(&world, "v1"), 4);
    world.promote().unwrap();
    world.drive(30);
    assert_eq!(world.phase(), Phase::Completed);
    assert_eq!(world.revisions(), ["v2"]);
    assert!(world.watermarks.peak_live <= world.canary_peak() as usize);
}

#[test]
fn an_experiment_without_a_router_runs_its_baseline_on_top_of_the_surge() {
    let steps = vec![
        set_weight(50),
        experiment(Some(1_000), None, OnFailure::Abort),
        wait_for_promotion(),
    ];
    let spec = canary(4, steps, |c| {
        c.traffic_routing = false;
        c.max_surge = Quantity::Count(1);
        c.max_unavailable = Quantity::Count(0);
    });
    let mut world = World::new(spec, fleet("v1", 4));
    // desired + max_surge, and a baseline as large as the canary at 50% (two).
    assert_eq!(world.canary_peak(), 4 + 1 + 2);
    assert_eq!(world.rollout.limits().max_total(), 7);
    world.deploy("v2").unwrap();
    world.drive(30);
    assert_eq!(world.step_kind(), Some(StepKind::Pause));
    assert_eq!(baseline(&world, "v1"), 0, "removed at the step's end");
    // The baseline ran beside two canary and two stable instances, and the surge held
    // outside it.
    assert_eq!(world.watermarks.peak_live, 6);
    assert_eq!((main_live(&world, "v2"), main_live(&world, "v1")), (2, 2));
    assert!(world.watermarks.low_available >= 4);
}

#[test]
fn an_experiment_failure_follows_its_policy_and_leaves_no_baseline() {
    for policy in [OnFailure::Abort, OnFailure::Pause, OnFailure::StepBack] {
        let steps = vec![
            set_weight(25),
            set_weight(50),
            experiment(None, Some("errors"), policy),
        ];
        let spec = with_errors_analysis(canary(4, steps, |_| {}));
        let mut world = World::new(spec, fleet("v1", 4));
        world.deploy("v2").unwrap();
        world.drive(30);
        assert_eq!(world.step_kind(), Some(StepKind::Experiment));
        assert_eq!(baseline(&world, "v1"), 2);
        world.measure("error-rate", Measurement::Value(0.5));
        match policy {
            OnFailure::Abort => {
                assert!(matches!(
                    world.phase(),
                    Phase::Aborted {
                        reason: AbortReason::ChecksFailed { .. }
                    }
                ));
                world.drive(30);
                world.advance(30_000);
                world.drive(30);
                assert_eq!(world.revisions(), ["v1"], "{policy:?}");
            }
            OnFailure::Pause => {
                let paused = Phase::Paused {
                    reason: PauseReason::AnalysisFailed,
                };
                assert_eq!(world.phase(), paused);
                // A person accepts: the step ends, and its baseline with it.
                world.promote().unwrap();
                world.drive(30);
                assert_eq!(world.phase(), Phase::Completed);
                assert_eq!(world.revisions(), ["v2"]);
            }
            _ => {
                // Back to the weight before, paused: nothing moves until a person
                // resumes; then the baseline of the step left goes, and the plan goes
                // on into a new experiment with a new baseline.
                assert_eq!(world.rollout.status().step, Some((0, 4)));
                world.drive(30);
                let first = baseline_ids(&world);
                assert_eq!(first.len(), 2);
                world.resume().unwrap();
                world.drive(30);
                assert_fresh_baseline(&world, &first);
                continue;
            }
        }
        assert_eq!(baseline(&world, "v1"), 0, "{policy:?}");
    }
}

#[test]
fn promote_ends_an_experiment_and_a_new_deploy_removes_its_baseline() {
    let steps = vec![
        set_weight(50),
        experiment(None, Some("errors"), OnFailure::Abort),
        wait_for_promotion(),
    ];
    let spec = with_errors_analysis(canary(4, steps, |_| {}));
    let mut world = World::new(spec.clone(), fleet("v1", 4));
    world.deploy("v2").unwrap();
    world.drive(30);
    assert_eq!(baseline(&world, "v1"), 2);
    assert_eq!(world.baseline_measures, ["error-rate"]);
    world.promote().unwrap();
    world.drive(30);
    assert_eq!(world.step_kind(), Some(StepKind::Pause));
    assert_eq!(baseline(&world, "v1"), 0);
    world.advance(60_000);
    assert_eq!(
        world.baseline_measures,
        ["error-rate"],
        "the skipped analysis asks no more"
    );

    let mut world = World::new(spec, fleet("v1", 4));
    world.deploy("v2").unwrap();
    world.drive(30);
    assert_eq!(baseline(&world, "v1"), 2);
    world.deploy("v3").unwrap();
    world.drive(30);
    // v3 starts from the first step: no baseline until its own experiment.
    assert_eq!(world.step_kind(), Some(StepKind::Experiment));
    assert_eq!(
        world.rollout.target().map(ToString::to_string),
        Some("v3".into())
    );
    assert_eq!(world.revisions(), ["v1", "v3"]);
    assert_eq!(baseline(&world, "v1"), 2, "v3's own baseline");
    assert_eq!(
        world.baseline_measures,
        ["error-rate", "error-rate"],
        "one analysis per experiment, none left over"
    );
}

#[test]
fn an_experiments_duration_counts_from_when_its_baseline_is_in_place() {
    let steps = vec![
        set_weight(50),
        experiment(Some(1_000), None, OnFailure::Abort),
        wait_for_promotion(),
    ];
    let mut world = World::new(canary(4, steps, |_| {}), fleet("v1", 4));
    world.deploy("v2").unwrap();
    world.round_until_step(StepKind::Experiment, 20);
    world.provision_all();
    // Slow instances: the baseline takes 5 s to start.
    world.advance(5_000);
    assert_eq!(world.step_kind(), Some(StepKind::Experiment));
    world.health_all();
    world.ack_traffic();
    world.advance(999);
    assert_eq!(world.step_kind(), Some(StepKind::Experiment));
    world.advance(1);
    world.drive(30);
    assert_eq!(world.step_kind(), Some(StepKind::Pause));
}

#[test]
fn verbs_answer_in_an_experiment_step() {
    let steps = vec![
        set_weight(50),
        experiment(None, Some("errors"), OnFailure::Abort),
    ];
    let spec = with_errors_analysis(canary(4, steps, |_| {}));
    let mut world = World::new(spec.clone(), fleet("v1", 4));
    world.deploy("v2").unwrap();
    world.drive(30);
    assert_eq!(world.step_kind(), Some(StepKind::Experiment));
    // Paused, nothing moves: the baseline stays, the weight holds.
    world.pause().unwrap();
    world.drive(10);
    assert_eq!(baseline(&world, "v1"), 2);
    assert_eq!(
        world.rollout.traffic().weight(&"v2".into()),
        Weight::from_percent(50).unwrap()
    );
    world.resume().unwrap();
    // promote_full skips the experiment: the baseline goes, all traffic to v2.
    world.promote_full().unwrap();
    world.drive(30);
    assert_eq!(world.phase(), Phase::Completed);
    assert_eq!(world.revisions(), ["v2"]);
    assert_eq!(world.baseline_measures, ["error-rate"]);

    // abort removes the baseline; retry starts over, into a new experiment.
    let mut world = World::new(spec, fleet("v1", 4));
    world.deploy("v2").unwrap();
    world.drive(30);
    let first = baseline_ids(&world);
    world.abort().unwrap();
    world.drive(30);
    assert_eq!(baseline(&world, "v1"), 0);
    world.retry().unwrap();
    world.drive(30);
    assert_fresh_baseline(&world, &first);
    assert_eq!(
        world.baseline_measures.len(),
        2,
        "its own analysis, from the start"
    );
}

/// Found by the soak: a baseline that came into place while an operator had paused the
/// rollout kept the experiment's end one duration ahead of every call, so a timer was
/// always set and the paused rollout never came to rest. The clock now starts when the
/// baseline is in place, paused or not, and a paused rollout rests once it has run out.
#[test]
fn a_baseline_in_place_during_an_operator_pause_starts_the_clock_once() {
    let steps = vec![
        set_weight(50),
        experiment(Some(1_000), None, OnFailure::Abort),
    ];
    let mut world = World::new(canary(4, steps, |_| {}), fleet("v1", 4));
    world.deploy("v2").unwrap();
    world.round_until_step(StepKind::Experiment, 20);
    world.pause().unwrap();
    world.provision_all();
    world.health_all();
    world.ack_traffic();
    world.settle_and_check_rest(20);
    assert_eq!(
        world.phase(),
        Phase::Paused {
            reason: PauseReason::Operator
        }
    );
    // Resumed after its duration: the experiment is over at once.
    world.resume().unwrap();
    world.drive(30);
    assert_eq!(world.phase(), Phase::Completed);
}
