//! An instance's way out, in one place: out of the plan at once, out of the table at the
//! next flush, drained only once a table without it is acknowledged, terminated only
//! after it drained (or its drain timed out), forgotten once no table can list it.

use crate::model::{InstanceId, InstanceState};
use crate::output::{Action, EventKind};
use crate::rollout::core::{ActionKind, Core, Pending, Retire};

impl Core {
    /// Starts taking an instance out: the fleet marks it leaving, so capacity counts
    /// never include it again; its state stays what it is until it is drained.
    pub(crate) fn retire(&mut self, id: &InstanceId) {
        if self.retiring.contains_key(id) {
            return;
        }
        let stage = match self.fleet.get(id).map(|i| i.state) {
            Some(InstanceState::Provisioning) => Retire::AwaitProvisioned,
            Some(InstanceState::Starting | InstanceState::Ready) => Retire::AwaitExit,
            _ => return,
        };
        self.untrack_starting(id);
        self.fleet.set_leaving(id);
        self.retiring.insert(id.clone(), stage);
        self.dirty.insert(id.clone());
        self.advance_retire(id);
    }

    /// Drains a retiring instance once no table the load balancer may apply lists it.
    pub(crate) fn advance_retire(&mut self, id: &InstanceId) {
        if self.retiring.get(id) != Some(&Retire::AwaitExit) {
            return;
        }
        let in_rotation = self.fleet.get(id).is_some_and(|i| i.in_rotation);
        // A listed instance is removed by the next flush; only then can it exit.
        if !self.rotation.is_clear(id, in_rotation) {
            return;
        }
        let action = self.next_action_id();
        let timeout = self.spec.drain_timeout;
        let deadline = self.now + timeout;
        self.fleet.set_state(self.now, id, InstanceState::Draining);
        self.retiring
            .insert(id.clone(), Retire::Draining { action, deadline });
        self.drain_index.insert((deadline, id.clone()));
        self.pending.insert(
            action,
            Pending {
                kind: ActionKind::Drain,
                instance: id.clone(),
            },
        );
        self.actions.push_back(Action::Drain {
            id: action,
            instance: id.clone(),
            timeout,
        });
    }

    pub(crate) fn drained(&mut self, id: InstanceId) {
        if let Some(Retire::Draining { deadline, .. }) = self.retiring.get(&id) {
            self.drain_index.remove(&(*deadline, id.clone()));
        }
        self.finish_drain(id);
    }

    /// Terminates every instance whose drain deadline has passed.
    pub(crate) fn expire_drains(&mut self) {
        while let Some((deadline, _)) = self.drain_index.first() {
            if *deadline > self.now {
                break;
            }
            let Some((_, id)) = self.drain_index.pop_first() else {
                break;
            };
            if let Some(Retire::Draining { action, .. }) = self.retiring.get(&id) {
                self.pending.remove(action);
                self.emit(EventKind::DrainTimedOut {
                    instance: id.clone(),
                });
                self.finish_drain(id);
            }
        }
    }

    pub(crate) fn terminate(&mut self, id: InstanceId) {
        let action = self.next_action_id();
        self.retiring
            .insert(id.clone(), Retire::Terminating { action });
        self.pending.insert(
            action,
            Pending {
                kind: ActionKind::Terminate,
                instance: id.clone(),
            },
        );
        self.actions.push_back(Action::Terminate {
            id: action,
            instance: id,
        });
    }

    pub(crate) fn terminated(&mut self, id: InstanceId) {
        self.retiring.remove(&id);
        self.fleet
            .set_state(self.now, &id, InstanceState::Terminated);
        self.emit(EventKind::InstanceTerminated {
            instance: id.clone(),
        });
        self.dirty.insert(id.clone());
        self.reap(&id);
    }

    pub(crate) fn lost(&mut self, id: InstanceId, reason: String) {
        if let Some(Retire::Draining { deadline, .. }) = self.retiring.remove(&id) {
            self.drain_index.remove(&(deadline, id.clone()));
        }
        // Answers to actions on a lost instance are late by definition.
        self.pending.retain(|_, p| p.instance != id);
        self.recycle_to.remove(&id);
        self.instance_failed(id, format!("lost: {reason}"));
    }

    /// Forgets a terminated or failed instance once no table can still list it.
    pub(crate) fn reap(&mut self, id: &InstanceId) {
        let Some(instance) = self.fleet.get(id) else {
            return;
        };
        if instance.state.is_final() && self.rotation.is_clear(id, instance.in_rotation) {
            self.fleet.remove(id);
            self.dirty.remove(id);
        }
    }
}
