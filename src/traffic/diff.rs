//! Edits to a table: the change list an adapter applies, how two tables differ, and the
//! undo log that makes a failed edit leave the table untouched.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::{Backend, InstanceWeight, MatchRoute, Mirror, TrafficTable, Weight};
use crate::error::TrafficError;
use crate::model::{InstanceId, Revision};

/// One edit to a [`TrafficTable`].
///
/// A load-balancer adapter that keeps state (HAProxy servers, Envoy endpoints) applies
/// these one by one instead of reloading the whole table.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "snake_case", tag = "change", deny_unknown_fields)
)]
#[non_exhaustive]
pub enum TableChange {
    /// Adds a revision at the end of the layout, with weight 0 and no instances.
    AddRevision {
        /// The revision.
        revision: Revision,
    },
    /// Puts the revisions in this layout order (a permutation of the current ones).
    ReorderRevisions {
        /// Every revision in the table, in the new order.
        order: Vec<Revision>,
    },
    /// Sets a revision's share of the split.
    SetWeight {
        /// The revision.
        revision: Revision,
        /// Its new weight (in documents, basis points: `2500` is 25%).
        #[cfg_attr(feature = "serde", serde(with = "super::weight::basis_points"))]
        weight: Weight,
    },
    /// Takes an instance out of rotation.
    RemoveInstance {
        /// The revision it is listed under.
        revision: Revision,
        /// The instance.
        instance: InstanceId,
    },
    /// Puts an instance in rotation.
    AddInstance {
        /// The revision to list it under.
        revision: Revision,
        /// The instance.
        instance: InstanceId,
        /// Its relative weight within the revision.
        weight: InstanceWeight,
    },
    /// Changes the relative weight of an instance in rotation.
    SetInstanceWeight {
        /// The revision it is listed under.
        revision: Revision,
        /// The instance.
        instance: InstanceId,
        /// Its new relative weight.
        weight: InstanceWeight,
    },
    /// Replaces the match routes.
    SetRoutes {
        /// The new routes, in checking order.
        routes: Vec<MatchRoute>,
    },
    /// Replaces (or removes) the mirror.
    SetMirror {
        /// The new mirror.
        mirror: Option<Mirror>,
    },
    /// Removes a revision, with any instances still listed under it.
    RemoveRevision {
        /// The revision.
        revision: Revision,
    },
}

/// What changed from one table generation to the next.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[allow(clippy::exhaustive_structs)] // Built by callers with a struct literal: a new field is a deliberate, breaking change.
pub struct TableDiff {
    /// The generation the changes apply to.
    pub from_generation: u64,
    /// The generation the table has afterwards.
    pub to_generation: u64,
    /// The edits, in the order to apply them.
    pub changes: Vec<TableChange>,
}

