//! The canary strategy's spec ([`CanarySpec`]): its plan of steps ([`CanaryStep`]) or
//! a preset with AWS CodeDeploy's meaning ([`CanaryPlan`]), and how its weights are
//! carried, with Argo Rollouts' vocabulary where the meaning is the same.

use std::borrow::Cow;
use std::collections::BTreeSet;

use crate::analysis::OnFailure;
use crate::error::{SpecError, excerpt};
use crate::spec::{CapacityLimits, Quantity};
use crate::strategy::{CanaryScale, CanarySetting, canary_cost, share_of};
use crate::time::Duration;
use crate::traffic::{MatchCondition, Weight};

/// The most steps a canary plan may have (a preset's steps included): a plan is read
/// step by step on every call, so its length is bounded.
pub const MAX_CANARY_STEPS: usize = 1_000;

/// One step of a canary plan. After the last step the canary is promoted: all traffic
/// moves to it and the stable revision is scaled away (a step of its own in the
/// status, [`StepKind::Promote`](crate::strategy::StepKind::Promote)).
///
/// Settings (weight, scale, route, mirror) hold from their step until a later step
/// changes them.
///
/// In a document a step is an object with one key, its name: `{"set_weight": "10%"}`,
/// `{"pause": {"duration": "5m"}}` (or `{"pause": "5m"}`); an untimed pause may be
/// written `"pause"`, `{"pause": {}}` or `{"pause": null}`. See
/// [`docs::specs`](crate::docs::specs) for whole plans.
// Read by hand (`step_document.rs`): "pause" alone is a step, and a step's second key
// is refused by name.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum CanaryStep {
    /// Send this share of traffic to the canary (in documents, with a unit:
    /// `{"set_weight": "20%"}`; see [`Weight`]). Done once the canary instances to carry it are available and the table
    /// that gives it is acknowledged.
    SetWeight(Weight),
    /// Wait: for `duration`, or until [`promote`](crate::Rollout::promote) if `None`.
    Pause {
        /// How long; `None` (or absent) waits for a promotion.
        #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
        duration: Option<Duration>,
    },
    /// Run a named analysis (from [`RolloutSpec::analyses`](crate::RolloutSpec::analyses))
    /// against the canary and wait for its verdict. An inconclusive verdict pauses for
    /// a person.
    Analysis {
        /// The analysis' name.
        analysis: String,
        /// What a failed verdict does. Default: abort.
        #[cfg_attr(feature = "serde", serde(default))]
        on_failure: OnFailure,
    },
    /// Size the canary apart from its traffic weight (Argo's `setCanaryScale`): a
    /// count, a share of `desired`, or back to matching the weight.
    ///
    /// **Differs from Argo without a traffic router**: Argo ignores `setCanaryScale`
    /// there; cutover honours it, and the canary's instance count (hence its share of a
    /// load balancer that splits by count) is the scale's until a later
    /// `SetCanaryScale(MatchTrafficWeight)`. A step a person wrote is never silently
    /// dropped: what it asks for is what runs.
    SetCanaryScale(CanaryScale),
    /// Send requests that match (a header, a cookie, a list of user keys) to the canary
    /// whatever the weights, so A/B testers reach it; `None` removes the route. Needs a
    /// traffic router.
    SetRoute(Option<MatchCondition>),
    /// Copy this share of requests to the canary, responses discarded (0 stops
    /// mirroring). Needs a traffic router.
    SetMirror(Weight),
    /// Start a baseline beside the canary: fresh instances of the stable revision, as
    /// many as the canary has, serving stable traffic (instances of
    /// [`InstanceGroup::Baseline`](crate::InstanceGroup::Baseline)), so that the named
    /// analysis judges the canary against instances as young as itself rather than
    /// long-running ones, as Spinnaker's canary analysis recommends (Argo's
    /// `experiment` step with a baseline template). Its measurements ask for the
    /// baseline group ([`Action::Measure`](crate::Action::Measure)'s `baseline_group`).
    ///
    /// The duration counts, and the analysis starts, once the baseline and the canary
    /// are in place; the step is done when the duration is over *and* the analysis has
    /// passed (either may be left out, not both); the clock runs through an operator's
    /// pause. The baseline is removed as the step ends, whatever ends it (the next
    /// step, a promotion, an abort, a new deploy); a rollout paused by an operator or a
    /// failed check moves nothing, its baseline included, until it goes on.
    Experiment {
        /// How long the baseline and the canary run side by side.
        #[cfg_attr(feature = "serde", serde(default))]
        duration: Option<Duration>,
        /// The analysis' name (from
        /// [`RolloutSpec::analyses`](crate::RolloutSpec::analyses)).
        #[cfg_attr(feature = "serde", serde(default))]
        analysis: Option<String>,
        /// What a failed verdict does. Default: abort.
        #[cfg_attr(feature = "serde", serde(default))]
        on_failure: OnFailure,
    },
}

