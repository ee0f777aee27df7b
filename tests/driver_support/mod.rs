//! What the driver's tests share: a scripted [`MockWorld`] behind every adapter
//! (`mock`), stores that fail or crash on cue (`stores`), the invariant checks of the
//! test world replayed over a driver's steps (`checked`), and the scenarios every
//! proof runs (one rollout per strategy).
//!
//! A test file using it declares `mod world;` and `mod driver_support;`.

#![allow(dead_code)]

pub mod checked;
pub mod mock;
pub mod stores;

use cutover::adapter::{Clock, Wakeup};
use cutover::driver::{Command, Driver, DriverConfig, DriverError, Outcome, Step};
use cutover::spec::{CanaryStep, Checks, HookSpec};
use cutover::store::{RolloutId, Store};
use cutover::{Duration, Instance, Rollout, RolloutSpec, Timestamp, Weight};

#[allow(unused_imports)]
pub use checked::Checked;
#[allow(unused_imports)]
pub use mock::{Asked, Crash, HookScript, MockWorld, Timing};
#[allow(unused_imports)]
pub use stores::{Fault, ScriptedStore};

/// The name every test stores its rollout under.
pub fn id() -> RolloutId {
    RolloutId::new("web").expect("a valid id")
}

/// A rollout to run: a spec and the fleet it starts from (all `v1`, serving), to be
/// deployed to `v2`.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: &'static str,
    pub spec: RolloutSpec,
    pub fleet: Vec<Instance>,
}

impl Scenario {
    /// The rollout at time zero, before the deploy.
    pub fn rollout(&self) -> Rollout {
        Rollout::new(Timestamp::ZERO, self.spec.clone(), self.fleet.clone()).expect("valid")
    }

    /// A world holding the scenario's fleet.
    pub fn world(&self, timing: Timing) -> MockWorld {
        MockWorld::new(timing, &self.fleet)
    }

    /// A test world shadowing a driver of this scenario.
    pub fn checked(&self) -> Checked {
        Checked::new(self.spec.clone(), self.fleet.clone())
    }
}

/// A rolling update of four instances, one at a time.
pub fn rolling() -> Scenario {
    Scenario {
        name: "rolling",
        spec: crate::world::spec(4, "1", "1"),
        fleet: crate::world::fleet("v1", 4),
    }
}

/// A blue-green deploy of three instances, a pre-promotion hook `smoke`, switched at
/// once; blue kept warm for 10 s.
pub fn blue_green() -> Scenario {
    Scenario {
        name: "blue-green",
        spec: crate::world::blue_green(3, |bg| {
            bg.pre_promotion = Checks {
                hooks: vec![HookSpec::new("smoke", Duration::from_mins(1))],
                analysis: None,
            };
            bg.scale_down_delay = Duration::from_secs(10);
        }),
        fleet: crate::world::fleet("v1", 3),
    }
}

/// A traffic-routed canary of four instances: 25%, a 10 s pause, the `errors`
/// analysis, 50%, a 5 s pause, then all.
pub fn canary() -> Scenario {
    let percent = |p| Weight::from_percent(p).expect("a percentage");
    let steps = vec![
        CanaryStep::SetWeight(percent(25)),
        CanaryStep::Pause {
            duration: Some(Duration::from_secs(10)),
        },
        CanaryStep::Analysis {
            analysis: "errors".into(),
            on_failure: Default::default(),
        },
        CanaryStep::SetWeight(percent(50)),
        CanaryStep::Pause {
            duration: Some(Duration::from_secs(5)),
        },
    ];
    Scenario {
        name: "canary",
        spec: crate::world::with_errors_analysis(crate::world::canary(4, steps, |_| {})),
        fleet: crate::world::fleet("v1", 4),
    }
}

/// One scenario per strategy.
pub fn every_strategy() -> Vec<Scenario> {
    vec![rolling(), blue_green(), canary()]
}

/// A driver of `scenario` started in `store`, with `v2` deployed by its first step.
pub fn start<S: Store>(
    scenario: &Scenario,
    store: S,
    world: MockWorld,
) -> Result<Driver<S, MockWorld>, DriverError> {
    let driver = Driver::start(
        store,
        id(),
        scenario.rollout(),
        world,
        DriverConfig::default(),
    )?;
    // Taken by the first step; the reply is not needed (the step reports the call).
    let _ = driver.handle().send(Command::Deploy("v2".into()));
    Ok(driver)
}

/// Steps `driver` until it has an outcome, replaying every step on `checked` (if
/// any), sleeping on the world's clock between steps; fails loudly after `bound`
/// steps. Every step is handed to `each` first.
pub fn drive<S: Store>(
    driver: &mut Driver<S, MockWorld>,
    mut checked: Option<&mut Checked>,
    bound: usize,
    mut each: impl FnMut(&Step),
) -> Result<Outcome, DriverError> {
    for _ in 0..bound {
        let step = driver.step()?;
        each(&step);
        if let Some(checked) = checked.as_deref_mut() {
            checked.replay(&step, driver.rollout());
        }
        if let Some(outcome) = driver.outcome() {
            return Ok(outcome);
        }
        driver.world_mut().sleep_until(step.next, &Wakeup::new());
    }
    panic!(
        "no outcome after {bound} steps: {:#?}",
        driver.rollout().status()
    );
}
