//! Random instance choice within a revision: O(1) whatever the weights.
//!
//! A 32-bit draw `u` is stretched over the `n` instances by a multiply-shift: the high
//! half of `u × n` is the index, and the low half (the fraction left over) is spread
//! evenly over `[0, 2³²)` within each index, so it serves as the alias table's coin
//! without a second draw. Each outcome's probability is off from exact by at most 2⁻³².

/// Picks an index in `0..n` from a 32-bit draw, in proportion to the instance weights.
#[derive(Clone, Debug)]
pub(super) struct Picker {
    /// Vose's alias table, empty when every weight is equal. Entry `i` is
    /// `cut << 32 | alias`: index `i` keeps the draw when the coin is below `cut`, and
    /// hands it to `alias` otherwise.
    entries: Box<[u64]>,
}

impl Picker {
    /// A picker for instances with these relative weights (each at least 1).
    pub(super) fn new(weights: &[u16]) -> Picker {
        let equal = weights.windows(2).all(|pair| pair[0] == pair[1]);
        Picker {
            entries: if equal {
                Box::default()
            } else {
                alias_table(weights)
            },
        }
    }

    /// Bytes held by the alias table.
    pub(super) fn bytes(&self) -> usize {
        8 * self.entries.len()
    }

    /// Whether every instance has the same weight (the pick is a multiply-shift).
    pub(super) fn is_uniform(&self) -> bool {
        self.entries.is_empty()
    }

    /// The chosen index among `n` instances (the count the picker was built for), in
    /// `0..n`; for `n == 0` it is 0, which the caller's `get` refuses.
    #[inline(always)]
    pub(super) fn pick(&self, draw: u32, n: usize) -> usize {
        let stretched = u64::from(draw) * n as u64;
        let index = (stretched >> 32) as usize;
        if self.entries.is_empty() {
            return index;
        }
        let coin = stretched as u32;
        match self.entries.get(index) {
            Some(&entry) if coin >= (entry >> 32) as u32 => entry as u32 as usize,
            _ => index,
        }
    }
}

/// Builds the alias table in exact integer arithmetic: every weight is scaled by `n`,
/// so each index's bucket holds exactly `total` units, and the only rounding is the
/// final conversion of each cut to 32 bits.
///
/// The arithmetic runs in 64 bits whenever the scaled weights shifted by 32 fit (fewer
/// than 2²³ instances of weight up to 256): a 128-bit division costs several times a
/// 64-bit one, and one is done per instance. The two give the same table.
fn alias_table(weights: &[u16]) -> Box<[u64]> {
    let heaviest = weights.iter().copied().max().unwrap_or(0);
    if (u64::from(heaviest) * weights.len() as u64) < 1 << 31 {
        alias_table_in::<u64>(weights)
    } else {
        alias_table_in::<u128>(weights)
    }
}

/// [`alias_table`] in the unsigned type `T`, wide enough for a scaled weight shifted
/// left by 32.
fn alias_table_in<T>(weights: &[u16]) -> Box<[u64]>
where
    T: Copy
        + Ord
        + From<u16>
        + TryFrom<usize>
        + TryInto<u64>
        + std::ops::Mul<Output = T>
        + std::ops::Sub<Output = T>
        + std::ops::SubAssign
        + std::ops::Div<Output = T>
        + std::ops::Shl<u32, Output = T>
        + std::iter::Sum,
{
    let widen = |v: usize| T::try_from(v).unwrap_or_else(|_| T::from(0));
    let n = widen(weights.len());
    let total: T = weights.iter().map(|w| T::from(*w)).sum();
    let mut scaled: Vec<T> = weights.iter().map(|w| T::from(*w) * n).collect();
    // Until paired, an index keeps its whole bucket (alias itself).
    let mut entries: Vec<u64> = (0..weights.len() as u64)
        .map(|i| (u64::from(u32::MAX) << 32) | i)
        .collect();
    let (mut small, mut large): (Vec<usize>, Vec<usize>) =
        (0..weights.len()).partition(|i| scaled[*i] < total);
    while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
        small.pop();
        // `s` keeps `scaled[s] / total` of its bucket; `l` fills the rest.
        let keep: u64 = ((scaled[s] << 32) / total).try_into().unwrap_or(u64::MAX);
        entries[s] = (keep << 32) | l as u64;
        let given = total - scaled[s];
        scaled[l] -= given;
        if scaled[l] < total {
            large.pop();
            small.push(l);
        }
    }
    // Exact arithmetic leaves every remaining index with exactly a full bucket, which
    // the initial self-alias already expresses.
    entries.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact share of all 2³² draws each index receives.
    fn shares(picker: &Picker, n: usize) -> Vec<f64> {
        let pick = |draw| picker.pick(draw, n);
        // Sweep a lattice of draws: stride coprime with 2³² hits every residue class.
        let mut counts = vec![0u64; n];
        let samples = 1u64 << 22;
        let stride = (1u64 << 32) / samples;
        for k in 0..samples {
            let draw = (k * stride + (k * 2_654_435_761) % stride) as u32;
            counts[pick(draw)] += 1;
        }
        counts.iter().map(|c| *c as f64 / samples as f64).collect()
    }

    #[test]
    fn equal_weights_are_uniform() {
        let picker = Picker::new(&[3, 3, 3]);
        assert!(picker.entries.is_empty());
        for share in shares(&picker, 3) {
            assert!((share - 1.0 / 3.0).abs() < 1e-3, "{share}");
        }
        assert_eq!(picker.pick(0, 3), 0);
        assert_eq!(picker.pick(u32::MAX, 3), 2);
        assert_eq!(Picker::new(&[]).pick(u32::MAX, 0), 0);
    }

    #[test]
    fn alias_shares_follow_the_weights() {
        let weights = [1u16, 256, 7, 7, 100, 1];
        let total: f64 = weights.iter().map(|w| f64::from(*w)).sum();
        let picker = Picker::new(&weights);
        for (share, w) in shares(&picker, weights.len()).iter().zip(weights) {
            let expected = f64::from(w) / total;
            assert!((share - expected).abs() < 2e-3, "{share} vs {expected}");
        }
    }

    #[test]
    fn both_widths_build_the_same_table() {
        let weights: Vec<u16> = (0..3_000u32).map(|i| (1 + i * 7 % 256) as u16).collect();
        assert_eq!(
            alias_table_in::<u64>(&weights),
            alias_table_in::<u128>(&weights)
        );
    }

    #[test]
    fn alias_entries_are_in_range() {
        let weights: Vec<u16> = (1..=256).rev().chain(1..=44).collect();
        let picker = Picker::new(&weights);
        assert_eq!(picker.entries.len(), weights.len());
        assert!(
            picker
                .entries
                .iter()
                .all(|e| (*e as u32 as usize) < weights.len())
        );
        for draw in [0, 1, u32::MAX / 2, u32::MAX - 1, u32::MAX] {
            assert!(picker.pick(draw, weights.len()) < weights.len());
        }
    }
}
