//! Ordering a ring's points by place for the races of unequal weights: a
//! least-significant-digit radix sort, three passes of 11 bits over the place (the high
//! half of an entry), in linear time where a comparison sort of the whole ring would
//! cost a logarithmic factor more.

/// Digits of the place, lowest first: (shift, bits).
const DIGITS: [(u32, u32); 3] = [(32, 11), (43, 11), (54, 10)];

/// Sorts `keys` by their high 32 bits, keeping the order of equal places; `scratch` is
/// reused (its contents are lost).
pub(super) fn sort_by_place(keys: &mut Vec<u64>, scratch: &mut Vec<u64>) {
    if keys.len() < 64 {
        keys.sort_by_key(|k| k >> 32);
        return;
    }
    let mut counts = [[0u32; 1 << 11]; 3];
    for k in keys.iter() {
        for (count, (shift, bits)) in counts.iter_mut().zip(DIGITS) {
            count[((k >> shift) & ((1 << bits) - 1)) as usize] += 1;
        }
    }
    scratch.clear();
    scratch.resize(keys.len(), 0);
    for (count, (shift, bits)) in counts.iter_mut().zip(DIGITS) {
        let mut total = 0;
        for c in count.iter_mut() {
            (*c, total) = (total, total + *c);
        }
        for k in keys.iter() {
            let at = &mut count[((k >> shift) & ((1 << bits) - 1)) as usize];
            scratch[*at as usize] = *k;
            *at += 1;
        }
        std::mem::swap(keys, scratch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::split::mix64;

    #[test]
    fn sorts_by_place_and_keeps_ties_in_order() {
        for n in [0usize, 5, 63, 64, 1_000, 70_000] {
            let mut keys: Vec<u64> = (0..n as u64)
                .map(|i| (mix64(i) & !0xffff_ffff & 0xfff0_0fff_ffff_ffff) | i)
                .collect();
            let mut expected = keys.clone();
            expected.sort_by_key(|k| k >> 32);
            sort_by_place(&mut keys, &mut Vec::new());
            assert_eq!(keys, expected, "{n}");
        }
    }
}
