//! What the caller asks for: [`RolloutSpec`] and the per-strategy specs, checked up front
//! into [`SpecError`]s that say what to change.

mod blue_green;
mod bounds;
mod canary;
#[cfg(feature = "serde")]
mod document;
mod limits;
mod quantity;
#[cfg(feature = "serde")]
mod step_document;

use std::collections::{BTreeMap, BTreeSet};

pub use blue_green::{BlueGreenSpec, Checks, HookSpec, Promotion};
pub use bounds::{
    MAX_MATCH_KEYS, MAX_MATCH_VALUE_BYTES, MAX_NAME_BYTES, MAX_SPEC_DURATION, MAX_SPEC_LIST,
};
#[cfg(test)]
pub(crate) use canary::STEPS_READ;
pub use canary::{CanaryPlan, CanarySpec, CanaryStep, MAX_CANARY_STEPS};
pub(crate) use limits::check_desired;
pub use limits::{CapacityLimits, MAX_DESIRED};
pub use quantity::Quantity;
#[cfg(feature = "serde")]
pub(crate) use quantity::{max_surge, max_unavailable};

use crate::error::{SpecError, excerpt};
use crate::time::{Duration, Timestamp};

/// Kubernetes-style rolling update: replace instances batch by batch.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
#[allow(clippy::exhaustive_structs)] // Built by callers with a struct literal: a new field is a deliberate, breaking change.
pub struct RollingSpec {
    /// How many instances may exist above `desired` (rounded up; a percentage may
    /// exceed 100%, but `desired + max_surge` may not exceed twice [`MAX_DESIRED`]).
    /// Default 25%.
    #[cfg_attr(feature = "serde", serde(deserialize_with = "max_surge"))]
    pub max_surge: Quantity,
    /// How many of `desired` may be unavailable (rounded down; a percentage runs from
    /// 0% to 100%). Default 25%.
    #[cfg_attr(feature = "serde", serde(deserialize_with = "max_unavailable"))]
    pub max_unavailable: Quantity,
}

impl Default for RollingSpec {
    fn default() -> Self {
        RollingSpec {
            max_surge: Quantity::Percent(25),
            max_unavailable: Quantity::Percent(25),
        }
    }
}

/// Which strategy a rollout follows.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum StrategySpec {
    /// Replace instances in place, batch by batch.
    Rolling(RollingSpec),
    /// Build green beside blue, check it, switch all traffic at once.
    BlueGreen(BlueGreenSpec),
    /// Send a growing share of traffic to the new revision step by step, watch it,
    /// then promote or abort.
    Canary(CanarySpec),
}

impl Default for StrategySpec {
    fn default() -> Self {
        StrategySpec::Rolling(RollingSpec::default())
    }
}

impl StrategySpec {
    /// Which strategy this is, without its settings.
    #[must_use]
    pub fn kind(&self) -> StrategyKind {
        match self {
            StrategySpec::Rolling(_) => StrategyKind::Rolling,
            StrategySpec::BlueGreen(_) => StrategyKind::BlueGreen,
            StrategySpec::Canary(_) => StrategyKind::Canary,
        }
    }
}

/// The name of a strategy, for statuses, reports and logs: `rolling`, `blue-green`
/// or `canary` when displayed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum StrategyKind {
    /// [`StrategySpec::Rolling`].
    Rolling,
    /// [`StrategySpec::BlueGreen`].
    BlueGreen,
    /// [`StrategySpec::Canary`].
    Canary,
}

impl std::fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StrategyKind::Rolling => "rolling",
            StrategyKind::BlueGreen => "blue-green",
            StrategyKind::Canary => "canary",
        })
    }
}

/// What to do when a rollout makes no progress for `progress_deadline`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum OnDeadline {
    /// Say so (an event, and in the status) and keep trying, as Kubernetes does.
    #[default]
    Report,
    /// Abort: traffic back to the stable revision, new instances removed (Argo's
    /// `progressDeadlineAbort`).
    Abort,
}

