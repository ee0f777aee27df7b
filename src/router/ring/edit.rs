//! Edits to a built ring for one instance joining, leaving or changing weight: only the
//! keys within reach of the instance's points are swept again.
//!
//! A point `p` of weight `w` can own a key `x` only if it beats the nearest other point,
//! whose score is at most `d / light`, `d` the distance from `x` to it: no more than the
//! distance to either end of the gap `(a, b)` round `x`, nor than half the gap. As
//! `p − x = (p − b) + (b − x)` and `b − x ≥ d`, `p` reaches into a gap to its left only if
//! `(p − b) × 2 × light ≤ (w − light) × (b − a)`, and so no further than
//! `(w − light) × G / (2 × light)`, `G` the widest gap. Every key that changes owner is in
//! such a gap of some point of the instance (it is the instance's before or after), so
//! the edit sweeps those gaps again and nothing else. With equal weights that is the gap
//! between the point's two neighbours. The same reasoning bounds which points can own a
//! key of a window `(lo, hi)` (both places): none further out than
//! `(heavy − light) × W / (2 × light)`, `W` the widest gap inside it.
//!
//! Each window's new entries come from the races of its points, or, when every other
//! instance weighs the same, straight from the distances ([`apart`](super::apart)).

use std::iter;

use super::super::race::{LAP, LOSER, POINT, POINTS, Point, Race, SLOT, Scratch, entry, positions};
use super::apart::Apart;
use super::build::midpoint;
use super::{Ring, arc_of};

/// One window of an edit: the keys strictly between two places of other instances
/// (`lo` and `hi`, unwrapped), and how far from them a point can own one of its keys.
#[derive(Clone, Copy, Debug)]
struct Window {
    lo: i64,
    hi: i64,
    margin: i64,
}

impl Ring {
    /// The points at places in the unwrapped range `lo..=hi` (less than a lap),
    /// increasing, except those of `skip` and, outside `inner` (both ends in), those
    /// that weigh no more than `light`.
    ///
    /// A point of the lightest weight beyond an end of a window never owns a key inside
    /// it: the point at that end is strictly nearer and weighs at least as much. So only
    /// heavier points are taken from the margins, and with one heavy instance (a re-weight
    /// from equal weights) the race runs on a third fewer points.
    fn points_in(
        &self,
        (lo, hi): (i64, i64),
        inner: (i64, i64),
        (skip, light): (u32, i64),
        race: &Race<'_>,
        out: &mut Vec<Point>,
    ) {
        let mut bottom = lo;
        while bottom <= hi {
            let offset = bottom.div_euclid(LAP) * LAP;
            let top = hi.min(offset + LAP - 1);
            let (from, to) = ((bottom - offset) as u32, (top - offset) as u32);
            let (lo_key, hi_key) = (u64::from(from) << 32, (u64::from(to) << 32) | 0xffff_ffff);
            for arc in arc_of(self.arc_shift, from)..=arc_of(self.arc_shift, to) {
                // Sorted: the range's part of the arc by two binary searches.
                let entries = self.arc(arc);
                let first = entries.partition_point(|e| *e < lo_key);
                let last = entries.partition_point(|e| *e <= hi_key);
                out.extend(
                    entries[first..last]
                        .iter()
                        .filter(|e| *e & POINT != 0 && (*e & SLOT) as u32 != skip)
                        .map(|e| Point {
                            pos: i64::from((e >> 32) as u32) + offset,
                            slot: (e & SLOT) as u32,
                        })
                        .filter(|p| {
                            (inner.0..=inner.1).contains(&p.pos) || race.weight(p.slot) > light
                        }),
                );
            }
            bottom = offset + LAP;
        }
    }

