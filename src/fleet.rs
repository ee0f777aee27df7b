//! What is known about every instance, indexed so that capacity questions ("how many
//! `v2` instances are available?", "which `v1` baseline instance is in rotation?") are
//! answered without scanning the fleet.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::FleetError;
use crate::model::{Instance, InstanceGroup, InstanceId, InstanceState, Revision};
use crate::time::{Duration, Timestamp};

/// The instances of one group of one revision, by state, availability and rotation. An
/// instance is either wanted (indexed by its state) or leaving, never both.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct RevisionIndex {
    by_state: [BTreeSet<InstanceId>; 6],
    /// On their way out (whatever their state): not capacity, not candidates.
    leaving: BTreeSet<InstanceId>,
    available: BTreeSet<InstanceId>,
    /// Ready but not yet available (still inside `min_ready`).
    fresh: BTreeSet<InstanceId>,
    in_rotation: BTreeSet<InstanceId>,
}

/// Head counts for one revision (or the whole fleet), read in O(1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct RevisionCounts {
    /// Instances still wanted, in each [`InstanceState`], indexed by
    /// [`InstanceState::index`].
    pub by_state: [usize; 6],
    /// Instances on their way out (out of rotation, draining, terminating), whatever
    /// their state: they hold capacity against the peak but are not capacity.
    pub leaving: usize,
    /// Ready instances that have been ready for at least `min_ready`.
    pub available: usize,
    /// Instances a load balancer has acknowledged in rotation.
    pub in_rotation: usize,
}

impl RevisionIndex {
    fn is_empty(&self) -> bool {
        self.by_state.iter().all(BTreeSet::is_empty) && self.leaving.is_empty()
    }

    fn counts(&self) -> RevisionCounts {
        let mut counts = RevisionCounts::default();
        for (n, ids) in counts.by_state.iter_mut().zip(&self.by_state) {
            *n = ids.len();
        }
        counts.available = self.available.len();
        counts.in_rotation = self.in_rotation.len();
        counts.leaving = self.leaving.len();
        counts
    }
}

/// A revision's instances, one index per [`InstanceGroup`].
type Groups = [RevisionIndex; 2];

impl RevisionCounts {
    /// Instances in `state`.
    #[must_use]
    pub fn get(&self, state: InstanceState) -> usize {
        self.by_state[state.index()]
    }

    /// Ready instances (available or not).
    #[must_use]
    pub fn ready(&self) -> usize {
        self.get(InstanceState::Ready)
    }

    /// Instances that occupy capacity: wanted ones that are provisioning, starting,
    /// ready or draining, and every leaving one.
    #[must_use]
    pub fn live(&self) -> usize {
        InstanceState::ALL
            .iter()
            .filter(|s| s.is_live())
            .map(|s| self.get(*s))
            .sum::<usize>()
            + self.leaving
    }

    /// Instances that are on their way to ready: provisioning or starting.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.get(InstanceState::Provisioning) + self.get(InstanceState::Starting)
    }

    fn add(&mut self, other: &RevisionCounts) {
        for (total, n) in self.by_state.iter_mut().zip(other.by_state) {
            *total += n;
        }
        self.available += other.available;
        self.in_rotation += other.in_rotation;
        self.leaving += other.leaving;
    }
}

/// Every instance the caller has told us about (or we asked for), with indexes by
/// revision and [`InstanceGroup`], state, availability and rotation.
///
/// `min_ready` is Kubernetes' `minReadySeconds`: a ready instance becomes *available*
/// only once it has stayed ready that long. The fleet never reads a clock: callers pass
/// `now`, and [`Fleet::refresh`] promotes whoever has waited long enough.
///
/// # Examples
///
/// ```
/// use cutover::{Duration, Instance, InstanceState, Revision, Timestamp};
/// use cutover::fleet::Fleet;
///
/// let mut fleet = Fleet::new(Duration::from_secs(10));
/// let t0 = Timestamp::from_millis(0);
/// fleet.insert(t0, Instance::new("web-1", "v1", InstanceState::Starting)).unwrap();
/// fleet.set_state(t0, &"web-1".into(), InstanceState::Ready);
/// let v1 = Revision::from("v1");
/// assert_eq!((fleet.counts(&v1).ready(), fleet.counts(&v1).available), (1, 0));
/// assert_eq!(fleet.next_available_at(), Some(Timestamp::from_millis(10_000)));
/// fleet.refresh(Timestamp::from_millis(10_000));
/// assert_eq!(fleet.counts(&v1).available, 1);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(try_from = "FleetDocument", into = "FleetDocument")
)]
pub struct Fleet {
    min_ready: Duration,
    instances: BTreeMap<InstanceId, Instance>,
    revisions: BTreeMap<Revision, Groups>,
    /// Ready but not yet available instances, by the time they become available.
    pending_available: BTreeSet<(Timestamp, InstanceId)>,
}

