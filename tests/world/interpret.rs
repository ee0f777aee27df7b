//! The move interpreter: turns a [`Move`] into a call on the rollout, picking among what
//! is outstanding so that most ids are real.

use std::collections::BTreeMap;

use cutover::{ActionId, Duration, Input, InstanceId, Timestamp};

use super::harness::{Call, World};
use super::moves::{Command, Index, Move, REVISIONS};

/// Takes the action `index` picks out of `outstanding` (a genuine answer), or `unknown`
/// when nothing is outstanding (a bogus one); the flag says whether it is bogus.
fn take(
    outstanding: &mut BTreeMap<ActionId, InstanceId>,
    index: Index,
    unknown: ActionId,
) -> (ActionId, bool) {
    if outstanding.is_empty() {
        return (unknown, true);
    }
    let action = *outstanding
        .keys()
        .nth(index.index(outstanding.len()))
        .expect("the index is in range");
    outstanding.remove(&action);
    (action, false)
}

/// An instance nobody knows.
fn ghost() -> InstanceId {
    InstanceId::from("ghost")
}

impl World {
    fn send(&mut self, input: Input, bogus: bool) -> Call {
        // Only genuine answers are replayed: a made-up id may be issued later.
        if !bogus
            && matches!(
                input,
                Input::Provisioned { .. }
                    | Input::ProvisionFailed { .. }
                    | Input::Drained { .. }
                    | Input::Terminated { .. }
                    | Input::TrafficApplied { .. }
            )
        {
            self.answers.push(input.clone());
        }
        self.rollout.handle_input(self.now, input.clone());
        Call::Input {
            at: self.now,
            input,
            bogus,
        }
    }

    fn timeout(&mut self, at: Timestamp) -> Call {
        self.rollout.handle_timeout(at);
        Call::Timeout { at }
    }

    fn unknown_action(&self, k: u64) -> ActionId {
        ActionId(self.last_action + 1 + k)
    }

    /// The known instance `index` picks, or an unknown one when the fleet is empty; the
    /// flag says whether it is unknown.
    fn known_instance(&self, index: Index) -> (InstanceId, bool) {
        let ids: Vec<&InstanceId> = self.rollout.fleet().iter().map(|i| &i.id).collect();
        if ids.is_empty() {
            return (ghost(), true);
        }
        (ids[index.index(ids.len())].clone(), false)
    }

