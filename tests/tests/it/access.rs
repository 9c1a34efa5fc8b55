//! The role matrix, route by route: what reps, managers, directors, service
//! staff and admins see and may change (see `kam_server::access`).

use kam_server::auth::Role;
use kam_server::records::accounts::AccountView;
use kam_tests::{Session, TestApp, new_account, sorted};
use serde_json::json;
use uuid::Uuid;

fn ids(accounts: &[AccountView]) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = accounts.iter().map(|a| a.id.0).collect();
    ids.sort();
    ids
}

/// Asserts that `session` cannot see the account at all: 404 on every route.
async fn assert_invisible(session: &Session, id: Uuid) -> anyhow::Result<()> {
    let path = format!("/accounts/{id}");
    session.get(&path).await?.assert_problem(404, "not_found");
    session
        .patch(&path, &json!({ "industry": "snooping" }))
        .await?
        .assert_problem(404, "not_found");
    session
        .delete(&path)
        .await?
        .assert_problem(404, "not_found");
    assert!(!ids(&session.list_accounts("include_deleted=true").await?).contains(&id));
    Ok(())
}

/// Asserts that the account reads exactly as `before`.
async fn assert_unchanged(owner: &Session, before: &AccountView) -> anyhow::Result<()> {
    let now = owner.account(before.id).await?;
    assert_eq!(now.account, before.account);
    assert_eq!(now.version, before.version);
    Ok(())
}

#[tokio::test]
async fn rep_cannot_read_another_reps_account() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let owner = app.login_as(&org.rep_a1).await?;
    let teammate = app.login_as(&org.rep_a2).await?;
    let account = owner.create_account(new_account("Private")).await?;
    teammate
        .get(&format!("/accounts/{}", account.id))
        .await?
        .assert_problem(404, "not_found");
    Ok(())
}

#[tokio::test]
async fn rep_cannot_change_or_delete_another_reps_account() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let owner = app.login_as(&org.rep_a1).await?;
    let account = owner.create_account(new_account("Private")).await?;
    for other in [&org.rep_a2, &org.rep_b1] {
        let other = app.login_as(other).await?;
        assert_invisible(&other, account.id.0).await?;
    }
    assert_unchanged(&owner, &account).await
}

#[tokio::test]
async fn rep_lists_only_their_own_and_shared_accounts() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let a1 = app.login_as(&org.rep_a1).await?;
    let a2 = app.login_as(&org.rep_a2).await?;
    let b1 = app.login_as(&org.rep_b1).await?;
    let own = a1.create_account(new_account("Own")).await?;
    let shared = a2.create_account(new_account("Shared")).await?;
    let not_shared = a2.create_account(new_account("Not shared")).await?;
    let other_team = b1.create_account(new_account("Other team")).await?;

    a2.patch(
        &format!("/accounts/{}", shared.id),
        &json!({ "shared_with": [org.rep_a1.id] }),
    )
    .await?
    .assert_status(200);

    assert_eq!(
        ids(&a1.list_accounts("").await?),
        sorted(vec![own.id.0, shared.id.0])
    );
    assert_eq!(a1.account(shared.id).await?.account.name, "Shared");
    assert_invisible(&a1, not_shared.id.0).await?;
    assert_invisible(&a1, other_team.id.0).await?;
    Ok(())
}

#[tokio::test]
async fn a_rep_an_account_is_shared_with_may_edit_it_but_not_reshare_it() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let owner = app.login_as(&org.rep_a2).await?;
    let helper = app.login_as(&org.rep_a1).await?;
    let account = owner
        .create_account(
            json!({ "name": "Shared", "segment": "enterprise", "shared_with": [org.rep_a1.id] }),
        )
        .await?;
    let path = format!("/accounts/{}", account.id);

    helper
        .patch(&path, &json!({ "notes": "called the buyer" }))
        .await?
        .assert_status(200);
    let before = owner.account(account.id).await?;
    assert_eq!(before.account.notes, "called the buyer");

    helper
        .patch(
            &path,
            &json!({ "shared_with": [org.rep_a1.id, org.rep_b1.id] }),
        )
        .await?
        .assert_problem(403, "share_change_forbidden");
    assert_unchanged(&owner, &before).await
}

#[tokio::test]
async fn unsharing_an_account_takes_it_out_of_the_reps_sight() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let owner = app.login_as(&org.rep_a2).await?;
    let helper = app.login_as(&org.rep_a1).await?;
    let account = owner
        .create_account(
            json!({ "name": "Shared", "segment": "enterprise", "shared_with": [org.rep_a1.id] }),
        )
        .await?;
    helper.account(account.id).await?;
    owner
        .patch(
            &format!("/accounts/{}", account.id),
            &json!({ "shared_with": [] }),
        )
        .await?
        .assert_status(200);
    assert_invisible(&helper, account.id.0).await
}

