use super::*;
use crate::spec::MAX_DESIRED;

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
                let ours = canary_basic_target(n as u32, percent(w as u64), surge as u32).unwrap();
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

/// Every case of Argo's `TestApproximateWeightedNewStableReplicaCounts`: desired,
/// weight %, max surge, expected canary, expected stable.
#[test]
fn basic_target_matches_argo() {
    #[rustfmt::skip]
    let cases = [
        (0, 0, 0, 0, 0), (0, 50, 0, 0, 0), (0, 100, 0, 0, 0),
        (0, 0, 1, 0, 0), (0, 50, 1, 0, 0), (0, 100, 1, 0, 0),
        (1, 0, 0, 0, 1), (1, 1, 0, 0, 1), (1, 49, 0, 0, 1),
        (1, 50, 0, 1, 0), (1, 99, 0, 1, 0), (1, 100, 0, 1, 0),
        (1, 0, 1, 0, 1), (1, 1, 1, 1, 1), (1, 49, 1, 1, 1),
        (1, 50, 1, 1, 1), (1, 99, 1, 1, 1), (1, 100, 1, 1, 0),
        (2, 0, 0, 0, 2), (2, 1, 0, 1, 1), (2, 50, 0, 1, 1), (2, 99, 0, 1, 1), (2, 100, 0, 2, 0),
        (2, 0, 1, 0, 2), (2, 1, 1, 1, 2), (2, 50, 1, 1, 1), (2, 99, 1, 2, 1), (2, 100, 1, 2, 0),
        (3, 10, 0, 1, 2), (3, 25, 0, 1, 2), (3, 33, 0, 1, 2),
        (3, 34, 0, 1, 2), (3, 49, 0, 1, 2), (3, 50, 0, 2, 1),
        (3, 10, 1, 1, 3), (3, 25, 1, 1, 3), (3, 33, 1, 1, 2),
        (3, 34, 1, 1, 2), (3, 49, 1, 2, 2), (3, 50, 1, 2, 2),
        (10, 0, 1, 0, 10), (10, 1, 0, 1, 9), (10, 14, 0, 1, 9), (10, 15, 0, 2, 8),
        (10, 16, 0, 2, 8), (10, 99, 0, 9, 1), (10, 100, 1, 10, 0),
        (10, 0, 1, 0, 10), (10, 1, 1, 1, 10), (10, 18, 1, 2, 9), (10, 19, 1, 2, 9),
        (10, 20, 1, 2, 8), (10, 23, 1, 2, 8), (10, 24, 1, 3, 8), (10, 25, 1, 3, 8),
        (10, 99, 1, 10, 1), (10, 100, 1, 10, 0),
    ];
    assert_eq!(cases.len(), 57);
    for (desired, weight, surge, canary, stable) in cases {
        let counts = canary_basic_target(desired, percent(weight), surge).unwrap();
        assert_eq!(
            (counts.canary, counts.stable),
            (canary, stable),
            "{desired} at {weight}% with surge {surge}"
        );
    }
}

/// Argo's `TestTrafficWeightToReplicas`.
#[test]
fn instances_for_weight_match_argo() {
    for (weight, expected) in [(0, 0), (20, 2), (25, 3), (33, 4), (99, 10), (100, 10)] {
        assert_eq!(
            instances_for_weight(10, percent(weight)).unwrap(),
            expected,
            "{weight}%"
        );
    }
}

/// Published weights, canary first.
fn published(canary: u64, stable: u64) -> Option<PerRole<Weight>> {
    Some(PerRole {
        stable: percent(stable),
        target: percent(canary),
        ..PerRole::default()
    })
}