/// A canary's steps, written out or as a preset with AWS CodeDeploy's meaning. A preset
/// expands into ordinary steps (the status shows them).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "snake_case", deny_unknown_fields)
)]
#[non_exhaustive]
pub enum CanaryPlan {
    /// These steps, in order.
    Steps(Vec<CanaryStep>),
    /// All traffic at once (CodeDeploy's `AllAtOnce`): no steps before the promotion.
    AllAtOnce,
    /// `weight` for `after`, then all (CodeDeploy's `Canary10Percent5Minutes`): steps
    /// `set_weight(weight)`, `pause(after)`.
    Canary {
        /// The first share.
        weight: Weight,
        /// How long it is watched before the rest follows.
        after: Duration,
    },
    /// `weight` more every `every` until all (CodeDeploy's `Linear10PercentEvery1Minute`):
    /// `set_weight(weight)`, `pause(every)`, `set_weight(2 × weight)`, `pause(every)`, …
    /// for every multiple below 100%.
    Linear {
        /// The share added each time.
        weight: Weight,
        /// How long each share is watched.
        every: Duration,
    },
}

impl Default for CanaryPlan {
    fn default() -> Self {
        CanaryPlan::Steps(Vec::new())
    }
}

impl CanaryPlan {
    /// How many steps the plan has (the promotion after them not counted).
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            CanaryPlan::Steps(steps) => steps.len(),
            CanaryPlan::AllAtOnce => 0,
            CanaryPlan::Canary { .. } => 2,
            CanaryPlan::Linear { weight, .. } => 2 * linear_increments(*weight),
        }
    }

    /// Whether the plan has no steps (all at once).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Step `index`, if there is one (a preset's steps are made on the fly).
    #[must_use]
    pub fn step(&self, index: usize) -> Option<Cow<'_, CanaryStep>> {
        #[cfg(test)]
        STEPS_READ.with(|read| read.set(read.get() + 1));
        if index >= self.len() {
            return None;
        }
        let pause = |duration: Duration| {
            Cow::Owned(CanaryStep::Pause {
                duration: Some(duration),
            })
        };
        Some(match self {
            CanaryPlan::Steps(steps) => Cow::Borrowed(&steps[index]),
            CanaryPlan::AllAtOnce => return None,
            CanaryPlan::Canary { weight, .. } if index == 0 => {
                Cow::Owned(CanaryStep::SetWeight(*weight))
            }
            CanaryPlan::Canary { after, .. } => pause(*after),
            CanaryPlan::Linear { weight, .. } if index.is_multiple_of(2) => {
                let times = (index / 2 + 1) as u64;
                let bp = (u64::from(weight.basis_points()) * times).min(10_000);
                Cow::Owned(CanaryStep::SetWeight(
                    Weight::from_basis_points(bp).unwrap_or(Weight::FULL),
                ))
            }
            CanaryPlan::Linear { every, .. } => pause(*every),
        })
    }

    /// Whether every step that sets something sets a weight (a preset's steps).
    pub(crate) fn sets_only_weights(&self) -> bool {
        !matches!(self, CanaryPlan::Steps(_))
    }

    /// Every step, in order.
    pub fn steps(&self) -> impl Iterator<Item = Cow<'_, CanaryStep>> {
        (0..self.len()).filter_map(|i| self.step(i))
    }
}