#[tokio::test]
async fn manager_sees_their_teams_accounts_and_not_the_other_teams() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let a1 = app.login_as(&org.rep_a1).await?;
    let a2 = app.login_as(&org.rep_a2).await?;
    let b1 = app.login_as(&org.rep_b1).await?;
    let manager = app.login_as(&org.manager).await?;
    let x = a1.create_account(new_account("A1's")).await?;
    let y = a2.create_account(new_account("A2's")).await?;
    let z = b1.create_account(new_account("B1's")).await?;

    assert_eq!(
        ids(&manager.list_accounts("").await?),
        sorted(vec![x.id.0, y.id.0])
    );
    manager.account(x.id).await?;
    manager
        .patch(
            &format!("/accounts/{}", y.id),
            &json!({ "stage": "engaging" }),
        )
        .await?
        .assert_status(200);
    assert_invisible(&manager, z.id.0).await?;
    assert_unchanged(&b1, &z).await
}

#[tokio::test]
async fn director_with_a_branch_sees_the_branch_and_nothing_else() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let west = app.create_branch("West").await?;
    let west_team = app.create_team("West team", west, &[]).await?;
    let west_rep = app
        .create_user("rep_w1", Role::Rep, Some(west_team), None)
        .await?;
    let a1 = app.login_as(&org.rep_a1).await?;
    let b1 = app.login_as(&org.rep_b1).await?;
    let w1 = app.login_as(&west_rep).await?;
    let director = app.login_as(&org.director).await?;
    let x = a1.create_account(new_account("Team A's")).await?;
    let y = b1.create_account(new_account("Team B's")).await?;
    let z = w1.create_account(new_account("West's")).await?;

    assert_eq!(
        ids(&director.list_accounts("").await?),
        sorted(vec![x.id.0, y.id.0])
    );
    director
        .patch(&format!("/accounts/{}", y.id), &json!({ "tier": "key" }))
        .await?
        .assert_status(200);
    assert_invisible(&director, z.id.0).await?;
    assert_unchanged(&w1, &z).await
}

#[tokio::test]
async fn admin_sees_every_account() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let mut created = Vec::new();
    for user in [&org.rep_a1, &org.rep_a2, &org.rep_b1, &org.manager] {
        let session = app.login_as(user).await?;
        created.push(
            session
                .create_account(new_account(&user.username))
                .await?
                .id
                .0,
        );
    }
    let admin = app.login_as(&org.admin).await?;
    assert_eq!(ids(&admin.list_accounts("").await?), sorted(created));
    Ok(())
}

#[tokio::test]
async fn service_reads_accounts_but_gets_403_read_only_role_on_writes() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let service = app.login_as(&org.service).await?;
    let account = rep.create_account(new_account("Served")).await?;
    let path = format!("/accounts/{}", account.id);

    assert_eq!(service.account(account.id).await?.account.name, "Served");
    assert_eq!(ids(&service.list_accounts("").await?), [account.id.0]);

    service
        .post("/accounts", &new_account("By service"))
        .await?
        .assert_problem(403, "read_only_role");
    service
        .patch(&path, &json!({ "notes": "complaint logged" }))
        .await?
        .assert_problem(403, "read_only_role");
    service
        .delete(&path)
        .await?
        .assert_problem(403, "read_only_role");

    assert_unchanged(&rep, &account).await?;
    assert_eq!(
        ids(&rep.list_accounts("include_deleted=true").await?),
        [account.id.0]
    );
    Ok(())
}

#[tokio::test]
async fn rep_cannot_change_an_accounts_owner() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Mine")).await?;
    rep.patch(
        &format!("/accounts/{}", account.id),
        &json!({ "owner_id": org.rep_a2.id }),
    )
    .await?
    .assert_problem(403, "owner_change_forbidden");
    assert_unchanged(&rep, &account).await?;

    rep.post(
        "/accounts",
        &json!({ "name": "For a colleague", "segment": "other", "owner_id": org.rep_a2.id }),
    )
    .await?
    .assert_problem(403, "owner_change_forbidden");
    assert_eq!(ids(&rep.list_accounts("").await?), [account.id.0]);
    let colleague = app.login_as(&org.rep_a2).await?;
    assert!(colleague.list_accounts("").await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn rep_cannot_set_a_tier_but_may_propose_one() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Ambitious")).await?;
    let path = format!("/accounts/{}", account.id);

    rep.patch(&path, &json!({ "tier": "strategic" }))
        .await?
        .assert_problem(403, "tier_confirmation_forbidden");
    assert_unchanged(&rep, &account).await?;
    rep.post(
        "/accounts",
        &json!({ "name": "Tiered", "segment": "other", "tier": "key" }),
    )
    .await?
    .assert_problem(403, "tier_confirmation_forbidden");

    let proposed: AccountView = rep
        .patch(&path, &json!({ "proposed_tier": "strategic" }))
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(
        proposed.account.proposed_tier.map(|t| t.as_str()),
        Some("strategic")
    );
    assert_eq!(proposed.account.tier, None);
    Ok(())
}

