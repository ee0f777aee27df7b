//! The step machine, generic over strategies: the planner says when its current step is
//! done and what it waits for; the core advances the step, pauses while a step waits
//! for a time or a promotion, and hosts the step's checks (hooks the caller runs and an
//! analysis run to its verdict). A failed check aborts inside the envelope; an
//! inconclusive analysis pauses for a person.

use std::collections::BTreeMap;

use crate::analysis::{AnalysisRun, OnFailure, RunPhase};
use crate::input::Input;
use crate::output::{Action, ActionId, EventKind};
use crate::rollout::analysis::HostedAnalysis;
use crate::rollout::core::Core;
use crate::rollout::phase::{AbortReason, PauseReason, Phase};
use crate::rollout::stage::Hold;
use crate::strategy::{FleetView, Plan, StepKind, StepState, StepWait};
use crate::time::Timestamp;

/// Where the step machine stands (persisted).
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub(crate) struct StepCursor {
    pub index: u32,
    pub started_at: Timestamp,
    /// An operator promoted the current step.
    pub promoted: bool,
    /// An operator asked to skip every remaining wait and check.
    pub full: bool,
    /// The current step's checks, once started.
    pub checks: Option<HostedChecks>,
    /// When the current step's instances were first in place.
    pub in_place_at: Option<Timestamp>,
}

/// A step's checks in progress (or decided).
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub(crate) struct HostedChecks {
    /// The step they belong to.
    pub step: StepKind,
    /// Hooks asked for and not answered, by action.
    pub hooks: BTreeMap<ActionId, RunningHook>,
    /// The analysis, if the checks name one.
    pub analysis: Option<HostedAnalysis>,
    /// Their verdict, once they have one.
    pub verdict: Option<ChecksVerdict>,
}

/// A hook asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub(crate) struct RunningHook {
    pub name: String,
    /// No answer by then is a failure.
    pub deadline: Timestamp,
}

/// What a step's checks came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub(crate) enum ChecksVerdict {
    Passed,
    Failed,
    /// A person must decide (promote accepts it): the analysis could not, or it failed
    /// under a policy that pauses.
    Inconclusive,
}

impl HostedChecks {
    /// The earliest hook deadline.
    pub(crate) fn next_deadline(&self) -> Option<Timestamp> {
        if self.verdict.is_some() {
            return None;
        }
        self.hooks.values().map(|h| h.deadline).min()
    }
}

/// The step machine of a rollout with no step: none in flight, none given up.
const NO_STEP: StepCursor = StepCursor {
    index: 0,
    started_at: Timestamp::ZERO,
    promoted: false,
    full: false,
    checks: None,
    in_place_at: None,
};

impl Core {
    /// The step machine of the rollout in flight (or of the one given up, as it ended).
    pub(crate) fn cursor(&self) -> &StepCursor {
        self.stage.step().unwrap_or(&NO_STEP)
    }

    /// Starts step `index` of the rollout in flight, now (a full promotion carries on).
    fn enter_step(&mut self, index: u32) {
        let now = self.now;
        if let Some(flight) = self.stage.flight_mut() {
            flight.step = StepCursor {
                index,
                started_at: now,
                full: flight.step.full,
                ..StepCursor::default()
            };
        }
    }

    /// The step machine's state as a planner reads it.
    pub(crate) fn step_state(&self) -> StepState {
        let checks = self
            .cursor()
            .checks
            .as_ref()
            .and_then(|c| c.verdict)
            .and_then(|v| match v {
                ChecksVerdict::Passed => Some(true),
                ChecksVerdict::Failed => Some(false),
                ChecksVerdict::Inconclusive => None,
            });
        StepState {
            index: self.cursor().index,
            started_at: self.cursor().started_at,
            promoted: self.cursor().promoted,
            full: self.cursor().full,
            checks,
            is_rollback: self.stage.is_rollback(),
            held: !self.mode().1,
            aborted_at: self.stage.aborted().map(|aborted| aborted.at),
            standby_until: self.standby_until,
            in_place_at: self.cursor().in_place_at,
            resized_from: (self.sized_for != self.limits.desired()).then_some(self.sized_for),
        }
    }

