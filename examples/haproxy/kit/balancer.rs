//! [`Haproxy`]: cutover's `LoadBalancer` on HAProxy 2.6's runtime API.
//!
//! # A table, applied
//!
//! Every [`apply`](LoadBalancer::apply) puts the whole table in force (the diff is not
//! needed: the adapter keeps what it put in force and changes only what differs), in
//! an order that never routes a request to something not ready:
//!
//! 1. every revision in the table gets a backend slot (kept while it stays in tables);
//! 2. every instance in rotation that HAProxy does not serve yet becomes a dynamic
//!    server of its revision's backend (`add server`, `set server … state ready`),
//!    under a name never used before; changed weights are set (`set server … weight`,
//!    1..=256 as in the table);
//! 3. every route map that changed, then the split map with the generation, each in
//!    one `prepare map` / `add map @v` / `commit map @v` transaction: the split and
//!    the generation become visible together, last;
//! 4. servers no longer in the table go to `maint` (they take no new request and
//!    finish those in flight); they are never deleted (`del server` under load can
//!    crash Debian's 2.6.12, which lacks the upstream fix) nor reused.
//!
//! "Applied" means the runtime API answered: 2.6 applies these changes inside the
//! command's handler. The applied generation is read back from the split map, so a
//! new adapter (a driver resuming) sees what is in force. A table older than the one
//! in force is ignored (fencing); one of the same generation is accepted again.
//! "Drained" means the instance's servers show `scur` and `qcur` 0 in `show stat`.
//!
//! # What HAProxy expresses exactly, and what it approximates
//!
//! * **Exact:** the split between revisions, to the basis point, for random and for
//!   keyed requests (a key lands on the revision cutover's `Router` gives it on the
//!   same table); instance weights; header-equals, header-prefix, cookie-equals and
//!   key-allow-list routes, in table order, before the split.
//! * **Approximated:** which *instance* of a revision a keyed request reaches is
//!   HAProxy's consistent hash of the key, not cutover's ring (the same key still
//!   stays on one instance while the instances do not change); an unkeyed request
//!   goes round-robin by weight rather than by a random draw. A header route looks
//!   at the header's last occurrence when it picks the target (all occurrences when
//!   it decides whether it matches, which is the same when there is one).
//! * **Not kept across restarts:** which server serves which instance lives in this
//!   adapter's memory. A driver resuming with a new adapter against the same HAProxy
//!   would try server names already taken, and `add server` refuses them (an error
//!   the driver reports and retries, never a silent double server).
//! * **Refused** (an error naming why; the driver asks again, the rollout reports the
//!   table unacknowledged): mirroring (HAProxy 2.6 has no request mirroring outside
//!   SPOE agents), a route on a header, cookie or key the configuration did not
//!   declare, more routes than declared, a route value or key with whitespace (map
//!   keys are single words), more revisions than slots.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use cutover::adapter::LoadBalancer;
use cutover::traffic::{MatchCondition, TableDiff};
use cutover::{Duration, InstanceId, Revision, TrafficTable};

use super::config::{Layout, Matcher};
use super::fleet::Registry;
use super::runtime::{Runtime, RuntimeError};

/// Why a table was not applied.
#[derive(Debug, thiserror::Error)]
pub enum BalancerError {
    /// The runtime API failed or refused.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The table mirrors requests.
    #[error(
        "mirroring to {revision} is not supported: HAProxy 2.6 cannot copy requests to a backend (use a canary step without set_mirror)"
    )]
    Mirror {
        /// The mirror's revision.
        revision: Revision,
    },
    /// A route the configuration cannot express.
    #[error("route {index} cannot be expressed: {reason}")]
    Route {
        /// The route's index in the table.
        index: usize,
        /// Why.
        reason: String,
    },
    /// More revisions than backends.
    #[error(
        "the table has more revisions than the {slots} backend slots the configuration declares"
    )]
    OutOfSlots {
        /// How many slots there are.
        slots: usize,
    },
    /// An instance in rotation whose address is unknown.
    #[error("instance {instance} is in the table but not listening")]
    NoAddress {
        /// The instance.
        instance: InstanceId,
    },
}