#[tokio::test]
async fn manager_confirms_a_tier_which_clears_the_proposal() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let manager = app.login_as(&org.manager).await?;
    let account = rep
        .create_account(
            json!({ "name": "Rising", "segment": "enterprise", "proposed_tier": "key" }),
        )
        .await?;
    let path = format!("/accounts/{}", account.id);

    manager
        .patch(&path, &json!({ "tier": "key" }))
        .await?
        .assert_status(200);
    let read = rep.account(account.id).await?;
    assert_eq!(read.account.tier.map(|t| t.as_str()), Some("key"));
    assert_eq!(read.account.proposed_tier, None);
    assert_eq!(
        ids(&manager.list_accounts("tier=key").await?),
        [account.id.0]
    );
    // A rep may still resend the tier as it stands.
    rep.patch(&path, &json!({ "tier": "key", "phone": "010-1" }))
        .await?
        .assert_status(200);
    Ok(())
}

#[tokio::test]
async fn manager_reassigns_within_their_team_and_the_old_owner_loses_sight() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let a1 = app.login_as(&org.rep_a1).await?;
    let a2 = app.login_as(&org.rep_a2).await?;
    let manager = app.login_as(&org.manager).await?;
    let account = a1.create_account(new_account("Handed over")).await?;

    let reassigned: AccountView = manager
        .patch(
            &format!("/accounts/{}", account.id),
            &json!({ "owner_id": org.rep_a2.id }),
        )
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(reassigned.account.owner_id.0, org.rep_a2.id);
    assert_eq!(reassigned.account.team_id.map(|t| t.0), Some(org.team_a));

    assert_invisible(&a1, account.id.0).await?;
    assert_eq!(a2.account(account.id).await?.account.name, "Handed over");
    assert_eq!(ids(&a2.list_accounts("").await?), [account.id.0]);
    Ok(())
}

#[tokio::test]
async fn manager_cannot_assign_an_account_outside_their_teams() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let a1 = app.login_as(&org.rep_a1).await?;
    let manager = app.login_as(&org.manager).await?;
    let account = a1.create_account(new_account("Staying")).await?;
    manager
        .patch(
            &format!("/accounts/{}", account.id),
            &json!({ "owner_id": org.rep_b1.id }),
        )
        .await?
        .assert_problem(403, "owner_change_forbidden");
    assert_unchanged(&a1, &account).await
}

#[tokio::test]
async fn reassigning_to_another_team_moves_the_account_to_that_team() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let a1 = app.login_as(&org.rep_a1).await?;
    let b1 = app.login_as(&org.rep_b1).await?;
    let director = app.login_as(&org.director).await?;
    let manager = app.login_as(&org.manager).await?;
    let account = a1.create_account(new_account("Moving")).await?;

    let moved: AccountView = director
        .patch(
            &format!("/accounts/{}", account.id),
            &json!({ "owner_id": org.rep_b1.id }),
        )
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(moved.account.team_id.map(|t| t.0), Some(org.team_b));
    assert_eq!(b1.account(account.id).await?.account.name, "Moving");
    assert_invisible(&a1, account.id.0).await?;
    assert_invisible(&manager, account.id.0).await
}

