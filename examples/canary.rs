//! A canary of ten instances from `v1` to `v2` behind a traffic router, run by the
//! driver against a small fake world on a virtual clock (`support/mod.rs`): 10% for a
//! minute, then an experiment (a fresh baseline of `v1` beside the canary for five
//! minutes, the canary's error rate judged against it), 50% until an operator
//! promotes, then all traffic. Instances pass their health checks 5 s after they are
//! asked for, the load balancer applies a table in 100 ms, drains take 1 s,
//! terminations 0.5 s, and every error-rate measurement reads 1%.
//!
//! Run it with `cargo run --example canary`.

#[path = "support/mod.rs"]
mod support;

use cutover::analysis::{Condition, MetricCheck, MetricSpec};
use cutover::driver::{Command, Driver, DriverConfig, Outcome, Step};
use cutover::spec::{CanaryPlan, CanarySpec, CanaryStep};
use cutover::store::{MemoryStore, RolloutId};
use cutover::{Duration, Instance, Rollout, RolloutSpec, StrategySpec, Timestamp, Weight};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let percent = |p| Weight::from_percent(p).expect("a percentage");
    let mut spec = RolloutSpec {
        desired: 10,
        strategy: StrategySpec::Canary(CanarySpec::with_plan(CanaryPlan::Steps(vec![
            CanaryStep::SetWeight(percent(10)),
            CanaryStep::Pause {
                duration: Some(Duration::from_mins(1)),
            },
            // A fresh baseline of v1 beside the canary for five minutes, the canary's
            // error rate judged against it.
            CanaryStep::Experiment {
                duration: Some(Duration::from_mins(5)),
                analysis: Some("errors".into()),
                on_failure: Default::default(),
            },
            CanaryStep::SetWeight(percent(50)),
            CanaryStep::Pause { duration: None },
        ]))),
        ..RolloutSpec::default()
    };
    let errors = MetricCheck::Threshold {
        success: Some(Condition::Below(0.05)),
        failure: None,
    };
    spec.analyses
        .insert("errors".into(), vec![MetricSpec::new("error-rate", errors)]);
    let fleet: Vec<Instance> = (0..10)
        .map(|i| Instance::serving(format!("web-{i}"), "v1"))
        .collect();
    let rollout = Rollout::new(Timestamp::ZERO, spec, fleet.clone())?;
    let world = support::FakeWorld::new(&fleet);
    let id = RolloutId::new("web")?;
    let mut driver = Driver::start(
        MemoryStore::new(),
        id,
        rollout,
        world,
        DriverConfig::default(),
    )?;

    let show = |step: &Step| {
        for event in &step.events {
            println!("{event}");
        }
    };
    let handle = driver.handle();
    let _deployed = handle.send(Command::Deploy("v2".into()));
    loop {
        match driver.run_with(show)? {
            // The operator: promote the untimed pause once the rollout waits for it.
            Outcome::NeedsOperator(_) => {
                println!("{}: {}", driver.rollout().now(), driver.status().message);
                let _promoted = handle.send(Command::Promote);
            }
            outcome => {
                println!("{}: {}", driver.rollout().now(), driver.status().message);
                assert!(outcome.is_completed());
                return Ok(());
            }
        }
    }
}