/// A server HAProxy serves for an instance.
#[derive(Clone, Debug)]
struct Server {
    slot: usize,
    name: String,
    port: u16,
    weight: u32,
}

/// A table put in force, and when.
#[derive(Clone, Debug)]
pub struct Applied {
    /// When the split map with its generation was committed.
    pub at: Instant,
    /// The table.
    pub table: TrafficTable,
}

/// Tables in force, in order: shared with whoever checks the traffic against them.
pub type History = Arc<Mutex<Vec<Applied>>>;

/// Every server (backend, name) ever made for a revision: shared with the metrics,
/// which read their counters (names are never reused, so each server's counters
/// belong to one revision).
pub type ServersOf = Arc<Mutex<BTreeMap<Revision, Vec<(String, String)>>>>;

/// cutover's `LoadBalancer` on one HAProxy.
pub struct Haproxy {
    runtime: Runtime,
    layout: Layout,
    registry: Registry,
    /// The revision each slot holds.
    slots: Vec<Option<Revision>>,
    /// The server in rotation for each instance.
    servers: BTreeMap<InstanceId, Server>,
    /// Servers taken out of rotation (in `maint`), per instance: drained once idle.
    retired: BTreeMap<InstanceId, Vec<(usize, String)>>,
    /// Each route map's entries as last committed.
    route_maps: BTreeMap<PathBuf, Vec<(String, String)>>,
    /// The table in force.
    in_force: Option<TrafficTable>,
    next_server: u64,
    history: History,
    servers_of: ServersOf,
}

impl Haproxy {
    /// An adapter for the HAProxy running `layout`, whose instances' addresses are in
    /// `registry`.
    pub fn new(runtime: Runtime, layout: Layout, registry: Registry) -> Haproxy {
        Haproxy {
            runtime,
            slots: vec![None; layout.slots],
            layout,
            registry,
            servers: BTreeMap::new(),
            retired: BTreeMap::new(),
            route_maps: BTreeMap::new(),
            in_force: None,
            next_server: 0,
            history: History::default(),
            servers_of: ServersOf::default(),
        }
    }

    /// The tables put in force so far.
    pub fn history(&self) -> History {
        Arc::clone(&self.history)
    }

    /// Every server made for each revision.
    pub fn servers_of(&self) -> ServersOf {
        Arc::clone(&self.servers_of)
    }

    /// The backend serving `revision` now, if any.
    pub fn backend_of(&self, revision: &Revision) -> Option<String> {
        self.slots
            .iter()
            .position(|r| r.as_ref() == Some(revision))
            .map(Layout::backend)
    }

    /// Puts `table` in force whatever its generation (the first table, before a
    /// rollout publishes any).
    pub fn install(&mut self, table: &TrafficTable) -> Result<(), BalancerError> {
        self.put_in_force(table)
    }

