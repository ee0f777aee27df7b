//! What a simulated run tells: a [`Report`] with its figures and a [`Timeline`] (data,
//! CSV), ending with a one-line summary.

use std::fmt::{self, Write as _};

use crate::model::{InstanceState, Revision};
use crate::rollout::Rollout;
use crate::spec::StrategyKind;
use crate::time::{Duration, Timestamp};
use crate::traffic::TrafficTable;

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum End {
    /// The rollout completed: the new revision is stable.
    Completed,
    /// The rollout was aborted (by its analysis, a hook, a deadline or the operator)
    /// and came to rest on the stable revision.
    Aborted {
        /// The rollout's phase, in words.
        phase: String,
    },
    /// The rollout stopped progressing: it waits for a person, ran past the time
    /// limit, or its driver stopped. Replay it with the report's seed.
    Stalled {
        /// Why, in words.
        reason: String,
    },
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            End::Completed => f.write_str("completed"),
            End::Aborted { phase } => f.write_str(phase),
            End::Stalled { reason } => write!(f, "stalled: {reason}"),
        }
    }
}

/// Requests that reached an instance that could not serve them, by cause.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Failed {
    /// Reached an instance the rollout had stopped or not yet started: the rollout's
    /// fault, and always 0 when the invariants hold.
    pub rollout: u64,
    /// Failed by the revision itself (its error rate): a bad version.
    pub bad_version: u64,
    /// Reached an instance that had crashed or was failing its checks, before the
    /// load balancer had been told.
    pub crash: u64,
    /// Routed nowhere: the applied table was empty.
    pub unrouted: u64,
}

impl Failed {
    /// Every failed request.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.rollout + self.bad_version + self.crash + self.unrouted
    }
}

/// One revision at one moment of the timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct RevisionRow {
    /// The revision.
    pub revision: Revision,
    /// Its instances per state, as the rollout counts them, indexed by
    /// [`InstanceState::index`] (provisioning, starting, ready, draining, terminated,
    /// failed).
    pub instances: [usize; 6],
    /// The weight the rollout asks for, in basis points.
    pub requested: u16,
    /// The weight the load balancer applies, in basis points.
    pub applied: u16,
}

/// The world at one moment: after a driver step that did something.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Row {
    /// When.
    pub at: Timestamp,
    /// The rollout's phase, in words.
    pub phase: String,
    /// The step it is on, as `(index, count)`.
    pub step: Option<(u32, u32)>,
    /// The kind of that step, as Argo names it (`SetWeight`, `Pause`, `Switch`...).
    pub step_kind: Option<String>,
    /// Every revision with instances or weight.
    pub revisions: Vec<RevisionRow>,
    /// Requests sent so far, and how many failed.
    pub requests: u64,
    /// Failed requests so far.
    pub failed: u64,
    /// The rollout's events at this moment, one line each.
    pub events: Vec<String>,
}

/// A run, moment by moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Timeline {
    /// The moments, in order.
    pub rows: Vec<Row>,
}

/// The header of [`Timeline::to_csv`].
pub const CSV_HEADER: &str = "at_ms,phase,step,revision,provisioning,starting,ready,draining,requested_bp,applied_bp,requests,failed,events";

impl Timeline {
    /// The timeline as CSV, one line per moment and revision ([`CSV_HEADER`] first);
    /// the same run gives the same bytes.
    #[must_use]
    pub fn to_csv(&self) -> String {
        let mut out = String::from(CSV_HEADER);
        out.push('\n');
        let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        for row in &self.rows {
            let step = row
                .step
                .map_or(String::new(), |(i, n)| format!("{}/{n}", i + 1));
            let events = quote(&row.events.join(" | "));
            for r in &row.revisions {
                let n = |state: InstanceState| r.instances[state.index()];
                let _ = writeln!(
                    out,
                    "{},{},{step},{},{},{},{},{},{},{},{},{},{events}",
                    row.at.as_millis(),
                    quote(&row.phase),
                    quote(r.revision.as_str()),
                    n(InstanceState::Provisioning),
                    n(InstanceState::Starting),
                    n(InstanceState::Ready),
                    n(InstanceState::Draining),
                    r.requested,
                    r.applied,
                    row.requests,
                    row.failed,
                );
            }
        }
        out
    }

