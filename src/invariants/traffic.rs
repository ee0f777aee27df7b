//! Invariant 5, as amended: traffic follows capacity, and **traffic never leaks**.
//! Checked of every state and every step, from the published tables, the fleet and the
//! status, and against the strategies' own step tables (so that a plan the engine
//! reports wrongly is caught too, not only a table that departs from it).

use std::collections::BTreeSet;

use super::{Checker, Found, Rule};
use crate::model::Revision;
use crate::rollout::{Rollout, Status};
use crate::router::Router;
use crate::spec::{CanaryStep, StrategySpec};
use crate::strategy::StepKind;
use crate::traffic::{TrafficTable, Weight};

/// Keys whose sticky routes are followed from one acknowledged table to the next.
const KEYS: u32 = 256;

/// The most traffic `instances` carry at the floor's rate, in basis points.
fn capacity(instances: usize, floor: u32) -> u64 {
    match (instances, floor) {
        (0, _) => 0,
        (_, 0) => 10_000,
        (n, floor) => (n as u64 * 10_000 / u64::from(floor)).min(10_000),
    }
}

fn weight(table: &TrafficTable, revision: &Revision) -> u64 {
    u64::from(table.weight(revision).basis_points())
}

fn listed(table: &TrafficTable, revision: &Revision) -> usize {
    table.backend(revision).map_or(0, |b| b.instance_count())
}

fn planned(status: &Status, revision: &Revision) -> u64 {
    status
        .planned_traffic
        .iter()
        .find(|(r, _)| r == revision)
        .map_or(0, |(_, w)| u64::from(w.basis_points()))
}

/// Whether traffic follows instance counts (a rolling update, a canary without a
/// traffic router): the plan is the proportional split itself, so a fault that takes
/// the fleet below its floor makes every revision run hot, and nothing leaks.
fn proportional(rollout: &Rollout) -> bool {
    match &rollout.spec().strategy {
        StrategySpec::Rolling(_) => true,
        StrategySpec::Canary(canary) => !canary.traffic_routing,
        _ => false,
    }
}

/// Whether a revision is the stable or the standby one: users going back to either is
/// never a leak.
fn known_good(rollout: &Rollout, revision: &Revision) -> bool {
    rollout.stable() == Some(revision) || rollout.standby() == Some(revision)
}

/// The most a canary's target may carry at `step` of `count`: the largest weight its
/// steps set so far, all of it from the promotion on (or when the steps are skipped).
fn canary_ceiling(rollout: &Rollout, status: &Status) -> Option<Weight> {
    let StrategySpec::Canary(spec) = &rollout.spec().strategy else {
        return None;
    };
    let (index, count) = status.step?;
    if !spec.traffic_routing || status.is_rollback || index + 1 >= count {
        return Some(Weight::FULL);
    }
    let most = (0..=index as usize)
        .filter_map(|i| match spec.plan.step(i).as_deref() {
            Some(CanaryStep::SetWeight(w)) => Some(*w),
            _ => None,
        })
        .max()
        .unwrap_or(Weight::ZERO);
    Some(most)
}

impl Checker {
    /// Of every state: a revision carrying more than its instances carry at the floor's
    /// rate is reported short, and only such a one.
    pub(super) fn check_traffic_state(
        &self,
        rollout: &Rollout,
        status: &Status,
        found: &mut Found,
    ) {
        let floor = rollout.limits().min_available();
        let table = rollout.traffic();
        let hot: BTreeSet<&Revision> = table
            .backends()
            .iter()
            .filter(|b| weight(table, b.revision()) > capacity(b.instance_count(), floor))
            .map(|b| b.revision())
            .collect();
        let reported: BTreeSet<&Revision> = status.shortfall.iter().map(|s| &s.revision).collect();
        found.same(hot, reported, Rule::Capacity, || {
            "the revisions running hot are reported short".to_owned()
        });
    }

