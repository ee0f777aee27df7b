//! Exhaustive search over small fleets: for 1 to 3 instances and every capacity limit of
//! a small grid (plus a spec that allows downtime, one with `min_ready` and a progress
//! deadline that aborts, and blue-green with a pre-promotion hook that may pass or fail,
//! blue whole or one instance given up), deploy `v2`, then try every interleaving of the
//! world's answers. At each node the world may answer any outstanding provision (ready
//! or failed), report any starting instance healthy (or leave it slow, by doing
//! something else), acknowledge the newest table, finish any drain or termination, or
//! let time run to the next deadline.
//!
//! Every edge is one `World::step`, which checks invariants 1–4 and 7 (see
//! `random_world`). At every node a progressing rollout says what it waits for. Every
//! leaf must come to rest: a node with no move left is checked as is; a node at the
//! depth bound is first answered quickly and honestly, then checked. "At rest" means:
//! completed or aborted with exactly `desired` available instances of the stable revision
//! and only those in the table; or halted, waiting for an operator. A rollout still in
//! progress with nothing to wait for is stuck, and fails the test. Each leaf also
//! survives a serde round trip unchanged (invariant 5).
//!
//! States are deduplicated by their serialized form (plus what the world still owes), and
//! the depth bound deepens until the search is complete or visits a budget of states
//! (`CUTOVER_EXHAUSTIVE_BUDGET`, default 2 000 per spec): one instance, and two with
//! `(surge 1, unavailable 0)` or `(surge 0, unavailable 1)`, are searched to the end of
//! every interleaving; the wider specs to a depth of 7 or more answers. Run with
//! `--nocapture` to see how far each search went.

// Hash sets here only deduplicate search states; nothing iterates them.
#![allow(clippy::disallowed_types)]

mod world;

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};

use cutover::spec::{OnDeadline, ProvisionRetry};
use cutover::{Duration, InstanceState, Phase, RolloutSpec};
use world::{Command, Index, Move, World, counted_spec, env_count, ready_fleet, round_trip};

/// `spec` with two provision retries, so the search meets retries, backoff and giving up.
fn with_retries(spec: RolloutSpec) -> RolloutSpec {
    RolloutSpec {
        provision_retry: ProvisionRetry {
            max_failures: 2,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(2),
        },
        ..spec
    }
}

fn spec(desired: u32, surge: u32, unavailable: u32) -> RolloutSpec {
    with_retries(counted_spec(desired, surge, unavailable))
}

/// Every (surge, unavailable) of the grid that validates for `desired` without
/// `allow_downtime`.
fn specs(desired: u32) -> Vec<(String, RolloutSpec)> {
    [(1, 0), (1, 1), (0, 1), (2, 0)]
        .into_iter()
        .map(|(surge, unavailable)| {
            let name = format!("desired {desired}, surge {surge}, unavailable {unavailable}");
            (name, spec(desired, surge, unavailable))
        })
        .filter(|(_, spec)| spec.validate().is_ok())
        .chain(blue_green_specs(desired))
        .chain(canary_specs(desired))
        .collect()
}

/// A canary of one weight step then a timed step over two instances: with a traffic
/// router (stable full), an experiment (a baseline instance beside the canary's); without
/// one (instance counts within one surge), a pause. Other sizes are left to the random
/// world: each canary spec doubles the search's time.
fn canary_specs(desired: u32) -> Vec<(String, RolloutSpec)> {
    [true, false]
        .into_iter()
        .filter(|_| desired == 2)
        .map(|routed| {
            let timed = if routed {
                cutover::spec::CanaryStep::Experiment {
                    duration: Some(Duration::from_secs(1)),
                    analysis: None,
                    on_failure: cutover::analysis::OnFailure::Abort,
                }
            } else {
                cutover::spec::CanaryStep::Pause {
                    duration: Some(Duration::from_secs(1)),
                }
            };
            let steps = vec![
                cutover::spec::CanaryStep::SetWeight(cutover::Weight::from_percent(50).unwrap()),
                timed,
            ];
            let spec = world::canary(desired, steps, |c| {
                c.traffic_routing = routed;
                c.max_surge = cutover::spec::Quantity::Count(1);
                c.max_unavailable = cutover::spec::Quantity::Count(0);
            });
            let spec = with_retries(spec);
            let how = if routed {
                "routed, with an experiment"
            } else {
                "by instance count"
            };
            (format!("desired {desired}, canary {how}"), spec)
        })
        .collect()
}

