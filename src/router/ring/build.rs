//! Building a ring in a few straight passes over the points, each one a loop whose
//! branches go the same way almost every time (the places are random, so a branch that
//! depends on how they fall mispredicts half the time, and that, not the arithmetic, is
//! what a build costs).
//!
//! 1. [`sort_points`]: one counting pass into bins of about one point each by the top
//!    bits of the place, then one branchless pass putting neighbours in order and an
//!    insertion sort of the whole, which only has neighbours within a bin to swap.
//! 2. [`equal_arena`] (every instance weighs the same): each key goes to the nearest
//!    place, so the entries are the points and one cut at the midpoint of each gap
//!    between places of different owners (a key exactly halfway goes to the smaller id):
//!    the same entries as the sweep of [`race`](super::super::race), without the races,
//!    written straight into their arcs (sized from the points: at most two entries per
//!    point and one more per arc).
//! 3. [`Ring::finish`](super::Ring): every arc's terminator, and [`answer_all`] writing
//!    every bucket's answer in one walk along the circle. (With unequal weights the
//!    races' entries are first copied into their arcs by `Ring::layout`.)

use super::super::race::{LAP, LOSER, POINT, Race, SLOT, entry};
use super::{Region, Shape, embedded, scan_at};

/// Above this many points in one bin (only when places are squeezed together, as tests
/// do), the insertion sort would go quadratic: the whole is sorted by comparisons.
const CROWDED_BIN: u32 = 64;

/// Sorts the `n` points `points()` yields (entries of places, any order; called twice,
/// yielding the same points each time) by place, ties by slot.
pub(super) fn sort_points<I: Iterator<Item = u64>>(points: impl Fn() -> I, n: usize) -> Vec<u64> {
    let bin_bits = (usize::BITS - n.leading_zeros()).clamp(1, 16);
    if n < 64 {
        let mut sorted: Vec<u64> = points().collect();
        sorted.sort_unstable();
        return sorted;
    }
    let shift = 64 - bin_bits;
    let bins = 1usize << bin_bits;
    let mut starts = vec![0u32; bins];
    points().for_each(|k| starts[(k >> shift) as usize] += 1);
    // Counts to starts with the running total in a register: summing in place makes
    // each bin wait for the store of the one before.
    let (mut crowded, mut total) = (0, 0);
    for start in &mut starts {
        let count = *start;
        crowded = crowded.max(count);
        *start = total;
        total += count;
    }
    debug_assert_eq!(total as usize, n, "points() yields n points");
    let mut sorted = vec![0u64; total as usize];
    points().for_each(|k| {
        let at = &mut starts[(k >> shift) as usize];
        sorted[*at as usize] = k;
        *at += 1;
    });
    if crowded > CROWDED_BIN {
        sorted.sort_unstable();
    } else {
        order_within_bins(&mut sorted);
    }
    sorted
}

