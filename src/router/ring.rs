//! Sticky instance choice within a revision: the weighted ring of [`race`](super::race),
//! laid out for O(1) lookups and for edits that touch only the changed instance's part.
//!
//! The ring is a sorted list of *entries* (points, and cuts where the owner changes
//! between two points); a key belongs to the first entry at or after it, wrapping round.
//! The circle is cut into *arcs* of about 8 points (16 entries), each stored in its own
//! region of one arena with a little room to grow (so an edit rewrites only the arcs it
//! touches and nothing shifts), and into *buckets*, about two per point. Only
//! *boundaries* matter to a lookup (entries whose owner differs from the next one's: with equal weights, the cut
//! at each midpoint, not the points themselves), so a bucket with at most one boundary
//! stores its answer (one comparison picks between two owners); the others (about one in
//! ten) store where their entries start in the arena, and a short scan finds the owner.
//!
//! A build never sorts the whole ring with comparisons: the points are binned by the top
//! bits of their places and the bins put in order by one pass over neighbours and an
//! insertion sort ([`build`]). With equal weights (the common case) the entries then
//! come straight from the points in order; otherwise the races of
//! [`race`](super::race) settle the circle. Every bucket's answer is written in one more
//! walk. The passes are kept free of branches that depend on where random places fall:
//! those mispredict half the time, and cost more than the arithmetic and the memory
//! traffic together.
//!
//! Entries name instances by *slot*, a number that stays with an instance while it is in
//! rotation, so that one instance joining renumbers nothing.

use super::race::{LAP, LOSER, POINT, POINTS, Point, Race, SLOT, Scratch, entry, positions};
use build::{answer_all, equal_arena, sort_points};

mod apart;
mod build;
mod edit;

/// Marks a bucket whose answer is not embedded: its high half is then the arena index of
/// the first entry at or after the bucket's start.
const SCAN: u32 = u32::MAX;

/// Buckets per arc, as a power of two (16 buckets: about 8 points, 16 entries).
const ARC_BUCKET_BITS: u32 = 4;

/// An arc's last entry: past every place, naming (in its slot bits) the owner of the
/// first entry after the arc, wrapping round.
const TERMINATOR: u64 = (u32::MAX as u64) << 32;

/// Room for growth an arc of `len` entries gets, besides its terminator.
const fn room(len: usize) -> usize {
    3 + len / 4
}

/// A consistent-hash ring over the instances of one revision.
#[derive(Clone, Debug)]
pub(super) struct Ring {
    /// One entry per bucket: `threshold << 32 | at << 16 | after` (keys at or below
    /// `threshold` go to slot `at`, the others to `after`), or `index << 32 | SCAN`.
    buckets: Box<[u64]>,
    /// Shifts a key down to its bucket.
    shift: u32,
    /// Shifts a key down to its arc.
    arc_shift: u32,
    /// Arc `k` holds its entries at `arena[regions[k].base..][..regions[k].len]`, then a
    /// terminator; its region ends at `regions[k + 1].base` (one more region than arcs).
    arena: Box<[u64]>,
    regions: Box<[Region]>,
    /// Whether buckets may embed answers (slots below 2^16 - 1).
    embed: bool,
    /// An upper bound on the widest gap between two neighbouring points: a key's owner
    /// is within reach of it, which bounds how far an edit can be felt.
    max_gap: i64,
}

impl Ring {
    /// An empty ring (fewer than two instances: nothing to choose).
    pub(super) fn empty() -> Ring {
        Ring {
            buckets: Box::default(),
            shift: 32,
            arc_shift: 32,
            arena: Box::default(),
            regions: Box::default(),
            embed: true,
            max_gap: 1 << 32,
        }
    }