/// Blue-green with a pre-promotion hook, whole blue or one blue instance given up.
fn blue_green_specs(desired: u32) -> Vec<(String, RolloutSpec)> {
    [0, 1]
        .into_iter()
        .filter(|unavailable| *unavailable < desired)
        .map(|unavailable| {
            let spec = world::blue_green(desired, |bg| {
                bg.max_unavailable = cutover::spec::Quantity::Count(unavailable);
                bg.pre_promotion = cutover::spec::Checks {
                    hooks: vec![cutover::spec::HookSpec::new(
                        "smoke",
                        Duration::from_secs(60),
                    )],
                    analysis: None,
                };
            });
            let spec = with_retries(spec);
            let name = format!("desired {desired}, blue-green, blue may give up {unavailable}");
            (name, spec)
        })
        .collect()
}

/// The world's possible answers now.
fn moves(world: &World) -> Vec<Move> {
    let mut moves = Vec::new();
    for k in 0..world.provisions.len() {
        moves.push(Move::ProvisionOk(Index(k)));
        moves.push(Move::ProvisionFail(Index(k)));
    }
    for (k, instance) in world.rollout.fleet().iter().enumerate() {
        if instance.state == InstanceState::Starting {
            moves.push(Move::Health(Index(k), true));
        }
    }
    if world.published() > world.acked {
        moves.push(Move::AckLatest);
    }
    for k in 0..world.hooks.len() {
        moves.push(Move::Hook(Index(k), true));
        moves.push(Move::Hook(Index(k), false));
    }
    moves.extend((0..world.drains.len()).map(|k| Move::Drained(Index(k))));
    moves.extend((0..world.terminations.len()).map(|k| Move::Terminated(Index(k))));
    if world.rollout.poll_timeout().is_some() {
        moves.push(Move::ToNextTimeout);
    }
    moves
}

/// The state the future depends on: the rollout and what the world still owes it.
fn fingerprint(world: &World) -> u64 {
    let mut hasher = DefaultHasher::new();
    serde_json::to_string(&world.rollout)
        .expect("serializes")
        .hash(&mut hasher);
    (
        &world.provisions,
        &world.drains,
        &world.terminations,
        &world.hooks,
        world.acked,
        world.now,
    )
        .hash(&mut hasher);
    hasher.finish()
}

/// What a search saw.
#[derive(Default, Debug)]
struct Tally {
    /// Distinct states visited within the bound.
    states: usize,
    /// Moves tried.
    edges: usize,
    /// Leaves by the phase they came to rest in.
    rest: BTreeMap<String, usize>,
    /// Leaves cut off by the depth bound (then answered quickly).
    bounded: usize,
    /// Whether the search stopped at its state cap before finishing this depth.
    capped: bool,
}

fn phase_name(phase: &Phase) -> String {
    match phase {
        Phase::Aborted { .. } => "aborted".into(),
        Phase::Halted { .. } => "halted".into(),
        other => other.to_string(),
    }
}

/// Depth-first search from `root`, checking every edge and every leaf; gives up (with
/// `complete` false) after `cap` states.
fn explore(root: World, depth: usize, cap: usize) -> Tally {
    let mut tally = Tally::default();
    let mut seen = HashSet::new();
    // States already seen to come to rest correctly under honest answers, and where.
    let mut rested = HashMap::new();
    let mut stack = vec![(root, 0)];
    while let Some((world, level)) = stack.pop() {
        if tally.states == cap {
            tally.capped = true;
            break;
        }
        if !seen.insert(fingerprint(&world)) {
            continue;
        }
        tally.states += 1;
        if world.rollout.phase() == Phase::Progressing {
            let status = world.rollout.status();
            assert!(
                !status.waiting_for.is_empty(),
                "progressing without waiting for anything: {status:#?}"
            );
        }
        let next = moves(&world);
        if next.is_empty() || level == depth {
            tally.bounded += usize::from(!next.is_empty());
            assert_eq!(
                round_trip(&world.rollout),
                world.rollout,
                "invariant 5: serde round trip"
            );
            let phase = settle(world, &mut rested);
            *tally.rest.entry(phase).or_default() += 1;
            continue;
        }
        for mv in next {
            let mut child = world.clone();
            child.step(&mv);
            tally.edges += 1;
            stack.push((child, level + 1));
        }
    }
    tally
}

