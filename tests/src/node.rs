//! Running the Node.js examples (`examples/js`, `examples/ts`) from tests:
//! whether Node.js is there, installing an example's locked dependencies (or
//! those of `tests/browser`, the console's accessibility check, see
//! [`crate::axe`]), and running a child process to the end within a time
//! limit while the test's server keeps answering it.
//!
//! Where Node.js 20+ is missing a test may skip, saying why, unless
//! `KAM_REQUIRE_NODE=1` is set (CI sets it): then a missing Node.js fails it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The environment variable that turns a missing Node.js into a failure.
pub const REQUIRE_NODE_VAR: &str = "KAM_REQUIRE_NODE";

/// `npm ci` downloads a few small packages.
const NPM_CI_LIMIT: Duration = Duration::from_secs(300);
const VERSION_LIMIT: Duration = Duration::from_secs(30);
const OLDEST_NODE: u32 = 20;

/// The folder of the example `name` (`js`, `ts`) under `examples/`.
pub fn example_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
}

/// What a finished child process left.
pub struct Finished {
    /// How it ended.
    pub status: ExitStatus,
    /// All it wrote to stdout.
    pub stdout: String,
    /// All it wrote to stderr.
    pub stderr: String,
}

impl Finished {
    /// Itself if it exited with 0, else an error showing `what` failed and its output.
    pub fn ensure_success(self, what: &str) -> anyhow::Result<Self> {
        anyhow::ensure!(
            self.status.success(),
            "{what} failed ({}):\n{}\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        Ok(self)
    }
}

fn read_to_string(pipe: Option<impl Read>) -> String {
    let mut text = String::new();
    if let Some(mut pipe) = pipe {
        pipe.read_to_string(&mut text).ok();
    }
    text
}

/// Runs `command` to the end, killing it after `limit`. Blocking: call it
/// off the async runtime, which must keep serving the child's requests.
fn run_bounded(mut command: Command, limit: Duration) -> anyhow::Result<Finished> {
    let shown = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| anyhow::anyhow!("cannot start {shown}: {err}"))?;
    // Drained on threads of their own, so a chatty child never blocks on a full pipe.
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let stdout = std::thread::spawn(move || read_to_string(stdout));
    let stderr = std::thread::spawn(move || read_to_string(stderr));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            child.kill().ok();
            child.wait().ok();
            anyhow::bail!("{shown} did not finish within {limit:?}; killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Ok(Finished {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// Runs `command` to the end on the blocking pool, killing it after `limit`.
pub async fn run(command: Command, limit: Duration) -> anyhow::Result<Finished> {
    tokio::task::spawn_blocking(move || run_bounded(command, limit)).await?
}

/// The major version of Node.js, if `node` and `npm` both run.
async fn node_major() -> Option<u32> {
    let mut node = Command::new("node");
    node.arg("--version");
    let node = run(node, VERSION_LIMIT).await.ok()?;
    let mut npm = Command::new("npm");
    npm.arg("--version");
    let npm = run(npm, VERSION_LIMIT).await.ok()?;
    if !node.status.success() || !npm.status.success() {
        return None;
    }
    node.stdout
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()?
        .parse()
        .ok()
}

/// Whether Node.js 20+ and npm are there to run `example`. When they are
/// not, prints why and answers `false`, or, with `KAM_REQUIRE_NODE=1`,
/// fails.
pub async fn node_present(example: &str) -> anyhow::Result<bool> {
    let missing = match node_major().await {
        Some(major) if major >= OLDEST_NODE => return Ok(true),
        Some(major) => format!("{example} needs Node.js {OLDEST_NODE} or newer, found {major}"),
        None => format!("node and npm are not installed, so {example} cannot run"),
    };
    anyhow::ensure!(
        std::env::var_os(REQUIRE_NODE_VAR).is_none_or(|value| value != "1"),
        "{missing}, and {REQUIRE_NODE_VAR}=1 says it must (install Node.js {OLDEST_NODE}+ and npm)"
    );
    eprintln!("skipped: {missing} (set {REQUIRE_NODE_VAR}=1 to make this a failure)");
    Ok(false)
}

/// Held while `npm ci` runs: the tests of one binary run side by side, and
/// two installs into one `node_modules` break each other (`ENOTEMPTY`).
static INSTALLING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Installs the locked dependencies of the package in `dir` (an example, or
/// `tests/browser`) with `npm ci`, unless `node_modules` was installed from
/// the lockfile as it is now.
pub async fn install_dependencies(dir: &Path) -> anyhow::Result<()> {
    let _installing = INSTALLING.lock().await;
    let lockfile = dir.join("package-lock.json");
    let lock_changed = std::fs::metadata(&lockfile)
        .and_then(|meta| meta.modified())
        .map_err(|err| anyhow::anyhow!("the package is missing: {}: {err}", lockfile.display()))?;
    // npm writes this copy of the lockfile last of all it installs.
    let installed = std::fs::metadata(dir.join("node_modules/.package-lock.json"))
        .and_then(|meta| meta.modified());
    if installed.is_ok_and(|installed| installed >= lock_changed) {
        return Ok(());
    }
    let mut npm = Command::new("npm");
    npm.args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir);
    run(npm, NPM_CI_LIMIT)
        .await?
        .ensure_success(&format!("npm ci in {}", dir.display()))?;
    Ok(())
}
