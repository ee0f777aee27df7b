//! The blue-green strategy's spec ([`BlueGreenSpec`]) and the checks it runs against
//! green ([`Checks`], [`HookSpec`]), with Argo Rollouts' vocabulary where the meaning is
//! the same.

use std::collections::BTreeSet;

use crate::error::SpecError;
use crate::spec::{CapacityLimits, Quantity};
use crate::time::Duration;
use crate::traffic::MatchCondition;

/// A hook the caller runs against a revision (a smoke test, a migration check): an
/// [`Action::RunHook`](crate::Action::RunHook) out, an
/// [`Input::HookResult`](crate::Input::HookResult) back. No answer within `timeout`
/// counts as a failure.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[allow(clippy::exhaustive_structs)] // Built by callers with a struct literal: a new field is a deliberate, breaking change.
pub struct HookSpec {
    /// The hook's name, unique among the checks of one stage; the caller maps it to
    /// what to run.
    pub name: String,
    /// How long the hook may take. Required: a hook that never answers must not hold
    /// the rollout forever.
    pub timeout: Duration,
}

impl HookSpec {
    /// A hook named `name` that must answer within `timeout`.
    #[must_use]
    pub fn new(name: impl Into<String>, timeout: Duration) -> Self {
        HookSpec {
            name: name.into(),
            timeout,
        }
    }
}

/// What must pass before a stage of a rollout goes on: hooks the caller runs, and an
/// analysis (named in [`RolloutSpec::analyses`](crate::RolloutSpec::analyses)) run to
/// its verdict. Both run at once; the stage waits for all of them, and the first
/// failure fails the checks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
#[allow(clippy::exhaustive_structs)] // Built by callers with a struct literal: a new field is a deliberate, breaking change.
pub struct Checks {
    /// Hooks to run.
    pub hooks: Vec<HookSpec>,
    /// The name of an analysis in the rollout spec's `analyses`.
    pub analysis: Option<String>,
}

impl Checks {
    /// Whether there is nothing to check.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.hooks.is_empty() && self.analysis.is_none()
    }

    /// Checks names, timeouts and the analysis reference (`analyses` holds the names
    /// the rollout spec defines). `stage` names the checks in errors.
    pub(crate) fn validate(
        &self,
        stage: &'static str,
        analyses: &BTreeSet<&str>,
    ) -> Result<(), SpecError> {
        let mut names = BTreeSet::new();
        for hook in &self.hooks {
            if hook.name.is_empty() {
                return Err(SpecError::InvalidHook {
                    stage,
                    hook: String::new(),
                    why: "it has no name: name every hook",
                });
            }
            if hook.timeout == Duration::ZERO {
                return Err(SpecError::InvalidHook {
                    stage,
                    hook: crate::error::excerpt(&hook.name),
                    why: "its timeout is 0, so it would fail before it could answer: give it time (\"5m\")",
                });
            }
            if !names.insert(hook.name.as_str()) {
                return Err(SpecError::InvalidHook {
                    stage,
                    hook: crate::error::excerpt(&hook.name),
                    why: "it is listed twice: give each hook its own name",
                });
            }
        }
        if let Some(name) = &self.analysis
            && !analyses.contains(name.as_str())
        {
            return Err(SpecError::UnknownAnalysis {
                stage,
                name: crate::error::excerpt(name),
            });
        }
        Ok(())
    }
}

/// When green is promoted (traffic switched to it) once it is ready and its
/// pre-promotion checks passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Promotion {
    /// By itself, this long after green is ready and checked (Argo's
    /// `autoPromotionSeconds`; zero switches at once, Argo's default).
    Auto(Duration),
    /// Only when an operator calls [`promote`](crate::Rollout::promote) (Argo's
    /// `autoPromotionEnabled: false`).
    Manual,
}

impl Default for Promotion {
    fn default() -> Self {
        Promotion::Auto(Duration::ZERO)
    }
}