impl TableDiff {
    /// Whether nothing but (possibly) the generation changes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// The inverse of one applied change; replaying these backwards restores a table.
pub(super) enum Undo {
    RemoveRevision(Revision),
    InsertBackend(usize, Backend),
    Reorder(Vec<Revision>),
    SetWeight(usize, Weight),
    AddInstance(usize, InstanceId, InstanceWeight),
    RemoveInstance(usize, InstanceId),
    SetInstanceWeight(usize, InstanceId, InstanceWeight),
    SetRoutes(Vec<MatchRoute>),
    SetMirror(Option<Mirror>),
}

impl TrafficTable {
    /// The changes that turn `self` into `next`, including `next`'s generation.
    ///
    /// `self.apply(&self.diff(next))` makes `self == next` when `next` is at a newer
    /// generation than `self` (or equal to it): a diff that changes the table without
    /// a newer generation is refused when applied
    /// ([`TrafficError::GenerationNotNewer`]),
    /// so two tables built at the builder's default generation 0 need
    /// [`generation`](crate::traffic::TrafficTableBuilder::generation) on the newer one. Costs O(instances); the
    /// rollout engine builds its diffs as it edits instead, at a cost proportional to
    /// the change.
    #[must_use]
    pub fn diff(&self, next: &TrafficTable) -> TableDiff {
        let mut changes = Vec::new();
        let mut layout: Vec<Revision> = self.backends.iter().map(|b| b.revision.clone()).collect();
        for backend in &next.backends {
            if self.backend(&backend.revision).is_none() {
                changes.push(TableChange::AddRevision {
                    revision: backend.revision.clone(),
                });
                layout.push(backend.revision.clone());
            }
        }
        let mut wanted: Vec<Revision> = next.backends.iter().map(|b| b.revision.clone()).collect();
        wanted.extend(layout.iter().filter(|r| next.backend(r).is_none()).cloned());
        if wanted != layout {
            changes.push(TableChange::ReorderRevisions { order: wanted });
        }
        let empty = BTreeMap::new();
        fn instances_of<'a>(
            table: &'a TrafficTable,
            revision: &Revision,
            empty: &'a BTreeMap<InstanceId, InstanceWeight>,
        ) -> &'a BTreeMap<InstanceId, InstanceWeight> {
            table.backend(revision).map_or(empty, |b| &b.instances)
        }
        let mut removals = Vec::new();
        let mut additions = Vec::new();
        for revision in &layout {
            let (old, new) = (self.weight(revision), next.weight(revision));
            if old != new && next.backend(revision).is_some() {
                changes.push(TableChange::SetWeight {
                    revision: revision.clone(),
                    weight: new,
                });
            }
            merge_instances(
                revision,
                instances_of(self, revision, &empty),
                instances_of(next, revision, &empty),
                &mut removals,
                &mut additions,
            );
        }
        changes.append(&mut removals);
        changes.append(&mut additions);
        if self.routes != next.routes {
            changes.push(TableChange::SetRoutes {
                routes: next.routes.clone(),
            });
        }
        if self.mirror != next.mirror {
            changes.push(TableChange::SetMirror {
                mirror: next.mirror.clone(),
            });
        }
        for backend in &self.backends {
            if next.backend(&backend.revision).is_none() {
                changes.push(TableChange::RemoveRevision {
                    revision: backend.revision.clone(),
                });
            }
        }
        TableDiff {
            from_generation: self.generation,
            to_generation: next.generation,
            changes,
        }
    }

    pub(super) fn apply_one(&mut self, change: &TableChange) -> Result<Undo, TrafficError> {
        Ok(match change {
            TableChange::AddRevision { revision } => {
                if self.backend(revision).is_some() {
                    return Err(TrafficError::DuplicateRevision {
                        revision: revision.clone(),
                    });
                }
                self.backends.push(Backend {
                    revision: revision.clone(),
                    weight: Weight::ZERO,
                    instances: BTreeMap::new(),
                });
                Undo::RemoveRevision(revision.clone())
            }
            TableChange::ReorderRevisions { order } => {
                // Check it is a permutation before touching anything.
                for revision in order {
                    self.position(revision)?;
                }
                let distinct: std::collections::BTreeSet<&Revision> = order.iter().collect();
                if distinct.len() != order.len() || order.len() != self.backends.len() {
                    let left_out = self
                        .backends
                        .iter()
                        .find(|b| !distinct.contains(&b.revision))
                        .map_or_else(|| order[0].clone(), |b| b.revision.clone());
                    return Err(TrafficError::UnknownRevision {
                        revision: left_out,
                        context: "reorder, which must list every revision once",
                    });
                }
                let before: Vec<Revision> =
                    self.backends.iter().map(|b| b.revision.clone()).collect();
                self.permute(order);
                Undo::Reorder(before)
            }
            TableChange::SetWeight { revision, weight } => {
                let i = self.position(revision)?;
                let weight = Weight::from_basis_points(u64::from(weight.basis_points()))?;
                Undo::SetWeight(i, std::mem::replace(&mut self.backends[i].weight, weight))
            }
            TableChange::RemoveInstance { revision, instance } => {
                let i = self.position(revision)?;
                let weight = self.backends[i].instances.remove(instance).ok_or_else(|| {
                    TrafficError::UnknownInstance {
                        instance: instance.clone(),
                        revision: revision.clone(),
                    }
                })?;
                self.owners.remove(instance);
                Undo::AddInstance(i, instance.clone(), weight)
            }
            TableChange::AddInstance {
                revision,
                instance,
                weight,
            } => {
                let i = self.position(revision)?;
                let weight = weight.validate(instance)?;
                if let Some(first) = self.owners.get(instance) {
                    return Err(TrafficError::DuplicateInstance {
                        instance: instance.clone(),
                        first: first.clone(),
                        second: revision.clone(),
                    });
                }
                self.owners.insert(instance.clone(), revision.clone());
                self.backends[i].instances.insert(instance.clone(), weight);
                Undo::RemoveInstance(i, instance.clone())
            }
            TableChange::SetInstanceWeight {
                revision,
                instance,
                weight,
            } => {
                let i = self.position(revision)?;
                let weight = weight.validate(instance)?;
                let slot = self.backends[i]
                    .instances
                    .get_mut(instance)
                    .ok_or_else(|| TrafficError::UnknownInstance {
                        instance: instance.clone(),
                        revision: revision.clone(),
                    })?;
                Undo::SetInstanceWeight(i, instance.clone(), std::mem::replace(slot, weight))
            }
            TableChange::SetRoutes { routes } => {
                let normalized = routes
                    .iter()
                    .map(|r| {
                        r.condition
                            .clone()
                            .normalized()
                            .map(|condition| MatchRoute {
                                condition,
                                revision: r.revision.clone(),
                            })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Undo::SetRoutes(std::mem::replace(&mut self.routes, normalized))
            }
            TableChange::SetMirror { mirror } => {
                Undo::SetMirror(std::mem::replace(&mut self.mirror, mirror.clone()))
            }
            TableChange::RemoveRevision { revision } => {
                let i = self.position(revision)?;
                let backend = self.backends.remove(i);
                for instance in backend.instances.keys() {
                    self.owners.remove(instance);
                }
                Undo::InsertBackend(i, backend)
            }
        })
    }

    /// Puts the backends in `order`, which must be a permutation of them.
    fn permute(&mut self, order: &[Revision]) {
        let mut rest = std::mem::take(&mut self.backends);
        for revision in order {
            if let Some(i) = rest.iter().position(|b| &b.revision == revision) {
                self.backends.push(rest.swap_remove(i));
            }
        }
    }

    pub(super) fn revert(&mut self, undo: Undo) {
        match undo {
            Undo::RemoveRevision(revision) => {
                if let Some(i) = self.backends.iter().position(|b| b.revision == revision) {
                    self.backends.remove(i);
                }
            }
            Undo::InsertBackend(i, backend) => {
                for instance in backend.instances.keys() {
                    self.owners
                        .insert(instance.clone(), backend.revision.clone());
                }
                self.backends.insert(i, backend);
            }
            Undo::Reorder(order) => self.permute(&order),
            Undo::SetWeight(i, weight) => self.backends[i].weight = weight,
            Undo::AddInstance(i, instance, weight) => {
                self.owners
                    .insert(instance.clone(), self.backends[i].revision.clone());
                self.backends[i].instances.insert(instance, weight);
            }
            Undo::RemoveInstance(i, instance) => {
                self.owners.remove(&instance);
                self.backends[i].instances.remove(&instance);
            }
            Undo::SetInstanceWeight(i, instance, weight) => {
                self.backends[i].instances.insert(instance, weight);
            }
            Undo::SetRoutes(routes) => self.routes = routes,
            Undo::SetMirror(mirror) => self.mirror = mirror,
        }
    }
}

/// Walks two sorted instance maps once, emitting removals and additions/weight changes.
fn merge_instances(
    revision: &Revision,
    old: &BTreeMap<InstanceId, InstanceWeight>,
    new: &BTreeMap<InstanceId, InstanceWeight>,
    removals: &mut Vec<TableChange>,
    additions: &mut Vec<TableChange>,
) {
    let mut old_iter = old.iter().peekable();
    let mut new_iter = new.iter().peekable();
    loop {
        let order = match (old_iter.peek(), new_iter.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((a, _)), Some((b, _))) => a.cmp(b),
        };
        match order {
            Ordering::Less => {
                let (instance, _) = old_iter.next().expect("peeked");
                removals.push(TableChange::RemoveInstance {
                    revision: revision.clone(),
                    instance: instance.clone(),
                });
            }
            Ordering::Greater => {
                let (instance, weight) = new_iter.next().expect("peeked");
                additions.push(TableChange::AddInstance {
                    revision: revision.clone(),
                    instance: instance.clone(),
                    weight: *weight,
                });
            }
            Ordering::Equal => {
                let ((instance, old_weight), (_, new_weight)) = (
                    old_iter.next().expect("peeked"),
                    new_iter.next().expect("peeked"),
                );
                if old_weight != new_weight {
                    additions.push(TableChange::SetInstanceWeight {
                        revision: revision.clone(),
                        instance: instance.clone(),
                        weight: *new_weight,
                    });
                }
            }
        }
    }
}

