//! The load balancer's view: the last table published, what it has acknowledged, and
//! which instances are on their way in or out of rotation.
//!
//! The rule this file exists for: an instance may be drained only once a table that
//! excludes it has been acknowledged. An instance is *clear* of rotation when it is not
//! in the published table and no unacknowledged table still lists it.

use std::collections::BTreeMap;

use crate::model::{InstanceId, Revision};
use crate::time::Timestamp;
use crate::traffic::{
    MatchRoute, Mirror, TOTAL_BASIS_POINTS, TableChange, TableDiff, TrafficTable, Weight,
};

/// Publication state of the traffic table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub(crate) struct Rotation {
    /// The latest table sent to the load balancer.
    pub published: TrafficTable,
    /// The highest generation the load balancer has acknowledged.
    pub acknowledged: u64,
    /// Instances added to the table, by the generation that added them, not yet
    /// acknowledged.
    joining: BTreeMap<u64, Vec<InstanceId>>,
    /// Instances removed from the table, by the generation that removed them, not yet
    /// acknowledged.
    leaving: BTreeMap<u64, Vec<InstanceId>>,
    /// For each instance in `leaving`, the latest generation that removed it (derived
    /// from `leaving`, rebuilt on restore).
    #[cfg_attr(feature = "serde", serde(skip))]
    leaving_at: BTreeMap<InstanceId, u64>,
    /// Since when a table has waited for its acknowledgement (reset by any progress).
    #[cfg_attr(feature = "serde", serde(default))]
    unacknowledged_since: Option<Timestamp>,
    /// The generation that last changed the split (weights, routes, mirror or layout
    /// order), as opposed to only which instances are listed: the split is in force
    /// once the load balancer has acknowledged it.
    #[cfg_attr(feature = "serde", serde(default))]
    split_changed_at: u64,
}

/// What an acknowledgement changed: instances now acknowledged in (`true`) or out
/// (`false`) of rotation, in generation order, so that an instance removed and re-added
/// within the acknowledged generations ends where the last table put it.
#[derive(Debug, Default)]
pub(crate) struct Acknowledged {
    pub changes: Vec<(InstanceId, bool)>,
}

/// What the next table holds besides its instances, decided from how many instances
/// each revision will have in rotation.
#[derive(Debug, Default)]
pub(crate) struct Layout {
    /// One weight per revision, in the order given.
    pub weights: Vec<Weight>,
    /// Routes whose targets keep at least one instance.
    pub routes: Vec<MatchRoute>,
    /// A mirror whose target keeps at least one instance.
    pub mirror: Option<Mirror>,
    /// The revisions in a new layout order, if it changes (every revision given to the
    /// layout, each once).
    pub order: Option<Vec<Revision>>,
}

impl Rotation {
    /// Starts from a table the load balancer already applies.
    pub(crate) fn new(table: TrafficTable) -> Self {
        Rotation {
            acknowledged: table.generation(),
            published: table,
            ..Rotation::default()
        }
    }

    /// Whether no table the load balancer may still be applying lists `instance`.
    pub(crate) fn is_clear(&self, instance: &InstanceId, acknowledged_in_rotation: bool) -> bool {
        self.published.revision_of(instance).is_none()
            && !self.leaving_at.contains_key(instance)
            && !acknowledged_in_rotation
    }

    /// Since when the published table has waited for the load balancer, if it has.
    pub(crate) fn unacknowledged_since(&self) -> Option<Timestamp> {
        self.awaiting_ack()
            .then_some(self.unacknowledged_since)
            .flatten()
    }

    /// Whether a table newer than the acknowledged one is outstanding.
    pub(crate) fn awaiting_ack(&self) -> bool {
        self.published.generation() > self.acknowledged
    }

    /// Whether the load balancer applies the published split (weights, routes, mirror
    /// and order), whatever instances it still has to add or remove.
    pub(crate) fn split_acknowledged(&self) -> bool {
        self.acknowledged >= self.split_changed_at
    }

