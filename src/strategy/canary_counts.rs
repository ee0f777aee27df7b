//! Canary instance counts, as Argo Rollouts computes them (`utils/replicaset/canary.go`),
//! as pure functions a tool can call to preview a canary or compare with Argo.
//!
//! A canary carries its weight in one of two ways:
//!
//! * **Basic** (no traffic router; a plain load balancer splits by instance count): the
//!   weight is approximated by instance counts ([`canary_basic_target`]): the end
//!   state of Argo's `CalculateReplicaCountsForBasicCanary`. How the engine gets there
//!   is the core's business, within the surge and unavailability limits like every
//!   strategy's moves, not Argo's per-reconcile step; a preview of the engine's own
//!   steps runs the engine (see the simulator).
//! * **Traffic-routed** (the load balancer takes weights): the canary gets the
//!   instances its share needs and the stable revision stays full, or shrinks as its
//!   share leaves with dynamic stable scaling ([`canary_routed_replicas`]): Argo's
//!   `CalculateReplicaCountsForTrafficRoutedCanary`.
//!
//! Weights are basis points ([`Weight`]); Argo's are whole percents. For a whole
//! percent the numbers are Argo's (its tests are ported in this module's tests), except
//! where a function's docs say that `cutover` deliberately differs.

use crate::error::SpecError;
use crate::spec::check_desired;
use crate::strategy::plan::PerRole;
use crate::traffic::{TOTAL_BASIS_POINTS, Weight};

/// All traffic, in basis points, as the arithmetic below needs it.
const FULL: u64 = TOTAL_BASIS_POINTS as u64;

/// How many canary instances a `set_canary_scale` step asks for, decoupled from the
/// traffic weight (Argo's `setCanaryScale`).
///
/// # Examples
///
/// ```
/// use cutover::Weight;
/// use cutover::strategy::{CanaryScale, RoutedScaling, canary_routed_replicas};
/// // Two canary instances of ten while the canary takes no traffic yet.
/// let scale = Some(CanaryScale::Replicas(2));
/// let counts = canary_routed_replicas(10, Weight::ZERO, scale, RoutedScaling::default()).unwrap();
/// assert_eq!((counts.canary, counts.stable), (2, 10));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum CanaryScale {
    /// Exactly this many canary instances.
    Replicas(u32),
    /// This share of `desired`, rounded up.
    Weight(Weight),
    /// As many as the traffic weight needs: the same as no `set_canary_scale` at all
    /// (a step that ends an earlier `set_canary_scale`).
    MatchTrafficWeight,
}

/// Instances wanted for the canary and the stable revision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct CanaryReplicas {
    /// Canary instances.
    pub canary: u32,
    /// Stable instances.
    pub stable: u32,
}

impl CanaryReplicas {
    /// `canary` and `stable` instances (the struct may grow, so it is built this way
    /// outside the crate).
    #[must_use]
    pub fn new(canary: u32, stable: u32) -> CanaryReplicas {
        CanaryReplicas { canary, stable }
    }
}

/// How a traffic-routed canary sizes its instances besides the weight.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[allow(clippy::exhaustive_structs)] // Built by callers with a struct literal: a new field is a deliberate, breaking change.
pub struct RoutedScaling {
    /// A revision with any instances has at least this many (Argo's
    /// `minPodsPerReplicaSet`, for availability), or `desired` if that is fewer; 0 or 1
    /// sets no floor.
    pub min_instances: u32,
    /// Whether the stable revision shrinks as its share of traffic moves to the canary
    /// (Argo's `dynamicStableScale`); without it the stable revision stays at
    /// `desired` until the rollout completes.
    pub dynamic_stable_scale: bool,
    /// The weights of the last table published (sent to the load balancer, whether or
    /// not it has applied it yet), if the caller has one: with dynamic stable scaling,
    /// neither revision shrinks below what its published share needs, so instances
    /// stay until the traffic has moved off them. The engine's planner passes `None`:
    /// it never reads the table, and the core's envelope keeps the instances a
    /// published share needs.
    pub published: Option<PerRole<Weight>>,
}

