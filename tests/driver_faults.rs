//! The driver against scripted adapters: every strategy to completion, then each
//! failure the driver must survive, with the invariants of the test world checked
//! after every call the driver made.

mod driver_support;
mod world;

use cutover::Phase;
use cutover::store::MemoryStore;
use driver_support::{Timing, drive, every_strategy, start};

#[test]
fn every_strategy_completes_with_every_invariant_checked() {
    for timing in [Timing::INSTANT, Timing::REALISTIC] {
        for scenario in every_strategy() {
            let mut checked = scenario.checked();
            let world = scenario.world(timing);
            let mut driver = start(&scenario, MemoryStore::new(), world.clone()).unwrap();
            let outcome = drive(&mut driver, Some(&mut checked), 10_000, |_| {}).unwrap();
            assert!(outcome.is_completed(), "{}: {outcome:?}", scenario.name);
            assert_eq!(driver.rollout().phase(), &Phase::Completed);
        }
    }
}