    /// Records the load balancer's acknowledgement of `generation` (and every earlier
    /// one). Returns `None` for a generation never published or already acknowledged.
    pub(crate) fn acknowledge(&mut self, now: Timestamp, generation: u64) -> Option<Acknowledged> {
        if generation <= self.acknowledged || generation > self.published.generation() {
            return None;
        }
        self.acknowledged = generation;
        self.unacknowledged_since = self.awaiting_ack().then_some(now);
        // Replay in generation order so an instance added then removed ends up out.
        let mut events: Vec<(u64, bool, InstanceId)> = Vec::new();
        while let Some(entry) = self.joining.first_entry() {
            if *entry.key() > generation {
                break;
            }
            let (at, ids) = entry.remove_entry();
            events.extend(ids.into_iter().map(|id| (at, true, id)));
        }
        while let Some(entry) = self.leaving.first_entry() {
            if *entry.key() > generation {
                break;
            }
            let (at, ids) = entry.remove_entry();
            events.extend(ids.into_iter().map(|id| (at, false, id)));
        }
        // Within one generation an instance either joins or leaves, never both.
        events.sort_by_key(|(at, _, _)| *at);
        let mut result = Acknowledged::default();
        for (at, entered, id) in events {
            if !entered && self.leaving_at.get(&id) == Some(&at) {
                self.leaving_at.remove(&id);
            }
            result.changes.push((id, entered));
        }
        Some(result)
    }

    /// Applies `membership` (instance additions and removals) to the published table,
    /// asks `layout` for the weights, routes and mirror given each revision's instance
    /// count afterwards (in layout order, new revisions last), and returns the diff to
    /// send, or `None` if nothing changed. Weight-only changes are published; a revision
    /// stays listed (with any weight, 0 included) while it has instances in rotation.
    /// The table is left unchanged if the result would be invalid (the caller's rules
    /// make that impossible; the error is returned so it is reported, not hidden).
    ///
    /// With `amend`, the newest table has not reached the load balancer yet (its update
    /// is still queued): the changes go into that same generation instead of a new one,
    /// and the diff returned holds only them (the caller folds it into the queued one).
    pub(crate) fn publish(
        &mut self,
        now: Timestamp,
        membership: Vec<TableChange>,
        layout: impl FnOnce(&[(Revision, usize)]) -> Layout,
        amend: bool,
    ) -> Result<Option<TableDiff>, crate::error::TrafficError> {
        let counts = self.counts_after(&membership);
        let mut changes: Vec<TableChange> = counts
            .iter()
            .filter(|(revision, _)| self.published.backend(revision).is_none())
            .map(|(revision, _)| TableChange::AddRevision {
                revision: revision.clone(),
            })
            .collect();
        changes.extend(membership.iter().cloned());
        let layout = layout(&counts);
        if let Some(order) = layout.order {
            changes.push(TableChange::ReorderRevisions { order });
        }
        for ((revision, n), weight) in counts.iter().zip(&layout.weights) {
            let listed = self.published.backend(revision).is_some();
            if *n > 0 && (self.published.weight(revision) != *weight || !listed) {
                changes.push(TableChange::SetWeight {
                    revision: revision.clone(),
                    weight: *weight,
                });
            }
        }
        if layout.routes.as_slice() != self.published.routes() {
            changes.push(TableChange::SetRoutes {
                routes: layout.routes,
            });
        }
        if layout.mirror.as_ref() != self.published.mirror() {
            changes.push(TableChange::SetMirror {
                mirror: layout.mirror,
            });
        }
        for (revision, n) in &counts {
            if *n == 0 {
                changes.push(TableChange::RemoveRevision {
                    revision: revision.clone(),
                });
            }
        }
        if changes.is_empty() {
            return Ok(None);
        }
        let was_waiting = self.awaiting_ack();
        let from = self.published.generation();
        // Whether the split changes, apart from which instances serve each revision.
        let splits = changes.iter().any(|change| match change {
            TableChange::SetWeight { revision, weight } => {
                self.published.weight(revision) != *weight
            }
            TableChange::SetRoutes { .. }
            | TableChange::SetMirror { .. }
            | TableChange::ReorderRevisions { .. } => true,
            _ => false,
        });
        self.published.apply_changes(&changes)?;
        let to = if amend { from } else { from + 1 };
        self.published.set_generation(to);
        if splits {
            self.split_changed_at = to;
        }
        if !was_waiting || self.unacknowledged_since.is_none() {
            self.unacknowledged_since = Some(now);
        }
        for change in &membership {
            match change {
                TableChange::AddInstance { instance, .. } => {
                    // Within one generation only the net change is kept: an instance
                    // taken out and put back is simply still in.
                    if cancel(&mut self.leaving, to, instance) {
                        // It may still be leaving from an earlier unacknowledged table.
                        let earlier = self
                            .leaving
                            .iter()
                            .rev()
                            .find(|(_, ids)| ids.contains(instance))
                            .map(|(generation, _)| *generation);
                        match earlier {
                            Some(generation) => {
                                self.leaving_at.insert(instance.clone(), generation);
                            }
                            None => {
                                self.leaving_at.remove(instance);
                            }
                        }
                    } else {
                        self.joining.entry(to).or_default().push(instance.clone());
                    }
                }
                TableChange::RemoveInstance { instance, .. }
                    if !cancel(&mut self.joining, to, instance) =>
                {
                    self.leaving.entry(to).or_default().push(instance.clone());
                    self.leaving_at.insert(instance.clone(), to);
                }
                _ => {}
            }
        }
        Ok(Some(TableDiff {
            from_generation: from,
            to_generation: to,
            changes,
        }))
    }