    /// Every revision that appears, in order of appearance.
    #[must_use]
    pub fn revisions(&self) -> Vec<Revision> {
        let mut seen: Vec<Revision> = Vec::new();
        for r in self.rows.iter().flat_map(|row| &row.revisions) {
            if !seen.contains(&r.revision) {
                seen.push(r.revision.clone());
            }
        }
        seen
    }

    pub(super) fn row(
        at: Timestamp,
        rollout: &Rollout,
        applied: &TrafficTable,
        requests: (u64, u64),
        events: Vec<String>,
    ) -> Row {
        let requested = rollout.traffic();
        let mut revisions: Vec<Revision> = rollout.fleet().revisions().cloned().collect();
        for table in [requested, applied] {
            for b in table.backends() {
                if !revisions.contains(b.revision()) {
                    revisions.push(b.revision().clone());
                }
            }
        }
        revisions.sort();
        let revisions = revisions
            .into_iter()
            .map(|revision| RevisionRow {
                instances: rollout.fleet().counts(&revision).by_state,
                requested: requested.weight(&revision).basis_points(),
                applied: applied.weight(&revision).basis_points(),
                revision,
            })
            .collect();
        let status = rollout.status();
        Row {
            at,
            phase: rollout.phase().to_string(),
            step: status.step,
            step_kind: status.step_kind.map(|(kind, _)| format!("{kind:?}")),
            revisions,
            requests: requests.0,
            failed: requests.1,
            events,
        }
    }
}

/// The figures of one simulated run, and its timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Report {
    /// The seed that replays it.
    pub seed: u64,
    /// The strategy.
    pub strategy: StrategyKind,
    /// How it ended.
    pub end: End,
    /// Requests sent.
    pub requests: u64,
    /// Requests that failed, by cause.
    pub failed: Failed,
    /// Requests that reached the revision rolled out.
    pub to_target: u64,
    /// Faults that happened to running instances (crashes and health flaps).
    pub faults: u64,
    /// The most instances alive at once.
    pub peak_instances: usize,
    /// The fewest instances running and passing their checks at once.
    pub min_ready: usize,
    /// Tables the load balancer applied.
    pub lb_updates: u64,
    /// From the deploy to the end.
    pub duration: Duration,
    /// How long more than one revision had weight in the applied table.
    pub mixed_window: Duration,
    /// From an abort to the applied table being all on the stable revision, if the
    /// rollout was aborted and got there.
    pub rollback_time: Option<Duration>,
    /// Invariant violations found (checked runs only), in words, the first few.
    pub violations: Vec<String>,
    /// The run, moment by moment.
    pub timeline: Timeline,
}

impl Report {
    /// The one-line summary:
    /// `summary: strategy=<rolling|blue-green|canary> requests=<n> failed=<n> peak_instances=<n> min_ready=<n> lb_updates=<n> duration=<d>`.
    #[must_use]
    pub fn summary(&self) -> String {
        format!(
            "summary: strategy={} requests={} failed={} peak_instances={} min_ready={} lb_updates={} duration={}",
            self.strategy,
            self.requests,
            self.failed.total(),
            self.peak_instances,
            self.min_ready,
            self.lb_updates,
            self.duration
        )
    }

    /// The timeline in words: one line per moment with events or a phase change.
    #[must_use]
    pub fn narrate(&self) -> String {
        let mut out = String::new();
        let mut phase = String::new();
        for row in &self.timeline.rows {
            if row.events.is_empty() && row.phase == phase {
                continue;
            }
            phase.clone_from(&row.phase);
            let fleet: Vec<String> = row
                .revisions
                .iter()
                .map(|r| {
                    format!(
                        "{}: {} ready of {}, {}% asked, {}% applied",
                        r.revision,
                        r.instances[InstanceState::Ready.index()],
                        r.instances.iter().sum::<usize>(),
                        f64::from(r.requested) / 100.0,
                        f64::from(r.applied) / 100.0
                    )
                })
                .collect();
            let seconds = row.at.as_millis() as f64 / 1_000.0;
            let step = row
                .step
                .map_or(String::new(), |(i, n)| format!(" step {}/{n}", i + 1));
            let _ = writeln!(
                out,
                "{seconds:>8.2}s  {}{step} | {}",
                row.phase,
                fleet.join(" | ")
            );
            for event in &row.events {
                let _ = writeln!(out, "            · {event}");
            }
        }
        out
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "seed {}: {}", self.seed, self.end)?;
        write!(f, "{}", self.summary())
    }
}
