//! Router picks against the baselines they must beat, measured in the same run.
//!
//! * `route/random/{N}`: a 90/10 split over N equal-weight instances.
//! * `route/random_weighted/{N}`: the same with instance weights in 1..=256 (alias table).
//! * `route/sticky/{N}`: the same table, keyed by 36-byte uuid-like strings (hash included).
//! * `baseline/u32_threshold/2`: a bare `next_u32() < threshold`, the floor for 2-way.
//! * `baseline/rand_weighted_index/{N}`, `baseline/rand_alias/{N}`: rand's `WeightedIndex`
//!   and rand_distr's `WeightedAliasIndex` over N equal weights.
//! * `compile/{N}`: table to router with the sticky rings built (`Router::new` then
//!   `prepare_sticky`: what a proxy pays before it serves sticky traffic), against
//!   `baseline/rand_alias_build/{N}`: rand_distr's `WeightedAliasIndex::new` over N weights.
//! * `compile_lazy/{N}`: `Router::new` alone (rings built on first sticky pick): what a
//!   proxy that routes only at random pays.
//! * `apply/{weights,join,leave,reweight}/1000`: `Router::apply` of a one-change diff to
//!   a warm router over 1000 instances (sticky rings built, so they are updated too): a
//!   canary weight step, one instance joining, one leaving, one going from weight 1 to 2.
//!
//! * `floor/{table_clone,points_binned,ring_bytes}/1000`: what any build of 1000
//!   instances with 64-point rings must do at least: copy the table, make the 64,000
//!   points and put each in its bin of places (about one point a bin, not ordered
//!   within it), and write the bytes the built rings hold (in order, once each).
//!   `floor/points_sorted/1000` also orders the points within their bins, as the ring
//!   does.
//!
//! Every RNG-driven bench uses the same seeded `Xoshiro256PlusPlus`, so ratios compare
//! the routing work and not the generators.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use cutover::traffic::{InstanceWeight, TableChange, TableDiff};
use cutover::{InstanceId, Revision, Router, TrafficTable, Weight};
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, RngExt, SeedableRng};
use rand_distr::weighted::WeightedAliasIndex;
use xxhash_rust::xxh3::xxh3_64_with_seed;

const SIZES: [usize; 4] = [2, 10, 100, 1_000];
const KEYS: usize = 4_096;

fn rng() -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(0xbe9c_4a11)
}

/// A 90/10 canary table over `n` instances: a tenth of them (at least one) on the canary.
fn table(n: usize, mut weights: impl FnMut(usize) -> u32) -> TrafficTable {
    let canary = (n / 10).max(1);
    let mut builder = TrafficTable::builder()
        .revision("stable", 9_000, Vec::<String>::new())
        .revision("canary", 1_000, Vec::<String>::new());
    for i in 0..n {
        let revision = if i < n - canary { "stable" } else { "canary" };
        builder = builder.weighted_instance(revision, format!("web-{i:04}"), weights(i));
    }
    builder.build().expect("a valid table")
}

/// Distinct uuid-shaped keys, 36 bytes each.
fn keys() -> Vec<[u8; 36]> {
    let mut rng = rng();
    (0..KEYS)
        .map(|_| {
            let hex = format!(
                "{:032x}",
                u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64())
            );
            let uuid = format!(
                "{}-{}-{}-{}-{}",
                &hex[..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..]
            );
            uuid.into_bytes().try_into().expect("36 bytes")
        })
        .collect()
}

/// A router with its sticky rings built.
fn prepared(table: &TrafficTable) -> Router {
    let mut router = Router::new(table);
    router.prepare_sticky();
    router
}