impl Fleet {
    /// An empty fleet whose instances become available after `min_ready`.
    #[must_use]
    pub fn new(min_ready: Duration) -> Self {
        Fleet {
            min_ready,
            ..Fleet::default()
        }
    }

    /// How long an instance must stay ready to count as available.
    #[must_use]
    pub fn min_ready(&self) -> Duration {
        self.min_ready
    }

    /// Adds an instance. A `Ready` one is taken as ready since `instance.ready_since`
    /// (or `now`); one that says `available` is trusted to be.
    ///
    /// # Errors
    ///
    /// [`FleetError::DuplicateInstance`] if the id is already known.
    pub fn insert(&mut self, now: Timestamp, instance: Instance) -> Result<(), FleetError> {
        self.insert_without_refresh(now, instance)?;
        self.refresh(now);
        Ok(())
    }

    fn insert_without_refresh(
        &mut self,
        now: Timestamp,
        mut instance: Instance,
    ) -> Result<(), FleetError> {
        if self.instances.contains_key(&instance.id) {
            return Err(FleetError::DuplicateInstance {
                instance: instance.id,
            });
        }
        let index = &mut self.revisions.entry(instance.revision.clone()).or_default()
            [instance.group.index()];
        index.by_state[instance.state.index()].insert(instance.id.clone());
        if instance.in_rotation {
            index.in_rotation.insert(instance.id.clone());
        }
        if instance.state == InstanceState::Ready {
            let since = *instance.ready_since.get_or_insert(now);
            if instance.available {
                index.available.insert(instance.id.clone());
            } else {
                index.fresh.insert(instance.id.clone());
                self.pending_available
                    .insert((since + self.min_ready, instance.id.clone()));
            }
        } else {
            instance.ready_since = None;
            instance.available = false;
        }
        self.instances.insert(instance.id.clone(), instance);
        Ok(())
    }

    /// The instance named `id`, if known.
    #[must_use]
    pub fn get(&self, id: &InstanceId) -> Option<&Instance> {
        self.instances.get(id)
    }