/// With equal weights: the ring's arena of the points `sorted` (by place, ties by slot),
/// its regions and the widest gap between neighbouring places, the entries written
/// straight into their arcs in one walk: each key goes to the nearest place, so the
/// entries are the points and one cut at the midpoint of each gap between places of
/// different owners (a key exactly halfway goes to the smaller id), the same entries as
/// the sweep of [`race`](super::super::race) would write, without the races.
///
/// An arc can hold no more entries than twice its points and one: each point, a cut
/// after each point that owns its place, and the cut of the gap coming into the arc.
pub(super) fn equal_arena(
    sorted: &[u64],
    race: &Race<'_>,
    shape: &Shape,
) -> Option<(Vec<u64>, Vec<Region>, i64)> {
    let (Some(&head), Some(&tail)) = (sorted.first(), sorted.last()) else {
        return None;
    };
    let mut regions = vec![Region::default(); shape.arcs + 1];
    for k in sorted {
        regions[shape.arc(*k)].len += 1;
    }
    let total = shape.place_regions(&mut regions, |points| 2 * points + 1);
    for region in &mut regions {
        region.len = 0;
    }
    let mut arena = vec![0u64; total];
    let mut push = |e: u64| {
        let region = &mut regions[shape.arc(e)];
        arena[region.base as usize + region.len as usize] = e;
        region.len += 1;
    };
    let ranks = race.ranks;
    let rank = |e: u64| ranks.get((e & SLOT) as usize).copied().unwrap_or(u32::MAX);
    let place = |k: u64| (k >> 32) as i64;
    let slot = |k: u64| (k & SLOT) as u32;
    // The point owning the place of the group starting at `i` (the smallest id there),
    // and where the group ends.
    let group = |i: usize| {
        let mut best = sorted[i];
        let mut end = i + 1;
        while let Some(&k) = sorted.get(end).filter(|k| **k >> 32 == best >> 32) {
            if rank(k) < rank(best) {
                best = k;
            }
            end += 1;
        }
        (best, end)
    };
    let mut last_start = sorted.len() - 1;
    while last_start > 0 && sorted[last_start - 1] >> 32 == tail >> 32 {
        last_start -= 1;
    }
    let (first, _) = group(0);
    let (last, _) = group(last_start);
    let wrap = midpoint(
        race,
        (place(last), slot(last)),
        (place(first) + LAP, slot(first)),
    );
    if let Some(x) = wrap.filter(|x| *x >= LAP) {
        push(entry((x - LAP) as u32, 0, slot(last)));
    }
    let mut widest = place(head) + LAP - place(tail);
    let (mut start, (mut k, mut end)) = (0, group(0));
    loop {
        push(k | POINT);
        if end - start > 1 {
            let mut losers: Vec<u64> = sorted[start..end]
                .iter()
                .filter(|e| slot(**e) != slot(k))
                .map(|e| e | POINT | LOSER)
                .collect();
            losers.sort_unstable();
            losers.dedup();
            losers.into_iter().for_each(&mut push);
        }
        if end == sorted.len() {
            break;
        }
        let (next, next_end) = group(end);
        let (a, b) = (place(k), place(next));
        widest = widest.max(b - a);
        let (wa, wb) = (slot(k), slot(next));
        if wa != wb {
            let cut = halfway(race, (a, wa), (b, wb));
            if cut > a {
                push(entry(cut as u32, 0, wa));
            }
        }
        (start, k, end) = (end, next, next_end);
    }
    if let Some(x) = wrap.filter(|x| *x < LAP) {
        push(entry(x as u32, 0, slot(last)));
    }
    Some((arena, regions, widest))
}

/// How many buckets from the last answer on [`answer_all`] fills as quiet in one run of
/// stores, needed or not: the gaps between boundaries are usually shorter.
const QUIET_RUN: usize = 8;

/// Writes every bucket's answer (slots below 2^16 - 1) from the entries of the arcs
/// `regions` of `arena`, in one walk along the circle: a bucket with no boundary answers
/// with the owner of the next one, a bucket with one answers by its place, and a bucket
/// with more sends its keys to a scan from its first entry.
///
/// A *boundary* is a visible entry (not a loser) whose owner differs from the next
/// visible entry's, going round.
pub(super) fn answer_all(
    arena: &[u64],
    regions: &[Region],
    shift: u32,
    buckets: usize,
) -> Vec<u64> {
    let owner = |e: u64| (e & SLOT) as u32;
    let bucket_of = |e: u64| ((e >> 32) >> shift) as usize;
    let Some(first_index) = regions.iter().find(|r| r.len > 0).map(|r| r.base as usize) else {
        return vec![embedded(u32::MAX, 0, 0); buckets];
    };
    let mut out = vec![0u64; buckets];
    let last = buckets - 1;
    // Buckets before `filled` hold their answers; `last_bucket` has the last boundary.
    let (mut filled, mut last_bucket) = (0usize, usize::MAX);
    let mut boundary = |out: &mut [u64], e: u64, first_in_bucket: usize, after: u32| {
        let (bucket, at) = (bucket_of(e), owner(e));
        // A second boundary in one bucket: its keys are found by a scan.
        let answer = if bucket == last_bucket {
            scan_at(first_in_bucket)
        } else {
            embedded((e >> 32) as u32, at, after)
        };
        // Buckets up to this one have no boundary: their keys go on to its owner. Usually
        // none to a few, so a fixed run of stores (those past this bucket are written
        // again later) costs less than a loop whose length the branches must guess.
        let quiet = embedded(u32::MAX, at, at);
        if bucket.saturating_sub(filled) > QUIET_RUN {
            out[filled..bucket].fill(quiet);
        } else {
            for j in 0..QUIET_RUN {
                out[(filled + j).min(last)] = quiet;
            }
        }
        out[bucket] = answer;
        (filled, last_bucket) = (bucket + 1, bucket);
    };
    // The previous visible entry and the index of the first entry of its bucket.
    let first = arena[first_index];
    let (mut previous, mut previous_first) = (first, first_index);
    let (mut bucket, mut bucket_first) = (bucket_of(first), first_index);
    let mut last_after = owner(first);
    for region in regions {
        let base = region.base as usize;
        for (i, &e) in arena[base..base + region.len as usize].iter().enumerate() {
            let b = bucket_of(e);
            bucket_first = if b == bucket { bucket_first } else { base + i };
            bucket = b;
            if e & LOSER != 0 {
                continue;
            }
            if owner(e) != owner(previous) {
                boundary(&mut out, previous, previous_first, owner(e));
                last_after = owner(e);
            }
            (previous, previous_first) = (e, bucket_first);
        }
    }
    // Round the top of the circle: the last visible entry against the first.
    if owner(previous) != owner(first) {
        boundary(&mut out, previous, previous_first, owner(first));
        last_after = owner(first);
    }
    out[filled..].fill(embedded(u32::MAX, last_after, last_after));
    out
}

