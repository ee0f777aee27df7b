//! The load balancer's view: the last table published, what it has acknowledged, and
//! which instances are on their way in or out of rotation.
//!
//! The rule this file exists for: an instance may be drained only once a table that
//! excludes it has been acknowledged. An instance is *clear* of rotation when it is not
//! in the published table and no unacknowledged table still lists it.

use std::collections::BTreeMap;

use crate::model::{InstanceId, Revision};
use crate::traffic::{TOTAL_BASIS_POINTS, TableChange, TableDiff, TrafficTable, Weight};

/// Publication state of the traffic table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
    /// For each instance in `leaving`, the latest generation that removed it.
    leaving_at: BTreeMap<InstanceId, u64>,
}

/// What an acknowledgement changed.
#[derive(Debug, Default)]
pub(crate) struct Acknowledged {
    /// Instances now acknowledged in rotation.
    pub entered: Vec<InstanceId>,
    /// Instances now acknowledged out of rotation.
    pub exited: Vec<InstanceId>,
}

impl Rotation {
    /// Starts from a table the load balancer already applies.
    pub fn new(table: TrafficTable) -> Self {
        Rotation {
            acknowledged: table.generation(),
            published: table,
            ..Rotation::default()
        }
    }

    /// Whether no table the load balancer may still be applying lists `instance`.
    pub fn is_clear(&self, instance: &InstanceId, acknowledged_in_rotation: bool) -> bool {
        self.published.revision_of(instance).is_none()
            && !self.leaving_at.contains_key(instance)
            && !acknowledged_in_rotation
    }

    /// Whether a table newer than the acknowledged one is outstanding.
    pub fn awaiting_ack(&self) -> bool {
        self.published.generation() > self.acknowledged
    }

    /// Records the load balancer's acknowledgement of `generation` (and every earlier
    /// one). Returns `None` for a generation never published or already acknowledged.
    pub fn acknowledge(&mut self, generation: u64) -> Option<Acknowledged> {
        if generation <= self.acknowledged || generation > self.published.generation() {
            return None;
        }
        self.acknowledged = generation;
        let mut result = Acknowledged::default();
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
        events.sort_by_key(|(at, entered, _)| (*at, !*entered));
        for (at, entered, id) in events {
            if entered {
                result.entered.push(id);
            } else {
                if self.leaving_at.get(&id) == Some(&at) {
                    self.leaving_at.remove(&id);
                }
                result.exited.push(id);
            }
        }
        Some(result)
    }

    /// Applies `membership` (instance additions and removals) to the published table,
    /// recomputes the weights with `weigh`, and returns the diff to send, or `None` if
    /// nothing changed. The table is left unchanged if the result would be invalid
    /// (which the caller's eligibility rules make impossible; the error is returned so
    /// it is reported, not hidden).
    pub fn publish(
        &mut self,
        membership: Vec<TableChange>,
        weigh: impl Fn(&[(Revision, usize)]) -> Vec<Weight>,
    ) -> Result<Option<TableDiff>, crate::error::TrafficError> {
        if membership.is_empty() {
            return Ok(None);
        }
        let mut counts: Vec<(Revision, usize)> = self
            .published
            .backends()
            .iter()
            .map(|b| (b.revision().clone(), b.instance_count()))
            .collect();
        let mut changes = Vec::new();
        for change in &membership {
            match change {
                TableChange::AddInstance { revision, .. } => {
                    match counts.iter_mut().find(|(r, _)| r == revision) {
                        Some((_, n)) => *n += 1,
                        None => {
                            changes.push(TableChange::AddRevision {
                                revision: revision.clone(),
                            });
                            counts.push((revision.clone(), 1));
                        }
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
        changes.extend(membership.iter().cloned());
        let weights = weigh(&counts);
        for ((revision, _), weight) in counts.iter().zip(&weights) {
            if self.published.weight(revision) != *weight
                || self.published.backend(revision).is_none()
            {
                changes.push(TableChange::SetWeight {
                    revision: revision.clone(),
                    weight: *weight,
                });
            }
        }
        for (revision, n) in &counts {
            if *n == 0 {
                changes.push(TableChange::RemoveRevision {
                    revision: revision.clone(),
                });
            }
        }
        let from = self.published.generation();
        self.published.apply_changes(&changes)?;
        let to = from + 1;
        self.published.set_generation(to);
        for change in &membership {
            match change {
                TableChange::AddInstance { instance, .. } => {
                    self.joining.entry(to).or_default().push(instance.clone());
                }
                TableChange::RemoveInstance { instance, .. } => {
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

    /// Checks the bookkeeping against the table (for restored documents).
    pub fn check(&self) -> Result<(), String> {
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

    #[test]
    fn an_instance_is_clear_only_after_the_table_without_it_is_acknowledged() {
        let mut rotation = Rotation::new(TrafficTable::empty());
        let a = InstanceId::from("a");
        rotation
            .publish(vec![add("v1", "a"), add("v1", "b")], proportional_weights)
            .unwrap();
        assert!(!rotation.is_clear(&a, false));
        rotation
            .publish(vec![remove("v1", "a")], proportional_weights)
            .unwrap();
        assert!(
            !rotation.is_clear(&a, false),
            "removal not yet acknowledged"
        );
        let first = rotation.acknowledge(1).unwrap();
        assert_eq!(first.entered.len(), 2);
        assert!(!rotation.is_clear(&a, true));
        let second = rotation.acknowledge(2).unwrap();
        assert_eq!(second.exited, vec![a.clone()]);
        assert!(rotation.is_clear(&a, false));
        assert!(rotation.acknowledge(2).is_none(), "duplicate");
        assert!(rotation.acknowledge(9).is_none(), "never published");
    }

    #[test]
    fn removing_the_last_instance_removes_the_revision() {
        let mut rotation = Rotation::new(TrafficTable::empty());
        rotation
            .publish(vec![add("v1", "a"), add("v2", "b")], proportional_weights)
            .unwrap();
        let diff = rotation
            .publish(vec![remove("v2", "b")], proportional_weights)
            .unwrap()
            .unwrap();
        assert!(diff.changes.contains(&TableChange::RemoveRevision {
            revision: "v2".into()
        }));
        assert_eq!(rotation.published.weight(&"v1".into()), Weight::FULL);
    }
}