    /// Every known instance, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Instance> + '_ {
        self.instances.values()
    }

    /// How many instances are known (in any state).
    #[must_use]
    pub fn len(&self) -> usize {
        self.instances.len()
    }

    /// Whether no instance is known.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }

    /// The revisions with at least one known instance, in name order.
    pub fn revisions(&self) -> impl Iterator<Item = &Revision> + '_ {
        self.revisions.keys()
    }

    /// Moves an instance to `state`; returns its previous state, or `None` if the id is
    /// unknown (nothing changes then). Becoming `Ready` starts the `min_ready` clock;
    /// leaving it stops it and makes the instance unavailable.
    pub fn set_state(
        &mut self,
        now: Timestamp,
        id: &InstanceId,
        state: InstanceState,
    ) -> Option<InstanceState> {
        let instance = self.instances.get_mut(id)?;
        let previous = instance.state;
        if previous == state {
            return Some(previous);
        }
        let index = &mut self
            .revisions
            .get_mut(&instance.revision)
            .expect("every instance's revision is indexed")[instance.group.index()];
        instance.state = state;
        if index.leaving.contains(id) {
            // A leaving instance is never capacity again; once gone it is history.
            instance.ready_since = None;
            if state.is_final() {
                index.leaving.remove(id);
                index.by_state[state.index()].insert(id.clone());
            }
            return Some(previous);
        }
        index.by_state[previous.index()].remove(id);
        index.by_state[state.index()].insert(id.clone());
        if previous == InstanceState::Ready {
            stop_availability(index, &mut self.pending_available, self.min_ready, instance);
        }
        if state == InstanceState::Ready {
            index.fresh.insert(id.clone());
            instance.ready_since = Some(now);
            self.pending_available
                .insert((now + self.min_ready, id.clone()));
            self.refresh(now);
        }
        Some(previous)
    }

    /// Marks an instance as on its way out: it stops counting as capacity or as a
    /// candidate for anything, whatever its state. Returns `false` if the id is unknown
    /// or the instance is already leaving or gone.
    pub fn set_leaving(&mut self, id: &InstanceId) -> bool {
        let Some(instance) = self.instances.get_mut(id) else {
            return false;
        };
        let index = &mut self
            .revisions
            .get_mut(&instance.revision)
            .expect("every instance's revision is indexed")[instance.group.index()];
        if instance.state.is_final() || !index.leaving.insert(id.clone()) {
            return false;
        }
        index.by_state[instance.state.index()].remove(id);
        stop_availability(index, &mut self.pending_available, self.min_ready, instance);
        true
    }

    /// Whether an instance is on its way out.
    #[must_use]
    pub fn is_leaving(&self, id: &InstanceId) -> bool {
        self.instances.get(id).is_some_and(|instance| {
            self.revisions
                .get(&instance.revision)
                .is_some_and(|groups| groups[instance.group.index()].leaving.contains(id))
        })
    }

    /// Records whether a load balancer has acknowledged `id` in rotation; returns `false`
    /// if the id is unknown.
    pub fn set_in_rotation(&mut self, id: &InstanceId, in_rotation: bool) -> bool {
        let Some(instance) = self.instances.get_mut(id) else {
            return false;
        };
        instance.in_rotation = in_rotation;
        let index = &mut self
            .revisions
            .get_mut(&instance.revision)
            .expect("every instance's revision is indexed")[instance.group.index()];
        if in_rotation {
            index.in_rotation.insert(id.clone());
        } else {
            index.in_rotation.remove(id);
        }
        true
    }

    /// Forgets an instance entirely (after it is terminated or failed for good).
    pub fn remove(&mut self, id: &InstanceId) -> Option<Instance> {
        let instance = self.instances.remove(id)?;
        let index = &mut self
            .revisions
            .get_mut(&instance.revision)
            .expect("every instance's revision is indexed")[instance.group.index()];
        index.by_state[instance.state.index()].remove(id);
        index.leaving.remove(id);
        index.available.remove(id);
        index.fresh.remove(id);
        index.in_rotation.remove(id);
        if let Some(since) = instance.ready_since {
            self.pending_available
                .remove(&(since + self.min_ready, id.clone()));
        }
        if self.revisions[&instance.revision]
            .iter()
            .all(RevisionIndex::is_empty)
        {
            self.revisions.remove(&instance.revision);
        }
        Some(instance)
    }

    /// Marks as available every ready instance that has been ready for `min_ready` by
    /// `now`, and returns them (in the order they became available).
    pub fn refresh(&mut self, now: Timestamp) -> Vec<InstanceId> {
        let mut promoted = Vec::new();
        while let Some((due, _)) = self.pending_available.first() {
            if *due > now {
                break;
            }
            let (_, id) = self.pending_available.pop_first().expect("checked first");
            if let Some(instance) = self.instances.get_mut(&id) {
                instance.available = true;
                if let Some(groups) = self.revisions.get_mut(&instance.revision) {
                    let index = &mut groups[instance.group.index()];
                    index.fresh.remove(&id);
                    index.available.insert(id.clone());
                }
                promoted.push(id);
            }
        }
        promoted
    }

    /// When the next ready instance becomes available, if one is waiting.
    #[must_use]
    pub fn next_available_at(&self) -> Option<Timestamp> {
        self.pending_available.first().map(|(due, _)| *due)
    }

    /// Head counts for `revision`, every group together (all zero if it has no
    /// instances): what its row of the traffic table holds.
    #[must_use]
    pub fn counts(&self, revision: &Revision) -> RevisionCounts {
        let mut total = RevisionCounts::default();
        for group in InstanceGroup::ALL {
            total.add(&self.group_counts(revision, group));
        }
        total
    }

    /// Head counts for one group of `revision`'s instances.
    #[must_use]
    pub fn group_counts(&self, revision: &Revision, group: InstanceGroup) -> RevisionCounts {
        self.revisions
            .get(revision)
            .map_or_else(RevisionCounts::default, |groups| {
                groups[group.index()].counts()
            })
    }

    /// Head counts of every revision and group, in name order, in O(revisions): one
    /// pass for callers that sum over the fleet (no lookup per revision).
    pub(crate) fn all_group_counts(
        &self,
    ) -> impl Iterator<Item = (&Revision, InstanceGroup, RevisionCounts)> + '_ {
        self.revisions.iter().flat_map(|(revision, groups)| {
            InstanceGroup::ALL
                .into_iter()
                .map(move |group| (revision, group, groups[group.index()].counts()))
        })
    }

    /// Head counts over the whole fleet, in O(revisions).
    #[must_use]
    pub fn total(&self) -> RevisionCounts {
        let mut total = RevisionCounts::default();
        for revision in self.revisions.keys() {
            total.add(&self.counts(revision));
        }
        total
    }

    /// The ids in one of the index sets of `group` of `revision` (none if it has no
    /// instances).
    fn index_ids<'a>(
        &'a self,
        revision: &Revision,
        group: InstanceGroup,
        set: impl Fn(&'a RevisionIndex) -> &'a BTreeSet<InstanceId> + 'a,
    ) -> impl DoubleEndedIterator<Item = &'a InstanceId> + 'a {
        self.revisions
            .get(revision)
            .into_iter()
            .flat_map(move |groups| set(&groups[group.index()]).iter())
    }

    /// The ids of the wanted (not leaving) instances of `group` of `revision` in
    /// `state`, in id order.
    pub fn ids_in_state<'a>(
        &'a self,
        revision: &Revision,
        group: InstanceGroup,
        state: InstanceState,
    ) -> impl DoubleEndedIterator<Item = &'a InstanceId> + 'a {
        self.index_ids(revision, group, move |index| &index.by_state[state.index()])
    }

    /// The ids of the available instances of `group` of `revision`, in id order.
    pub fn available_ids<'a>(
        &'a self,
        revision: &Revision,
        group: InstanceGroup,
    ) -> impl DoubleEndedIterator<Item = &'a InstanceId> + 'a {
        self.index_ids(revision, group, |index| &index.available)
    }

    /// The ids of the ready instances of `group` of `revision` that are not yet
    /// available (still inside `min_ready`), in id order.
    pub fn fresh_ids<'a>(
        &'a self,
        revision: &Revision,
        group: InstanceGroup,
    ) -> impl DoubleEndedIterator<Item = &'a InstanceId> + 'a {
        self.index_ids(revision, group, |index| &index.fresh)
    }

    /// The ids of the instances of `group` of `revision` in rotation, in id order.
    pub fn in_rotation_ids<'a>(
        &'a self,
        revision: &Revision,
        group: InstanceGroup,
    ) -> impl DoubleEndedIterator<Item = &'a InstanceId> + 'a {
        self.index_ids(revision, group, |index| &index.in_rotation)
    }
}

