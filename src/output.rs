//! What the rollout asks of the caller ([`Action`]) and what it tells them ([`Event`]).

use std::fmt;

use crate::model::{InstanceGroup, InstanceId, Revision};
use crate::time::{Duration, Timestamp};
use crate::traffic::{TableDiff, Weight};

/// Names one action, so that its result can be matched to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
#[allow(clippy::exhaustive_structs)] // Built by callers with a struct literal: a new field is a deliberate, breaking change.
pub struct ActionId(pub u64);

impl fmt::Display for ActionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Work for the caller. Each is answered by an [`Input`](crate::Input) naming its id
/// (`UpdateTraffic` by its generation).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "snake_case", tag = "action", deny_unknown_fields)
)]
#[non_exhaustive]
pub enum Action {
    /// Create an instance of `revision` named `instance`; answer with `Provisioned` or
    /// `ProvisionFailed`, then report its health.
    Provision {
        /// This action's id.
        id: ActionId,
        /// The name to give it.
        instance: InstanceId,
        /// What it should run.
        revision: Revision,
        /// The group it belongs to: label it so, for the metrics that tell a canary
        /// experiment's baseline from the rest (documents leave out the main group).
        #[cfg_attr(
            feature = "serde",
            serde(default, skip_serializing_if = "InstanceGroup::is_main")
        )]
        group: InstanceGroup,
    },
    /// Change the load balancer's table; answer with `TrafficApplied { generation }`.
    ///
    /// `diff` goes from the previous `UpdateTraffic`'s generation to this one; the whole
    /// table is [`Rollout::traffic`](crate::Rollout::traffic).
    UpdateTraffic {
        /// This action's id.
        id: ActionId,
        /// The generation of the new table.
        generation: u64,
        /// What changed since the previous table.
        diff: TableDiff,
    },
    /// Let `instance` finish in-flight requests (it is already out of rotation); answer
    /// with `Drained`. After `timeout` the rollout terminates it anyway.
    Drain {
        /// This action's id.
        id: ActionId,
        /// The instance.
        instance: InstanceId,
        /// How long the drain may take.
        timeout: Duration,
    },
    /// Destroy `instance`; answer with `Terminated`.
    Terminate {
        /// This action's id.
        id: ActionId,
        /// The instance.
        instance: InstanceId,
    },
    /// Measure `metric` for `revision` over `from..to` (with `baseline` as the
    /// comparison where the metric compares samples); answer with `Measured`.
    Measure {
        /// This action's id.
        id: ActionId,
        /// The metric, by its name in the analysis spec.
        metric: String,
        /// The revision measured (the target).
        revision: Revision,
        /// The revision to compare against (the stable one), if any.
        baseline: Option<Revision>,
        /// Which of the baseline revision's instances to measure: all of them (the main
        /// group, left out of documents), or only a canary experiment's baseline group.
        #[cfg_attr(
            feature = "serde",
            serde(default, skip_serializing_if = "InstanceGroup::is_main")
        )]
        baseline_group: InstanceGroup,
        /// The start of the window (the previous measurement, or the analysis' start).
        from: Timestamp,
        /// The end of the window (now).
        to: Timestamp,
    },
    /// Redeploy `instance`, a warm instance of `from` (drained, out of every table), in
    /// place to `revision`: blue-green's reuse of the standby environment. Answer with
    /// `Provisioned` (it now runs `revision` and is starting) or `ProvisionFailed`.
    Redeploy {
        /// This action's id.
        id: ActionId,
        /// The instance.
        instance: InstanceId,
        /// What it runs now.
        from: Revision,
        /// What it should run.
        revision: Revision,
    },
    /// Run the hook named `hook` (from the spec's checks) against `revision`; answer
    /// with `HookResult`. No answer within the hook's timeout counts as a failure.
    RunHook {
        /// This action's id.
        id: ActionId,
        /// The hook, by its name in the spec.
        hook: String,
        /// The step whose checks run it.
        step: crate::strategy::StepKind,
        /// The revision checked (the target).
        revision: Revision,
        /// The stable revision, if any (for hooks that compare).
        baseline: Option<Revision>,
    },
}

