//! A snapshot for people and dashboards: [`Status`].

use std::collections::BTreeMap;

use crate::fleet::RevisionCounts;
use crate::model::{InstanceState, Revision};
use crate::output::HeldBack;
use crate::rollout::core::{ActionKind, Core};
use crate::rollout::phase::{PauseReason, Phase};
use crate::rollout::steps::ChecksVerdict;
use crate::strategy::{Plan, Role, StepKind, StepView, StepWait};
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
    /// The load balancer to acknowledge table `generation`, published at `since`;
    /// `overdue` once that took longer than the spec's `traffic_ack_timeout`.
    TrafficAck {
        /// The generation published.
        generation: u64,
        /// Since when it has waited.
        since: Timestamp,
        /// Whether it is later than the spec allows.
        overdue: bool,
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
    /// An operator's `promote` (a step's pause, or an inconclusive analysis).
    Promotion,
    /// A time: a timed pause or delay ends at `at`.
    Until {
        /// When.
        at: Timestamp,
    },
    /// An analysis verdict.
    Analysis,
    /// A hook's result.
    Hook,
    /// The current step's checks (hooks and an analysis) to pass.
    Checks,
    /// Capacity: the safety envelope holds back part of the plan until instances
    /// become available or leave.
    Capacity {
        /// What is held back.
        held: HeldBack,
    },
}

/// Where the background analysis stands.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct AnalysisStatus {
    /// Its verdict so far (`Running` while measuring).
    pub phase: crate::analysis::RunPhase,
    /// Why, in a sentence.
    pub reason: String,
    /// Measurements asked for and not yet answered.
    pub measuring: usize,
    /// When the next measurement will be asked for.
    pub next_at: Option<Timestamp>,
}

impl AnalysisStatus {
    fn of(hosted: &crate::rollout::analysis::HostedAnalysis) -> AnalysisStatus {
        AnalysisStatus {
            phase: hosted.run.phase(),
            reason: hosted.run.reason(),
            measuring: hosted.measuring.len(),
            next_at: hosted.next_request_at(),
        }
    }
}

/// A step's checks, as far as they have got.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct ChecksStatus {
    /// The step they belong to.
    pub step: StepKind,
    /// Hooks asked for and not answered yet, by name.
    pub hooks_waiting: Vec<String>,
    /// The analysis they run, if any.
    pub analysis: Option<AnalysisStatus>,
    /// `Some(true)` once passed, `Some(false)` once failed or inconclusive.
    pub passed: Option<bool>,
}

/// The previous environment kept warm for an instant rollback (blue-green's blue).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct StandbyStatus {
    /// Its revision.
    pub revision: Revision,
    /// When it is scaled down; `None`: kept until a deploy replaces it.
    pub warm_until: Option<Timestamp>,
}

/// How an abort or rollback is getting traffic back to the stable revision.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct RevertStatus {
    /// Whether the stable revision could carry all traffic at once (one table update),
    /// or the way back is a reverse rolling update.
    pub one_update: bool,
    /// The stable revision's share of the published table.
    pub stable_weight: Weight,
    /// Available stable instances, of `desired`.
    pub stable_available: u32,
    /// Instances of other revisions still there (serving or on their way out).
    pub others_left: u32,
    /// Whether everything is back: only the stable revision, at `desired`, in an
    /// acknowledged table.
    pub done: bool,
}

