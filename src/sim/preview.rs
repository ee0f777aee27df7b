//! Plan previews: a spec run in an ideal (or a given) simulated world, step by step,
//! shown like Argo's `Step: 2/5 SetWeight 20 ActualWeight 20`; and the three
//! strategies side by side for one fleet.

use std::fmt::{self, Write as _};

use super::report::Report;
use super::run::Simulation;
use super::settings::{Behaviour, Settings};
use crate::analysis::{MetricCheck, MetricSpec};
use crate::error::SpecError;
use crate::model::{InstanceState, Revision};
use crate::spec::{
    BlueGreenSpec, CanaryPlan, CanarySpec, CanaryStep, RolloutSpec, StrategyKind, StrategySpec,
};
use crate::time::{Duration, Timestamp};

/// One step of a previewed plan, as it stood when the step ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct PlanRow {
    /// The step, from 1.
    pub step: u32,
    /// How many steps the plan has.
    pub of: u32,
    /// The step's kind, as Argo names it.
    pub kind: String,
    /// The weight the rollout asked for the new revision, in basis points.
    pub set_weight: u16,
    /// The weight the load balancer applied to it, in basis points.
    pub actual_weight: u16,
    /// Instances per revision (alive: provisioning, starting, ready or draining).
    pub instances: Vec<(Revision, usize)>,
    /// The most instances alive so far.
    pub peak: usize,
    /// The fewest ready instances so far.
    pub min_ready: usize,
    /// When the step ended, from the deploy.
    pub at: Duration,
}

impl fmt::Display for PlanRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let weight = |bp: u16| {
            if bp.is_multiple_of(100) {
                (bp / 100).to_string()
            } else {
                format!("{:.2}", f64::from(bp) / 100.0)
            }
        };
        let instances: Vec<String> = self
            .instances
            .iter()
            .map(|(r, n)| format!("{r}={n}"))
            .collect();
        write!(
            f,
            "Step: {}/{} {:<14} SetWeight {:>3} ActualWeight {:>3}  instances {:<12} peak {} min ready {}  at {}",
            self.step,
            self.of,
            self.kind,
            weight(self.set_weight),
            weight(self.actual_weight),
            instances.join(" "),
            self.peak,
            self.min_ready,
            self.at
        )
    }
}

/// A previewed plan: the steps, and the run they come from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Preview {
    /// The plan, one row per step.
    pub rows: Vec<PlanRow>,
    /// The whole run (its duration is the plan's expected duration).
    pub report: Report,
}

impl fmt::Display for Preview {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for row in &self.rows {
            writeln!(f, "{row}")?;
        }
        write!(
            f,
            "expected duration {}, peak {} instances, min ready {}",
            self.report.duration, self.report.peak_instances, self.report.min_ready
        )
    }
}

