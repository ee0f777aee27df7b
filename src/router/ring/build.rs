//! Building the ring of a revision whose instances all weigh the same, in a few passes
//! over the points: each key goes to the nearest place, so the ring's entries are the
//! points and one cut at the midpoint of each gap between places of different owners
//! (a key exactly halfway goes to the smaller id). The same entries as the sweep of
//! [`race`](super::super::race) gives, without the races.
//!
//! The points are scattered into their arcs (one pass: the arcs' counts fit in L2), each
//! arc of about 8 is put in order by an insertion sort, and one walk along the circle
//! writes each entry straight into its arc's region and each bucket's answer as soon as
//! the next boundary is known. A comparison sort of the whole ring, or a second walk for
//! the buckets, costs as much as all of this together.

use super::super::race::{LAP, LOSER, POINT, Race, SLOT, entry};
use super::{ARC_BUCKET_BITS, Ring, TERMINATOR, embedded, room, scan_at};

/// A visible entry (a place's winner, or a cut) waiting to learn whether it is a boundary.
#[derive(Clone, Copy)]
struct Visible {
    place: u32,
    owner: u32,
    bucket: usize,
    /// The arena index of the first entry in its bucket.
    first: usize,
}

/// Bucket answers written as boundaries arrive, in order round the circle.
struct Answers<'a> {
    buckets: &'a mut [u64],
    /// The next bucket with no answer yet.
    next: usize,
    /// The bucket of the last boundary, with its answer so far.
    pending: Option<(usize, u64)>,
}

impl Answers<'_> {
    /// A boundary at `at`: keys up to its place go to `at.owner`, keys after it to `after`.
    fn boundary(&mut self, at: Visible, after: u32) {
        if let Some((bucket, answer)) = self.pending {
            if bucket == at.bucket {
                // A second boundary in one bucket: its keys are found by a scan.
                self.pending = Some((bucket, scan_at(at.first)));
                return;
            }
            self.buckets[bucket] = answer;
            self.next = bucket + 1;
        }
        let before = embedded(u32::MAX, at.owner, at.owner);
        self.buckets[self.next..at.bucket].fill(before);
        self.next = at.bucket;
        self.pending = Some((at.bucket, embedded(at.place, at.owner, after)));
    }

    /// Past the last boundary: the remaining buckets go to `owner`.
    fn finish(mut self, owner: u32) {
        if let Some((bucket, answer)) = self.pending.take() {
            self.buckets[bucket] = answer;
            self.next = bucket + 1;
        }
        self.buckets[self.next..].fill(embedded(u32::MAX, owner, owner));
    }
}

impl Ring {
    /// The ring of `keys` (bare points, in any order) when every instance weighs the same.
    pub(super) fn build_equal(keys: &[u64], bits: u32, race: &Race<'_>, embed: bool) -> Ring {
        let arc_bits = bits.saturating_sub(ARC_BUCKET_BITS);
        let arcs = 1usize << arc_bits;
        let arc_shift = 32 - arc_bits;
        let shift = 32 - bits;
        let arc_of = |k: u64| ((k >> 32) >> arc_shift) as usize;
        // Scatter the points into their arcs, then order each arc.
        let mut starts = vec![0u32; arcs + 1];
        for k in keys {
            starts[arc_of(*k) + 1] += 1;
        }
        for a in 0..arcs {
            starts[a + 1] += starts[a];
        }
        let mut sorted = vec![0u64; keys.len()];
        let mut cursor = starts.clone();
        for k in keys {
            let c = &mut cursor[arc_of(*k)];
            sorted[*c as usize] = *k;
            *c += 1;
        }
        drop(cursor);
        for a in 0..arcs {
            insertion_sort(&mut sorted[starts[a] as usize..starts[a + 1] as usize]);
        }
        // An arc of p points holds at most 2p + 1 entries: a cut after each place, and
        // one more for the gap running into it from the arc before.
        let mut bases = Vec::with_capacity(arcs + 1);
        let mut total = 0usize;
        for a in 0..arcs {
            let most = 2 * (starts[a + 1] - starts[a]) as usize + 1;
            bases.push(total as u32);
            total += most + 1 + room(most);
        }
        bases.push(total as u32);
        drop(starts);
        let mut ring = Ring {
            buckets: vec![0u64; 1 << bits].into(),
            shift,
            arc_shift,
            arena: vec![0u64; total].into(),
            bases: bases.into(),
            lens: vec![0u32; arcs].into(),
            embed,
            max_gap: LAP,
        };
        ring.max_gap = ring.lay_equal(&sorted, race);
        // Each arc's terminator names the first owner after it, going round.
        let mut next = None;
        for arc in (0..arcs).rev().chain((0..arcs).rev()) {
            let end = ring.bases[arc] as usize + ring.lens[arc] as usize;
            if let Some(first) = next {
                ring.arena[end] = TERMINATOR | first;
            }
            if let Some(e) = ring.arc(arc).first() {
                next = Some(e & SLOT);
            }
        }
        if !embed {
            for arc in 0..arcs {
                ring.fill(arc, 0);
            }
        }
        ring
    }

