//! Rolling update arithmetic, as Kubernetes' Deployment controller does it
//! (`pkg/controller/deployment/rolling.go`), as pure functions a tool can call to preview
//! a rollout.

use crate::spec::{CapacityLimits, RollingSpec};
use crate::strategy::plan::{
    FleetView, Mode, PerRole, Plan, PlanInput, Role, StepKind, StepProgress, TrafficIntent,
};
use crate::strategy::planner::Planner;

/// Head counts the rolling arithmetic works from, in Kubernetes' terms.
///
/// "Replicas" are instances that exist or are being created and are not being removed
/// (a ReplicaSet's `spec.replicas`); "available" ones have been ready for `min_ready`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[allow(clippy::exhaustive_structs)] // Built by callers with a struct literal: a new field is a deliberate, breaking change.
pub struct ReplicaCounts {
    /// Replicas of the revision being rolled out.
    pub new_replicas: u32,
    /// Of those, the available ones.
    pub new_available: u32,
    /// Replicas of every other revision.
    pub old_replicas: u32,
    /// Of those, the available ones.
    pub old_available: u32,
    /// Instances being removed that still exist (draining or terminating). Kubernetes
    /// does not count these against the surge; `cutover` does, so that the number of
    /// instances never exceeds `desired + max_surge`. Pass 0 for Kubernetes' numbers.
    pub terminating: u32,
}

/// What to scale next.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct ScaleStep {
    /// New-revision instances to create.
    pub scale_up_new: u32,
    /// New-revision instances to remove (only when there are more than `desired`).
    pub scale_down_new: u32,
    /// Old-revision instances that are not available, to remove first.
    pub scale_down_old_unavailable: u32,
    /// Old-revision available instances to remove.
    pub scale_down_old_available: u32,
}

impl ScaleStep {
    /// Whether nothing is to be scaled.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == ScaleStep::default()
    }

    /// All old-revision instances to remove (saturating at `u32::MAX`; a step made by
    /// [`rolling_step`] never comes near it).
    #[must_use]
    pub fn scale_down_old(&self) -> u32 {
        self.scale_down_old_unavailable
            .saturating_add(self.scale_down_old_available)
    }
}

/// How many new-revision replicas to add: Kubernetes' `NewRSNewReplicas` for a rolling
/// update, returned as the increase (0 when at the surge limit or at `desired`).
///
/// The counts may be anything (they are summed wide): the increase is at most
/// `limits.desired()`.
///
/// # Examples
///
/// ```
/// use cutover::spec::{CapacityLimits, Quantity};
/// use cutover::strategy::{ReplicaCounts, rolling_scale_up};
/// // 10 desired, 25% surge (3): with 10 old replicas, start 3 new ones.
/// let limits = CapacityLimits::resolve(10, Quantity::Percent(25), Quantity::Percent(25)).unwrap();
/// let counts = ReplicaCounts { old_replicas: 10, old_available: 10, ..Default::default() };
/// assert_eq!(rolling_scale_up(limits, counts), 3);
/// ```
#[must_use]
pub fn rolling_scale_up(limits: CapacityLimits, counts: ReplicaCounts) -> u32 {
    let desired = limits.desired();
    if counts.new_replicas >= desired {
        return 0;
    }
    let current = u64::from(counts.new_replicas)
        + u64::from(counts.old_replicas)
        + u64::from(counts.terminating);
    let room = u64::from(limits.max_total()).saturating_sub(current);
    // At most `desired - new_replicas`, so it fits.
    u32::try_from(room).map_or(0, |room| room.min(desired - counts.new_replicas))
}