    /// The distinct places holding other instances' points, going down (`down`) or up
    /// from place `p` (exclusive), unwrapped round `p`, nearest first, at most a lap.
    fn others(&self, p: i64, slot: u32, down: bool) -> Others<'_> {
        let at = p.rem_euclid(LAP);
        let arc = arc_of(self.arc_shift, at as u32);
        let entries = self.arc(arc);
        let key = (at as u64) << 32;
        let index = if down {
            entries.partition_point(|e| *e < key)
        } else {
            entries.partition_point(|e| *e <= key | 0xffff_ffff)
        };
        Others {
            ring: self,
            entries,
            slot,
            down,
            arc,
            index,
            offset: p - at,
            steps: 0,
            last: None,
        }
    }

    /// Replaces the entries at places `from..=to` (no wrap) with `new` (sorted, all in
    /// range). Returns the arcs touched, or `None` if an arc ran out of room (the ring is
    /// then partly edited: the caller rebuilds it).
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
            let (cut_from, cut_to) = (
                old.partition_point(|e| *e < lo),
                old.partition_point(|e| *e <= hi),
            );
            let len = old.len() - (cut_to - cut_from) + mine.len();
            let base = self.regions[arc].base as usize;
            // The new length plus the terminator must fit the region.
            if base + len >= self.regions[arc + 1].base as usize {
                return None;
            }
            let tail = base + cut_to..base + old.len();
            self.arena.copy_within(tail, base + cut_from + mine.len());
            self.arena[base + cut_from..base + cut_from + mine.len()].copy_from_slice(mine);
            self.regions[arc].len = len as u32;
        }
        Some((first, last))
    }

    /// Updates the ring for one instance's change: slot `slot` (with id `id`) goes from
    /// weight `old` to `new` (0: absent). `race` describes the new weights. Touches only
    /// the keys within reach of the instance's points. Returns `false` when the change
    /// reaches too far or an arc ran out of room: the caller then rebuilds.
    pub(in crate::router) fn update(
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
        // Every buffer of the edit is sized up front: a router just cloned (or whose heap
        // has just seen a large free) pays dearly for each allocation, and growing a
        // buffer by doubling makes several.
        let mut places: Vec<u32> = Vec::with_capacity(POINTS);
        places.extend(positions(id));
        places.sort_unstable();
        places.dedup();
        self.warm(&places);
        let mut out = Vec::with_capacity(4 * POINTS);
        let mut fresh = Vec::with_capacity(4 * POINTS);
        let mut touched = Vec::with_capacity(4 * POINTS);
        if light == heavy {
            // Equal weights: each point changes only the gap between its neighbours.
            if let Some(windows) = self.equal_windows(&places, slot, new > 0, race, &mut out) {
                for (lo, hi, from, to) in windows {
                    if !self.rewrite((lo, hi), &out[from..to], &mut fresh, &mut touched) {
                        return false;
                    }
                    if new == 0 {
                        self.max_gap = self.max_gap.max(hi - lo);
                    }
                }
                self.refresh_around(touched);
                return true;
            }
        }
        let Some(windows) = self.windows(&places, slot, old.max(new), (light, heavy)) else {
            return false;
        };
        let mut points = Vec::with_capacity(4 * POINTS);
        // The races' buffers, made when a window first needs them (the apart path does not).
        let mut scratch: Option<Scratch> = None;
        let apart = apart(slot, new, race);
        for Window { lo, hi, margin } in windows {
            if let Some(apart) = apart {
                // Every other point of the window, its ends included (no margin: no
                // point beyond an end can own a key here when the others weigh alike).
                points.clear();
                self.points_in((lo, hi), (lo, hi), (slot, i64::MAX), race, &mut points);
                // A leaving instance's points are on their way out: none of them counts.
                let (own, more) = match own_inside(&places, (lo, hi)) {
                    _ if new == 0 => (None, false),
                    inside => inside,
                };
                out.clear();
                if !more && apart.window(race, &points, own, &mut out) {
                    if !self.rewrite((lo, hi), &out, &mut fresh, &mut touched) {
                        return false;
                    }
                    continue;
                }
            }
            points.clear();
            self.points_in(
                (lo - margin, hi + margin),
                (lo, hi),
                (slot, i64::from(light)),
                race,
                &mut points,
            );
            if new > 0 {
                // The instance's own places near the window (sorted: a binary search per
                // lap, not a pass over all of them per window), each put in its place
                // (a few among a few more: cheaper than sorting them all again).
                for offset in [-LAP, 0, LAP] {
                    let from = places.partition_point(|p| i64::from(*p) + offset < lo - margin);
                    let to = places.partition_point(|p| i64::from(*p) + offset <= hi + margin);
                    for p in &places[from..to] {
                        let pos = i64::from(*p) + offset;
                        let at = points.partition_point(|q| q.pos <= pos);
                        points.insert(at, Point { pos, slot });
                    }
                }
            }
            out.clear();
            let scratch = scratch.get_or_insert_with(|| Scratch::with_capacity(4 * POINTS));
            race.sweep(&points, (lo + 1, hi - 1), &mut out, scratch);
            if !self.rewrite((lo, hi), &out, &mut fresh, &mut touched) {
                return false;
            }
        }
        self.refresh_around(touched);
        true
    }

    /// Reads the lines an edit of the points at `places` will use (each one's region, the
    /// ends of its arc's entries and its arc's buckets) in one loop of independent loads,
    /// so that their cache misses overlap: the edit itself reaches them one after
    /// another, each behind work that depends on the one before.
    fn warm(&self, places: &[u32]) {
        let per_arc = self.per_arc();
        let at = |i: usize| self.arena.get(i).copied().unwrap_or(0);
        let bucket = |i: usize| self.buckets.get(i).copied().unwrap_or(0);
        let mut seen = 0u64;
        for p in places {
            let arc = arc_of(self.arc_shift, *p);
            let region = self.regions.get(arc).copied().unwrap_or_default();
            seen ^= at(region.base as usize) ^ at(region.end());
            seen ^= bucket(arc * per_arc) ^ bucket(arc * per_arc + per_arc - 1);
        }
        std::hint::black_box(seen);
    }

    /// Replaces the entries strictly between the unwrapped places `lo` and `hi` with `out`
    /// (unwrapped, increasing), noting the arcs touched. Returns `false` if an arc ran out
    /// of room (the ring is then partly edited: the caller rebuilds it).
    fn rewrite(
        &mut self,
        (lo, hi): (i64, i64),
        out: &[(i64, u64)],
        fresh: &mut Vec<u64>,
        touched: &mut Vec<Touched>,
    ) -> bool {
        // Split at the top of the circle so each replaced range is increasing.
        let mut bottom = lo + 1;
        while bottom < hi {
            let offset = bottom.div_euclid(LAP) * LAP;
            let top = (hi - 1).min(offset + LAP - 1);
            let first = out.partition_point(|e| e.0 < bottom);
            let last = out.partition_point(|e| e.0 <= top);
            fresh.clear();
            fresh.extend(out[first..last].iter().map(|e| e.1));
            let (from, to) = ((bottom - offset) as u32, (top - offset) as u32);
            let (start, end) = (arc_of(self.arc_shift, from), arc_of(self.arc_shift, to));
            let per_arc = self.per_arc();
            let before = touched.len();
            for arc in start..=end {
                touched.push(Touched {
                    arc,
                    owner: self.first_owner(arc),
                    moved: false,
                    buckets: (0, per_arc),
                });
            }
            // In the first arc, the buckets before the one holding the last entry below
            // `from` keep their answers; in the last, those after the one holding `to`.
            let kept = self.first_changed_bucket(start, from);
            let last_bucket = (to >> self.shift) as usize - end * per_arc;
            let old_len = self.regions[end].len as isize;
            if self.replace(from, to, fresh).is_none() {
                return false;
            }
            self.shift_scans(
                end,
                last_bucket + 1,
                self.regions[end].len as isize - old_len,
            );
            for t in &mut touched[before..] {
                t.moved = self.first_owner(t.arc) != t.owner;
                if t.arc == start {
                    t.buckets.0 = kept;
                }
                if t.arc == end {
                    t.buckets.1 = last_bucket + 1;
                }
            }
            bottom = offset + LAP;
        }
        true
    }

    /// With equal weights before and after: for each of the instance's places, the
    /// nearest places of other instances either side (unwrapped) and the new entries
    /// between them, as `(lo, hi, from, to)` with the entries at `out[from..to]`. `None`
    /// where a place is shared or two of the instance's points share a gap: the general
    /// edit then takes over.
    fn equal_windows(
        &self,
        places: &[u32],
        slot: u32,
        add: bool,
        race: &Race<'_>,
        out: &mut Vec<(i64, u64)>,
    ) -> Option<Vec<(i64, i64, usize, usize)>> {
        out.clear();
        let mut windows = Vec::with_capacity(places.len());
        for &p in places {
            let (below, w_below) = self.neighbour(p, slot, true)?;
            let (above, w_above) = self.neighbour(p, slot, false)?;
            let from = out.len();
            let p = i64::from(p);
            let at = |x: i64| x.rem_euclid(LAP) as u32;
            if add {
                if let Some(x) = midpoint(race, (below, w_below), (p, slot)) {
                    out.push((x, entry(at(x), 0, w_below)));
                }
                out.push((p, entry(at(p), POINT, slot)));
                if let Some(x) = midpoint(race, (p, slot), (above, w_above)) {
                    out.push((x, entry(at(x), 0, slot)));
                }
            } else if let Some(x) = midpoint(race, (below, w_below), (above, w_above)) {
                out.push((x, entry(at(x), 0, w_below)));
            }
            windows.push((below, above, from, out.len()));
        }
        // A joining instance is not in the ring yet: two of its points may share a gap.
        let mut gaps: Vec<i64> = windows.iter().map(|w| w.0.rem_euclid(LAP)).collect();
        gaps.sort_unstable();
        if gaps.windows(2).any(|pair| pair[0] == pair[1]) {
            return None;
        }
        Some(windows)
    }

    /// The nearest place below (`down`) or above place `p` that holds another instance's
    /// point, unwrapped round `p`, and that point's slot. `None` if that place holds
    /// several points, if another of `slot`'s points comes first, or if `p` itself holds
    /// another instance's point.
    fn neighbour(&self, p: u32, slot: u32, down: bool) -> Option<(i64, u32)> {
        let arcs = self.arcs();
        let home = arc_of(self.arc_shift, p);
        let entries = self.arc(home);
        let (lo, hi) = (u64::from(p) << 32, (u64::from(p) << 32) | 0xffff_ffff);
        let (start, end) = (
            entries.partition_point(|e| *e < lo),
            entries.partition_point(|e| *e <= hi),
        );
        if entries[start..end]
            .iter()
            .any(|e| *e & POINT != 0 && (*e & SLOT) as u32 != slot)
        {
            return None;
        }
        let mut arc = home;
        let mut offset = 0i64;
        for step in 0..=arcs {
            let entries = self.arc(arc);
            let range = match (step, down) {
                (0, true) => &entries[..start],
                (0, false) => &entries[end..],
                _ => entries,
            };
            let found = if down {
                range
                    .iter()
                    .rev()
                    .position(|e| *e & POINT != 0)
                    .map(|i| range.len() - 1 - i)
            } else {
                range.iter().position(|e| *e & POINT != 0)
            };
            if let Some(i) = found {
                let e = range[i];
                let tied = if down {
                    e & LOSER != 0
                } else {
                    range.get(i + 1).is_some_and(|n| n >> 32 == e >> 32)
                };
                if tied || (e & SLOT) as u32 == slot {
                    return None;
                }
                return Some((i64::from((e >> 32) as u32) + offset, (e & SLOT) as u32));
            }
            if down {
                if arc == 0 {
                    offset -= LAP;
                    arc = arcs - 1;
                } else {
                    arc -= 1;
                }
            } else if arc + 1 == arcs {
                offset += LAP;
                arc = 0;
            } else {
                arc += 1;
            }
        }
        None
    }

    /// The windows an update of the instance at `places` (slot `slot`, weight `weight`
    /// before or after, whichever is larger) must sweep, merged where they overlap. `None`
    /// when they would cover too much of the circle (a rebuild is then cheaper).
    fn windows(
        &mut self,
        places: &[u32],
        slot: u32,
        weight: u16,
        (light, heavy): (u16, u16),
    ) -> Option<Vec<Window>> {
        let (w, light, heavy) = (i64::from(weight), i64::from(light), i64::from(heavy));
        // Each point's neighbours among the other instances, and the widest gap between
        // other instances' points (those between two of this instance's points are not
        // the ring's gaps). The walks away from each point go on from these searches.
        let mut sides = Vec::with_capacity(places.len());
        let mut widest = self.max_gap;
        for &p in places {
            let p = i64::from(p);
            let mut down = self.others(p, slot, true);
            let mut up = self.others(p, slot, false);
            let below = down.next()?;
            let above = up.next()?;
            widest = widest.max(above - below);
            sides.push((p, (below, down), (above, up)));
        }
        // Whether the instance has a point at (unwrapped) place `q`: its entries change,
        // so a window may not end there.
        let own = |q: i64| places.binary_search(&(q.rem_euclid(LAP) as u32)).is_ok();
        let reach = ((w - light) * widest) / (2 * light) + 1;
        if reach > LAP / 8 {
            return None;
        }
        let mut windows: Vec<Window> = Vec::with_capacity(places.len());
        for (p, (below, down), (above, up)) in sides {
            let mut gap = above - below;
            let (mut lo, mut hi) = (below, above);
            if light != heavy {
                let (edge, wide) = walk(p, iter::once(below).chain(down), w, light, widest)?;
                (lo, gap) = (edge, gap.max(wide));
                let (edge, wide) = walk(p, iter::once(above).chain(up), w, light, widest)?;
                (hi, gap) = (edge, gap.max(wide));
            }
            // End on places where the instance has no point.
            while own(lo) {
                lo = self.others(lo, slot, true).next()?;
                gap = gap.max(widest);
            }
            while own(hi) {
                hi = self.others(hi, slot, false).next()?;
                gap = gap.max(widest);
            }
            let margin = ((heavy - light) * gap) / (2 * light) + 2;
            let shift = lo.div_euclid(LAP) * LAP;
            windows.push(Window {
                lo: lo - shift,
                hi: hi - shift,
                margin,
            });
        }
        windows.sort_unstable_by_key(|w| w.lo);
        let mut merged: Vec<Window> = Vec::with_capacity(windows.len());
        for w in windows {
            match merged.last_mut() {
                Some(last) if w.lo < last.hi => {
                    last.hi = last.hi.max(w.hi);
                    last.margin = last.margin.max(w.margin);
                }
                _ => merged.push(w),
            }
        }
        // The last window may run past the top of the circle into the first.
        if let (Some(first), Some(last)) = (merged.first().copied(), merged.last().copied())
            && merged.len() > 1
            && last.hi > first.lo + LAP
        {
            merged.remove(0);
            let end = merged.len() - 1;
            merged[end].hi = merged[end].hi.max(first.hi + LAP);
            merged[end].margin = merged[end].margin.max(first.margin);
            if merged.len() > 1 && merged[end].hi > merged[0].lo + LAP {
                return None;
            }
        }
        let covered: i64 = merged.iter().map(|w| w.hi - w.lo).sum();
        if covered >= LAP / 4 {
            return None;
        }
        self.max_gap = widest;
        Some(merged)
    }

    /// The owner of arc `arc`'s first entry, if it has one: what the arcs before it
    /// answer with past their own entries.
    fn first_owner(&self, arc: usize) -> Option<u64> {
        self.arc(arc).first().map(|e| e & SLOT)
    }

    /// Within arc `arc`, the first bucket whose answer an edit of the places from `from`
    /// on can change: the one holding the last entry below `from` (its answer names the
    /// entry after it), or the arc's first if there is none.
    fn first_changed_bucket(&self, arc: usize, from: u32) -> usize {
        let entries = self.arc(arc);
        let below = entries.partition_point(|e| *e < u64::from(from) << 32);
        let per_arc = self.per_arc();
        below.checked_sub(1).map_or(0, |i| {
            ((entries[i] >> 32) >> self.shift) as usize - arc * per_arc
        })
    }

    /// Refreshes the arcs `edited` (each in its changed buckets) and, before each whose
    /// first owner changed, the arcs up to and including the previous non-empty one
    /// (their answers run on into the edited arc's first entry).
    fn refresh_around(&mut self, edited: Vec<Touched>) {
        let (arcs, per_arc) = (self.arcs(), self.per_arc());
        let mut touched: Vec<(usize, (usize, usize))> = Vec::with_capacity(2 * edited.len());
        touched.extend(edited.iter().map(|t| (t.arc, t.buckets)));
        for mut arc in edited.into_iter().filter(|t| t.moved).map(|t| t.arc) {
            for _ in 0..arcs {
                arc = (arc + arcs - 1) % arcs;
                touched.push((arc, (0, per_arc)));
                if self.regions[arc].len > 0 {
                    break;
                }
            }
        }
        // Each arc once, over every bucket any edit of it asks for.
        touched.sort_unstable();
        let mut merged: Vec<(usize, (usize, usize))> = Vec::with_capacity(touched.len());
        for (arc, (from, to)) in touched {
            match merged.last_mut() {
                Some(last) if last.0 == arc => last.1.1 = last.1.1.max(to),
                _ => merged.push((arc, (from, to))),
            }
        }
        for (arc, buckets) in merged {
            self.refresh_from(arc, buckets);
        }
    }
}