/// Runs `spec` from `v1` to `v2` in `settings` (an ideal world if `None`: no faults,
/// an operator who promotes a paused rollout after a minute) and returns its plan,
/// step by step.
///
/// # Examples
///
/// ```
/// use cutover::sim::preview;
/// use cutover::spec::{CanaryPlan, CanarySpec, CanaryStep};
/// use cutover::{Duration, RolloutSpec, StrategySpec, Weight};
///
/// let steps = vec![
///     CanaryStep::SetWeight(Weight::from_percent(20)?),
///     CanaryStep::Pause { duration: Some(Duration::from_secs(30)) },
///     CanaryStep::SetWeight(Weight::from_percent(60)?),
/// ];
/// let canary = CanarySpec { traffic_routing: true, ..CanarySpec::with_plan(CanaryPlan::Steps(steps)) };
/// let spec = RolloutSpec { desired: 5, strategy: StrategySpec::Canary(canary), ..RolloutSpec::default() };
/// let plan = preview(&spec, None)?;
/// let first = plan.rows[0].to_string();
/// assert!(first.starts_with("Step: 1/4 SetWeight"), "{first}");
/// assert!(first.contains("SetWeight  20 ActualWeight  20"), "{first}");
/// println!("{plan}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// The spec is not valid for its fleet.
pub fn preview(spec: &RolloutSpec, settings: Option<&Settings>) -> Result<Preview, SpecError> {
    let settings = settings.cloned().unwrap_or_else(|| {
        let mut ideal = Settings::ideal();
        ideal.requests_per_second = 0;
        ideal
    });
    let report = Simulation::new(spec.clone(), settings, 0).run()?;
    let target = Revision::from("v2");
    let rows = &report.timeline.rows;
    let mut plan: Vec<PlanRow> = Vec::new();
    let (mut peak, mut min_ready) = (0, usize::MAX);
    for (k, row) in rows.iter().enumerate() {
        let alive = |r: &super::report::RevisionRow| {
            r.instances.iter().sum::<usize>()
                - r.instances[InstanceState::Terminated.index()]
                - r.instances[InstanceState::Failed.index()]
        };
        peak = peak.max(row.revisions.iter().map(alive).sum());
        min_ready = min_ready.min(
            row.revisions
                .iter()
                .map(|r| r.instances[InstanceState::Ready.index()])
                .sum(),
        );
        let Some((index, of)) = row.step else {
            continue;
        };
        // A step is shown as it stood when it ended: the weight it asked for, and the
        // weight applied when the next one began (a step ends once its table is
        // applied; the next one's reaches the load balancer later).
        let next = rows.get(k + 1);
        if next.is_some_and(|next| next.step == row.step) {
            continue;
        }
        let weight = |row: &super::report::Row, f: fn(&super::report::RevisionRow) -> u16| {
            row.revisions
                .iter()
                .find(|r| r.revision == target)
                .map_or(0, f)
        };
        plan.push(PlanRow {
            step: index + 1,
            of,
            kind: row.step_kind.clone().unwrap_or_default(),
            set_weight: weight(row, |r| r.requested),
            actual_weight: weight(next.unwrap_or(row), |r| r.applied),
            instances: row
                .revisions
                .iter()
                .map(|r| (r.revision.clone(), alive(r)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            peak,
            min_ready,
            at: row.at.saturating_duration_since(Timestamp::ZERO),
        });
    }
    Ok(Preview { rows: plan, report })
}

/// The three strategies' specs [`compare`] uses for a fleet of `desired`: a rolling
/// update (25% surge, 25% unavailable), blue-green (promoted at once), and a canary
/// behind a traffic router (10%, a judged latency analysis, 50%, all) whose judge
/// catches a bad version.
#[must_use]
pub fn standard_specs(desired: u32) -> [RolloutSpec; 3] {
    let rolling = RolloutSpec {
        desired,
        ..RolloutSpec::default()
    };
    let blue_green = RolloutSpec {
        desired,
        strategy: StrategySpec::BlueGreen(BlueGreenSpec::default()),
        ..RolloutSpec::default()
    };
    let percent = |p| crate::traffic::Weight::from_percent(p).unwrap_or_default();
    let steps = vec![
        CanaryStep::SetWeight(percent(10)),
        CanaryStep::Analysis {
            analysis: "latency".into(),
            on_failure: Default::default(),
        },
        CanaryStep::SetWeight(percent(50)),
        CanaryStep::Pause {
            duration: Some(Duration::from_secs(30)),
        },
    ];
    let canary = CanarySpec {
        traffic_routing: true,
        ..CanarySpec::with_plan(CanaryPlan::Steps(steps))
    };
    let mut canary = RolloutSpec {
        desired,
        strategy: StrategySpec::Canary(canary),
        ..RolloutSpec::default()
    };
    let mut latency = MetricSpec::new("p99-latency", MetricCheck::Judge(Default::default()));
    latency.interval = Some(Duration::from_secs(10));
    latency.count = Some(3);
    canary.analyses.insert("latency".into(), vec![latency]);
    [rolling, blue_green, canary]
}

/// One strategy's side of the trade-off, for one fleet.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Trade {
    /// The strategy.
    pub strategy: StrategyKind,
    /// Instances beyond `desired` at the peak.
    pub extra_instances: usize,
    /// How long two revisions served users side by side.
    pub mixed_window: Duration,
    /// How long a good rollout takes.
    pub duration: Duration,
    /// From an operator's abort half-way through (a rollback, if it had completed by
    /// then) to all traffic on the previous revision.
    pub rollback_time: Option<Duration>,
    /// Of a bad version's rollout (stopped by its own analysis, or by an operator who
    /// aborts or rolls back after 10 failed requests): the requests that reached the
    /// bad version, and all sent.
    pub exposed: (u64, u64),
}

/// The three strategies side by side for one fleet: the seed's trade-off table with
/// this fleet's numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Comparison {
    /// The fleet's size.
    pub desired: u32,
    /// One row per strategy.
    pub trades: Vec<Trade>,
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<11} {:>15} {:>21} {:>10} {:>17} {:>32}",
            "strategy",
            "extra instances",
            "mixed-version window",
            "duration",
            "time to roll back",
            "users exposed to a bad version"
        )?;
        for t in &self.trades {
            let rollback = t
                .rollback_time
                .map_or_else(|| "-".to_owned(), |d| d.to_string());
            let mut exposed = String::new();
            let (to_bad, sent) = t.exposed;
            let share = if sent == 0 {
                0.0
            } else {
                to_bad as f64 * 100.0 / sent as f64
            };
            let _ = write!(exposed, "{to_bad} of {sent} requests ({share:.1}%)");
            writeln!(
                f,
                "{:<11} {:>15} {:>21} {:>10} {:>17} {:>32}",
                t.strategy.to_string(),
                format!("+{}", t.extra_instances),
                t.mixed_window.to_string(),
                t.duration.to_string(),
                rollback,
                exposed
            )?;
        }
        Ok(())
    }
}

/// Compares `specs` (say [`standard_specs`]) in `settings`, three runs each: a good
/// version (extra instances, mixed-version window, duration), an abort half-way
/// (time to roll back), and a bad version (users exposed).
///
/// # Errors
///
/// A spec is not valid for its fleet.
pub fn compare(
    specs: &[RolloutSpec],
    settings: &Settings,
    seed: u64,
) -> Result<Comparison, SpecError> {
    let mut trades = Vec::new();
    for spec in specs {
        let good = Simulation::new(spec.clone(), settings.clone(), seed)
            .timeline(false)
            .run()?;
        let mut halfway = settings.clone();
        halfway.operator.abort_at = Some(Duration::from_millis(good.duration.as_millis() / 2));
        let aborted = Simulation::new(spec.clone(), halfway, seed)
            .timeline(false)
            .run()?;
        let mut bad = settings.clone().with_behaviour("v2", Behaviour::bad());
        bad.operator.abort_after_failures = Some(10);
        let bad = Simulation::new(spec.clone(), bad, seed)
            .timeline(false)
            .run()?;
        trades.push(Trade {
            strategy: spec.strategy.kind(),
            extra_instances: good.peak_instances.saturating_sub(spec.desired as usize),
            mixed_window: good.mixed_window,
            duration: good.duration,
            rollback_time: aborted.rollback_time,
            exposed: (bad.to_target, bad.requests),
        });
    }
    Ok(Comparison {
        desired: specs.first().map_or(0, |s| s.desired),
        trades,
    })
}
