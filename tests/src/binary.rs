//! The real `kam-server` binary, for what only the command shows: its exit
//! codes and what it prints. The binary is built once per test binary
//! (cargo rebuilds it only when it is out of date, so it never runs stale
//! code) and run against a [`TestApp`]'s database, with no `kam.toml`.

use crate::{Api, Session, TestApp};
use anyhow::{Context, bail};
use secrecy::ExposeSecret;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread::JoinHandle;

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
        let mut command = kam_server(app, &["serve"])?;
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