    /// Each revision's instances in the table once `membership` (instance additions and
    /// removals) applies: the published revisions in table order, then revisions new to
    /// the table in the order `membership` first names them.
    pub(crate) fn counts_after(&self, membership: &[TableChange]) -> Vec<(Revision, usize)> {
        let mut counts: Vec<(Revision, usize)> = self
            .published
            .backends()
            .iter()
            .map(|b| (b.revision().clone(), b.instance_count()))
            .collect();
        for change in membership {
            match change {
                TableChange::AddInstance { revision, .. } => {
                    match counts.iter_mut().find(|(r, _)| r == revision) {
                        Some((_, n)) => *n += 1,
                        None => counts.push((revision.clone(), 1)),
                    }
                }
                TableChange::RemoveInstance { revision, .. } => {
                    if let Some((_, n)) = counts.iter_mut().find(|(r, _)| r == revision) {
                        *n = n.saturating_sub(1);
                    }
                }
                _ => {}
            }
        }
        counts
    }

    /// The membership changes that take every listed instance out of the table.
    pub(crate) fn emptying(&self) -> Vec<TableChange> {
        self.published
            .backends()
            .iter()
            .flat_map(|b| {
                b.instances().map(|(id, _)| TableChange::RemoveInstance {
                    revision: b.revision().clone(),
                    instance: id.clone(),
                })
            })
            .collect()
    }

    /// A rotation restored from its saved parts (the derived index rebuilt).
    // Only documents (the `serde` feature) restore a rotation.
    #[cfg_attr(not(feature = "serde"), allow(dead_code))]
    pub(crate) fn restored(
        published: TrafficTable,
        acknowledged: u64,
        joining: BTreeMap<u64, Vec<InstanceId>>,
        leaving: BTreeMap<u64, Vec<InstanceId>>,
        unacknowledged_since: Option<Timestamp>,
        split_changed_at: u64,
    ) -> Rotation {
        let mut rotation = Rotation {
            published,
            acknowledged,
            joining,
            leaving,
            leaving_at: BTreeMap::new(),
            unacknowledged_since,
            split_changed_at,
        };
        rotation.rebuild();
        rotation
    }

    /// Rebuilds the derived index from `leaving`.
    // Only documents (the `serde` feature) restore a rotation.
    #[cfg_attr(not(feature = "serde"), allow(dead_code))]
    pub(crate) fn rebuild(&mut self) {
        self.leaving_at.clear();
        for (generation, ids) in &self.leaving {
            for id in ids {
                self.leaving_at.insert(id.clone(), *generation);
            }
        }
    }

    /// Whether an instance is listed as leaving in an unacknowledged table.
    // Only documents (the `serde` feature) restore a rotation.
    #[cfg_attr(not(feature = "serde"), allow(dead_code))]
    pub(crate) fn is_leaving(&self, id: &InstanceId) -> bool {
        self.leaving_at.contains_key(id)
    }