/// How a table is written in documents: plain lists, so that duplicates are visible to
/// the checks instead of being merged away by a map.
#[cfg(feature = "serde")]
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TableDocument {
    #[serde(default)]
    generation: u64,
    #[serde(default)]
    revisions: Vec<BackendDocument>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    routes: Vec<MatchRoute>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mirror: Option<Mirror>,
}

#[cfg(feature = "serde")]
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BackendDocument {
    revision: Revision,
    #[serde(with = "super::weight::basis_points")]
    weight: Weight,
    instances: Vec<InstanceDocument>,
}

#[cfg(feature = "serde")]
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct InstanceDocument {
    id: InstanceId,
    #[serde(default)]
    weight: InstanceWeight,
}

#[cfg(feature = "serde")]
impl TryFrom<TableDocument> for TrafficTable {
    type Error = TrafficError;

    fn try_from(document: TableDocument) -> Result<Self, Self::Error> {
        let mut changes = Vec::new();
        for backend in document.revisions {
            changes.push(TableChange::AddRevision {
                revision: backend.revision.clone(),
            });
            changes.push(TableChange::SetWeight {
                revision: backend.revision.clone(),
                weight: backend.weight,
            });
            for instance in backend.instances {
                changes.push(TableChange::AddInstance {
                    revision: backend.revision.clone(),
                    instance: instance.id,
                    weight: instance.weight,
                });
            }
        }
        changes.push(TableChange::SetRoutes {
            routes: document.routes,
        });
        changes.push(TableChange::SetMirror {
            mirror: document.mirror,
        });
        let mut table = TrafficTable {
            generation: document.generation,
            ..TrafficTable::default()
        };
        table.apply_changes(&changes)?;
        Ok(table)
    }
}

#[cfg(feature = "serde")]
impl From<TrafficTable> for TableDocument {
    fn from(table: TrafficTable) -> Self {
        TableDocument {
            generation: table.generation,
            revisions: table
                .backends
                .into_iter()
                .map(|b| BackendDocument {
                    revision: b.revision,
                    weight: b.weight,
                    instances: b
                        .instances
                        .into_iter()
                        .map(|(id, weight)| InstanceDocument { id, weight })
                        .collect(),
                })
                .collect(),
            routes: table.routes,
            mirror: table.mirror,
        }
    }
}