    /// Of every step: a weight rises only within capacity and within plan, unless a
    /// revision was left with no instance (its share had to go somewhere); beyond plan
    /// only to a known-good revision or in a reported emergency. The strategies' own
    /// promises: green gets no user before the switch, a canary no more than its steps
    /// set. And through the router on the acknowledged tables: no sticky key leaves the
    /// target for stable unless the target's plan shrank, it could not serve, or users
    /// were in an emergency.
    pub(super) fn check_traffic_step(
        &self,
        before: &Rollout,
        after: &Rollout,
        status: &Status,
        found: &mut Found,
    ) {
        let (from, to) = (before.traffic(), after.traffic());
        let floor = after.limits().min_available();
        let emergency = status.emergency.is_some();
        // A share that had to move: a revision left with no instance, or a first table.
        let orphaned = from.is_empty()
            || from
                .backends()
                .iter()
                .any(|b| !b.weight().is_zero() && listed(to, b.revision()) == 0);
        if !proportional(after) {
            for backend in to.backends() {
                let revision = backend.revision();
                let (was, is) = (weight(from, revision), weight(to, revision));
                if is <= was {
                    continue;
                }
                found.ensure(
                    is <= capacity(backend.instance_count(), floor) + 1 || orphaned,
                    Rule::Capacity,
                    || {
                        format!(
                            "{revision} raised from {was} to {is} bp on {} instances, floor {floor}",
                            backend.instance_count()
                        )
                    },
                );
                // Users going back to a known-good revision are never a leak: stable
                // takes a superseded share back before the target rises, and takes a
                // share no planned instance can serve.
                found.ensure(
                    is <= planned(status, revision) || emergency || known_good(after, revision),
                    Rule::Leak,
                    || {
                        format!(
                            "traffic leaked: {revision} raised from {was} to {is} bp against a plan of {} ({:?})",
                            planned(status, revision),
                            status.planned_traffic
                        )
                    },
                );
            }
        }
        check_strategy_ceilings(before, after, status, found);
        self.check_sticky_on_acknowledgement(before, after, found);
    }
}

/// Green gains no user before the switch; a canary never rises above what its steps
/// set. (A weight already above falls as fast as the others can take it.)
fn check_strategy_ceilings(
    before: &Rollout,
    rollout: &Rollout,
    status: &Status,
    found: &mut Found,
) {
    {
        let (Some(stable), Some(target)) = (rollout.stable(), rollout.target()) else {
            return;
        };
        let on_target = rollout.traffic().weight(target);
        if stable == target
            || status.emergency.is_some()
            || on_target <= before.traffic().weight(target)
        {
            return;
        }
        if let StrategySpec::BlueGreen(_) = rollout.spec().strategy {
            let switched = matches!(status.step_kind, Some((StepKind::PostPromotion, _)));
            found.ensure(switched || on_target.is_zero(), Rule::Leak, || {
                format!(
                    "green {target} carries {on_target} before the switch ({:?})",
                    status.step_kind
                )
            });
        }
        if let Some(ceiling) = canary_ceiling(rollout, status) {
            found.ensure(on_target <= ceiling, Rule::Leak, || {
                format!(
                    "the canary {target} carries {on_target}, above the {ceiling} its steps set ({:?})",
                    status.step
                )
            });
        }
    }
}

impl Checker {
    /// Notes whether the table this step published may move keys off the target: its
    /// plan for the target shrank, the target could not serve, or users were in an
    /// emergency. Called before the step's checks.
    pub(super) fn note_target_moves(&mut self, before: &Rollout, after: &Rollout) {
        let (from, to) = (before.traffic(), after.traffic());
        if from == to {
            return;
        }
        self.published_under
            .insert(to.generation(), after.target().cloned());
        // A table published while another revision (or none) was the target may move
        // keys off whatever becomes the target later.
        let Some(target) = after.target().filter(|t| before.target() == Some(*t)) else {
            self.target_may_shrink.insert(to.generation());
            return;
        };
        let status = after.status();
        if status.emergency.is_some()
            || listed(to, target) == 0
            || planned(&status, target) < weight(from, target)
        {
            self.target_may_shrink.insert(to.generation());
        }
    }

    /// Between two acknowledged tables, a sticky key leaves the target for stable only
    /// as planned, when the target could not serve, or in an emergency (as noted when
    /// the tables between them were published).
    fn check_sticky_on_acknowledgement(
        &self,
        before: &Rollout,
        after: &Rollout,
        found: &mut Found,
    ) {
        let (was, is) = (
            before.acknowledged_generation(),
            after.acknowledged_generation(),
        );
        if was == is || proportional(after) {
            return;
        }
        let (Some(stable), Some(target)) = (after.stable(), after.target()) else {
            return;
        };
        if before.stable() != Some(stable) || before.target() != Some(target) || stable == target {
            return;
        }
        let (Some(from), Some(to)) = (self.tables.get(&was), self.tables.get(&is)) else {
            return;
        };
        let under_another = self
            .published_under
            .range(was + 1..=is)
            .any(|(_, under)| under.as_ref() != Some(target));
        if under_another || self.target_may_shrink.range(was + 1..=is).next().is_some() {
            return;
        }
        let (old, new) = (Router::new(from), Router::new(to));
        for key in 0..KEYS {
            let key = format!("user-{key}");
            let route = |router: &Router| {
                router
                    .route_sticky(key.as_bytes())
                    .map(|d| d.revision().clone())
            };
            found.ensure(
                !(route(&old).as_ref() == Some(target) && route(&new).as_ref() == Some(stable)),
                Rule::Sticky,
                || {
                    format!(
                        "key {key} moved from the target {target} back to {stable} between acknowledged tables {was} and {is}, unplanned"
                    )
                },
            );
        }
    }
}
