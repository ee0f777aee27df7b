//! Analysis benchmarks: one metric's Mann–Whitney classification at 10 to 10,000
//! samples per side (it must stay O(n log n)), and a whole judgement of 20 metrics of
//! 100 samples each.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use cutover::analysis::{GroupSpec, JudgeSpec, MetricJudgeSpec, classify_metric, judge};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand_distr::{Distribution, LogNormal};

fn latencies(n: usize, scale: f64, seed: u64) -> Vec<f64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let dist = LogNormal::new(5.0, 0.4).expect("valid lognormal");
    (0..n)
        .map(|_| (dist.sample(&mut rng) * scale).round())
        .collect()
}

fn mann_whitney(c: &mut Criterion) {
    let mut group = c.benchmark_group("judge/mann_whitney");
    let spec = MetricJudgeSpec::new("latency");
    for n in [10, 100, 1_000, 10_000] {
        let canary = latencies(n, 1.02, 1);
        let baseline = latencies(n, 1.0, 2);
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| classify_metric(&spec, black_box(&canary), black_box(&baseline)))
        });
    }
    group.finish();
}

fn whole_judgement(c: &mut Criterion) {
    let names: Vec<String> = (0..20).map(|i| format!("metric-{i}")).collect();
    let spec = JudgeSpec {
        metrics: names.iter().map(MetricJudgeSpec::new).collect(),
        groups: vec![
            GroupSpec {
                name: "latency".into(),
                weight: Some(60.0),
                metrics: names[..10].to_vec(),
            },
            GroupSpec {
                name: "errors".into(),
                weight: None,
                metrics: names[10..].to_vec(),
            },
        ],
        pass_threshold: 95.0,
        marginal_threshold: 75.0,
    };
    let samples: Vec<(Vec<f64>, Vec<f64>)> = (0..20u64)
        .map(|i| {
            (
                latencies(100, 1.0 + i as f64 * 0.01, 2 * i),
                latencies(100, 1.0, 2 * i + 1),
            )
        })
        .collect();
    let pairs: Vec<(&[f64], &[f64])> = samples.iter().map(|(c, b)| (&c[..], &b[..])).collect();
    c.bench_function("judge/judgement/20x100", |b| {
        b.iter(|| judge(&spec, black_box(&pairs)))
    });
}

criterion_group!(benches, mann_whitney, whole_judgement);
criterion_main!(benches);