/// Instances that carry `weight` of the traffic of `desired` instances: `desired ×
/// weight`, rounded up (Argo's `trafficWeightToReplicas`).
///
/// Rounding up means a revision with any share has at least one instance.
///
/// # Examples
///
/// ```
/// use cutover::Weight;
/// use cutover::strategy::instances_for_weight;
/// assert_eq!(instances_for_weight(10, Weight::from_percent(25).unwrap()), Ok(3));
/// assert_eq!(instances_for_weight(10, Weight::from_basis_points(1).unwrap()), Ok(1));
/// assert_eq!(instances_for_weight(10, Weight::ZERO), Ok(0));
/// ```
///
/// # Errors
///
/// [`SpecError::DesiredTooLarge`] for a `desired` above [`MAX_DESIRED`](crate::spec::MAX_DESIRED).
pub fn instances_for_weight(desired: u32, weight: Weight) -> Result<u32, SpecError> {
    Ok(share_of(check_desired(desired)?, weight))
}

/// `count × weight`, rounded up: [`instances_for_weight`] of any count (a `desired`
/// already checked, or a floor within it).
pub(crate) fn share_of(count: u32, weight: Weight) -> u32 {
    share_of_basis_points(count, u64::from(weight.basis_points()))
}

/// `count × basis_points / 10,000`, rounded up; `basis_points` is at most 10,000.
fn share_of_basis_points(count: u32, basis_points: u64) -> u32 {
    let instances = (u64::from(count) * basis_points.min(FULL)).div_ceil(FULL);
    // At most `count`, so it fits.
    u32::try_from(instances).unwrap_or(count)
}

/// The canary and stable counts that best approximate `weight` when a plain load
/// balancer splits traffic by instance count: the end state of a basic canary step
/// (Argo's `approximateWeightedCanaryStableReplicaCounts`).
///
/// The rounding rules:
///
/// * The total is `desired`, or `desired + 1` when `max_surge` allows one more
///   instance and that gets closer to the weight.
/// * The canary count is `desired × weight` rounded up or down, whichever share is
///   closer to `weight`; on a tie (exactly half an instance), the larger canary.
/// * For a weight strictly between 0 and 100%, neither count is 0, unless `desired`
///   is 1 and there is no surge (one instance cannot be split: below 50% it stays
///   stable, from 50% it is the canary).
/// * A weight of 0 gives `(0, desired)`; 100% gives `(desired, 0)`; `desired` 0 gives
///   `(0, 0)`.
///
/// Like Argo, the `desired + 1` candidates reuse the canary counts rounded for
/// `desired`, and between equally close candidates the first one considered wins (the
/// rounded-up canary before the rounded-down one, `desired` before `desired + 1`).
/// `cutover` compares the shares exactly, where Argo compares floating-point
/// percentages.
///
/// **Where `cutover` differs:** when the tie rule and the "neither is 0" rule exclude
/// every candidate (a weight exactly half an instance below 100%, such as 75% of 2 or
/// 90% of 5, without surge), Argo returns `(0, desired)`: no canary at all, at a weight
/// close to 100%. `cutover` takes the rounded-down canary count instead, so that the
/// rules above hold.
///
/// # Examples
///
/// ```
/// use cutover::Weight;
/// use cutover::strategy::canary_basic_target;
/// let percent = |p| Weight::from_percent(p).unwrap();
/// // 15% of 10 is 1.5 instances: a tie, so the larger canary.
/// let counts = canary_basic_target(10, percent(15), 0)?;
/// assert_eq!((counts.canary, counts.stable), (2, 8));
/// // 24% of 10: 3 of 11 (27.3%) is closer than 2 of 10 (20%) when one may surge.
/// let counts = canary_basic_target(10, percent(24), 1)?;
/// assert_eq!((counts.canary, counts.stable), (3, 8));
/// // 1% of 2 still gets one canary instance.
/// let counts = canary_basic_target(2, percent(1), 0)?;
/// assert_eq!((counts.canary, counts.stable), (1, 1));
/// # Ok::<(), cutover::SpecError>(())
/// ```
///
/// # Errors
///
/// [`SpecError::DesiredTooLarge`] for a `desired` above [`MAX_DESIRED`](crate::spec::MAX_DESIRED).
pub fn canary_basic_target(
    desired: u32,
    weight: Weight,
    max_surge: u32,
) -> Result<CanaryReplicas, SpecError> {
    Ok(basic_target(check_desired(desired)?, weight, max_surge))
}