    /// Advances past every step the plan says is done (re-planning after each), starts
    /// the current step's checks, and pauses while it waits for a time or a promotion.
    /// Returns the plan for the step reached.
    pub(crate) fn advance_steps(&mut self, view: FleetView, mut plan: Plan) -> Plan {
        for _ in 0..=plan.step.count {
            // The last step, once done, waits for the end state (completion), not for
            // a step after it.
            let last = plan.step.index + 1 >= plan.step.count;
            if !plan.step.done || plan.step.complete || last {
                break;
            }
            self.end_checks();
            self.enter_step(plan.step.index + 1);
            self.made_progress();
            plan = self.plan_for(view);
            self.emit(EventKind::StepStarted {
                index: plan.step.index,
                count: plan.step.count,
                step: plan.step.kind,
            });
        }
        // A step's checks judge it in place: not before its instances are there.
        if !plan.step.done && plan.step.in_place() {
            self.start_checks(plan.step.kind);
        }
        self.follow_step_wait(&plan);
        plan
    }

    /// Notes when the current step's instances were first in place. Noted whether or
    /// not the rollout acts (an operator's pause stops moves, not the clock), so that a
    /// plan timed from it never moves its end with `now`.
    pub(crate) fn note_in_place(&mut self, plan: &Plan) {
        let now = self.now;
        if let Some(flight) = self.stage.flight_mut()
            && plan.step.in_place()
            && flight.step.in_place_at.is_none()
        {
            flight.step.in_place_at = Some(now);
        }
    }

    /// A step that waits for a time or a promotion pauses the rollout (as Argo's pause
    /// steps do); once it waits for nothing of the kind, it goes on.
    fn follow_step_wait(&mut self, plan: &Plan) {
        let wait = match plan.step.waiting {
            Some(StepWait::Promotion) => Some(None),
            Some(StepWait::Until { at }) => Some(Some(at)),
            _ => None,
        };
        match (self.phase(), wait) {
            (Phase::Progressing, Some(until)) => {
                self.hold(Hold::Paused(PauseReason::Step { until }));
            }
            (
                Phase::Paused {
                    reason: PauseReason::Step { until },
                },
                Some(now_until),
            ) if until != now_until => {
                self.hold(Hold::Paused(PauseReason::Step { until: now_until }));
            }
            (
                Phase::Paused {
                    reason: PauseReason::Step { .. },
                },
                None,
            ) => {
                self.made_progress();
                self.hold(Hold::Progressing);
            }
            _ => {}
        }
    }

    /// Starts the checks of `step` if it has any and they have not started.
    fn start_checks(&mut self, step: StepKind) {
        if self.cursor().checks.is_some()
            || self.step_state().skips_checks()
            || self.cursor().promoted
        {
            return;
        }
        let Some(checks) = self
            .spec
            .strategy
            .planner()
            .step_checks(self.cursor().index, step)
        else {
            return;
        };
        let Some(target) = self.target().cloned() else {
            return;
        };
        let mut hooks = BTreeMap::new();
        for hook in &checks.hooks {
            let id = self.next_action_id();
            hooks.insert(
                id,
                RunningHook {
                    name: hook.name.clone(),
                    deadline: self.now + hook.timeout,
                },
            );
            self.actions.push_back(Action::RunHook {
                id,
                hook: hook.name.clone(),
                step,
                revision: target.clone(),
                baseline: self.stable.clone(),
            });
        }
        let analysis = checks.analysis.as_ref().and_then(|name| {
            // The spec validated its names when it was accepted.
            let metrics = self.spec.analyses.get(name)?.clone();
            let run = AnalysisRun::new(self.now, metrics).ok()?;
            Some(HostedAnalysis {
                run,
                started_at: self.now,
                measuring: BTreeMap::new(),
                last_asked: BTreeMap::new(),
                acted: false,
            })
        });
        self.emit(EventKind::ChecksStarted {
            step,
            hooks: checks.hooks.iter().map(|h| h.name.clone()).collect(),
            analysis: checks.analysis.clone(),
        });
        if let Some(flight) = self.stage.flight_mut() {
            flight.step.checks = Some(HostedChecks {
                step,
                hooks,
                analysis,
                verdict: None,
            });
        }
        // The first measurements are due now: ask at once rather than on the next
        // timeout.
        self.request_measurements();
    }

