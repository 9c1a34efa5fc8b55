//! The JavaScript example client (`examples/js/field-client.mjs`) against the
//! real server: a third party's client, written from `docs/sync-protocol.md`
//! with nothing but `@automerge/automerge`, creates and edits records offline
//! (an account, key persons, a visit) and syncs them; `reset-check.mjs` takes
//! its replica through the protocol's three kinds of reset. Skipped, with a
//! message, where Node.js 20+ and npm are not installed.

use kam_server::records::accounts::AccountView;
use kam_server::records::contacts::ContactView;
use kam_server::records::visits::VisitView;
use kam_tests::TestApp;
use serde::Deserialize;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// `npm ci` downloads one small package; the client makes a handful of requests.
const NPM_CI_LIMIT: Duration = Duration::from_secs(300);
const CLIENT_LIMIT: Duration = Duration::from_secs(120);
const VERSION_LIMIT: Duration = Duration::from_secs(30);

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/js")
}

/// What a finished child process left.
struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

fn read_to_string(pipe: Option<impl Read>) -> String {
    let mut text = String::new();
    if let Some(mut pipe) = pipe {
        pipe.read_to_string(&mut text).ok();
    }
    text
}

/// Runs `command` to the end, killing it after `limit`. Blocking: call it
/// off the async runtime, which must keep serving the client's requests.
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

async fn run(command: Command, limit: Duration) -> anyhow::Result<Finished> {
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

/// Installs the example's locked dependencies unless they are there.
async fn install_dependencies(dir: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        dir.join("package-lock.json").is_file(),
        "the example is missing: no {}",
        dir.join("package-lock.json").display()
    );
    if dir
        .join("node_modules/@automerge/automerge/package.json")
        .is_file()
    {
        return Ok(());
    }
    let mut npm = Command::new("npm");
    npm.args(["ci", "--no-audit", "--no-fund"]).current_dir(dir);
    let done = run(npm, NPM_CI_LIMIT).await?;
    anyhow::ensure!(
        done.status.success(),
        "npm ci failed ({}):\n{}\n{}",
        done.status,
        done.stdout,
        done.stderr
    );
    Ok(())
}

/// What the client prints on stdout: the records as read back over REST.
#[derive(Deserialize)]
struct ClientReport {
    account: AccountView,
    visit: VisitView,
    key_person: ContactView,
}

/// Whether the example can run here (Node.js 20+ and npm, dependencies
/// installed); says why not when it cannot.
async fn example_ready() -> anyhow::Result<bool> {
    match node_major().await {
        Some(major) if major >= 20 => {}
        Some(major) => {
            eprintln!("skipped: the JavaScript example needs Node.js 20 or newer, found {major}");
            return Ok(false);
        }
        None => {
            eprintln!(
                "skipped: node and npm are not installed, so the JavaScript example cannot run"
            );
            return Ok(false);
        }
    }
    install_dependencies(&example_dir()).await?;
    Ok(true)
}

