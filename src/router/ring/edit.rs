//! Edits to a built ring for one instance joining, leaving or changing weight: only the
//! arcs within reach of the instance's points are rewritten.

use super::super::race::{LOSER, POINT, Point, Race, SLOT, entry, positions};
use super::{Ring, arc_of};

impl Ring {
    /// The points in the unwrapped range `lo..=hi` (less than a lap), decreasing, except
    /// those of `skip`.
    fn points_in(&self, lo: i64, hi: i64, skip: u32, out: &mut Vec<Point>) {
        let lap = 1i64 << 32;
        let mut top = hi;
        while top >= lo {
            let offset = top.div_euclid(lap) * lap;
            let bottom = lo.max(offset);
            let (from, to) = ((bottom - offset) as u32, (top - offset) as u32);
            let (lo_key, hi_key) = (u64::from(from) << 32, (u64::from(to) << 32) | 0xffff_ffff);
            for arc in (arc_of(self.arc_shift, from)..=arc_of(self.arc_shift, to)).rev() {
                // Sorted: the range's part of the arc by two binary searches.
                let entries = self.arc(arc);
                let first = entries.partition_point(|e| *e < lo_key);
                let last = entries.partition_point(|e| *e <= hi_key);
                for e in entries[first..last].iter().rev() {
                    if e & POINT != 0 && (e & SLOT) as u32 != skip {
                        out.push(Point {
                            pos: i64::from((e >> 32) as u32) + offset,
                            slot: (e & SLOT) as u32,
                        });
                    }
                }
            }
            top = offset - 1;
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
            let base = self.bases[arc] as usize;
            // The new length plus the terminator must fit the region.
            if base + len >= self.bases[arc + 1] as usize {
                return None;
            }
            let tail = base + cut_to..base + old.len();
            self.arena.copy_within(tail, base + cut_from + mine.len());
            self.arena[base + cut_from..base + cut_from + mine.len()].copy_from_slice(mine);
            self.lens[arc] = len as u32;
        }
        Some((first, last))
    }