#[cfg(test)]
thread_local! {
    /// Steps read by [`CanaryPlan::step`] on this thread: tests count them to show that
    /// planning reads a plan a bounded number of times per step, not once per step per
    /// step.
    pub(crate) static STEPS_READ: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How many multiples of `weight` lie strictly below 100%: a linear preset's weight
/// steps.
fn increments(weight: Weight) -> usize {
    match weight.basis_points() {
        0 => 0,
        bp => usize::from(10_000u16.div_ceil(bp)) - 1,
    }
}

/// [`increments`], bounded so that a tiny weight cannot make an unbounded plan
/// (validation refuses it).
fn linear_increments(weight: Weight) -> usize {
    increments(weight).min(MAX_CANARY_STEPS)
}

/// Canary: send a growing share of traffic to the new revision step by step, watch it,
/// then promote it or abort back to the stable revision.
///
/// With `traffic_routing` the load balancer takes weights: the canary gets the
/// instances its share needs ([`canary_routed_replicas`](crate::strategy::canary_routed_replicas))
/// and the stable revision stays full (or shrinks with `dynamic_stable_scale`). Without
/// it, a plain load balancer splits by instance count, and the weight is approximated
/// by instance counts within `max_surge` and `max_unavailable`
/// ([`canary_basic_target`](crate::strategy::canary_basic_target)). [`canary_cost`] gives the
/// peak either way.
///
/// # Examples
///
/// ```
/// use cutover::{Duration, RolloutSpec, StrategySpec, Weight};
/// use cutover::spec::{CanaryPlan, CanarySpec, CanaryStep};
/// let spec = RolloutSpec {
///     desired: 10,
///     strategy: StrategySpec::Canary(CanarySpec {
///         plan: CanaryPlan::Steps(vec![
///             CanaryStep::SetWeight(Weight::from_percent(10).unwrap()),
///             CanaryStep::Pause { duration: Some(Duration::from_mins(5)) },
///             CanaryStep::SetWeight(Weight::from_percent(50).unwrap()),
///             CanaryStep::Pause { duration: None },
///         ]),
///         ..CanarySpec::default()
///     }),
///     ..RolloutSpec::default()
/// };
/// // Traffic-routed, stable stays full: at the promotion the canary is full beside it.
/// assert_eq!(spec.validate().unwrap().max_total(), 20);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
#[allow(clippy::exhaustive_structs)] // Built by callers with a struct literal: a new field is a deliberate, breaking change.
pub struct CanarySpec {
    /// The steps, or a preset. Default: none (all at once).
    #[cfg_attr(
        feature = "serde",
        serde(deserialize_with = "crate::one_key::deserialize")
    )]
    pub plan: CanaryPlan,
    /// Whether the load balancer takes weights (a traffic router: Envoy, HAProxy with
    /// weights, a cloud load balancer). Without one, traffic follows instance counts.
    /// Default true.
    pub traffic_routing: bool,
    /// Without a traffic router: instances allowed above `desired` (Kubernetes'
    /// rounding). Default 25%.
    #[cfg_attr(feature = "serde", serde(deserialize_with = "crate::spec::max_surge"))]
    pub max_surge: Quantity,
    /// Instances of `desired` allowed to be unavailable. Default 25%.
    #[cfg_attr(
        feature = "serde",
        serde(deserialize_with = "crate::spec::max_unavailable")
    )]
    pub max_unavailable: Quantity,
    /// With a traffic router: a revision with any instances has at least this many
    /// (Argo's `minPodsPerReplicaSet`). Default 0 (no floor).
    pub min_instances: u32,
    /// With a traffic router: the stable revision shrinks as its share of traffic moves
    /// to the canary, and grows back before traffic returns on an abort (Argo's
    /// `dynamicStableScale`). Default false.
    pub dynamic_stable_scale: bool,
    /// With a traffic router and a full stable revision: how long the canary's
    /// instances stay (at weight 0) after an abort, for debugging; `None` keeps them
    /// until the next deploy. Without a traffic router, or with dynamic stable scaling,
    /// they carry traffic by count and go as the stable revision returns. Default 30s.
    ///
    /// **Differs from Argo's `abortScaleDownDelaySeconds` at zero**: Argo reads `0` as
    /// "never scale down"; here a zero delay is no delay (the canary goes at once) and
    /// "never" is spelled `None` (`null` in a document), so that no number means its
    /// opposite.
    pub abort_scale_down_delay: Option<Duration>,
}

