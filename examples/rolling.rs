//! A rolling update of ten instances from `v1` to `v2`, run by the driver against a
//! small fake world on a virtual clock (`support/mod.rs`): instances pass their health
//! checks 5 s after they are asked for, the load balancer applies a table in 100 ms,
//! drains take 1 s and terminations 0.5 s. The rollout is saved in an in-memory store
//! before every action.
//!
//! Run it with `cargo run --example rolling`.

#[path = "support/mod.rs"]
mod support;

use cutover::driver::{Command, Driver, DriverConfig};
use cutover::spec::{Quantity, RollingSpec};
use cutover::store::{MemoryStore, RolloutId};
use cutover::{Duration, Instance, Rollout, RolloutSpec, StrategySpec, Timestamp};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let spec = RolloutSpec {
        desired: 10,
        strategy: StrategySpec::Rolling(RollingSpec {
            max_surge: Quantity::Percent(25),
            max_unavailable: Quantity::Percent(25),
        }),
        min_ready: Duration::from_secs(5),
        ..RolloutSpec::default()
    };
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

    // An operator's verb: taken by the driver's first step.
    let _deployed = driver.handle().send(Command::Deploy("v2".into()));
    let outcome = driver.run_with(|step| {
        for event in &step.events {
            println!("{event}");
        }
    })?;
    let status = driver.status();
    println!(
        "{}: {} ({outcome:?})",
        driver.rollout().now(),
        status.message
    );
    assert!(outcome.is_completed());
    Ok(())
}