/// How many old-revision replicas to remove: Kubernetes' `reconcileOldReplicaSets`
/// (first the unavailable ones, within `maxScaledDown`; then available ones down to
/// `desired - max_unavailable` available in all). Returns `(unavailable, available)`.
///
/// # Examples
///
/// ```
/// use cutover::spec::{CapacityLimits, Quantity};
/// use cutover::strategy::{ReplicaCounts, rolling_scale_down_old};
/// // 10 desired, 25% unavailable (2): with 10 available old replicas and 3 new ones not
/// // yet available, remove 2 old ones.
/// let limits = CapacityLimits::resolve(10, Quantity::Percent(25), Quantity::Percent(25)).unwrap();
/// let counts = ReplicaCounts { new_replicas: 3, old_replicas: 10, old_available: 10, ..Default::default() };
/// assert_eq!(rolling_scale_down_old(limits, counts), (0, 2));
/// ```
#[must_use]
pub fn rolling_scale_down_old(limits: CapacityLimits, counts: ReplicaCounts) -> (u32, u32) {
    if counts.old_replicas == 0 {
        return (0, 0);
    }
    let all = i64::from(counts.new_replicas) + i64::from(counts.old_replicas);
    let min_available = i64::from(limits.min_available());
    let new_unavailable =
        i64::from(counts.new_replicas) - i64::from(counts.new_available.min(counts.new_replicas));
    let max_scaled_down = all - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return (0, 0);
    }
    let old_unavailable = counts.old_replicas - counts.old_available.min(counts.old_replicas);
    let cleanup = old_unavailable.min(u32::try_from(max_scaled_down).unwrap_or(u32::MAX));
    let remaining_old = counts.old_replicas - cleanup;
    let available = i64::from(counts.new_available) + i64::from(counts.old_available);
    if available <= min_available {
        return (cleanup, 0);
    }
    let budget = u32::try_from(available - min_available).unwrap_or(u32::MAX);
    (cleanup, budget.min(remaining_old))
}

/// One whole rolling step: scale up first, then scale down old replicas counting the
/// new ones just added (what Kubernetes reaches over two syncs).
///
/// # Examples
///
/// ```
/// use cutover::spec::{CapacityLimits, Quantity};
/// use cutover::strategy::{ReplicaCounts, rolling_step};
/// let limits = CapacityLimits::resolve(4, Quantity::Count(1), Quantity::Count(0)).unwrap();
/// let start = ReplicaCounts { old_replicas: 4, old_available: 4, ..Default::default() };
/// let step = rolling_step(limits, start);
/// assert_eq!((step.scale_up_new, step.scale_down_old()), (1, 0));
/// ```
#[must_use]
pub fn rolling_step(limits: CapacityLimits, counts: ReplicaCounts) -> ScaleStep {
    let mut step = ScaleStep::default();
    if counts.new_replicas > limits.desired() {
        let excess = counts.new_replicas - limits.desired();
        // Unavailable new replicas go first, so capacity is kept.
        step.scale_down_new = excess;
    } else {
        step.scale_up_new = rolling_scale_up(limits, counts);
    }
    let after_up = ReplicaCounts {
        new_replicas: counts.new_replicas + step.scale_up_new - step.scale_down_new,
        new_available: counts
            .new_available
            .min(counts.new_replicas - step.scale_down_new),
        ..counts
    };
    let (unavailable, available) = rolling_scale_down_old(limits, after_up);
    step.scale_down_old_unavailable = unavailable;
    step.scale_down_old_available = available;
    step
}

/// The batches of a whole rolling update from `desired` old replicas to `desired` new
/// ones, assuming every new instance becomes available and every removed one is gone
/// before the next step: the best case, for previews ("4 batches: +3 −2, +2 −3, …").
///
/// Each entry is a step and the counts after it. Ends when no old replica is left,
/// after at most `2 * desired + 4` entries; limits never have a `desired` above
/// [`MAX_DESIRED`](crate::spec::MAX_DESIRED), so a preview is bounded.
/// [`rolling_preview_from`] previews the rest of a rollout already in flight.
///
/// # Examples
///
/// ```
/// use cutover::spec::{CapacityLimits, Quantity};
/// use cutover::strategy::rolling_preview;
/// let limits = CapacityLimits::resolve(10, Quantity::Percent(25), Quantity::Percent(25)).unwrap();
/// let steps = rolling_preview(limits);
/// assert_eq!(steps[0].0.scale_up_new, 3);
/// assert_eq!(steps.last().unwrap().1.new_available, 10);
/// ```
#[must_use]
pub fn rolling_preview(limits: CapacityLimits) -> Vec<(ScaleStep, ReplicaCounts)> {
    rolling_preview_from(
        limits,
        ReplicaCounts {
            old_replicas: limits.desired(),
            old_available: limits.desired(),
            ..ReplicaCounts::default()
        },
    )
}