/// A snapshot of a rollout, cheap enough to take after every call.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Status {
    /// The strategy the rollout follows.
    pub strategy: crate::spec::StrategyKind,
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
    /// What the current step does, and since when (while a rollout is in flight).
    pub step_kind: Option<(StepKind, Timestamp)>,
    /// The current step's checks, once started.
    pub checks: Option<ChecksStatus>,
    /// The previous environment kept warm, if any.
    pub standby: Option<StandbyStatus>,
    /// How far along the rollout is, from 0.0 to 1.0: half for new instances available,
    /// half for old ones removed.
    pub progress: f64,
    /// Head counts for every revision with instances.
    pub revisions: BTreeMap<Revision, RevisionCounts>,
    /// The published traffic split, in layout order.
    pub traffic: Vec<(Revision, Weight)>,
    /// The split the plan asks for now, per revision (Argo's "set weight", against
    /// `traffic`'s "actual weight"): the core moves the table there as fast as capacity
    /// carries it.
    pub planned_traffic: Vec<(Revision, Weight)>,
    /// Revisions carrying more traffic than their instances carry at the floor's rate:
    /// faults took instances they need, and they run hot rather than hand users to a
    /// revision the plan does not send them to.
    pub shortfall: Vec<crate::output::Shortfall>,
    /// Users stranded by faults, if they are (see [`Emergency`](crate::status::Emergency)).
    pub emergency: Option<crate::output::Emergency>,
    /// Whether the load balancer applies the published split (weights, routes and
    /// mirror; instances still joining or leaving aside). Until it does, the split
    /// users see lies between the previous one and `traffic`.
    pub split_applied: bool,
    /// The generation of the published table.
    pub traffic_generation: u64,
    /// The generation the load balancer last acknowledged.
    pub acknowledged_generation: u64,
    /// What the rollout is waiting for, most pressing first.
    pub waiting_for: Vec<Waiting>,
    /// Whether the progress deadline has passed without progress.
    pub deadline_exceeded: bool,
    /// After an abort or rollback: how far traffic is back on the stable revision.
    pub revert: Option<RevertStatus>,
    /// The background analysis of the rollout in flight, or of the one given up (as it
    /// ended); none once a rollout completes.
    pub analysis: Option<AnalysisStatus>,
    /// One line for people.
    pub message: String,
}

impl Core {
    /// Whether the rollout in flight passed its progress deadline without progress.
    fn deadline_exceeded(&self) -> bool {
        self.stage
            .flight()
            .is_some_and(|flight| flight.deadline_exceeded)
    }

    pub(crate) fn status(&self) -> Status {
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
        let plan = self.plan();
        let progress = self.progress();
        let revert = self.revert_status();
        Status {
            strategy: self.spec.strategy.kind(),
            phase: self.phase(),
            stable: self.stable.clone(),
            target: self.target().cloned(),
            is_rollback: self.stage.is_rollback(),
            step: self
                .target()
                .is_some()
                .then_some((plan.step.index, plan.step.count)),
            step_kind: self
                .target()
                .is_some()
                .then_some((plan.step.kind, self.cursor().started_at)),
            checks: self.checks_status(),
            standby: self.standby.clone().map(|revision| StandbyStatus {
                revision,
                warm_until: self.standby_until,
            }),
            progress,
            message: self.message(progress, revert.as_ref(), &plan),
            revisions,
            traffic,
            planned_traffic: self.planned_traffic(&plan),
            shortfall: self.shortfall(),
            emergency: self.emergency(&plan),
            split_applied: self.rotation.split_acknowledged(),
            traffic_generation: self.rotation.published.generation(),
            acknowledged_generation: self.rotation.acknowledged,
            waiting_for: self.waiting_for(&plan),
            deadline_exceeded: self.deadline_exceeded(),
            revert,
            analysis: self.stage.analysis().map(AnalysisStatus::of),
        }
    }

    fn checks_status(&self) -> Option<ChecksStatus> {
        let checks = self.cursor().checks.as_ref()?;
        Some(ChecksStatus {
            step: checks.step,
            hooks_waiting: checks.hooks.values().map(|h| h.name.clone()).collect(),
            analysis: checks.analysis.as_ref().map(AnalysisStatus::of),
            passed: checks.verdict.map(|v| v == ChecksVerdict::Passed),
        })
    }

