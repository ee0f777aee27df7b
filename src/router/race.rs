//! Which instance owns each point of a revision's ring: a weighted race.
//!
//! Every instance puts [`POINTS`] points on the 32-bit circle, whatever its weight; the
//! places depend only on its id. A key at `x` belongs to the point `p` at or after it
//! (going round) with the smallest `(p − x) / w`, `w` being the weight of `p`'s instance;
//! equal scores go to the smaller instance id. With equal weights this is the plain
//! consistent-hash ring (the first point at or after the key). With unequal weights it is
//! a race of exponentials: the distance to an instance's nearest point is close to
//! exponential with rate [`POINTS`], so dividing it by the weight makes the instance win
//! in proportion to its weight.
//!
//! Because the owner is the minimum of a score that depends only on each point's own
//! place and weight, the mapping is a function of the *set* of (point, weight) pairs: an
//! instance that joins can only win keys (they move onto it), one that leaves only gives
//! up its own, and one that changes weight only gains or loses keys. That is the minimal
//! disruption the router promises, for any weights.
//!
//! The owner as a function of `x` is piecewise constant. The sweep here computes its
//! pieces from right to left with a stack of candidate lines (a convex-hull trick): as
//! `x` moves left every score grows, a heavier point's more slowly, so within a gap the
//! owner only ever changes towards heavier instances, and a point dominates for good every
//! line of weight no greater than its own once it is passed.

use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::split::mix64;

/// Points per instance, whatever its weight.
///
/// An instance's share of keys is a sum of [`POINTS`] nearly exponential gaps, so it is
/// within about `1/√POINTS` (±9% at 128) of its fair share, one standard deviation.
pub(super) const POINTS: usize = 128;

/// Seeds the hash of instance ids, so that ring positions are a fixed function of the id.
const RING_SEED: u64 = 0x5bd1_e995_c0ff_ee00;

/// The splitmix64 step between one instance's successive points.
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// Entry flag: the entry is a point (not a cut between two owners).
pub(super) const POINT: u64 = 1 << 31;
/// Entry flag: a point that shares its place with a point of a smaller id, which owns
/// the place itself; kept so the point set can be read back from the entries.
pub(super) const LOSER: u64 = 1 << 30;
/// The slot (instance) part of an entry.
pub(super) const SLOT: u64 = (1 << 30) - 1;

/// The places of one instance's points on the circle, in the order they are generated.
pub(super) fn positions(id: &str) -> impl Iterator<Item = u32> {
    let mut state = xxh3_64_with_seed(id.as_bytes(), RING_SEED);
    (0..POINTS).map(move |_| {
        state = state.wrapping_add(GOLDEN);
        (mix64(state) >> 32) as u32
    })
}

/// An entry of a ring: owners are read from the first entry at or after a key.
#[inline]
pub(super) const fn entry(position: u32, flags: u64, slot: u32) -> u64 {
    ((position as u64) << 32) | flags | slot as u64
}

/// A point as the sweep sees it: its place, unwrapped (it may lie a lap below or above
/// the circle, so that a window across the top of the circle is one increasing range).
#[derive(Clone, Copy, Debug)]
pub(super) struct Point {
    pub(super) pos: i64,
    pub(super) slot: u32,
}

/// A candidate owner while sweeping: a point's place, weight and slot.
#[derive(Clone, Copy, Debug)]
pub(super) struct Line {
    pos: i64,
    weight: i64,
    slot: u32,
}

/// The weights and the tie order of a revision's instances, by slot.
pub(super) struct Race<'a> {
    /// Weight by slot (0 for a free slot; never asked for).
    pub(super) weights: &'a [u16],
    /// The rank of each slot's id among the revision's ids: smaller wins ties.
    pub(super) ranks: &'a [u32],
}