    fn put_in_force(&mut self, table: &TrafficTable) -> Result<(), BalancerError> {
        if let Some(mirror) = table.mirror() {
            return Err(BalancerError::Mirror {
                revision: mirror.revision.clone(),
            });
        }
        let slots = self.assign_slots(table)?;
        let route_maps = self.route_entries(table, &slots)?;
        let slot_of = |revision: &Revision| {
            slots
                .iter()
                .position(|r| r.as_ref() == Some(revision))
                .unwrap_or_default()
        };
        // 2. Servers: every instance in rotation served, at its weight.
        for backend in table.backends() {
            let slot = slot_of(backend.revision());
            for (instance, weight) in backend.instances() {
                let weight = u32::from(weight.get());
                let port =
                    self.registry
                        .port(instance)
                        .ok_or_else(|| BalancerError::NoAddress {
                            instance: instance.clone(),
                        })?;
                match self.servers.get_mut(instance) {
                    Some(server) if server.slot == slot && server.port == port => {
                        if server.weight != weight {
                            self.runtime.silent(&format!(
                                "set server {}/{} weight {weight}",
                                Layout::backend(slot),
                                server.name
                            ))?;
                            server.weight = weight;
                        }
                    }
                    _ => {
                        self.retire(instance)?;
                        self.next_server += 1;
                        let name = server_name(self.next_server, instance);
                        self.runtime.add_server(
                            &Layout::backend(slot),
                            &name,
                            &format!("127.0.0.1:{port}"),
                            weight,
                        )?;
                        self.servers_of
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .entry(backend.revision().clone())
                            .or_default()
                            .push((Layout::backend(slot), name.clone()));
                        let server = Server {
                            slot,
                            name,
                            port,
                            weight,
                        };
                        self.servers.insert(instance.clone(), server);
                    }
                }
            }
        }
        // 3. The maps: routes first, then the split with the generation.
        for (map, entries) in route_maps {
            if self.route_maps.get(&map) != Some(&entries) {
                self.runtime.replace_map(&map, &entries)?;
                self.route_maps.insert(map, entries);
            }
        }
        let mut split = Vec::new();
        let mut low = 0u32;
        for backend in table.backends() {
            let weight = u32::from(backend.weight().basis_points());
            if weight > 0 {
                let backend_name = Layout::backend(slot_of(backend.revision()));
                split.push((format!("{low}:{}", low + weight - 1), backend_name));
                low += weight;
            }
        }
        split.push(("10000".to_owned(), table.generation().to_string()));
        self.runtime.replace_map(&self.layout.split_map(), &split)?;
        self.slots = slots;
        self.in_force = Some(table.clone());
        self.history
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Applied {
                at: Instant::now(),
                table: table.clone(),
            });
        // 4. Servers out of the table: no new requests; those in flight finish.
        let gone: Vec<InstanceId> = self
            .servers
            .keys()
            .filter(|i| table.revision_of(i).is_none())
            .cloned()
            .collect();
        for instance in gone {
            self.retire(&instance)?;
        }
        Ok(())
    }

    /// The slot of every revision in `table`: those it keeps stay where they are, new
    /// ones take free slots.
    fn assign_slots(&self, table: &TrafficTable) -> Result<Vec<Option<Revision>>, BalancerError> {
        let mut slots: Vec<Option<Revision>> = self
            .slots
            .iter()
            .map(|r| r.clone().filter(|r| table.backend(r).is_some()))
            .collect();
        for backend in table.backends() {
            if !slots.contains(&Some(backend.revision().clone())) {
                let free =
                    slots
                        .iter()
                        .position(Option::is_none)
                        .ok_or(BalancerError::OutOfSlots {
                            slots: self.layout.slots,
                        })?;
                slots[free] = Some(backend.revision().clone());
            }
        }
        Ok(slots)
    }

    /// Takes `instance`'s server out of rotation: `maint`, kept under its name.
    fn retire(&mut self, instance: &InstanceId) -> Result<(), BalancerError> {
        if let Some(server) = self.servers.get(instance) {
            self.runtime.silent(&format!(
                "set server {}/{} state maint",
                Layout::backend(server.slot),
                server.name
            ))?;
            self.retired
                .entry(instance.clone())
                .or_default()
                .push((server.slot, server.name.clone()));
            self.servers.remove(instance);
        }
        Ok(())
    }

    /// Each route map's entries for `table` (every declared map, empty when unused).
    fn route_entries(
        &self,
        table: &TrafficTable,
        slots: &[Option<Revision>],
    ) -> Result<BTreeMap<PathBuf, Vec<(String, String)>>, BalancerError> {
        let layout = &self.layout;
        let mut maps = BTreeMap::new();
        for route in 0..layout.routes {
            for m in 0..layout.matchers.len() {
                maps.insert(layout.route_map(route, m), Vec::new());
            }
        }
        if table.routes().len() > layout.routes {
            return Err(BalancerError::Route {
                index: layout.routes,
                reason: format!("the configuration declares {} routes", layout.routes),
            });
        }
        for (index, route) in table.routes().iter().enumerate() {
            let error = |reason: String| BalancerError::Route { index, reason };
            let (wanted, values): (Matcher, Vec<&str>) = match &route.condition {
                MatchCondition::HeaderEquals { name, value } => {
                    (Matcher::HeaderEquals(name.clone()), vec![value])
                }
                MatchCondition::HeaderPrefix { name, prefix } => {
                    (Matcher::HeaderPrefix(name.clone()), vec![prefix])
                }
                MatchCondition::CookieEquals { name, value } => {
                    (Matcher::CookieEquals(name.clone()), vec![value])
                }
                MatchCondition::KeyIn { keys } => {
                    (Matcher::KeyIn, keys.iter().map(String::as_str).collect())
                }
                other => {
                    return Err(error(format!(
                        "{other:?} is not a condition this adapter knows"
                    )));
                }
            };
            let m = layout
                .matchers
                .iter()
                .position(|declared| same_matcher(declared, &wanted))
                .ok_or_else(|| error(format!("{wanted:?} is not declared in the configuration")))?;
            let slot = slots
                .iter()
                .position(|r| r.as_ref() == Some(&route.revision))
                .ok_or_else(|| error(format!("{} is not in the table", route.revision)))?;
            let mut entries = Vec::new();
            for value in values {
                if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(error(format!("{value:?}: a map key is one word")));
                }
                entries.push((value.to_owned(), Layout::backend(slot)));
            }
            maps.insert(layout.route_map(index, m), entries);
        }
        Ok(maps)
    }
}

