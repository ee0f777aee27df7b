//! One revision's instances, ready for both kinds of choice, and the edits that keep
//! them so as instances join, leave and change weight.

use std::sync::{Arc, OnceLock};

use super::Target;
use super::alias::Picker;
use super::race::Race;
use super::ring::Ring;
use crate::model::{InstanceId, Revision};
use crate::traffic::Backend;

/// One revision's instances: a range of the router's targets, in id order.
#[derive(Clone, Debug)]
pub(super) struct Pool {
    pub(super) revision: Revision,
    /// The same name, shared by the pool's targets.
    shared: Arc<Revision>,
    pub(super) start: usize,
    pub(super) count: usize,
    pub(super) picker: Picker,
    /// Built on first use (a sticky pick, or [`Router::prepare_sticky`](super::Router::prepare_sticky)):
    /// random routing never needs it. Empty for fewer than two instances, where there is
    /// nothing to choose.
    ring: OnceLock<Ring>,
    /// The ring's names for instances: `slots[rank]` is the slot of the instance with the
    /// `rank`-th smallest id, `ranks[slot]` the way back (`u32::MAX` when free).
    slots: Vec<u32>,
    ranks: Vec<u32>,
    /// Weight by slot (0 when free).
    weights: Vec<u16>,
    free: Vec<u32>,
}

/// What one edit did to a pool's range of targets, so the router can shift the others.
pub(super) enum Shift {
    Inserted(usize),
    Removed(usize),
    None,
}

impl Pool {
    /// Appends `backend`'s instances to `all` and describes them.
    pub(super) fn new(
        backend: &Backend,
        mirror: Option<&Arc<Revision>>,
        all: &mut Vec<Target>,
    ) -> Pool {
        let start = all.len();
        let shared = Arc::new(backend.revision().clone());
        all.extend(backend.instances().map(|(id, _)| Target {
            instance: id.clone(),
            revision: Arc::clone(&shared),
            mirror: mirror.cloned(),
        }));
        let weights: Vec<u16> = backend.instances().map(|(_, w)| w.get()).collect();
        let count = weights.len();
        Pool {
            revision: backend.revision().clone(),
            shared,
            start,
            count,
            picker: Picker::new(&weights),
            ring: OnceLock::new(),
            slots: (0..count as u32).collect(),
            ranks: (0..count as u32).collect(),
            weights,
            free: Vec::new(),
        }
    }

    /// A revision with no instances yet, its (empty) range at `start`.
    pub(super) fn empty(revision: Revision, start: usize) -> Pool {
        Pool {
            shared: Arc::new(revision.clone()),
            revision,
            start,
            count: 0,
            picker: Picker::new(&[]),
            ring: OnceLock::new(),
            slots: Vec::new(),
            ranks: Vec::new(),
            weights: Vec::new(),
            free: Vec::new(),
        }
    }

    /// The index (into the router's targets) of the instance in slot `slot`.
    #[inline(always)]
    pub(super) fn target_of(&self, slot: u32) -> usize {
        self.start + self.ranks.get(slot as usize).map_or(0, |r| *r as usize)
    }

