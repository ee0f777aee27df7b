//! Blue-green for eight instances on the simulator: green (`v2`) is built beside blue
//! (`v1`), checked by a pre-promotion hook, promoted by the operator after a minute,
//! switched in one table update, and blue is kept warm for 30 s for an instant rollback.
//!
//! Run it with `cargo run --example blue_green [-- --seed N]`; it prints the timeline,
//! writes `examples/pictures/blue_green.svg` and ends with the summary line.

#[path = "support/mod.rs"]
mod support;

use cutover::sim::{Settings, Simulation};
use cutover::spec::{BlueGreenSpec, HookSpec, Promotion};
use cutover::{Duration, RolloutSpec, StrategySpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut blue_green = BlueGreenSpec::default();
    blue_green
        .pre_promotion
        .hooks
        .push(HookSpec::new("smoke-test", Duration::from_secs(30)));
    blue_green.promotion = Promotion::Manual;
    let spec = RolloutSpec {
        desired: 8,
        strategy: StrategySpec::BlueGreen(blue_green),
        ..RolloutSpec::default()
    };
    let report = Simulation::new(spec, Settings::realistic(), support::seed())
        .checked(true)
        .run()?;
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
    support::show(
        "blue-green, 8 instances, a smoke test, promoted by hand",
        &report,
        &support::picture("blue_green"),
    )
}
