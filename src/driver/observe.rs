//! Observing the world: requests in flight (asked again if they were refused) and the
//! health of instances, turned into inputs.

use super::{Driver, Step};
use crate::adapter::{Probe, World};
use crate::input::Input;
use crate::model::{InstanceId, InstanceState};
use crate::output::ActionId;
use crate::store::Store;
use crate::time::Timestamp;

impl<S: Store, W: World> Driver<S, W> {
    /// Observes every request in flight, asking again for the ones refused.
    pub(super) fn observe_requests(&mut self, now: Timestamp, step: &mut Step) {
        self.observe_traffic(now, step);
        self.observe_drains(now, step);
        self.observe_terminations(now, step);
        self.observe_hooks(now, step);
    }

    fn observe_traffic(&mut self, now: Timestamp, step: &mut Step) {
        let Some(asked) = &mut self.requests.traffic else {
            return;
        };
        let published = self.rollout.traffic().generation();
        // A newer table than the one refused is not saved yet (a call of this step
        // published it): it is asked for once saved, with the refused one's changes.
        if !asked.accepted && asked.what.to_generation == published {
            asked.accepted = self
                .world
                .apply(self.rollout.traffic(), &asked.what)
                .is_ok();
        }
        if let Ok(applied) = self.world.applied_generation()
            && applied > self.rollout.acknowledged_generation()
        {
            // A generation above the rollout's is another controller's: this one
            // acknowledges only what it published.
            let generation = applied.min(published);
            self.feed(now, Input::TrafficApplied { generation }, step);
        }
        if self.rollout.acknowledged_generation() >= published {
            self.requests.traffic = None;
        }
    }

    fn observe_drains(&mut self, now: Timestamp, step: &mut Step) {
        let mut drained: Vec<ActionId> = Vec::new();
        for (id, asked) in &mut self.requests.drains {
            let drain = &asked.what;
            if !asked.accepted {
                asked.accepted = self.world.drain(&drain.instance, drain.timeout).is_ok();
            }
            if asked.accepted && matches!(self.world.is_drained(&drain.instance), Ok(true)) {
                drained.push(*id);
            }
        }
        for action in drained {
            self.requests.drains.remove(&action);
            self.feed(now, Input::Drained { action }, step);
        }
    }

    fn observe_terminations(&mut self, now: Timestamp, step: &mut Step) {
        let mut gone: Vec<ActionId> = Vec::new();
        for (id, asked) in &mut self.requests.terminations {
            if !asked.accepted {
                asked.accepted = self.world.terminate(&asked.what).is_ok();
            }
            if asked.accepted && matches!(self.world.probe(&asked.what), Ok(Probe::Gone)) {
                gone.push(*id);
            }
        }
        for action in gone {
            self.requests.terminations.remove(&action);
            self.feed(now, Input::Terminated { action }, step);
        }
    }

    fn observe_hooks(&mut self, now: Timestamp, step: &mut Step) {
        if self.requests.hooks.is_empty() {
            return;
        }
        let mut finished = Vec::new();
        for id in self.requests.hooks.keys() {
            if let Ok(Some(outcome)) = self.world.hook_result(*id) {
                finished.push((*id, outcome));
            }
        }
        for (action, outcome) in finished {
            self.requests.hooks.remove(&action);
            let input = Input::HookResult {
                action,
                passed: outcome.passed,
                reason: outcome.reason,
            };
            self.feed(now, input, step);
        }
        // A hook past its timeout has failed: the rollout no longer waits for it, and
        // neither does the driver.
        if !self.requests.hooks.is_empty() {
            let waiting = self
                .rollout
                .status()
                .checks
                .map(|checks| checks.hooks_waiting)
                .unwrap_or_default();
            self.requests.hooks.retain(|_, hook| waiting.contains(hook));
        }
    }

    /// Probes every starting and ready instance.
    pub(super) fn probe_health(&mut self, now: Timestamp, step: &mut Step) {
        let watched: Vec<InstanceId> = self
            .rollout
            .fleet()
            .iter()
            .filter(|i| matches!(i.state, InstanceState::Starting | InstanceState::Ready))
            .map(|i| i.id.clone())
            .collect();
        for instance in watched {
            let input = match self.world.probe(&instance) {
                Ok(Probe::Healthy) => Input::Health {
                    instance,
                    healthy: true,
                },
                Ok(Probe::Unhealthy) => Input::Health {
                    instance,
                    healthy: false,
                },
                Ok(Probe::Gone) => Input::InstanceLost {
                    instance,
                    reason: "the health probe finds no such instance".to_owned(),
                },
                Ok(Probe::Starting) | Err(_) => continue,
            };
            self.feed(now, input, step);
        }
    }
}
