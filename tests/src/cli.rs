//! The real `kam-server` binary, for what only the command shows: its exit
//! codes, what it prints, its own subcommands. Cargo gives a package's own
//! binaries to its tests only, so this one is built here, once per test
//! binary, by the cargo running the tests (nothing is rebuilt when it is
//! fresh, and it never runs stale code), in the tests' profile.
//!
//! ```no_run
//! # fn example() -> anyhow::Result<()> {
//! let output = kam_tests::cli::kam_server()?.arg("--help").output()?;
//! assert!(output.status.success());
//! # Ok(())
//! # }
//! ```

use crate::{Api, Session, TestApp};
use anyhow::{Context, bail};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::thread::JoinHandle;

/// The binary's path, or why it could not be built (kept, so that every
/// later test fails at once with the same reason).
static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// A command running the `kam-server` binary, with none of this process's
/// `KAM*` variables (each test sets what it means) and the proxy variables
/// cleared.
pub fn kam_server() -> anyhow::Result<Command> {
    let binary = BINARY
        .get_or_init(|| build().map_err(|err| format!("{err:#}")))
        .as_ref()
        .map_err(|err| anyhow::anyhow!("cannot build kam-server: {err}"))?;
    let mut command = Command::new(binary);
    for (name, _) in std::env::vars_os() {
        if name
            .to_string_lossy()
            .to_ascii_uppercase()
            .starts_with("KAM")
        {
            command.env_remove(name);
        }
    }
    Ok(command)
}

/// What a finished command wrote, for assertion messages.
pub fn describe(output: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The variables besides `CARGO_PKG_*` and `CARGO_MANIFEST_*` that cargo
/// sets for a test it runs.
const TEST_RUN_VARIABLES: &[&str] = &[
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
    "OUT_DIR",
];

/// Builds the binary with `cargo build` and returns where cargo put it.
fn build() -> anyhow::Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("the tests crate sits in the workspace")?;
    let mut build = Command::new(cargo);
    build
        .current_dir(workspace)
        .args(["build", "--quiet", "--message-format=json"])
        .args(["--package", "kam-server", "--bin", "kam-server"]);
    if std::env::current_exe()?
        .components()
        .any(|part| part.as_os_str() == "release")
    {
        build.arg("--release");
    }
    // What cargo tells the running test about its own package is no
    // setting for this build: build scripts that watch such a variable
    // (ring's watches CARGO_MANIFEST_DIR) would run again and rebuild
    // everything above them.
    for (name, _) in std::env::vars_os() {
        let name_text = name.to_string_lossy();
        if name_text.starts_with("CARGO_PKG_")
            || name_text.starts_with("CARGO_MANIFEST_")
            || TEST_RUN_VARIABLES.contains(&name_text.as_ref())
        {
            build.env_remove(&name);
        }
    }
    let output = build.output().context("cannot run cargo")?;
    if !output.status.success() {
        bail!(
            "cargo build failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find_map(|message| {
            let is_kam_server = message["reason"] == "compiler-artifact"
                && message["target"]["name"] == "kam-server"
                && message["target"]["kind"]
                    .as_array()
                    .is_some_and(|kinds| kinds.iter().any(|kind| kind == "bin"));
            is_kam_server
                .then(|| message["executable"].as_str().map(PathBuf::from))
                .flatten()
        })
        .context("cargo did not say where it put kam-server")
}

/// `kam-server` with `args`, on `app`'s database, from a folder of its own
/// (so no `kam.toml` is read), its standard output and error piped.
pub fn kam_server_on(app: &TestApp, args: &[&str]) -> anyhow::Result<Command> {
    let mut command = kam_server()?;
    command
        .args(args)
        .current_dir(std::env::temp_dir())
        .env("KAM__DATABASE__URL", app.database_url())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Ok(command)
}

/// `kam-server serve` running as a child process on a free port, its
/// standard output piped (not a terminal) and read as it comes, so the
/// pipe never fills. Dropping it kills the process.
pub struct ServerProcess {
    child: Child,
    /// What it printed up to the line that named its port.
    printed: String,
    /// Reads the rest of what it prints, until it ends.
    rest: Option<JoinHandle<std::io::Result<String>>>,
    /// `http://127.0.0.1:<port>`.
    pub address: String,
}

impl ServerProcess {
    /// Starts the server on `app`'s database and waits until it listens.
    pub fn start(app: &TestApp) -> anyhow::Result<Self> {
        let mut command = kam_server_on(app, &["serve"])?;
        command
            .env("KAM__SERVER__BIND", "127.0.0.1:0")
            .stderr(Stdio::inherit());
        let mut child = command.spawn().context("cannot start kam-server")?;
        let mut stdout = BufReader::new(child.stdout.take().context("no standard output")?);
        let mut process = Self {
            child,
            printed: String::new(),
            rest: None,
            address: String::new(),
        };
        let prefix = "KAM Sync listening on ";
        loop {
            let mut line = String::new();
            if stdout.read_line(&mut line)? == 0 {
                bail!("kam-server ended before it listened:\n{}", process.printed);
            }
            process.printed.push_str(&line);
            if let Some(address) = line.trim().strip_prefix(prefix) {
                process.address = address.to_owned();
                process.rest = Some(std::thread::spawn(move || {
                    let mut rest = String::new();
                    stdout.read_to_string(&mut rest)?;
                    Ok(rest)
                }));
                return Ok(process);
            }
        }
    }

    /// The same login (tokens are signed with the key the database holds),
    /// talking to this process.
    pub fn session(&self, session: &Session) -> Session {
        Session {
            api: Api {
                address: self.address.clone(),
                ..session.api.clone()
            },
            ..session.clone()
        }
    }

    /// Stops the server and returns all it printed to standard output.
    pub fn stop(mut self) -> anyhow::Result<String> {
        self.child.kill()?;
        self.child.wait()?;
        let rest = match self.rest.take() {
            Some(reader) => reader
                .join()
                .map_err(|_| anyhow::anyhow!("the reader of kam-server's output panicked"))??,
            None => String::new(),
        };
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
