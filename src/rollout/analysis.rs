//! The background analysis the core hosts: started by its start condition, measured on
//! its schedule through `Measure` actions, and its verdict acted on once, as the spec's
//! policies say. The statistics and the run's rules live in `crate::analysis`.

use std::collections::BTreeMap;

use crate::analysis::{AnalysisRun, Measurement, MetricRun, OnFailure, OnInconclusive, RunPhase};
use crate::input::Input;
use crate::model::InstanceGroup;
use crate::output::{Action, ActionId, EventKind};
use crate::rollout::core::Core;
use crate::rollout::phase::{AbortReason, PauseReason};
use crate::rollout::stage::Hold;
use crate::strategy::Role;
use crate::time::Timestamp;

/// Where a hosted analysis lives: beside the rollout, or in the current step's checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Background,
    Checks,
}

/// A run in progress (or finished) beside the rollout.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub(crate) struct HostedAnalysis {
    pub run: AnalysisRun,
    pub started_at: Timestamp,
    /// Measurements asked for and not answered, by action.
    pub measuring: BTreeMap<ActionId, String>,
    /// When each metric was last asked for (the next window starts there).
    pub last_asked: BTreeMap<String, Timestamp>,
    /// Whether its verdict has been acted on (it is acted on once).
    pub acted: bool,
}

impl HostedAnalysis {
    fn is_measuring(&self, metric: &str) -> bool {
        self.measuring.values().any(|m| m == metric)
    }

    /// When `metric` should next be asked for. Each measurement covers the window since
    /// the previous one, so the first waits for a window to exist: one interval after
    /// the start (or the initial delay, if longer).
    fn due_at(&self, metric: &MetricRun) -> Option<Timestamp> {
        let due = metric.next_due()?;
        if self.last_asked.contains_key(metric.name()) {
            return Some(due);
        }
        let window = metric
            .spec()
            .interval
            .unwrap_or(crate::time::Duration::ZERO);
        Some(due.max(self.started_at.saturating_add(window)))
    }

    /// The metrics due at `now` that are not already being measured, in spec order.
    fn due(&self, now: Timestamp) -> Vec<String> {
        self.run
            .metrics()
            .iter()
            .filter(|m| !self.is_measuring(m.name()))
            .filter(|m| self.due_at(m).is_some_and(|at| at <= now))
            .map(|m| m.name().to_owned())
            .collect()
    }

    /// When the next measurement should be asked for: the earliest due metric that is
    /// not already being measured.
    pub(crate) fn next_request_at(&self) -> Option<Timestamp> {
        if self.acted {
            return None;
        }
        self.run
            .metrics()
            .iter()
            .filter(|m| !self.is_measuring(m.name()))
            .filter_map(|m| self.due_at(m))
            .min()
    }
}

impl Core {
    /// Starts the spec's background analysis once its start condition holds.
    pub(crate) fn start_analysis_if_due(&mut self) {
        let Some(spec) = &self.spec.background_analysis else {
            return;
        };
        // It starts while the rollout acts (a step's pause included, as Argo starts a
        // background analysis at its starting step whatever that step is), once there
        // is a target instance to measure.
        if self.target().is_none() || !self.mode().1 || self.stage.analysis().is_some() {
            return;
        }
        let target = self.fleet_view().roles[Role::Target].available;
        let due = target > 0
            && match spec.start {
                crate::analysis::AnalysisStart::AfterReplaced(n) => target >= n,
                crate::analysis::AnalysisStart::AtStep(n) => self.cursor().index >= n,
                _ => true,
            };
        if !due {
            return;
        }
        let metrics: Vec<String> = spec.metrics.iter().map(|m| m.name.clone()).collect();
        // The spec validated when it was accepted, so the run starts.
        let Ok(run) = AnalysisRun::new(self.now, spec.metrics.clone()) else {
            return;
        };
        let now = self.now;
        if let Some(flight) = self.stage.flight_mut() {
            flight.analysis = Some(HostedAnalysis {
                run,
                started_at: now,
                measuring: BTreeMap::new(),
                last_asked: BTreeMap::new(),
                acted: false,
            });
        }
        self.emit(EventKind::AnalysisStarted { metrics });
    }

    /// The hosted analysis in `slot`, if one is there.
    fn hosted(&mut self, slot: Slot) -> Option<&mut HostedAnalysis> {
        match slot {
            Slot::Background => self.stage.analysis_mut(),
            Slot::Checks => self.stage.step_mut()?.checks.as_mut()?.analysis.as_mut(),
        }
    }

