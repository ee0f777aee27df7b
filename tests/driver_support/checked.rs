//! The invariants, checked of a driver: every call a driver step made is replayed on
//! the test world (`tests/world`), which runs every check of `DESIGN.md` after each
//! one — there is one set of invariant checks. Then the world's rollout must be the
//! driver's, and the driver must have performed exactly what the rollout asked for, in
//! order.

use cutover::Rollout;
use cutover::driver::{Call, Command, Step};

use crate::world::{self, Move, World};

/// A test world shadowing one driver.
pub struct Checked {
    pub world: World,
    /// How many of the world's actions the driver has performed.
    performed: usize,
}

impl Checked {
    /// Shadows a driver whose rollout is `Rollout::new(Timestamp::ZERO, spec, fleet)`.
    pub fn new(spec: cutover::RolloutSpec, fleet: Vec<cutover::Instance>) -> Checked {
        Checked {
            world: World::new(spec, fleet),
            performed: 0,
        }
    }

    /// Replays `step` (every call, every check), and compares with the driver.
    pub fn replay(&mut self, step: &Step, driver: &Rollout) {
        assert!(step.now >= self.world.now, "the driver's clock went back");
        self.world.now = step.now;
        for call in &step.calls {
            match call {
                Call::Command { command, result } => {
                    let replayed = self.world.step(&Move::Command(command_of(command)));
                    assert_eq!(replayed.result.as_ref(), Some(result), "{command:?}");
                }
                Call::Timeout => {
                    assert!(
                        self.world
                            .rollout
                            .poll_timeout()
                            .is_some_and(|t| t <= step.now),
                        "a timeout before its time"
                    );
                    self.world.step(&Move::ToNextTimeout);
                }
                Call::Input(input) => {
                    self.world.step(&Move::Answer(input.clone()));
                }
                other => panic!("a call this checker does not know: {other:?}"),
            }
        }
        assert_eq!(
            &self.world.rollout, driver,
            "the driver's rollout is not what its calls give"
        );
        let asked = &self.world.history[self.performed..];
        assert_eq!(
            step.actions, asked,
            "the driver must perform every action asked for, once, in order"
        );
        self.performed = self.world.history.len();
    }
}

fn command_of(command: &Command) -> world::Command {
    match command {
        Command::Deploy(revision) => world::Command::DeployRevision(revision.to_string()),
        Command::Pause => world::Command::Pause,
        Command::Resume => world::Command::Resume,
        Command::Promote => world::Command::Promote,
        Command::PromoteFull => world::Command::PromoteFull,
        Command::Abort => world::Command::Abort,
        Command::Retry => world::Command::Retry,
        Command::Rollback => world::Command::Rollback,
        Command::Scale(desired) => world::Command::Scale(*desired),
        Command::UpdateSpec(spec) => world::Command::UpdateSpec(spec.clone()),
        other => panic!("a verb this checker does not know: {other:?}"),
    }
}