    /// Stops the current step's checks: answers still out are late from now on, and
    /// what was asked but not yet handed to the caller is withdrawn.
    pub(crate) fn end_checks(&mut self) {
        // The borrow of the stage and of the queue are disjoint: split them.
        if let Some(checks) = self.stage.step().and_then(|step| step.checks.as_ref()) {
            let measuring = checks.analysis.as_ref().map(|a| &a.measuring);
            self.actions.retain(|action| match action {
                Action::RunHook { id, .. } => !checks.hooks.contains_key(id),
                Action::Measure { id, .. } => !measuring.is_some_and(|m| m.contains_key(id)),
                _ => true,
            });
        }
        if let Some(checks) = self.stage.step_mut().and_then(|step| step.checks.as_mut()) {
            checks.hooks.clear();
            if let Some(analysis) = checks.analysis.as_mut() {
                analysis.run.terminate();
                analysis.measuring.clear();
                analysis.acted = true;
            }
        }
    }

    /// A hook's answer; unknown, late or duplicate answers are reported and ignored.
    pub(crate) fn hook_result(
        &mut self,
        input: &Input,
        action: ActionId,
        passed: bool,
        reason: &str,
    ) {
        let hook = self
            .stage
            .step_mut()
            .and_then(|step| step.checks.as_mut())
            .and_then(|c| c.hooks.remove(&action));
        let Some(hook) = hook else {
            return self.ignore(input, "unknown, late or already answered hook");
        };
        let reason = crate::error::excerpt(reason);
        self.emit(EventKind::HookFinished {
            hook: hook.name.clone(),
            passed,
            reason: reason.clone(),
        });
        if passed {
            self.evaluate_checks();
        } else {
            self.checks_failed(format!("hook {} failed: {reason}", hook.name));
        }
    }

    /// Fails the checks if a hook ran out of time.
    pub(crate) fn expire_hooks(&mut self) {
        let now = self.now;
        let expired = self.cursor().checks.as_ref().and_then(|c| {
            c.hooks
                .values()
                .find(|h| h.deadline <= now)
                .map(|h| h.name.clone())
        });
        if let Some(name) = expired {
            self.emit(EventKind::HookFinished {
                hook: name.clone(),
                passed: false,
                reason: "timed out".to_owned(),
            });
            self.checks_failed(format!("hook {name} did not answer in time"));
        }
    }

    /// Decides the checks once every hook passed and the analysis (if any) has its
    /// verdict.
    pub(crate) fn evaluate_checks(&mut self) {
        let Some(checks) = self.cursor().checks.as_ref() else {
            return;
        };
        if checks.verdict.is_some() {
            return;
        }
        let analysis = checks.analysis.as_ref().map(|a| a.run.phase());
        match analysis {
            Some(RunPhase::Failed | RunPhase::Error) => {
                let reason = checks
                    .analysis
                    .as_ref()
                    .map(|a| a.run.reason())
                    .unwrap_or_default();
                self.checks_failed(format!("analysis failed: {reason}"));
            }
            Some(RunPhase::Inconclusive) => {
                self.conclude(
                    ChecksVerdict::Inconclusive,
                    "analysis inconclusive: promote to accept, abort to give up".to_owned(),
                );
                if self.phase().is_in_flight() {
                    self.hold(Hold::Paused(PauseReason::AnalysisInconclusive));
                }
            }
            Some(RunPhase::Running) => {}
            _ if checks.hooks.is_empty() => {
                self.conclude(ChecksVerdict::Passed, "every check passed".to_owned());
            }
            _ => {}
        }
    }