    /// Builds the ring for the instances `ids` (slot `s` is `ids[s]`, `None` if free).
    pub(super) fn build<'a>(
        ids: impl Iterator<Item = Option<&'a str>>,
        race: &Race<'_>,
        embed: bool,
    ) -> Ring {
        let live: Vec<(u32, &str)> = ids
            .enumerate()
            .filter_map(|(slot, id)| Some((slot as u32, id?)))
            .collect();
        if live.is_empty() {
            return Ring::empty();
        }
        // The points are made twice (counted, then placed) rather than listed: a list of
        // them is half a megabyte at a thousand instances, and fresh pages cost more
        // than the hashing.
        let points = || {
            live.iter()
                .flat_map(|(slot, id)| positions(id).map(|p| entry(p, POINT, *slot)))
        };
        let sorted = sort_points(points, live.len() * POINTS);
        if race.common_weight(None).is_some() {
            return Ring::build_equal(&sorted, race, embed);
        }
        Ring::build_swept(&sorted, race, embed)
    }

    /// [`build`](Self::build) when every instance weighs the same: each key goes to the
    /// nearest place, so no race is run, and the entries go straight into their arcs.
    /// `keys`: the points, sorted by [`sort_points`].
    fn build_equal(keys: &[u64], race: &Race<'_>, embed: bool) -> Ring {
        let shape = Shape::for_points(keys.len());
        let Some((arena, regions, max_gap)) = equal_arena(keys, race, &shape) else {
            return Ring::empty();
        };
        Ring::finish(arena, regions, &shape, embed, max_gap)
    }

    /// [`build`](Self::build) for any weights: the races of [`Race::sweep`] settle the
    /// whole circle. `keys`: the points, sorted by [`sort_points`].
    fn build_swept(keys: &[u64], race: &Race<'_>, embed: bool) -> Ring {
        let max_gap = widest_gap(keys);
        let live = race.weights.iter().copied().filter(|w| *w > 0);
        let (light, heavy) = live.fold((u16::MAX, 1), |(a, b), w| (a.min(w), b.max(w)));
        // Every point within reach of the circle, a lap below or above it as needed: the
        // owner of a key lies within `heavy / light` half-gaps of it.
        let (light, heavy) = (i64::from(light.min(heavy)), i64::from(heavy));
        let reach = (max_gap * heavy / light + max_gap + 2).min(LAP);
        let point = |k: &u64, offset: i64| Point {
            pos: i64::from((k >> 32) as u32) + offset,
            slot: (k & SLOT) as u32,
        };
        let below = keys.partition_point(|k| i64::from((k >> 32) as u32) < LAP - reach);
        let above = keys.partition_point(|k| i64::from((k >> 32) as u32) <= reach);
        let points: Vec<Point> = keys[below..]
            .iter()
            .map(|k| point(k, -LAP))
            .chain(keys.iter().map(|k| point(k, 0)))
            .chain(keys[..above].iter().map(|k| point(k, LAP)))
            .collect();
        let mut out = Vec::with_capacity(2 * keys.len());
        race.sweep(&points, (0, LAP - 1), &mut out, &mut Scratch::default());
        let entries: Vec<u64> = out.iter().map(|e| e.1).collect();
        Ring::layout(&entries, keys.len(), embed, max_gap)
    }

    /// Lays `entries` (sorted) out in arcs and buckets, sized for `points` points.
    fn layout(entries: &[u64], points: usize, embed: bool, max_gap: i64) -> Ring {
        if entries.is_empty() {
            return Ring::empty();
        }
        let shape = Shape::for_points(points);
        let mut regions = vec![Region::default(); shape.arcs + 1];
        for e in entries {
            regions[shape.arc(*e)].len += 1;
        }
        let total = shape.place_regions(&mut regions, |len| len);
        let mut arena = vec![0u64; total];
        let mut from = 0;
        for region in &regions[..shape.arcs] {
            let (base, len) = (region.base as usize, region.len as usize);
            arena[base..base + len].copy_from_slice(&entries[from..from + len]);
            from += len;
        }
        Ring::finish(arena, regions, &shape, embed, max_gap)
    }

    /// Writes every arc's terminator and every bucket's answer, and assembles the ring.
    fn finish(
        mut arena: Vec<u64>,
        regions: Vec<Region>,
        shape: &Shape,
        embed: bool,
        max_gap: i64,
    ) -> Ring {
        // From the last arc down: each terminator names the owner of the next entry.
        let first = regions
            .iter()
            .find(|r| r.len > 0)
            .map_or(0, |r| arena[r.base as usize] & SLOT);
        let mut next = first;
        for region in regions[..shape.arcs].iter().rev() {
            arena[region.end()] = TERMINATOR | next;
            if region.len > 0 {
                next = arena[region.base as usize] & SLOT;
            }
        }
        let buckets = if embed {
            answer_all(&arena, &regions[..shape.arcs], shape.shift, 1 << shape.bits)
        } else {
            vec![0u64; 1 << shape.bits]
        };
        let mut ring = Ring {
            buckets: buckets.into(),
            shift: shape.shift,
            arc_shift: shape.arc_shift,
            arena: arena.into(),
            regions: regions.into(),
            embed,
            max_gap,
        };
        if !embed {
            for arc in 0..shape.arcs {
                ring.fill(arc, (0, usize::MAX));
            }
        }
        ring
    }

    /// The slot owning `point`. Always a slot of the ring for a non-empty ring.
    #[inline(always)]
    pub(super) fn owner(&self, point: u32) -> u32 {
        let bucket = (u64::from(point) >> self.shift) as usize;
        let entry = self.buckets.get(bucket).copied().unwrap_or(u64::from(SCAN));
        if entry as u32 != SCAN {
            let (at, after) = ((entry >> 16) as u16, entry as u16);
            return u32::from(if point <= (entry >> 32) as u32 {
                at
            } else {
                after
            });
        }
        self.scan((entry >> 32) as usize, point)
    }

    /// The owner of `point` by a scan from arena index `start`, which is in its arc and
    /// at or before it; the arc's terminator stops every scan.
    #[inline(never)]
    fn scan(&self, start: usize, point: u32) -> u32 {
        let target = u64::from(point) << 32;
        self.arena
            .get(start..)
            .and_then(|rest| rest.iter().find(|e| **e >= target))
            .map_or(0, |e| (e & SLOT) as u32)
    }

    fn arcs(&self) -> usize {
        self.regions.len().saturating_sub(1)
    }

    /// The entries of arc `arc`, without its terminator.
    fn arc(&self, arc: usize) -> &[u64] {
        let Region { base, len } = self.regions.get(arc).copied().unwrap_or_default();
        let (start, len) = (base as usize, len as usize);
        self.arena.get(start..start + len).unwrap_or_default()
    }

    /// Rewrites arc `arc`'s terminator (from the next non-empty arc's first entry) and its
    /// bucket answers `from..to` (the answers of the buckets before them read entries that
    /// did not change, and those after them look only at entries after them).
    pub(super) fn refresh_from(&mut self, arc: usize, (from, to): (usize, usize)) {
        let arcs = self.arcs();
        let next = (1..=arcs)
            .map(|k| (arc + k) % arcs)
            .find_map(|k| self.arc(k).first().copied())
            .unwrap_or(0);
        let end = self.regions[arc].end();
        self.arena[end] = TERMINATOR | (next & SLOT);
        self.fill(arc, (from, to));
    }

    /// Buckets per arc.
    fn per_arc(&self) -> usize {
        1usize << (self.arc_shift - self.shift)
    }

    /// Rewrites arc `arc`'s bucket answers `from..to` from its entries and terminator, in
    /// one walk. Only *boundaries* count (an entry whose owner differs from the next one's:
    /// a point inside a run of its own keys does not), so a bucket with at most one
    /// boundary answers by itself.
    ///
    /// A bucket's answer looks only at the entries at or after its start, so an edit
    /// leaves those of the buckets past it as they were (save arena indices: see
    /// [`shift_scans`](Self::shift_scans)).
    fn fill(&mut self, arc: usize, (from, to): (usize, usize)) {
        let per_arc = self.per_arc();
        let to = to.min(per_arc);
        let (shift, embed) = (self.shift, self.embed);
        let (base, len) = (
            self.regions[arc].base as usize,
            self.regions[arc].len as usize,
        );
        let entries = &self.arena[base..=base + len];
        let first_bucket = arc * per_arc;
        let buckets = &mut self.buckets[first_bucket..first_bucket + per_arc];
        let bucket_of = |e: u64| ((e >> 32) >> shift) as usize - first_bucket;
        let owner = |e: u64| (e & SLOT) as u32;
        let start = entries[..len].partition_point(|e| bucket_of(*e) < from);
        let first_in =
            |b: usize| start + entries[start..len].partition_point(|e| bucket_of(*e) < b);
        if !embed {
            for (b, answer) in buckets.iter_mut().enumerate().take(to).skip(from) {
                *answer = scan_at(base + first_in(b));
            }
            return;
        }
        // Losers are never the first entry at or after a key: skip them.
        let next_visible = |mut k: usize| {
            k += 1;
            while k < len && entries[k] & LOSER != 0 {
                k += 1;
            }
            k
        };
        // The first boundary at or after index `k`, and the next visible entry after it.
        let boundary = |mut k: usize| {
            while k < len {
                if entries[k] & LOSER != 0 {
                    k += 1;
                    continue;
                }
                let j = next_visible(k);
                if owner(entries[k]) != owner(entries[j]) {
                    return Some((k, j));
                }
                k = j;
            }
            None
        };
        let mut b = from;
        let mut found = boundary(start);
        while b < to {
            let Some((k, j)) = found else {
                let last = owner(entries[len]);
                buckets[b..to].fill(embedded(u32::MAX, last, last));
                break;
            };
            let e = entries[k];
            let at = bucket_of(e);
            buckets[b..at.min(to)].fill(embedded(u32::MAX, owner(e), owner(e)));
            if at >= to {
                break;
            }
            let mut next = boundary(j);
            buckets[at] = match next {
                Some((k2, _)) if bucket_of(entries[k2]) == at => scan_at(base + first_in(at)),
                _ => embedded((e >> 32) as u32, owner(e), owner(entries[j])),
            };
            while let Some((k2, j2)) = next
                && bucket_of(entries[k2]) == at
            {
                next = boundary(j2);
            }
            found = next;
            b = at + 1;
        }
    }

    /// Moves the arena indices held by arc `arc`'s buckets from `from` on by `delta`: an
    /// edit before them moved their entries, not their answers.
    fn shift_scans(&mut self, arc: usize, from: usize, delta: isize) {
        let per_arc = self.per_arc();
        let buckets = &mut self.buckets[arc * per_arc..(arc + 1) * per_arc];
        for bucket in buckets.iter_mut().skip(from) {
            if *bucket as u32 == SCAN {
                let index = ((*bucket >> 32) as usize).wrapping_add_signed(delta);
                *bucket = scan_at(index);
            }
        }
    }

    /// Every entry in order (two rings with the same entries, under the same slot names,
    /// route identically).
    #[cfg(test)]
    pub(super) fn entries(&self) -> Vec<u64> {
        (0..self.arcs())
            .flat_map(|a| self.arc(a).to_vec())
            .collect()
    }

    /// Bytes held, for the documented memory figures.
    pub(super) fn bytes(&self) -> usize {
        8 * (self.buckets.len() + self.arena.len() + self.regions.len())
    }
}