/// Every case of Argo's `TestCalculateReplicaCountsForCanary` that runs
/// `CalculateReplicaCountsForTrafficRoutedCanary`, its
/// `TestCalculateReplicaCountsForCanaryTrafficRouting`, and every case of
/// `TestCalculateReplicaCountsForCanaryTrafficRoutingDynamicScale`: name, desired,
/// weight %, scale, scaling, expected (stable, canary).
///
/// Adapted inputs, where Argo derives them from the rollout's status: an abort passes
/// a weight of 0 (Argo's `GetCurrentSetWeight`), and passes the `setCanaryScale` only
/// with `abortScaleDownDelaySeconds: 0` (Argo's `UseSetCanaryScale`); a
/// `matchTrafficWeight` scale is passed as such (Argo drops it, with the same effect).
#[test]
fn routed_matches_argo() {
    let plain = RoutedScaling::default();
    let dynamic = |canary, stable| RoutedScaling {
        dynamic_stable_scale: true,
        published: published(canary, stable),
        ..RoutedScaling::default()
    };
    let min_two = RoutedScaling {
        min_instances: 2,
        ..RoutedScaling::default()
    };
    #[rustfmt::skip]
    let cases = [
        ("For canary replicas, use setCanaryScale.replicas when specified along with \
          trafficRouting (and ignore setWeight)",
            1, 100, Some(CanaryScale::Replicas(9)), plain, (1, 9)),
        ("Ignore setCanaryScale replicas/weight when matchTrafficWeight is true",
            10, 20, Some(CanaryScale::MatchTrafficWeight), plain, (10, 2)),
        ("aborted with abortScaleDownDelaySeconds:0 and setCanaryScale",
            1, 0, Some(CanaryScale::Replicas(1)), plain, (1, 1)),
        ("aborted with abortScaleDownDelaySeconds>0 and setCanaryScale", 1, 0, None, plain, (1, 0)),
        ("Honor MinPodsPerReplicaSet when using trafficRouting and starting canary",
            10, 5, None, min_two, (10, 2)),
        ("Cap MinPodsPerReplicaSet when it exceeds rollout replicas with trafficRouting",
            1, 100, None, min_two, (1, 1)),
        ("TestCalculateReplicaCountsForCanaryTrafficRouting", 10, 10, None, plain, (10, 1)),
        ("dynamic: verify we scale down stable", 10, 10, None, dynamic(10, 90), (9, 1)),
        ("dynamic: verify we take max of desired canary (20) > actual (10)",
            10, 20, None, dynamic(10, 90), (9, 2)),
        ("dynamic: verify when we abort, we leave canary scaled up if there is still traffic to it",
            10, 0, None, dynamic(20, 80), (10, 2)),
        ("dynamic: verify when we abort, we reduce canary when there is less traffic to it",
            10, 0, None, dynamic(10, 90), (10, 1)),
    ];
    for (name, desired, weight, scale, scaling, expected) in cases {
        let counts = canary_routed_replicas(desired, percent(weight), scale, scaling).unwrap();
        assert_eq!((counts.stable, counts.canary), expected, "{name}");
    }
    // Argo caps the floor at the service's size with dynamic stable scaling too: with
    // three instances, a floor of five keeps each revision at three at most.
    let dynamic_min_five = RoutedScaling {
        min_instances: 5,
        ..dynamic(0, 100)
    };
    let counts = canary_routed_replicas(3, percent(50), None, dynamic_min_five).unwrap();
    assert_eq!((counts.stable, counts.canary), (3, 3));
    // "Use setCanaryScale.weight for canary replicas when specified with trafficRouting
    // (and ignore setWeight)": Argo's 200% of 4 gives 8; a `Weight` stops at 100%.
    let scale = Some(CanaryScale::Weight(Weight::FULL));
    let counts = canary_routed_replicas(4, Weight::FULL, scale, plain).unwrap();
    assert_eq!((counts.stable, counts.canary), (4, 4));
}

