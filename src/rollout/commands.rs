//! The operator's verbs. Each checks before it changes anything, so a refused command
//! changes nothing; every phase answers every verb (invariant 9).
//!
//! | verb | idle | progressing | paused | halted | completed | aborted |
//! |---|---|---|---|---|---|---|
//! | `deploy` | starts | supersedes | supersedes, stays paused | supersedes | starts | starts |
//! | `pause` | refused | pauses | pauses (a step's pause too) | refused | refused | refused |
//! | `resume` | refused | refused | resumes (a step's pause: refused, promote it) | refused | refused | refused |
//! | `promote` | refused | skips the step's checks; nothing else to finish | finishes the step's pause, or resumes | refused | refused | refused |
//! | `promote_full` | refused | skips every wait and check | skips them, resumes | refused | refused | refused |
//! | `abort` | refused | aborts | aborts | aborts | refused | refused |
//! | `retry` | refused | refused | refused | restarts | refused | restarts |
//! | `rollback` | to previous | aborts | aborts | aborts | to previous | to previous |
//! | `scale` / `update_spec` | applies | applies | applies | applies | applies | applies |

use crate::error::CommandError;
use crate::model::Revision;
use crate::output::EventKind;
use crate::rollout::core::Core;
use crate::rollout::phase::{AbortReason, PauseReason, Phase};
use crate::rollout::stage::{Aborted, Flight, Hold, Stage};
use crate::spec::RolloutSpec;

impl Core {
    fn refuse(&self, command: &'static str) -> CommandError {
        CommandError::InvalidPhase {
            command,
            phase: self.phase().to_string(),
        }
    }

    pub(crate) fn deploy(
        &mut self,
        revision: Revision,
        is_rollback: bool,
    ) -> Result<(), CommandError> {
        if revision.as_str().is_empty() {
            return Err(CommandError::EmptyRevision);
        }
        let supersedes = self.target().cloned();
        match &supersedes {
            Some(target) if *target == revision => {
                return Err(CommandError::AlreadyInFlight { revision });
            }
            None if self.stable.as_ref() == Some(&revision) => {
                return Err(CommandError::AlreadyStable { revision });
            }
            _ => {}
        }
        // Kubernetes keeps a paused Deployment paused across a new template: the new
        // revision waits for `resume`. Only an operator's pause carries over: a step's
        // pause or an analysis' belongs to the rollout it paused.
        let keep_paused = self.phase()
            == Phase::Paused {
                reason: PauseReason::Operator,
            };
        self.start(revision, supersedes, is_rollback);
        if keep_paused {
            self.hold(Hold::Paused(PauseReason::Operator));
        }
        Ok(())
    }

    /// Starts rolling out `revision` from the first step, and says so.
    fn start(&mut self, revision: Revision, supersedes: Option<Revision>, is_rollback: bool) {
        self.emit(EventKind::RolloutStarted {
            revision: revision.clone(),
            stable: self.stable.clone(),
            supersedes,
        });
        // What the previous rollout still asked for is withdrawn; the new one starts
        // from the first step, with no analysis yet.
        self.end_analysis();
        self.end_checks();
        self.relayout = true;
        self.enter(Stage::InFlight(Flight::new(
            revision,
            self.now,
            is_rollback,
        )));
        // Every step, the first included, is announced: a reader of the events sees
        // the whole walk through the steps.
        let step = self.plan().step;
        if step.count > 0 {
            self.emit(EventKind::StepStarted {
                index: step.index,
                count: step.count,
                step: step.kind,
            });
        }
    }

    pub(crate) fn pause(&mut self) -> Result<(), CommandError> {
        let step_pause = matches!(
            self.phase(),
            Phase::Paused {
                reason: PauseReason::Step { .. }
            }
        );
        if self.phase() != Phase::Progressing && !step_pause {
            return Err(self.refuse("pause"));
        }
        self.hold(Hold::Paused(PauseReason::Operator));
        Ok(())
    }

    pub(crate) fn resume(&mut self) -> Result<(), CommandError> {
        match self.phase() {
            // A step's own pause ends with its time or a promotion, not a resume.
            Phase::Paused {
                reason: PauseReason::Step { .. },
            } => return Err(self.refuse("resume (promote finishes a step's pause)")),
            Phase::Paused { .. } => {}
            _ => return Err(self.refuse("resume")),
        }
        self.go_on();
        Ok(())
    }

    /// Out of a pause: an inconclusive check is accepted (as Argo's resume does), and
    /// the time spent paused does not count against the progress deadline.
    fn go_on(&mut self) {
        self.accept_inconclusive();
        self.made_progress();
        self.hold(Hold::Progressing);
    }

    /// Marks the current step promoted by an operator.
    fn promote_step(&mut self) {
        if let Some(flight) = self.stage.flight_mut() {
            flight.step.promoted = true;
        }
    }