    /// Checks the bookkeeping against the table (for restored documents).
    // Only documents (the `serde` feature) restore a rotation.
    #[cfg_attr(not(feature = "serde"), allow(dead_code))]
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.awaiting_ack() != self.unacknowledged_since.is_some() {
            return Err(format!(
                "published generation {} against acknowledged {} does not fit unacknowledged_since {:?} (a table the load balancer never saw, or an acknowledgement never recorded)",
                self.published.generation(),
                self.acknowledged,
                self.unacknowledged_since
            ));
        }
        if self.split_changed_at > self.published.generation() {
            return Err(format!(
                "the split last changed at generation {}, after the published {}",
                self.split_changed_at,
                self.published.generation()
            ));
        }
        if self.acknowledged > self.published.generation() {
            return Err(format!(
                "acknowledged generation {} is ahead of the published {}",
                self.acknowledged,
                self.published.generation()
            ));
        }
        let pending = self.joining.keys().chain(self.leaving.keys());
        if let Some(bad) = pending
            .into_iter()
            .find(|g| **g <= self.acknowledged || **g > self.published.generation())
        {
            return Err(format!(
                "a rotation change at generation {bad} is outside the unacknowledged range"
            ));
        }
        Ok(())
    }
}

/// Removes `instance` from the changes recorded for `generation`; returns whether it
/// was there.
fn cancel(
    changes: &mut BTreeMap<u64, Vec<InstanceId>>,
    generation: u64,
    instance: &InstanceId,
) -> bool {
    let Some(ids) = changes.get_mut(&generation) else {
        return false;
    };
    let before = ids.len();
    ids.retain(|id| id != instance);
    let cancelled = ids.len() != before;
    if ids.is_empty() {
        changes.remove(&generation);
    }
    cancelled
}