impl Race<'_> {
    fn weight(&self, slot: u32) -> i64 {
        i64::from(self.weights.get(slot as usize).copied().unwrap_or(1).max(1))
    }

    fn rank(&self, slot: u32) -> u32 {
        self.ranks.get(slot as usize).copied().unwrap_or(u32::MAX)
    }

    /// Whether `a` scores below `b` at `x` (ties to the smaller id).
    fn beats(&self, a: Line, b: Line, x: i64) -> bool {
        let (left, right) = ((a.pos - x) * b.weight, (b.pos - x) * a.weight);
        left < right || (left == right && self.rank(a.slot) < self.rank(b.slot))
    }

    /// The largest `x` at which `s` (heavier, further right) beats `t` (lighter, nearer):
    /// `s` wins exactly at `x ≤` the answer, since going left favours the heavier line.
    fn boundary(&self, t: Line, s: Line) -> i64 {
        // s beats t strictly where x·d < n.
        let n = t.pos * s.weight - s.pos * t.weight;
        let d = s.weight - t.weight;
        let strict = (n - 1).div_euclid(d);
        if n.rem_euclid(d) == 0 && self.rank(s.slot) < self.rank(t.slot) {
            strict + 1
        } else {
            strict
        }
    }

    /// Appends, in decreasing order of place, the entries of the ring at places in
    /// `lo..=hi`, from `points` sorted by decreasing place.
    ///
    /// Exact when `points` holds every point in `lo..=hi` and every point that can own a
    /// key in `lo..=hi + 1`, and the highest point is above `hi`.
    pub(super) fn sweep(&self, points: &[Point], lo: i64, hi: i64, out: &mut Vec<(i64, u64)>) {
        self.sweep_with(points, (lo, hi), out, &mut Vec::with_capacity(16));
    }

    /// [`sweep`](Self::sweep) with a caller's stack, so that an edit sweeping many small
    /// windows allocates it once.
    pub(super) fn sweep_with(
        &self,
        points: &[Point],
        (lo, hi): (i64, i64),
        out: &mut Vec<(i64, u64)>,
        stack: &mut Vec<Line>,
    ) {
        stack.clear();
        let mut above = u32::MAX;
        let mut previous: Option<i64> = None;
        let mut i = 0;
        while let Some(first) = points.get(i) {
            let place = first.pos;
            let end = points[i..]
                .iter()
                .position(|p| p.pos != place)
                .map_or(points.len(), |n| i + n);
            let group = &points[i..end];
            if let Some(previous) = previous {
                self.gap(stack, previous - 1, place + 1, above, (lo, hi), out);
            }
            // The place itself goes to the smallest id among the points on it; keys below
            // it see the heaviest of them (then the smallest id).
            let winner = group
                .iter()
                .min_by_key(|p| self.rank(p.slot))
                .map_or(0, |p| p.slot);
            let line = group
                .iter()
                .max_by_key(|p| (self.weight(p.slot), std::cmp::Reverse(self.rank(p.slot))))
                .map_or(winner, |p| p.slot);
            if (lo..=hi).contains(&place) {
                // Emitted downwards and read back reversed: losers first, largest first,
                // so that the winner leads its place in the final order.
                let at = place.rem_euclid(1 << 32) as u32;
                let mut losers: Vec<u64> = group
                    .iter()
                    .filter(|p| p.slot != winner)
                    .map(|p| entry(at, POINT | LOSER, p.slot))
                    .collect();
                losers.sort_unstable_by(|a, b| b.cmp(a));
                losers.dedup();
                out.extend(losers.into_iter().map(|e| (place, e)));
                out.push((place, entry(at, POINT, winner)));
            }
            above = winner;
            self.push(
                stack,
                Line {
                    pos: place,
                    weight: self.weight(line),
                    slot: line,
                },
            );
            previous = Some(place);
            i = end;
        }
        if let Some(previous) = previous {
            self.gap(stack, previous - 1, lo, above, (lo, hi), out);
        }
    }

    /// Walks the keys `bottom..=top` (between two points) downwards, emitting a cut at
    /// every place in `range` whose owner differs from the owner just above it.
    fn gap(
        &self,
        stack: &mut Vec<Line>,
        top: i64,
        bottom: i64,
        mut above: u32,
        (lo, hi): (i64, i64),
        out: &mut Vec<(i64, u64)>,
    ) {
        let mut x = top;
        while x >= bottom {
            let Some(&t) = stack.last() else { return };
            let b = match stack.len() {
                0 | 1 => i64::MIN,
                n => self.boundary(t, stack[n - 2]),
            };
            if b >= x {
                // Beaten from here on by the heavier line beneath it, for good.
                stack.pop();
                continue;
            }
            if t.slot != above && (lo..=hi).contains(&x) {
                let at = x.rem_euclid(1 << 32) as u32;
                out.push((x, entry(at, 0, t.slot)));
            }
            if b < bottom {
                return;
            }
            above = t.slot;
            x = b;
            stack.pop();
        }
    }

    /// Adds the line of a point just passed: it beats every line of weight no greater
    /// than its own for good, and makes irrelevant any line it hides until a heavier one
    /// takes over.
    fn push(&self, stack: &mut Vec<Line>, t: Line) {
        while stack.last().is_some_and(|q| q.weight <= t.weight) {
            stack.pop();
        }
        while let [.., r, s] = stack[..] {
            if self.beats(r, s, self.boundary(t, s)) {
                stack.pop();
            } else {
                break;
            }
        }
        stack.push(t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The owner of `x` by the definition: the best score over every point (cyclic).
    fn brute(race: &Race<'_>, points: &[(u32, u32)], x: u32) -> u32 {
        let mut best: Option<(u64, u32)> = None;
        for &(p, slot) in points {
            let distance = u64::from(p.wrapping_sub(x));
            let w = race.weight(slot) as u64;
            let better = match best {
                None => true,
                Some((d, s)) => {
                    let (l, r) = (distance * race.weight(s) as u64, d * w);
                    l < r || (l == r && race.rank(slot) < race.rank(s))
                }
            };
            if better {
                best = Some((distance, slot));
            }
        }
        best.map_or(0, |b| b.1)
    }

    #[test]
    fn the_sweep_matches_the_definition() {
        let mut state = 99u64;
        let mut next = || {
            state = mix64(state.wrapping_add(GOLDEN));
            state
        };
        for round in 0..40 {
            let slots = 2 + (next() % 6) as u32;
            let weights: Vec<u16> = (0..slots).map(|_| 1 + (next() % 9) as u16).collect();
            let ranks: Vec<u32> = (0..slots).rev().collect();
            let race = Race {
                weights: &weights,
                ranks: &ranks,
            };
            // A small circle (positions scaled into the low 2^12) makes ties likely.
            let spread = if round % 2 == 0 { 1u32 << 12 } else { u32::MAX };
            let mut points: Vec<(u32, u32)> = (0..slots)
                .flat_map(|s| (0..5).map(move |k| (s, k)))
                .map(|(s, _)| ((next() as u32) % spread, s))
                .collect();
            points.sort_unstable();
            points.dedup();
            let &(top, _) = points.last().unwrap();
            let top_slot_weight = points
                .iter()
                .filter(|p| p.0 == top)
                .map(|p| weights[p.1 as usize])
                .max()
                .unwrap();
            // Start from the heaviest point so the sweep is exact over one whole lap.
            let max = *weights.iter().max().unwrap();
            let start = points
                .iter()
                .filter(|p| weights[p.1 as usize] == max)
                .map(|p| p.0)
                .next()
                .unwrap();
            let _ = top_slot_weight;
            let mut sweep: Vec<Point> = points
                .iter()
                .map(|&(p, slot)| Point {
                    pos: if p <= start {
                        i64::from(p)
                    } else {
                        i64::from(p) - (1 << 32)
                    },
                    slot,
                })
                .collect();
            sweep.sort_by_key(|p| std::cmp::Reverse(p.pos));
            let mut out = Vec::new();
            let lo = i64::from(start) - (1 << 32) + 1;
            race.sweep(&sweep, lo, i64::from(start), &mut out);
            let mut entries: Vec<u64> = out.iter().map(|e| e.1).collect();
            entries.sort_unstable();
            let owner = |x: u32| {
                let e = entries
                    .iter()
                    .find(|e| (**e >> 32) as u32 >= x)
                    .or(entries.first())
                    .unwrap();
                (*e & SLOT) as u32
            };
            let mut probes: Vec<u32> = vec![0, 1, u32::MAX];
            for e in &entries {
                let at = (*e >> 32) as u32;
                probes.extend([at.wrapping_sub(1), at, at.wrapping_add(1)]);
            }
            for _ in 0..2_000 {
                probes.push((next() as u32) % spread);
            }
            for x in probes {
                assert_eq!(owner(x), brute(&race, &points, x), "round {round} x {x}");
            }
        }
    }
}
