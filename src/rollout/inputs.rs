//! What the caller observed: action results, health, acknowledgements, losses. Anything
//! unknown, late or duplicated is ignored and reported, never an error.

use crate::error::excerpt as bounded;
use crate::input::Input;
use crate::model::{InstanceId, InstanceState};
use crate::output::{ActionId, EventKind};
use crate::rollout::core::{ActionKind, Core, Retire};
use crate::rollout::phase::{HaltReason, Phase};
use crate::rollout::stage::Hold;

impl Core {
    /// Reports an input that changes nothing: unknown, late, duplicated or misdirected.
    pub(crate) fn ignore(&mut self, input: &Input, reason: &str) {
        // Inputs hold caller text (reasons), which must not grow the event log without
        // bound.
        self.emit(EventKind::InputIgnored {
            input: bounded(&format!("{input:?}")),
            reason: reason.to_owned(),
        });
    }

    pub(crate) fn handle_input(&mut self, input: Input) {
        match &input {
            Input::Provisioned { action } => match self.answer(*action, ActionKind::Provision) {
                Ok(id) => self.provisioned(id),
                Err(why) => self.ignore(&input, why),
            },
            Input::ProvisionFailed { action, reason } => {
                match self.answer(*action, ActionKind::Provision) {
                    Ok(id) => self.provision_failed(id, bounded(reason)),
                    Err(why) => self.ignore(&input, why),
                }
            }
            Input::Health { instance, healthy } => self.health(&input, instance, *healthy),
            Input::TrafficApplied { generation } => self.traffic_applied(&input, *generation),
            Input::Drained { action } => match self.answer(*action, ActionKind::Drain) {
                Ok(id) => self.drained(id),
                Err(why) => self.ignore(&input, why),
            },
            Input::Terminated { action } => match self.answer(*action, ActionKind::Terminate) {
                Ok(id) => self.terminated(id),
                Err(why) => self.ignore(&input, why),
            },
            Input::Measured {
                action,
                measurement,
            } => self.measured(&input, *action, measurement.clone()),
            Input::HookResult {
                action,
                passed,
                reason,
            } => self.hook_result(&input, *action, *passed, reason),
            Input::InstanceLost { instance, reason } => {
                match self.fleet.get(instance).map(|i| i.state) {
                    None | Some(InstanceState::Terminated | InstanceState::Failed) => {
                        self.ignore(&input, "unknown or already gone instance");
                    }
                    Some(_) => self.lost(instance.clone(), bounded(reason)),
                }
            }
        }
    }

