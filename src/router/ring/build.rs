//! Building a ring in a few straight passes over the points, each one a loop whose
//! branches go the same way almost every time (the places are random, so a branch that
//! depends on how they fall mispredicts half the time, and that, not the arithmetic, is
//! what a build costs).
//!
//! 1. [`sort_points`]: one counting pass into bins of about one point each by the top
//!    bits of the place, then an insertion sort of the whole, which only has neighbours
//!    within a bin to swap.
//! 2. [`equal_entries`] (every instance weighs the same): each key goes to the nearest
//!    place, so the entries are the points and one cut at the midpoint of each gap
//!    between places of different owners (a key exactly halfway goes to the smaller id):
//!    the same entries as the sweep of [`race`](super::super::race), without the races.
//! 3. [`Ring::layout`](super::Ring): the entries copied into their arcs, and
//!    [`answer_all`] writing every bucket's answer in one walk along the circle.

use super::super::race::{LAP, LOSER, POINT, Race, SLOT, entry};
use super::{embedded, scan_at};

/// Above this many points in one bin (only when places are squeezed together, as tests
/// do), the insertion sort would go quadratic: the whole is sorted by comparisons.
const CROWDED_BIN: u32 = 64;

/// Sorts points (entries of places, any order) by place, ties by slot.
pub(super) fn sort_points(keys: &[u64]) -> Vec<u64> {
    let n = keys.len();
    let bin_bits = (usize::BITS - n.leading_zeros()).clamp(1, 16);
    if n < 64 {
        let mut sorted = keys.to_vec();
        sorted.sort_unstable();
        return sorted;
    }
    let shift = 64 - bin_bits;
    let bins = 1usize << bin_bits;
    let mut starts = vec![0u32; bins];
    for k in keys {
        starts[(k >> shift) as usize] += 1;
    }
    // Counts to starts with the running total in a register: summing in place makes
    // each bin wait for the store of the one before.
    let (mut crowded, mut total) = (0, 0);
    for start in &mut starts {
        let count = *start;
        crowded = crowded.max(count);
        *start = total;
        total += count;
    }
    let mut sorted = vec![0u64; n];
    for k in keys {
        let at = &mut starts[(k >> shift) as usize];
        sorted[*at as usize] = *k;
        *at += 1;
    }
    if crowded > CROWDED_BIN {
        sorted.sort_unstable();
    } else {
        insertion_sort(&mut sorted);
    }
    sorted
}

/// With equal weights: the ring's entries from the points `sorted` (by place, ties by
/// slot), in order, and the widest gap between neighbouring places.
pub(super) fn equal_entries(sorted: &[u64], race: &Race<'_>) -> (Vec<u64>, i64) {
    let (winners, losers) = winners(sorted, race);
    let place = |k: u64| (k >> 32) as i64;
    let slot = |k: u64| (k & SLOT) as u32;
    let (Some(&first), Some(&last)) = (winners.first(), winners.last()) else {
        return (Vec::new(), LAP);
    };
    let mut out = Vec::with_capacity(2 * winners.len() + losers.len() + 1);
    let wrap = midpoint(
        race,
        (place(last), slot(last)),
        (place(first) + LAP, slot(first)),
    );
    if let Some(x) = wrap.filter(|x| *x >= LAP) {
        out.push(entry((x - LAP) as u32, 0, slot(last)));
    }
    let mut widest = place(first) + LAP - place(last);
    let mut losers = losers.iter().copied().peekable();
    let ranks = race.ranks;
    let rank = |s: u32| ranks.get(s as usize).copied().unwrap_or(u32::MAX);
    for pair in winners.windows(2) {
        let (k, next) = (pair[0], pair[1]);
        out.push(k | POINT);
        if losers.peek().is_some_and(|l| l >> 32 == k >> 32) {
            while let Some(l) = losers.next_if(|l| l >> 32 == k >> 32) {
                out.push(l);
            }
        }
        let (a, b) = (place(k), place(next));
        widest = widest.max(b - a);
        let (wa, wb) = (slot(k), slot(next));
        if wa != wb {
            // The midpoint rule of `midpoint`, without its branches.
            let sum = a + b;
            let up = i64::from(sum & 1 == 0 && rank(wa) < rank(wb));
            let cut = (sum - 1 + up) >> 1;
            if cut > a {
                out.push(entry(cut as u32, 0, wa));
            }
        }
    }
    out.push(last | POINT);
    out.extend(losers);
    if let Some(x) = wrap.filter(|x| *x < LAP) {
        out.push(entry(x as u32, 0, slot(last)));
    }
    (out, widest)
}