/// `cutover`'s own choices for a traffic-routed canary, each beside the input that
/// gives Argo's number.
#[test]
fn routed_differences_from_argo() {
    let dynamic = |canary, stable| RoutedScaling {
        dynamic_stable_scale: true,
        published: published(canary, stable),
        ..RoutedScaling::default()
    };
    // Lowering the weight without an abort: the canary keeps what its published share
    // needs (Argo drops to 2 at once; publishing a canary weight of 0 gives that).
    let counts = canary_routed_replicas(10, percent(20), None, dynamic(50, 50)).unwrap();
    assert_eq!((counts.canary, counts.stable), (5, 8));
    let counts = canary_routed_replicas(10, percent(20), None, dynamic(0, 50)).unwrap();
    assert_eq!((counts.canary, counts.stable), (2, 8));

    // The stable revision's share comes from the traffic weight, not from the scale
    // (Argo sizes it from the scale's 50%: 5 of 10 while 90% of the traffic is on it,
    // until published weights hold it; passing 50% as the weight gives Argo's number).
    let scale = Some(CanaryScale::Weight(percent(50)));
    let unpublished = dynamic(0, 0);
    let unpublished = RoutedScaling {
        published: None,
        ..unpublished
    };
    let counts = canary_routed_replicas(10, percent(10), scale, unpublished).unwrap();
    assert_eq!((counts.canary, counts.stable), (5, 9));
    let counts = canary_routed_replicas(10, percent(50), scale, unpublished).unwrap();
    assert_eq!((counts.canary, counts.stable), (5, 5));

    // A scale count is taken as given (Argo raises it to 3 with dynamic scaling).
    let scaling = RoutedScaling {
        min_instances: 3,
        ..dynamic(0, 90)
    };
    let counts =
        canary_routed_replicas(10, percent(10), Some(CanaryScale::Replicas(1)), scaling).unwrap();
    assert_eq!((counts.canary, counts.stable), (1, 9));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Weights with the boundaries drawn often.
    fn weight() -> impl Strategy<Value = Weight> {
        prop_oneof![
            1 => Just(Weight::ZERO),
            1 => Just(Weight::FULL),
            1 => (0u64..=100).prop_map(percent),
            4 => (0u64..=10_000).prop_map(|bp| Weight::from_basis_points(bp).unwrap()),
        ]
    }

    /// Any `set_canary_scale`, or none.
    fn scale() -> impl Strategy<Value = Option<CanaryScale>> {
        prop_oneof![
            3 => Just(None),
            1 => Just(Some(CanaryScale::MatchTrafficWeight)),
            1 => (0u32..=250).prop_map(|n| Some(CanaryScale::Replicas(n))),
            1 => weight().prop_map(|w| Some(CanaryScale::Weight(w))),
        ]
    }

    /// Any `desired`, the bound [`MAX_DESIRED`] and its neighbours drawn often.
    fn any_desired() -> impl Strategy<Value = u32> {
        prop_oneof![
            1 => MAX_DESIRED - 1..=MAX_DESIRED + 1,
            2 => 0..=MAX_DESIRED,
            2 => any::<u32>(),
        ]
    }

    /// What a `desired` above [`MAX_DESIRED`] is refused with.
    fn too_large(desired: u32) -> SpecError {
        SpecError::DesiredTooLarge {
            desired,
            max: MAX_DESIRED,
        }
    }

    proptest! {
        #[test]
        fn target_follows_the_rounding_rules(
            desired in 1u32..=200, surge in 0u32..=50, weight in weight()
        ) {
            let counts = canary_basic_target(desired, weight, surge).unwrap();
            let total = counts.canary + counts.stable;
            prop_assert!(total == desired || (total == desired + 1 && surge > 0), "{counts:?}");
            if weight == Weight::ZERO {
                prop_assert_eq!((counts.canary, counts.stable), (0, desired));
            } else if weight == Weight::FULL {
                prop_assert_eq!((counts.canary, counts.stable), (desired, 0));
            } else if desired > 1 || surge > 0 {
                prop_assert!(counts.canary > 0 && counts.stable > 0, "{counts:?}");
            }
        }

        /// Argo's own arithmetic is not monotone at its "no candidate" cases (75% of 2
        /// gives fewer canary instances than 74%); with `cutover`'s fallback it is.
        #[test]
        fn target_is_monotone_in_the_weight(
            desired in 1u32..=200, surge in 0u32..=50, a in weight(), b in weight()
        ) {
            let (low, high) = (a.min(b), a.max(b));
            let low = canary_basic_target(desired, low, surge).unwrap();
            let high = canary_basic_target(desired, high, surge).unwrap();
            prop_assert!(low.canary <= high.canary && low.stable >= high.stable, "{low:?} {high:?}");
        }

        #[test]
        fn target_never_panics(desired in any_desired(), surge: u32, weight in weight()) {
            match canary_basic_target(desired, weight, surge) {
                Ok(counts) => {
                    prop_assert!(desired <= MAX_DESIRED);
                    prop_assert!(counts.canary + counts.stable <= desired + 1, "{counts:?}");
                }
                Err(error) => prop_assert_eq!(error, too_large(desired)),
            }
        }

        #[test]
        fn routed_counts_follow_their_shares(
            desired in 1u32..=200, weight in weight(), min_instances in 0u32..=250,
            dynamic: bool, published_canary in weight(), published_stable in weight(),
            has_published: bool,
        ) {
            let published = has_published.then_some(PerRole {
                stable: published_stable,
                target: published_canary,
                ..PerRole::default()
            });
            let scaling = RoutedScaling { min_instances, dynamic_stable_scale: dynamic, published };
            let counts = canary_routed_replicas(desired, weight, None, scaling).unwrap();
            let needs = |w| instances_for_weight(desired, w).unwrap();
            let stable_share = Weight::from_basis_points(
                u64::from(Weight::FULL.basis_points() - weight.basis_points()),
            ).unwrap();
            prop_assert!(counts.canary >= needs(weight));
            // The floor is capped at the service's size, as Argo caps it.
            prop_assert!(counts.canary <= desired, "{counts:?}");
            prop_assert_eq!(counts.canary == 0, weight.is_zero() && (!dynamic || published.is_none_or(|p| p.target.is_zero())));
            if !dynamic {
                prop_assert_eq!(counts.stable, desired);
                let canary = if weight.is_zero() { 0 } else { needs(weight).max(min_instances.min(desired)) };
                prop_assert_eq!(counts.canary, canary);
            } else {
                prop_assert!(counts.stable >= needs(stable_share));
                prop_assert!(counts.stable <= desired);
                if let Some(published) = published {
                    prop_assert!(counts.stable >= needs(published.stable));
                    prop_assert!(counts.canary >= needs(published.target));
                }
                prop_assert_eq!(counts.stable == 0, weight == Weight::FULL && published.is_none_or(|p| p.stable.is_zero()));
            }
        }

        #[test]
        fn routed_counts_are_monotone_in_the_weight(
            desired in 1u32..=200, a in weight(), b in weight(), min_instances in 0u32..=5,
            dynamic: bool, scale in scale(),
        ) {
            let scaling = RoutedScaling { min_instances, dynamic_stable_scale: dynamic, published: None };
            let (low, high) = (a.min(b), a.max(b));
            let low = canary_routed_replicas(desired, low, scale, scaling).unwrap();
            let high = canary_routed_replicas(desired, high, scale, scaling).unwrap();
            prop_assert!(low.canary <= high.canary && low.stable >= high.stable, "{low:?} {high:?}");
        }

        #[test]
        fn routed_never_panics(
            desired in any_desired(), weight in weight(), scale in scale(), min_instances: u32,
            dynamic: bool, canary in weight(), stable in weight(),
        ) {
            let published = Some(PerRole { stable, target: canary, ..PerRole::default() });
            let scaling = RoutedScaling { min_instances, dynamic_stable_scale: dynamic, published };
            match canary_routed_replicas(desired, weight, scale, scaling) {
                Ok(counts) => {
                    // Only a `set_canary_scale` count takes the canary past `desired`.
                    let most = match scale {
                        Some(CanaryScale::Replicas(n)) => n.max(desired),
                        _ => desired,
                    };
                    prop_assert!(counts.canary <= most && counts.stable <= desired, "{counts:?}");
                }
                Err(error) => prop_assert_eq!(error, too_large(desired)),
            }
        }
    }
}
