//! The blue-green and canary strategies' own promises, checked of every state and step
//! of a rollout following them (the shared invariants run as well).

use super::{Call, Checker, Found, Rule};
use crate::rollout::Rollout;
use crate::router::Router;
use crate::spec::StrategySpec;
use crate::strategy::{blue_green_cost, canary_cost};
use crate::traffic::Weight;

/// Keys whose sticky routes are followed from table to table.
const KEYS: u32 = 256;

impl Checker {
    /// Of every state: the peak the envelope enforces is the one the public arithmetic
    /// states, and user traffic goes to exactly one of blue or green, unless the one
    /// that should carry it cannot (faults: then traffic follows capacity).
    pub(super) fn check_blue_green_state(&self, rollout: &Rollout, found: &mut Found) {
        let StrategySpec::BlueGreen(spec) = &rollout.spec().strategy else {
            return;
        };
        let limits = rollout.limits();
        if let Ok(cost) = blue_green_cost(spec, limits.desired()) {
            found.same(
                (limits.max_total(), limits.min_available()),
                (cost.peak, cost.min_available),
                Rule::Strategy,
                || "the envelope's peak and floor are blue_green_cost's".to_owned(),
            );
        }
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
            found.ensure(
                fleet.counts(blue).available < floor || fleet.counts(green).available < floor,
                Rule::Strategy,
                || format!("blue ({to_blue:?}) and green ({to_green:?}) share user traffic while either could carry it"),
            );
        }
    }

    /// Of every step: a switch from all-blue to all-green happens only with every green
    /// instance available (unless a fault took blue's capacity: then traffic follows
    /// what can carry it).
    pub(super) fn check_blue_green_step(
        &self,
        before: &Rollout,
        after: &Rollout,
        call: &Call<'_>,
        found: &mut Found,
    ) {
        if !matches!(after.spec().strategy, StrategySpec::BlueGreen(_)) || call.is_fault() {
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
            let (available, desired) = (
                after.fleet().counts(green).available,
                after.limits().desired() as usize,
            );
            found.ensure(available >= desired, Rule::Strategy, || {
                format!("switched to green with {available} of {desired} available")
            });
        }
    }

    /// Of every state: the peak and floor the envelope enforces are the ones the public
    /// arithmetic states.
    pub(super) fn check_canary_state(&self, rollout: &Rollout, found: &mut Found) {
        let StrategySpec::Canary(spec) = &rollout.spec().strategy else {
            return;
        };
        let limits = rollout.limits();
        if let Ok(cost) = canary_cost(spec, limits.desired()) {
            found.same(
                (limits.max_total(), limits.min_available()),
                (cost.peak, cost.min_available),
                Rule::Strategy,
                || "the envelope's peak and floor are canary_cost's".to_owned(),
            );
        }
    }

    /// Of every step (invariant 7, through the router on the published tables): while
    /// the canary's share does not shrink, no sticky key moves from the canary back to
    /// the stable revision.
    pub(super) fn check_canary_step(&self, before: &Rollout, after: &Rollout, found: &mut Found) {
        if !matches!(after.spec().strategy, StrategySpec::Canary(_)) {
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
            found.ensure(
                !(was.as_ref() == Some(canary) && now.as_ref() == Some(stable)),
                Rule::Sticky,
                || {
                    format!(
                        "key {key} moved from the canary {canary} back to {stable} while the canary's share grew from {:?} to {:?}",
                        from.weight(canary),
                        to.weight(canary)
                    )
                },
            );
        }
    }
}