/// Where an arc's entries are in the arena. The two halves sit side by side: an edit
/// reads both, and one cache line then holds them.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Region {
    base: u32,
    len: u32,
}

impl Region {
    /// The arena index of the arc's terminator.
    fn end(self) -> usize {
        self.base as usize + self.len as usize
    }
}

/// How a ring of some number of points is cut into buckets and arcs.
pub(super) struct Shape {
    /// Buckets, as a bit count.
    bits: u32,
    /// Shifts a place down to its bucket.
    shift: u32,
    /// Arcs (a power of two, [`ARC_BUCKET_BITS`] fewer bits than the buckets).
    arcs: usize,
    /// Shifts a place down to its arc.
    arc_shift: u32,
}

impl Shape {
    /// The shape of a ring of `points` points: about two buckets per point.
    fn for_points(points: usize) -> Shape {
        let bits = bucket_bits(points);
        let arc_bits = bits.saturating_sub(ARC_BUCKET_BITS);
        Shape {
            bits,
            shift: 32 - bits,
            arcs: 1 << arc_bits,
            arc_shift: 32 - arc_bits,
        }
    }

    /// The arc of an entry.
    pub(super) fn arc(&self, entry: u64) -> usize {
        ((entry >> 32) >> self.arc_shift) as usize
    }