/// How failed provisions are retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
#[allow(clippy::exhaustive_structs)] // Built by callers with a struct literal: a new field is a deliberate, breaking change.
pub struct ProvisionRetry {
    /// Consecutive failures tolerated before the rollout halts. Default 5.
    pub max_failures: u32,
    /// The delay after the first failure; it doubles with each further one. Default 1s.
    pub backoff_initial: Duration,
    /// The longest delay. Default 1m.
    pub backoff_max: Duration,
}

impl Default for ProvisionRetry {
    fn default() -> Self {
        ProvisionRetry {
            max_failures: 5,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_mins(1),
        }
    }
}

impl ProvisionRetry {
    /// The delay before the next attempt after `failures` consecutive failures (≥ 1).
    #[must_use]
    pub fn backoff(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(32);
        let delay = self.backoff_initial.saturating_mul(1u64 << doublings);
        delay.min(self.backoff_max)
    }
}

/// When an instance that is not yet healthy is given up on. Failed instances are
/// terminated and replaced, with the provision backoff.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
#[allow(clippy::exhaustive_structs)] // Built by callers with a struct literal: a new field is a deliberate, breaking change.
pub struct HealthSpec {
    /// Failed health checks in a row after which an instance is failed (Kubernetes'
    /// probe `failureThreshold`). A ready instance leaves rotation at its first failure
    /// and is failed at this many. Default 3.
    pub failure_threshold: u32,
    /// How long an instance may stay starting (provisioned, not yet healthy) before it
    /// is failed. Like Kubernetes' startup probe, it applies only until the instance
    /// first becomes ready; after that, `failure_threshold` decides. Default 10m.
    pub startup_timeout: Duration,
}

impl Default for HealthSpec {
    fn default() -> Self {
        HealthSpec {
            failure_threshold: 3,
            startup_timeout: Duration::from_mins(10),
        }
    }
}

/// Everything a rollout needs to know, as a caller writes it.
///
/// Check it with [`RolloutSpec::validate`]; [`Rollout::new`](crate::Rollout::new) does.
///
/// # Examples
///
/// ```
/// use cutover::{RolloutSpec, StrategySpec};
/// use cutover::spec::{Quantity, RollingSpec};
/// let spec = RolloutSpec {
///     desired: 10,
///     strategy: StrategySpec::Rolling(RollingSpec {
///         max_surge: Quantity::Percent(25),
///         max_unavailable: Quantity::Count(0),
///     }),
///     ..RolloutSpec::default()
/// };
/// let limits = spec.validate().unwrap();
/// assert_eq!((limits.max_surge(), limits.max_unavailable()), (3, 0));
/// ```
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
#[allow(clippy::exhaustive_structs)] // Built by callers with a struct literal: a new field is a deliberate, breaking change.
pub struct RolloutSpec {
    /// How many instances should serve once the rollout is done: 1 to [`MAX_DESIRED`].
    /// Default 1.
    #[cfg_attr(feature = "schema", schemars(range(min = 1, max = MAX_DESIRED)))]
    pub desired: u32,
    /// The strategy and its parameters. Default: rolling, 25% / 25%.
    #[cfg_attr(
        feature = "serde",
        serde(deserialize_with = "crate::one_key::deserialize")
    )]
    pub strategy: StrategySpec,
    /// How long an instance must stay ready before it counts as available and gets
    /// traffic. Default 0.
    pub min_ready: Duration,
    /// How long the rollout may go without progress before the deadline passes
    /// (strictly after, as Kubernetes' `progressDeadlineSeconds`); `None` (`null`)
    /// switches the deadline off. Progress is what Kubernetes counts: new instances
    /// created, instances becoming ready or available, old ones removed, a deploy or a
    /// resume. Default 10m.
    pub progress_deadline: Option<Duration>,
    /// What passing the progress deadline does. Default: report.
    pub on_progress_deadline: OnDeadline,
    /// How long a drain may take before the instance is terminated anyway. Default 30s.
    pub drain_timeout: Duration,
    /// How failed provisions are retried.
    pub provision_retry: ProvisionRetry,
    /// When an instance that is not healthy yet is failed and replaced.
    pub health: HealthSpec,
    /// An analysis that runs beside the rollout, measuring the new revision; its
    /// verdicts abort or pause the rollout as it says. Default: none.
    pub background_analysis: Option<crate::analysis::BackgroundAnalysis>,
    /// Analyses that checks and steps name (blue-green's pre- and post-promotion
    /// checks), by name. Each runs to its verdict, so every metric needs a count (or
    /// no interval). Default: none.
    pub analyses: BTreeMap<String, Vec<crate::analysis::MetricSpec>>,
    /// How long the load balancer may take to acknowledge a table before the rollout
    /// says so (an event, and in the status). The rollout keeps waiting: nothing is
    /// drained until a table without it is acknowledged. Default 1m.
    pub traffic_ack_timeout: Duration,
    /// Accept specs that may take every instance down at once (one instance and no
    /// surge, say). Default false.
    pub allow_downtime: bool,
    /// Where user traffic goes when faults leave no revision the plan routes to (nor a
    /// known-good one) with an instance that can serve. Default: to what can serve.
    pub emergency_routing: EmergencyRouting,
}