impl Action {
    /// The action's id.
    #[must_use]
    pub fn id(&self) -> ActionId {
        match self {
            Action::Provision { id, .. }
            | Action::UpdateTraffic { id, .. }
            | Action::Drain { id, .. }
            | Action::Terminate { id, .. }
            | Action::Measure { id, .. }
            | Action::RunHook { id, .. }
            | Action::Redeploy { id, .. } => *id,
        }
    }
}

/// Something that happened, for logs, audits and dashboards.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[non_exhaustive]
pub struct Event {
    /// When (the rollout's clamped clock).
    pub at: Timestamp,
    /// What.
    pub kind: EventKind,
}

/// The kinds of [`Event`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "snake_case", tag = "event", deny_unknown_fields)
)]
#[non_exhaustive]
pub enum EventKind {
    /// The rollout moved to another phase.
    PhaseChanged {
        /// The phase before.
        from: crate::Phase,
        /// The phase now.
        to: crate::Phase,
    },
    /// A rollout to `revision` started (`supersedes` names a target it replaced).
    RolloutStarted {
        /// The revision being rolled out.
        revision: Revision,
        /// The stable revision it replaces.
        stable: Option<Revision>,
        /// A revision whose rollout was still in flight and is now scaled away.
        supersedes: Option<Revision>,
    },
    /// An instance became ready (passed a health check).
    InstanceReady {
        /// The instance.
        instance: InstanceId,
    },
    /// An instance has been ready for `min_ready` and may take traffic.
    InstanceAvailable {
        /// The instance.
        instance: InstanceId,
    },
    /// An instance failed a health check, was lost, or could not be provisioned.
    InstanceFailed {
        /// The instance.
        instance: InstanceId,
        /// Why.
        #[cfg_attr(
            feature = "serde",
            serde(deserialize_with = "crate::error::bounded_text")
        )]
        reason: String,
    },
    /// A failed provision will be retried after a backoff.
    ProvisionBackoff {
        /// Consecutive failures so far.
        failures: u32,
        /// When provisioning resumes.
        until: Timestamp,
    },
    /// The load balancer acknowledged a table.
    TrafficApplied {
        /// The generation acknowledged.
        generation: u64,
    },
    /// A drain took longer than its timeout; the instance is terminated anyway.
    DrainTimedOut {
        /// The instance.
        instance: InstanceId,
    },
    /// An instance is gone.
    InstanceTerminated {
        /// The instance.
        instance: InstanceId,
    },
    /// The rollout made no progress for `progress_deadline`.
    ProgressDeadlineExceeded {
        /// When progress was last made.
        last_progress: Timestamp,
    },
    /// An input was ignored: unknown, late, duplicated, or not valid now.
    InputIgnored {
        /// The input, described.
        #[cfg_attr(
            feature = "serde",
            serde(deserialize_with = "crate::error::bounded_text")
        )]
        input: String,
        /// Why it was ignored.
        #[cfg_attr(
            feature = "serde",
            serde(deserialize_with = "crate::error::bounded_text")
        )]
        reason: String,
    },
    /// The engine refused to publish a table that broke its own rules. This is a bug
    /// in `cutover`; the previous table stays in force.
    InternalError {
        /// What went wrong.
        #[cfg_attr(
            feature = "serde",
            serde(deserialize_with = "crate::error::bounded_text")
        )]
        detail: String,
    },
    /// `now` went backwards; the rollout kept its later clock.
    ClockWentBackwards {
        /// The time given.
        given: Timestamp,
        /// The time used instead.
        kept: Timestamp,
    },
    /// An adopted fleet ran several revisions and none was named stable: this one was
    /// taken as stable (the most available instances, then the most instances).
    StableInferred {
        /// The revision taken as stable.
        revision: Revision,
    },
    /// An instance failed a health check (out of rotation until it passes again);
    /// `failures` in a row so far.
    InstanceUnhealthy {
        /// The instance.
        instance: InstanceId,
        /// Consecutive failed checks.
        failures: u32,
    },
    /// The load balancer has not acknowledged the published table within the spec's
    /// `traffic_ack_timeout`; the rollout waits for it (nothing is drained meanwhile).
    TrafficAckOverdue {
        /// The generation waiting.
        generation: u64,
        /// Since when it has waited.
        since: Timestamp,
    },
    /// The set of revisions carrying more traffic than their instances carry at the
    /// floor's rate changed (faults took instances they need: they run hot rather than
    /// hand users to a revision the plan does not send them to). Empty: none is short
    /// any more.
    TrafficShortfall {
        /// The revisions short now.
        short: Vec<Shortfall>,
    },
    /// An emergency began or changed: faults left a revision the plan routes users to
    /// without any instance that can serve, and users are on a revision beyond its plan
    /// (or, under [`EmergencyRouting::StopServing`](crate::spec::EmergencyRouting), on
    /// nothing).
    TrafficEmergency {
        /// What it is now.
        emergency: Emergency,
    },
    /// The emergency is over: users are only where the plan (or a known-good revision)
    /// has them.
    TrafficEmergencyOver,
    /// The safety envelope gave the plan only the safe part of what it asked.
    EnvelopeHeldBack {
        /// What was held back.
        held: HeldBack,
    },
    /// The service was resized.
    Scaled {
        /// Instances wanted before.
        from: u32,
        /// Instances wanted now.
        to: u32,
    },
    /// The spec's limits, deadlines or timeouts were replaced.
    SpecUpdated,
    /// The background analysis started measuring these metrics.
    AnalysisStarted {
        /// The metrics, by name.
        metrics: Vec<String>,
    },
    /// An analysis reached its verdict, successful or not: the background analysis, or
    /// a step's (followed by its `ChecksCompleted`).
    AnalysisCompleted {
        /// The verdict.
        phase: crate::analysis::RunPhase,
        /// Why, in a sentence.
        #[cfg_attr(
            feature = "serde",
            serde(deserialize_with = "crate::error::bounded_text")
        )]
        reason: String,
    },
    /// The rollout moved on to step `index` (of `count`).
    StepStarted {
        /// The step, from 0.
        index: u32,
        /// How many steps there are.
        count: u32,
        /// What it does.
        step: crate::strategy::StepKind,
    },
    /// A step's checks started: these hooks were asked for, and this analysis runs.
    ChecksStarted {
        /// The step.
        step: crate::strategy::StepKind,
        /// The hooks, by name.
        hooks: Vec<String>,
        /// The analysis, by name.
        analysis: Option<String>,
    },
    /// A hook answered (or ran out of time, which is a failure).
    HookFinished {
        /// The hook.
        hook: String,
        /// Whether it passed.
        passed: bool,
        /// Its reason, bounded.
        #[cfg_attr(
            feature = "serde",
            serde(deserialize_with = "crate::error::bounded_text")
        )]
        reason: String,
    },
    /// A step's checks reached a verdict (`passed: false` with an inconclusive analysis
    /// pauses for a person; otherwise it aborts).
    ChecksCompleted {
        /// The step.
        step: crate::strategy::StepKind,
        /// Whether they passed.
        passed: bool,
        /// Why.
        #[cfg_attr(
            feature = "serde",
            serde(deserialize_with = "crate::error::bounded_text")
        )]
        reason: String,
    },
    /// A warm standby instance is reused for the new target: it leaves rotation, drains,
    /// and is redeployed in place instead of a new instance being provisioned.
    StandbyReused {
        /// The instance.
        instance: InstanceId,
        /// The standby revision it ran.
        from: Revision,
        /// The target it will run.
        to: Revision,
    },
    /// The previous stable revision stays as the warm standby, until `until` (`None`:
    /// until the next deploy replaces it).
    StandbyKept {
        /// The revision.
        revision: Revision,
        /// Until when.
        until: Option<Timestamp>,
    },
}