impl Default for CanarySpec {
    fn default() -> Self {
        CanarySpec {
            plan: CanaryPlan::default(),
            traffic_routing: true,
            max_surge: Quantity::Percent(25),
            max_unavailable: Quantity::Percent(25),
            min_instances: 0,
            dynamic_stable_scale: false,
            abort_scale_down_delay: Some(Duration::from_secs(30)),
        }
    }
}

impl CanarySpec {
    /// A canary that follows `plan`, with the defaults otherwise.
    #[must_use]
    pub fn with_plan(plan: CanaryPlan) -> Self {
        CanarySpec {
            plan,
            ..CanarySpec::default()
        }
    }

    /// Whether a kept canary may stay after an abort: only beside a full stable revision
    /// behind a traffic router, where it can sit at weight 0.
    #[must_use]
    pub fn keeps_aborted_canary(&self) -> bool {
        self.traffic_routing && !self.dynamic_stable_scale
    }

    /// Checks the plan against `desired` and the named `analyses`, and resolves the
    /// capacity limits: Kubernetes' fenceposts without a traffic router; the peak
    /// [`canary_cost`] states with one.
    pub(crate) fn validate(
        &self,
        desired: u32,
        analyses: &BTreeSet<&str>,
    ) -> Result<CapacityLimits, SpecError> {
        let unavailable = self.max_unavailable.check_at_most_100("max_unavailable")?;
        self.validate_plan(analyses)?;
        if self.min_instances > desired {
            return Err(SpecError::InvalidCanary {
                field: "strategy.canary.min_instances",
                why: "min_instances is larger than desired: no revision could have that many",
            });
        }
        let surge = if self.traffic_routing {
            None
        } else {
            let limits = crate::spec::surge_limits(desired, self.max_surge, unavailable)?;
            Some(limits.max_surge())
        };
        self.check_scales(desired, surge)?;
        // The peak: Kubernetes' surge without a traffic router, and room for the largest
        // experiment baseline either way.
        let cost = canary_cost(self, desired)?;
        CapacityLimits::new(
            desired,
            cost.peak - desired,
            desired - cost.min_available,
        )
        .map_err(|error| match error {
            SpecError::SurgeTooLarge { .. } => SpecError::InvalidCanary {
                field: "strategy.canary",
                why: "its peak (the stable revision, the canary and an experiment's baseline beside them) would pass twice MAX_DESIRED instances: lower desired, or the weight of the experiment steps",
            },
            error => error,
        })
    }

