//! Rolling updates as scripts: drive inputs, assert actions.

mod support;

use cutover::{InstanceState, Phase};
use support::{World, fleet, spec};

#[test]
fn full_rolling_update_of_ten_at_25_percent() {
    let mut world = World::new(spec(10, "25%", "25%"), fleet("v1", 10));
    assert_eq!(world.phase(), Phase::Idle);
    world.rollout.deploy(world.now, "v2").unwrap();
    world.collect();
    // 25% surge of 10 rounds up to 3; 25% unavailable rounds down to 2.
    assert_eq!(world.outstanding.provisions.len(), 3);
    assert_eq!(world.outstanding.traffic.len(), 1, "two old instances leave rotation at once");
    world.drive(200);
    assert_eq!(world.phase(), Phase::Completed);
    assert_eq!(world.count("v2", InstanceState::Ready), 10);
    assert_eq!(world.count("v1", InstanceState::Ready), 0);
    assert_eq!(world.rollout.stable().unwrap().as_str(), "v2");
    assert_eq!(world.lb.instance_count(), 10);
    assert_eq!(world.lb.weight(&"v2".into()), cutover::Weight::FULL);
}