/// The remaining batches of a rolling update from any `counts` (a rollout in flight,
/// or one resized), in the same best case as [`rolling_preview`]: instances being
/// created become available, and instances being removed are gone, before each step.
///
/// Whatever the counts, the preview has at most `2 * desired + 4` entries: the first
/// step brings both revisions within `desired`, and each later one replaces at least
/// one instance.
///
/// # Examples
///
/// ```
/// use cutover::spec::{CapacityLimits, Quantity};
/// use cutover::strategy::{ReplicaCounts, rolling_preview_from};
/// let limits = CapacityLimits::resolve(4, Quantity::Count(1), Quantity::Count(0)).unwrap();
/// let halfway = ReplicaCounts { new_replicas: 2, new_available: 1, old_replicas: 3, old_available: 3, terminating: 0 };
/// let rest = rolling_preview_from(limits, halfway);
/// assert_eq!(rest.last().unwrap().1, ReplicaCounts { new_replicas: 4, new_available: 4, ..Default::default() });
/// ```
#[must_use]
pub fn rolling_preview_from(
    limits: CapacityLimits,
    mut counts: ReplicaCounts,
) -> Vec<(ScaleStep, ReplicaCounts)> {
    counts.new_available = counts.new_replicas;
    counts.old_available = counts.old_replicas;
    counts.terminating = 0;
    let mut steps = Vec::new();
    // After the first step neither revision has more than `desired` replicas, and each
    // step replaces at least one instance: the loop never needs more. The bound holds
    // it whatever happens.
    for _ in 0..preview_bound(limits) {
        if rolling_is_complete(limits, counts) {
            break;
        }
        let step = rolling_step(limits, counts);
        if step.is_empty() {
            break;
        }
        counts.new_replicas = counts.new_replicas + step.scale_up_new - step.scale_down_new;
        counts.new_available = counts.new_replicas;
        counts.old_replicas -= step.scale_down_old();
        counts.old_available = counts.old_replicas;
        steps.push((step, counts));
    }
    steps
}

/// The most entries a rolling preview has: `2 * desired + 4`.
fn preview_bound(limits: CapacityLimits) -> u32 {
    // desired <= MAX_DESIRED, so this fits.
    2 * limits.desired() + 4
}

/// Kubernetes' `DeploymentComplete` over counts: every replica is of the new revision,
/// there are `desired` of them and all are available. `cutover` also waits for removed
/// instances to be gone (`terminating == 0`), which Kubernetes does not.
///
/// # Examples
///
/// ```
/// use cutover::spec::{CapacityLimits, Quantity};
/// use cutover::strategy::{ReplicaCounts, rolling_is_complete};
/// let limits = CapacityLimits::resolve(3, Quantity::Count(1), Quantity::Count(0)).unwrap();
/// let done = ReplicaCounts { new_replicas: 3, new_available: 3, ..Default::default() };
/// assert!(rolling_is_complete(limits, done));
/// assert!(!rolling_is_complete(limits, ReplicaCounts { terminating: 1, ..done }));
/// ```
#[must_use]
pub fn rolling_is_complete(limits: CapacityLimits, counts: ReplicaCounts) -> bool {
    counts.new_replicas == limits.desired()
        && counts.new_available == limits.desired()
        && counts.old_replicas == 0
        && counts.terminating == 0
}

/// Counts that Kubernetes' progress test compares (`DeploymentProgressing`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[allow(clippy::exhaustive_structs)] // Built by callers with a struct literal: a new field is a deliberate, breaking change.
pub struct ProgressCounts {
    /// Replicas of the revision being rolled out (Kubernetes' `updatedReplicas`).
    pub updated: u32,
    /// Replicas of every other revision.
    pub old: u32,
    /// Ready instances of any revision.
    pub ready: u32,
    /// Available instances of any revision.
    pub available: u32,
}

