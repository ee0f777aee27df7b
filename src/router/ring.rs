//! Sticky instance choice within a revision: a consistent-hash ring.
//!
//! Each instance puts points on a 32-bit circle; a key belongs to the first point at or
//! after its own point (wrapping round). A point's place depends only on its instance's
//! id and its number, and ties between points at the same place go to the smaller id, so
//! the owner of a key depends only on the *set* of points: an instance that leaves takes
//! only its points away (its keys move, nobody else's do), and one that joins only adds
//! points (keys move only onto it).
//!
//! Lookup is O(1) expected: the circle is cut into a power-of-two number of buckets, about
//! two per point. A bucket with at most one point stores its answer (one comparison picks
//! between the point's owner and the next point's); the few with more (about one in ten)
//! remember where their points start, and a short scan from there finds the owner.

use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::split::mix64;

/// Points per unit of instance weight (after dividing the weights by their gcd).
///
/// The ring's balance improves as 1/√points: with 128, an instance's share of keys is
/// within about ±9% of its fair share (one standard deviation). More points cost memory
/// and cache misses in lookups over large revisions.
pub(super) const POINTS_PER_UNIT: u64 = 128;

/// The most points one revision's ring may hold; bigger rings are scaled down, and then
/// minimal disruption is only approximate (every instance's point count shifts a little
/// when the total changes). At 128 points per unit this is 32,768 equal-weight instances.
pub(super) const MAX_POINTS: u64 = 1 << 22;

/// Seeds the hash of instance ids, so that ring positions are a fixed function of the id.
const RING_SEED: u64 = 0x5bd1_e995_c0ff_ee00;

/// The splitmix64 step between one instance's successive points.
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// Marks a bucket whose answer is not embedded (it holds two or more points, or the
/// revision has too many instances for 16-bit owners): its high half is then the index
/// of the first point at or after the bucket's start.
const SCAN: u32 = u32::MAX;

/// A consistent-hash ring over the instances of one revision.
#[derive(Clone, Debug)]
pub(super) struct Ring {
    /// `position << 32 | instance index`, sorted (so by position, then by id, since
    /// instances are indexed in id order), and closed by a `u64::MAX` sentinel that every
    /// scan stops at and that stands for "wrap round to the first point".
    points: Box<[u64]>,
    /// One entry per bucket, about two buckets per point so most hold at most one point
    /// and answer a lookup by themselves, without a second load or a loop:
    /// `threshold << 32 | at << 16 | after`: keys at or below `threshold` go to `at`, the
    /// others to `after`. Buckets that cannot say it this way hold [`SCAN`].
    buckets: Box<[u64]>,
    /// Shifts a 32-bit key point down to its bucket number.
    shift: u32,
    /// The owner of the first point: where keys past the last point wrap to.
    wrap_owner: u32,
}

impl Ring {
    /// Builds the ring for instances with these ids (in id order) and relative weights.
    pub(super) fn new<'a>(instances: impl ExactSizeIterator<Item = (&'a str, u16)>) -> Ring {
        let instances: Vec<(&str, u16)> = instances.collect();
        // 16-bit owners in embedded answers; beyond that every bucket scans.
        let embed = instances.len() < usize::from(u16::MAX);
        Ring::build(&instances, embed)
    }

    fn build(instances: &[(&str, u16)], embed: bool) -> Ring {
        let counts = point_counts(instances.iter().map(|(_, w)| *w));
        let total: usize = counts.iter().map(|c| *c as usize).sum();
        let mut points = Vec::with_capacity(total + 1);
        for (owner, ((id, _), count)) in instances.iter().zip(&counts).enumerate() {
            let mut state = xxh3_64_with_seed(id.as_bytes(), RING_SEED);
            for _ in 0..*count {
                state = state.wrapping_add(GOLDEN);
                let position = mix64(state) >> 32;
                points.push((position << 32) | owner as u64);
            }
        }
        points.sort_unstable();
        let wrap_owner = points.first().map_or(0, |p| *p as u32);
        points.push(u64::MAX);

        // Twice as many buckets as points (a power of two), at most 2^23.
        let bits =
            (usize::BITS - (2 * total).max(1).next_power_of_two().leading_zeros() - 1).min(23);
        let shift = 32 - bits;
        let owner_of = |index: usize| match points.get(index) {
            Some(&p) if p != u64::MAX => p as u32,
            _ => wrap_owner,
        };
        let mut buckets = Vec::with_capacity(1 << bits);
        let mut first = 0usize;
        for bucket in 0..1u64 << bits {
            // The last bucket ends at the top of the circle (its end would overflow).
            let end = if bucket + 1 < 1 << bits {
                ((bucket + 1) << shift) << 32
            } else {
                u64::MAX
            };
            while points
                .get(first)
                .is_some_and(|p| *p < (bucket << shift) << 32)
            {
                first += 1;
            }
            let mut past = first;
            while points.get(past).is_some_and(|p| *p < end && *p != u64::MAX) {
                past += 1;
            }
            let entry = match past - first {
                0 if embed => embedded(u32::MAX, owner_of(past), owner_of(past)),
                1 if embed => {
                    let threshold = points.get(first).map_or(u32::MAX, |p| (*p >> 32) as u32);
                    embedded(threshold, owner_of(first), owner_of(past))
                }
                _ => ((first as u64) << 32) | u64::from(SCAN),
            };
            buckets.push(entry);
        }
        Ring {
            points: points.into(),
            buckets: buckets.into(),
            shift,
            wrap_owner,
        }
    }

    /// The index of the instance owning `point`. Always in range for a ring built from at
    /// least one instance.
    #[inline(always)]
    pub(super) fn owner(&self, point: u32) -> usize {
        let bucket = (u64::from(point) >> self.shift) as usize;
        let entry = self.buckets.get(bucket).copied().unwrap_or(u64::from(SCAN));
        if entry as u32 != SCAN {
            let (at, after) = ((entry >> 16) as u16, entry as u16);
            return usize::from(if point <= (entry >> 32) as u32 {
                at
            } else {
                after
            });
        }
        self.scan((entry >> 32) as usize, point)
    }

    /// The owner of `point` by a scan from `start`, the first point at or after the
    /// start of its bucket.
    #[inline(never)]
    fn scan(&self, start: usize, point: u32) -> usize {
        let target = u64::from(point) << 32;
        let found = self
            .points
            .get(start..)
            .and_then(|rest| rest.iter().find(|p| **p >= target));
        match found {
            Some(&p) if p != u64::MAX => p as u32 as usize,
            _ => self.wrap_owner as usize,
        }
    }

    /// How many points the ring holds (without the sentinel).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.points.len() - 1
    }
}

