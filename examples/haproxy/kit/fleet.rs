//! [`Fleet`]: cutover's `Provisioner` and `HealthProbe` on real processes — each
//! instance one [backend](super::backend) server on a loopback port.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use cutover::adapter::{HealthProbe, Probe, Provisioner};
use cutover::{InstanceGroup, InstanceId, Revision};

use super::backend::{self, Behaviour};
use super::guard::Child;

/// What went wrong starting or probing an instance.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// The process could not be started.
    #[error("cannot start instance {instance}: {source}")]
    Spawn {
        /// The instance.
        instance: InstanceId,
        /// Why.
        source: std::io::Error,
    },
    /// The health check could not be made (no verdict).
    #[error("health check of {instance} on port {port}: {source}")]
    Probe {
        /// The instance.
        instance: InstanceId,
        /// Its port.
        port: u16,
        /// Why.
        source: std::io::Error,
    },
}

/// One instance's process.
struct Process {
    revision: Revision,
    child: Child,
    /// Its port, once it prints that it listens.
    port: Arc<OnceLock<u16>>,
    /// Asked to terminate.
    terminating: bool,
}

/// The instances, shared between the [`Fleet`] (which starts them) and the load
/// balancer (which needs their addresses).
#[derive(Clone, Default)]
pub struct Registry {
    processes: Arc<Mutex<BTreeMap<InstanceId, Process>>>,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<InstanceId, Process>> {
        self.processes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Where `instance` listens, once it does.
    pub fn port(&self, instance: &InstanceId) -> Option<u16> {
        self.lock()
            .get(instance)
            .and_then(|p| p.port.get().copied())
    }

    /// How many backend processes are running, per revision.
    pub fn running(&self) -> BTreeMap<Revision, usize> {
        let mut running = BTreeMap::new();
        for process in self.lock().values_mut() {
            if process.child.is_running() {
                *running.entry(process.revision.clone()).or_insert(0) += 1;
            }
        }
        running
    }

    /// Stops every process (and waits for each).
    pub fn stop_all(&self) {
        let processes = std::mem::take(&mut *self.lock());
        for (_, mut process) in processes {
            process.child.stop(Duration::from_millis(500));
        }
    }
}

/// Starts backend processes for instances, by revision.
pub struct Fleet {
    registry: Registry,
    /// How each revision's processes behave (default: well).
    behaviours: BTreeMap<Revision, Behaviour>,
    /// The default start time of a process.
    start: Duration,
}

impl Fleet {
    /// A fleet whose processes take `start` to listen.
    pub fn new(registry: Registry, start: Duration) -> Fleet {
        Fleet {
            registry,
            behaviours: BTreeMap::new(),
            start,
        }
    }

    /// Makes `revision`'s processes behave as `behaviour` (its `start` included).
    pub fn set_behaviour(&mut self, revision: impl Into<Revision>, behaviour: Behaviour) {
        self.behaviours.insert(revision.into(), behaviour);
    }

    fn spawn(&self, instance: &InstanceId, revision: &Revision) -> Result<Process, FleetError> {
        let behaviour = self.behaviours.get(revision).cloned().unwrap_or(Behaviour {
            start: self.start,
            ..Behaviour::default()
        });
        let spawn = |source| FleetError::Spawn {
            instance: instance.clone(),
            source,
        };
        let mut command = Command::new(std::env::current_exe().map_err(spawn)?);
        command
            .arg(backend::COMMAND)
            .args([
                "--revision",
                revision.as_str(),
                "--instance",
                instance.as_str(),
            ])
            .args(behaviour.args())
            .stdout(Stdio::piped());
        let mut child = Child::spawn(instance.as_str(), command).map_err(spawn)?;
        let port = Arc::new(OnceLock::new());
        if let Some(stdout) = child.process_mut().stdout.take() {
            let port = Arc::clone(&port);
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if let Some(p) = line.strip_prefix("listening ").and_then(|p| p.parse().ok()) {
                        let _ = port.set(p);
                    }
                }
            });
        }
        Ok(Process {
            revision: revision.clone(),
            child,
            port,
            terminating: false,
        })
    }
}

impl Provisioner for Fleet {
    type Error = FleetError;

    fn provision(
        &mut self,
        instance: &InstanceId,
        revision: &Revision,
        _: InstanceGroup,
    ) -> Result<(), FleetError> {
        if self.registry.lock().contains_key(instance) {
            return Ok(()); // idempotent by name
        }
        let process = self.spawn(instance, revision)?;
        self.registry.lock().insert(instance.clone(), process);
        Ok(())
    }

    fn redeploy(
        &mut self,
        instance: &InstanceId,
        _: &Revision,
        revision: &Revision,
    ) -> Result<(), FleetError> {
        if self
            .registry
            .lock()
            .get(instance)
            .is_some_and(|p| &p.revision == revision && !p.terminating)
        {
            return Ok(());
        }
        let process = self.spawn(instance, revision)?;
        // The old process (out of every table and drained) goes as the new one starts.
        let old = self.registry.lock().insert(instance.clone(), process);
        drop(old);
        Ok(())
    }

    fn terminate(&mut self, instance: &InstanceId) -> Result<(), FleetError> {
        if let Some(process) = self.registry.lock().get_mut(instance) {
            process.terminating = true;
            process.child.ask_to_exit();
        }
        Ok(())
    }
}

/// Probes through the registry, so that the prober and the provisioner can be
/// separate adapters.
impl HealthProbe for Registry {
    type Error = FleetError;

    fn probe(&mut self, instance: &InstanceId) -> Result<Probe, FleetError> {
        let port = {
            let mut processes = self.lock();
            let Some(process) = processes.get_mut(instance) else {
                return Ok(Probe::Gone);
            };
            if !process.child.is_running() {
                processes.remove(instance);
                return Ok(Probe::Gone);
            }
            match process.port.get() {
                Some(port) => *port,
                None => return Ok(Probe::Starting),
            }
        };
        let status = health(port).map_err(|source| FleetError::Probe {
            instance: instance.clone(),
            port,
            source,
        })?;
        Ok(if status == 200 {
            Probe::Healthy
        } else {
            Probe::Unhealthy
        })
    }
}

/// `GET /health` on a fresh connection: the status code.
fn health(port: u16) -> std::io::Result<u16> {
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_millis(500)))?;
    stream.write_all(b"GET /health HTTP/1.1\r\nhost: probe\r\nconnection: close\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {answer:?}")))
}