    fn set_verdict(&mut self, verdict: ChecksVerdict) {
        if let Some(checks) = self.stage.step_mut().and_then(|step| step.checks.as_mut()) {
            checks.verdict = Some(verdict);
        }
        if verdict != ChecksVerdict::Inconclusive {
            self.end_checks();
        }
    }

    /// Records the checks' verdict and says so.
    fn conclude(&mut self, verdict: ChecksVerdict, reason: String) {
        let Some(step) = self.cursor().checks.as_ref().map(|c| c.step) else {
            return;
        };
        self.set_verdict(verdict);
        self.emit(EventKind::ChecksCompleted {
            step,
            passed: verdict == ChecksVerdict::Passed,
            reason,
        });
    }

    /// The checks failed: by default the rollout aborts (traffic back on the stable
    /// revision inside the envelope); a canary analysis step may say to pause for a
    /// person, or to step back.
    fn checks_failed(&mut self, reason: String) {
        let Some(step) = self.cursor().checks.as_ref().map(|c| c.step) else {
            return;
        };
        match self
            .spec
            .strategy
            .planner()
            .on_checks_failure(self.cursor().index)
        {
            OnFailure::Pause => {
                // A person decides, as for an inconclusive verdict: promote accepts it.
                self.conclude(ChecksVerdict::Inconclusive, reason);
                if self.phase().is_in_flight() {
                    self.hold(Hold::Paused(PauseReason::AnalysisFailed));
                }
            }
            OnFailure::StepBack => {
                self.conclude(ChecksVerdict::Failed, reason);
                if self.phase().is_in_flight() {
                    self.step_back_and_pause();
                }
            }
            _ => {
                self.conclude(ChecksVerdict::Failed, reason);
                if self.phase().is_in_flight() {
                    self.abort(AbortReason::ChecksFailed { step });
                }
            }
        }
    }

    /// A failure that says "step back": the canary goes back to the weight before the
    /// current one (its step starts over) and the rollout pauses for a person.
    /// Strategies without steps to go back through just pause.
    pub(crate) fn step_back_and_pause(&mut self) {
        if let Some(index) = self.spec.strategy.planner().step_back(self.cursor().index) {
            self.end_checks();
            self.enter_step(index);
            let kind = self.plan().step;
            self.emit(EventKind::StepStarted {
                index,
                count: kind.count,
                step: kind.kind,
            });
        }
        self.hold(Hold::Paused(PauseReason::AnalysisFailed));
    }

    /// Whether the current step's checks are running (started, no verdict yet).
    pub(crate) fn checks_running(&self) -> bool {
        self.cursor()
            .checks
            .as_ref()
            .is_some_and(|c| c.verdict.is_none())
    }

    /// Stops the running checks without a verdict, and says so.
    pub(crate) fn skip_checks(&mut self, reason: &str) {
        let Some(step) = self.cursor().checks.as_ref().map(|c| c.step) else {
            return;
        };
        self.end_checks();
        self.emit(EventKind::ChecksCompleted {
            step,
            passed: true,
            reason: reason.to_owned(),
        });
    }

    /// Accepts an inconclusive verdict (an operator's promote or resume). Returns
    /// whether there was one.
    pub(crate) fn accept_inconclusive(&mut self) -> bool {
        let inconclusive = self
            .cursor()
            .checks
            .as_ref()
            .is_some_and(|c| c.verdict == Some(ChecksVerdict::Inconclusive));
        if inconclusive {
            self.set_verdict(ChecksVerdict::Passed);
        }
        inconclusive
    }
}
