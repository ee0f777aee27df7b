//! The invariants of `DESIGN.md`: the checks themselves are `cutover::invariants`'s
//! [`Checker`](cutover::invariants::Checker), shared with the simulator and the fuzz
//! targets; the world feeds it every call (`World::step`).

use super::harness::{World, fail_on};

impl World {
    /// The rules that hold of any state at rest (invariants 1 and 3, bookkeeping).
    pub fn check_state(&self) {
        fail_on(&self.checker.state(&self.rollout), "at rest");
    }
}
