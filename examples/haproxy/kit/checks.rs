//! The checks a rollout asks for: [`Counters`], cutover's `Metrics` read from
//! HAProxy's own counters, and [`Smoke`], cutover's `Hooks` sending requests to the
//! target through the preview route.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::PoisonError;

use cutover::adapter::{HookOutcome, HookRun, Hooks, MeasureQuery, Metrics};
use cutover::analysis::Measurement;
use cutover::{ActionId, Revision};

use super::balancer::ServersOf;
use super::load::Connection;
use super::runtime::{Runtime, RuntimeError};

/// The metric [`Counters`] answers: the share of a revision's answers that were 5xx.
pub const ERROR_RATE: &str = "error-rate";

/// Measures [`ERROR_RATE`] from `show stat`: the `hrsp_5xx` and `hrsp_*` counters of
/// every server ever made for the revision, since the previous measurement of it (or
/// since its servers were made). The query's window is approximated by that span:
/// HAProxy keeps counters, not time series.
pub struct Counters {
    runtime: Runtime,
    servers_of: ServersOf,
    /// Per revision: (5xx, all) answers at the previous measurement.
    last: BTreeMap<Revision, (u64, u64)>,
}

/// Why a measurement failed.
#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    /// The runtime API failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// A metric this adapter does not know.
    #[error("unknown metric {0} (this adapter measures {ERROR_RATE})")]
    Unknown(String),
}

impl Counters {
    /// Metrics read through `runtime` for the servers in `servers_of`.
    pub fn new(runtime: Runtime, servers_of: ServersOf) -> Counters {
        Counters {
            runtime,
            servers_of,
            last: BTreeMap::new(),
        }
    }
}

impl Metrics for Counters {
    type Error = MeasureError;

    fn measure(&mut self, query: &MeasureQuery<'_>) -> Result<Measurement, MeasureError> {
        if query.metric != ERROR_RATE {
            return Err(MeasureError::Unknown(query.metric.to_owned()));
        }
        let servers = self
            .servers_of
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(query.revision)
            .cloned()
            .unwrap_or_default();
        let stats = self.runtime.stats()?;
        let (mut errors, mut all) = (0, 0);
        for row in &stats {
            if servers
                .iter()
                .any(|(b, s)| &row.proxy == b && &row.name == s)
            {
                errors += row.counter("hrsp_5xx");
                all += [
                    "hrsp_1xx",
                    "hrsp_2xx",
                    "hrsp_3xx",
                    "hrsp_4xx",
                    "hrsp_5xx",
                    "hrsp_other",
                ]
                .iter()
                .map(|c| row.counter(c))
                .sum::<u64>();
            }
        }
        let (errors_before, all_before) = self
            .last
            .insert(query.revision.clone(), (errors, all))
            .unwrap_or_default();
        let answers = all.saturating_sub(all_before);
        Ok(if answers == 0 {
            Measurement::NoData
        } else {
            Measurement::Value(errors.saturating_sub(errors_before) as f64 / answers as f64)
        })
    }
}

/// The hook [`Smoke`] runs.
pub const SMOKE: &str = "smoke";

/// Runs the [`SMOKE`] hook inside `run_hook`: `requests` requests through HAProxy
/// carrying the preview header, each of which must be a `200` from the revision
/// checked.
pub struct Smoke {
    address: SocketAddr,
    /// The header (and value) of the preview route.
    preview: (String, String),
    requests: usize,
    outcomes: BTreeMap<ActionId, HookOutcome>,
    /// Requests sent by the hooks, per revision that answered.
    pub served: BTreeMap<String, usize>,
}

impl Smoke {
    /// A smoke test of `requests` requests to `address` with the header `preview`.
    pub fn new(address: SocketAddr, preview: (String, String), requests: usize) -> Smoke {
        Smoke {
            address,
            preview,
            requests,
            outcomes: BTreeMap::new(),
            served: BTreeMap::new(),
        }
    }
}

/// A hook this adapter does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown hook {0} (this adapter runs {SMOKE})")]
pub struct UnknownHook(String);

impl Hooks for Smoke {
    type Error = UnknownHook;

    fn run_hook(&mut self, run: &HookRun<'_>) -> Result<(), UnknownHook> {
        if run.hook != SMOKE {
            return Err(UnknownHook(run.hook.to_owned()));
        }
        if self.outcomes.contains_key(&run.id) {
            return Ok(()); // idempotent by action
        }
        let mut connection = Connection::new(self.address);
        let header = [(self.preview.0.as_str(), self.preview.1.as_str())];
        let mut outcome = HookOutcome::passed(format!(
            "{} requests through the preview route answered 200 by {}",
            self.requests, run.revision
        ));
        for i in 0..self.requests {
            let answer = connection.get("/", &header);
            if let Ok(answer) = &answer {
                let revision = answer.revision.clone().unwrap_or_default();
                *self.served.entry(revision).or_insert(0) += 1;
            }
            let fault = match &answer {
                Err(error) => Some(error.clone()),
                Ok(a) if a.status != 200 => Some(format!("status {}", a.status)),
                Ok(a) if a.revision.as_deref() != Some(run.revision.as_str()) => {
                    Some(format!("answered by {:?}", a.revision))
                }
                Ok(_) => None,
            };
            if let Some(fault) = fault {
                outcome = HookOutcome::failed(format!("request {i} of {}: {fault}", self.requests));
                break;
            }
        }
        self.outcomes.insert(run.id, outcome);
        Ok(())
    }

    fn hook_result(&mut self, id: ActionId) -> Result<Option<HookOutcome>, UnknownHook> {
        Ok(self.outcomes.get(&id).cloned())
    }
}
