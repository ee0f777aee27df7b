//! Incremental updates: a [`TableDiff`] applied to a compiled router at a cost that
//! follows the change, not the fleet.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::pool::{Pool, Shift};
use super::{Router, Target, effective_mirror};
use crate::error::TrafficError;
use crate::model::{InstanceId, Revision};
use crate::traffic::{TableChange, TableDiff};

/// Above this share of a pool's instances changed in one diff, the pool is rebuilt: one
/// build is then cheaper than many edits.
const REBUILD_FRACTION: usize = 8;

impl Router {
    /// Applies `diff` to the routed table and updates the router to match: afterwards
    /// it routes every request exactly as `Router::new` of the new table would.
    ///
    /// The cost follows the change. Weights between revisions, routes and the mirror's
    /// share cost O(revisions + routes) and rebuild no instance structure. One instance
    /// joining, leaving or changing weight rewrites only the part of its revision's ring
    /// (if it is built: see [`Router::prepare_sticky`]) that its own points can win: for
    /// each point, the gaps either side whose keys it could take given the weights (with
    /// equal weights, the gap between its two neighbours; a few more when the weights
    /// differ, more when they are far apart),
    /// plus its revision's alias table and an O(instances) copy of the target list. A
    /// diff that changes many instances of a revision, or one whose reach would cover a
    /// quarter of the ring, rebuilds that revision.
    ///
    /// # Errors
    ///
    /// [`TrafficError::StaleDiff`] if the diff starts from another generation than the
    /// router's table (a lost or reordered update: rebuild with [`Router::new`] from a
    /// fresh table), or any error [`TrafficTable::apply`](crate::TrafficTable::apply)
    /// gives for a diff that would make the table invalid. On error the router is
    /// unchanged and keeps routing the old table.
    pub fn apply(&mut self, diff: &TableDiff) -> Result<(), TrafficError> {
        self.table.apply(diff)?;
        let mut touched: BTreeSet<(&Revision, &InstanceId)> = BTreeSet::new();
        for change in &diff.changes {
            match change {
                TableChange::AddInstance {
                    revision, instance, ..
                }
                | TableChange::RemoveInstance { revision, instance }
                | TableChange::SetInstanceWeight {
                    revision, instance, ..
                } => {
                    touched.insert((revision, instance));
                }
                _ => {}
            }
        }
        // Revisions gone (with their instances) and new ones (instances come as edits).
        let mut index = 0;
        while let Some(pool) = self.pools.get(index) {
            if self.table.backend(&pool.revision).is_some() {
                index += 1;
                continue;
            }
            let pool = self.pools.remove(index);
            self.targets.drain(pool.start..pool.start + pool.count);
            for other in &mut self.pools {
                if other.start >= pool.start + pool.count {
                    other.start -= pool.count;
                } else if other.start > pool.start {
                    other.start = pool.start;
                }
            }
        }
        let mirror = effective_mirror(&self.table).cloned().map(Arc::new);
        for backend in self.table.backends() {
            if !self.pools.iter().any(|p| &p.revision == backend.revision()) {
                let start = self.targets.len();
                self.pools
                    .push(Pool::empty(backend.revision().clone(), start));
            }
        }
        // Every target names the mirror: rewrite them only when it changed.
        if self.targets.first().is_some_and(|t| t.mirror != mirror) {
            for target in &mut self.targets {
                target.mirror.clone_from(&mirror);
            }
        }
        let mut rebuilt: Vec<Revision> = Vec::new();
        for pool in &self.pools {
            let count = touched.iter().filter(|(r, _)| **r == pool.revision).count();
            if count > 4 && count * REBUILD_FRACTION > pool.count {
                rebuilt.push(pool.revision.clone());
            }
        }
        for revision in &rebuilt {
            self.rebuild_pool(revision, mirror.as_ref());
        }
        for (revision, instance) in touched {
            if rebuilt.contains(revision) {
                continue;
            }
            let Some(k) = self.pools.iter().position(|p| &p.revision == revision) else {
                continue;
            };
            let weight = self
                .table
                .backend(revision)
                .and_then(|b| b.instance_weight(instance))
                .map(|w| w.get());
            let shift = self.pools[k].set(&mut self.targets, instance, weight, mirror.as_ref());
            self.shift_others(k, shift);
        }
        self.reorder();
        self.link();
        if self.prepared {
            for pool in &self.pools {
                pool.ring(&self.targets);
            }
        }
        Ok(())
    }

    /// Rebuilds one revision's pool from the table, in place in the target list.
    fn rebuild_pool(&mut self, revision: &Revision, mirror: Option<&Arc<Revision>>) {
        let (Some(k), Some(backend)) = (
            self.pools.iter().position(|p| &p.revision == revision),
            self.table.backend(revision),
        ) else {
            return;
        };
        let (start, count) = (self.pools[k].start, self.pools[k].count);
        let mut fresh: Vec<Target> = Vec::with_capacity(backend.instance_count());
        let mut pool = Pool::new(backend, mirror, &mut fresh);
        pool.start = start;
        let added = fresh.len();
        self.targets.splice(start..start + count, fresh);
        if self.pools[k].has_ring() {
            pool.ring(&self.targets);
        }
        self.pools[k] = pool;
        for (j, other) in self.pools.iter_mut().enumerate() {
            if j != k && (other.start > start || other.start == start && other.count > 0) {
                other.start = (other.start + added).saturating_sub(count);
            }
        }
    }

    /// Moves the other pools' ranges after pool `k` inserted or removed a target.
    fn shift_others(&mut self, k: usize, shift: Shift) {
        let own_start = self.pools[k].start;
        for (j, other) in self.pools.iter_mut().enumerate() {
            if j == k {
                continue;
            }
            match shift {
                Shift::Inserted(at) => {
                    // An empty pool starting where the insertion happened lies after
                    // pool `k` unless the insertion was at `k`'s own start: a new
                    // revision's pool sits right after the end of the one before it,
                    // where that one grows too.
                    let behind = other.start == at && (other.count > 0 || at > own_start);
                    if other.start > at || behind {
                        other.start += 1;
                    }
                }
                Shift::Removed(at) if other.start > at => other.start -= 1,
                Shift::Removed(_) | Shift::None => {}
            }
        }
    }

    /// Puts the pools in the split's order: live revisions in layout order, then the rest.
    fn reorder(&mut self) {
        let order: Vec<&Revision> = {
            let backends = self.table.backends();
            backends
                .iter()
                .filter(|b| !b.weight().is_zero())
                .chain(backends.iter().filter(|b| b.weight().is_zero()))
                .map(|b| b.revision())
                .collect()
        };
        if self
            .pools
            .iter()
            .map(|p| &p.revision)
            .eq(order.iter().copied())
        {
            return;
        }
        let mut rest = std::mem::take(&mut self.pools);
        for revision in order {
            if let Some(i) = rest.iter().position(|p| &p.revision == revision) {
                self.pools.push(rest.swap_remove(i));
            }
        }
    }
}
