//! Seeded simulated worlds.

use cutover::RolloutSpec;
use cutover::sim::{Settings, Simulation};

#[test]
fn smoke() {
    let spec = RolloutSpec {
        desired: 4,
        ..RolloutSpec::default()
    };
    let report = Simulation::new(spec, Settings::ideal(), 7)
        .checked(true)
        .run()
        .unwrap();
    println!("{}", report.narrate());
    println!("{report}\n{:?}", report.violations);
}