#[tokio::test]
async fn a_manager_an_account_is_only_shared_with_edits_it_but_cannot_take_it_over()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let west = app.seed_west().await?;
    let owner = app.login_as(&west.rep).await?;
    let account = owner.create_account(new_account("West Water")).await?;
    let path = format!("/accounts/{}", account.id);
    let admin = app.login_as(&org.admin).await?;
    admin
        .patch(&path, &json!({ "shared_with": [org.manager.id] }))
        .await?
        .assert_status(200);
    let before = owner.account(account.id).await?;

    let manager = app.login_as(&org.manager).await?;
    for new_owner in [org.rep_a1.id, org.manager.id] {
        manager
            .patch(&path, &json!({ "owner_id": new_owner }))
            .await?
            .assert_problem(403, "owner_change_forbidden");
    }
    for shares in [json!([org.manager.id, org.rep_a1.id]), json!([])] {
        manager
            .patch(&path, &json!({ "shared_with": shares }))
            .await?
            .assert_problem(403, "share_change_forbidden");
    }
    manager
        .patch(&path, &json!({ "team_id": org.team_a }))
        .await?
        .assert_violation("team_id", "read_only_field");
    manager
        .patch(&path, &json!({ "tier": "key" }))
        .await?
        .assert_problem(403, "tier_confirmation_forbidden");
    assert_unchanged(&owner, &before).await?;
    assert_eq!(before.account.team_id.map(|t| t.0), Some(west.team));

    // Nor may she give the account's records to someone else.
    manager
        .post(
            "/opportunities",
            &json!({ "account_id": account.id, "name": "Pumps", "owner_id": west.rep.id }),
        )
        .await?
        .assert_problem(403, "owner_change_forbidden");

    // She works on it like anyone it is shared with.
    manager
        .patch(&path, &json!({ "notes": "met the CFO" }))
        .await?
        .assert_status(200);
    manager
        .post(
            "/opportunities",
            &json!({ "account_id": account.id, "name": "Valves" }),
        )
        .await?
        .assert_status(201);
    Ok(())
}

#[tokio::test]
async fn a_manager_an_account_is_only_shared_with_neither_decides_its_resources_nor_reopens_its_deals()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let west = app.seed_west().await?;
    let owner = app.login_as(&west.rep).await?;
    let account = owner.create_account(new_account("West Water")).await?;
    let admin = app.login_as(&org.admin).await?;
    admin
        .patch(
            &format!("/accounts/{}", account.id),
            &json!({ "shared_with": [org.manager.id] }),
        )
        .await?
        .assert_status(200);
    let plan = owner
        .post(
            "/account-plans",
            &json!({
                "account_id": account.id,
                "period_kind": "quarter",
                "period_start": "2026-10-01",
                "title": "Win the tender",
                "resources": [{"kind": "budget", "description": "Pilot", "amount": 1000}],
            }),
        )
        .await?
        .ensure_status(201)?;
    let plan_path = format!(
        "/account-plans/{}",
        plan.body["id"].as_str().unwrap_or_default()
    );
    let mut approved = plan.body["resources"].clone();
    approved[0]["status"] = json!("approved");
    let deal = owner
        .post(
            "/opportunities",
            &json!({ "account_id": account.id, "name": "Pumps", "stage": "negotiation" }),
        )
        .await?
        .ensure_status(201)?;
    let deal_path = format!(
        "/opportunities/{}",
        deal.body["id"].as_str().unwrap_or_default()
    );

    let shared = app.login_as(&org.manager).await?;
    shared
        .patch(&plan_path, &json!({ "resources": approved }))
        .await?
        .assert_problem(403, "approval_forbidden");
    shared
        .patch(&deal_path, &json!({ "stage": "planning" }))
        .await?
        .assert_problem(403, "stage_reopen_forbidden");

    let leader = app.login_as(&west.manager).await?;
    let decided = leader
        .patch(&plan_path, &json!({ "resources": approved }))
        .await?
        .ensure_status(200)?;
    assert_eq!(decided.body["resources"][0]["status"], "approved");
    let reopened = leader
        .patch(&deal_path, &json!({ "stage": "planning" }))
        .await?
        .ensure_status(200)?;
    assert_eq!(reopened.body["stage"], "planning");
    Ok(())
}

#[tokio::test]
async fn the_accounts_managers_reassign_and_reshare_it_and_its_rep_owner_reshares_it()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let west = app.seed_west().await?;
    let owner = app.login_as(&west.rep).await?;
    let account = owner.create_account(new_account("West Gas")).await?;
    let path = format!("/accounts/{}", account.id);

    owner
        .patch(&path, &json!({ "shared_with": [west.other_rep.id] }))
        .await?
        .assert_status(200);
    let team_manager = app.login_as(&west.manager).await?;
    team_manager
        .patch(&path, &json!({ "shared_with": [] }))
        .await?
        .assert_status(200);
    let moved: AccountView = team_manager
        .patch(&path, &json!({ "owner_id": west.other_rep.id }))
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(moved.account.owner_id.0, west.other_rep.id);
    let director = app.login_as(&west.director).await?;
    director
        .patch(
            &path,
            &json!({ "owner_id": west.rep.id, "shared_with": [west.other_rep.id] }),
        )
        .await?
        .assert_status(200);
    let admin = app.login_as(&org.admin).await?;
    let last: AccountView = admin
        .patch(
            &path,
            &json!({ "owner_id": west.other_rep.id, "shared_with": [] }),
        )
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(last.account.owner_id.0, west.other_rep.id);
    assert_eq!(last.account.team_id.map(|t| t.0), Some(west.team));
    assert!(last.account.shared_with.is_empty());
    Ok(())
}
