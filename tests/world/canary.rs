//! What the canary arithmetic says of this world's spec (the canary's own promises are
//! checked by `cutover::invariants`).

use cutover::StrategySpec;
use cutover::strategy::canary_cost;

use super::harness::World;

impl World {
    /// The peak [`canary_cost`] states for this world's canary spec.
    pub fn canary_peak(&self) -> u32 {
        let StrategySpec::Canary(spec) = &self.rollout.spec().strategy else {
            panic!("not a canary: {:?}", self.rollout.spec().strategy);
        };
        canary_cost(spec, self.rollout.limits().desired())
            .unwrap()
            .peak
    }
}
