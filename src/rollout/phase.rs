//! The rollout's phases and the reasons it stops.

use std::fmt;

/// Where a rollout is.
///
/// ```text
///          deploy            all replaced, table acknowledged
///  Idle ─────────▶ Progressing ─────────▶ Completed ─┐
///                   │  ▲   │                          │ deploy / rollback
///             pause │  │   │ provision keeps failing  ▼
///                   ▼  │   ▼                     Progressing
///                 Paused  Halted
///                   └──────┴──── abort / rollback ──▶ Aborted ── retry ──▶ Progressing
/// ```
///
/// `Completed` and `Aborted` are terminal: inputs never move the rollout out of them
/// (only commands do), though it keeps the stable revision at `desired` and finishes
/// removing instances it no longer wants.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case", tag = "phase"))]
#[non_exhaustive]
pub enum Phase {
    /// No rollout has been started; the stable revision (if any) is kept at `desired`.
    Idle,
    /// Replacing instances.
    Progressing,
    /// Stopped until something says go on (`resume`, `promote`, `promote_full`, or the
    /// end of a timed pause); instances keep moving in and out of rotation as their
    /// health changes, and started drains finish.
    Paused {
        /// Why (format-1 documents, which did not say, read as an operator's pause).
        #[cfg_attr(feature = "serde", serde(default))]
        reason: PauseReason,
    },
    /// Stopped by a failure it cannot get past alone; waits for `retry`, `abort` or
    /// `rollback`.
    Halted {
        /// Why.
        reason: HaltReason,
    },
    /// The new revision is stable and the old instances are gone.
    Completed,
    /// Traffic went back to the stable revision and the new instances are removed.
    Aborted {
        /// Why.
        reason: AbortReason,
    },
}

impl Phase {
    /// Whether the phase is terminal: no input moves the rollout out of it.
    #[must_use]
    pub fn is_terminal(&self) -> bool {
        matches!(self, Phase::Completed | Phase::Aborted { .. })
    }

    /// Whether a rollout is in flight (progressing, paused or halted).
    #[must_use]
    pub fn is_in_flight(&self) -> bool {
        matches!(
            self,
            Phase::Progressing | Phase::Paused { .. } | Phase::Halted { .. }
        )
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Phase::Idle => f.write_str("idle"),
            Phase::Progressing => f.write_str("progressing"),
            Phase::Paused { reason } => write!(f, "paused ({reason})"),
            Phase::Halted { reason } => write!(f, "halted ({reason})"),
            Phase::Completed => f.write_str("completed"),
            Phase::Aborted { reason } => write!(f, "aborted ({reason})"),
        }
    }
}

/// Why a rollout is paused.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case", tag = "kind"))]
#[non_exhaustive]
pub enum PauseReason {
    /// An operator called `pause` (or deployed onto a paused rollout).
    #[default]
    Operator,
    /// A step pauses: until `promote`, or until `until` if set.
    Step {
        /// When the pause ends by itself.
        until: Option<crate::time::Timestamp>,
    },
    /// An analysis could not decide; a person must (`promote` goes on, `abort` stops).
    AnalysisInconclusive,
    /// An analysis failed and the spec says to pause (`promote` goes on, `abort` stops).
    AnalysisFailed,
}

impl fmt::Display for PauseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PauseReason::Operator => f.write_str("by an operator"),
            PauseReason::Step { until: Some(at) } => write!(f, "by a step, until {at}"),
            PauseReason::Step { until: None } => f.write_str("by a step, until promoted"),
            PauseReason::AnalysisInconclusive => f.write_str("analysis inconclusive"),
            PauseReason::AnalysisFailed => f.write_str("analysis failed"),
        }
    }
}

/// Why a rollout halted.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case", tag = "kind"))]
#[non_exhaustive]
pub enum HaltReason {
    /// Provisioning failed `failures` times in a row; `last_error` is the last reason.
    ProvisionFailed {
        /// Consecutive failures.
        failures: u32,
        /// The provisioner's last error.
        #[cfg_attr(
            feature = "serde",
            serde(deserialize_with = "crate::error::bounded_text")
        )]
        last_error: String,
    },
}

impl fmt::Display for HaltReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HaltReason::ProvisionFailed {
                failures,
                last_error,
            } => {
                write!(
                    f,
                    "provisioning failed {failures} times in a row, last: {last_error}"
                )
            }
        }
    }
}

/// Why a rollout was aborted.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum AbortReason {
    /// An operator called `abort`.
    Operator,
    /// An operator called `rollback` while the rollout was in flight.
    Rollback,
    /// The progress deadline passed and the spec says to abort.
    ProgressDeadline,
    /// The background analysis failed (or could not measure) and the spec says to
    /// abort.
    Analysis,
    /// A step's checks failed (a hook failed or timed out, or its analysis failed).
    ChecksFailed {
        /// The step.
        step: crate::strategy::StepKind,
    },
}

impl fmt::Display for AbortReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AbortReason::Operator => "by an operator",
            AbortReason::Rollback => "rolled back by an operator",
            AbortReason::ProgressDeadline => "progress deadline exceeded",
            AbortReason::Analysis => "analysis failed",
            AbortReason::ChecksFailed { step } => return write!(f, "{step} failed"),
        })
    }
}
