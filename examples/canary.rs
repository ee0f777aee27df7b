//! A canary of ten instances from `v1` to `v2` behind a traffic router, on the
//! simulator — and how to write a canary with analysis:
//!
//! * **steps**: 10% of traffic, a judged analysis step (the canary's latency judged
//!   against the stable revision's, Kayenta-style, three measurements 20 s apart), 30%
//!   for a minute, 60% for a minute, then all traffic;
//! * **background analysis** from the second step on: the canary's error rate must
//!   stay below 1% at every measurement, or the rollout aborts.
//!
//! With `--bad-version`, `v2` fails 20% of its requests and is three times slower: the
//! judge catches it at 10%, the rollout aborts, and traffic is back on `v1` in one table
//! update — only the requests the 10% share sent to `v2` fail.
//!
//! Run it with `cargo run --example canary [-- --bad-version] [--seed N]`; it prints the
//! timeline, writes `examples/pictures/canary.svg` (or `canary_bad_version.svg`) and
//! ends with the summary line.

#[path = "support/mod.rs"]
mod support;

use cutover::analysis::{
    AnalysisStart, BackgroundAnalysis, Condition, MetricCheck, MetricJudgeSpec, MetricSpec,
};
use cutover::sim::{Behaviour, End, Settings, Simulation};
use cutover::spec::{CanaryPlan, CanarySpec, CanaryStep};
use cutover::{Duration, RolloutSpec, StrategySpec, Weight};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let bad = args.iter().any(|a| a == "--bad-version");
    let percent = |p| Weight::from_percent(p).expect("a percentage");
    let minute = Some(Duration::from_mins(1));
    let steps = vec![
        CanaryStep::SetWeight(percent(10)),
        CanaryStep::Analysis {
            analysis: "latency".into(),
            on_failure: Default::default(), // abort
        },
        CanaryStep::SetWeight(percent(30)),
        CanaryStep::Pause { duration: minute },
        CanaryStep::SetWeight(percent(60)),
        CanaryStep::Pause { duration: minute },
    ];
    let canary = CanarySpec {
        traffic_routing: true,
        ..CanarySpec::with_plan(CanaryPlan::Steps(steps))
    };
    let mut spec = RolloutSpec {
        desired: 10,
        strategy: StrategySpec::Canary(canary),
        ..RolloutSpec::default()
    };
    // The analysis step: the canary's latency samples judged against stable's.
    let mut latency = MetricSpec::new(
        "p99-latency",
        MetricCheck::Judge(MetricJudgeSpec::default()),
    );
    latency.interval = Some(Duration::from_secs(20));
    latency.count = Some(3);
    spec.analyses.insert("latency".into(), vec![latency]);
    // In the background from step 2: the error rate stays below 1%.
    let mut errors = MetricSpec::new(
        "error-rate",
        MetricCheck::Threshold {
            success: Some(Condition::Below(0.01)),
            failure: None,
        },
    );
    errors.interval = Some(Duration::from_secs(30));
    let mut background = BackgroundAnalysis::new(vec![errors]);
    background.start = AnalysisStart::AtStep(1);
    spec.background_analysis = Some(background);

    let mut settings = Settings::realistic();
    if bad {
        settings = settings.with_behaviour("v2", Behaviour::bad());
    }
    let seed = support::seed();
    let report = Simulation::new(spec, settings, seed).checked(true).run()?;
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
    let (title, name) = if bad {
        (
            "canary of a bad version: the judge catches it at 10%, traffic back on v1",
            "canary_bad_version",
        )
    } else {
        ("canary, 10 instances: 10% judged, 30%, 60%, all", "canary")
    };
    support::show(title, &report, &support::picture(name))?;
    if bad {
        assert!(matches!(report.end, End::Aborted { .. }), "{}", report.end);
    }
    Ok(())
}