    /// When the next measurement of any hosted analysis is due: only while there is a
    /// target to measure, the one condition under which [`Core::request_measurements`]
    /// asks (so that a timer never fires for a request that is not made).
    pub(crate) fn next_measurement_at(&self) -> Option<Timestamp> {
        self.target()?;
        let background = self.stage.analysis().and_then(|a| a.next_request_at());
        let checks = self
            .cursor()
            .checks
            .as_ref()
            .and_then(|c| c.analysis.as_ref())
            .and_then(|a| a.next_request_at());
        background.into_iter().chain(checks).min()
    }

    /// Asks for every measurement due now, of the background analysis and of the
    /// current step's checks.
    pub(crate) fn request_measurements(&mut self) {
        for slot in [Slot::Background, Slot::Checks] {
            self.request_due(slot);
        }
    }

    fn request_due(&mut self, slot: Slot) {
        let now = self.now;
        let Some(target) = self.target().cloned() else {
            return;
        };
        let baseline_group = match slot {
            Slot::Background => InstanceGroup::Main,
            Slot::Checks => self
                .spec
                .strategy
                .planner()
                .checks_baseline(self.cursor().index),
        };
        let Some(hosted) = self.hosted(slot) else {
            return;
        };
        if hosted.acted {
            return;
        }
        let due = hosted.due(now);
        for metric in due {
            let id = self.next_action_id();
            let Some(hosted) = self.hosted(slot) else {
                return;
            };
            let from = hosted
                .last_asked
                .insert(metric.clone(), now)
                .unwrap_or(hosted.started_at);
            hosted.measuring.insert(id, metric.clone());
            self.actions.push_back(Action::Measure {
                id,
                metric,
                revision: target.clone(),
                baseline: self.stable.clone(),
                baseline_group,
                from,
                to: now,
            });
        }
    }

    /// Takes a measurement's answer; late, unknown or duplicate answers are reported.
    pub(crate) fn measured(&mut self, input: &Input, action: ActionId, measurement: Measurement) {
        let now = self.now;
        for slot in [Slot::Background, Slot::Checks] {
            let Some(hosted) = self.hosted(slot) else {
                continue;
            };
            let Some(metric) = hosted.measuring.remove(&action) else {
                continue;
            };
            let was_complete = hosted.run.phase().is_complete();
            if hosted.run.record(now, &metric, measurement).is_none() {
                break;
            }
            match slot {
                Slot::Background => self.act_on_verdict(),
                Slot::Checks => {
                    // A step's analysis says how it ended whichever way it went, so a
                    // passed analysis is as visible as a failed one.
                    let (phase, reason) = (hosted.run.phase(), hosted.run.reason());
                    if phase.is_complete() && !was_complete {
                        self.emit(EventKind::AnalysisCompleted { phase, reason });
                    }
                    self.evaluate_checks();
                }
            }
            return;
        }
        self.ignore(
            input,
            "unknown or already answered measurement, or its metric is decided",
        );
    }

    /// Once the run has its verdict, does what the spec says, once.
    fn act_on_verdict(&mut self) {
        let Some(spec) = self.spec.background_analysis.clone() else {
            return;
        };
        let Some(hosted) = self.stage.analysis_mut() else {
            return;
        };
        let phase = hosted.run.phase();
        if hosted.acted || !phase.is_complete() {
            return;
        }
        hosted.acted = true;
        hosted.measuring.clear();
        let reason = hosted.run.reason();
        self.emit(EventKind::AnalysisCompleted { phase, reason });
        if self.target().is_none() {
            return;
        }
        let fails = match phase {
            RunPhase::Failed | RunPhase::Error => true,
            RunPhase::Inconclusive => spec.on_inconclusive == OnInconclusive::Fail,
            _ => false,
        };
        if fails {
            match spec.on_failure {
                OnFailure::Abort => self.abort(AbortReason::Analysis),
                OnFailure::StepBack => self.step_back_and_pause(),
                _ => self.hold(Hold::Paused(PauseReason::AnalysisFailed)),
            }
        } else if phase == RunPhase::Inconclusive {
            self.hold(Hold::Paused(PauseReason::AnalysisInconclusive));
        }
    }

    /// The rollout the run watched is over (completed, aborted, or replaced by a new
    /// deploy): it stops measuring; answers still out are late from now on.
    pub(crate) fn end_analysis(&mut self) {
        if let Some(hosted) = self.stage.analysis_mut() {
            hosted.run.terminate();
            hosted.measuring.clear();
            hosted.acted = true;
        }
    }
}