/// What the safety envelope held back from a plan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct HeldBack {
    /// Instances asked for that would have exceeded the peak.
    pub scale_up: u32,
    /// Instance removals asked for that would have broken the availability floor (or
    /// left a revision unable to carry its traffic).
    pub scale_down: u32,
}

/// A revision carrying more traffic than its instances carry at the floor's rate
/// (`weight × floor > instances × 100%`): it runs hot.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[non_exhaustive]
pub struct Shortfall {
    /// The revision.
    pub revision: Revision,
    /// Its share of the published table.
    pub weight: Weight,
    /// Its instances in the table.
    pub instances: u32,
    /// The instances that would carry its share at the floor's rate.
    pub needed: u32,
}

/// Users stranded by faults: a revision the plan routes users to has no instance that
/// can serve, and neither the stable nor the standby revision takes them back.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[non_exhaustive]
pub struct Emergency {
    /// The planned revisions with no instance that can serve.
    pub stranded: Vec<Revision>,
    /// Revisions carrying more than their plan gives them (the stable and standby
    /// revisions aside: users going back to them is no emergency), and how much.
    pub beyond_plan: Vec<(Revision, Weight)>,
    /// The table was emptied ([`EmergencyRouting::StopServing`](crate::spec::EmergencyRouting)):
    /// no user is served.
    pub outage: bool,
}

