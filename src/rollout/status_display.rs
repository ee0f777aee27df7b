//! How a [`Status`] reads to a person: a header like Argo Rollouts'
//! `kubectl argo rollouts get rollout`, one fact per line.

use std::fmt;

use crate::model::Revision;
use crate::rollout::status::{Status, Waiting};
use crate::traffic::Weight;

/// The width of the labels, so the values line up as Argo's do.
const LABEL: usize = 16;

impl fmt::Display for Status {
    /// For example, a canary waiting at its second step for the load balancer:
    ///
    /// ```text
    /// Status:         progressing
    /// Message:        canary v2, step 2/4: 10.00% of traffic on it, ...
    /// Strategy:       canary
    ///   Step:         2/4 (set weight, since t+30000ms)
    ///   SetWeight:    v2 20%
    ///   ActualWeight: v2 10%
    /// Revisions:      v1 (stable): 9 ready, 9 available, 9 in rotation, weight 90%
    ///                 v2 (target): 2 ready, 2 available, 1 in rotation, weight 10%
    /// Waiting for:    the load balancer to apply generation 4 (published at t+30000ms)
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        line(f, "Status:", &self.phase)?;
        line(f, "Message:", &self.message)?;
        line(f, "Strategy:", &self.strategy)?;
        if let (Some((index, count)), Some((kind, since))) = (self.step, self.step_kind) {
            let step = format!("{}/{count} ({kind}, since {since})", index + 1);
            line(f, "  Step:", &step)?;
        }
        if let Some(target) = &self.target {
            line(
                f,
                "  SetWeight:",
                &format!("{target} {}", weight_of(&self.planned_traffic, target)),
            )?;
            let pending = if self.split_applied {
                ""
            } else {
                " (published, not yet applied)"
            };
            line(
                f,
                "  ActualWeight:",
                &format!("{target} {}{pending}", weight_of(&self.traffic, target)),
            )?;
        }
        let mut label = "Revisions:";
        for (revision, counts) in &self.revisions {
            let role = if Some(revision) == self.target.as_ref() {
                " (target)"
            } else if Some(revision) == self.stable.as_ref() {
                " (stable)"
            } else if self
                .standby
                .as_ref()
                .is_some_and(|s| &s.revision == revision)
            {
                " (standby)"
            } else {
                ""
            };
            let text = format!(
                "{revision}{role}: {} ready, {} available, {} in rotation, weight {}",
                counts.ready(),
                counts.available,
                counts.in_rotation,
                weight_of(&self.traffic, revision),
            );
            line(f, label, &text)?;
            label = "";
        }
        for shortfall in &self.shortfall {
            let text = format!(
                "{} carries {} on {} instances ({} needed): it runs hot",
                shortfall.revision, shortfall.weight, shortfall.instances, shortfall.needed
            );
            line(f, "Shortfall:", &text)?;
        }
        if let Some(emergency) = &self.emergency {
            let stranded: Vec<String> =
                emergency.stranded.iter().map(ToString::to_string).collect();
            let text = if emergency.outage {
                format!("{} cannot serve: no user is served", stranded.join(", "))
            } else {
                format!("{} cannot serve: users go to what can", stranded.join(", "))
            };
            line(f, "Emergency:", &text)?;
        }
        let mut label = "Waiting for:";
        for waiting in &self.waiting_for {
            line(f, label, waiting)?;
            label = "";
        }
        Ok(())
    }
}

fn line(f: &mut fmt::Formatter<'_>, label: &str, value: &dyn fmt::Display) -> fmt::Result {
    writeln!(f, "{label:<LABEL$}{value}")
}

fn weight_of(split: &[(Revision, Weight)], revision: &Revision) -> Weight {
    split
        .iter()
        .find(|(r, _)| r == revision)
        .map_or(Weight::ZERO, |(_, w)| *w)
}

impl fmt::Display for Waiting {
    /// What the rollout waits for, as the end of "waiting for …".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Waiting::Provisioning { count } => write!(f, "{count} instance(s) to be provisioned"),
            Waiting::Readiness { count } => {
                write!(f, "{count} instance(s) to pass a health check")
            }
            Waiting::MinReady { until } => {
                write!(f, "ready instances to stay ready (the next at {until})")
            }
            Waiting::TrafficAck {
                generation,
                since,
                overdue,
            } => {
                write!(
                    f,
                    "the load balancer to apply generation {generation} (published at {since}"
                )?;
                f.write_str(if *overdue { ", overdue)" } else { ")" })
            }
            Waiting::Drain { count } => write!(f, "{count} drain(s) to finish"),
            Waiting::Termination { count } => write!(f, "{count} termination(s) to finish"),
            Waiting::Backoff { until } => write!(f, "the provision backoff to end at {until}"),
            Waiting::Operator => f.write_str("an operator to resume"),
            Waiting::Promotion => f.write_str("an operator to promote"),
            Waiting::Until { at } => write!(f, "the time {at}"),
            Waiting::Analysis => f.write_str("an analysis verdict"),
            Waiting::Hook => f.write_str("a hook's result"),
            Waiting::Checks => f.write_str("the step's checks to pass"),
            Waiting::Capacity { held } => write!(
                f,
                "capacity: {} instance(s) held back by the peak, {} removal(s) by the floor",
                held.scale_up, held.scale_down
            ),
        }
    }
}
