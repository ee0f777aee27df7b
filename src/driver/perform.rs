//! Performing an action: the adapter call it maps to, and what its result becomes (an
//! answer for the next step, or a request to observe).

use super::Driver;
use super::document::{Asked, Drain};
use crate::adapter::{HookRun, MeasureQuery, World};
use crate::analysis::Measurement;
use crate::input::Input;
use crate::output::Action;
use crate::store::Store;
use crate::time::Timestamp;
use crate::traffic::TableDiff;

impl<S: Store, W: World> Driver<S, W> {
    /// Performs `action` (the front of the queue was just taken off it).
    pub(super) fn perform_action(&mut self, now: Timestamp, action: &Action) {
        match action {
            Action::Provision {
                id,
                instance,
                revision,
                group,
            } => {
                let result = self.world.provision(instance, revision, *group);
                self.answers.push(provisioned(*id, result));
            }
            Action::Redeploy {
                id,
                instance,
                from,
                revision,
            } => {
                let result = self.world.redeploy(instance, from, revision);
                self.answers.push(provisioned(*id, result));
            }
            Action::UpdateTraffic { diff, .. } => self.update_traffic(now, diff),
            Action::Drain {
                id,
                instance,
                timeout,
            } => {
                let accepted = self.world.drain(instance, *timeout).is_ok();
                let drain = Drain {
                    instance: instance.clone(),
                    timeout: *timeout,
                };
                self.requests.drains.insert(
                    *id,
                    Asked {
                        what: drain,
                        accepted,
                    },
                );
                self.poll_at = now;
            }
            Action::Terminate { id, instance } => {
                // A drain that timed out is over: the rollout has stopped waiting for it.
                self.requests
                    .drains
                    .retain(|_, asked| asked.what.instance != *instance);
                let accepted = self.world.terminate(instance).is_ok();
                self.requests.terminations.insert(
                    *id,
                    Asked {
                        what: instance.clone(),
                        accepted,
                    },
                );
                self.poll_at = now;
            }
            Action::Measure {
                id,
                metric,
                revision,
                baseline,
                baseline_group,
                from,
                to,
            } => {
                let query = MeasureQuery {
                    id: *id,
                    metric,
                    revision,
                    baseline: baseline.as_ref(),
                    baseline_group: *baseline_group,
                    from: *from,
                    to: *to,
                };
                let measurement = self
                    .world
                    .measure(&query)
                    .unwrap_or_else(|error| Measurement::Error(error.to_string()));
                self.answers.push(Input::Measured {
                    action: *id,
                    measurement,
                });
            }
            Action::RunHook {
                id,
                hook,
                step,
                revision,
                baseline,
            } => {
                let run = HookRun {
                    id: *id,
                    hook,
                    step: *step,
                    revision,
                    baseline: baseline.as_ref(),
                };
                match self.world.run_hook(&run) {
                    Ok(()) => {
                        self.requests.hooks.insert(*id, hook.clone());
                        self.poll_at = now;
                    }
                    Err(error) => self.answers.push(Input::HookResult {
                        action: *id,
                        passed: false,
                        reason: format!("the hook could not be started: {error}"),
                    }),
                }
            }
        }
    }

    /// Asks the load balancer for the rollout's table, unless a later update in the
    /// queue supersedes it: then its changes go with that one.
    fn update_traffic(&mut self, now: Timestamp, diff: &TableDiff) {
        let pending = self.requests.traffic.take().filter(|asked| !asked.accepted);
        // Changes not yet accepted by the load balancer go first, so that the diff
        // goes from a table it was asked for before.
        let diff = match pending {
            Some(asked) if asked.what.to_generation == diff.from_generation => TableDiff {
                from_generation: asked.what.from_generation,
                to_generation: diff.to_generation,
                changes: asked
                    .what
                    .changes
                    .into_iter()
                    .chain(diff.changes.iter().cloned())
                    .collect(),
            },
            _ => diff.clone(),
        };
        let superseded = self
            .perform
            .iter()
            .any(|a| matches!(a, Action::UpdateTraffic { .. }));
        let accepted = !superseded && self.world.apply(self.rollout.traffic(), &diff).is_ok();
        self.requests.traffic = Some(Asked {
            what: diff,
            accepted,
        });
        self.poll_at = now;
    }
}

fn provisioned<E: std::error::Error>(
    action: crate::output::ActionId,
    result: Result<(), E>,
) -> Input {
    match result {
        Ok(()) => Input::Provisioned { action },
        Err(error) => Input::ProvisionFailed {
            action,
            reason: error.to_string(),
        },
    }
}