    pub(crate) fn promote(&mut self) -> Result<(), CommandError> {
        match self.phase() {
            Phase::Paused {
                reason: PauseReason::Step { .. },
            } => {
                self.promote_step();
                Ok(())
            }
            Phase::Paused { .. } => self.resume(),
            Phase::Progressing if self.checks_running() => {
                self.skip_checks("skipped by an operator's promote");
                self.promote_step();
                Ok(())
            }
            Phase::Progressing => Err(CommandError::NothingToPromote {
                why: self.spec.strategy.planner().nothing_to_promote(),
            }),
            _ => Err(self.refuse("promote")),
        }
    }

    pub(crate) fn promote_full(&mut self) -> Result<(), CommandError> {
        match self.phase() {
            Phase::Progressing => {}
            Phase::Paused { .. } => self.go_on(),
            _ => return Err(self.refuse("promote fully")),
        }
        if self.checks_running() {
            self.skip_checks("skipped by an operator's full promotion");
        }
        if let Some(flight) = self.stage.flight_mut() {
            flight.step.full = true;
        }
        Ok(())
    }

    pub(crate) fn abort_command(&mut self, reason: AbortReason) -> Result<(), CommandError> {
        if self.target().is_none() {
            return Err(self.refuse(if reason == AbortReason::Rollback {
                "roll back"
            } else {
                "abort"
            }));
        }
        self.abort(reason);
        Ok(())
    }

    /// Gives the target up: the strategy plans the way back to the stable revision, and
    /// the envelope keeps it above the floor all the way. Nothing if no rollout is in
    /// flight.
    pub(crate) fn abort(&mut self, reason: AbortReason) {
        self.end_analysis();
        self.end_checks();
        let stable = self.fleet_view().roles[crate::strategy::Role::Stable];
        let one_update = stable.available >= self.limits.min_available().max(1);
        let Some(flight) = self.stage.flight().cloned() else {
            return;
        };
        self.enter(Stage::Aborted(Aborted {
            target: flight.target,
            reason,
            at: self.now,
            one_update,
            is_rollback: flight.is_rollback,
            step: flight.step,
            analysis: flight.analysis,
        }));
    }

    pub(crate) fn retry(&mut self) -> Result<(), CommandError> {
        let target = match &self.stage {
            Stage::InFlight(Flight {
                target,
                hold: Hold::Halted(_),
                ..
            })
            | Stage::Aborted(Aborted { target, .. }) => target.clone(),
            _ => return Err(self.refuse("retry")),
        };
        if self.stable.as_ref() == Some(&target) {
            return Err(CommandError::AlreadyStable { revision: target });
        }
        let is_rollback = self.stage.is_rollback();
        self.start(target, None, is_rollback);
        Ok(())
    }

    pub(crate) fn rollback(&mut self) -> Result<(), CommandError> {
        if self.target().is_some() {
            return self.abort_command(AbortReason::Rollback);
        }
        let previous = self
            .previous_stable
            .clone()
            .ok_or(CommandError::NothingToRollBackTo)?;
        self.deploy(previous, true)
    }

    /// Resizes the service (an autoscaler, an operator). The strategy plans toward the
    /// new size within the new limits, mid-rollout included.
    pub(crate) fn scale(&mut self, desired: u32) -> Result<(), CommandError> {
        let spec = RolloutSpec {
            desired,
            ..self.spec.clone()
        };
        let limits = spec.validate().map_err(CommandError::InvalidSpec)?;
        let from = self.spec.desired;
        self.spec = spec;
        self.limits = limits;
        if from != desired {
            self.emit(EventKind::Scaled { from, to: desired });
        }
        Ok(())
    }

    /// Replaces the spec's limits, deadlines and timeouts. The strategy kind and
    /// `min_ready` stay as they are (a different strategy is a different rollout;
    /// `min_ready` is what availability already counted against).
    pub(crate) fn update_spec(&mut self, spec: RolloutSpec) -> Result<(), CommandError> {
        let limits = spec.validate().map_err(CommandError::InvalidSpec)?;
        if std::mem::discriminant(&spec.strategy) != std::mem::discriminant(&self.spec.strategy) {
            return Err(CommandError::UnsupportedChange {
                field: "strategy",
                why: "a different strategy is a different rollout: finish or abort this one first",
            });
        }
        if spec.min_ready != self.spec.min_ready {
            return Err(CommandError::UnsupportedChange {
                field: "min_ready",
                why: "instances already counted as available against the current min_ready",
            });
        }
        let from = self.spec.desired;
        let to = spec.desired;
        self.spec = spec;
        self.limits = limits;
        if from != to {
            self.emit(EventKind::Scaled { from, to });
        }
        self.emit(EventKind::SpecUpdated);
        Ok(())
    }
}
