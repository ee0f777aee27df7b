//! Reusing warm standby instances for a new target (blue-green's reuse of the previous
//! environment): instead of provisioning a new instance and scaling a standby one away,
//! the standby instance leaves rotation like any other (out of the table, drained once a
//! table without it is acknowledged), and is then redeployed in place to the target
//! revision through the provisioner ([`Action::Redeploy`]), answered like a provision.
//!
//! While on its way, it counts as a replica of the target, not as leaving, so that the
//! target's deficit is not provisioned twice.

use crate::model::{Instance, InstanceGroup, InstanceId, InstanceState, Revision};
use crate::output::{Action, EventKind};
use crate::rollout::core::{ActionKind, Core, Pending};
use crate::strategy::{FleetView, Plan, Role, TrafficIntent};

impl Core {
    /// Turns up to as many spare standby instances (ones the plan no longer wants) as
    /// the target is short into target instances, available ones only while the floor
    /// holds. Returns the view as it stands afterwards.
    pub(crate) fn recycle_standby(&mut self, plan: &Plan, mut view: FleetView) -> FleetView {
        let Some(target) = self.target().cloned() else {
            return view;
        };
        let short = plan.wanted[Role::Target].saturating_sub(view.roles[Role::Target].replicas);
        let spare = view.roles[Role::Standby]
            .replicas
            .saturating_sub(plan.wanted[Role::Standby]);
        let explicit = matches!(plan.traffic, TrafficIntent::Explicit(_));
        let mut available = view.available();
        let mut recycled = 0;
        for revision in self.revisions_of(Role::Standby) {
            let ids: Vec<InstanceId> = self
                .fleet
                .available_ids(&revision, InstanceGroup::Main)
                .take(short.min(spare) as usize)
                .cloned()
                .collect();
            for id in ids {
                if !self.may_give_up(&revision, available, explicit) {
                    break;
                }
                self.emit(EventKind::StandbyReused {
                    instance: id.clone(),
                    from: revision.clone(),
                    to: target.clone(),
                });
                self.recycle_to.insert(id.clone(), target.clone());
                self.retire(&id);
                available -= 1;
                recycled += 1;
            }
        }
        view.roles[Role::Standby].replicas -= recycled;
        view.roles[Role::Standby].available -= recycled;
        view.roles[Role::Standby].ready = view.roles[Role::Standby].ready.saturating_sub(recycled);
        view.roles[Role::Target].replicas += recycled;
        view
    }

    /// How many instances on their way to being redeployed to the target there are.
    pub(crate) fn recycling_to_target(&self) -> u32 {
        let n = self
            .recycle_to
            .values()
            .filter(|r| Some(*r) == self.target())
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// A drained instance: redeployed if it is being recycled for the current target,
    /// terminated otherwise.
    pub(crate) fn finish_drain(&mut self, id: InstanceId) {
        let revision = self.recycle_to.remove(&id);
        match revision.filter(|r| Some(r) == self.target()) {
            Some(revision) => self.redeploy(id, revision),
            None => self.terminate(id),
        }
    }

    /// Asks the caller to redeploy `id` (drained, out of every table) to `revision`; it
    /// is a provisioning instance of that revision from now on.
    fn redeploy(&mut self, id: InstanceId, to: Revision) {
        let Some(old) = self.fleet.remove(&id) else {
            return;
        };
        self.retiring.remove(&id);
        self.dirty.remove(&id);
        let record = Instance::new(id.clone(), to.clone(), InstanceState::Provisioning);
        if self.fleet.insert(self.now, record).is_err() {
            return;
        }
        let action = self.next_action_id();
        self.pending.insert(
            action,
            Pending {
                kind: ActionKind::Provision,
                instance: id.clone(),
            },
        );
        self.actions.push_back(Action::Redeploy {
            id: action,
            instance: id,
            from: old.revision,
            revision: to,
        });
    }
}