/// Whether going from `before` to `after` is progress, as Kubernetes counts it: more
/// new replicas created, fewer old ones left, or more instances ready or available.
/// Progress resets the progress deadline (so does a deploy or a resume).
///
/// # Examples
///
/// ```
/// use cutover::strategy::{ProgressCounts, rolling_is_progress};
/// let before = ProgressCounts { updated: 1, old: 3, ready: 3, available: 3 };
/// assert!(rolling_is_progress(before, ProgressCounts { old: 2, ..before }));
/// assert!(!rolling_is_progress(before, ProgressCounts { ready: 2, ..before }));
/// ```
#[must_use]
pub fn rolling_is_progress(before: ProgressCounts, after: ProgressCounts) -> bool {
    after.updated > before.updated
        || after.old < before.old
        || after.ready > before.ready
        || after.available > before.available
}

/// The rolling planner: the next desired state, by Kubernetes' arithmetic.
///
/// Rolling out moves the target toward `desired` and every other role toward 0; an
/// abort or rollback (`Mode::Revert`) and a rollout at rest (`Mode::Steady`) are the
/// same update run toward the stable revision: a reverse rolling update that keeps the
/// target serving until the stable revision can carry its share. Removals fall on
/// superseded revisions first, then standby, then the rest. Traffic follows the
/// instances in rotation.
///
/// # Examples
///
/// ```
/// use cutover::Timestamp;
/// use cutover::spec::{CapacityLimits, Quantity};
/// use cutover::strategy::{FleetView, Mode, PerRole, PlanInput, RoleCounts, StepState, rolling_plan};
/// let limits = CapacityLimits::resolve(10, Quantity::Percent(25), Quantity::Percent(25)).unwrap();
/// let mut view = FleetView::default();
/// view.roles.stable = RoleCounts::new(10, 10, 10);
/// let input = PlanInput { mode: Mode::Rollout, limits, view, has_stable: true, now: Timestamp::ZERO, step: StepState::default() };
/// let plan = rolling_plan(&input);
/// assert_eq!((plan.wanted.target, plan.wanted.stable), (3, 8));
/// ```
#[must_use]
pub fn rolling_plan(input: &PlanInput) -> Plan {
    let toward = match input.mode {
        Mode::Rollout => Role::Target,
        Mode::Revert | Mode::Steady => Role::Stable,
    };
    let view = input.view;
    let counts = replica_counts_toward(&view, toward);
    let step = rolling_step(input.limits, counts);
    let mut wanted = PerRole::<u32>::default();
    if toward == Role::Stable && !input.has_stable {
        // Nothing to go back to: every instance goes.
        return Plan {
            wanted,
            traffic: TrafficIntent::Proportional,
            step: StepProgress::default(),
            wake_at: None,
        };
    }
    for &role in Role::ALL {
        wanted[role] = view.roles[role].replicas;
    }
    if let Some(spread) = proportional_resize(input) {
        return spread;
    }
    wanted[toward] = counts.new_replicas + step.scale_up_new - step.scale_down_new;
    // Unavailable instances go first (they cost no capacity), the most disposable
    // roles first.
    let mut cleanup = step.scale_down_old_unavailable;
    let mut available = step.scale_down_old_available;
    for role in Role::REMOVAL_ORDER.iter().copied().filter(|r| *r != toward) {
        let counts = view.roles[role];
        let from_unavailable = cleanup.min(counts.unavailable());
        cleanup -= from_unavailable;
        let from_available = available.min(counts.available);
        available -= from_available;
        // Available counts above the replicas are tolerated, as in the arithmetic.
        wanted[role] = counts
            .replicas
            .saturating_sub(from_unavailable)
            .saturating_sub(from_available);
    }
    let complete = input.mode == Mode::Rollout && rolling_is_complete(input.limits, counts);
    Plan {
        wanted,
        traffic: TrafficIntent::Proportional,
        step: StepProgress {
            kind: StepKind::Replace,
            index: 0,
            count: 1,
            done: complete,
            waiting: None,
            complete,
        },
        wake_at: None,
    }
}

