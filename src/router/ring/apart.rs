//! An edit window's entries when one instance stands apart: every other instance weighs
//! the same, and the edited one weighs something else (or nothing). Re-weighting one
//! instance of an even pool, as an operator draining or favouring one machine does, is
//! the common case; the general races of [`race`](super::super::race) are not needed
//! for it, and cost most of such an edit.
//!
//! With one point of the instance in the window at `p` (weight `W`) and the others'
//! places round it (weight `L`), a key `x` goes to the nearest other place unless
//! `|x − p| × L` is below `d × W`, `d` the distance to that nearest place (equal: the
//! smaller id). Between two neighbouring places, both distances are linear on each side
//! of the midpoint between the nearest other places, so there the instance's claim
//! changes at most once: its start or end is found from the two lines, then checked
//! against the exact rule. The result is the entries the races would write, entry for
//! entry; a window this does not cover (a shared place, two of the instance's points)
//! is left to the races.

use super::super::race::{LAP, POINT, Point, Race, Runs, entry};
use super::build::halfway;

/// The instance standing apart, and the weight every other live instance has.
#[derive(Clone, Copy, Debug)]
pub(super) struct Apart {
    /// The edited instance's slot.
    pub(super) slot: u32,
    /// Its weight after the edit (0: it left).
    pub(super) weight: u16,
    /// Everyone else's.
    pub(super) others: u16,
}

/// A place in the window: where, whose, and whether it is the instance's.
#[derive(Clone, Copy, Debug)]
struct Place {
    pos: i64,
    slot: u32,
    own: bool,
}

impl Apart {
    /// Appends to `out` what [`Race::sweep`] would for the keys strictly between `lo` and
    /// `hi` (places of other instances, unwrapped): `others` holds every other point in
    /// `lo..=hi`, increasing, and `own` the instance's point strictly inside, if any.
    /// Returns `false`, having written nothing, when two points share a place (or the
    /// instance has a point here but no weight): the races then settle the window.
    pub(super) fn window(
        &self,
        race: &Race<'_>,
        others: &[Point],
        own: Option<i64>,
        out: &mut Vec<(i64, u64)>,
    ) -> bool {
        let shared = others.windows(2).any(|pair| pair[0].pos == pair[1].pos);
        if shared || own.is_some_and(|p| others.iter().any(|q| q.pos == p)) {
            return false;
        }
        if own.is_some() && self.weight == 0 {
            return false;
        }
        let places = Places {
            others,
            own: own.map(|pos| Place {
                pos,
                slot: self.slot,
                own: true,
            }),
        };
        // Every other place, with the instance's one among them, in order; `lo`, the
        // first, is outside the keys written, so its point is not.
        let mut walk = places.iter();
        let Some(mut u) = walk.next() else {
            return true;
        };
        for (i, v) in walk.enumerate() {
            if i > 0 {
                out.push((u.pos, entry(at(u.pos), POINT, u.slot)));
            }
            self.gap(race, &places, (u, v), out);
            u = v;
        }
        true
    }

    /// The cuts between neighbouring places `u` and `v` (exclusive), as the races write
    /// them: the end of each run of one owner whose next run (or `v`) has another.
    fn gap(
        &self,
        race: &Race<'_>,
        places: &Places<'_>,
        (u, v): (Place, Place),
        out: &mut Vec<(i64, u64)>,
    ) {
        if v.pos - u.pos < 2 {
            return;
        }
        let left = places.other_at_or_below(u);
        let right = places.other_at_or_above(v);
        // The last key the left place has against the right one.
        let half = halfway(race, (left.pos, left.slot), (right.pos, right.slot));
        let mut runs = Runs::default();
        let mut step = |from: i64, to: i64, slot: u32| out.extend(runs.step(from, to, slot));
        let sides = [
            (u.pos + 1, half.min(v.pos - 1), left, 1),
            ((half + 1).max(u.pos + 1), v.pos - 1, right, -1),
        ];
        for (from, to, other, sign) in sides {
            if from > to {
                continue;
            }
            let claim = |x: i64| self.claims(race, places.own, x, other, sign);
            let first = claim(from);
            if first == claim(to) {
                step(from, to, self.owner(first, other));
                continue;
            }
            let last = self.last_alike(places.own, (from, to), other, sign, &claim);
            step(from, last, self.owner(first, other));
            step(last + 1, to, self.owner(!first, other));
        }
        step(v.pos, v.pos, v.slot);
    }

    fn owner(&self, claimed: bool, other: Place) -> u32 {
        if claimed { self.slot } else { other.slot }
    }

    /// Whether the instance's point (if any) takes key `x` from `other`, its nearest
    /// other place (`sign` 1: `other` is at or below `x`, −1: at or above).
    fn claims(&self, race: &Race<'_>, own: Option<Place>, x: i64, other: Place, sign: i64) -> bool {
        let Some(p) = own else { return false };
        let mine = (x - p.pos).abs() * i64::from(self.others);
        let theirs = sign * (x - other.pos) * i64::from(self.weight);
        mine < theirs || mine == theirs && race.rank(self.slot) < race.rank(other.slot)
    }

    /// In `from..=to`, where the claim changes once, the last key whose claim is the same
    /// as `from`'s: first guessed from where the two distances cross, then moved to where
    /// the exact rule says.
    fn last_alike(
        &self,
        own: Option<Place>,
        (from, to): (i64, i64),
        other: Place,
        sign: i64,
        claim: &impl Fn(i64) -> bool,
    ) -> i64 {
        let first = claim(from);
        let guess = own.map_or(from, |p| {
            // |x − p| × L = sign × (x − o) × W, with |x − p| linear over the range.
            let towards = if p.pos <= from { 1 } else { -1 };
            let (l, w) = (i64::from(self.others), i64::from(self.weight));
            let slope = towards * l - sign * w;
            let offset = sign * w * other.pos - towards * l * p.pos;
            if slope == 0 {
                from
            } else {
                (-offset).div_euclid(slope)
            }
        });
        let mut last = guess.clamp(from, to - 1);
        while last > from && claim(last) != first {
            last -= 1;
        }
        while last < to - 1 && claim(last + 1) == first {
            last += 1;
        }
        last
    }
}

/// The window's places: the others', and the instance's one among them.
struct Places<'a> {
    others: &'a [Point],
    own: Option<Place>,
}

impl Places<'_> {
    fn other(&self, i: usize) -> Place {
        let q = self.others[i];
        Place {
            pos: q.pos,
            slot: q.slot,
            own: false,
        }
    }

    /// Every place, in order.
    fn iter(&self) -> impl Iterator<Item = Place> + '_ {
        let split = self.own.map_or(self.others.len(), |p| {
            self.others.partition_point(|q| q.pos < p.pos)
        });
        (0..split)
            .map(|i| self.other(i))
            .chain(self.own)
            .chain((split..self.others.len()).map(|i| self.other(i)))
    }

    /// `u` if it is another instance's place, else the nearest other place below it.
    fn other_at_or_below(&self, u: Place) -> Place {
        if !u.own {
            return u;
        }
        let i = self.others.partition_point(|q| q.pos < u.pos);
        self.other(i.saturating_sub(1))
    }

    /// `v` if it is another instance's place, else the nearest other place above it.
    fn other_at_or_above(&self, v: Place) -> Place {
        if !v.own {
            return v;
        }
        let i = self.others.partition_point(|q| q.pos <= v.pos);
        self.other(i.min(self.others.len() - 1))
    }
}

/// A place on the circle from an unwrapped one.
fn at(pos: i64) -> u32 {
    pos.rem_euclid(LAP) as u32
}