    fn race(&self) -> Race<'_> {
        Race {
            weights: &self.weights,
            ranks: &self.ranks,
        }
    }

    /// The ring, built now if it was not yet (ids read from `all`, the router's targets).
    #[inline(always)]
    pub(super) fn ring(&self, all: &[Target]) -> &Ring {
        match self.ring.get() {
            Some(ring) => ring,
            None => self.first_ring(all),
        }
    }

    /// The slow path of [`ring`](Self::ring), kept out of the routing code.
    #[cold]
    #[inline(never)]
    fn first_ring(&self, all: &[Target]) -> &Ring {
        self.ring.get_or_init(|| self.build_ring(all))
    }

    /// Whether the ring has been built.
    pub(super) fn has_ring(&self) -> bool {
        self.ring.get().is_some()
    }

    /// Builds the ring from scratch (ids read from `all`).
    fn build_ring(&self, all: &[Target]) -> Ring {
        if self.count < 2 {
            Ring::empty()
        } else {
            let ids = self.ranks.iter().map(|r| {
                all.get(self.start + *r as usize)
                    .filter(|_| *r != u32::MAX)
                    .map(|t| t.instance.as_str())
            });
            let embed = self.ranks.len() < usize::from(u16::MAX);
            Ring::build(ids, &self.race(), embed)
        }
    }

    fn rebuild_picker(&mut self) {
        let weights: Vec<u16> = self
            .slots
            .iter()
            .map(|s| self.weights.get(*s as usize).copied().unwrap_or(1))
            .collect();
        self.picker = Picker::new(&weights);
    }

    /// The rank of `instance` in this pool, if it is here.
    fn rank_of(&self, all: &[Target], instance: &InstanceId) -> Result<usize, usize> {
        all.get(self.start..self.start + self.count)
            .unwrap_or_default()
            .binary_search_by(|t| t.instance.cmp(instance))
    }

    /// Sets `instance`'s weight to `weight` (`None`: out of rotation), inserting into or
    /// removing from `all` as needed.
    pub(super) fn set(
        &mut self,
        all: &mut Vec<Target>,
        instance: &InstanceId,
        weight: Option<u16>,
        mirror: Option<&Arc<Revision>>,
    ) -> Shift {
        let was_ring = self.count >= 2;
        let (shift, slot, old, new) = match (self.rank_of(all, instance), weight) {
            (Ok(rank), Some(weight)) => {
                let slot = self.slots[rank];
                let old = std::mem::replace(&mut self.weights[slot as usize], weight);
                if old == weight {
                    return Shift::None;
                }
                (Shift::None, slot, old, weight)
            }
            (Ok(rank), None) => {
                let slot = self.slots.remove(rank);
                for r in &mut self.ranks {
                    if *r != u32::MAX && *r > rank as u32 {
                        *r -= 1;
                    }
                }
                self.ranks[slot as usize] = u32::MAX;
                let old = std::mem::replace(&mut self.weights[slot as usize], 0);
                self.free.push(slot);
                all.remove(self.start + rank);
                self.count -= 1;
                (Shift::Removed(self.start + rank), slot, old, 0)
            }
            (Err(rank), Some(weight)) => {
                let slot = self.free.pop().unwrap_or(self.ranks.len() as u32);
                if slot as usize == self.ranks.len() {
                    self.ranks.push(u32::MAX);
                    self.weights.push(0);
                }
                for r in &mut self.ranks {
                    if *r != u32::MAX && *r >= rank as u32 {
                        *r += 1;
                    }
                }
                self.ranks[slot as usize] = rank as u32;
                self.weights[slot as usize] = weight;
                self.slots.insert(rank, slot);
                all.insert(
                    self.start + rank,
                    Target {
                        instance: instance.clone(),
                        revision: Arc::clone(&self.shared),
                        mirror: mirror.cloned(),
                    },
                );
                self.count += 1;
                (Shift::Inserted(self.start + rank), slot, 0, weight)
            }
            (Err(_), None) => return Shift::None,
        };
        self.rebuild_picker();
        let race = Race {
            weights: &self.weights,
            ranks: &self.ranks,
        };
        // A ring not built yet stays so (it is built from the pool as it is then); a built
        // one is kept up to date, by an edit where it can be.
        let Some(ring) = self.ring.get_mut() else {
            return shift;
        };
        let updated =
            was_ring && self.count >= 2 && ring.update(instance.as_str(), slot, (old, new), &race);
        if !updated {
            let fresh = self.build_ring(all);
            self.ring = OnceLock::from(fresh);
        }
        shift
    }

    /// Bytes held by the pool's structures (not the targets), for the documented figures.
    pub(super) fn bytes(&self) -> usize {
        self.ring.get().map_or(0, Ring::bytes)
            + self.picker.bytes()
            + 4 * (self.slots.len() + self.ranks.len() + self.free.len())
            + 2 * self.weights.len()
    }
}
