//! The document targets: a spec, a saved rollout and a traffic table read from JSON.
//! Whatever is refused is refused with a bounded message; whatever is accepted
//! round-trips and works.

use crate::model::Instance;
use crate::{Rollout, RolloutDocument, RolloutSpec, Router, Timestamp, TrafficTable};

use super::{Bytes, honest};

/// The longest refusal message any document may produce: a refusal quotes excerpts of
/// what it refuses, never the whole of it.
const MESSAGE_BYTES: usize = 4_096;

/// The largest `desired` whose accepted spec is also run (a larger one is only parsed,
/// validated and round-tripped, so that each input stays fast).
const RUN_DESIRED: u32 = 8;

fn bounded(message: String) {
    assert!(
        message.len() <= MESSAGE_BYTES,
        "a refusal of {} bytes: {}…",
        message.len(),
        message.chars().take(200).collect::<String>()
    );
}

/// Reads `data` as a spec document ([`RolloutSpec::from_json`]). A refusal must be short;
/// an accepted spec must validate, write out and read back as itself, and run: a rollout
/// built on it (for a small `desired`) deploys a new revision and is answered honestly
/// without an internal error.
pub fn spec_document(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let spec = match RolloutSpec::from_json(text) {
        Ok(spec) => spec,
        Err(error) => return bounded(error.to_string()),
    };
    let limits = spec.validate().expect("an accepted spec validates");
    let written = serde_json::to_string(&spec).expect("a spec serializes");
    let read = RolloutSpec::from_json(&written).expect("a written spec reads back");
    assert_eq!(read, spec, "a spec round-trips");
    assert_eq!(read.validate(), Ok(limits));
    if spec.desired > RUN_DESIRED {
        return;
    }
    let fleet = (0..spec.desired).map(|i| Instance::serving(format!("v1-{i}"), "v1"));
    let mut rollout = Rollout::new(Timestamp::ZERO, spec, fleet).expect("an accepted spec runs");
    honest::run(&mut rollout, 8);
    rollout
        .deploy(rollout.now(), "v2")
        .expect("a settled rollout deploys");
    honest::run(&mut rollout, 200);
    let _ = rollout.status().to_string();
}

/// Reads `data` as a saved rollout ([`RolloutDocument::from_json`], then
/// [`Rollout::try_from`]). A
/// refusal must be short; an accepted document must write out as a document that reads
/// back and writes out the same, and the restored rollout must take honest answers
/// without an internal error.
pub fn rollout_document(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let document = match RolloutDocument::from_json(text) {
        Ok(document) => document,
        Err(error) => return bounded(error.to_string()),
    };
    let mut rollout = match Rollout::try_from(document) {
        Ok(rollout) => rollout,
        Err(error) => return bounded(error.to_string()),
    };
    let written = serde_json::to_string(&rollout).expect("a rollout serializes");
    let again: Rollout = serde_json::from_str(&written).expect("a written rollout restores");
    assert_eq!(
        serde_json::to_string(&again).expect("a rollout serializes"),
        written,
        "a restored rollout writes the document it was read from"
    );
    let _ = rollout.status().to_string();
    honest::run(&mut rollout, 100);
}

/// Reads `data` as a traffic table: the first line is the JSON, the rest drives requests.
/// A refusal must be short; an accepted table must round-trip, be reachable by a diff from
/// the empty table and left by one to it, and route every request to an instance it lists.
pub fn traffic_table(data: &[u8]) {
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let (json, rest) = data.split_at(split);
    let Ok(text) = std::str::from_utf8(json) else {
        return;
    };
    let table = match TrafficTable::from_json(text) {
        Ok(table) => table,
        Err(error) => return bounded(error.to_string()),
    };
    let written = serde_json::to_string(&table).expect("a table serializes");
    let read: TrafficTable = serde_json::from_str(&written).expect("a written table reads back");
    assert_eq!(read, table, "a table round-trips");
    if let Some(after) = table.generation().checked_add(1) {
        let mut from_empty = TrafficTable::empty();
        if table.generation() > 0 {
            from_empty
                .apply(&from_empty.diff(&table))
                .expect("a diff from the empty table applies");
            assert_eq!(from_empty, table, "a diff from the empty table rebuilds it");
        }
        let mut empty = TrafficTable::empty();
        empty.set_generation(after);
        let mut emptied = table.clone();
        emptied
            .apply(&table.diff(&empty))
            .expect("a diff to the empty table applies");
        assert_eq!(emptied, empty, "a diff to the empty table empties it");
    }
    let mut router = Router::new(&table);
    router.prepare_sticky();
    super::router::check(&table, &mut Bytes(&rest[rest.len().min(1)..]));
}