/// The first of the instance's `places` (sorted) strictly between the unwrapped places
/// `lo` and `hi`, and whether there are more. A window starts on the circle and spans
/// less than a lap, so only the lap above it needs looking at besides the circle.
fn own_inside(places: &[u32], (lo, hi): (i64, i64)) -> (Option<i64>, bool) {
    let mut first = None;
    for offset in [0, LAP].into_iter().take_while(|offset| hi > *offset) {
        let from = places.partition_point(|p| i64::from(*p) + offset <= lo);
        for p in &places[from..] {
            let pos = i64::from(*p) + offset;
            if pos >= hi {
                break;
            }
            if first.is_some() {
                return (first, true);
            }
            first = Some(pos);
        }
    }
    (first, false)
}

/// The instance in slot `slot` (weight `weight` after the edit) as the one standing apart,
/// if every other live instance weighs the same.
fn apart(slot: u32, weight: u16, race: &Race<'_>) -> Option<Apart> {
    let others = race.common_weight(Some(slot))?;
    Some(Apart {
        slot,
        weight,
        others,
    })
}

/// An arc an edit touched: its first entry's owner before the edit and whether that
/// changed, and the buckets whose answers it may have changed.
struct Touched {
    arc: usize,
    owner: Option<u64>,
    moved: bool,
    buckets: (usize, usize),
}

