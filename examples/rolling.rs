//! A rolling update of ten instances from `v1` to `v2` on the simulator: the real
//! driver against a simulated world (instances boot in 20 s, the load balancer applies
//! a table in half a second, drains take 5 s, and instances crash and flap now and
//! then), 100 requests per second routed on the table the load balancer applied.
//!
//! Run it with `cargo run --example rolling [-- --seed N]`; it prints the timeline,
//! writes `examples/pictures/rolling.svg` and ends with the summary line.

#[path = "support/mod.rs"]
mod support;

use cutover::sim::{Settings, Simulation};
use cutover::spec::{Quantity, RollingSpec};
use cutover::{RolloutSpec, StrategySpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seed = support::seed();
    let spec = RolloutSpec {
        desired: 10,
        strategy: StrategySpec::Rolling(RollingSpec {
            max_surge: Quantity::Count(2),
            max_unavailable: Quantity::Count(1),
        }),
        ..RolloutSpec::default()
    };
    let report = Simulation::new(spec, Settings::realistic(), seed)
        .checked(true)
        .run()?;
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
    support::show(
        "rolling update, 10 instances, surge 2, unavailable 1",
        &report,
        &support::picture("rolling"),
    )
}
