//! Ordering a ring's points within one arc: a build never sorts the whole ring.
//!
//! Points are scattered into their arcs (about 16 each) by the layout; each arc is then
//! put in order by a counting sort on its (at most 32) buckets, whose few buckets holding
//! several points are finished by an insertion sort, and the points sharing a place are
//! settled by id.

use super::race::{LOSER, POINT, Race, SLOT, entry};

/// Sorts a short slice (an arc's worth, about 16) in place.
pub(super) fn insertion_sort(v: &mut [u64]) {
    for i in 1..v.len() {
        let x = v[i];
        let mut j = i;
        while j > 0 && v[j - 1] > x {
            v[j] = v[j - 1];
            j -= 1;
        }
        v[j] = x;
    }
}

/// Where each bucket's entries start within an arc (index `b`, then the end at `b + 1`),
/// for the arc's at most 32 buckets.
pub(super) type Starts = [u32; 34];

/// Sorts one arc's entries: a counting sort by bucket (at most 32 in an arc, whose first
/// is `first_bucket`), then an insertion sort of the few buckets holding several. Leaves
/// in `starts` where each bucket's entries start, which is what the bucket answers are
/// made of.
pub(super) fn sort_arc(
    region: &mut [u64],
    first_bucket: usize,
    shift: u32,
    scratch: &mut Vec<u64>,
    starts: &mut Starts,
) {
    let bucket_of = |e: u64| ((e >> 32) >> shift) as usize - first_bucket;
    *starts = [0; 34];
    for e in region.iter() {
        starts[bucket_of(*e) + 1] += 1;
    }
    for b in 1..starts.len() {
        starts[b] += starts[b - 1];
    }
    if region.len() < 8 {
        insertion_sort(region);
        return;
    }
    scratch.clear();
    scratch.resize(region.len(), 0);
    let mut next = *starts;
    for e in region.iter() {
        let at = &mut next[bucket_of(*e)];
        scratch[*at as usize] = *e;
        *at += 1;
    }
    for b in 0..32 {
        let (from, to) = (starts[b] as usize, starts[b + 1] as usize);
        if to - from > 1 {
            insertion_sort(&mut scratch[from..to]);
        }
    }
    region.copy_from_slice(scratch);
}

/// Settles sorted bare points: drops duplicates, and on a place held by several instances
/// the smallest id wins (it leads, unmarked) and the others are marked [`LOSER`]. Returns
/// the new length.
pub(super) fn settle_ties(v: &mut [u64], race: &Race<'_>) -> usize {
    let mut len = 0;
    let mut i = 0;
    while i < v.len() {
        let place = v[i] >> 32;
        let mut j = i + 1;
        while j < v.len() && v[j] >> 32 == place {
            j += 1;
        }
        if j == i + 1 {
            v[len] = v[i];
            len += 1;
        } else {
            let mut slots: Vec<u32> = v[i..j].iter().map(|e| (e & SLOT) as u32).collect();
            slots.dedup();
            let winner = slots
                .iter()
                .copied()
                .min_by_key(|s| race.ranks.get(*s as usize).copied().unwrap_or(u32::MAX))
                .unwrap_or(0);
            v[len] = entry(place as u32, POINT, winner);
            len += 1;
            for s in slots.into_iter().filter(|s| *s != winner) {
                v[len] = entry(place as u32, POINT | LOSER, s);
                len += 1;
            }
        }
        i = j;
    }
    len
}
