use super::*;

fn percent(p: u64) -> Weight {
    Weight::from_percent(p).unwrap()
}

/// Argo's `approximateWeightedCanaryStableReplicaCounts` with its floating-point
/// arithmetic, line for line (Go's float64 is Rust's f64), for comparison.
fn argo_approximate(replicas: i32, weight: i32, max_surge: i32) -> (i32, i32) {
    if replicas == 0 {
        return (0, 0);
    }
    let ceil = (f64::from(replicas * weight) / 100.0).ceil() as i32;
    let floor = (f64::from(replicas * weight) / 100.0).floor() as i32;
    let tied = |total: i32| (f64::from(total) * (f64::from(weight) / 100.0)).fract() == 0.5;
    let delta = |canary: i32, total: i32| {
        (f64::from(canary * 100) / f64::from(total) - f64::from(weight)).abs()
    };
    let zero_allowed = weight == 100 || weight == 0 || (replicas == 1 && max_surge == 0);
    let mut options = Vec::new();
    if ceil < replicas || zero_allowed {
        options.push((ceil, replicas));
    }
    if !tied(replicas) && (floor != 0 || zero_allowed) {
        options.push((floor, replicas));
    }
    if max_surge > 0 {
        options.push((ceil, replicas + 1));
        if !tied(replicas + 1) && (floor != 0 || zero_allowed) {
            options.push((floor, replicas + 1));
        }
    }
    let Some(&first) = options.first() else {
        return (0, replicas);
    };
    let mut best = first;
    for &option in &options[1..] {
        if delta(option.0, option.1) < delta(best.0, best.1) {
            best = option;
        }
    }
    (best.0, best.1 - best.0)
}

/// `canary_basic_target` gives Argo's numbers for every whole percent, compared with
/// Argo's floating-point arithmetic over small fleets, except where Argo finds no
/// candidate at all (a tie half an instance below 100%, without surge) and returns no
/// canary: the documented difference.
#[test]
fn approximation_matches_argo_float_arithmetic() {
    let mut differences = Vec::new();
    for n in 0..=300 {
        for w in 0..=100 {
            for surge in 0..=2 {
                let ours = canary_basic_target(n as u32, percent(w as u64), surge as u32);
                let argo = argo_approximate(n, w, surge);
                if (ours.canary as i32, ours.stable as i32) != argo {
                    differences.push((n, w, surge, ours, argo));
                }
            }
        }
    }
    for &(n, w, surge, ours, argo) in &differences {
        // Half an instance below 100%: n × w = (n - ½) × 100.
        assert!(
            surge == 0 && 2 * n * w == (2 * n - 1) * 100,
            "{n} {w} {surge}"
        );
        assert_eq!(argo, (0, n));
        assert_eq!((ours.canary, ours.stable), (n as u32 - 1, 1));
    }
    // 75% of 2, 90% of 5, 95% of 10, 98% of 25, 99% of 50: the fleets for which
    // 100% - 50%/n is a whole percent (one instance at 50% may be 0 or 1).
    assert_eq!(differences.len(), 5);
}
