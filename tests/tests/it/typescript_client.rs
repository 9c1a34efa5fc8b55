//! The TypeScript example (`examples/ts`) against the real server: a client
//! generated from the committed `openapi/openapi.json` (openapi-typescript
//! types, openapi-fetch calls) must be up to date with it, compile under
//! strict settings (including `src/wrong-kind.ts`, the calls its types must
//! refuse), and run `src/tour.ts`: log in, refresh, page through accounts,
//! plan a visit and check in, open a ticket and read it back. Skipped, with
//! a message, where Node.js 20+ and npm are not installed, unless
//! `KAM_REQUIRE_NODE=1`.

use kam_server::records::tickets::TicketView;
use kam_server::records::visits::VisitView;
use kam_tests::TestApp;
use kam_tests::node::{self, example_dir, install_dependencies, node_present};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Generating the types and compiling take seconds; the limits are for a
/// loaded CI machine.
const TOOL_LIMIT: Duration = Duration::from_secs(180);
/// The tour makes about a dozen requests.
const TOUR_LIMIT: Duration = Duration::from_secs(60);

/// Fails unless `src/api.d.ts` is what openapi-typescript makes of the
/// committed document now.
async fn ensure_generated_types_are_current(dir: &Path) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let fresh = scratch.path().join("api.d.ts");
    let mut generate = Command::new("npx");
    generate
        .args([
            "--no-install",
            "openapi-typescript",
            "../../openapi/openapi.json",
        ])
        .arg("-o")
        .arg(&fresh)
        .current_dir(dir);
    node::run(generate, TOOL_LIMIT)
        .await?
        .ensure_success("openapi-typescript")?;
    let committed = std::fs::read_to_string(dir.join("src/api.d.ts"))?;
    anyhow::ensure!(
        std::fs::read_to_string(&fresh)? == committed,
        "examples/ts/src/api.d.ts is not what openapi/openapi.json generates: \
         run `npm run generate` in examples/ts and commit the result"
    );
    Ok(())
}

/// The id after `prefix` on the line of the tour's output that starts with it.
fn printed_id(stdout: &str, prefix: &str) -> anyhow::Result<String> {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(prefix))
        .and_then(|rest| rest.split([' ', ':']).next())
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("the tour never printed `{prefix}…`:\n{stdout}"))
}

#[tokio::test]
async fn the_generated_typescript_client_compiles_strictly_and_tours_the_api() -> anyhow::Result<()>
{
    if !node_present("the TypeScript example").await? {
        return Ok(());
    }
    let dir = example_dir("ts");
    install_dependencies(&dir).await?;
    ensure_generated_types_are_current(&dir).await?;

    // `noEmitOnError` in tsconfig.json: this is `tsc --noEmit`'s strict
    // check, and only code that passes it reaches dist/.
    let mut compile = Command::new("npx");
    compile.args(["--no-install", "tsc"]).current_dir(&dir);
    node::run(compile, TOOL_LIMIT)
        .await?
        .ensure_success("tsc (strict, noUncheckedIndexedAccess, exactOptionalPropertyTypes)")?;

    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let mut tour = Command::new("node");
    tour.arg("dist/tour.js")
        .args(["--url", &app.address])
        .args(["--username", &org.rep_a1.username])
        .args(["--device-id", "ts-tour"])
        .env("KAM_PASSWORD", &org.rep_a1.password)
        .env_remove("KAM_URL")
        .env_remove("KAM_USERNAME")
        .env_remove("KAM_DEVICE_ID")
        .current_dir(&dir);
    let done = node::run(tour, TOUR_LIMIT)
        .await?
        .ensure_success("the tour")?;
    print!("{}", done.stdout);
    assert!(
        done.stdout
            .contains("listed 3 accounts in 2 pages of at most 2"),
        "{}",
        done.stdout
    );
    assert!(done.stdout.ends_with("tour complete\n"), "{}", done.stdout);

    // What the tour did is there for the team's manager to see.
    let manager = app.login_as(&org.manager).await?;
    let visit_id = printed_id(&done.stdout, "checked in to visit ")?;
    let visit: VisitView = manager
        .get(&format!("/visits/{visit_id}"))
        .await?
        .ensure_status(200)?
        .json()?;
    assert!(visit.visit.check_in.is_some(), "the check-in was stored");
    assert_eq!(visit.visit.owner_id.0, org.rep_a1.id);
    let ticket_id = printed_id(&done.stdout, "read back ticket ")?;
    let ticket: TicketView = manager
        .get(&format!("/tickets/{ticket_id}"))
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(ticket.ticket.account_id, visit.visit.account_id);
    assert!(
        ticket.ticket.title.starts_with("Meter readings missing"),
        "{}",
        ticket.ticket.title
    );
    Ok(())
}
