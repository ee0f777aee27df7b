//! The canary strategy's own promises, checked of every state and step of a world whose
//! spec is a canary (the shared invariants run as well).

use cutover::strategy::canary_cost;
use cutover::{Rollout, Router, StrategySpec};

use super::harness::World;

/// Keys whose sticky routes are followed from table to table.
const KEYS: u32 = 256;

/// Whether the rollout follows the canary strategy.
pub(super) fn is_canary(rollout: &Rollout) -> bool {
    matches!(rollout.spec().strategy, StrategySpec::Canary(_))
}

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

    /// Of every state: the peak and floor the envelope enforces are the ones the public
    /// arithmetic states.
    pub(super) fn check_canary_state(&self, context: &str) {
        let StrategySpec::Canary(spec) = &self.rollout.spec().strategy else {
            return;
        };
        let limits = self.rollout.limits();
        let cost = canary_cost(spec, limits.desired()).unwrap();
        assert_eq!(
            (limits.max_total(), limits.min_available()),
            (cost.peak, cost.min_available),
            "{context}: the envelope's peak and floor are canary_cost's"
        );
    }

    /// Of every step (invariant 7, through the router on the published tables): while
    /// the canary's share does not shrink, no sticky key moves from the canary back to
    /// the stable revision.
    pub(super) fn check_canary_step(&self, before: &Rollout, context: &str) {
        let after = &self.rollout;
        if !is_canary(after) {
            return;
        }
        let (Some(stable), Some(canary)) = (after.stable(), after.target()) else {
            return;
        };
        if before.stable() != Some(stable) || before.target() != Some(canary) || stable == canary {
            return;
        }
        let (from, to) = (before.traffic(), after.traffic());
        if from.generation() == to.generation() && from == to {
            return;
        }
        if to.weight(canary) < from.weight(canary) || from.weight(canary).is_zero() {
            return;
        }
        let (old, new) = (Router::new(from), Router::new(to));
        for key in 0..KEYS {
            let key = format!("user-{key}");
            let was = old
                .route_sticky(key.as_bytes())
                .map(|d| d.revision().clone());
            let now = new
                .route_sticky(key.as_bytes())
                .map(|d| d.revision().clone());
            assert!(
                !(was.as_ref() == Some(canary) && now.as_ref() == Some(stable)),
                "{context}: invariant 7: key {key} moved from the canary {canary} back to {stable} while the canary's share grew from {:?} to {:?}",
                from.weight(canary),
                to.weight(canary)
            );
        }
    }
}