fn same_matcher(declared: &Matcher, wanted: &Matcher) -> bool {
    match (declared, wanted) {
        (Matcher::HeaderEquals(a), Matcher::HeaderEquals(b))
        | (Matcher::HeaderPrefix(a), Matcher::HeaderPrefix(b)) => a.eq_ignore_ascii_case(b),
        (Matcher::CookieEquals(a), Matcher::CookieEquals(b)) => a == b,
        (Matcher::KeyIn, Matcher::KeyIn) => true,
        _ => false,
    }
}

/// A server name never used before: a sequence number and the instance's name in the
/// characters HAProxy accepts.
fn server_name(sequence: u64, instance: &InstanceId) -> String {
    let clean: String = instance
        .as_str()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("s{sequence}-{clean}")
}

impl LoadBalancer for Haproxy {
    type Error = BalancerError;

    fn apply(&mut self, table: &TrafficTable, _: &TableDiff) -> Result<(), BalancerError> {
        let applied = self.applied_generation()?;
        if table.generation() < applied {
            return Ok(()); // fenced: a later table is in force
        }
        if table.generation() == applied && self.in_force.as_ref() == Some(table) {
            return Ok(());
        }
        self.put_in_force(table)
    }

    fn applied_generation(&mut self) -> Result<u64, BalancerError> {
        let value = self.runtime.get_map(&self.layout.split_map(), "10000")?;
        Ok(value.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    fn drain(&mut self, instance: &InstanceId, _: Duration) -> Result<(), BalancerError> {
        // Out of every table in force already; a server still in rotation (a table
        // not yet applied here) goes to maint now.
        self.retire(instance)
    }

    fn is_drained(&mut self, instance: &InstanceId) -> Result<bool, BalancerError> {
        let Some(servers) = self.retired.get(instance) else {
            return Ok(!self.servers.contains_key(instance));
        };
        let stats = self.runtime.stats()?;
        Ok(servers.iter().all(|(slot, name)| {
            let backend = Layout::backend(*slot);
            stats
                .iter()
                .filter(|row| row.proxy == backend && &row.name == name)
                .all(|row| row.counter("scur") == 0 && row.counter("qcur") == 0)
        }))
    }
}