/// The points of `sorted` that own their places (one per place: the smallest id there),
/// and loser entries for the others (by place, then slot, each slot once a place).
fn winners(sorted: &[u64], race: &Race<'_>) -> (Vec<u64>, Vec<u64>) {
    let mut winners = Vec::with_capacity(sorted.len());
    let mut losers = Vec::new();
    let mut i = 0;
    while let Some(&k) = sorted.get(i) {
        if sorted.get(i + 1).is_none_or(|n| n >> 32 != k >> 32) {
            winners.push(k);
            i += 1;
            continue;
        }
        let mut end = i + 1;
        while sorted.get(end).is_some_and(|n| n >> 32 == k >> 32) {
            end += 1;
        }
        let group = &sorted[i..end];
        let best = group
            .iter()
            .copied()
            .min_by_key(|e| race.rank((e & SLOT) as u32))
            .unwrap_or(k);
        winners.push(best);
        let from = losers.len();
        losers.extend(
            group
                .iter()
                .filter(|e| *e & SLOT != best & SLOT)
                .map(|e| e | POINT | LOSER),
        );
        losers[from..].sort_unstable();
        let mut kept = losers.split_off(from);
        kept.dedup();
        losers.extend(kept);
        i = end;
    }
    (winners, losers)
}

/// Writes every bucket's answer (slots below 2^16 - 1) from the ring's `entries` (in
/// order), in one walk: a bucket with no boundary answers with the owner of the next
/// one, a bucket with one answers by its place, and a bucket with more sends its keys
/// to a scan from its first entry, whose arena index `index` gives.
///
/// A *boundary* is a visible entry (not a loser) whose owner differs from the next
/// visible entry's, going round.
pub(super) fn answer_all(
    entries: &[u64],
    shift: u32,
    buckets: usize,
    index: impl Fn(usize) -> usize,
) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::with_capacity(buckets);
    let owner = |e: u64| (e & SLOT) as u32;
    let bucket_of = |e: u64| ((e >> 32) >> shift) as usize;
    let Some(&first) = entries.first() else {
        out.resize(buckets, embedded(u32::MAX, 0, 0));
        return out;
    };
    // The bucket of the last boundary written (the last answer in `out`).
    let mut last_bucket = usize::MAX;
    let mut boundary = |out: &mut Vec<u64>, e: u64, first_in_bucket: usize, after: u32| {
        let (bucket, at) = (bucket_of(e), owner(e));
        if bucket == last_bucket {
            // A second boundary in one bucket: its keys are found by a scan.
            if let Some(answer) = out.last_mut() {
                *answer = scan_at(index(first_in_bucket));
            }
            return;
        }
        out.resize(bucket, embedded(u32::MAX, at, at));
        out.push(embedded((e >> 32) as u32, at, after));
        last_bucket = bucket;
    };
    // The previous visible entry and the index of the first entry of its bucket.
    let (mut previous, mut previous_first) = (first, 0);
    let (mut bucket, mut bucket_first) = (bucket_of(first), 0);
    let mut last_after = owner(first);
    for (k, &e) in entries.iter().enumerate().skip(1) {
        let b = bucket_of(e);
        if b != bucket {
            (bucket, bucket_first) = (b, k);
        }
        if e & LOSER != 0 {
            continue;
        }
        if owner(e) != owner(previous) {
            boundary(&mut out, previous, previous_first, owner(e));
            last_after = owner(e);
        }
        (previous, previous_first) = (e, bucket_first);
    }
    // Round the top of the circle: the last visible entry against the first.
    if owner(previous) != owner(first) {
        boundary(&mut out, previous, previous_first, owner(first));
        last_after = owner(first);
    }
    out.resize(buckets, embedded(u32::MAX, last_after, last_after));
    out
}

/// With equal weights, the last key in the gap from place `a` (owned by `wa`) to place `b`
/// (owned by `wb`, unwrapped) that goes to `wa`, if the owners differ and any key does: a
/// key exactly halfway goes to the smaller id.
pub(super) fn midpoint(race: &Race<'_>, (a, wa): (i64, u32), (b, wb): (i64, u32)) -> Option<i64> {
    if wa == wb {
        return None;
    }
    let n = a + b;
    let last = if n.rem_euclid(2) == 0 && race.rank(wa) < race.rank(wb) {
        n.div_euclid(2)
    } else {
        (n - 1).div_euclid(2)
    };
    (last > a).then_some(last)
}

/// Sorts a slice whose elements are near their places (each within its bin).
fn insertion_sort(v: &mut [u64]) {
    for i in 1..v.len() {
        let x = v[i];
        if v[i - 1] <= x {
            continue;
        }
        let mut j = i;
        while j > 0 && v[j - 1] > x {
            v[j] = v[j - 1];
            j -= 1;
        }
        v[j] = x;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::split::mix64;

    #[test]
    fn sorts_points_by_place_then_slot() {
        for n in [0usize, 5, 63, 64, 1_000, 70_000] {
            // Some places shared, some bins crowded.
            let keys: Vec<u64> = (0..n as u64)
                .map(|i| (mix64(i / 2) & 0xfff0_0fff_0000_0000) | (i % 7))
                .collect();
            let mut expected = keys.clone();
            expected.sort_unstable();
            assert_eq!(sort_points(&keys), expected, "{n}");
        }
        let crowded: Vec<u64> = (0..5_000u64).map(|i| (mix64(i) % 300) << 32).collect();
        let mut expected = crowded.clone();
        expected.sort_unstable();
        assert_eq!(sort_points(&crowded), expected);
    }
}