/// What the rollout does with user traffic in an emergency: every revision the plan
/// sends users to has lost all its instances to faults, and neither the stable nor the
/// standby revision can take them back (blue-green's blue gone before the switch; a
/// canary's stable revision gone). Short of that, faults never move users: planned
/// revisions that are short run hot (a [`TrafficShortfall`](crate::EventKind::TrafficShortfall)
/// event says so), and a planned revision with no instance left hands its share to the
/// known-good revisions. Either way the emergency is reported
/// ([`TrafficEmergency`](crate::EventKind::TrafficEmergency), [`Status`](crate::Status)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum EmergencyRouting {
    /// Users go to whatever can serve, the revision being rolled out included: the
    /// service stays up on a revision whose checks may not have run (its instances did
    /// pass their health checks).
    #[default]
    ServeAvailable,
    /// No user reaches a revision the plan did not send them to: the table is emptied
    /// (an outage of the whole service) until a planned or known-good revision can serve
    /// again. Routes to a revision that can serve are dropped with it.
    StopServing,
}

impl Default for RolloutSpec {
    fn default() -> Self {
        RolloutSpec {
            desired: 1,
            strategy: StrategySpec::default(),
            min_ready: Duration::ZERO,
            progress_deadline: Some(Duration::from_mins(10)),
            on_progress_deadline: OnDeadline::Report,
            drain_timeout: Duration::from_secs(30),
            provision_retry: ProvisionRetry::default(),
            health: HealthSpec::default(),
            background_analysis: None,
            analyses: BTreeMap::new(),
            traffic_ack_timeout: Duration::from_mins(1),
            allow_downtime: false,
            emergency_routing: EmergencyRouting::ServeAvailable,
        }
    }
}

impl RolloutSpec {
    /// A rolling update of `desired` instances with these limits, defaults otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use cutover::RolloutSpec;
    /// use cutover::spec::Quantity;
    /// let spec = RolloutSpec::rolling(10, Quantity::Percent(25), Quantity::Count(0));
    /// assert_eq!(spec.validate().unwrap().max_surge(), 3);
    /// ```
    #[must_use]
    pub fn rolling(desired: u32, max_surge: Quantity, max_unavailable: Quantity) -> RolloutSpec {
        RolloutSpec {
            desired,
            strategy: StrategySpec::Rolling(RollingSpec {
                max_surge,
                max_unavailable,
            }),
            ..RolloutSpec::default()
        }
    }