impl HeldBack {
    /// Whether nothing was held back.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.scale_up == 0 && self.scale_down == 0
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.kind)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventKind::PhaseChanged { from, to } => write!(f, "phase {from} -> {to}"),
            EventKind::RolloutStarted {
                revision,
                stable,
                supersedes,
            } => {
                write!(f, "rolling out {revision}")?;
                if let Some(stable) = stable {
                    write!(f, " over {stable}")?;
                }
                if let Some(old) = supersedes {
                    write!(f, ", superseding {old}")?;
                }
                Ok(())
            }
            EventKind::InstanceReady { instance } => write!(f, "{instance} is ready"),
            EventKind::InstanceAvailable { instance } => write!(f, "{instance} is available"),
            EventKind::InstanceFailed { instance, reason } => {
                write!(f, "{instance} failed: {reason}")
            }
            EventKind::ProvisionBackoff { failures, until } => {
                write!(
                    f,
                    "provisioning failed {failures} time(s) in a row; retrying at {until}"
                )
            }
            EventKind::TrafficApplied { generation } => {
                write!(f, "load balancer applied table {generation}")
            }
            EventKind::DrainTimedOut { instance } => {
                write!(f, "{instance} did not drain in time; terminating")
            }
            EventKind::InstanceTerminated { instance } => write!(f, "{instance} terminated"),
            EventKind::ProgressDeadlineExceeded { last_progress } => {
                write!(
                    f,
                    "no progress since {last_progress}: progress deadline exceeded"
                )
            }
            EventKind::InputIgnored { input, reason } => write!(f, "ignored {input}: {reason}"),
            EventKind::InternalError { detail } => {
                write!(f, "internal error (please report): {detail}")
            }
            EventKind::ClockWentBackwards { given, kept } => {
                write!(f, "clock went backwards to {given}; keeping {kept}")
            }
            EventKind::StableInferred { revision } => {
                write!(f, "several revisions found; taking {revision} as stable")
            }
            EventKind::InstanceUnhealthy { instance, failures } => {
                write!(
                    f,
                    "{instance} failed a health check ({failures} in a row); out of rotation"
                )
            }
            EventKind::TrafficAckOverdue { generation, since } => write!(
                f,
                "the load balancer has not acknowledged table {generation} (published at {since})"
            ),
            EventKind::TrafficShortfall { short } if short.is_empty() => {
                f.write_str("no revision is short of instances any more")
            }
            EventKind::TrafficShortfall { short } => {
                f.write_str("running hot: ")?;
                for (i, s) in short.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(
                        f,
                        "{sep}{} carries {} on {} instance(s), {} needed",
                        s.revision, s.weight, s.instances, s.needed
                    )?;
                }
                Ok(())
            }
            EventKind::TrafficEmergency { emergency } => {
                let names = |revisions: &mut dyn Iterator<Item = &Revision>| {
                    revisions
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                write!(
                    f,
                    "traffic emergency: {} cannot serve",
                    names(&mut emergency.stranded.iter())
                )?;
                if emergency.outage {
                    f.write_str("; no user is served (emergency routing: stop serving)")
                } else {
                    let beyond: Vec<String> = emergency
                        .beyond_plan
                        .iter()
                        .map(|(r, w)| format!("{r} +{w}"))
                        .collect();
                    write!(f, "; users beyond plan on {}", beyond.join(", "))
                }
            }
            EventKind::TrafficEmergencyOver => f.write_str("traffic emergency over"),
            EventKind::EnvelopeHeldBack { held } => write!(
                f,
                "held back by the safety envelope: {} instance(s) over the peak, {} removal(s) below the floor",
                held.scale_up, held.scale_down
            ),
            EventKind::Scaled { from, to } => write!(f, "resized from {from} to {to} instances"),
            EventKind::SpecUpdated => f.write_str("spec updated"),
            EventKind::AnalysisStarted { metrics } => {
                write!(f, "analysis started: {}", metrics.join(", "))
            }
            EventKind::AnalysisCompleted { phase, reason } => {
                write!(f, "analysis {phase:?}: {reason}")
            }
            EventKind::StepStarted { index, count, step } => {
                write!(f, "step {}/{count}: {step}", index + 1)
            }
            EventKind::ChecksStarted {
                step,
                hooks,
                analysis,
            } => {
                let mut parts = Vec::new();
                if !hooks.is_empty() {
                    parts.push(format!("hooks {}", hooks.join(", ")));
                }
                if let Some(analysis) = analysis {
                    parts.push(format!("analysis {analysis}"));
                }
                write!(f, "{step} started: {}", parts.join("; "))
            }
            EventKind::HookFinished {
                hook,
                passed,
                reason,
            } => {
                let verdict = if *passed { "passed" } else { "failed" };
                write!(f, "hook {hook} {verdict}: {reason}")
            }
            EventKind::ChecksCompleted {
                step,
                passed,
                reason,
            } => {
                let verdict = if *passed { "passed" } else { "did not pass" };
                write!(f, "{step} {verdict}: {reason}")
            }
            EventKind::StandbyReused { instance, from, to } => {
                write!(
                    f,
                    "{instance} ({from}) is reused for {to}: redeployed once drained"
                )
            }
            EventKind::StandbyKept {
                revision,
                until: Some(until),
            } => write!(f, "{revision} stays warm as the standby until {until}"),
            EventKind::StandbyKept {
                revision,
                until: None,
            } => write!(f, "{revision} stays warm as the standby"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_as_sentences() {
        let event = Event {
            at: Timestamp::from_millis(1500),
            kind: EventKind::RolloutStarted {
                revision: "v2".into(),
                stable: Some("v1".into()),
                supersedes: None,
            },
        };
        assert_eq!(event.to_string(), "t+1500ms: rolling out v2 over v1");
        let checks = |hooks: &[&str], analysis: Option<&str>| {
            EventKind::ChecksStarted {
                step: crate::strategy::StepKind::Analysis,
                hooks: hooks.iter().map(|h| (*h).to_owned()).collect(),
                analysis: analysis.map(str::to_owned),
            }
            .to_string()
        };
        // A canary's analysis step has no hooks, and says nothing of them.
        assert_eq!(
            checks(&[], Some("errors")),
            "analysis started: analysis errors"
        );
        assert_eq!(
            checks(&["smoke", "db"], Some("errors")),
            "analysis started: hooks smoke, db; analysis errors"
        );
    }

    #[cfg(feature = "serde")]
    #[test]
    fn actions_and_events_round_trip_and_refuse_unknown_fields() {
        let action = Action::Drain {
            id: ActionId(3),
            instance: "web-1".into(),
            timeout: Duration::from_secs(30),
        };
        let written = serde_json::to_string(&action).unwrap();
        assert_eq!(
            written,
            r#"{"action":"drain","id":3,"instance":"web-1","timeout":"30s"}"#
        );
        assert_eq!(serde_json::from_str::<Action>(&written).unwrap(), action);
        let event = Event {
            at: Timestamp::from_millis(5),
            kind: EventKind::DrainTimedOut {
                instance: "web-1".into(),
            },
        };
        let written = serde_json::to_string(&event).unwrap();
        assert_eq!(serde_json::from_str::<Event>(&written).unwrap(), event);

        for (doc, field) in [
            (
                r#"{"action":"drain","id":3,"instance":"web-1","timeout":"30s","grace":"5s"}"#,
                "grace",
            ),
            (
                r#"{"at":5,"kind":{"event":"drain_timed_out","instance":"web-1"},"id":1}"#,
                "id",
            ),
            (
                r#"{"at":5,"kind":{"event":"drain_timed_out","instance":"web-1","after":"30s"}}"#,
                "after",
            ),
        ] {
            let error = match doc.contains(r#""action""#) {
                true => serde_json::from_str::<Action>(doc).unwrap_err(),
                false => serde_json::from_str::<Event>(doc).unwrap_err(),
            };
            assert!(
                error
                    .to_string()
                    .contains(&format!("unknown field `{field}`")),
                "{doc}: {error}"
            );
        }
    }
}