/// Answers everything quickly and honestly (each round checked), and checks where the
/// rollout comes to rest; stops early on a state already known to rest correctly.
fn settle(mut world: World, rested: &mut HashMap<u64, String>) -> String {
    let mut path = Vec::new();
    let phase = loop {
        let key = fingerprint(&world);
        if let Some(phase) = rested.get(&key) {
            break phase.clone();
        }
        path.push(key);
        assert!(
            path.len() < 100,
            "did not come to rest: {:#?}",
            world.rollout.status()
        );
        if world.answer_all().is_empty() {
            world.check_rest();
            break phase_name(&world.rollout.phase());
        }
    };
    rested.extend(path.into_iter().map(|key| (key, phase.clone())));
    phase
}

/// Deploys `v2` over `desired` ready `v1` instances and searches every interleaving,
/// deepening the bound until the search is complete (no leaf cut off) or a pass reaches
/// `budget` states (that last pass covers part of its depth).
fn search(name: &str, spec: RolloutSpec, budget: usize) -> Tally {
    let desired = spec.desired as usize;
    let mut world = World::new(spec, ready_fleet(desired));
    world.round_trip_each_step = false;
    world.step(&Move::Command(Command::Deploy(1)));
    let mut depth = 6;
    let mut complete = None;
    let tally = loop {
        let tally = explore(world.clone(), depth, budget);
        if tally.bounded == 0 || tally.capped {
            break tally;
        }
        complete = Some(depth);
        depth += 1;
    };
    let reach = match (tally.capped, complete) {
        (true, Some(complete)) => {
            format!("every interleaving to depth {complete}, some to {depth}")
        }
        (true, None) => format!("some interleavings to depth {depth}"),
        (false, _) => format!("every interleaving to its end (at most {depth} answers)"),
    };
    println!(
        "{name}: {reach}; {} states, {} moves, {} cut off; at rest: {:?}",
        tally.states, tally.edges, tally.bounded, tally.rest
    );
    assert!(
        tally.rest.contains_key("completed"),
        "no interleaving completed: {name}"
    );
    tally
}

/// States each search may visit (it stops deepening past this); more with
/// `CUTOVER_EXHAUSTIVE_BUDGET`.
fn budget() -> usize {
    env_count("CUTOVER_EXHAUSTIVE_BUDGET", 2_000)
}

#[test]
fn one_instance() {
    for (name, spec) in specs(1) {
        search(&name, spec, budget());
    }
    let downtime = RolloutSpec {
        allow_downtime: true,
        ..spec(1, 0, 1)
    };
    search(
        "desired 1, surge 0, unavailable 1, downtime allowed",
        downtime,
        budget(),
    );
}

#[test]
fn two_instances() {
    for (name, spec) in specs(2) {
        search(&name, spec, budget());
    }
}

#[test]
fn three_instances() {
    for (name, spec) in specs(3) {
        search(&name, spec, budget());
    }
}

/// With `min_ready` and a progress deadline that aborts, letting time run is a move
/// that ends in `Aborted`.
#[test]
fn two_instances_with_min_ready_and_an_aborting_deadline() {
    let spec = RolloutSpec {
        min_ready: Duration::from_secs(5),
        progress_deadline: Some(Duration::from_secs(60)),
        on_progress_deadline: OnDeadline::Abort,
        ..spec(2, 1, 0)
    };
    let tally = search(
        "desired 2, surge 1, unavailable 0, min_ready 5s, abort after 60s",
        spec,
        budget(),
    );
    assert!(
        tally.rest.contains_key("aborted"),
        "no interleaving aborted"
    );
}