    pub(super) fn perform(&mut self, mv: &Move) -> Call {
        match mv {
            Move::ProvisionOk(i) | Move::ProvisionFail(i) => {
                let ok = matches!(mv, Move::ProvisionOk(_));
                let unknown = self.unknown_action(0);
                let (action, bogus) = take(&mut self.provisions, *i, unknown);
                let input = if ok {
                    Input::Provisioned { action }
                } else {
                    Input::ProvisionFailed {
                        action,
                        reason: "no capacity".into(),
                    }
                };
                self.send(input, bogus)
            }
            Move::Health(i, healthy) => {
                let (instance, bogus) = self.known_instance(*i);
                self.send(
                    Input::Health {
                        instance,
                        healthy: *healthy,
                    },
                    bogus,
                )
            }
            Move::Lose(i) => {
                let (instance, bogus) = self.known_instance(*i);
                let reason = "host died".into();
                self.send(Input::InstanceLost { instance, reason }, bogus)
            }
            Move::AckLatest => {
                let generation = self.published();
                let bogus = generation <= self.acked;
                self.acked = self.acked.max(generation);
                self.send(Input::TrafficApplied { generation }, bogus)
            }
            Move::AckSome(i) => {
                let unacked = self.published() - self.acked;
                let generation = if unacked == 0 {
                    self.acked
                } else {
                    self.acked + 1 + i.index(unacked as usize) as u64
                };
                let bogus = unacked == 0;
                self.acked = generation;
                self.send(Input::TrafficApplied { generation }, bogus)
            }
            Move::AckOlder(k) => {
                let generation = self.acked.saturating_sub(*k);
                self.send(Input::TrafficApplied { generation }, true)
            }
            Move::AckFuture(k) => {
                let generation = self.published() + 1 + k;
                self.send(Input::TrafficApplied { generation }, true)
            }
            Move::Hook(i, passed) => {
                let unknown = self.unknown_action(0);
                let (action, bogus) = if self.hooks.is_empty() {
                    (unknown, true)
                } else {
                    let action = *self
                        .hooks
                        .keys()
                        .nth(i.index(self.hooks.len()))
                        .expect("the index is in range");
                    self.hooks.remove(&action);
                    (action, false)
                };
                let reason = if *passed { "ok" } else { "smoke test failed" }.to_owned();
                self.send(
                    Input::HookResult {
                        action,
                        passed: *passed,
                        reason,
                    },
                    bogus,
                )
            }
            Move::Drained(i) => {
                let unknown = self.unknown_action(0);
                let (action, bogus) = take(&mut self.drains, *i, unknown);
                self.send(Input::Drained { action }, bogus)
            }
            Move::Terminated(i) => {
                let unknown = self.unknown_action(0);
                let (action, bogus) = take(&mut self.terminations, *i, unknown);
                self.send(Input::Terminated { action }, bogus)
            }
            Move::Advance(ms) => {
                self.now = self.now.saturating_add(Duration::from_millis(*ms));
                self.timeout(self.now)
            }
            Move::ToNextTimeout => {
                if let Some(at) = self.rollout.poll_timeout() {
                    self.now = self.now.max(at);
                }
                self.timeout(self.now)
            }
            Move::TimeoutInPast(ms) => {
                let at = Timestamp::from_millis(self.now.as_millis().saturating_sub(*ms));
                self.timeout(at)
            }
            Move::ClockBack(ms) => {
                self.now = Timestamp::from_millis(self.now.as_millis().saturating_sub(*ms));
                self.timeout(self.now)
            }
            Move::Replay(i) => {
                if self.answers.is_empty() {
                    return self.send(
                        Input::Terminated {
                            action: self.unknown_action(1),
                        },
                        true,
                    );
                }
                let input = self.answers[i.index(self.answers.len())].clone();
                self.send(input, true)
            }
            Move::Misdirect(i) => {
                let mut outstanding: Vec<Input> = Vec::new();
                outstanding.extend(
                    self.provisions
                        .keys()
                        .map(|&action| Input::Drained { action }),
                );
                outstanding.extend(
                    self.drains
                        .keys()
                        .map(|&action| Input::Terminated { action }),
                );
                outstanding.extend(
                    self.terminations
                        .keys()
                        .map(|&action| Input::Provisioned { action }),
                );
                let input = if outstanding.is_empty() {
                    Input::Drained {
                        action: self.unknown_action(2),
                    }
                } else {
                    outstanding[i.index(outstanding.len())].clone()
                };
                self.send(input, true)
            }
            Move::UnknownAction(kind, k) => {
                let action = self.unknown_action(*k);
                let input = match kind {
                    0 => Input::Provisioned { action },
                    1 => Input::ProvisionFailed {
                        action,
                        reason: "?".into(),
                    },
                    2 => Input::Drained { action },
                    _ => Input::Terminated { action },
                };
                self.send(input, true)
            }
            Move::UnknownInstance(lost) => {
                let input = if *lost {
                    Input::InstanceLost {
                        instance: ghost(),
                        reason: "?".into(),
                    }
                } else {
                    Input::Health {
                        instance: ghost(),
                        healthy: true,
                    }
                };
                self.send(input, true)
            }
            Move::AnswerAll => unreachable!("played by World::play"),
            Move::Answer(input) => {
                // Genuine when it answers something outstanding or names a known
                // instance; anything else is stale or unknown, and checked as such.
                let genuine = match input {
                    Input::Provisioned { action } | Input::ProvisionFailed { action, .. } => {
                        self.provisions.remove(action).is_some()
                    }
                    Input::Drained { action } => self.drains.remove(action).is_some(),
                    Input::Terminated { action } => self.terminations.remove(action).is_some(),
                    Input::Measured { action, .. } => self.measures.remove(action).is_some(),
                    Input::HookResult { action, .. } => self.hooks.remove(action).is_some(),
                    Input::TrafficApplied { generation } => {
                        let fresh = *generation > self.acked && *generation <= self.published();
                        if fresh {
                            self.acked = *generation;
                        }
                        fresh
                    }
                    Input::Health { instance, .. } | Input::InstanceLost { instance, .. } => self
                        .rollout
                        .fleet()
                        .get(instance)
                        .is_some_and(|i| i.state.is_live()),
                    _ => true,
                };
                self.send(input.clone(), !genuine)
            }
            Move::Command(command) => {
                let at = self.now;
                let rollout = &mut self.rollout;
                let result = match command {
                    Command::Deploy(i) => rollout.deploy(at, REVISIONS[*i]),
                    Command::Pause => rollout.pause(at),
                    Command::Resume => rollout.resume(at),
                    Command::Abort => rollout.abort(at),
                    Command::Retry => rollout.retry(at),
                    Command::PromoteFull => rollout.promote_full(at),
                    Command::Rollback => rollout.rollback(at),
                    Command::Promote => rollout.promote(at),
                    Command::Scale(desired) => rollout.scale(at, *desired),
                    Command::DeployRevision(revision) => rollout.deploy(at, revision.as_str()),
                    Command::UpdateSpec(spec) => rollout.update_spec(at, (**spec).clone()),
                };
                Call::Command { at, result }
            }
        }
    }
}