    fn validate_plan(&self, analyses: &BTreeSet<&str>) -> Result<(), SpecError> {
        match self.plan {
            CanaryPlan::Canary { weight, .. } | CanaryPlan::Linear { weight, .. }
                if weight == Weight::ZERO || weight == Weight::FULL =>
            {
                return Err(SpecError::InvalidCanary {
                    field: "strategy.canary.plan",
                    why: "a preset's weight must be above 0% and below 100%",
                });
            }
            CanaryPlan::Linear { weight, .. } if 2 * increments(weight) > MAX_CANARY_STEPS => {
                return Err(SpecError::TooManySteps {
                    count: 2 * increments(weight),
                    max: MAX_CANARY_STEPS,
                });
            }
            CanaryPlan::Steps(ref steps) if steps.len() > MAX_CANARY_STEPS => {
                return Err(SpecError::TooManySteps {
                    count: steps.len(),
                    max: MAX_CANARY_STEPS,
                });
            }
            _ => {}
        }
        let mut full = false;
        // The settings in force, carried from step to step.
        let mut setting = CanarySetting::default();
        for (index, step) in self.plan.steps().enumerate() {
            let invalid = |why| SpecError::InvalidCanaryStep { step: index, why };
            setting.apply(&step);
            match step.as_ref() {
                CanaryStep::SetWeight(weight) => {
                    if full && *weight != Weight::FULL {
                        return Err(invalid(
                            "it lowers the weight after a step sent all traffic to the canary: end the plan at 100%, or abort instead",
                        ));
                    }
                    full = *weight == Weight::FULL;
                }
                CanaryStep::Pause { .. } => {}
                CanaryStep::Experiment {
                    duration, analysis, ..
                } => {
                    if duration.is_none() && analysis.is_none() {
                        return Err(invalid(
                            "an experiment needs a duration or an analysis to end it",
                        ));
                    }
                    if full {
                        return Err(invalid(
                            "it runs an experiment after a step sent all traffic to the canary: the baseline would serve nothing",
                        ));
                    }
                    if setting.weight.is_zero() && !setting.reaches_canary() {
                        return Err(invalid(
                            "it runs an experiment while no traffic reaches the canary: set a weight, a route or a mirror first",
                        ));
                    }
                    if let Some(analysis) = analysis
                        && !analyses.contains(analysis.as_str())
                    {
                        return Err(SpecError::UnknownAnalysis {
                            stage: "a canary experiment step",
                            name: excerpt(analysis),
                        });
                    }
                }
                CanaryStep::Analysis { analysis, .. } => {
                    if !analyses.contains(analysis.as_str()) {
                        return Err(SpecError::UnknownAnalysis {
                            stage: "a canary analysis step",
                            name: excerpt(analysis),
                        });
                    }
                }
                CanaryStep::SetCanaryScale(_) if full => {
                    return Err(invalid(
                        "it sizes the canary after a step sent it all traffic: the canary is then full size",
                    ));
                }
                CanaryStep::SetCanaryScale(_) => {}
                CanaryStep::SetRoute(route) => {
                    if route.is_some() && !self.traffic_routing {
                        return Err(invalid(
                            "a match route needs a traffic router: set traffic_routing, or remove the step",
                        ));
                    }
                    if route.is_some() && full {
                        return Err(invalid(
                            "it routes to the canary after a step sent it all traffic",
                        ));
                    }
                    if let Some(route) = route {
                        route
                            .clone()
                            .normalized()
                            .map_err(|_| invalid("its header or cookie name is empty"))?;
                    }
                }
                CanaryStep::SetMirror(share) => {
                    if *share != Weight::ZERO && !self.traffic_routing {
                        return Err(invalid(
                            "a mirror needs a traffic router: set traffic_routing, or remove the step",
                        ));
                    }
                    if *share != Weight::ZERO && full {
                        return Err(invalid(
                            "it mirrors to the canary after a step sent it all traffic",
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Refuses a `set_canary_scale` larger than the service, or, without a traffic
    /// router, larger than the surge (the stable revision stays full beside it).
    fn check_scales(&self, desired: u32, surge: Option<u32>) -> Result<(), SpecError> {
        for (index, step) in self.plan.steps().enumerate() {
            let replicas = match step.as_ref() {
                CanaryStep::SetCanaryScale(CanaryScale::Replicas(n)) => *n,
                CanaryStep::SetCanaryScale(CanaryScale::Weight(w)) => share_of(desired, *w),
                _ => continue,
            };
            let max = surge.unwrap_or(desired);
            if replicas > max {
                return Err(SpecError::CanaryScaleTooLarge {
                    step: index,
                    replicas,
                    max,
                    why: if surge.is_some() {
                        "without a traffic router the canary sits beside a full stable revision, within max_surge"
                    } else {
                        "the canary is at most the service's size"
                    },
                });
            }
        }
        Ok(())
    }
}
