//! Sticky instance choice within a revision: the weighted ring of [`race`](super::race),
//! laid out for O(1) lookups and for edits that touch only the changed instance's part.
//!
//! The ring is a sorted list of *entries* (points, and cuts where the owner changes
//! between two points); a key belongs to the first entry at or after it, wrapping round.
//! The circle is cut into *arcs* of about 16 entries, each stored in a fixed-size region of
//! one arena (so an edit rewrites only the arcs it touches and nothing shifts), and into
//! *buckets*, about two per point. A bucket with at most one entry stores its answer (one
//! comparison picks between the entry's owner and the next one's); the others (about one
//! in ten) store where their entries start in the arena, and a short scan finds the owner.
//!
//! Entries name instances by *slot*, a number that stays with an instance while it is in
//! rotation, so that one instance joining renumbers nothing.

use super::race::{Point, Race, SLOT, entry, positions};

/// Marks a bucket whose answer is not embedded: its high half is then the arena index of
/// the first entry at or after the bucket's start.
const SCAN: u32 = u32::MAX;

/// Buckets per arc, as a power of two (32 buckets: about 16 entries).
const ARC_BUCKET_BITS: u32 = 5;

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
    /// Arc `k` holds its entries at `arena[k * stride..][..lens[k]]`, then a terminator
    /// naming the owner of the first entry past the arc (wrapping round).
    arena: Box<[u64]>,
    lens: Box<[u32]>,
    stride: usize,
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
            lens: Box::default(),
            stride: 0,
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
        let mut keys: Vec<u64> = Vec::new();
        for (slot, id) in ids.enumerate() {
            if let Some(id) = id {
                keys.extend(positions(id).map(|p| entry(p, 0, slot as u32)));
            }
        }
        if keys.is_empty() {
            return Ring::empty();
        }
        keys.sort_unstable();
        keys.dedup();
        let count = keys.len();
        // Start from a heaviest point: nothing to its right can own a key below it, so
        // one lap from there is exact.
        let heaviest = keys
            .iter()
            .map(|k| race.weights.get((k & SLOT) as usize).copied().unwrap_or(0))
            .max()
            .unwrap_or(1);
        let start_index = keys
            .iter()
            .position(|k| race.weights.get((k & SLOT) as usize).copied() == Some(heaviest))
            .unwrap_or(0);
        let start = i64::from((keys[start_index] >> 32) as u32);
        let mut max_gap = 0i64;
        let mut previous = i64::from((keys[count - 1] >> 32) as u32) - (1 << 32);
        for k in &keys {
            let at = i64::from((k >> 32) as u32);
            max_gap = max_gap.max(at - previous);
            previous = at;
        }
        // Decreasing unwrapped places: the start and everything below it, then the rest
        // a lap lower.
        let points: Vec<Point> = keys[..=start_index]
            .iter()
            .rev()
            .map(|k| Point {
                pos: i64::from((k >> 32) as u32),
                slot: (k & SLOT) as u32,
            })
            .chain(keys[start_index + 1..].iter().rev().map(|k| Point {
                pos: i64::from((k >> 32) as u32) - (1 << 32),
                slot: (k & SLOT) as u32,
            }))
            .collect();
        drop(keys);
        let mut out = Vec::with_capacity(count + count / 8);
        race.sweep(&points, start - (1 << 32) + 1, start, &mut out);
        // Emitted downwards from `start`: reversed, the places from `start + 1` (a lap
        // low) come first, then those from 0 to `start`.
        let mut entries: Vec<u64> = out.iter().rev().map(|e| e.1).collect();
        let wrapped = out.iter().filter(|e| e.0 < 0).count();
        entries.rotate_left(wrapped);
        Ring::layout(&entries, count, embed, max_gap)
    }

    /// Lays sorted `entries` out in arcs and buckets, sized for `points` points.
    fn layout(entries: &[u64], points: usize, embed: bool, max_gap: i64) -> Ring {
        // Twice as many buckets as points (a power of two), at most 2^23.
        let bits =
            (usize::BITS - (2 * points).max(2).next_power_of_two().leading_zeros() - 1).min(23);
        let arc_bits = bits.saturating_sub(ARC_BUCKET_BITS);
        let arcs = 1usize << arc_bits;
        let arc_shift = 32 - arc_bits;
        let mut lens = vec![0u32; arcs];
        for e in entries {
            lens[arc_of(arc_shift, (e >> 32) as u32)] += 1;
        }
        let most = lens.iter().copied().max().unwrap_or(0) as usize;
        // Room for the terminator and for growth, so that edits rarely relayout.
        let stride = most + 1 + most / 4 + 4;
        let mut arena = vec![0u64; arcs * stride];
        let mut filled = vec![0usize; arcs];
        for e in entries {
            let arc = arc_of(arc_shift, (e >> 32) as u32);
            arena[arc * stride + filled[arc]] = *e;
            filled[arc] += 1;
        }
        let mut ring = Ring {
            buckets: vec![0u64; 1 << bits].into(),
            shift: 32 - bits,
            arc_shift,
            arena: arena.into(),
            lens: lens.into(),
            stride,
            embed,
            max_gap,
        };
        for arc in (0..arcs).rev() {
            ring.refresh(arc);
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
        self.lens.len()
    }

    /// The entries of arc `arc`, without its terminator.
    fn arc(&self, arc: usize) -> &[u64] {
        let start = arc * self.stride;
        let len = self.lens.get(arc).map_or(0, |l| *l as usize);
        self.arena.get(start..start + len).unwrap_or_default()
    }

    /// Rewrites arc `arc`'s terminator and bucket answers from its entries and the next
    /// non-empty arc's first entry.
    fn refresh(&mut self, arc: usize) {
        let arcs = self.arcs();
        let next = (1..=arcs)
            .map(|k| (arc + k) % arcs)
            .find_map(|k| self.arc(k).first().copied())
            .unwrap_or(0);
        let base = arc * self.stride;
        let len = self.lens[arc] as usize;
        self.arena[base + len] = (u64::from(u32::MAX) << 32) | (next & SLOT);
        let per_arc = 1usize << (self.arc_shift - self.shift);
        let owner = |e: u64| (e & SLOT) as u32;
        let mut index = 0usize;
        for b in 0..per_arc {
            let bucket = arc * per_arc + b;
            let end = match (bucket as u64 + 1) << self.shift {
                top if top >= 1 << 32 => u64::MAX,
                top => top << 32,
            };
            let mut past = index;
            while past < len && self.arena[base + past] < end {
                past += 1;
            }
            let first = self.arena[base + index];
            self.buckets[bucket] = match past - index {
                0 if self.embed => embedded(u32::MAX, owner(first), owner(first)),
                1 if self.embed => embedded(
                    (first >> 32) as u32,
                    owner(first),
                    owner(self.arena[base + past]),
                ),
                _ => (((base + index) as u64) << 32) | u64::from(SCAN),
            };
            index = past;
        }
    }

    /// The points in the unwrapped range `lo..=hi` (less than a lap), decreasing, except
    /// those of `skip`.
    fn points_in(&self, lo: i64, hi: i64, skip: u32, out: &mut Vec<Point>) {
        let lap = 1i64 << 32;
        let mut top = hi;
        while top >= lo {
            let offset = top.div_euclid(lap) * lap;
            let bottom = lo.max(offset);
            let (from, to) = ((bottom - offset) as u32, (top - offset) as u32);
            for arc in (arc_of(self.arc_shift, from)..=arc_of(self.arc_shift, to)).rev() {
                for e in self.arc(arc).iter().rev() {
                    let at = (e >> 32) as u32;
                    if e & super::race::POINT != 0
                        && (from..=to).contains(&at)
                        && (e & SLOT) as u32 != skip
                    {
                        out.push(Point {
                            pos: i64::from(at) + offset,
                            slot: (e & SLOT) as u32,
                        });
                    }
                }
            }
            top = offset - 1;
        }
    }

    /// Replaces the entries at places `from..=to` (no wrap) with `new` (sorted, all in
    /// range). Returns the arcs touched, or `None` if an arc ran out of room.
    fn replace(&mut self, from: u32, to: u32, new: &[u64]) -> Option<(usize, usize)> {
        let (first, last) = (arc_of(self.arc_shift, from), arc_of(self.arc_shift, to));
        let (lo, hi) = (u64::from(from) << 32, (u64::from(to) << 32) | 0xffff_ffff);
        let mut rest = new;
        for arc in first..=last {
            let arc_end = if arc + 1 == self.arcs() {
                u64::MAX
            } else {
                ((arc as u64 + 1) << self.arc_shift) << 32
            };
            let split = rest.partition_point(|e| *e < arc_end);
            let (mine, later) = rest.split_at(split);
            rest = later;
            let old = self.arc(arc);
            let mut merged: Vec<u64> = Vec::with_capacity(old.len() + mine.len());
            merged.extend(old.iter().filter(|e| **e < lo));
            merged.extend_from_slice(mine);
            merged.extend(old.iter().filter(|e| **e > hi));
            if merged.len() + 1 > self.stride {
                return None;
            }
            let base = arc * self.stride;
            self.arena[base..base + merged.len()].copy_from_slice(&merged);
            self.lens[arc] = merged.len() as u32;
        }
        Some((first, last))
    }

    /// Updates the ring for one instance's change: slot `slot` (with id `id`) goes from
    /// weight `old` to `new` (0: absent). `race` describes the new weights. Touches only
    /// the arcs within reach of the instance's points. Returns `false` when the change
    /// reaches too far or an arc ran out of room: the caller then rebuilds.
    pub(super) fn update(
        &mut self,
        id: &str,
        slot: u32,
        (old, new): (u16, u16),
        race: &Race<'_>,
    ) -> bool {
        if self.arcs() == 0 || slot as usize >= 0xffff && self.embed {
            return false;
        }
        let live = race
            .weights
            .iter()
            .copied()
            .filter(|w| *w > 0)
            .chain([old, new].into_iter().filter(|w| *w > 0));
        let (light, heavy) = live.fold((u16::MAX, 0), |(a, b), w| (a.min(w), b.max(w)));
        if heavy == 0 {
            return false;
        }
        let mut places: Vec<u32> = positions(id).collect();
        places.sort_unstable();
        places.dedup();
        let lap = 1i64 << 32;
        if new == 0 {
            // Taking points away widens the gaps around them.
            for p in &places {
                let p = i64::from(*p);
                let mut around = Vec::new();
                self.points_in(p + 1, p + self.max_gap.min(lap - 1), slot, &mut around);
                let next = around.last().map_or(p + lap, |q| q.pos);
                around.clear();
                self.points_in(p - self.max_gap.min(lap - 1), p - 1, slot, &mut around);
                let previous = around.first().map_or(p - lap, |q| q.pos);
                self.max_gap = self.max_gap.max(next - previous);
            }
        }
        let gap = self.max_gap;
        let reach = |w: u16| (gap * i64::from(w) + i64::from(light) - 1) / i64::from(light) + 1;
        let left = reach(old.max(new));
        let right = reach(heavy) + 1;
        // Windows [p - left, p], merged going round the circle.
        let mut windows: Vec<(i64, i64)> = Vec::new();
        for p in &places {
            let (lo, hi) = (i64::from(*p) - left, i64::from(*p));
            match windows.last_mut() {
                Some(last) if lo <= last.1 + 1 => last.1 = hi,
                _ => windows.push((lo, hi)),
            }
        }
        if let (Some(first), Some(last)) = (windows.first().copied(), windows.last().copied())
            && windows.len() > 1
            && first.0 + lap <= last.1 + 1
        {
            windows.pop();
            windows[0].0 = last.0 - lap;
        }
        let covered: i64 = windows.iter().map(|(lo, hi)| hi - lo + 1 + right).sum();
        if covered >= lap / 4 {
            return false;
        }
        let mut points = Vec::new();
        let mut out = Vec::new();
        let mut touched = Vec::new();
        for (lo, hi) in windows {
            points.clear();
            self.points_in(lo, hi + right, slot, &mut points);
            if new > 0 {
                for offset in [-lap, 0, lap] {
                    for p in &places {
                        let at = i64::from(*p) + offset;
                        if (lo..=hi + right).contains(&at) {
                            points.push(Point { pos: at, slot });
                        }
                    }
                }
                points.sort_by_key(|p| std::cmp::Reverse(p.pos));
            }
            out.clear();
            race.sweep(&points, lo, hi, &mut out);
            let mut top = hi;
            // Split at the top of the circle so each replaced range is increasing.
            while top >= lo {
                let offset = top.div_euclid(lap) * lap;
                let bottom = lo.max(offset);
                let mut fresh: Vec<u64> = out
                    .iter()
                    .filter(|(at, _)| (bottom..=top).contains(at))
                    .map(|e| e.1)
                    .collect();
                fresh.reverse();
                match self.replace((bottom - offset) as u32, (top - offset) as u32, &fresh) {
                    Some(arcs) => touched.push(arcs),
                    None => return false,
                }
                top = offset - 1;
            }
        }
        let arcs = self.arcs();
        for (first, last) in touched {
            for arc in (first..=last).rev() {
                self.refresh(arc);
            }
            // Arcs before `first` up to and including the last non-empty one answer with
            // the first entry of `first` onwards.
            let mut arc = first;
            for _ in 0..arcs {
                arc = (arc + arcs - 1) % arcs;
                self.refresh(arc);
                if self.lens[arc] > 0 {
                    break;
                }
            }
        }
        true
    }

    /// Every entry in order (for tests: two rings with the same entries, under the same
    /// slot names, route identically).
    #[cfg(test)]
    pub(super) fn entries(&self) -> Vec<u64> {
        (0..self.arcs())
            .flat_map(|a| self.arc(a).to_vec())
            .collect()
    }

    /// Bytes held, for the documented memory figures.
    pub(super) fn bytes(&self) -> usize {
        8 * (self.buckets.len() + self.arena.len()) + 4 * self.lens.len()
    }
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
mod tests {
    use super::*;
    use crate::router::split::mix64;

    fn race<'a>(weights: &'a [u16], ranks: &'a [u32]) -> Race<'a> {
        Race { weights, ranks }
    }

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("web-{i:03}")).collect()
    }

    fn build(ids: &[String], weights: &[u16], embed: bool) -> Ring {
        let ranks: Vec<u32> = (0..ids.len() as u32).collect();
        Ring::build(
            ids.iter().map(|s| Some(s.as_str())),
            &race(weights, &ranks),
            embed,
        )
    }

    #[test]
    fn embedded_and_scanned_buckets_agree() {
        let ids = ids(5);
        let weights = [1, 3, 1, 7, 2];
        let (a, b) = (build(&ids, &weights, true), build(&ids, &weights, false));
        assert_eq!(a.entries(), b.entries());
        let mut point = 7u32;
        for _ in 0..50_000 {
            assert_eq!(a.owner(point), b.owner(point));
            point = point.wrapping_add(85_899_343);
        }
        for e in a.entries() {
            let at = (e >> 32) as u32;
            for q in [at.wrapping_sub(1), at, at.wrapping_add(1), 0, u32::MAX] {
                assert_eq!(a.owner(q), b.owner(q));
            }
        }
    }

    #[test]
    fn updates_equal_fresh_builds() {
        let ids = ids(12);
        let mut weights: Vec<u16> = (0..12).map(|i| 1 + (i % 3) as u16).collect();
        let ranks: Vec<u32> = (0..12).collect();
        let mut ring = build(&ids, &weights, true);
        for (slot, to) in [(3usize, 0u16), (3, 2), (5, 9), (0, 0), (0, 1), (7, 1)] {
            let from = weights[slot];
            weights[slot] = to;
            let ok = ring.update(&ids[slot], slot as u32, (from, to), &race(&weights, &ranks));
            let fresh = Ring::build(
                ids.iter()
                    .zip(&weights)
                    .map(|(id, w)| (*w > 0).then_some(id.as_str())),
                &race(&weights, &ranks),
                true,
            );
            if ok {
                assert_eq!(ring.entries(), fresh.entries(), "slot {slot} to {to}");
                let mut point = 3u32;
                for _ in 0..20_000 {
                    assert_eq!(ring.owner(point), fresh.owner(point));
                    point = point.wrapping_add(214_748_369);
                }
            } else {
                ring = fresh;
            }
        }
    }

    #[test]
    fn a_single_instance_owns_everything() {
        let ring = build(&ids(1), &[4], true);
        for point in [0, 1, u32::MAX / 3, u32::MAX] {
            assert_eq!(ring.owner(point), 0);
        }
    }

    #[test]
    fn weights_share_keys_in_proportion() {
        let ring = build(&["light".into(), "heavy".into()], &[1, 3], true);
        let n = 200_000u64;
        let heavy = (0..n)
            .filter(|k| ring.owner((mix64(*k) >> 32) as u32) == 1)
            .count();
        let share = heavy as f64 / n as f64;
        assert!((0.68..0.82).contains(&share), "{share}");
    }
}
