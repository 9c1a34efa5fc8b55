//! The JavaScript example client (`examples/js/field-client.mjs`) against the
//! real server: a third party's client, written from `docs/sync-protocol.md`
//! with nothing but `@automerge/automerge`, creates and edits records offline
//! (an account, key persons, a visit) and syncs them; `reset-check.mjs` takes
//! its replica through the protocol's three kinds of reset. Skipped, with a
//! message, where Node.js 20+ and npm are not installed, unless
//! `KAM_REQUIRE_NODE=1`.

use kam_server::records::accounts::AccountView;
use kam_server::records::contacts::ContactView;
use kam_server::records::visits::VisitView;
use kam_tests::TestApp;
use kam_tests::node::{self, example_dir, install_dependencies, node_present};
use serde::Deserialize;
use std::process::Command;
use std::time::Duration;

/// The client makes a handful of requests.
const CLIENT_LIMIT: Duration = Duration::from_secs(120);

/// What the client prints on stdout: the records as read back over REST.
#[derive(Deserialize)]
struct ClientReport {
    account: AccountView,
    visit: VisitView,
    key_person: ContactView,
}

#[tokio::test]
async fn the_javascript_field_client_creates_and_edits_records_offline_and_syncs_them()
-> anyhow::Result<()> {
    if !node_present("the JavaScript example").await? {
        return Ok(());
    }
    let dir = example_dir("js");
    install_dependencies(&dir).await?;

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
    let done = node::run(client, CLIENT_LIMIT)
        .await?
        .ensure_success("the client")?;
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

#[tokio::test]
async fn the_javascript_field_client_keeps_its_own_records_through_every_reset()
-> anyhow::Result<()> {
    if !node_present("the JavaScript example").await? {
        return Ok(());
    }
    let dir = example_dir("js");
    install_dependencies(&dir).await?;
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
        .current_dir(&dir);
    let done = node::run(check, CLIENT_LIMIT).await?;
    assert!(
        done.status.success(),
        "a reset lost the device's records ({}):\n{}\n{}",
        done.status,
        done.stderr,
        done.stdout
    );
    Ok(())
}