fn route(c: &mut Criterion) {
    let mut group = c.benchmark_group("route");
    let keys = keys();
    for n in SIZES {
        let router = prepared(&table(n, |_| 1));
        let mut rng = rng();
        group.bench_function(BenchmarkId::new("random", n), |b| {
            b.iter(|| router.route_random(&mut rng));
        });

        let mut weights = self::rng();
        let weighted = table(n, |_| weights.random_range(1..=256));
        let weighted = prepared(&weighted);
        group.bench_function(BenchmarkId::new("random_weighted", n), |b| {
            b.iter(|| weighted.route_random(&mut rng));
        });

        let mut next = 0;
        group.bench_function(BenchmarkId::new("sticky", n), |b| {
            b.iter(|| {
                next = (next + 1) % KEYS;
                router.route_sticky(black_box(&keys[next]))
            });
        });
    }
    group.finish();
}

fn baseline(c: &mut Criterion) {
    let mut group = c.benchmark_group("baseline");
    let mut rng = rng();
    // The 90% cut of a 2-way split, as the router computes it.
    let threshold = black_box(((9_000u64 << 32).div_ceil(10_000)) as u32);
    group.bench_function(BenchmarkId::new("u32_threshold", 2), |b| {
        b.iter(|| rng.next_u32() < threshold);
    });
    // The floor for any router returning a full `Decision`: the same comparison choosing
    // between two decisions made beforehand, so only returning the result is added.
    let table = table(2, |_| 1);
    let router = Router::new(&table);
    let made = [
        router.route_sticky(b"user-8").expect("a decision"),
        router.route_sticky(b"user-1").expect("a decision"),
    ];
    group.bench_function(BenchmarkId::new("decision_select", 2), |b| {
        b.iter(|| made[usize::from(rng.next_u32() >= threshold)]);
    });
    for n in SIZES {
        let index = WeightedIndex::new(vec![1u32; n]).expect("weights");
        group.bench_function(BenchmarkId::new("rand_weighted_index", n), |b| {
            b.iter(|| index.sample(&mut rng));
        });
        let alias = WeightedAliasIndex::new(vec![1u32; n]).expect("weights");
        group.bench_function(BenchmarkId::new("rand_alias", n), |b| {
            b.iter(|| alias.sample(&mut rng));
        });
    }
    group.finish();
}

/// Build sizes: every pick size, and 10,000 for a large fleet.
const BUILD_SIZES: [usize; 5] = [2, 10, 100, 1_000, 10_000];

fn compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile");
    for n in BUILD_SIZES {
        let table = table(n, |_| 1);
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| prepared(black_box(&table)));
        });
    }
    group.finish();
    let mut group = c.benchmark_group("compile_lazy");
    for n in BUILD_SIZES {
        let table = table(n, |_| 1);
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| Router::new(black_box(&table)));
        });
    }
    group.finish();
    // The floor for a build: rand_distr's alias table over the same instance weights.
    let mut group = c.benchmark_group("baseline");
    for n in BUILD_SIZES.into_iter().filter(|n| *n >= 10) {
        group.bench_function(BenchmarkId::new("rand_alias_build", n), |b| {
            b.iter(|| WeightedAliasIndex::new(black_box(vec![1u32; n])));
        });
    }
    group.finish();
    // What any build of a 64-point ring over 1,000 instances must do at least, whatever
    // its layout: keep its copy of the table, make the points and bin them by place, and
    // write the rings' bytes.
    let mut group = c.benchmark_group("floor");
    let table = table(1_000, |_| 1);
    group.bench_function(BenchmarkId::new("table_clone", 1_000), |b| {
        b.iter(|| black_box(&table).clone());
    });
    let ids: Vec<String> = (0..1_000).map(|i| format!("web-{i:04}")).collect();
    group.bench_function(BenchmarkId::new("points_binned", 1_000), |b| {
        b.iter(|| bin_by_top_bits(&ring_points(black_box(&ids))));
    });
    group.bench_function(BenchmarkId::new("points_sorted", 1_000), |b| {
        b.iter(|| {
            let mut sorted = bin_by_top_bits(&ring_points(black_box(&ids)));
            order_within_bins(&mut sorted);
            sorted
        });
    });
    // The rings' bytes: what a prepared router holds beyond a lazy one.
    let words = (prepared(&table).heap_bytes() - Router::new(&table).heap_bytes()) / 8;
    group.bench_function(BenchmarkId::new("ring_bytes", 1_000), |b| {
        b.iter(|| (0..black_box(words) as u64).collect::<Vec<u64>>());
    });
    group.finish();
}