/// Takes an instance out of the availability indexes and stops its `min_ready` clock.
fn stop_availability(
    index: &mut RevisionIndex,
    pending_available: &mut BTreeSet<(Timestamp, InstanceId)>,
    min_ready: Duration,
    instance: &mut Instance,
) {
    index.available.remove(&instance.id);
    index.fresh.remove(&instance.id);
    if let Some(since) = instance.ready_since.take() {
        pending_available.remove(&(since + min_ready, instance.id.clone()));
    }
    instance.available = false;
}

/// How a fleet is written in documents: the instances; the indexes are rebuilt on load.
#[cfg(feature = "serde")]
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FleetDocument {
    min_ready: Duration,
    instances: Vec<Instance>,
}

#[cfg(feature = "serde")]
impl TryFrom<FleetDocument> for Fleet {
    type Error = FleetError;

    fn try_from(document: FleetDocument) -> Result<Self, Self::Error> {
        let mut fleet = Fleet::new(document.min_ready);
        for instance in document.instances {
            // No `refresh`: availability is restored exactly as saved, and promotion
            // waits for the caller's next `now`.
            fleet.insert_without_refresh(Timestamp::ZERO, instance)?;
        }
        Ok(fleet)
    }
}

#[cfg(feature = "serde")]
impl From<Fleet> for FleetDocument {
    fn from(fleet: Fleet) -> Self {
        FleetDocument {
            min_ready: fleet.min_ready,
            instances: fleet.instances.into_values().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn duplicate_inserts_are_refused() {
        let mut fleet = Fleet::new(Duration::ZERO);
        fleet
            .insert(t(0), Instance::new("a", "v1", InstanceState::Ready))
            .unwrap();
        assert_eq!(
            fleet.insert(t(0), Instance::new("a", "v2", InstanceState::Ready)),
            Err(FleetError::DuplicateInstance {
                instance: "a".into()
            })
        );
        assert_eq!(fleet.counts(&"v2".into()), RevisionCounts::default());
    }

    #[test]
    fn min_ready_zero_means_available_at_once() {
        let mut fleet = Fleet::new(Duration::ZERO);
        fleet
            .insert(t(5), Instance::new("a", "v1", InstanceState::Starting))
            .unwrap();
        fleet.set_state(t(7), &"a".into(), InstanceState::Ready);
        assert_eq!(fleet.counts(&"v1".into()).available, 1);
        assert_eq!(fleet.next_available_at(), None);
    }

    #[test]
    fn flapping_restarts_the_min_ready_clock() {
        let mut fleet = Fleet::new(Duration::from_secs(10));
        let a = InstanceId::from("a");
        fleet
            .insert(t(0), Instance::new("a", "v1", InstanceState::Starting))
            .unwrap();
        fleet.set_state(t(0), &a, InstanceState::Ready);
        fleet.set_state(t(5_000), &a, InstanceState::Starting);
        fleet.set_state(t(6_000), &a, InstanceState::Ready);
        assert!(fleet.refresh(t(10_000)).is_empty());
        assert_eq!(fleet.refresh(t(16_000)), vec![a.clone()]);
        assert!(fleet.get(&a).unwrap().available);
    }

    #[test]
    fn unknown_ids_change_nothing() {
        let mut fleet = Fleet::new(Duration::ZERO);
        let before = fleet.clone();
        assert_eq!(
            fleet.set_state(t(0), &"ghost".into(), InstanceState::Ready),
            None
        );
        assert!(!fleet.set_in_rotation(&"ghost".into(), true));
        assert_eq!(fleet.remove(&"ghost".into()), None);
        assert_eq!(fleet, before);
    }

    proptest! {
        /// The indexes always agree with a scan of the instances, per revision and per
        /// group.
        #[test]
        fn counts_match_a_scan(ops in prop::collection::vec((0u8..8, 0u8..4, 0usize..7, 0u64..50), 1..200)) {
            let mut fleet = Fleet::new(Duration::from_millis(10));
            let mut now = 0;
            for (id, revision, state, dt) in ops {
                now += dt;
                let group = InstanceGroup::ALL[usize::from(id % 3 == 0)];
                let id = InstanceId::new(format!("i{id}"));
                let revision = Revision::new(format!("v{revision}"));
                match state {
                    0 => { let _ = fleet.insert(t(now), Instance { group, ..Instance::new(id, revision, InstanceState::Provisioning) }); }
                    1 => { fleet.set_in_rotation(&id, dt % 2 == 0); }
                    2 => { fleet.remove(&id); }
                    3 => { fleet.set_leaving(&id); }
                    _ => { fleet.set_state(t(now), &id, InstanceState::ALL[(dt as usize) % 6]); }
                }
                fleet.refresh(t(now));
                let mut expected: BTreeMap<(Revision, InstanceGroup), RevisionCounts> = BTreeMap::new();
                for instance in fleet.iter() {
                    let leaving = fleet.is_leaving(&instance.id);
                    let counts = expected.entry((instance.revision.clone(), instance.group)).or_default();
                    if leaving {
                        prop_assert!(instance.state.is_live(), "a gone instance is not leaving");
                        counts.leaving += 1;
                    } else {
                        counts.by_state[instance.state.index()] += 1;
                    }
                    counts.available += usize::from(instance.available);
                    counts.in_rotation += usize::from(instance.in_rotation);
                    prop_assert_eq!(instance.available, !leaving && instance.state == InstanceState::Ready
                        && instance.ready_since.is_some_and(|s| s + Duration::from_millis(10) <= t(now)));
                }
                for ((revision, group), counts) in &expected {
                    prop_assert_eq!(&fleet.group_counts(revision, *group), counts);
                    let fresh: Vec<_> = fleet.fresh_ids(revision, *group).cloned().collect();
                    let scanned: Vec<_> = fleet.iter()
                        .filter(|i| &i.revision == revision && i.group == *group && i.state == InstanceState::Ready && !i.available && !fleet.is_leaving(&i.id))
                        .map(|i| i.id.clone()).collect();
                    prop_assert_eq!(fresh, scanned);
                }
                let mut by_revision: BTreeMap<Revision, RevisionCounts> = BTreeMap::new();
                for ((revision, _), counts) in &expected {
                    by_revision.entry(revision.clone()).or_default().add(counts);
                }
                for (revision, counts) in &by_revision {
                    prop_assert_eq!(&fleet.counts(revision), counts);
                }
                prop_assert_eq!(fleet.revisions().count(), by_revision.len());
            }
        }
    }
}