    fn progress(&self) -> f64 {
        let desired = f64::from(self.limits.desired());
        let view = self.fleet_view();
        let toward = match (&self.phase(), self.target()) {
            (Phase::Completed | Phase::Idle, _) => return 1.0,
            (Phase::Aborted { .. }, _) => Role::Stable,
            (_, Some(_)) => Role::Target,
            _ => return 0.0,
        };
        let new = f64::from(view.roles[toward].available).min(desired);
        let old_left = f64::from(view.replicas_except(toward) + view.leaving).min(desired);
        (new + desired - old_left) / (2.0 * desired)
    }

    /// Whether an abort or rollback is all the way back: no instance of any other role,
    /// the stable revision at `desired` and available, and the table acknowledged.
    fn revert_done(&self) -> bool {
        if !matches!(self.phase(), Phase::Aborted { .. }) {
            return false;
        }
        let view = self.fleet_view();
        let stable = view.roles[Role::Stable];
        view.replicas_except(Role::Stable) == 0
            && view.leaving == 0
            && (self.stable.is_none()
                || (stable.replicas == self.limits.desired()
                    && stable.available == stable.replicas))
            && !self.rotation.awaiting_ack()
    }

    fn revert_status(&self) -> Option<RevertStatus> {
        if !matches!(self.phase(), Phase::Aborted { .. }) {
            return None;
        }
        let view = self.fleet_view();
        let stable_weight = self
            .stable
            .as_ref()
            .map_or(Weight::ZERO, |s| self.rotation.published.weight(s));
        Some(RevertStatus {
            one_update: self
                .stage
                .aborted()
                .is_some_and(|aborted| aborted.one_update),
            stable_weight,
            stable_available: view.roles[Role::Stable].available,
            others_left: view.replicas_except(Role::Stable) + view.leaving,
            done: self.revert_done(),
        })
    }

