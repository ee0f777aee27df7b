//! The safety envelope, in one place: whatever a planner asks for, the core never takes
//! the instance count past the strategy's peak, never itself takes available capacity
//! below its floor, and never gives a revision more traffic than its available
//! instances in rotation can carry (invariant 5). A plan that asks for more gets the
//! safe part of it, and a [`HeldBack`] event says what was held back.

use crate::model::{InstanceGroup, InstanceId, InstanceState, Revision};
use crate::output::{EventKind, HeldBack};
use crate::rollout::core::Core;
use crate::strategy::{ExplicitTraffic, FleetView, Mode, Plan, Role, TrafficIntent};
use crate::traffic::{TOTAL_BASIS_POINTS, Weight};

/// The states of an instance that is wanted and not yet ready, most disposable first:
/// these go before available ones when scaling down.
const NOT_YET_SERVING: [InstanceState; 2] = [InstanceState::Provisioning, InstanceState::Starting];

impl Core {
    /// Moves the fleet toward `plan` (made from `view`, the fleet as it is) within the
    /// envelope.
    pub fn execute(&mut self, plan: &Plan, view: &FleetView, mode: Mode) {
        // Warm standby instances become the target's before any is scaled away.
        let view = &match mode {
            Mode::Rollout => self.recycle_standby(plan, *view),
            _ => *view,
        };
        let explicit = match &plan.traffic {
            TrafficIntent::Explicit(explicit) => Some(explicit),
            TrafficIntent::Proportional => None,
        };
        let mut held = HeldBack::default();
        let mut available = view.available();
        for role in Role::REMOVAL_ORDER {
            let excess = view.roles[role].replicas.saturating_sub(plan.wanted[role]);
            if excess > 0 {
                let removed = self.scale_down(role, excess, mode, explicit, &mut available);
                held.scale_down += excess - removed;
            }
        }
        // Removals leave instances live (on their way out) until they are gone.
        let mut live = view.live();
        let peak = self.limits.max_total();
        let backing_off = self.backoff_until.is_some_and(|until| until > self.now);
        for role in Role::ALL {
            let deficit = plan.wanted[role].saturating_sub(view.roles[role].replicas);
            if deficit == 0 || role == Role::Superseded || backing_off {
                continue;
            }
            let Some(revision) = self.provision_revision(role) else {
                continue;
            };
            let room = peak.saturating_sub(live);
            let allowed = deficit.min(room);
            for _ in 0..allowed {
                self.provision(revision.clone(), role.group());
            }
            live += allowed;
            held.scale_up += deficit - allowed;
        }
        let held = (!held.is_empty()).then_some(held);
        if held != self.held {
            if let Some(held) = held {
                self.emit(EventKind::EnvelopeHeldBack { held });
            }
            self.held = held;
        }
    }

    /// Removes up to `n` replicas of `role`, not-yet-serving ones first, available ones
    /// only while the floor holds (`available` counts what is left). Returns how many it
    /// removed.
    fn scale_down(
        &mut self,
        role: Role,
        n: u32,
        mode: Mode,
        explicit: Option<&ExplicitTraffic>,
        available: &mut u32,
    ) -> u32 {
        // Aborting a first deploy: there is no stable revision to protect capacity for.
        let unbounded = mode == Mode::Revert && self.stable.is_none();
        let mut removed = 0;
        for revision in self.revisions_of(role) {
            let unavailable: Vec<InstanceId> = self
                .unavailable_ids(&revision, role.group())
                .take((n - removed) as usize)
                .cloned()
                .collect();
            for id in unavailable {
                self.retire(&id);
                removed += 1;
            }
            while removed < n {
                if !unbounded && !self.may_give_up(&revision, *available, explicit) {
                    break;
                }
                let Some(id) = self
                    .fleet
                    .available_ids(&revision, role.group())
                    .next()
                    .cloned()
                else {
                    break;
                };
                self.retire(&id);
                *available = available.saturating_sub(1);
                removed += 1;
            }
        }
        removed
    }

    /// Whether one available instance of `revision` may leave (with `available` in all):
    /// the floor holds, and with explicit weights the revision does not need it to
    /// carry its weight. The one statement of that rule, for removals and for standby
    /// instances taken for reuse.
    pub fn may_give_up(
        &self,
        revision: &Revision,
        available: u32,
        explicit: Option<&ExplicitTraffic>,
    ) -> bool {
        available > self.limits.min_available()
            && !explicit.is_some_and(|e| self.carries(revision, e))
    }

    /// Whether `revision` needs every instance it has in the table to carry the weight
    /// published for it: on the way down, traffic leaves first, then instances. A
    /// revision the intent gives no traffic, whose share the others can carry in full,
    /// carries nothing: its weight goes in the same table update that takes its instance
    /// out (the update is atomic, and the drain waits for its acknowledgement).
    fn carries(&self, revision: &Revision, intent: &ExplicitTraffic) -> bool {
        let table = &self.rotation.published;
        let weight = u64::from(table.weight(revision).basis_points());
        if intent.weights[self.role_of(revision)] == Weight::ZERO
            && self.others_carry_everything(revision)
        {
            return false;
        }
        // What the table will list once this call's flush is done: every instance that
        // may serve (the ones just retired are out), not only the ones listed now.
        let listed = self.fleet.counts(revision).available as u64;
        let floor = u64::from(self.limits.min_available());
        weight > 0 && listed.saturating_sub(1) * u64::from(TOTAL_BASIS_POINTS) < weight * floor
    }