    /// Takes the pending action an answer names, if it is of the `kind` answered, and
    /// returns its instance; otherwise says why the answer is ignored.
    fn answer(&mut self, action: ActionId, kind: ActionKind) -> Result<InstanceId, &'static str> {
        let pending = self.pending.get(&action).ok_or(
            "unknown or already answered action (late, duplicated, or a drain that timed out)",
        )?;
        if pending.kind != kind {
            return Err("the action it names is of another kind");
        }
        let id = pending.instance.clone();
        self.pending.remove(&action);
        Ok(id)
    }

    fn provisioned(&mut self, id: InstanceId) {
        if let Some(flight) = self.stage.flight_mut() {
            flight.provision_failures = 0;
        }
        if self.retiring.get(&id) == Some(&Retire::AwaitProvisioned) {
            // Unwanted before it existed, and never listed: nothing to drain.
            self.fleet.set_state(self.now, &id, InstanceState::Starting);
            self.terminate(id);
        } else {
            self.fleet.set_state(self.now, &id, InstanceState::Starting);
            self.track_starting(&id, true);
        }
    }

    fn provision_failed(&mut self, id: InstanceId, reason: String) {
        let wanted = self.instance_failed(id, format!("provision failed: {reason}"));
        if wanted {
            self.count_failure(reason);
        }
    }

    /// An instance that will never serve: forgotten once no table lists it, replaced
    /// by the plan. Returns whether it was still wanted.
    pub(crate) fn instance_failed(&mut self, id: InstanceId, reason: String) -> bool {
        let was_unwanted = matches!(
            self.retiring.remove(&id),
            Some(Retire::AwaitProvisioned | Retire::AwaitExit)
        );
        self.untrack_starting(&id);
        self.recycle_to.remove(&id);
        self.fleet.set_state(self.now, &id, InstanceState::Failed);
        self.dirty.insert(id.clone());
        self.emit(EventKind::InstanceFailed {
            instance: id.clone(),
            reason,
        });
        self.reap(&id);
        !was_unwanted
    }

    /// A wanted instance of the revision being provisioned failed: back off before the
    /// next attempt, and halt after too many in a row. Failures of unwanted instances
    /// (superseded or aborted) say nothing about the revision provisioned now, and
    /// never come here.
    fn count_failure(&mut self, reason: String) {
        let now = self.now;
        let retry = self.spec.provision_retry;
        let progressing = self.phase() == Phase::Progressing;
        let Some(flight) = self.stage.flight_mut() else {
            return;
        };
        flight.provision_failures = flight.provision_failures.saturating_add(1);
        let failures = flight.provision_failures;
        if failures >= retry.max_failures && progressing {
            flight.backoff_until = None;
            self.hold(Hold::Halted(HaltReason::ProvisionFailed {
                failures,
                last_error: reason,
            }));
        } else {
            let until = now + retry.backoff(failures);
            flight.backoff_until = Some(until);
            self.emit(EventKind::ProvisionBackoff { failures, until });
        }
    }

    fn health(&mut self, input: &Input, id: &InstanceId, healthy: bool) {
        let Some(state) = self.fleet.get(id).map(|i| i.state) else {
            return self.ignore(input, "unknown instance");
        };
        if self.retiring.contains_key(id) {
            // Level-triggered: on its way out, its health changes nothing.
            return;
        }
        match (state, healthy) {
            (InstanceState::Provisioning, _) => self.ignore(input, "instance not provisioned yet"),
            (InstanceState::Terminated | InstanceState::Failed, _) => {
                self.ignore(input, "instance already gone");
            }
            (InstanceState::Starting, true) => {
                self.untrack_starting(id);
                self.fleet.set_state(self.now, id, InstanceState::Ready);
                self.dirty.insert(id.clone());
                self.emit(EventKind::InstanceReady {
                    instance: id.clone(),
                });
                if self.fleet.get(id).is_some_and(|i| i.available) {
                    self.became_available(id.clone());
                }
            }
            (InstanceState::Starting, false) => self.failed_check(id),
            (InstanceState::Ready, false) => {
                self.fleet.set_state(self.now, id, InstanceState::Starting);
                self.track_starting(id, false);
                self.dirty.insert(id.clone());
                self.failed_check(id);
            }
            // Level-triggered: the same verdict again, or one about an instance on its
            // way out, changes nothing.
            _ => {}
        }
    }

    /// One more failed check: out of rotation until it passes again, and failed for
    /// good (then replaced) after the spec's number of failures in a row.
    fn failed_check(&mut self, id: &InstanceId) {
        let Some(record) = self.starting.get_mut(id) else {
            return;
        };
        record.failures = record.failures.saturating_add(1);
        let failures = record.failures;
        self.emit(EventKind::InstanceUnhealthy {
            instance: id.clone(),
            failures,
        });
        if failures >= self.spec.health.failure_threshold {
            self.fail_unhealthy(
                id.clone(),
                format!("failed {failures} health checks in a row"),
            );
        }
    }

    /// An instance that exists but will not become healthy: taken out like any other
    /// instance (it still exists), and counted against its revision's provisioning.
    pub(crate) fn fail_unhealthy(&mut self, id: InstanceId, reason: String) {
        self.untrack_starting(&id);
        let wanted = !self.retiring.contains_key(&id);
        self.emit(EventKind::InstanceFailed {
            instance: id.clone(),
            reason: reason.clone(),
        });
        self.retire(&id);
        if wanted {
            self.count_failure(reason);
        }
    }

    fn traffic_applied(&mut self, input: &Input, generation: u64) {
        let Some(acknowledged) = self.rotation.acknowledge(self.now, generation) else {
            return self.ignore(input, "generation already acknowledged or never published");
        };
        // In generation order, so an instance removed and re-added (or the reverse)
        // within the generations acknowledged ends where the last table put it.
        for (id, entered) in &acknowledged.changes {
            self.fleet.set_in_rotation(id, *entered);
        }
        self.ack_overdue = false;
        self.emit(EventKind::TrafficApplied { generation });
        for (id, entered) in acknowledged.changes {
            if !entered {
                self.advance_retire(&id);
                self.reap(&id);
            }
        }
    }
}
