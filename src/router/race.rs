//! Which instance owns each key of a revision's ring: a weighted race to the nearest point.
//!
//! Every instance puts [`POINTS`] points on the 32-bit circle, whatever its weight; the
//! places depend only on its id. A key at `x` belongs to the point `p` with the smallest
//! `d(p, x) / w`, `d` being the distance round the circle *in either direction* and `w`
//! the weight of `p`'s instance; equal scores go to the smaller instance id. With equal
//! weights a key simply goes to the nearest point, so a point owns half of each gap beside
//! it: an instance's share is a sum of `2 × POINTS` half-gaps, which halves the variance
//! of the one-sided ring ("next point clockwise") for the same number of points. With
//! unequal weights it is a race of exponentials: the distance to an instance's nearest
//! point is close to exponential with rate `2 × POINTS`, so dividing it by the weight makes
//! the instance win in proportion to its weight.
//!
//! Because the owner is the minimum of a score that depends only on each point's own
//! place and weight, the mapping is a function of the *set* of (point, weight) pairs: an
//! instance that joins can only win keys (they move onto it), one that leaves only gives
//! up its own, and one that changes weight only gains or loses keys. That is the minimal
//! disruption the router promises, for any weights.
//!
//! The owner as a function of `x` is piecewise constant. Between two neighbouring places
//! `a < b`, the best point at or after the key (the *right* race) only gets worse as `x`
//! grows and the best point at or before it (the *left* race) only gets better, so the
//! left race wins up to one crossing and the right race after it. Each race is computed
//! with a stack of candidate lines (a convex-hull trick): as a key moves away from the
//! points on one side every score grows, a heavier point's more slowly, so the race only
//! ever changes hands towards heavier instances, and a point dominates for good every line
//! of weight no greater than its own once it is passed. The left race is the right race
//! of the mirrored circle.

use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::split::mix64;

/// Points per instance, whatever its weight.
///
/// An instance's share of keys is a sum of `2 × POINTS` half-gaps, nearly exponential, so
/// it is within about `1/√(2 × POINTS)` (±8.8% at 64) of its fair share, one standard
/// deviation.
pub(super) const POINTS: usize = 64;

/// Seeds the hash of instance ids, so that ring positions are a fixed function of the id.
const RING_SEED: u64 = 0x5bd1_e995_c0ff_ee00;

/// The splitmix64 step between one instance's successive pairs of points.
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// Entry flag: the entry is a point (not a cut between two owners).
pub(super) const POINT: u64 = 1 << 31;
/// Entry flag: a point that shares its place with a point of a smaller id, which owns
/// the place itself; kept so the point set can be read back from the entries.
pub(super) const LOSER: u64 = 1 << 30;
/// The slot (instance) part of an entry.
pub(super) const SLOT: u64 = (1 << 30) - 1;

/// One lap of the circle, for unwrapped places.
pub(super) const LAP: i64 = 1 << 32;

