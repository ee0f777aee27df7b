//! The safety envelope for instances, in one place: whatever a planner asks for, the core
//! never takes the instance count past the strategy's peak, never itself takes available
//! capacity below its floor, and never removes an instance its revision's weight still
//! needs (invariant 5: route first, then scale; the traffic shaper, `shaper.rs`, owns the
//! weights). A plan that asks for more gets the safe part of it, and a [`HeldBack`] event
//! says what was held back.

use crate::model::{InstanceGroup, InstanceId, InstanceState, Revision};
use crate::output::{EventKind, HeldBack};
use crate::rollout::core::Core;
use crate::strategy::{FleetView, Mode, Plan, Role, TrafficIntent};
use crate::traffic::TOTAL_BASIS_POINTS;

/// The states of an instance that is wanted and not yet ready, most disposable first:
/// these go before available ones when scaling down.
const NOT_YET_SERVING: [InstanceState; 2] = [InstanceState::Provisioning, InstanceState::Starting];

impl Core {
    /// Moves the fleet toward `plan` (made from `view`, the fleet as it is) within the
    /// envelope.
    pub(crate) fn execute(&mut self, plan: &Plan, view: &FleetView, mode: Mode) {
        // Warm standby instances become the target's before any is scaled away.
        let view = &match mode {
            Mode::Rollout => self.recycle_standby(plan, *view),
            _ => *view,
        };
        let explicit = matches!(plan.traffic, TrafficIntent::Explicit(_));
        let mut held = HeldBack::default();
        let mut available = view.available();
        for &role in Role::REMOVAL_ORDER {
            let excess = view.roles[role].replicas.saturating_sub(plan.wanted[role]);
            if excess > 0 {
                let removed = self.scale_down(role, excess, explicit, &mut available);
                held.scale_down += excess - removed;
            }
        }
        // Removals leave instances live (on their way out) until they are gone.
        let mut live = view.live();
        let peak = self.limits.max_total();
        let backing_off = self
            .stage
            .flight()
            .and_then(|flight| flight.backoff_until)
            .is_some_and(|until| until > self.now);
        for &role in Role::ALL {
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
    fn scale_down(&mut self, role: Role, n: u32, explicit: bool, available: &mut u32) -> u32 {
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
                if !self.may_give_up(&revision, *available, explicit) {
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
    pub(crate) fn may_give_up(&self, revision: &Revision, available: u32, explicit: bool) -> bool {
        available > self.limits.min_available() && !(explicit && self.carries(revision))
    }

    /// Whether `revision` needs every instance it has to carry the weight published for
    /// it: on the way down, traffic leaves first (the shaper lowers the weight), then
    /// instances. One fewer must still carry the weight at the floor's rate (so with a
    /// floor above 0 a revision with weight keeps one instance at least; a floor of 0 is
    /// a spec that accepts downtime). A revision already short (faults took instances it
    /// needs) keeps every one it has.
    fn carries(&self, revision: &Revision) -> bool {
        let weight = u64::from(self.rotation.published.weight(revision).basis_points());
        if weight == 0 {
            return false;
        }
        // What the table will list once this call's flush is done: every instance that
        // may serve (the ones just retired are out), not only the ones listed now.
        let listed = self.fleet.counts(revision).available as u64;
        let floor = u64::from(self.limits.min_available());
        listed.saturating_sub(1) * u64::from(TOTAL_BASIS_POINTS) < weight * floor
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
