//! Randomness that replays byte for byte: ChaCha8, one stream per source of chance,
//! sampled with integer code of our own (no floating point, no algorithm of a library
//! release that may change).

use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

/// The sources of chance, one ChaCha8 stream each, so that turning one fault on does
/// not move the draws of another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Source {
    Provisioning = 1,
    Crashes = 2,
    Flapping = 3,
    Requests = 4,
    Behaviour = 5,
    Metrics = 6,
}

/// One seeded stream.
#[derive(Debug)]
pub(super) struct Stream(ChaCha8Rng);

impl Stream {
    /// The stream of `source` for `seed`: the key is the seed's and the source's bytes,
    /// little-endian, laid out in a fixed order.
    pub(super) fn new(seed: u64, source: Source) -> Stream {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        key[8..16].copy_from_slice(&(source as u64).to_le_bytes());
        key[16..].copy_from_slice(b"cutover-sim-v1\0\0");
        Stream(ChaCha8Rng::from_seed(key))
    }

    pub(super) fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.0
    }

    fn next(&mut self) -> u64 {
        rand::Rng::next_u64(&mut self.0)
    }

    /// A draw in `0..n` (0 when `n` is 0), by the multiply-shift method on 64 bits: a
    /// bias below 2^-40 for the ranges used here, and the same on every machine.
    pub(super) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    /// Whether an event of `basis_points` in 10 000 happens.
    pub(super) fn chance(&mut self, basis_points: u32) -> bool {
        basis_points > 0 && self.below(10_000) < u64::from(basis_points)
    }

    /// A duration in `mean / 2 ..= mean * 3 / 2` (milliseconds): spread, bounded.
    pub(super) fn around(&mut self, mean: u64) -> u64 {
        mean / 2 + self.below(mean + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_the_same_draws_and_sources_differ() {
        let draws = |seed, source| {
            let mut s = Stream::new(seed, source);
            (0..8).map(|_| s.below(1_000)).collect::<Vec<_>>()
        };
        assert_eq!(draws(7, Source::Crashes), draws(7, Source::Crashes));
        assert_ne!(draws(7, Source::Crashes), draws(7, Source::Flapping));
        assert_ne!(draws(7, Source::Crashes), draws(8, Source::Crashes));
        // Pinned: a change of generator, key layout or sampling would change every
        // saved trace; this says so first.
        assert_eq!(draws(1, Source::Requests), PINNED);
    }

    /// The first draws below 1 000 of seed 1's request stream.
    const PINNED: [u64; 8] = [891, 411, 417, 622, 910, 582, 37, 906];

    #[test]
    fn draws_stay_in_range() {
        let mut s = Stream::new(3, Source::Metrics);
        for n in [0, 1, 2, 10, 10_000] {
            for _ in 0..100 {
                assert!(s.below(n) < n.max(1));
            }
        }
        assert!(!s.chance(0));
        assert!(s.chance(10_000));
        for _ in 0..100 {
            assert!((50..=150).contains(&s.around(100)));
        }
    }
}
