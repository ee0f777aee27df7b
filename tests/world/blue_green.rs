//! The blue-green strategy's own promises, checked of every state and step of a world
//! whose spec is blue-green (the shared invariants run as well).

use cutover::strategy::blue_green_cost;
use cutover::{Rollout, StrategySpec, Weight};

use super::harness::World;
use super::moves::Move;

/// Whether the rollout follows the blue-green strategy.
pub(super) fn is_blue_green(rollout: &Rollout) -> bool {
    matches!(rollout.spec().strategy, StrategySpec::BlueGreen(_))
}

impl World {
    /// Of every state: the peak the envelope enforces is the one the public arithmetic
    /// states, and user traffic goes to exactly one of blue or green, unless the one
    /// that should carry it cannot (faults: then traffic follows capacity).
    pub(super) fn check_blue_green_state(&self, context: &str) {
        let rollout = &self.rollout;
        let StrategySpec::BlueGreen(spec) = &rollout.spec().strategy else {
            return;
        };
        let limits = rollout.limits();
        let cost = blue_green_cost(spec, limits.desired()).unwrap();
        assert_eq!(
            (limits.max_total(), limits.min_available()),
            (cost.peak, cost.min_available),
            "{context}: the envelope's peak and floor are blue_green_cost's"
        );
        let (Some(blue), Some(green)) = (rollout.stable(), rollout.target()) else {
            return;
        };
        if blue == green {
            return;
        }
        let table = rollout.traffic();
        let (to_blue, to_green) = (table.weight(blue), table.weight(green));
        if to_blue != Weight::ZERO && to_green != Weight::ZERO {
            let floor = (limits.min_available() as usize).max(1);
            let fleet = rollout.fleet();
            assert!(
                fleet.counts(blue).available < floor || fleet.counts(green).available < floor,
                "{context}: blue ({to_blue:?}) and green ({to_green:?}) share user traffic while either could carry it"
            );
        }
    }

    /// Of every step: a switch from all-blue to all-green happens only with every green
    /// instance available (unless a fault took blue's capacity: then traffic follows
    /// what can carry it).
    pub(super) fn check_blue_green_step(&self, before: &Rollout, mv: &Move, context: &str) {
        let after = &self.rollout;
        if !is_blue_green(after) || mv.is_fault() {
            return;
        }
        let (Some(blue), Some(green)) = (after.stable(), after.target()) else {
            return;
        };
        if blue == green {
            return;
        }
        let was_blue = before.traffic().weight(blue) == Weight::FULL;
        let now_green = after.traffic().weight(green) == Weight::FULL;
        // Blue that can no longer carry the traffic (a spec whose `max_unavailable`
        // gives all of it up: a recreate) hands it to whatever can.
        let floor = (after.limits().min_available() as usize).max(1);
        let blue_carries = after.fleet().counts(blue).available >= floor;
        if was_blue && now_green && blue_carries {
            assert!(
                after.fleet().counts(green).available >= after.limits().desired() as usize,
                "{context}: switched to green with {} of {} available",
                after.fleet().counts(green).available,
                after.limits().desired()
            );
        }
    }
}
