//! A client of HAProxy's runtime API (the admin stats socket): one connection per
//! command, the answer read to the end, errors told from answers by what each
//! command answers when it succeeds.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What went wrong talking to HAProxy.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The socket could not be reached, written or read.
    #[error("HAProxy's admin socket {path}: {source}")]
    Socket {
        /// The socket.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// HAProxy refused a command.
    #[error("HAProxy refused `{command}`: {answer}")]
    Refused {
        /// The command (its first line).
        command: String,
        /// HAProxy's answer.
        answer: String,
    },
}

/// The runtime API of one HAProxy.
#[derive(Clone, Debug)]
pub struct Runtime {
    socket: PathBuf,
}

/// One row of `show stat`: a frontend, a backend or a server, by column name.
#[derive(Clone, Debug, Default)]
pub struct StatRow {
    /// `pxname`: the proxy.
    pub proxy: String,
    /// `svname`: `FRONTEND`, `BACKEND` or the server's name.
    pub name: String,
    fields: BTreeMap<String, String>,
}

impl StatRow {
    /// A counter (0 when empty or absent).
    pub fn counter(&self, column: &str) -> u64 {
        self.fields
            .get(column)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// A text column.
    pub fn text(&self, column: &str) -> &str {
        self.fields.get(column).map_or("", String::as_str)
    }
}

impl Runtime {
    /// The API behind the admin socket at `socket`.
    pub fn new(socket: impl Into<PathBuf>) -> Runtime {
        Runtime {
            socket: socket.into(),
        }
    }

    /// The socket's path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Sends `command` (with its payload, if any, after a newline) and returns the
    /// whole answer.
    pub fn raw(&self, command: &str) -> Result<String, RuntimeError> {
        let socket = |source| RuntimeError::Socket {
            path: self.socket.clone(),
            source,
        };
        let mut stream = UnixStream::connect(&self.socket).map_err(socket)?;
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(socket)?;
        stream.write_all(command.as_bytes()).map_err(socket)?;
        if !command.ends_with('\n') {
            stream.write_all(b"\n").map_err(socket)?;
        }
        let mut answer = String::new();
        stream.read_to_string(&mut answer).map_err(socket)?;
        Ok(answer)
    }

    /// Sends a command that answers nothing when it succeeds (`set server`,
    /// `add map`, `commit map`).
    pub fn silent(&self, command: &str) -> Result<(), RuntimeError> {
        let answer = self.raw(command)?;
        if answer.trim().is_empty() {
            Ok(())
        } else {
            Err(refused(command, answer))
        }
    }

    /// `add server <backend>/<name> <address> weight <w>`, then `set server … state
    /// ready` (a dynamic server is born in maintenance).
    pub fn add_server(
        &self,
        backend: &str,
        name: &str,
        address: &str,
        weight: u32,
    ) -> Result<(), RuntimeError> {
        let command = format!("add server {backend}/{name} {address} weight {weight}");
        let answer = self.raw(&command)?;
        if !answer.contains("New server registered") {
            return Err(refused(&command, answer));
        }
        self.silent(&format!("set server {backend}/{name} state ready"))
    }

    /// Replaces the whole content of `map` in one transaction: `prepare map`, `add map
    /// @v` with every entry, `commit map @v`. Requests see the old content or the new
    /// one, never a mix.
    pub fn replace_map(
        &self,
        map: &Path,
        entries: &[(String, String)],
    ) -> Result<(), RuntimeError> {
        let map = map.display();
        let command = format!("prepare map {map}");
        let answer = self.raw(&command)?;
        let version = answer
            .trim()
            .strip_prefix("New version created:")
            .and_then(|v| v.trim().parse::<u32>().ok())
            .ok_or_else(|| refused(&command, answer.clone()))?;
        if !entries.is_empty() {
            let mut payload = format!("add map @{version} {map} <<\n");
            for (key, value) in entries {
                payload.push_str(&format!("{key} {value}\n"));
            }
            payload.push('\n');
            self.silent(&payload)?;
        }
        self.silent(&format!("commit map @{version} {map}"))
    }

    /// The value of `key` in `map`, if it has one.
    pub fn get_map(&self, map: &Path, key: &str) -> Result<Option<String>, RuntimeError> {
        let command = format!("get map {} {key}", map.display());
        let answer = self.raw(&command)?;
        if answer.contains("found=no") {
            return Ok(None);
        }
        let value = answer
            .split("value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .ok_or_else(|| refused(&command, answer.clone()))?;
        Ok(Some(value.to_owned()))
    }

    /// Every row of `show stat`.
    pub fn stats(&self) -> Result<Vec<StatRow>, RuntimeError> {
        let answer = self.raw("show stat")?;
        let mut lines = answer.lines();
        let header = lines
            .next()
            .and_then(|h| h.strip_prefix("# "))
            .ok_or_else(|| refused("show stat", answer.clone()))?;
        let columns: Vec<&str> = header.split(',').collect();
        Ok(lines
            .filter(|line| !line.is_empty())
            .map(|line| {
                let fields: BTreeMap<String, String> = columns
                    .iter()
                    .zip(line.split(','))
                    .map(|(c, v)| ((*c).to_owned(), v.to_owned()))
                    .collect();
                StatRow {
                    proxy: fields.get("pxname").cloned().unwrap_or_default(),
                    name: fields.get("svname").cloned().unwrap_or_default(),
                    fields,
                }
            })
            .collect())
    }
}

fn refused(command: &str, answer: String) -> RuntimeError {
    RuntimeError::Refused {
        command: command.lines().next().unwrap_or_default().to_owned(),
        answer: answer.trim().to_owned(),
    }
}
