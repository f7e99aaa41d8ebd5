//! The `fastpki` binary as a child process: a clean environment, start-up on a
//! loopback port, readiness (`GET /readyz`), and a kill when the test ends.
//!
//! The binary's path comes from the test (`env!("CARGO_BIN_EXE_fastpki")` exists
//! only in the root crate's integration tests).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// `program` run in `dir` with a clean environment (only PATH): no DATABASE_URL or
/// other setting leaks in from the caller's.
pub fn command(program: &str, dir: &Path) -> Command {
    let mut c = Command::new(program);
    c.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    c
}

/// One `GET /readyz` on 127.0.0.1:`port`, over a fresh connection: true on a 200.
pub fn readyz(port: u16) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.starts_with("HTTP/1.1 200")
}

/// A server child process on 127.0.0.1:`port`, its stdout and stderr in a log file;
/// killed (SIGKILL) when dropped, so that a failing assertion never leaves it behind.
pub struct ServerProcess {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl ServerProcess {
    /// Spawns `cmd` (a server that will listen on `port`), its output written to `log`.
    pub fn spawn(cmd: &mut Command, port: u16, log: PathBuf) -> ServerProcess {
        let out = std::fs::File::create(&log).expect("create the server log");
        let child = cmd
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        ServerProcess { child, port, log }
    }

    /// Polls `GET /readyz` every 50 ms until it answers 200; `Err` with the reason and
    /// the log when the process exits first or `timeout` passes.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("server exited ({status}):\n{}", self.log_text()));
            }
            if readyz(self.port) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "server did not become ready within {timeout:?}:\n{}",
            self.log_text()
        ))
    }

    /// `http://127.0.0.1:<port>`
    pub fn root(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:<port>/api/v1`
    pub fn api(&self) -> String {
        format!("{}/api/v1", self.root())
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL (no shutdown, no flush), then reaps it: its exit status.
    pub fn kill(&mut self) -> ExitStatus {
        let _ = self.child.kill();
        self.child.wait().expect("reap the server")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