    /// Checks the spec and resolves its capacity limits.
    ///
    /// `desired` runs from 1 to [`MAX_DESIRED`]; a `max_unavailable` percentage from 0%
    /// to 100%; `max_surge` may be any percentage or count as long as `desired` plus the
    /// resolved surge stays within `2 * MAX_DESIRED`.
    ///
    /// # Errors
    ///
    /// The first problem found, as a [`SpecError`] that says what to change.
    pub fn validate(&self) -> Result<CapacityLimits, SpecError> {
        if self.desired == 0 {
            return Err(SpecError::ZeroDesired);
        }
        check_desired(self.desired)?;
        bounds::check(self)?;
        if let Some(deadline) = self.progress_deadline.filter(|d| *d <= self.min_ready) {
            return Err(SpecError::DeadlineTooShort {
                deadline,
                min_ready: self.min_ready,
            });
        }
        if let Some(analysis) = &self.background_analysis {
            analysis.validate(matches!(self.strategy, StrategySpec::Canary(_)))?;
            if let (crate::analysis::AnalysisStart::AtStep(step), StrategySpec::Canary(canary)) =
                (analysis.start, &self.strategy)
                && step as usize > canary.plan.len()
            {
                return Err(SpecError::InvalidCanary {
                    field: "background_analysis.start",
                    why: "background_analysis starts at a step the plan does not have",
                });
            }
        }
        if self.health.failure_threshold == 0 {
            return Err(SpecError::InvalidHealth {
                field: "failure_threshold",
                why: "failure_threshold is 0: set it to 1 or more (1 fails an instance at its first failed check)",
            });
        }
        if self.health.startup_timeout == Duration::ZERO {
            return Err(SpecError::InvalidHealth {
                field: "startup_timeout",
                why: "startup_timeout is 0, so every instance would fail before its first check: give it time to start (\"5m\")",
            });
        }
        let retry = &self.provision_retry;
        if retry.backoff_max < retry.backoff_initial {
            return Err(SpecError::BackoffInverted {
                initial: retry.backoff_initial,
                max: retry.backoff_max,
            });
        }
        let analyses = self.validate_analyses()?;
        let limits = match &self.strategy {
            StrategySpec::Rolling(rolling) => self.rolling_limits(rolling)?,
            StrategySpec::BlueGreen(blue_green) => blue_green.validate(self.desired, &analyses)?,
            StrategySpec::Canary(canary) => canary.validate(self.desired, &analyses)?,
        };
        if limits.max_unavailable() >= limits.desired() && !self.allow_downtime {
            return Err(SpecError::DowntimeRequired {
                desired: limits.desired(),
                max_surge: limits.max_surge(),
                max_unavailable: limits.max_unavailable(),
            });
        }
        Ok(limits)
    }

    /// Checks every named analysis, and returns their names: each must run to a
    /// verdict, so no metric may measure forever.
    fn validate_analyses(&self) -> Result<BTreeSet<&str>, SpecError> {
        for (name, metrics) in &self.analyses {
            let invalid = |error| SpecError::InvalidAnalysis {
                analysis: excerpt(name),
                error,
            };
            if name.is_empty() {
                return Err(invalid(crate::analysis::AnalysisSpecError::EmptyName {
                    what: "analysis",
                }));
            }
            // The same checks a run makes when it starts: metrics valid, named once.
            crate::analysis::AnalysisRun::new(Timestamp::ZERO, metrics.clone()).map_err(invalid)?;
            if let Some(metric) = metrics.iter().find(|m| m.effective_count().is_none()) {
                return Err(SpecError::OpenEndedAnalysis {
                    analysis: excerpt(name),
                    metric: excerpt(&metric.name),
                });
            }
        }
        Ok(self.analyses.keys().map(String::as_str).collect())
    }

    /// A rolling update's limits, with Kubernetes' rules.
    fn rolling_limits(&self, rolling: &RollingSpec) -> Result<CapacityLimits, SpecError> {
        let unavailable = rolling
            .max_unavailable
            .check_at_most_100("max_unavailable")?;
        surge_limits(self.desired, rolling.max_surge, unavailable)
    }
}