/// The distinct places holding other instances' points on one side of a place, nearest
/// first: see [`Ring::others`].
struct Others<'a> {
    ring: &'a Ring,
    /// The entries of `arc`, kept so each step reads one slice.
    entries: &'a [u64],
    slot: u32,
    down: bool,
    arc: usize,
    /// Down: the entries before this index in `arc` are still to come; up: from it on.
    index: usize,
    offset: i64,
    steps: usize,
    last: Option<i64>,
}

impl Others<'_> {
    /// Moves on to the next arc in the walk's direction, round the circle.
    #[cold]
    fn next_arc(&mut self) {
        let arcs = self.ring.arcs();
        self.steps += 1;
        if self.down {
            if self.arc == 0 {
                self.offset -= LAP;
                self.arc = arcs - 1;
            } else {
                self.arc -= 1;
            }
            self.entries = self.ring.arc(self.arc);
            self.index = self.entries.len();
        } else {
            if self.arc + 1 == arcs {
                self.offset += LAP;
                self.arc = 0;
            } else {
                self.arc += 1;
            }
            self.entries = self.ring.arc(self.arc);
            self.index = 0;
        }
    }
}

impl Iterator for Others<'_> {
    type Item = i64;

    fn next(&mut self) -> Option<i64> {
        while self.steps <= self.ring.arcs() {
            let e = if self.down {
                self.index.checked_sub(1).map(|i| {
                    self.index = i;
                    self.entries[i]
                })
            } else {
                self.entries.get(self.index).map(|e| {
                    self.index += 1;
                    *e
                })
            };
            let Some(e) = e else {
                self.next_arc();
                continue;
            };
            if e & POINT == 0 || (e & SLOT) as u32 == self.slot {
                continue;
            }
            let at = i64::from((e >> 32) as u32) + self.offset;
            if self.last != Some(at) {
                self.last = Some(at);
                return Some(at);
            }
        }
        None
    }
}

/// The walk away from point `p` over the other instances' places `near` (nearest first):
/// the furthest place whose gap towards `p` the point (weight `w`) can reach into, and the
/// widest gap between it and `p`. `None` if `near` runs out before the walk may stop.
fn walk(
    p: i64,
    mut near: impl Iterator<Item = i64>,
    w: i64,
    light: i64,
    widest: i64,
) -> Option<(i64, i64)> {
    let mut b = near.next()?;
    let (mut edge, mut wide, mut seen) = (b, 0, 0);
    for a in near {
        if (p - b).abs() * 2 * light > (w - light) * widest {
            return Some((edge, wide));
        }
        seen = seen.max((b - a).abs());
        if (p - b).abs() * 2 * light <= (w - light) * (b - a).abs() {
            (edge, wide) = (a, seen);
        }
        b = a;
    }
    None
}