    /// Writes the entries of the points `sorted` (by place) into their arcs, and the
    /// bucket answers as it goes. Returns the widest gap between neighbouring places.
    fn lay_equal(&mut self, sorted: &[u64], race: &Race<'_>) -> i64 {
        let place = |k: u64| (k >> 32) as u32;
        let slot = |k: u64| (k & SLOT) as u32;
        let group_end = |i: usize| {
            let mut end = i + 1;
            while end < sorted.len() && sorted[end] >> 32 == sorted[i] >> 32 {
                end += 1;
            }
            end
        };
        let winner = |from: usize, to: usize| {
            sorted[from..to]
                .iter()
                .map(|k| slot(*k))
                .min_by_key(|s| race.rank(*s))
                .unwrap_or(0)
        };
        let cut = |a: i64, wa: u32, b: i64, wb: u32| midpoint(race, (a, wa), (b, wb));
        let (Some(&first), Some(&last)) = (sorted.first(), sorted.last()) else {
            return LAP;
        };
        let first_winner = winner(0, group_end(0));
        let mut last_start = sorted.len() - 1;
        while last_start > 0 && sorted[last_start - 1] >> 32 == last >> 32 {
            last_start -= 1;
        }
        let last_winner = winner(last_start, sorted.len());
        let (first_at, last_at) = (i64::from(place(first)), i64::from(place(last)));
        let wrap = cut(last_at, last_winner, first_at + LAP, first_winner);
        let mut widest = first_at + LAP - last_at;
        let (shift, arc_shift) = (self.shift, self.arc_shift);
        let Ring {
            buckets,
            arena,
            bases,
            lens,
            ..
        } = self;
        let mut answers = Answers {
            buckets,
            next: 0,
            pending: None,
        };
        let mut previous: Option<Visible> = None;
        let mut first_visible: Option<Visible> = None;
        let mut bucket_first = (usize::MAX, 0usize);
        let mut put = |e: u64, answers: &mut Answers<'_>| {
            let arc = ((e >> 32) >> arc_shift) as usize;
            let at = bases[arc] as usize + lens[arc] as usize;
            arena[at] = e;
            lens[arc] += 1;
            let bucket = ((e >> 32) >> shift) as usize;
            if bucket != bucket_first.0 {
                bucket_first = (bucket, at);
            }
            if e & LOSER != 0 {
                return;
            }
            let visible = Visible {
                place: place(e),
                owner: slot(e),
                bucket,
                first: bucket_first.1,
            };
            match previous {
                Some(p) if p.owner != visible.owner => answers.boundary(p, visible.owner),
                Some(_) => {}
                None => first_visible = Some(visible),
            }
            previous = Some(visible);
        };
        if let Some(x) = wrap.filter(|x| *x >= LAP) {
            put(entry((x - LAP) as u32, 0, last_winner), &mut answers);
        }
        let mut losers: Vec<u32> = Vec::new();
        let mut i = 0;
        let mut w = first_winner;
        while i < sorted.len() {
            let end = group_end(i);
            let at = place(sorted[i]);
            put(entry(at, POINT, w), &mut answers);
            if end > i + 1 {
                losers.clear();
                losers.extend(sorted[i..end].iter().map(|k| slot(*k)).filter(|s| *s != w));
                losers.sort_unstable();
                losers.dedup();
                for s in &losers {
                    put(entry(at, POINT | LOSER, *s), &mut answers);
                }
            }
            let Some(&next) = sorted.get(end) else { break };
            let next_end = group_end(end);
            let wb = if next_end == end + 1 {
                slot(next)
            } else {
                winner(end, next_end)
            };
            let (a, b) = (i64::from(at), i64::from(place(next)));
            widest = widest.max(b - a);
            if let Some(x) = cut(a, w, b, wb) {
                put(entry(x as u32, 0, w), &mut answers);
            }
            (i, w) = (end, wb);
        }
        if let Some(x) = wrap.filter(|x| *x < LAP) {
            put(entry(x as u32, 0, last_winner), &mut answers);
        }
        // Round the top of the circle: the last visible entry against the first.
        match (previous, first_visible) {
            (Some(p), Some(f)) if p.owner != f.owner => {
                answers.boundary(p, f.owner);
                answers.finish(f.owner);
            }
            (_, Some(f)) => answers.finish(f.owner),
            _ => answers.finish(0),
        }
        widest
    }
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

/// Sorts a short slice (an arc's worth, about 8) in place.
fn insertion_sort(v: &mut [u64]) {
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
