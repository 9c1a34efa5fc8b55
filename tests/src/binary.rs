//! The real `kam-server` binary, for what only the command shows: its exit
//! codes and what it prints. The binary is built once per test binary
//! (cargo rebuilds it only when it is out of date, so it never runs stale
//! code) and run against a [`TestApp`]'s database, with no `kam.toml`.

use crate::TestApp;
use anyhow::{Context, bail};
use secrecy::ExposeSecret;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::OnceLock;

/// The path of the built binary, or why it could not be built.
fn built() -> anyhow::Result<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| build().map_err(|err| format!("{err:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

fn build() -> anyhow::Result<PathBuf> {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("the tests crate has no parent folder")?
        .to_owned();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "-p",
            "kam-server",
            "--bin",
            "kam-server",
        ])
        .current_dir(&workspace)
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("cargo build -p kam-server failed: {status}");
    }
    // This test binary is target/<profile>/deps/<name>; the command sits in
    // target/<profile>.
    let exe = std::env::current_exe().context("where is this test binary?")?;
    let binary = exe
        .parent()
        .and_then(|deps| deps.parent())
        .context("the test binary is not in target/<profile>/deps")?
        .join(format!("kam-server{}", std::env::consts::EXE_SUFFIX));
    anyhow::ensure!(binary.exists(), "{} was not built", binary.display());
    Ok(binary)
}

/// `kam-server` with `args`, on `app`'s database, from a folder of its own
/// (so no `kam.toml` is read), its standard output and error piped.
pub fn kam_server(app: &TestApp, args: &[&str]) -> anyhow::Result<Command> {
    let url = app
        .state()
        .settings
        .database
        .url
        .as_ref()
        .context("the test app has no database URL")?
        .expose_secret()
        .to_owned();
    let mut command = Command::new(built()?);
    command
        .args(args)
        .current_dir(std::env::temp_dir())
        .env("KAM__DATABASE__URL", url)
        .env_remove("KAM_CONFIG")
        .env_remove("KAM_LOG")
        .env_remove("KAM_LOG_FORMAT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Ok(command)
}

/// `kam-server serve` running as a child process on a free port, its
/// standard output piped (not a terminal). Dropping it kills the process.
pub struct ServerProcess {
    child: Child,
    stdout: BufReader<ChildStdout>,
    /// What it printed up to the line that named its port.
    printed: String,
    /// `http://127.0.0.1:<port>`.
    pub address: String,
}

impl ServerProcess {
    /// Starts the server on `app`'s database and waits until it listens.
    pub fn start(app: &TestApp) -> anyhow::Result<Self> {
        let mut command = kam_server(app, &["serve"])?;
        command
            .env("KAM__SERVER__BIND", "127.0.0.1:0")
            .stderr(Stdio::inherit());
        let mut child = command.spawn().context("cannot start kam-server")?;
        let stdout = child.stdout.take().context("no standard output")?;
        let mut process = Self {
            child,
            stdout: BufReader::new(stdout),
            printed: String::new(),
            address: String::new(),
        };
        let prefix = "KAM Sync listening on ";
        loop {
            let mut line = String::new();
            if process.stdout.read_line(&mut line)? == 0 {
                bail!("kam-server ended before it listened:\n{}", process.printed);
            }
            process.printed.push_str(&line);
            if let Some(address) = line.trim().strip_prefix(prefix) {
                process.address = address.to_owned();
                return Ok(process);
            }
        }
    }

    /// Stops the server and returns all it printed to standard output.
    pub fn stop(mut self) -> anyhow::Result<String> {
        self.child.kill()?;
        self.child.wait()?;
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut self.stdout, &mut rest)?;
        Ok(std::mem::take(&mut self.printed) + &rest)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // Already ended when stopped: then there is nothing to kill.
        drop(self.child.kill());
        drop(self.child.wait());
    }
}
