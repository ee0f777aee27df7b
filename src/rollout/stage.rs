//! Where a rollout is, with the data that is valid only there (rustls' manner: a state
//! carries what belongs to it, so invalid combinations cannot be written down). The
//! public [`Phase`] is derived from it.
//!
//! | stage | holds |
//! |---|---|
//! | `Idle` | nothing: no rollout has started |
//! | `Completed` | whether the last rollout, whose target is the stable revision now, rolled back |
//! | `InFlight` | the target, whether it is held (paused, halted), its step and checks, its background analysis, its provisioning failures and backoff, its progress clock |
//! | `Aborted` | the target given up, why and when, whether stable could take all traffic at once, and the step and analysis as they ended |

use crate::model::Revision;
use crate::rollout::analysis::HostedAnalysis;
use crate::rollout::phase::{AbortReason, HaltReason, PauseReason, Phase};
use crate::rollout::steps::StepCursor;
use crate::time::Timestamp;

/// Where a rollout is.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub(crate) enum Stage {
    /// No rollout has started.
    Idle,
    /// The last rollout completed: its target is the stable revision now.
    Completed {
        /// Whether it rolled back to an earlier stable revision.
        rollback: bool,
    },
    /// A rollout in flight.
    InFlight(Flight),
    /// The last rollout was given up.
    Aborted(Aborted),
}

/// A rollout in flight.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub(crate) struct Flight {
    /// The revision being rolled out.
    pub target: Revision,
    /// What holds it, if anything.
    pub hold: Hold,
    /// Whether it rolls back to an earlier stable revision (no checks, no waits).
    pub is_rollback: bool,
    /// The step machine: the current step and its checks.
    pub step: StepCursor,
    /// The background analysis, once started.
    pub analysis: Option<HostedAnalysis>,
    /// Provisions of the target that failed in a row.
    pub provision_failures: u32,
    /// Until when a failed provision is not retried.
    pub backoff_until: Option<Timestamp>,
    /// The last progress, as Kubernetes counts it (the progress deadline counts from it).
    pub last_progress: Timestamp,
    /// Whether the progress deadline passed without progress.
    pub deadline_exceeded: bool,
}

/// What holds a rollout in flight.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub(crate) enum Hold {
    /// Nothing: it progresses.
    Progressing,
    /// Paused, and why.
    Paused(PauseReason),
    /// Halted by a failure it cannot get past alone.
    Halted(HaltReason),
}

/// A rollout given up: traffic goes back to the stable revision.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub(crate) struct Aborted {
    /// The revision given up: `retry` rolls it out again; the strategy may keep its
    /// instances a while.
    pub target: Revision,
    /// Why.
    pub reason: AbortReason,
    /// When (an abort's scale-down delay counts from it).
    pub at: Timestamp,
    /// Whether the stable revision could carry all traffic at once (else the way back is
    /// a reverse rolling update).
    pub one_update: bool,
    /// Whether the rollout given up was a rollback.
    pub is_rollback: bool,
    /// The step and its checks as they ended.
    pub step: StepCursor,
    /// The background analysis as it ended.
    pub analysis: Option<HostedAnalysis>,
}

impl Flight {
    /// A rollout of `target` starting at `now`, from its first step.
    pub(crate) fn new(target: Revision, now: Timestamp, is_rollback: bool) -> Flight {
        Flight {
            target,
            hold: Hold::Progressing,
            is_rollback,
            step: StepCursor {
                started_at: now,
                ..StepCursor::default()
            },
            analysis: None,
            provision_failures: 0,
            backoff_until: None,
            last_progress: now,
            deadline_exceeded: false,
        }
    }
}

impl Stage {
    /// The public phase this stage is.
    pub(crate) fn phase(&self) -> Phase {
        match self {
            Stage::Idle => Phase::Idle,
            Stage::Completed { .. } => Phase::Completed,
            Stage::InFlight(flight) => match &flight.hold {
                Hold::Progressing => Phase::Progressing,
                Hold::Paused(reason) => Phase::Paused {
                    reason: reason.clone(),
                },
                Hold::Halted(reason) => Phase::Halted {
                    reason: reason.clone(),
                },
            },
            Stage::Aborted(aborted) => Phase::Aborted {
                reason: aborted.reason.clone(),
            },
        }
    }

    /// The rollout in flight, if one is.
    pub(crate) fn flight(&self) -> Option<&Flight> {
        match self {
            Stage::InFlight(flight) => Some(flight),
            _ => None,
        }
    }

    /// The rollout in flight, if one is, to change.
    pub(crate) fn flight_mut(&mut self) -> Option<&mut Flight> {
        match self {
            Stage::InFlight(flight) => Some(flight),
            _ => None,
        }
    }

    /// The rollout given up, if the last one was.
    pub(crate) fn aborted(&self) -> Option<&Aborted> {
        match self {
            Stage::Aborted(aborted) => Some(aborted),
            _ => None,
        }
    }

    /// The step machine of the rollout in flight, or of the one given up (as it ended).
    pub(crate) fn step(&self) -> Option<&StepCursor> {
        match self {
            Stage::InFlight(flight) => Some(&flight.step),
            Stage::Aborted(aborted) => Some(&aborted.step),
            _ => None,
        }
    }

    /// The step machine of the rollout in flight, or of the one given up, to change.
    pub(crate) fn step_mut(&mut self) -> Option<&mut StepCursor> {
        match self {
            Stage::InFlight(flight) => Some(&mut flight.step),
            Stage::Aborted(aborted) => Some(&mut aborted.step),
            _ => None,
        }
    }

    /// The background analysis of the rollout in flight, or of the one given up.
    pub(crate) fn analysis(&self) -> Option<&HostedAnalysis> {
        match self {
            Stage::InFlight(flight) => flight.analysis.as_ref(),
            Stage::Aborted(aborted) => aborted.analysis.as_ref(),
            _ => None,
        }
    }

    /// The background analysis of the rollout in flight or given up, to change.
    pub(crate) fn analysis_mut(&mut self) -> Option<&mut HostedAnalysis> {
        match self {
            Stage::InFlight(flight) => flight.analysis.as_mut(),
            Stage::Aborted(aborted) => aborted.analysis.as_mut(),
            _ => None,
        }
    }

    /// Whether the rollout in flight, or the one given up, is a rollback.
    pub(crate) fn is_rollback(&self) -> bool {
        match self {
            Stage::InFlight(flight) => flight.is_rollback,
            Stage::Aborted(aborted) => aborted.is_rollback,
            Stage::Completed { rollback } => *rollback,
            Stage::Idle => false,
        }
    }
}