/// The places of one instance's points on the circle, in the order they are generated:
/// both halves of each splitmix64 output, so one hash makes two points.
pub(super) fn positions(id: &str) -> impl Iterator<Item = u32> {
    let mut state = xxh3_64_with_seed(id.as_bytes(), RING_SEED);
    (0..POINTS / 2).flat_map(move |_| {
        state = state.wrapping_add(GOLDEN);
        let bits = mix64(state);
        [(bits >> 32) as u32, bits as u32]
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

/// A candidate owner while sweeping: a point's place (mirrored for the left race),
/// weight and slot.
#[derive(Clone, Copy, Debug)]
pub(super) struct Line {
    pos: i64,
    weight: i64,
    slot: u32,
}

/// The keys of one gap, run after run of one owner, in order: a cut (the entry of a key
/// and its owner) ends each run whose owner the next lacks.
#[derive(Default)]
pub(super) struct Runs {
    last: Option<(u32, i64)>,
}

impl Runs {
    /// The keys `from..=to` (none if `from > to`) go to `slot`: the cut that ends the run
    /// before, if its owner is another.
    pub(super) fn step(&mut self, from: i64, to: i64, slot: u32) -> Option<(i64, u64)> {
        if from > to {
            return None;
        }
        let cut = self
            .last
            .filter(|(owner, _)| *owner != slot)
            .map(|(owner, end)| (end, entry(end.rem_euclid(LAP) as u32, 0, owner)));
        self.last = Some((slot, to));
        cut
    }
}

/// One place holding points, as the sweep sees it.
#[derive(Clone, Copy, Debug)]
struct Place {
    pos: i64,
    /// Owns the place itself: the smallest id among its points.
    winner: u32,
    /// Races for the keys beside it: its heaviest point (then the smallest id).
    line: u32,
    /// Its points in the sweep's input.
    from: u32,
    to: u32,
}

/// Buffers for sweeps, kept across the windows of one edit or build.
#[derive(Default)]
pub(super) struct Scratch {
    stack: Vec<Line>,
    places: Vec<Place>,
    /// The right race's pieces, gap after gap from the top: `(top, line)`, the line
    /// leading from `top` down to the next piece's top + 1.
    right: Vec<(i64, Line)>,
    /// Where each gap's pieces end in `right` (gap `g` lies between places `g` and
    /// `g + 1`).
    ends: Vec<u32>,
    /// The left race's pieces in the current gap: `(low, line)`, ascending.
    left: Vec<(i64, Line)>,
    losers: Vec<u32>,
}

impl Scratch {
    /// Buffers with room for sweeps of `points` points, so none grows in the middle of
    /// an edit.
    pub(super) fn with_capacity(points: usize) -> Scratch {
        Scratch {
            stack: Vec::with_capacity(points),
            places: Vec::with_capacity(points),
            right: Vec::with_capacity(2 * points),
            ends: Vec::with_capacity(points),
            left: Vec::with_capacity(points),
            losers: Vec::with_capacity(8),
        }
    }
}

/// The weights and the tie order of a revision's instances, by slot.
pub(super) struct Race<'a> {
    /// Weight by slot (0 for a free slot; never asked for).
    pub(super) weights: &'a [u16],
    /// The rank of each slot's id among the revision's ids: smaller wins ties.
    pub(super) ranks: &'a [u32],
}

impl Race<'_> {
    pub(super) fn weight(&self, slot: u32) -> i64 {
        i64::from(self.weights.get(slot as usize).copied().unwrap_or(1).max(1))
    }

    pub(super) fn rank(&self, slot: u32) -> u32 {
        self.ranks.get(slot as usize).copied().unwrap_or(u32::MAX)
    }

    /// The weight every instance in rotation weighs, leaving out slot `except` (if any),
    /// if there is at least one and they all weigh the same: a ring of equal weights
    /// needs no races.
    pub(super) fn common_weight(&self, except: Option<u32>) -> Option<u16> {
        let mut live = self
            .weights
            .iter()
            .enumerate()
            .filter(|(s, w)| Some(*s as u32) != except && **w > 0)
            .map(|(_, w)| *w);
        let first = live.next()?;
        live.all(|w| w == first).then_some(first)
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

    /// The last key at which `left` (a point at or before it, unmirrored) beats `right`
    /// (a point at or after it): the left race wins up to here and the right one after.
    fn crossing(&self, left: Line, right: Line) -> i64 {
        // left wins where (x − l)·w_r < (r − x)·w_l, that is x·d < n.
        let n = right.pos * left.weight + left.pos * right.weight;
        let d = left.weight + right.weight;
        if n.rem_euclid(d) == 0 && self.rank(left.slot) < self.rank(right.slot) {
            n.div_euclid(d)
        } else {
            (n - 1).div_euclid(d)
        }
    }

    /// Appends to `out`, in increasing order of place, the entries of the ring at places
    /// in `lo..=hi`, from `points` sorted by increasing place: a point entry for every
    /// point (the place's winner first), and a cut at every other place whose owner
    /// differs from the next place's.
    ///
    /// Exact when `points` holds every point that can own a key in `lo..=hi + 1`, and some
    /// point lies below `lo` and some above `hi + 1`.
    pub(super) fn sweep(
        &self,
        points: &[Point],
        (lo, hi): (i64, i64),
        out: &mut Vec<(i64, u64)>,
        scratch: &mut Scratch,
    ) {
        let Scratch {
            stack,
            places,
            right,
            ends,
            left,
            losers,
        } = scratch;
        self.places(points, places);
        let n = places.len();
        let line_of = |place: &Place, pos: i64| Line {
            pos,
            weight: self.weight(place.line),
            slot: place.line,
        };
        // The right race, from the top down, gap by gap.
        stack.clear();
        right.clear();
        ends.clear();
        ends.resize(n, 0);
        for g in (0..n).rev() {
            if g + 1 < n {
                let (a, b) = (places[g].pos, places[g + 1].pos);
                self.pieces(stack, b - 1, a + 1, right);
                ends[g] = right.len() as u32;
            }
            self.push(stack, line_of(&places[g], places[g].pos));
        }
        // The left race (the right race of the mirrored circle), from the bottom up,
        // settling each gap as it goes.
        stack.clear();
        for g in 0..n {
            let place = places[g];
            if (lo..=hi).contains(&place.pos) {
                let at = place.pos.rem_euclid(LAP) as u32;
                out.push((place.pos, entry(at, POINT, place.winner)));
                losers.clear();
                losers.extend(
                    points[place.from as usize..place.to as usize]
                        .iter()
                        .map(|p| p.slot)
                        .filter(|s| *s != place.winner),
                );
                losers.sort_unstable();
                losers.dedup();
                out.extend(
                    losers
                        .iter()
                        .map(|s| (place.pos, entry(at, POINT | LOSER, *s))),
                );
            }
            self.push(stack, line_of(&place, -place.pos));
            let Some(next) = places.get(g + 1) else {
                break;
            };
            let (a, b) = (place.pos, next.pos);
            left.clear();
            self.pieces(stack, -a - 1, 1 - b, left);
            for piece in left.iter_mut() {
                piece.0 = -piece.0;
                piece.1.pos = -piece.1.pos;
            }
            if b - a < 2 || b - 1 < lo || a + 1 > hi {
                continue;
            }
            let start = ends.get(g + 1).map_or(0, |e| *e as usize);
            let pieces = &right[start..ends[g] as usize];
            self.settle_gap((a, b), left, pieces, next.winner, (lo, hi), out);
        }
    }

    /// The cuts in the gap between places `a` and `b`, from the left race's pieces
    /// (ascending) and the right race's (descending): the left race up to the crossing,
    /// the right race after it.
    fn settle_gap(
        &self,
        (a, b): (i64, i64),
        left: &[(i64, Line)],
        right: &[(i64, Line)],
        winner: u32,
        (lo, hi): (i64, i64),
        out: &mut Vec<(i64, u64)>,
    ) {
        let mut last = b - 1;
        let (mut i, mut j) = (0, right.len().saturating_sub(1));
        let mut s = a + 1;
        while let (Some(l), Some(r)) = (left.get(i), right.get(j)) {
            let l_end = left.get(i + 1).map_or(b - 1, |next| next.0 - 1);
            let r_end = r.0;
            let e = l_end.min(r_end);
            let wins = self.crossing(l.1, r.1);
            if wins < e {
                last = wins.max(s - 1);
                break;
            }
            if e >= b - 1 {
                break;
            }
            s = e + 1;
            i += usize::from(l_end == e);
            if r_end == e {
                j = j.wrapping_sub(1);
            }
        }
        let mut runs = Runs::default();
        let mut step = |from: i64, to: i64, slot: u32| {
            if let Some(cut) = runs
                .step(from, to, slot)
                .filter(|cut| (lo..=hi).contains(&cut.0))
            {
                out.push(cut);
            }
        };
        for (k, piece) in left.iter().enumerate() {
            let end = left.get(k + 1).map_or(b - 1, |next| next.0 - 1);
            step(piece.0.max(a + 1), end.min(last), piece.1.slot);
        }
        let mut below = a;
        for piece in right.iter().rev() {
            step((below + 1).max(last + 1), piece.0.min(b - 1), piece.1.slot);
            below = piece.0;
        }
        step(b, b, winner);
    }

    /// Groups `points` (sorted by place) by place.
    fn places(&self, points: &[Point], places: &mut Vec<Place>) {
        places.clear();
        let mut i = 0;
        while let Some(first) = points.get(i) {
            let mut end = i + 1;
            while points.get(end).is_some_and(|p| p.pos == first.pos) {
                end += 1;
            }
            let group = &points[i..end];
            let winner = group
                .iter()
                .min_by_key(|p| self.rank(p.slot))
                .map_or(0, |p| p.slot);
            let line = group
                .iter()
                .max_by_key(|p| (self.weight(p.slot), std::cmp::Reverse(self.rank(p.slot))))
                .map_or(winner, |p| p.slot);
            places.push(Place {
                pos: first.pos,
                winner,
                line,
                from: i as u32,
                to: end as u32,
            });
            i = end;
        }
    }

    /// Records, for the keys `top` down to `bottom` (beyond the points on the stack),
    /// which line of `stack` leads the race where: `(x, line)` for a line leading from
    /// `x` down to the next record's `x` + 1.
    fn pieces(&self, stack: &mut Vec<Line>, top: i64, bottom: i64, out: &mut Vec<(i64, Line)>) {
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
            out.push((x, t));
            if b < bottom {
                return;
            }
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

    /// The owner of `x` by the definition: the best score over every point, either way
    /// round the circle.
    fn brute(race: &Race<'_>, points: &[(u32, u32)], x: u32) -> u32 {
        let mut best: Option<(u64, u32)> = None;
        for &(p, slot) in points {
            let distance = u64::from(p.wrapping_sub(x).min(x.wrapping_sub(p)));
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

    /// Every point a lap below, on and a lap above the circle, sorted: enough for a sweep
    /// of the whole circle.
    pub(in crate::router) fn unwrapped(points: &[(u32, u32)]) -> Vec<Point> {
        let mut all: Vec<Point> = [-LAP, 0, LAP]
            .into_iter()
            .flat_map(|offset| {
                points.iter().map(move |&(p, slot)| Point {
                    pos: i64::from(p) + offset,
                    slot,
                })
            })
            .collect();
        all.sort_by_key(|p| (p.pos, p.slot));
        all
    }

    #[test]
    fn the_sweep_matches_the_definition() {
        let mut state = 99u64;
        let mut next = || {
            state = mix64(state.wrapping_add(GOLDEN));
            state
        };
        for round in 0..60 {
            let slots = 2 + (next() % 6) as u32;
            let top = [2u64, 9, 256][round % 3];
            let weights: Vec<u16> = (0..slots).map(|_| 1 + (next() % top) as u16).collect();
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
            let mut out = Vec::new();
            race.sweep(
                &unwrapped(&points),
                (0, LAP - 1),
                &mut out,
                &mut Scratch::default(),
            );
            let entries: Vec<u64> = out.iter().map(|e| e.1).collect();
            assert!(entries.windows(2).all(|w| w[0] < w[1]), "round {round}");
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
            // A cut only where the owner changes.
            for e in entries.iter().filter(|e| *e & POINT == 0) {
                let at = (*e >> 32) as u32;
                assert_ne!(
                    owner(at),
                    owner(at.wrapping_add(1)),
                    "round {round} cut {at}"
                );
            }
        }
    }
}