/// The 64 points of each of `ids`, as the ring makes them: one xxh3 of the id, then two
/// places per splitmix64 step.
fn ring_points(ids: &[String]) -> Vec<u64> {
    let mut points: Vec<u64> = Vec::with_capacity(64 * ids.len());
    for (slot, id) in ids.iter().enumerate() {
        let mut state = xxh3_64_with_seed(id.as_bytes(), 7);
        for _ in 0..32 {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let bits = mix64(state);
            points.push((bits & !0xffff_ffff) | slot as u64);
            points.push((bits << 32) | slot as u64);
        }
    }
    points
}

/// A counting pass into 2^16 bins by the top bits and one scatter: every point in its
/// bin (about one each), the bins in order, but not the points within a bin. No build
/// that answers a key from the points near it does less with them.
fn bin_by_top_bits(keys: &[u64]) -> Vec<u64> {
    let mut starts = vec![0u32; (1 << 16) + 1];
    for k in keys {
        starts[(k >> 48) as usize + 1] += 1;
    }
    for b in 0..1 << 16 {
        starts[b + 1] += starts[b];
    }
    let mut binned = vec![0u64; keys.len()];
    for k in keys {
        let at = &mut starts[(k >> 48) as usize];
        binned[*at as usize] = *k;
        *at += 1;
    }
    binned
}

/// Orders binned points as the ring does: one branchless pass putting neighbours in
/// order, then an insertion sort.
fn order_within_bins(v: &mut [u64]) {
    let Some(&first) = v.first() else {
        return;
    };
    let mut carry = first;
    for i in 1..v.len() {
        let x = v[i];
        v[i - 1] = carry.min(x);
        carry = carry.max(x);
    }
    if let Some(last) = v.last_mut() {
        *last = carry;
    }
    for i in 1..v.len() {
        let x = v[i];
        let mut j = i;
        while j > 0 && v[j - 1] > x {
            v[j] = v[j - 1];
            j -= 1;
        }
        v[j] = x;
    }
}

/// splitmix64's finaliser, as the ring uses it.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn apply(c: &mut Criterion) {
    let mut group = c.benchmark_group("apply");
    let n = 1_000;
    let router = prepared(&table(n, |_| 1));
    let stable = Revision::from("stable");
    let member = InstanceId::from("web-0005");
    let diff = |change: TableChange| TableDiff {
        from_generation: router.generation(),
        to_generation: router.generation() + 1,
        changes: vec![change],
    };
    let weight = |bp| Weight::from_basis_points(bp).expect("a weight");
    let cases = [
        (
            "weights",
            diff(TableChange::SetWeight {
                revision: stable.clone(),
                weight: weight(8_000),
            }),
        ),
        (
            "join",
            diff(TableChange::AddInstance {
                revision: stable.clone(),
                instance: InstanceId::from("web-new"),
                weight: InstanceWeight::ONE,
            }),
        ),
        (
            "leave",
            diff(TableChange::RemoveInstance {
                revision: stable.clone(),
                instance: member.clone(),
            }),
        ),
        (
            "reweight",
            diff(TableChange::SetInstanceWeight {
                revision: stable.clone(),
                instance: member.clone(),
                weight: InstanceWeight::new(&member, 2).expect("a weight"),
            }),
        ),
    ];
    for (name, mut diff) in cases {
        if name == "weights" {
            diff.changes.push(TableChange::SetWeight {
                revision: Revision::from("canary"),
                weight: weight(2_000),
            });
        }
        group.bench_function(BenchmarkId::new(name, n), |b| {
            b.iter_batched(
                || router.clone(),
                |mut router| {
                    router.apply(black_box(&diff)).expect("a valid diff");
                    router
                },
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = route, baseline, compile, apply
}
criterion_main!(benches);
