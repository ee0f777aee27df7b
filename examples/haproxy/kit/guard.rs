//! Every process the kit starts is cleaned up, whatever way the run ends.
//!
//! * A normal end or a panic: [`Child`]'s `Drop` closes the process' stdin, kills it
//!   and reaps it (unwinding runs the drops).
//! * Ctrl-C: the terminal sends SIGINT to the whole foreground process group, which
//!   the children share with the run (none of them starts a session of its own).
//! * The run killed outright (SIGKILL): every child watches its stdin, a pipe only the
//!   run holds, and exits when it closes. HAProxy cannot do that itself, so it runs
//!   under a *sitter*: this same binary started as `__sitter haproxy …`, which starts
//!   HAProxy, waits for its own stdin to close, then kills HAProxy.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The first argument that makes the binary a sitter.
pub const SITTER: &str = "__sitter";

/// A child process that dies with its owner.
pub struct Child {
    name: String,
    process: std::process::Child,
    /// Held only here: closing it tells the child to go.
    stdin: Option<std::process::ChildStdin>,
}

impl Child {
    /// Starts `command` with a piped stdin (its lifeline); stdout as `command` says.
    pub fn spawn(name: impl Into<String>, mut command: Command) -> std::io::Result<Child> {
        let mut process = command.stdin(Stdio::piped()).spawn()?;
        let stdin = process.stdin.take();
        Ok(Child {
            name: name.into(),
            process,
            stdin,
        })
    }

    /// Starts `program args…` under a sitter (this binary), which kills it when this
    /// process goes, however it goes; its output goes to the file `log`.
    pub fn spawn_sat(
        name: impl Into<String>,
        program: &str,
        args: &[String],
        log: &std::path::Path,
    ) -> std::io::Result<Child> {
        let log = std::fs::File::create(log)?;
        let mut command = Command::new(std::env::current_exe()?);
        command
            .arg(SITTER)
            .arg(program)
            .args(args)
            .stdout(log.try_clone()?)
            .stderr(log);
        Child::spawn(name, command)
    }

    /// Its name, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The underlying process (to take its stdout, say).
    pub fn process_mut(&mut self) -> &mut std::process::Child {
        &mut self.process
    }

    /// Whether it still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.process.try_wait(), Ok(None))
    }

    /// Asks it to go (closes its stdin): a backend finishes what it is writing and
    /// exits.
    pub fn ask_to_exit(&mut self) {
        self.stdin = None;
    }

    /// Asks it to go, waits up to `grace` for it, kills it past that, and reaps it.
    pub fn stop(&mut self, grace: Duration) {
        self.ask_to_exit();
        let until = Instant::now() + grace;
        while self.is_running() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        if self.is_running() {
            let _ = self.process.kill();
        }
        let _ = self.process.wait();
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.stop(Duration::from_millis(500));
    }
}

/// The sitter's main: starts `args[0] args[1..]`, kills it when stdin closes (or on
/// a signal, with the process group), and exits with its code.
pub fn sit(args: &[String]) -> i32 {
    let Some((program, rest)) = args.split_first() else {
        eprintln!("sitter: nothing to run");
        return 2;
    };
    let mut child = match Command::new(program)
        .args(rest)
        .stdin(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(error) => {
            eprintln!("sitter: cannot start {program}: {error}");
            return 127;
        }
    };
    let pid = child.id();
    std::thread::spawn(move || {
        let mut sink = [0u8; 64];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        // std cannot send SIGTERM, and `kill` is the portable way to without libc.
        let _ = Command::new("kill").arg(pid.to_string()).status();
        std::thread::sleep(Duration::from_secs(2));
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        std::process::exit(0);
    });
    match child.wait() {
        Ok(status) => status.code().unwrap_or(1),
        Err(_) => 1,
    }
}