/// [`canary_basic_target`] for a `desired` already checked.
pub(crate) fn basic_target(desired: u32, weight: Weight, max_surge: u32) -> CanaryReplicas {
    if desired == 0 {
        return CanaryReplicas::default();
    }
    let n = u64::from(desired);
    let basis_points = u64::from(weight.basis_points());
    let ceil = (n * basis_points).div_ceil(FULL);
    let floor = n * basis_points / FULL;
    // Half an instance short of both neighbours: the larger canary wins the tie.
    let tied = |total: u64| (total * basis_points) % FULL == FULL / 2;
    let zero_allowed = basis_points == 0 || basis_points == FULL || (n == 1 && max_surge == 0);

    // The candidates in Argo's order, as (canary, total).
    let mut candidates = [None; 4];
    if ceil < n || zero_allowed {
        candidates[0] = Some((ceil, n));
    }
    if !tied(n) && (floor != 0 || zero_allowed) {
        candidates[1] = Some((floor, n));
    }
    if max_surge > 0 {
        candidates[2] = Some((ceil, n + 1));
        if !tied(n + 1) && (floor != 0 || zero_allowed) {
            candidates[3] = Some((floor, n + 1));
        }
    }
    let mut best: Option<(u64, u64)> = None;
    for candidate in candidates.into_iter().flatten() {
        if best.is_none_or(|b| closer(basis_points, candidate, b)) {
            best = Some(candidate);
        }
    }
    // Only reachable without surge, at a tie just below 100%: see the docs.
    let (canary, total) = best.unwrap_or((floor, n));
    // Both are at most `desired + 1`.
    let canary = u32::try_from(canary).unwrap_or(u32::MAX);
    let stable = u32::try_from(total)
        .unwrap_or(u32::MAX)
        .saturating_sub(canary);
    CanaryReplicas { canary, stable }
}

/// Whether `a`'s canary share (canary of total) is strictly closer to `basis_points`
/// than `b`'s, compared exactly: `|a.0 / a.1 - w|` against `|b.0 / b.1 - w|`, with both
/// sides multiplied by `a.1 × b.1 × 10,000`.
fn closer(basis_points: u64, a: (u64, u64), b: (u64, u64)) -> bool {
    let distance = |(canary, total): (u64, u64)| {
        u128::from(canary * FULL).abs_diff(u128::from(basis_points * total))
    };
    distance(a) * u128::from(b.1) < distance(b) * u128::from(a.1)
}

