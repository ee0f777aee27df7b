//! A snapshot for people and dashboards: [`Status`].

use std::collections::BTreeMap;

use crate::fleet::RevisionCounts;
use crate::model::{InstanceState, Revision};
use crate::rollout::core::{Core, Pending};
use crate::rollout::phase::Phase;
use crate::time::Timestamp;
use crate::traffic::Weight;

/// What a rollout is waiting for before it can go on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case", tag = "for"))]
#[non_exhaustive]
pub enum Waiting {
    /// Provision results for `count` instances.
    Provisioning {
        /// How many.
        count: usize,
    },
    /// `count` instances to pass a health check.
    Readiness {
        /// How many.
        count: usize,
    },
    /// Ready instances to stay ready for `min_ready`; the first is due at `until`.
    MinReady {
        /// When the next one becomes available.
        until: Timestamp,
    },
    /// The load balancer to acknowledge table `generation`.
    TrafficAck {
        /// The generation published.
        generation: u64,
    },
    /// `count` drains to finish.
    Drain {
        /// How many.
        count: usize,
    },
    /// `count` terminations to finish.
    Termination {
        /// How many.
        count: usize,
    },
    /// The provision backoff to end.
    Backoff {
        /// When it ends.
        until: Timestamp,
    },
    /// An operator: the rollout is paused or halted.
    Operator,
}

/// A snapshot of a rollout, cheap enough to take after every call.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Status {
    /// The phase.
    pub phase: Phase,
    /// The revision serving as the known-good one.
    pub stable: Option<Revision>,
    /// The revision being rolled out, if one is in flight.
    pub target: Option<Revision>,
    /// Whether the rollout in flight (or the last one) is a rollback.
    pub is_rollback: bool,
    /// The current step and the number of steps (a rolling update has one).
    pub step: Option<(u32, u32)>,
    /// How far along the rollout is, from 0.0 to 1.0: half for new instances available,
    /// half for old ones removed.
    pub progress: f64,
    /// Head counts for every revision with instances.
    pub revisions: BTreeMap<Revision, RevisionCounts>,
    /// The published traffic split, in layout order.
    pub traffic: Vec<(Revision, Weight)>,
    /// The generation of the published table.
    pub traffic_generation: u64,
    /// The generation the load balancer last acknowledged.
    pub acknowledged_generation: u64,
    /// What the rollout is waiting for, most pressing first.
    pub waiting_for: Vec<Waiting>,
    /// Whether the progress deadline has passed without progress.
    pub deadline_exceeded: bool,
    /// One line for people.
    pub message: String,
}

impl Core {
    pub fn status(&self) -> Status {
        let revisions: BTreeMap<Revision, RevisionCounts> = self
            .fleet
            .revisions()
            .map(|r| (r.clone(), self.fleet.counts(r)))
            .collect();
        let traffic: Vec<(Revision, Weight)> = self
            .rotation
            .published
            .backends()
            .iter()
            .map(|b| (b.revision().clone(), b.weight()))
            .collect();
        let progress = self.progress();
        Status {
            phase: self.phase.clone(),
            stable: self.stable.clone(),
            target: self.target.clone(),
            is_rollback: self.is_rollback,
            step: self.phase.is_in_flight().then_some((0, 1)),
            progress,
            message: self.message(progress),
            revisions,
            traffic,
            traffic_generation: self.rotation.published.generation(),
            acknowledged_generation: self.rotation.acknowledged,
            waiting_for: self.waiting_for(),
            deadline_exceeded: self.deadline_exceeded,
        }
    }

    fn progress(&self) -> f64 {
        let desired = f64::from(self.limits.desired);
        match (&self.phase, &self.target) {
            (Phase::Completed | Phase::Idle, _) => 1.0,
            (_, Some(target)) => {
                let counts = self.replica_counts(target);
                let new = f64::from(counts.new_available).min(desired);
                let old_left = f64::from(counts.old_replicas + counts.terminating).min(desired);
                (new + desired - old_left) / (2.0 * desired)
            }
            _ => 0.0,
        }
    }

    fn waiting_for(&self) -> Vec<Waiting> {
        let mut waiting = Vec::new();
        if matches!(self.phase, Phase::Paused | Phase::Halted { .. }) {
            waiting.push(Waiting::Operator);
        }
        if let Some(until) = self.backoff_until.filter(|u| *u > self.now) {
            waiting.push(Waiting::Backoff { until });
        }
        let (mut provisions, mut drains, mut terminations) = (0, 0, 0);
        for pending in self.pending.values() {
            match pending {
                Pending::Provision(_) => provisions += 1,
                Pending::Drain(_) => drains += 1,
                Pending::Terminate(_) => terminations += 1,
            }
        }
        if provisions > 0 {
            waiting.push(Waiting::Provisioning { count: provisions });
        }
        let starting = self.fleet.total().get(InstanceState::Starting);
        if starting > 0 {
            waiting.push(Waiting::Readiness { count: starting });
        }
        if let Some(until) = self.fleet.next_available_at() {
            waiting.push(Waiting::MinReady { until });
        }
        if self.rotation.awaiting_ack() {
            waiting.push(Waiting::TrafficAck {
                generation: self.rotation.published.generation(),
            });
        }
        if drains > 0 {
            waiting.push(Waiting::Drain { count: drains });
        }
        if terminations > 0 {
            waiting.push(Waiting::Termination {
                count: terminations,
            });
        }
        waiting
    }

    fn message(&self, progress: f64) -> String {
        let percent = (progress * 100.0).round();
        match (&self.phase, &self.target, &self.stable) {
            (Phase::Idle, _, Some(stable)) => format!("{stable} is stable; nothing to roll out"),
            (Phase::Idle, _, None) => "no revision deployed yet".to_owned(),
            (Phase::Completed, _, Some(stable)) => format!("{stable} rolled out and stable"),
            (Phase::Aborted { reason }, _, stable) => match stable {
                Some(stable) => format!("aborted ({reason}); back on {stable}"),
                None => format!("aborted ({reason}); nothing was stable"),
            },
            (phase, Some(target), stable) => {
                let over = stable
                    .as_ref()
                    .map(|s| format!(" over {s}"))
                    .unwrap_or_default();
                let counts = self.replica_counts(target);
                let verb = if self.is_rollback {
                    "rolling back to"
                } else {
                    "rolling out"
                };
                let mut line = format!(
                    "{verb} {target}{over} ({phase}): {percent}%, {}/{} new available, {} old left",
                    counts.new_available,
                    self.limits.desired,
                    counts.old_replicas + counts.terminating
                );
                if self.deadline_exceeded {
                    line.push_str("; progress deadline exceeded");
                }
                line
            }
            (phase, _, _) => phase.to_string(),
        }
    }
}
