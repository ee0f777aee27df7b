//! The weighted split between revisions, and the hashes that place a sticky key.
//!
//! Both kinds of request are placed by a 32-bit *point* `x`: random requests draw it,
//! keyed requests take the high half of the key's xxh3 hash. The point falls in *slot*
//! `(x × 10_000) >> 32` of `[0, 10_000)`, and the live revisions (weight > 0) own
//! consecutive runs of slots in layout order, each as many slots as it has basis points.
//!
//! Comparing `x` against a precomputed *cut* `⌈c × 2³² / 10_000⌉` is exactly the same
//! test as `slot < c` (for integers, `x < c·2³²/10⁴ ⟺ x·10⁴ < c·2³² ⟺ ⌊x·10⁴/2³²⌋ < c`),
//! so the fast paths compare against cuts and the many-revision path looks the slot up,
//! and both agree key for key. Everything is integer arithmetic, so a key lands in the
//! same place on every machine.

use xxhash_rust::xxh3::xxh3_64;

use crate::traffic::TOTAL_BASIS_POINTS;

/// Beyond this many live revisions the split looks up a slot table instead of scanning.
const MAX_SCANNED: usize = 8;

/// Hashes a sticky key. The high 32 bits place it in the split and the low 32 bits on
/// the chosen revision's instance ring; xxh3's output bits are independent, so within a
/// revision (a narrow range of high bits) keys still spread evenly over the ring.
#[inline]
pub(super) fn key_hash(key: &[u8]) -> u64 {
    xxh3_64(key)
}

/// A key's point on the instance ring.
#[inline(always)]
pub(super) const fn instance_point(hash: u64) -> u32 {
    hash as u32
}

/// A key's point for the mirror decision: a bijective remix of the whole hash, so that
/// whether a key is mirrored is independent of its revision and its instance.
#[inline]
pub(super) const fn mirror_point(hash: u64) -> u32 {
    (mix64(hash ^ 0x6a09_e667_f3bc_c909) >> 32) as u32
}

/// The splitmix64 finaliser: a cheap bijection whose every output bit depends on every
/// input bit.
#[inline]
pub(super) const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The smallest point that lies at or past `basis_points` of the way round: `x < cut(c)`
/// exactly when `x` falls in one of the first `c` slots. `cut(10_000)` is 2³², which no
/// 32-bit point reaches.
#[inline]
pub(super) const fn cut(basis_points: u64) -> u64 {
    (basis_points << 32).div_ceil(TOTAL_BASIS_POINTS as u64)
}

/// The slot `[0, 10_000)` a point falls in.
#[inline]
const fn slot(point: u32) -> usize {
    ((point as u64 * TOTAL_BASIS_POINTS as u64) >> 32) as usize
}

/// Which live revision a point goes to, as an index among the live revisions (those
/// with weight above zero) in layout order. The router stores the live revisions' pools
/// first, so this is also the pool index.
#[derive(Clone, Debug)]
pub(super) struct Split {
    /// With at most two live revisions, points below `cut` go to the first and the rest
    /// to the second: one comparison and no branch. One revision has `cut = 2³²`.
    cut: u64,
    /// More than two live revisions.
    many: Many,
}

#[derive(Clone, Debug)]
enum Many {
    No,
    /// A few: the index is the number of cuts at or below the point.
    Scan(Box<[u64]>),
    /// Many: one entry per slot, so the lookup stays O(1).
    Table(Box<[u16]>),
}

impl Split {
    /// Lays out `weights` (basis points, in layout order; zero takes no space).
    pub(super) fn new(weights: &[u16]) -> Split {
        let live: Vec<u64> = weights
            .iter()
            .filter(|w| **w > 0)
            .map(|w| u64::from(*w))
            .collect();
        let mut cuts = Vec::with_capacity(live.len());
        let mut total = 0;
        for w in &live {
            total += w;
            cuts.push(cut(total));
        }
        // The last cut is 2³², past every point.
        cuts.pop();
        let many = match live.len() {
            0..=2 => Many::No,
            n if n <= MAX_SCANNED => Many::Scan(cuts.clone().into()),
            _ => {
                let mut slots = Vec::with_capacity(usize::from(TOTAL_BASIS_POINTS));
                for (i, w) in live.iter().enumerate() {
                    slots.extend(std::iter::repeat_n(i as u16, *w as usize));
                }
                Many::Table(slots.into())
            }
        };
        Split {
            cut: cuts.first().copied().unwrap_or(1 << 32),
            many,
        }
    }

    /// The first or second live revision, by the point: right whenever the table has at
    /// most two live revisions.
    #[inline(always)]
    pub(super) fn first_or_second(&self, point: u32) -> usize {
        // A comparison, not a branch: a 90/10 split would mispredict one time in ten.
        usize::from(u64::from(point) >= self.cut)
    }

    /// The live revision a point goes to. For an empty table this is 0, which the
    /// router's (empty) pool list refuses.
    #[inline(always)]
    pub(super) fn pick(&self, point: u32) -> usize {
        match &self.many {
            Many::No => self.first_or_second(point),
            Many::Scan(cuts) => cuts.iter().filter(|c| u64::from(point) >= **c).count(),
            Many::Table(slots) => slots.get(slot(point)).map_or(0, |i| usize::from(*i)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_agree_with_slots_at_every_boundary() {
        for c in [0u64, 1, 2, 999, 1_000, 3_333, 5_000, 9_999, 10_000] {
            let cut = cut(c);
            for x in [cut.saturating_sub(1), cut, cut + 1] {
                let Ok(x) = u32::try_from(x) else { continue };
                assert_eq!(u64::from(x) < cut, (slot(x) as u64) < c, "c={c} x={x}");
            }
        }
        assert_eq!(cut(10_000), 1 << 32);
        assert_eq!(cut(0), 0);
    }

    #[test]
    fn every_shape_agrees_with_the_slot_table() {
        let shapes: [&[u16]; 5] = [
            &[10_000],
            &[0, 10_000, 0],
            &[9_000, 0, 1_000],
            &[2_500, 2_500, 0, 5_000],
            &[1_000; 10],
        ];
        for weights in shapes {
            let split = Split::new(weights);
            let mut slots = Vec::new();
            for (i, w) in weights.iter().filter(|w| **w > 0).enumerate() {
                slots.extend(std::iter::repeat_n(i, usize::from(*w)));
            }
            for s in 0..10_000u64 {
                // The first and last point of every slot.
                let first = cut(s) as u32;
                let last = (cut(s + 1) - 1) as u32;
                for point in [first, last] {
                    assert_eq!(split.pick(point), slots[s as usize], "{weights:?} {s}");
                }
            }
        }
    }

    #[test]
    fn an_empty_split_picks_the_first_of_no_pools() {
        assert_eq!(Split::new(&[]).pick(7), 0);
        assert_eq!(Split::new(&[0, 0]).pick(u32::MAX), 0);
    }
}