#[tokio::test]
async fn the_javascript_field_client_creates_and_edits_records_offline_and_syncs_them()
-> anyhow::Result<()> {
    if !example_ready().await? {
        return Ok(());
    }
    let dir = example_dir();

    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let mut client = Command::new("node");
    client
        .arg("field-client.mjs")
        .args(["--url", &app.address])
        .args(["--username", &org.rep_a1.username])
        .args(["--device-id", "js-example-phone"])
        .env("KAM_PASSWORD", &org.rep_a1.password)
        .env_remove("KAM_TRACE")
        .current_dir(&dir);
    let done = run(client, CLIENT_LIMIT).await?;
    assert!(
        done.status.success(),
        "the client failed ({}):\n{}\n{}",
        done.status,
        done.stderr,
        done.stdout
    );
    let report: ClientReport = serde_json::from_str(&done.stdout)
        .map_err(|err| anyhow::anyhow!("unexpected client output ({err}):\n{}", done.stdout))?;

    // Read back by other devices: the rep's laptop and the team's manager.
    let id = report.account.id.0;
    for user in [&org.rep_a1, &org.manager] {
        let session = app.login_as(user).await?;
        let account = session.account(id).await?;
        let fields = &account.account;
        assert!(
            fields.name.starts_with("Ningbo Port Logistics"),
            "{}",
            fields.name
        );
        assert_eq!(fields.stage.as_str(), "engaging");
        assert_eq!(
            fields.notes,
            "Met the head of procurement. They want a pilot in Q3."
        );
        assert_eq!(fields.tags, ["port", "logistics"]);
        assert_eq!(fields.scores.need, Some(70));
        assert_eq!(fields.scores.purchasing_power, Some(60));
        assert_eq!(fields.owner_id.0, org.rep_a1.id);
        assert_eq!(
            fields.team_id.map(|t| t.0),
            Some(org.team_a),
            "set by the server"
        );
        assert_eq!(fields.tier, None, "a rep cannot confirm a tier");
        assert_eq!(fields.proposed_tier.map(|t| t.as_str()), Some("key"));
        assert_eq!(account.created_by.map(|u| u.0), Some(org.rep_a1.id));

        let visit: VisitView = session
            .get(&format!("/visits/{}", report.visit.id))
            .await?
            .ensure_status(200)?
            .json()?;
        assert_eq!(visit.visit.account_id.0, id);
        assert_eq!(visit.visit.status.as_str(), "completed");
        assert_eq!(
            visit.visit.summary,
            "Walked the container yard. Agreed to a pilot on two cranes."
        );
        assert!(visit.visit.check_out.is_some());
        assert!(!visit.check_in_too_far);
        assert_eq!(visit.visit.key_person_ids.len(), 2);
        assert!(visit.visit.key_person_ids.contains(&report.key_person.id));

        let person: ContactView = session
            .get(&format!("/contacts/{}", report.key_person.id))
            .await?
            .ensure_status(200)?
            .json()?;
        let fields = &person.contact;
        assert_eq!(fields.account_id.0, id);
        assert_eq!(fields.name, "Chen Li");
        assert_eq!(fields.buying_role.map(|r| r.as_str()), Some("influencer"));
        assert_eq!(
            fields.attitude.map(|a| a.as_str()),
            Some("supporter"),
            "the offline edit reached the server"
        );
        assert_eq!(fields.influence, Some(4));
        assert_eq!(
            fields.notes,
            "Runs the tender. Wants references from other ports."
        );
        let manager = fields.reports_to.map(|c| c.0);
        assert!(
            visit
                .visit
                .key_person_ids
                .iter()
                .any(|k| Some(k.0) == manager),
            "reports to the other key person met on the visit"
        );
        assert_eq!(person.stamp.created_by.map(|u| u.0), Some(org.rep_a1.id));
    }
    Ok(())
}

/// `examples/js/reset-check.mjs`: the example client's replica through the
/// three resets of the protocol (a cursor-less sync in the session that
/// pushed, a team move, a first sync carrying offline work) keeps exactly
/// its scope, its own records included.
#[tokio::test]
async fn the_javascript_field_client_keeps_its_own_records_through_every_reset()
-> anyhow::Result<()> {
    if !example_ready().await? {
        return Ok(());
    }
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let mut check = Command::new("node");
    check
        .arg("reset-check.mjs")
        .args(["--url", &app.address])
        .args(["--username", &org.rep_a1.username])
        .args(["--admin", &org.admin.username])
        .args(["--other-team", &org.team_b.to_string()])
        .env("KAM_PASSWORD", &org.rep_a1.password)
        .env("KAM_ADMIN_PASSWORD", &org.admin.password)
        .env_remove("KAM_TRACE")
        .current_dir(example_dir());
    let done = run(check, CLIENT_LIMIT).await?;
    assert!(
        done.status.success(),
        "a reset lost the device's records ({}):\n{}\n{}",
        done.status,
        done.stderr,
        done.stdout
    );
    Ok(())
}