/// Canary and stable counts of a traffic-routed canary: Argo's
/// `CalculateReplicaCountsForTrafficRoutedCanary`.
///
/// The load balancer takes weights, so instances are decoupled from the split:
///
/// * **Canary:** [`instances_for_weight`]`(desired, weight)`, or what `scale` asks for
///   (a count is taken as given; a share is rounded up like a weight), raised to
///   `scaling.min_instances` (at most `desired`, as Argo caps `minPodsPerReplicaSet`)
///   when it is not 0.
/// * **Stable:** `desired`, unless `scaling.dynamic_stable_scale`: then what its share
///   needs, `instances_for_weight(desired, 100% - weight)`, but no fewer than its
///   *published* share needs (the stable revision shrinks only after traffic has left
///   it), raised to `min_instances` (capped the same way) when not 0. On an abort, pass
///   a weight of 0: the stable revision grows back to `desired` first, while the canary
///   keeps what its published share needs until the traffic has moved back.
///
/// The surge does not bound these counts: with a full stable revision the peak is
/// `desired` plus the canary.
///
/// **Where `cutover` differs** (none of these cases is in Argo's tests):
///
/// * With dynamic stable scaling, the canary never drops below its published share,
///   as the stable revision never does. Argo holds the canary only during an abort, so
///   lowering the weight without aborting removes canary instances that still carry
///   traffic. For Argo's numbers outside an abort, publish a canary weight of 0.
/// * With dynamic stable scaling, the stable revision's share is `100% - weight` (the
///   traffic weight). Argo uses the `setCanaryScale` weight instead when there is one,
///   and 0% (a full stable revision) for a `setCanaryScale` count. For Argo's numbers,
///   pass that as `weight`; the canary does not depend on `weight` when `scale` is given.
/// * A `scale` count is never raised to `min_instances`. Argo raises it with dynamic
///   stable scaling only.
/// * Argo also takes a `setCanaryScale` weight above 100%; a [`Weight`] cannot be.
///
/// # Examples
///
/// ```
/// use cutover::Weight;
/// use cutover::strategy::{PerRole, RoutedScaling, canary_routed_replicas};
/// let percent = |p| Weight::from_percent(p).unwrap();
/// // 10 instances at 25%: three canary instances beside a full stable revision.
/// let counts = canary_routed_replicas(10, percent(25), None, RoutedScaling::default())?;
/// assert_eq!((counts.canary, counts.stable), (3, 10));
///
/// // With dynamic stable scaling, the stable revision shrinks as its traffic leaves:
/// // not before the load balancer has moved it.
/// let mut scaling = RoutedScaling { dynamic_stable_scale: true, ..Default::default() };
/// let mut published = PerRole::default();
/// (published.stable, published.target) = (percent(90), percent(10));
/// scaling.published = Some(published);
/// let counts = canary_routed_replicas(10, percent(25), None, scaling)?;
/// assert_eq!((counts.canary, counts.stable), (3, 9));
/// # Ok::<(), cutover::SpecError>(())
/// ```
///
/// # Errors
///
/// [`SpecError::DesiredTooLarge`] for a `desired` above [`MAX_DESIRED`](crate::spec::MAX_DESIRED).
pub fn canary_routed_replicas(
    desired: u32,
    weight: Weight,
    scale: Option<CanaryScale>,
    scaling: RoutedScaling,
) -> Result<CanaryReplicas, SpecError> {
    Ok(routed_replicas(
        check_desired(desired)?,
        weight,
        scale,
        scaling,
    ))
}

/// [`canary_routed_replicas`] for a `desired` already checked.
pub(crate) fn routed_replicas(
    desired: u32,
    weight: Weight,
    scale: Option<CanaryScale>,
    scaling: RoutedScaling,
) -> CanaryReplicas {
    // A floor for availability, but a revision that is meant to be gone stays gone, and
    // none needs more than the service's size (Argo caps it so too).
    let floor = scaling.min_instances.min(desired);
    let at_least_min = |count: u32| if count == 0 { 0 } else { count.max(floor) };
    let canary = match scale {
        Some(CanaryScale::Replicas(replicas)) => replicas,
        Some(CanaryScale::Weight(share)) => at_least_min(share_of(desired, share)),
        None | Some(CanaryScale::MatchTrafficWeight) => at_least_min(share_of(desired, weight)),
    };
    if !scaling.dynamic_stable_scale {
        return CanaryReplicas::new(canary, desired);
    }
    let stable_share = FULL - u64::from(weight.basis_points());
    let mut stable = share_of_basis_points(desired, stable_share);
    let mut canary = canary;
    if let Some(published) = scaling.published {
        stable = stable.max(share_of(desired, published.stable));
        canary = canary.max(at_least_min(share_of(desired, published.target)));
    }
    CanaryReplicas::new(canary, at_least_min(stable))
}

#[cfg(test)]
mod tests;