/// Limits from a surge and an unavailability (checked to be at most 100%), with
/// Kubernetes' rules: a rolling update's, and a canary's without a traffic router.
pub(crate) fn surge_limits(
    desired: u32,
    surge: Quantity,
    unavailable: Quantity,
) -> Result<CapacityLimits, SpecError> {
    if surge.is_zero() && unavailable.is_zero() {
        return Err(SpecError::NoProgressPossible);
    }
    CapacityLimits::resolve(desired, surge, unavailable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rolling(desired: u32, max_surge: Quantity, max_unavailable: Quantity) -> RolloutSpec {
        RolloutSpec::rolling(desired, max_surge, max_unavailable)
    }

    #[test]
    fn surge_may_exceed_100_percent_and_unavailability_may_not() {
        let limits = rolling(4, Quantity::Percent(250), Quantity::Count(0)).validate();
        assert_eq!(limits.map(|limits| limits.max_surge()), Ok(10));
        assert_eq!(
            rolling(4, Quantity::Count(1), Quantity::Percent(101)).validate(),
            Err(SpecError::PercentOutOfRange {
                field: "max_unavailable",
                percent: 101
            })
        );
    }

    #[test]
    fn desired_and_surge_are_bounded() {
        let at_max = rolling(
            MAX_DESIRED,
            Quantity::Count(MAX_DESIRED),
            Quantity::Count(0),
        );
        assert_eq!(
            at_max.validate().map(|limits| limits.max_total()),
            Ok(2 * MAX_DESIRED)
        );
        assert_eq!(
            rolling(MAX_DESIRED + 1, Quantity::Count(1), Quantity::Count(0)).validate(),
            Err(SpecError::DesiredTooLarge {
                desired: MAX_DESIRED + 1,
                max: MAX_DESIRED
            })
        );
        assert_eq!(
            rolling(u32::MAX, Quantity::Count(1), Quantity::Count(0))
                .validate()
                .unwrap_err(),
            SpecError::DesiredTooLarge {
                desired: u32::MAX,
                max: MAX_DESIRED
            }
        );
        for surge in [
            Quantity::Count(2 * MAX_DESIRED - 9),
            Quantity::Count(u32::MAX),
            Quantity::Percent(u32::MAX),
        ] {
            assert_eq!(
                rolling(10, surge, Quantity::Count(0)).validate(),
                Err(SpecError::SurgeTooLarge {
                    max_surge: surge,
                    desired: 10,
                    max: 2 * MAX_DESIRED - 10
                }),
                "{surge}"
            );
        }
        let limits = rolling(
            10,
            Quantity::Count(2 * MAX_DESIRED - 10),
            Quantity::Count(0),
        )
        .validate()
        .unwrap();
        assert_eq!(limits.max_total(), 2 * MAX_DESIRED);
    }

    #[test]
    fn kubernetes_fenceposts() {
        // (desired, surge, unavailable) -> (surge, unavailable), from the Deployment
        // controller's ResolveFenceposts.
        let cases = [
            (10, Quantity::Percent(25), Quantity::Percent(25), 3, 2),
            (1, Quantity::Percent(25), Quantity::Percent(25), 1, 0),
            (3, Quantity::Percent(0), Quantity::Percent(10), 0, 1),
            (5, Quantity::Count(2), Quantity::Count(9), 2, 5),
            (4, Quantity::Percent(100), Quantity::Percent(0), 4, 0),
        ];
        for (desired, surge, unavailable, want_surge, want_unavailable) in cases {
            let limits = CapacityLimits::resolve(desired, surge, unavailable).unwrap();
            assert_eq!(
                (limits.max_surge(), limits.max_unavailable()),
                (want_surge, want_unavailable),
                "{desired} {surge} {unavailable}"
            );
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let retry = ProvisionRetry::default();
        let secs: Vec<u64> = (1..=8)
            .map(|n| retry.backoff(n).as_millis() / 1000)
            .collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(retry.backoff(u32::MAX), Duration::from_mins(1));
    }
}