    /// Whether the available instances of every revision but `revision` can carry all
    /// traffic at the floor's rate (invariant 5).
    fn others_carry_everything(&self, revision: &Revision) -> bool {
        let floor = u64::from(self.limits.min_available());
        let full = u64::from(TOTAL_BASIS_POINTS);
        let carried: u64 = self
            .fleet
            .revisions()
            .filter(|r| *r != revision)
            .map(|r| {
                let available = self.fleet.counts(r).available as u64;
                match (available, floor) {
                    (0, _) => 0,
                    (_, 0) => full,
                    (n, floor) => (n * full / floor).min(full),
                }
            })
            .sum();
        carried >= full
    }

    /// `revision`'s instances that are wanted but not available (provisioning, starting,
    /// or ready for less than `min_ready`), most disposable first.
    fn unavailable_ids<'a>(
        &'a self,
        revision: &'a Revision,
        group: InstanceGroup,
    ) -> impl Iterator<Item = &'a InstanceId> + 'a {
        NOT_YET_SERVING
            .into_iter()
            .flat_map(move |state| self.fleet.ids_in_state(revision, group, state))
            .chain(self.fleet.fresh_ids(revision, group))
    }

    fn provision(&mut self, revision: Revision, group: InstanceGroup) {
        let instance = loop {
            let candidate = InstanceId::new(format!("{revision}-{}", self.next_instance));
            self.next_instance += 1;
            if self.fleet.get(&candidate).is_none() {
                break candidate;
            }
        };
        let record = crate::model::Instance {
            group,
            ..crate::model::Instance::new(
                instance.clone(),
                revision.clone(),
                InstanceState::Provisioning,
            )
        };
        if self.fleet.insert(self.now, record).is_err() {
            return;
        }
        self.request_provision(instance, revision, group);
    }
}

/// Weights that follow capacity (invariant 5): each revision's share times `floor`
/// never exceeds its available instances in rotation. `wanted` are the plan's weights
/// per revision (basis points, summing to 10,000) and `capacity` its instances in
/// rotation, in the same order. A revision gets at most what it can carry; what others
/// cannot carry goes to revisions with room, the ones that want traffic first. When
/// faults leave less than the floor in all, no split can satisfy the rule, and traffic
/// goes in proportion to what is available.
pub(crate) fn follow_capacity(wanted: &[u16], capacity: &[usize], floor: u32) -> Vec<Weight> {
    let full = u64::from(TOTAL_BASIS_POINTS);
    let caps: Vec<u64> = capacity
        .iter()
        .map(|&n| match (n, floor) {
            (0, _) => 0,
            (_, 0) => full,
            (n, floor) => (n as u64 * full / u64::from(floor)).min(full),
        })
        .collect();
    if caps.iter().sum::<u64>() < full {
        let counts: Vec<(Revision, usize)> =
            capacity.iter().map(|n| (Revision::new(""), *n)).collect();
        return crate::rollout::rotation::proportional_weights(&counts);
    }
    let mut weights: Vec<u64> = wanted
        .iter()
        .zip(&caps)
        .map(|(w, cap)| u64::from(*w).min(*cap))
        .collect();
    let mut left = full - weights.iter().sum::<u64>().min(full);
    for wants_traffic in [true, false] {
        for i in 0..weights.len() {
            if left == 0 {
                break;
            }
            if (wanted[i] > 0) == wants_traffic {
                let room = caps[i] - weights[i];
                let give = room.min(left);
                weights[i] += give;
                left -= give;
            }
        }
    }
    weights
        .into_iter()
        .map(|bp| Weight::from_basis_points(bp).unwrap_or(Weight::ZERO))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bp(weights: &[Weight]) -> Vec<u16> {
        weights.iter().map(|w| w.basis_points()).collect()
    }

    #[test]
    fn a_share_is_capped_by_what_its_instances_carry() {
        // Floor 8: 3 available stable instances carry 3/8 of the traffic at most.
        assert_eq!(
            bp(&follow_capacity(&[10_000, 0], &[3, 10], 8)),
            [3_750, 6_250]
        );
        // Enough stable capacity: all of it moves at once.
        assert_eq!(bp(&follow_capacity(&[10_000, 0], &[8, 10], 8)), [10_000, 0]);
    }

    #[test]
    fn below_the_floor_everywhere_traffic_goes_by_capacity() {
        assert_eq!(
            bp(&follow_capacity(&[10_000, 0], &[1, 2], 8)),
            [3_333, 6_667]
        );
    }

    #[test]
    fn no_floor_means_any_instance_carries_everything() {
        assert_eq!(
            bp(&follow_capacity(&[2_000, 8_000], &[1, 1], 0)),
            [2_000, 8_000]
        );
        assert_eq!(
            bp(&follow_capacity(&[2_000, 8_000], &[1, 0], 0)),
            [10_000, 0]
        );
    }

    #[test]
    fn weights_always_sum_to_the_whole() {
        for (wanted, capacity, floor) in [
            (vec![5_000, 5_000, 0], vec![1, 1, 9], 9),
            (vec![0, 10_000, 0], vec![4, 0, 4], 5),
            (vec![3_333, 3_333, 3_334], vec![7, 7, 7], 7),
        ] {
            let weights = follow_capacity(&wanted, &capacity, floor);
            let total: u32 = weights.iter().map(|w| u32::from(w.basis_points())).sum();
            assert_eq!(total, 10_000, "{wanted:?} {capacity:?} {floor}");
        }
    }
}