/// Blue-green: build a full copy of the service in the new revision (green) beside the
/// running one (blue), check it without touching users, switch all traffic in one table
/// update, keep blue warm for an instant rollback, then scale it down or keep it as the
/// standby.
///
/// The cost is up to twice the instances ([`blue_green_cost`](crate::strategy::blue_green_cost)
/// says exactly how many); `max_unavailable` trades some of that for capacity.
///
/// # Examples
///
/// ```
/// use cutover::{Duration, RolloutSpec, StrategySpec};
/// use cutover::spec::{BlueGreenSpec, Checks, HookSpec, Promotion};
/// let spec = RolloutSpec {
///     desired: 4,
///     strategy: StrategySpec::BlueGreen(BlueGreenSpec {
///         preview_replicas: Some(1),
///         pre_promotion: Checks { hooks: vec![HookSpec::new("smoke", Duration::from_mins(5))], analysis: None },
///         promotion: Promotion::Manual,
///         ..BlueGreenSpec::default()
///     }),
///     ..RolloutSpec::default()
/// };
/// let limits = spec.validate().unwrap();
/// assert_eq!(limits.max_total(), 8); // blue and green side by side at full size
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
#[allow(clippy::exhaustive_structs)] // Built by callers with a struct literal: a new field is a deliberate, breaking change.
pub struct BlueGreenSpec {
    /// Green's size while in preview, through its pre-promotion checks and until it is
    /// promoted, as Argo's `previewReplicaCount`: a manual promotion that waits costs
    /// these instances, not a second fleet. After the promotion green grows to
    /// `desired`, and the switch waits for it. `None` (the default) builds it at full
    /// size from the start, so that the switch follows the promotion at once.
    pub preview_replicas: Option<u32>,
    /// How many blue instances may be given up while green is built, when twice the
    /// instances is more than there is room for: a count, or a percentage of `desired`
    /// rounded down, as Argo's blue-green reads it (no Kubernetes both-zero rule). The
    /// peak is then `2 * desired - max_unavailable`. Default 0: blue stays whole.
    #[cfg_attr(
        feature = "serde",
        serde(deserialize_with = "crate::spec::max_unavailable")
    )]
    pub max_unavailable: Quantity,
    /// A match route (a header or a cookie) that sends testers and checks to green
    /// before the switch, while the weights stay all on blue. Default: none.
    pub preview_route: Option<MatchCondition>,
    /// Checks run against green once it is ready, before the switch.
    pub pre_promotion: Checks,
    /// Checks run after the switch; a failure switches back to blue in one update.
    pub post_promotion: Checks,
    /// When the switch happens once green is ready and checked. Default: at once.
    #[cfg_attr(
        feature = "serde",
        serde(deserialize_with = "crate::one_key::deserialize")
    )]
    pub promotion: Promotion,
    /// How long blue stays warm (ready, in the table at weight 0) after the rollout
    /// completes, for an instant rollback. Default 30s (Argo's `scaleDownDelaySeconds`).
    ///
    /// **Differs from Argo in when it starts**: Argo counts from the switch, so a
    /// post-promotion analysis longer than the delay runs with blue already gone and a
    /// failure can no longer switch back in one update. Here blue is kept through the
    /// post-promotion checks and the delay counts from completion: the instant rollback
    /// the checks exist for is always there while they run.
    pub scale_down_delay: Duration,
    /// How long green stays after an abort (for debugging); `None` keeps it until the
    /// next deploy. Default 30s.
    ///
    /// **Differs from Argo's `abortScaleDownDelaySeconds` at zero**: Argo reads `0` as
    /// "never scale down"; here a zero delay is no delay (green goes at once) and
    /// "never" is spelled `None` (`null` in a document), so that no number means its
    /// opposite.
    pub abort_scale_down_delay: Option<Duration>,
    /// Keep blue as the warm standby after `scale_down_delay` instead of removing it:
    /// a rollback to it stays one table update, and a deploy of its revision reuses it.
    /// Default false.
    pub keep_standby: bool,
}

impl Default for BlueGreenSpec {
    fn default() -> Self {
        BlueGreenSpec {
            preview_replicas: None,
            max_unavailable: Quantity::Count(0),
            preview_route: None,
            pre_promotion: Checks::default(),
            post_promotion: Checks::default(),
            promotion: Promotion::default(),
            scale_down_delay: Duration::from_secs(30),
            abort_scale_down_delay: Some(Duration::from_secs(30)),
            keep_standby: false,
        }
    }
}

impl BlueGreenSpec {
    /// Checks the spec against `desired` and resolves its capacity limits: the peak is
    /// `2 * desired - max_unavailable`, the floor `desired - max_unavailable`.
    pub(crate) fn validate(
        &self,
        desired: u32,
        analyses: &BTreeSet<&str>,
    ) -> Result<CapacityLimits, SpecError> {
        let unavailable = self.max_unavailable.check_at_most_100("max_unavailable")?;
        if let Some(preview) = self.preview_replicas
            && preview > desired
        {
            return Err(SpecError::PreviewTooLarge { preview, desired });
        }
        if let Some(route) = &self.preview_route {
            if matches!(route, MatchCondition::KeyIn { .. }) {
                return Err(SpecError::InvalidPreviewRoute {
                    why: "a key allow-list routes users, not testers: use a header or cookie match",
                });
            }
            route
                .clone()
                .normalized()
                .map_err(|_| SpecError::InvalidPreviewRoute {
                    why: "its header or cookie name is empty",
                })?;
        }
        self.pre_promotion.validate("pre_promotion", analyses)?;
        self.post_promotion.validate("post_promotion", analyses)?;
        let max_unavailable = unavailable.resolve(desired, false)?.min(desired);
        CapacityLimits::new(desired, desired - max_unavailable, max_unavailable)
    }
}
