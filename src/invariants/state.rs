//! The rules that hold of every state (invariants 1, 3 and 4's steady part).

use super::{Checker, Found, Rule};
use crate::model::{InstanceState, Revision};
use crate::rollout::{Phase, Rollout, Status};
use crate::spec::StrategySpec;
use crate::traffic::Weight;

/// Whether an aborted target may stay in the table at weight 0 (blue-green, and a
/// canary behind a traffic router).
fn keeps_target_at_zero(rollout: &Rollout) -> bool {
    match &rollout.spec().strategy {
        StrategySpec::BlueGreen(_) => true,
        StrategySpec::Canary(c) => c.traffic_routing,
        _ => false,
    }
}

impl Checker {
    pub(super) fn check_state(&self, rollout: &Rollout, status: &Status, found: &mut Found) {
        self.check_blue_green_state(rollout, found);
        self.check_canary_state(rollout, found);
        let table = rollout.traffic();
        // Invariant 1.
        if !table.is_empty() {
            let total: u32 = table
                .backends()
                .iter()
                .map(|b| u32::from(b.weight().basis_points()))
                .sum();
            found.ensure(total == 10_000, Rule::Weights, || {
                format!("weights sum to {total}")
            });
        }
        for backend in table.backends() {
            found.ensure(
                backend.weight().is_zero() || backend.instance_count() > 0,
                Rule::Weights,
                || format!("{} has weight without instances", backend.revision()),
            );
            for (id, _) in backend.instances() {
                let Some(instance) = rollout.fleet().get(id) else {
                    found.ensure(false, Rule::Weights, || {
                        format!("{id} is in the table, not in the fleet")
                    });
                    continue;
                };
                found.ensure(
                    instance.state == InstanceState::Ready,
                    Rule::Rotation,
                    || format!("{id} in rotation while {}", instance.state),
                );
                found.ensure(instance.available, Rule::Rotation, || {
                    format!("{id} in rotation before min_ready")
                });
                found.same(
                    &instance.revision,
                    backend.revision(),
                    Rule::Bookkeeping,
                    || format!("{id} listed under the wrong revision"),
                );
            }
        }
        found.same(
            self.tables.get(&self.published()),
            Some(table),
            Rule::Bookkeeping,
            || "the diffs published do not add up to the table".to_owned(),
        );
        found.same(
            rollout.acknowledged_generation(),
            self.acked,
            Rule::Bookkeeping,
            || "acknowledged generation".to_owned(),
        );
        // Invariant 5: traffic follows capacity; what runs hot is reported.
        self.check_traffic_state(rollout, status, found);
        // What the rollout believes is in rotation is what the load balancer applies.
        if let Some(applied) = self.tables.get(&self.acked) {
            for instance in rollout.fleet().iter() {
                found.same(
                    instance.in_rotation,
                    applied.revision_of(&instance.id).is_some(),
                    Rule::Bookkeeping,
                    || {
                        format!(
                            "{} in_rotation disagrees with the acknowledged table {}",
                            instance.id, self.acked
                        )
                    },
                );
            }
        }
        // Invariant 3, first half. A resize that lowers the peak leaves the instances
        // above it that already exist: not the rollout's doing, and never more of them.
        let limits = rollout.limits();
        let live = rollout.fleet().total().live();
        found.ensure(
            live <= (limits.max_total() as usize).max(self.peak_allowance),
            Rule::Peak,
            || {
                format!(
                    "{live} live instances exceed desired {} + surge {}",
                    limits.desired(),
                    limits.max_surge()
                )
            },
        );
        found.same(
            rollout.phase().is_in_flight(),
            rollout.target().is_some(),
            Rule::Bookkeeping,
            || "phase and target".to_owned(),
        );
        // Invariant 4, the steady part: once aborted, as soon as the stable revision can
        // carry all traffic (it has the floor available), only it is in the table.
        if matches!(rollout.phase(), Phase::Aborted { .. }) {
            let floor = (limits.min_available() as usize).max(1);
            match rollout.stable() {
                // Nothing to go back to: the abort keeps serving what serves.
                None => found.ensure(
                    !table.is_empty()
                        || !rollout
                            .fleet()
                            .iter()
                            .any(|i| i.state == InstanceState::Ready && i.available),
                    Rule::Rollback,
                    || "an aborted first deploy stopped serving".to_owned(),
                ),
                // Blue-green keeps an aborted green (at weight 0) for its abort delay,
                // and so does a canary beside a full stable revision.
                Some(stable)
                    if rollout.fleet().counts(stable).available >= floor
                        && keeps_target_at_zero(rollout) =>
                {
                    found.same(table.weight(stable), Weight::FULL, Rule::Rollback, || {
                        "aborted table".to_owned()
                    });
                }
                Some(stable) if rollout.fleet().counts(stable).available >= floor => {
                    let only: Vec<(&Revision, Weight)> = table
                        .backends()
                        .iter()
                        .map(|b| (b.revision(), b.weight()))
                        .collect();
                    found.same(only, vec![(stable, Weight::FULL)], Rule::Rollback, || {
                        "aborted table".to_owned()
                    });
                }
                Some(_) => {}
            }
        }
    }
}