impl Planner for RollingSpec {
    fn plan(&self, input: &PlanInput) -> Plan {
        rolling_plan(input)
    }

    fn nothing_to_promote(&self) -> &'static str {
        "a rolling update has no pause or step to finish; it is already progressing"
    }
}

/// A resize while a rolling update is in flight, as Kubernetes makes it
/// (`getReplicaSetFraction`): the change in `desired` is spread over the new and the old
/// revisions in proportion to their replicas (the new revision's share rounded toward
/// zero, the rest to the stable revision), so that neither new capacity nor a cut falls
/// on one revision alone; the rolling update then goes on from there. `None` when there
/// is no resize to plan, or only one side to give it to.
fn proportional_resize(input: &PlanInput) -> Option<Plan> {
    let from = input.step.resized_from?;
    let view = input.view;
    let new = i64::from(view.roles[Role::Target].replicas);
    let old = i64::from(view.replicas_except(Role::Target));
    if input.mode != Mode::Rollout || new == 0 || old == 0 {
        return None;
    }
    let delta = i64::from(input.limits.desired()) - i64::from(from);
    // |to_new| <= |delta|, so it fits back in i64.
    let to_new =
        i64::try_from(i128::from(delta) * i128::from(new) / i128::from(new + old)).unwrap_or(delta);
    let mut wanted = PerRole::<u32>::default();
    for &role in Role::ALL {
        wanted[role] = view.roles[role].replicas;
    }
    let resized = |replicas: u32, by: i64| {
        u32::try_from((i64::from(replicas) + by).max(0)).unwrap_or(u32::MAX)
    };
    wanted[Role::Target] = resized(wanted[Role::Target], to_new);
    // The old revisions' share: growth goes to the stable revision; a cut comes off the
    // most disposable first.
    let mut to_old = delta - to_new;
    if to_old > 0 {
        wanted[Role::Stable] = resized(wanted[Role::Stable], to_old);
    }
    for role in Role::REMOVAL_ORDER
        .iter()
        .copied()
        .filter(|r| *r != Role::Target)
    {
        if to_old >= 0 {
            break;
        }
        let cut = i64::from(wanted[role]).min(-to_old);
        wanted[role] = resized(wanted[role], -cut);
        to_old += cut;
    }
    Some(Plan {
        wanted,
        traffic: TrafficIntent::Proportional,
        step: StepProgress {
            kind: StepKind::Replace,
            index: 0,
            count: 1,
            done: false,
            waiting: None,
            complete: false,
        },
        wake_at: None,
    })
}