/// With equal weights, the last key in the gap from place `a` (owned by `wa`) to place `b`
/// (owned by `wb`, unwrapped) that goes to `wa`, if the owners differ and any key does: a
/// key exactly halfway goes to the smaller id.
pub(super) fn midpoint(race: &Race<'_>, (a, wa): (i64, u32), (b, wb): (i64, u32)) -> Option<i64> {
    if wa == wb {
        return None;
    }
    let last = halfway(race, (a, wa), (b, wb));
    (last > a).then_some(last)
}

/// With equal weights, the last key from place `a` (of `wa`) towards place `b` (of `wb`)
/// that is nearer `a`: a key exactly halfway goes to the smaller id.
///
/// Written without branches (an arithmetic shift floors, as `div_euclid(2)` does): a
/// build runs it once per gap, and where keys fall exactly halfway is as random as the
/// places.
#[inline]
pub(super) fn halfway(race: &Race<'_>, (a, wa): (i64, u32), (b, wb): (i64, u32)) -> i64 {
    let n = a + b;
    let up = i64::from(n & 1 == 0 && race.rank(wa) < race.rank(wb));
    (n - 1 + up) >> 1
}

/// Sorts a slice whose elements are near their places (each within its bin): one
/// branchless pass over neighbours, then an insertion sort.
///
/// The branchless bubble pass first puts every pair of neighbours in order (which sorts
/// most bins, holding one to three points), so the insertion sort's branch almost always
/// goes the same way: the branch guessed wrong on about one point in five, and cost more
/// than the pass.
fn order_within_bins(v: &mut [u64]) {
    let Some(&first) = v.first() else {
        return;
    };
    let mut carry = first;
    for i in 1..v.len() {
        let x = v[i];
        v[i - 1] = carry.min(x);
        carry = carry.max(x);
    }
    if let Some(last) = v.last_mut() {
        *last = carry;
    }
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
            assert_eq!(sort_points(|| keys.iter().copied(), n), expected, "{n}");
        }
        let crowded: Vec<u64> = (0..5_000u64).map(|i| (mix64(i) % 300) << 32).collect();
        let mut expected = crowded.clone();
        expected.sort_unstable();
        assert_eq!(
            sort_points(|| crowded.iter().copied(), crowded.len()),
            expected
        );
    }

    #[test]
    fn orders_any_slice_of_near_neighbours() {
        // Every arrangement of up to six values (some equal), whatever falls last.
        for len in 0..=6u64 {
            for code in 0..len.pow(len as u32).max(1) {
                let mut v: Vec<u64> = (0..len).map(|i| code / len.pow(i as u32) % len).collect();
                let mut expected = v.clone();
                expected.sort_unstable();
                order_within_bins(&mut v);
                assert_eq!(v, expected, "{code} of {len}");
            }
        }
        // Long runs, each value within a few places of its own.
        for seed in 0..50u64 {
            let mut v: Vec<u64> = (0..500)
                .map(|i| i * 4 + mix64(seed * 1_000 + i) % 13)
                .collect();
            let mut expected = v.clone();
            expected.sort_unstable();
            order_within_bins(&mut v);
            assert_eq!(v, expected, "seed {seed}");
        }
    }
}