/// Splits 10,000 basis points in proportion to `counts` (largest remainder, ties to the
/// earlier revision), so weights always add up exactly. All zero counts give all zero
/// weights.
pub(crate) fn proportional_weights(counts: &[(Revision, usize)]) -> Vec<Weight> {
    let total: u64 = counts.iter().map(|(_, n)| *n as u64).sum();
    if total == 0 {
        return vec![Weight::ZERO; counts.len()];
    }
    let scale = u64::from(TOTAL_BASIS_POINTS);
    let mut shares: Vec<u64> = counts
        .iter()
        .map(|(_, n)| *n as u64 * scale / total)
        .collect();
    let mut left = scale - shares.iter().sum::<u64>();
    let mut by_remainder: Vec<usize> = (0..counts.len()).collect();
    by_remainder.sort_by_key(|&i| std::cmp::Reverse(counts[i].1 as u64 * scale % total));
    for i in by_remainder {
        if left == 0 {
            break;
        }
        if counts[i].1 > 0 {
            shares[i] += 1;
            left -= 1;
        }
    }
    shares
        .into_iter()
        .map(|bp| Weight::from_basis_points(bp).unwrap_or(Weight::ZERO))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::InstanceWeight;

    fn add(revision: &str, instance: &str) -> TableChange {
        TableChange::AddInstance {
            revision: revision.into(),
            instance: instance.into(),
            weight: InstanceWeight::ONE,
        }
    }

    fn remove(revision: &str, instance: &str) -> TableChange {
        TableChange::RemoveInstance {
            revision: revision.into(),
            instance: instance.into(),
        }
    }

    #[test]
    fn proportional_weights_add_up_exactly() {
        let counts = vec![("a".into(), 1), ("b".into(), 1), ("c".into(), 1)];
        let bp: Vec<u16> = proportional_weights(&counts)
            .iter()
            .map(|w| w.basis_points())
            .collect();
        assert_eq!(bp, [3_334, 3_333, 3_333]);
        let counts = vec![("a".into(), 0), ("b".into(), 7)];
        let bp: Vec<u16> = proportional_weights(&counts)
            .iter()
            .map(|w| w.basis_points())
            .collect();
        assert_eq!(bp, [0, 10_000]);
    }

    fn by_count(counts: &[(Revision, usize)]) -> Layout {
        Layout {
            weights: proportional_weights(counts),
            ..Layout::default()
        }
    }

    const T: Timestamp = Timestamp::ZERO;

    #[test]
    fn an_instance_is_clear_only_after_the_table_without_it_is_acknowledged() {
        let mut rotation = Rotation::new(TrafficTable::empty());
        let a = InstanceId::from("a");
        rotation
            .publish(T, vec![add("v1", "a"), add("v1", "b")], by_count, false)
            .unwrap();
        assert!(!rotation.is_clear(&a, false));
        rotation
            .publish(T, vec![remove("v1", "a")], by_count, false)
            .unwrap();
        assert!(
            !rotation.is_clear(&a, false),
            "removal not yet acknowledged"
        );
        let first = rotation.acknowledge(T, 1).unwrap();
        assert_eq!(first.changes.len(), 2);
        assert!(!rotation.is_clear(&a, true));
        let second = rotation.acknowledge(T, 2).unwrap();
        assert_eq!(second.changes, vec![(a.clone(), false)]);
        assert!(rotation.is_clear(&a, false));
        assert!(rotation.acknowledge(T, 2).is_none(), "duplicate");
        assert!(rotation.acknowledge(T, 9).is_none(), "never published");
    }

    /// One acknowledgement covering a removal and a re-add of the same instance must
    /// leave it in rotation (the last table lists it).
    #[test]
    fn an_acknowledgement_replays_removal_then_re_add_in_order() {
        let mut rotation = Rotation::new(TrafficTable::empty());
        rotation
            .publish(T, vec![add("v1", "a")], by_count, false)
            .unwrap();
        rotation.acknowledge(T, 1).unwrap();
        rotation
            .publish(T, vec![remove("v1", "a")], by_count, false)
            .unwrap();
        rotation
            .publish(T, vec![add("v1", "a")], by_count, false)
            .unwrap();
        let acknowledged = rotation.acknowledge(T, 3).unwrap();
        let a = InstanceId::from("a");
        assert_eq!(acknowledged.changes, vec![(a.clone(), false), (a, true)]);
    }

    /// An update not yet sent is amended: an instance put in and taken out again within
    /// it never reaches the load balancer, so it is clear at once (and must be drained
    /// then, since no acknowledgement will ever say so).
    #[test]
    fn an_amended_update_keeps_only_the_net_change() {
        let mut rotation = Rotation::new(TrafficTable::empty());
        rotation
            .publish(T, vec![add("v1", "a"), add("v1", "b")], by_count, false)
            .unwrap();
        let b = InstanceId::from("b");
        let diff = rotation
            .publish(T, vec![remove("v1", "b")], by_count, true)
            .unwrap()
            .unwrap();
        assert_eq!(diff.to_generation, 1, "the same generation, amended");
        assert_eq!(rotation.published.generation(), 1);
        assert!(
            rotation.is_clear(&b, false),
            "b never reached the load balancer"
        );
        let acknowledged = rotation.acknowledge(T, 1).unwrap();
        assert_eq!(acknowledged.changes, vec![(InstanceId::from("a"), true)]);
    }

    #[test]
    fn weight_only_changes_are_published() {
        let mut rotation = Rotation::new(TrafficTable::empty());
        rotation
            .publish(T, vec![add("v1", "a"), add("v2", "b")], by_count, false)
            .unwrap();
        let shift = |_: &[(Revision, usize)]| Layout {
            weights: vec![Weight::FULL, Weight::ZERO],
            ..Layout::default()
        };
        let diff = rotation
            .publish(T, Vec::new(), shift, false)
            .unwrap()
            .unwrap();
        assert_eq!(diff.to_generation, 2);
        assert_eq!(rotation.published.weight(&"v2".into()), Weight::ZERO);
        assert!(
            rotation.published.backend(&"v2".into()).is_some(),
            "a weight-0 revision stays listed while it has instances"
        );
        assert_eq!(rotation.publish(T, Vec::new(), shift, false).unwrap(), None);
    }

    #[test]
    fn removing_the_last_instance_removes_the_revision() {
        let mut rotation = Rotation::new(TrafficTable::empty());
        rotation
            .publish(T, vec![add("v1", "a"), add("v2", "b")], by_count, false)
            .unwrap();
        let diff = rotation
            .publish(T, vec![remove("v2", "b")], by_count, false)
            .unwrap()
            .unwrap();
        assert!(diff.changes.contains(&TableChange::RemoveRevision {
            revision: "v2".into()
        }));
        assert_eq!(rotation.published.weight(&"v1".into()), Weight::FULL);
    }
}