/// A bucket that answers by itself: keys at or below `threshold` go to `at`, the rest to
/// `after` (owners below 2^16 - 1, checked by the caller).
fn embedded(threshold: u32, at: u32, after: u32) -> u64 {
    (u64::from(threshold) << 32) | (u64::from(at & 0xffff) << 16) | u64::from(after & 0xffff)
}

/// Points per instance: proportional to its weight divided by the gcd of all the weights
/// (so equal weights always give [`POINTS_PER_UNIT`] each), scaled down when the total
/// would pass [`MAX_POINTS`], and never less than one.
fn point_counts(weights: impl Iterator<Item = u16> + Clone) -> Vec<u32> {
    let g = weights.clone().fold(0, gcd).max(1);
    let units: u64 = weights.clone().map(|w| u64::from(w / g)).sum();
    let total = units * POINTS_PER_UNIT;
    weights
        .map(|w| {
            let wanted = u64::from(w / g) * POINTS_PER_UNIT;
            let count = if total <= MAX_POINTS {
                wanted
            } else {
                wanted * MAX_POINTS / total
            };
            count.max(1) as u32
        })
        .collect()
}

const fn gcd(mut a: u16, mut b: u16) -> u16 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(ids: &[&str]) -> Ring {
        Ring::new(ids.iter().map(|id| (*id, 1)))
    }

    /// The owner of `key` by brute force: the first point at or after it, else the first.
    fn brute_owner(ring: &Ring, point: u32) -> usize {
        let real = &ring.points[..ring.points.len() - 1];
        real.iter()
            .find(|p| (**p >> 32) >= u64::from(point))
            .or(real.first())
            .map(|p| *p as u32 as usize)
            .unwrap()
    }

    #[test]
    fn bucket_lookup_matches_a_linear_search() {
        let ring = ring(&["a", "b", "c", "d", "e"]);
        assert_eq!(ring.len(), 5 * POINTS_PER_UNIT as usize);
        let mut point = 0u32;
        for _ in 0..20_000 {
            assert_eq!(ring.owner(point), brute_owner(&ring, point), "{point}");
            point = point.wrapping_add(214_748_363);
        }
        for p in &ring.points[..ring.len()] {
            let at = (*p >> 32) as u32;
            for q in [at.wrapping_sub(1), at, at.wrapping_add(1), 0, u32::MAX] {
                assert_eq!(ring.owner(q), brute_owner(&ring, q));
            }
        }
    }

    #[test]
    fn scanning_every_bucket_gives_the_same_owners() {
        let ids = ["a", "b", "c"].map(|id| (id, 2));
        let (embedded, scanning) = (Ring::build(&ids, true), Ring::build(&ids, false));
        let mut point = 7u32;
        for _ in 0..20_000 {
            assert_eq!(embedded.owner(point), scanning.owner(point));
            assert_eq!(scanning.owner(point), brute_owner(&scanning, point));
            point = point.wrapping_add(214_748_369);
        }
    }

    #[test]
    fn a_single_instance_owns_everything() {
        let ring = ring(&["only"]);
        for point in [0, 1, u32::MAX / 3, u32::MAX] {
            assert_eq!(ring.owner(point), 0);
        }
    }

    #[test]
    fn point_counts_follow_weights_over_their_gcd() {
        assert_eq!(point_counts([4u16, 4, 4].into_iter()), [128, 128, 128]);
        assert_eq!(point_counts([2u16, 4].into_iter()), [128, 256]);
        let big =
            point_counts(std::iter::repeat_n(256u16, 1).chain(std::iter::repeat_n(1, 200_000)));
        assert!(big.iter().map(|c| u64::from(*c)).sum::<u64>() <= MAX_POINTS + 200_001);
        assert!(big.iter().all(|c| *c >= 1));
    }

    #[test]
    fn weights_share_keys_in_proportion() {
        let ring = Ring::new([("light", 1), ("heavy", 3)].into_iter());
        let mut heavy = 0;
        let n = 100_000u64;
        for k in 0..n {
            if ring.owner((mix64(k) >> 32) as u32) == 1 {
                heavy += 1;
            }
        }
        let share = heavy as f64 / n as f64;
        assert!((0.65..0.85).contains(&share), "{share}");
    }
}