/// The rolling arithmetic's counts, with `toward` as the new revision.
fn replica_counts_toward(view: &FleetView, toward: Role) -> ReplicaCounts {
    ReplicaCounts {
        new_replicas: view.roles[toward].replicas,
        new_available: view.roles[toward].available,
        old_replicas: view.replicas_except(toward),
        old_available: view.available_except(toward),
        terminating: view.leaving,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Quantity;

    fn limits(desired: u32, surge: u32, unavailable: u32) -> CapacityLimits {
        CapacityLimits::resolve(
            desired,
            Quantity::Count(surge),
            Quantity::Count(unavailable),
        )
        .unwrap()
    }

    /// Every case of Kubernetes' `TestDeploymentController_reconcileNewReplicaSet`
    /// (pkg/controller/deployment/rolling_test.go; max unavailable 0 there): deployment
    /// replicas, max surge, old replicas, new replicas, expected new replicas after.
    #[test]
    fn scale_up_matches_kubernetes() {
        let cases = [
            (10, 0, 10, 0, 0),
            (10, 2, 10, 0, 2),
            (10, 2, 5, 0, 7),
            (10, 2, 10, 2, 2),
            (10, 2, 2, 11, 10),
        ];
        for (desired, surge, old, new, expected) in cases {
            let counts = ReplicaCounts {
                new_replicas: new,
                old_replicas: old,
                old_available: old,
                ..Default::default()
            };
            let step = rolling_step(limits(desired, surge, 0), counts);
            let after = new + step.scale_up_new - step.scale_down_new;
            assert_eq!(
                after, expected,
                "desired {desired} surge {surge} old {old} new {new}"
            );
        }
    }

    /// Every case of Kubernetes' `TestDeploymentController_reconcileOldReplicaSets` (max
    /// surge 0 there): replicas, max unavailable, old replicas, new replicas, available
    /// old, available new, expected old replicas after.
    #[test]
    fn scale_down_matches_kubernetes() {
        let cases = [
            (10, 0, 10, 0, 10, 0, 9),
            (10, 2, 10, 0, 10, 0, 8),
            (10, 2, 10, 0, 8, 0, 8),
            (10, 2, 10, 0, 9, 0, 8),
            (10, 2, 8, 2, 8, 0, 8),
        ];
        for (desired, unavailable, old, new, old_ready, new_ready, expected) in cases {
            let counts = ReplicaCounts {
                new_replicas: new,
                new_available: new_ready,
                old_replicas: old,
                old_available: old_ready,
                terminating: 0,
            };
            let (a, b) = rolling_scale_down_old(limits(desired, 0, unavailable), counts);
            assert_eq!(
                old - a - b,
                expected,
                "{desired} {unavailable} {old} {new} {old_ready} {new_ready}"
            );
        }
    }

    /// `TestDeploymentController_cleanupUnhealthyReplicas`: 10 old replicas, 8
    /// available, the cleanup bounded by `maxScaledDown`.
    #[test]
    fn unhealthy_cleanup_is_bounded_like_kubernetes() {
        // maxScaledDown = all - minAvailable - newUnavailable; pick new counts that give
        // the bounds 1, 3 and 0 with 10 desired and 2 unavailable (minAvailable 8).
        for (new_replicas, bound, expected_cleanup) in [(0, 1, 1), (0, 3, 2), (0, 0, 0)] {
            let old = 10 + bound - 2; // all - 8 = bound
            let counts = ReplicaCounts {
                new_replicas,
                new_available: 0,
                old_replicas: old,
                old_available: old - 2,
                terminating: 0,
            };
            let (cleanup, _) = rolling_scale_down_old(limits(10, 2, 2), counts);
            assert_eq!(cleanup, expected_cleanup, "bound {bound}");
        }
    }

    #[test]
    fn previews_end_with_the_new_revision_at_desired() {
        for (desired, surge, unavailable) in
            [(10, 3, 2), (4, 1, 0), (4, 0, 1), (1, 1, 0), (7, 7, 7)]
        {
            let steps = rolling_preview(limits(desired, surge, unavailable));
            let (_, last) = steps.last().expect("at least one step");
            assert_eq!(
                (last.new_available, last.old_replicas),
                (desired, 0),
                "{desired} {surge} {unavailable}"
            );
            for (_, counts) in &steps {
                assert!(counts.new_replicas + counts.old_replicas <= desired + surge);
                assert!(counts.new_available + counts.old_available + unavailable >= desired);
            }
        }
    }

    #[test]
    fn terminating_instances_hold_the_surge() {
        let counts = ReplicaCounts {
            new_replicas: 1,
            new_available: 1,
            old_replicas: 3,
            old_available: 3,
            terminating: 1,
        };
        assert_eq!(rolling_scale_up(limits(4, 1, 0), counts), 0);
    }

    #[test]
    fn excess_new_replicas_are_scaled_down() {
        let counts = ReplicaCounts {
            new_replicas: 6,
            new_available: 6,
            ..Default::default()
        };
        let step = rolling_step(limits(4, 1, 1), counts);
        assert_eq!(step.scale_down_new, 2);
        assert_eq!(step.scale_up_new, 0);
    }
}