    /// Gives each of `regions` (one per arc and one past the last) its base in the arena,
    /// with room for `entries(len)` entries and a little more; returns the arena's size.
    pub(super) fn place_regions(
        &self,
        regions: &mut [Region],
        entries: impl Fn(u32) -> u32,
    ) -> usize {
        let mut total = 0usize;
        for region in regions.iter_mut().take(self.arcs) {
            let len = entries(region.len) as usize;
            region.base = total as u32;
            total += len + 1 + room(len);
        }
        if let Some(past) = regions.get_mut(self.arcs) {
            past.base = total as u32;
        }
        total
    }
}

/// The widest gap between neighbouring places of `keys` (sorted by place), going round.
fn widest_gap(keys: &[u64]) -> i64 {
    let place = |k: &u64| i64::from((k >> 32) as u32);
    let (Some(first), Some(last)) = (keys.first(), keys.last()) else {
        return LAP;
    };
    let wrap = place(first) + LAP - place(last);
    keys.windows(2)
        .map(|w| place(&w[1]) - place(&w[0]))
        .fold(wrap, i64::max)
}

/// Twice as many buckets as points (a power of two), at most 2^23, as a bit count.
fn bucket_bits(points: usize) -> u32 {
    (usize::BITS - (2 * points).max(2).next_power_of_two().leading_zeros() - 1).min(23)
}

/// A bucket that sends its keys to a scan from arena index `index`.
fn scan_at(index: usize) -> u64 {
    ((index as u64) << 32) | u64::from(SCAN)
}

#[inline]
fn arc_of(arc_shift: u32, at: u32) -> usize {
    (u64::from(at) >> arc_shift) as usize
}

/// A bucket that answers by itself: keys at or below `threshold` go to `at`, the rest to
/// `after` (slots below 2^16 - 1, checked by the caller).
fn embedded(threshold: u32, at: u32, after: u32) -> u64 {
    (u64::from(threshold) << 32) | (u64::from(at & 0xffff) << 16) | u64::from(after & 0xffff)
}

#[cfg(test)]
mod tests;
