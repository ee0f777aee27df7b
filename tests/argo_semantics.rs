//! Where a setting carries Argo Rollouts' name, it behaves as Argo's (issue 20,
//! section 4); where cutover deliberately differs, the setting's docs say so and these
//! tests pin the difference.

mod world;

use cutover::spec::{CanaryStep, Promotion};
use cutover::strategy::{CanaryScale, StepKind};
use cutover::{InstanceGroup, Phase, Weight};
use world::{World, blue_green, canary, fleet};

fn live(world: &World, revision: &str) -> usize {
    let counts = world
        .rollout
        .fleet()
        .group_counts(&revision.into(), InstanceGroup::Main);
    counts.pending() + counts.ready()
}

/// Argo's `previewReplicaCount`: green stays at its preview size until it is promoted,
/// so a manual promotion that waits for hours costs the preview, not a second fleet.
/// It grows to full size only after the promotion, before the switch.
#[test]
fn preview_replicas_hold_until_the_promotion() {
    let spec = blue_green(4, |s| {
        s.preview_replicas = Some(1);
        s.promotion = Promotion::Manual;
    });
    let mut world = World::new(spec, fleet("v1", 4));
    world.deploy("v2").unwrap();
    world.drive(30);
    assert_eq!(world.step_kind(), Some(StepKind::Promotion));
    assert_eq!(
        live(&world, "v2"),
        1,
        "green at its preview size while it waits"
    );
    assert_eq!(live(&world, "v1"), 4);
    assert!(
        world.watermarks.peak_live <= 5,
        "{}",
        world.watermarks.peak_live
    );
    world.promote().unwrap();
    world.drive(40);
    assert_eq!(world.phase(), Phase::Completed);
    assert_eq!(
        world.rollout.traffic().weight(&"v2".into()),
        Weight::FULL,
        "green grew to full size, then took all traffic"
    );
    assert_eq!(live(&world, "v2"), 4);
}

/// Argo ignores `setCanaryScale` without a traffic router; cutover honours it (the
/// canary gets exactly the instances asked for, and a plain load balancer splits by
/// count), as `CanaryStep::SetCanaryScale`'s docs say.
#[test]
fn a_canary_scale_without_a_router_sizes_the_canary() {
    let steps = vec![
        CanaryStep::SetCanaryScale(CanaryScale::Replicas(3)),
        CanaryStep::SetWeight(Weight::from_percent(10).unwrap()),
        CanaryStep::Pause { duration: None },
    ];
    let spec = canary(10, steps, |c| c.traffic_routing = false);
    let mut world = World::new(spec, fleet("v1", 10));
    world.deploy("v2").unwrap();
    world.drive(40);
    assert_eq!(world.step_kind(), Some(StepKind::Pause));
    assert_eq!(live(&world, "v2"), 3, "the scale asked for, not 10% of 10");
}

/// cutover's `abort_scale_down_delay` of zero is no delay (Argo's `0` means never):
/// green goes at once after an abort; `None` keeps it until the next deploy.
#[test]
fn a_zero_abort_delay_is_no_delay_and_none_is_never() {
    for (delay, kept) in [(Some(cutover::Duration::ZERO), 0), (None, 4)] {
        let spec = blue_green(4, |s| {
            s.promotion = Promotion::Manual;
            s.abort_scale_down_delay = delay;
        });
        let mut world = World::new(spec, fleet("v1", 4));
        world.deploy("v2").unwrap();
        world.drive(30);
        assert_eq!(world.step_kind(), Some(StepKind::Promotion));
        world.abort().unwrap();
        world.drive(30);
        assert_eq!(live(&world, "v2"), kept, "abort_scale_down_delay {delay:?}");
        assert_eq!(world.rollout.traffic().weight(&"v1".into()), Weight::FULL);
    }
}

/// `scale_down_delay` counts from completion, after the post-promotion checks (Argo
/// counts from the switch): blue stays warm while the checks run however long they
/// take, so their failure can always switch back in one update.
#[test]
fn blue_stays_through_the_post_promotion_checks_then_for_the_delay() {
    let spec = blue_green(4, |s| {
        s.scale_down_delay = cutover::Duration::from_secs(30);
        s.post_promotion = cutover::spec::Checks {
            hooks: vec![cutover::spec::HookSpec::new(
                "soak",
                cutover::Duration::from_mins(10),
            )],
            analysis: None,
        };
    });
    let mut world = World::new(spec, fleet("v1", 4));
    world.deploy("v2").unwrap();
    world.round_until_step(StepKind::PostPromotion, 40);
    world.ack_traffic();
    assert_eq!(world.rollout.traffic().weight(&"v2".into()), Weight::FULL);
    // Longer than the scale-down delay: blue is still whole.
    world.advance(5 * 60 * 1000);
    assert_eq!(live(&world, "v1"), 4);
    world.hook("soak", true);
    world.drive(10);
    assert_eq!(world.phase(), Phase::Completed);
    assert_eq!(live(&world, "v1"), 4, "warm for the delay after completion");
    world.advance(30_000);
    world.drive(30);
    assert_eq!(live(&world, "v1"), 0);
}