    fn waiting_for(&self, plan: &Plan) -> Vec<Waiting> {
        let mut waiting = Vec::new();
        match &self.phase() {
            Phase::Paused {
                reason: PauseReason::Operator,
            }
            | Phase::Halted { .. } => waiting.push(Waiting::Operator),
            Phase::Paused {
                reason: PauseReason::Step { until: Some(at) },
            } => waiting.push(Waiting::Until { at: *at }),
            Phase::Paused { .. } => waiting.push(Waiting::Promotion),
            _ => {}
        }
        if self
            .stage
            .analysis()
            .is_some_and(|a| !a.measuring.is_empty())
        {
            waiting.push(Waiting::Analysis);
        }
        if self.phase() == Phase::Progressing {
            match plan.step.waiting {
                Some(StepWait::Promotion) => waiting.push(Waiting::Promotion),
                Some(StepWait::Until { at }) => waiting.push(Waiting::Until { at }),
                Some(StepWait::Analysis) => waiting.push(Waiting::Analysis),
                Some(StepWait::Hook) => waiting.push(Waiting::Hook),
                Some(StepWait::Checks) => waiting.push(Waiting::Checks),
                Some(StepWait::Capacity | StepWait::Traffic) | None => {}
            }
        }
        if let Some(held) = self.held {
            waiting.push(Waiting::Capacity { held });
        }
        if let Some(until) = self
            .stage
            .flight()
            .and_then(|flight| flight.backoff_until)
            .filter(|u| *u > self.now)
        {
            waiting.push(Waiting::Backoff { until });
        }
        let (mut provisions, mut drains, mut terminations) = (0, 0, 0);
        for pending in self.pending.values() {
            match pending.kind {
                ActionKind::Provision => provisions += 1,
                ActionKind::Drain => drains += 1,
                ActionKind::Terminate => terminations += 1,
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
        if let Some(since) = self.rotation.unacknowledged_since() {
            waiting.push(Waiting::TrafficAck {
                generation: self.rotation.published.generation(),
                since,
                overdue: self.ack_overdue,
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

    /// One line, derived from state, true when read.
    fn message(&self, progress: f64, revert: Option<&RevertStatus>, plan: &Plan) -> String {
        let percent = (progress * 100.0).round();
        let view = self.fleet_view();
        let desired = self.limits.desired();
        match (&self.phase(), self.target(), &self.stable) {
            (Phase::Idle, _, Some(stable)) => {
                let serving = self.rotation.published.weight(stable) == Weight::FULL
                    && !self.rotation.awaiting_ack();
                let available = view.roles[Role::Stable].available;
                if serving && available == desired {
                    format!("{stable} is stable and serving on {available} instances")
                } else {
                    format!(
                        "{stable} is stable; {available}/{desired} instances available, table {}",
                        if serving {
                            "acknowledged"
                        } else {
                            "not yet acknowledged"
                        }
                    )
                }
            }
            (Phase::Idle, _, None) => "no revision deployed yet".to_owned(),
            (Phase::Completed, _, Some(stable)) => match (&self.standby, self.standby_until) {
                (Some(standby), Some(until)) => {
                    format!(
                        "{stable} rolled out and stable; {standby} warm for rollback until {until}"
                    )
                }
                (Some(standby), None) => {
                    format!("{stable} rolled out and stable; {standby} kept warm as the standby")
                }
                _ => format!("{stable} rolled out and stable"),
            },
            (Phase::Aborted { reason }, _, stable) => match (stable, revert) {
                (Some(stable), Some(revert)) if revert.done => {
                    format!("aborted ({reason}); back on {stable}")
                }
                (Some(stable), Some(revert)) => format!(
                    "aborted ({reason}); moving back to {stable}: {}% of traffic on it, {}/{desired} available, {} other instance(s) left",
                    revert.stable_weight.basis_points() / 100,
                    revert.stable_available,
                    revert.others_left
                ),
                (None, _) => format!("aborted ({reason}); nothing was stable"),
                (Some(stable), None) => format!("aborted ({reason}); moving back to {stable}"),
            },
            (phase, Some(target), Some(stable))
                if stable != target
                    && let Some(line) = self.step_message(phase, target, stable, plan) =>
            {
                line
            }
            (phase, Some(target), stable) => {
                let over = stable
                    .as_ref()
                    .filter(|s| *s != target)
                    .map(|s| format!(" over {s}"))
                    .unwrap_or_default();
                let verb = if self.stage.is_rollback() {
                    "rolling back to"
                } else {
                    "rolling out"
                };
                let mut line = format!(
                    "{verb} {target}{over} ({phase}): {percent}%, {}/{desired} new available, {} old left",
                    view.roles[Role::Target].available,
                    view.replicas_except(Role::Target) + view.leaving
                );
                if self.deadline_exceeded() {
                    line.push_str("; progress deadline exceeded");
                }
                line
            }
            (phase, _, _) => phase.to_string(),
        }
    }

    /// Where a rollout with steps of its own (blue-green, canary) is, in its
    /// strategy's words; `None` for a rolling update.
    fn step_message(
        &self,
        phase: &Phase,
        target: &Revision,
        stable: &Revision,
        plan: &Plan,
    ) -> Option<String> {
        let checks_waiting = self.checks_status().map_or_else(String::new, |c| {
            let mut parts = Vec::new();
            if !c.hooks_waiting.is_empty() {
                parts.push(format!("hooks {}", c.hooks_waiting.join(", ")));
            }
            if c.analysis.as_ref().is_some_and(|a| !a.phase.is_complete()) {
                parts.push("analysis".to_owned());
            }
            if parts.is_empty() {
                String::new()
            } else {
                format!(": waiting for {}", parts.join(" and "))
            }
        });
        let view = StepView {
            target,
            stable,
            plan,
            fleet: self.fleet_view(),
            desired: self.limits.desired(),
            started_at: self.cursor().started_at,
            checks_waiting,
            target_weight: self.rotation.published.weight(target),
            routes_live: !self.rotation.published.routes().is_empty(),
        };
        let step = self.spec.strategy.planner().describe_step(&view)?;
        Some(format!("{step} ({phase})"))
    }
}