    /// Updates the ring for one instance's change: slot `slot` (with id `id`) goes from
    /// weight `old` to `new` (0: absent). `race` describes the new weights. Touches only
    /// the arcs within reach of the instance's points. Returns `false` when the change
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
        let mut places: Vec<u32> = positions(id).collect();
        places.sort_unstable();
        places.dedup();
        let lap = 1i64 << 32;
        if light == heavy {
            // Equal weights before and after: the entries are the points, and only the
            // places of this instance's points change.
            if !self.update_points(&places, slot, new > 0, race) {
                return false;
            }
            if new == 0 {
                // Taking points away widens the gaps around them.
                for p in &places {
                    self.max_gap = self.max_gap.max(self.gap_around(*p));
                }
            }
            return true;
        }
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
        let Some(windows) = self.windows(&places, slot, (old, new), (light, heavy)) else {
            return false;
        };
        let mut points = Vec::new();
        let mut out = Vec::new();
        let mut touched = Vec::new();
        // Buffers for every window, allocated once: an edit sweeps about one per point.
        let (mut fresh, mut owners, mut stack) = (Vec::new(), Vec::new(), Vec::with_capacity(16));
        for (lo, hi, end) in windows {
            points.clear();
            self.points_in(lo, end, slot, &mut points);
            if new > 0 {
                // The instance's own places in the window (sorted: a binary search per
                // lap, not a pass over all of them per window).
                for offset in [-lap, 0, lap] {
                    let from = places.partition_point(|p| i64::from(*p) + offset < lo);
                    let to = places.partition_point(|p| i64::from(*p) + offset <= end);
                    points.extend(places[from..to].iter().map(|p| Point {
                        pos: i64::from(*p) + offset,
                        slot,
                    }));
                }
                points.sort_by_key(|p| std::cmp::Reverse(p.pos));
            }
            out.clear();
            race.sweep_with(&points, (lo, hi), &mut out, &mut stack);
            let mut top = hi;
            // Split at the top of the circle so each replaced range is increasing.
            while top >= lo {
                let offset = top.div_euclid(lap) * lap;
                let bottom = lo.max(offset);
                fresh.clear();
                fresh.extend(
                    out.iter()
                        .rev()
                        .filter(|(at, _)| (bottom..=top).contains(at))
                        .map(|e| e.1),
                );
                let (from, to) = ((bottom - offset) as u32, (top - offset) as u32);
                let arcs = arc_of(self.arc_shift, from)..=arc_of(self.arc_shift, to);
                owners.clear();
                owners.extend(arcs.clone().map(|a| self.first_owner(a)));
                // In the first arc, the buckets before the one holding the last entry
                // below `from` keep their answers.
                let kept = self.first_changed_bucket(*arcs.start(), from);
                if self.replace(from, to, &fresh).is_none() {
                    return false;
                }
                for (arc, owner) in arcs.clone().zip(owners.iter().copied()) {
                    let bucket = if arc == *arcs.start() { kept } else { 0 };
                    touched.push((arc, self.first_owner(arc) != owner, bucket));
                }
                top = offset - 1;
            }
        }
        self.refresh_around(touched);
        true
    }

    /// The windows `(lo, hi, end)` an update must sweep: keys in `lo..=hi` may change
    /// owner, and the points up to `end` can own them. `None` when they would cover too
    /// much of the circle (a rebuild is then cheaper).
    ///
    /// A point `p` of weight `w` can own a key `x` in a gap `(a, b]` to its left only if
    /// it beats `b`: `p − b < (b − a) × (w − light) / light`. So the walk left from `p`
    /// stops at the instance's previous point (which owns anything further first) or
    /// once `p − b` passes what the widest gap allows, and keeps only the gaps that pass
    /// the test: with weights close together that is one or two gaps, not the reach of
    /// the widest gap of the whole ring. Likewise a point right of the first point `r`
    /// after `p` can own a key of the window only within `G × (heavy − light) / light`
    /// of `r`, `G` the widest gap the window spans.
    fn windows(
        &self,
        places: &[u32],
        slot: u32,
        (old, new): (u16, u16),
        (light, heavy): (u16, u16),
    ) -> Option<Vec<(i64, i64, i64)>> {
        let lap = 1i64 << 32;
        let gap = self.max_gap;
        let (light, heavy) = (i64::from(light), i64::from(heavy));
        let excess = i64::from(old.max(new)) - light;
        // How far left a walk may need to look.
        let span = (gap * excess + light - 1) / light + gap + 1;
        let mut windows: Vec<(i64, i64, i64)> = Vec::with_capacity(places.len());
        let mut near = Vec::new();
        for (i, &p) in places.iter().enumerate() {
            let p = i64::from(p);
            // The instance's neighbouring points, unwrapped round p.
            let before = match i {
                0 => i64::from(places[places.len() - 1]) - lap,
                _ => i64::from(places[i - 1]),
            };
            let after = match places.get(i + 1) {
                Some(q) => i64::from(*q),
                None => i64::from(places[0]) + lap,
            };
            // Look a few mean gaps away first, further only if the walk needs it.
            let mut reach = (8i64 << self.shift).min(span);
            let (mut lo, mut widest, stopped) = loop {
                near.clear();
                let bottom = (p - reach).max(before);
                self.points_in(bottom, p - 1, slot, &mut near);
                let tail = (bottom == before).then_some(before);
                match walk_left(p, &near, tail, light, excess, gap) {
                    Some((lo, widest)) => break (lo, widest, true),
                    None if reach >= span || bottom == before => break (p - span, 0, false),
                    None => reach = (reach * 4).min(span),
                }
            };
            // The first point after p, and the gap up to it.
            let mut reach = (8i64 << self.shift).min(gap);
            let next = loop {
                near.clear();
                self.points_in(p + 1, (p + reach).min(after - 1), slot, &mut near);
                match near.last() {
                    Some(q) => break q.pos,
                    None if reach >= gap || p + reach >= after - 1 => break after,
                    None => reach = (reach * 4).min(gap),
                }
            };
            widest = widest.max(next - p);
            // A leaving instance's gaps are not the new ring's: fall back on the bound.
            if !stopped || new == 0 || next - p > gap {
                lo = lo.min(p - span);
                widest = gap;
            }
            let end = next + (widest * (heavy - light) + light - 1) / light + 1;
            match windows.last_mut() {
                Some(last) if lo <= last.1 + 1 => {
                    last.0 = last.0.min(lo);
                    last.1 = p;
                    last.2 = last.2.max(end);
                }
                _ => windows.push((lo, p, end)),
            }
        }
        // Merge the last window into the first across the top of the circle.
        if let (Some(first), Some(last)) = (windows.first().copied(), windows.last().copied())
            && windows.len() > 1
            && first.0 + lap <= last.1 + 1
        {
            windows.pop();
            windows[0].0 = last.0 - lap;
            windows[0].2 = windows[0].2.max(last.2 - lap);
        }
        let covered: i64 = windows.iter().map(|(lo, _, end)| end - lo + 1).sum();
        (covered < lap / 4).then_some(windows)
    }

    /// [`update`](Self::update) for a ring of equal weights (no cuts): adds or removes
    /// slot `slot`'s points at `places`, settling ties by id. Returns `false` when an arc
    /// ran out of room.
    fn update_points(&mut self, places: &[u32], slot: u32, add: bool, race: &Race<'_>) -> bool {
        let rank = |s: u32| race.ranks.get(s as usize).copied().unwrap_or(u32::MAX);
        let mut touched: Vec<usize> = Vec::with_capacity(2 * places.len());
        let mut run: Vec<u64> = Vec::new();
        let mut slots: Vec<u32> = Vec::new();
        for &p in places {
            let arc = arc_of(self.arc_shift, p);
            let (lo, hi) = (u64::from(p) << 32, (u64::from(p) << 32) | 0xffff_ffff);
            let entries = self.arc(arc);
            let from = entries.partition_point(|e| *e < lo);
            let to = entries.partition_point(|e| *e <= hi);
            slots.clear();
            slots.extend(
                entries[from..to]
                    .iter()
                    .map(|e| (e & SLOT) as u32)
                    .filter(|s| *s != slot),
            );
            if add {
                slots.push(slot);
            }
            slots.sort_unstable();
            run.clear();
            if let Some(winner) = slots.iter().copied().min_by_key(|s| rank(*s)) {
                run.push(entry(p, POINT, winner));
                run.extend(
                    slots
                        .iter()
                        .filter(|s| **s != winner)
                        .map(|s| entry(p, POINT | LOSER, *s)),
                );
            }
            let first = self.arc(arc).first().copied();
            if self.replace(p, p, &run).is_none() {
                return false;
            }
            touched.push(arc);
            // Arcs before this one answer with its first entry: refresh them only if it
            // changed.
            if self.arc(arc).first().copied() != first {
                let arcs = self.arcs();
                let mut before = arc;
                for _ in 1..arcs {
                    before = (before + arcs - 1) % arcs;
                    touched.push(before);
                    if self.lens[before] > 0 {
                        break;
                    }
                }
            }
        }
        touched.sort_unstable();
        touched.dedup();
        for arc in touched {
            self.refresh(arc);
        }
        true
    }

    /// In a ring of points only, the width of the gap between the entries on either
    /// side of place `p` (which holds no entry), going round.
    fn gap_around(&self, p: u32) -> i64 {
        let arcs = self.arcs();
        let home = arc_of(self.arc_shift, p);
        let key = u64::from(p) << 32;
        let lap = 1i64 << 32;
        if self.arc(home).iter().any(|e| e >> 32 == u64::from(p)) {
            // Another instance's point holds the place: no gap widened.
            return 0;
        }
        let mut next = None;
        for k in 0..=arcs {
            let arc = (home + k) % arcs;
            let entries = self.arc(arc);
            let found = if k == 0 {
                entries.iter().find(|e| **e > key)
            } else {
                entries.first()
            };
            if let Some(e) = found {
                let at = i64::from((e >> 32) as u32);
                next = Some(if at > i64::from(p) { at } else { at + lap });
                break;
            }
        }
        let mut previous = None;
        for k in 0..=arcs {
            let arc = (home + arcs - k % arcs) % arcs;
            let entries = self.arc(arc);
            let found = if k == 0 {
                entries.iter().rev().find(|e| **e < key)
            } else {
                entries.last()
            };
            if let Some(e) = found {
                let at = i64::from((e >> 32) as u32);
                previous = Some(if at < i64::from(p) { at } else { at - lap });
                break;
            }
        }
        match (previous, next) {
            (Some(a), Some(b)) => b - a,
            _ => lap,
        }
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
        let per_arc = 1usize << (self.arc_shift - self.shift);
        below.checked_sub(1).map_or(0, |i| {
            ((entries[i] >> 32) >> self.shift) as usize - arc * per_arc
        })
    }

    /// Refreshes the arcs `edited` (each from its first changed bucket) and, before each
    /// whose first owner changed (`true`), the arcs up to and including the previous
    /// non-empty one (their answers run on into the edited arc's first entry).
    fn refresh_around(&mut self, edited: Vec<(usize, bool, usize)>) {
        let arcs = self.arcs();
        let mut touched: Vec<(usize, usize)> = edited.iter().map(|e| (e.0, e.2)).collect();
        for (mut arc, _, _) in edited.into_iter().filter(|e| e.1) {
            for _ in 0..arcs {
                arc = (arc + arcs - 1) % arcs;
                touched.push((arc, 0));
                if self.lens[arc] > 0 {
                    break;
                }
            }
        }
        // Each arc once, from the lowest bucket any edit of it asks for.
        touched.sort_unstable();
        touched.dedup_by_key(|t| t.0);
        for (arc, from) in touched {
            self.refresh_from(arc, from);
        }
    }
}

/// The walk left from point `p` over the points `near` (decreasing), then `tail` (the
/// instance's previous point, if `near` reaches it): the lowest key `p` can win, and the
/// widest gap between it and `p`. `None` if `near` runs out before the walk may stop.
fn walk_left(
    p: i64,
    near: &[Point],
    tail: Option<i64>,
    light: i64,
    excess: i64,
    gap: i64,
) -> Option<(i64, i64)> {
    let (mut lo, mut widest, mut seen) = (p, 0, 0);
    let mut b = p;
    for a in near.iter().map(|q| q.pos).chain(tail) {
        if b != p && (p - b) * light >= gap * excess {
            return Some((lo, widest));
        }
        seen = seen.max(b - a);
        if b == p || (p - b) * light < (b - a) * excess {
            (lo, widest) = (a + 1, seen);
        }
        if Some(a) == tail {
            return Some((lo, widest));
        }
        b = a;
    }
    None
}
