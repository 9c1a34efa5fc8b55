//! The admin API: branches, teams, users and their device sessions; who may
//! read and change the org; and how a change to a user reaches their tokens
//! and their scope at once.

use kam_server::auth::Role;
use kam_server::org::{Branch, DeviceSession, Team, User};
use kam_server::records::accounts::AccountView;
use kam_server::records::page::Page;
use kam_tests::{Method, Org, OrgUser, Reply, Session, TestApp, new_account};
use serde_json::{Value, json};
use uuid::Uuid;

/// Panics if the reply carries a password or its hash: no field named
/// after one, no Argon2 hash, and none of the passwords these tests use.
#[track_caller]
fn assert_no_password(reply: &Reply) {
    fn keys(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    out.push(key.clone());
                    keys(value, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| keys(v, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    keys(&reply.body, &mut found);
    assert!(
        !found.iter().any(|k| k.contains("password")),
        "a password field leaked: {}",
        reply.body
    );
    let text = reply.body.to_string();
    for secret in [
        "$argon2",
        "-long-password",
        "-secret-pw",
        "a-brand-new-secret",
    ] {
        assert!(
            !text.contains(secret),
            "a password or its hash leaked: {text}"
        );
    }
}

/// Asserts that a session's token no longer opens the API.
async fn assert_cut_off(session: &Session) -> anyhow::Result<()> {
    let reply = session.get("/auth/me").await?;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert!(
        matches!(reply.code(), Some("session_revoked" | "user_inactive")),
        "{}",
        reply.body
    );
    let reply = session.get("/accounts").await?;
    assert_eq!(reply.status, 401, "{}", reply.body);
    Ok(())
}

/// `PUT path` with a JSON body.
async fn put(session: &Session, path: &str, body: &Value) -> anyhow::Result<Reply> {
    session
        .send(session.request(Method::PUT, path).json(body))
        .await
}

/// A new user's body with a password long enough.
fn new_user(username: &str, role: &str) -> Value {
    json!({
        "username": username,
        "display_name": format!("New {username}"),
        "password": format!("{username}-long-password"),
        "role": role,
    })
}

/// The users `session` lists with `query`, in one page, sorted by username.
async fn list_users(session: &Session, query: &str) -> anyhow::Result<Vec<User>> {
    let reply = session
        .get(&format!("/users?limit=100&{query}"))
        .await?
        .ensure_status(200)?;
    assert_no_password(&reply);
    let page: Page<User> = reply.json()?;
    anyhow::ensure!(page.next_cursor.is_none(), "more than one page of users");
    let mut users = page.items;
    users.sort_by(|a, b| a.username.cmp(&b.username));
    Ok(users)
}

/// Every user `session` lists with `query`, two to a page, in the order
/// listed; an error if the pages do not end.
async fn page_through_users(session: &Session, query: &str) -> anyhow::Result<Vec<User>> {
    let mut users = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..20 {
        let mut path = format!("/users?limit=2&{query}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let page: Page<User> = session.get(&path).await?.ensure_status(200)?.json()?;
        users.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(users),
        }
    }
    let names: Vec<_> = users.iter().map(|u| u.username.as_str()).collect();
    anyhow::bail!("the pages of users did not end after 20; they held {names:?}")
}

async fn usernames(session: &Session, query: &str) -> anyhow::Result<Vec<String>> {
    Ok(list_users(session, query)
        .await?
        .into_iter()
        .map(|u| u.username)
        .collect())
}

async fn branch_names(session: &Session) -> anyhow::Result<Vec<String>> {
    let branches: Vec<Branch> = session.get("/branches").await?.ensure_status(200)?.json()?;
    Ok(branches.into_iter().map(|b| b.name).collect())
}

async fn teams(session: &Session) -> anyhow::Result<Vec<Team>> {
    session.get("/teams").await?.ensure_status(200)?.json()
}

async fn user(session: &Session, id: Uuid) -> anyhow::Result<User> {
    let reply = session
        .get(&format!("/users/{id}"))
        .await?
        .ensure_status(200)?;
    assert_no_password(&reply);
    reply.json()
}

async fn sessions_of(admin: &Session, id: Uuid) -> anyhow::Result<Vec<DeviceSession>> {
    let reply = admin
        .get(&format!("/users/{id}/sessions"))
        .await?
        .ensure_status(200)?;
    assert_no_password(&reply);
    reply.json()
}

async fn revoke(admin: &Session, id: Uuid, body: &Value) -> anyhow::Result<u64> {
    let reply = admin
        .post(&format!("/users/{id}/sessions/revoke"), body)
        .await?
        .ensure_status(200)?;
    reply.body["revoked"]
        .as_u64()
        .ok_or_else(|| anyhow::anyhow!("no count of revoked sessions: {}", reply.body))
}

fn account_ids(accounts: &[AccountView]) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = accounts.iter().map(|a| a.id.0).collect();
    ids.sort();
    ids
}

/// Asserts the org is still the one `seed_org` made: one branch, two teams
/// (B without a manager) and seven users, none changed.
async fn assert_org_unchanged(admin: &Session) -> anyhow::Result<()> {
    assert_eq!(branch_names(admin).await?, ["East"]);
    let teams = teams(admin).await?;
    let names: Vec<_> = teams.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["Team A", "Team B"]);
    assert!(teams[1].manager_ids.is_empty());
    let users = list_users(admin, "").await?;
    assert_eq!(users.len(), 7);
    assert!(
        users.iter().all(|u| u.version == 1 && u.active),
        "no user changed: {users:?}"
    );
    Ok(())
}

/// Team B gets a manager of its own, `manager_b`, through the API.
async fn lead_team_b(app: &TestApp, admin: &Session, org: &Org) -> anyhow::Result<OrgUser> {
    let newcomer = app
        .create_user("manager_b", Role::Manager, None, Some(org.branch_id))
        .await?;
    put(
        admin,
        &format!("/teams/{}/managers", org.team_b),
        &json!({ "manager_ids": [newcomer.id] }),
    )
    .await?
    .assert_status(200);
    Ok(newcomer)
}

#[tokio::test]
async fn admin_creates_a_branch_a_team_with_its_manager_and_users() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let admin = app.login_as(&org.admin).await?;

    let reply = admin.post("/branches", &json!({ "name": "West" })).await?;
    reply.assert_status(201);
    let west: Branch = reply.json()?;
    assert_eq!(west.name, "West");

    let mut body = new_user("wu.gang", "manager");
    body["branch_id"] = json!(west.id);
    let reply = admin.post("/users", &body).await?;
    reply.assert_status(201);
    assert_no_password(&reply);
    let manager: User = reply.json()?;
    assert_eq!(
        reply.header("location"),
        Some(format!("/api/v1/users/{}", manager.id).as_str())
    );
    assert_eq!(
        reply.header("etag"),
        Some(format!("\"{}\"", manager.version).as_str())
    );
    assert_eq!(manager.username, "wu.gang");
    assert_eq!(manager.display_name, "New wu.gang");
    assert_eq!(manager.role, Role::Manager);
    assert_eq!(manager.branch_id, Some(west.id));
    assert_eq!(manager.team_id, None);
    assert!(manager.active);

    let reply = admin
        .post(
            "/teams",
            &json!({ "name": "West Key Accounts", "branch_id": west.id, "manager_ids": [manager.id] }),
        )
        .await?;
    reply.assert_status(201);
    let team: Team = reply.json()?;
    assert_eq!(team.name, "West Key Accounts");
    assert_eq!(team.branch_id, west.id);
    assert_eq!(team.manager_ids, [manager.id]);

    let mut body = new_user("sun.li", "rep");
    body["team_id"] = json!(team.id);
    let reply = admin.post("/users", &body).await?;
    reply.assert_status(201);
    assert_no_password(&reply);
    let rep: User = reply.json()?;
    assert_eq!(rep.role, Role::Rep);
    assert_eq!(rep.team_id, Some(team.id));
    assert_eq!(
        reply.header("location"),
        Some(format!("/api/v1/users/{}", rep.id).as_str())
    );
    let read = user(&admin, rep.id.0).await?;
    assert_eq!(read.username, "sun.li");
    assert_eq!(read.version, rep.version);

    assert_eq!(branch_names(&admin).await?, ["East", "West"]);
    let listed = teams(&admin).await?;
    assert!(
        listed
            .iter()
            .any(|t| t.id == team.id && t.manager_ids == [manager.id])
    );

    // The new people log in with the passwords given, and the org holds them.
    let rep_session = app
        .login("sun.li", "sun.li-long-password", "sun-phone")
        .await?;
    let manager_session = app
        .login("wu.gang", "wu.gang-long-password", "wu-phone")
        .await?;
    let me = manager_session.get("/auth/me").await?.ensure_status(200)?;
    assert_eq!(me.body["led_teams"], json!([team.id]));
    assert_eq!(me.body["branch_id"], json!(west.id));
    let account = rep_session
        .create_account(new_account("Chengdu Metro"))
        .await?;
    assert_eq!(account.account.team_id.map(|t| t.0), Some(team.id.0));
    assert_eq!(
        account_ids(&manager_session.list_accounts("").await?),
        [account.id.0]
    );
    Ok(())
}

#[tokio::test]
async fn no_answer_about_users_shows_a_password_or_its_hash() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let admin = app.login_as(&org.admin).await?;
    let mut body = new_user("zhou.yi", "rep");
    body["team_id"] = json!(org.team_a);
    let created = admin.post("/users", &body).await?.ensure_status(201)?;
    assert_no_password(&created);
    let zhou = created.json::<User>()?.id.0;

    user(&admin, zhou).await?;
    list_users(&admin, "").await?;
    let patched = admin
        .patch(
            &format!("/users/{zhou}"),
            &json!({ "password": "another-long-password", "display_name": "Zhou Yi" }),
        )
        .await?
        .ensure_status(200)?;
    assert_no_password(&patched);
    let director = app.login_as(&org.director).await?;
    list_users(&director, "").await?;
    let manager = app.login_as(&org.manager).await?;
    list_users(&manager, "").await?;
    app.login("zhou.yi", "another-long-password", "zhou-phone")
        .await?;
    sessions_of(&admin, zhou).await?;
    Ok(())
}

#[tokio::test]
async fn a_taken_username_or_branch_name_is_409_already_exists() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let admin = app.login_as(&org.admin).await?;
    let mut body = new_user("rep_a1", "rep");
    body["team_id"] = json!(org.team_b);
    admin
        .post("/users", &body)
        .await?
        .assert_problem(409, "already_exists");
    admin
        .post("/branches", &json!({ "name": "East" }))
        .await?
        .assert_problem(409, "already_exists");
    assert_org_unchanged(&admin).await?;
    // The first rep_a1 is untouched: same team, same password.
    let me = app
        .login_as(&org.rep_a1)
        .await?
        .get("/auth/me")
        .await?
        .ensure_status(200)?;
    assert_eq!(me.body["team_id"], json!(org.team_a));
    Ok(())
}

#[tokio::test]
async fn bad_user_bodies_are_422_naming_the_field() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let admin = app.login_as(&org.admin).await?;
    let with = |field: &str, value: Value| {
        let mut body = new_user("new.rep", "rep");
        body["team_id"] = json!(org.team_a);
        body[field] = value;
        body
    };
    for (body, field, code) in [
        (
            with("username", json!("No Spaces")),
            "username",
            "invalid_value",
        ),
        (with("username", json!("ab")), "username", "invalid_value"),
        (
            with("username", json!("x".repeat(65))),
            "username",
            "invalid_value",
        ),
        (
            with("password", json!("short")),
            "password",
            "invalid_value",
        ),
        (
            with("display_name", json!("  ")),
            "display_name",
            "invalid_value",
        ),
        (with("team_id", Value::Null), "team_id", "required"),
        (
            with("team_id", json!(Uuid::now_v7())),
            "team_id",
            "unknown_team",
        ),
        (
            with("branch_id", json!(Uuid::now_v7())),
            "branch_id",
            "unknown_branch",
        ),
    ] {
        let reply = admin.post("/users", &body).await?;
        reply.assert_violation(field, code);
        assert_no_password(&reply);
    }

    // Bodies that do not fit the schema at all name the culprit in the detail.
    for (body, culprit) in [
        (
            with("password_hash", json!("$argon2id$forged")),
            "password_hash",
        ),
        (with("role", json!("overlord")), "overlord"),
    ] {
        let reply = admin.post("/users", &body).await?;
        reply.assert_problem(422, "invalid_body");
        let detail = reply.body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(culprit), "{culprit}: {}", reply.body);
    }
    assert_org_unchanged(&admin).await
}

#[tokio::test]
async fn bad_branch_team_and_revocation_bodies_are_422_naming_the_field() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let admin = app.login_as(&org.admin).await?;

    (admin.post("/branches", &json!({ "name": " " })).await?)
        .assert_violation("name", "invalid_value");
    (admin
        .post("/branches", &json!({ "name": "x".repeat(201) }))
        .await?)
        .assert_violation("name", "invalid_value");
    let team = |name: &str, branch: Uuid, managers: Vec<Uuid>| json!({ "name": name, "branch_id": branch, "manager_ids": managers });
    for (body, field, code) in [
        (team("", org.branch_id, vec![]), "name", "invalid_value"),
        (
            team("Ghost", Uuid::now_v7(), vec![]),
            "branch_id",
            "unknown_branch",
        ),
        (
            team("Led by a rep", org.branch_id, vec![org.rep_a1.id]),
            "manager_ids.0",
            "not_a_manager",
        ),
        (
            team("Twice", org.branch_id, vec![org.manager.id, org.manager.id]),
            "manager_ids.1",
            "duplicate",
        ),
    ] {
        admin
            .post("/teams", &body)
            .await?
            .assert_violation(field, code);
    }
    (put(
        &admin,
        &format!("/teams/{}/managers", org.team_b),
        &json!({ "manager_ids": [org.director.id] }),
    )
    .await?)
        .assert_violation("manager_ids.0", "not_a_manager");
    (admin
        .post(
            &format!("/users/{}/sessions/revoke", org.rep_a1.id),
            &json!({ "device_id": " " }),
        )
        .await?)
        .assert_violation("device_id", "invalid_value");
    assert_org_unchanged(&admin).await?;
    let rep = app.login_as(&org.rep_a1).await?;
    rep.get("/auth/me").await?.assert_status(200);
    Ok(())
}

#[tokio::test]
async fn a_bad_user_patch_is_422_naming_the_field_and_changes_nothing() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let admin = app.login_as(&org.admin).await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let path = format!("/users/{}", org.rep_a1.id);
    for (patch, field, code) in [
        (json!({ "password": "short" }), "password", "invalid_value"),
        (
            json!({ "display_name": "" }),
            "display_name",
            "invalid_value",
        ),
        (
            json!({ "display_name": null }),
            "display_name",
            "invalid_value",
        ),
        (json!({ "active": null }), "active", "invalid_value"),
        (json!({ "role": null }), "role", "invalid_value"),
        (json!({ "team_id": null }), "team_id", "required"),
        (
            json!({ "team_id": Uuid::now_v7() }),
            "team_id",
            "unknown_team",
        ),
        (
            json!({ "branch_id": Uuid::now_v7() }),
            "branch_id",
            "unknown_branch",
        ),
    ] {
        let reply = admin.patch(&path, &patch).await?;
        reply.assert_violation(field, code);
    }
    let reply = admin
        .patch(&path, &json!({ "password_hash": "$argon2id$forged" }))
        .await?;
    reply.assert_problem(422, "invalid_body");

    assert_org_unchanged(&admin).await?;
    rep.get("/auth/me").await?.assert_status(200);
    Ok(())
}

#[tokio::test]
async fn non_admins_get_403_role_forbidden_on_every_admin_write() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let admin = app.login_as(&org.admin).await?;
    let target = app.login_as(&org.rep_b1).await?;
    for caller in [&org.director, &org.manager, &org.rep_a1, &org.service] {
        let session = app.login_as(caller).await?;
        let mut body = new_user("sneaky", "rep");
        body["team_id"] = json!(org.team_a);
        let replies = [
            session
                .post("/branches", &json!({ "name": "Sneaky" }))
                .await?,
            session
                .post(
                    "/teams",
                    &json!({ "name": "Sneaky team", "branch_id": org.branch_id }),
                )
                .await?,
            put(
                &session,
                &format!("/teams/{}/managers", org.team_b),
                &json!({ "manager_ids": [org.manager.id] }),
            )
            .await?,
            session.post("/users", &body).await?,
            session
                .patch(
                    &format!("/users/{}", org.rep_b1.id),
                    &json!({ "display_name": "Renamed" }),
                )
                .await?,
            session
                .patch(
                    &format!("/users/{}", caller.id),
                    &json!({ "role": "admin" }),
                )
                .await?,
            session
                .post(
                    &format!("/users/{}/sessions/revoke", org.rep_b1.id),
                    &json!({}),
                )
                .await?,
            session
                .get(&format!("/users/{}/sessions", org.rep_b1.id))
                .await?,
        ];
        for reply in &replies {
            assert_eq!(
                reply.code(),
                Some("role_forbidden"),
                "{}: {}",
                caller.username,
                reply.body
            );
            reply.assert_problem(403, "role_forbidden");
        }
    }
    assert_org_unchanged(&admin).await?;
    target.get("/auth/me").await?.assert_status(200);
    Ok(())
}

#[tokio::test]
async fn a_director_reads_the_users_teams_and_branch_of_their_branch_only() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let west = app.create_branch("West").await?;
    let west_team = app.create_team("West team", west, &[]).await?;
    let west_rep = app
        .create_user("rep_w1", Role::Rep, Some(west_team), None)
        .await?;
    let director = app.login_as(&org.director).await?;

    assert_eq!(
        usernames(&director, "").await?,
        [
            "director", "manager", "rep_a1", "rep_a2", "rep_b1", "service"
        ]
    );
    assert_eq!(user(&director, org.rep_b1.id).await?.username, "rep_b1");
    for hidden in [west_rep.id, org.admin.id] {
        director
            .get(&format!("/users/{hidden}"))
            .await?
            .assert_problem(404, "not_found");
    }
    assert_eq!(branch_names(&director).await?, ["East"]);
    let names: Vec<_> = teams(&director)
        .await?
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["Team A", "Team B"]);

    let admin = app.login_as(&org.admin).await?;
    assert_eq!(list_users(&admin, "").await?.len(), 8);
    assert_eq!(branch_names(&admin).await?, ["East", "West"]);
    Ok(())
}

#[tokio::test]
async fn a_manager_reads_the_users_of_the_teams_they_lead_and_themselves() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let manager = app.login_as(&org.manager).await?;
    assert_eq!(
        usernames(&manager, "").await?,
        ["manager", "rep_a1", "rep_a2"]
    );
    assert_eq!(user(&manager, org.rep_a2.id).await?.username, "rep_a2");
    assert_eq!(user(&manager, org.manager.id).await?.username, "manager");
    for hidden in [org.rep_b1.id, org.director.id, org.admin.id, org.service.id] {
        manager
            .get(&format!("/users/{hidden}"))
            .await?
            .assert_problem(404, "not_found");
    }
    manager
        .get("/branches")
        .await?
        .assert_problem(403, "role_forbidden");
    manager
        .get("/teams")
        .await?
        .assert_problem(403, "role_forbidden");
    Ok(())
}

#[tokio::test]
async fn user_filters_narrow_the_list_within_the_callers_scope() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let west = app.create_branch("West").await?;
    let west_team = app.create_team("West team", west, &[]).await?;
    app.create_user("rep_w1", Role::Rep, Some(west_team), None)
        .await?;
    let admin = app.login_as(&org.admin).await?;
    let director = app.login_as(&org.director).await?;
    let manager = app.login_as(&org.manager).await?;

    assert_eq!(
        usernames(&admin, "role=rep").await?,
        ["rep_a1", "rep_a2", "rep_b1", "rep_w1"]
    );
    assert_eq!(
        usernames(&admin, &format!("team_id={west_team}")).await?,
        ["rep_w1"]
    );

    assert_eq!(
        usernames(&director, "role=rep").await?,
        ["rep_a1", "rep_a2", "rep_b1"]
    );
    assert_eq!(
        usernames(&director, &format!("team_id={}", org.team_a)).await?,
        ["rep_a1", "rep_a2"]
    );
    assert!(usernames(&director, "role=admin").await?.is_empty());
    assert!(
        usernames(&director, &format!("team_id={west_team}"))
            .await?
            .is_empty()
    );
    assert_eq!(usernames(&director, "active=true").await?.len(), 6);

    assert_eq!(usernames(&manager, "role=rep").await?, ["rep_a1", "rep_a2"]);
    assert!(usernames(&manager, "role=admin").await?.is_empty());
    assert!(usernames(&manager, "role=director").await?.is_empty());
    assert!(
        usernames(&manager, &format!("team_id={}", org.team_b))
            .await?
            .is_empty()
    );
    assert_eq!(
        usernames(&manager, "active=true").await?,
        ["manager", "rep_a1", "rep_a2"]
    );
    Ok(())
}

#[tokio::test]
async fn paging_through_users_ends_and_shows_each_user_in_scope_once() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let west = app.create_branch("West").await?;
    let west_team = app.create_team("West team", west, &[]).await?;
    app.create_user("rep_w1", Role::Rep, Some(west_team), None)
        .await?;
    for caller in [&org.admin, &org.director, &org.manager] {
        let session = app.login_as(caller).await?;
        let whole: Vec<_> = list_users(&session, "")
            .await?
            .into_iter()
            .map(|u| u.id)
            .collect();
        let paged = page_through_users(&session, "").await;
        let paged: Vec<_> = paged
            .unwrap_or_else(|err| panic!("{}: {err:#}", caller.username))
            .into_iter()
            .map(|u| u.id)
            .collect();
        let mut unique = paged.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            unique.len(),
            paged.len(),
            "{}: a user listed twice",
            caller.username
        );
        let mut expected = whole.clone();
        expected.sort();
        assert_eq!(
            unique, expected,
            "{}: pages and one list differ",
            caller.username
        );
        let mut newest_first = paged.clone();
        newest_first.sort_by(|a, b| b.cmp(a));
        assert_eq!(paged, newest_first, "{}: newest first", caller.username);
    }
    Ok(())
}

#[tokio::test]
async fn reps_and_service_staff_get_403_role_forbidden_reading_the_org() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    for caller in [&org.rep_a1, &org.service] {
        let session = app.login_as(caller).await?;
        for path in [
            "/users".to_owned(),
            format!("/users/{}", caller.id),
            format!("/users/{}", org.rep_a2.id),
            "/branches".to_owned(),
            "/teams".to_owned(),
        ] {
            let reply = session.get(&path).await?;
            assert_eq!(
                reply.code(),
                Some("role_forbidden"),
                "{} {path}: {}",
                caller.username,
                reply.body
            );
            reply.assert_problem(403, "role_forbidden");
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_stale_if_match_on_a_user_is_412_and_changes_nothing() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let admin = app.login_as(&org.admin).await?;
    let path = format!("/users/{}", org.rep_a1.id);
    let reply = admin.get(&path).await?;
    reply.assert_status(200);
    let first = reply
        .header("etag")
        .ok_or_else(|| anyhow::anyhow!("no ETag"))?
        .to_owned();
    assert_eq!(first, "\"1\"");

    let reply = admin
        .send(
            admin
                .request(Method::PATCH, &path)
                .header("if-match", &first)
                .json(&json!({ "display_name": "Rep One" })),
        )
        .await?;
    reply.assert_status(200);
    assert_eq!(reply.header("etag"), Some("\"2\""));
    let changed: User = reply.json()?;
    assert_eq!(changed.version, 2);
    assert_eq!(changed.display_name, "Rep One");
    assert!(changed.updated_at > changed.created_at);

    admin
        .send(
            admin
                .request(Method::PATCH, &path)
                .header("if-match", &first)
                .json(&json!({ "display_name": "Lost Update", "active": false })),
        )
        .await?
        .assert_problem(412, "precondition_failed");
    let read = user(&admin, org.rep_a1.id).await?;
    assert_eq!(read.display_name, "Rep One");
    assert_eq!(read.version, 2);
    assert!(read.active);
    app.login_as(&org.rep_a1)
        .await?
        .get("/auth/me")
        .await?
        .assert_status(200);

    // A patch that changes nothing keeps the version.
    let same: User = admin
        .patch(&path, &json!({ "display_name": "Rep One" }))
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(same.version, 2);
    Ok(())
}

#[tokio::test]
async fn deactivating_a_user_cuts_off_their_tokens_at_once() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let admin = app.login_as(&org.admin).await?;
    let phone = app.login_as(&org.rep_a1).await?;
    let laptop = app.login("rep_a1", &org.rep_a1.password, "laptop").await?;
    let colleague = app.login_as(&org.rep_a2).await?;
    let path = format!("/users/{}", org.rep_a1.id);

    let off: User = admin
        .patch(&path, &json!({ "active": false }))
        .await?
        .ensure_status(200)?
        .json()?;
    assert!(!off.active);

    assert_cut_off(&phone).await?;
    assert_cut_off(&laptop).await?;
    let refresh = app
        .api()
        .post(
            "/auth/refresh",
            &json!({ "refresh_token": laptop.refresh_token }),
        )
        .await?;
    assert_eq!(refresh.status, 401, "{}", refresh.body);
    app.api()
        .post(
            "/auth/login",
            &json!({ "username": "rep_a1", "password": org.rep_a1.password, "device_id": "tablet" }),
        )
        .await?
        .assert_problem(401, "invalid_credentials");
    colleague.get("/auth/me").await?.assert_status(200);
    let ended = sessions_of(&admin, org.rep_a1.id).await?;
    assert_eq!(ended.len(), 2);
    assert!(
        ended
            .iter()
            .all(|s| s.revoked_at.is_some()
                && s.revoked_reason.as_deref() == Some("user_deactivated")),
        "{ended:?}"
    );
    assert_eq!(usernames(&admin, "active=false").await?, ["rep_a1"]);

    // Reactivated, they log in afresh; the old tokens stay dead.
    admin
        .patch(&path, &json!({ "active": true }))
        .await?
        .assert_status(200);
    let again = app.login_as(&org.rep_a1).await?;
    again.get("/auth/me").await?.assert_status(200);
    assert_cut_off(&laptop).await
}

#[tokio::test]
async fn changing_a_password_ends_every_session_and_only_the_new_one_logs_in() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let admin = app.login_as(&org.admin).await?;
    let phone = app.login_as(&org.rep_a1).await?;
    let laptop = app.login("rep_a1", &org.rep_a1.password, "laptop").await?;

    let reply = admin
        .patch(
            &format!("/users/{}", org.rep_a1.id),
            &json!({ "password": "a-brand-new-secret" }),
        )
        .await?;
    reply.assert_status(200);
    assert_no_password(&reply);
    assert_eq!(reply.json::<User>()?.version, 2);

    assert_cut_off(&phone).await?;
    assert_cut_off(&laptop).await?;
    app.api()
        .post(
            "/auth/login",
            &json!({ "username": "rep_a1", "password": org.rep_a1.password }),
        )
        .await?
        .assert_problem(401, "invalid_credentials");
    let renewed = app.login("rep_a1", "a-brand-new-secret", "phone").await?;
    renewed.get("/auth/me").await?.assert_status(200);
    let reasons: Vec<_> = sessions_of(&admin, org.rep_a1.id)
        .await?
        .into_iter()
        .filter_map(|s| s.revoked_reason)
        .collect();
    assert_eq!(reasons, ["password_changed", "password_changed"]);
    Ok(())
}

#[tokio::test]
async fn an_admin_lists_a_users_sessions_and_revokes_one_device_or_all() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let admin = app.login_as(&org.admin).await?;
    let phone = app.login("rep_a1", &org.rep_a1.password, "phone").await?;
    let laptop = app.login("rep_a1", &org.rep_a1.password, "laptop").await?;
    let tablet = app.login("rep_a1", &org.rep_a1.password, "tablet").await?;
    let colleague = app.login_as(&org.rep_a2).await?;

    let sessions = sessions_of(&admin, org.rep_a1.id).await?;
    let devices: Vec<_> = sessions.iter().map(|s| s.device_id.as_str()).collect();
    assert_eq!(devices, ["tablet", "laptop", "phone"], "newest first");
    assert!(sessions.iter().all(|s| s.revoked_at.is_none()));
    assert_eq!(
        sessions.iter().map(|s| s.id).collect::<Vec<_>>(),
        [tablet.session_id, laptop.session_id, phone.session_id]
    );

    assert_eq!(
        revoke(&admin, org.rep_a1.id, &json!({ "device_id": "laptop" })).await?,
        1
    );
    assert_cut_off(&laptop).await?;
    phone.get("/auth/me").await?.assert_status(200);
    tablet.get("/auth/me").await?.assert_status(200);
    assert_eq!(
        revoke(&admin, org.rep_a1.id, &json!({ "device_id": "laptop" })).await?,
        0,
        "a session already ended is not counted"
    );
    assert_eq!(
        revoke(
            &admin,
            org.rep_a1.id,
            &json!({ "device_id": "no-such-device" })
        )
        .await?,
        0
    );

    assert_eq!(revoke(&admin, org.rep_a1.id, &json!({})).await?, 2);
    assert_cut_off(&phone).await?;
    assert_cut_off(&tablet).await?;
    colleague.get("/auth/me").await?.assert_status(200);
    assert_eq!(revoke(&admin, org.rep_a1.id, &json!({})).await?, 0);

    let sessions = sessions_of(&admin, org.rep_a1.id).await?;
    assert_eq!(sessions.len(), 3);
    assert!(
        sessions
            .iter()
            .all(|s| s.revoked_reason.as_deref() == Some("revoked_by_admin")),
        "{sessions:?}"
    );

    let nobody = Uuid::now_v7();
    admin
        .get(&format!("/users/{nobody}/sessions"))
        .await?
        .assert_problem(404, "not_found");
    admin
        .post(&format!("/users/{nobody}/sessions/revoke"), &json!({}))
        .await?
        .assert_problem(404, "not_found");
    Ok(())
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_deactivated_or_demoted() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let admin = app.login_as(&org.admin).await?;
    let path = format!("/users/{}", org.admin.id);
    for patch in [json!({ "active": false }), json!({ "role": "director" })] {
        admin
            .patch(&path, &patch)
            .await?
            .assert_problem(409, "last_admin");
    }
    admin.get("/auth/me").await?.assert_status(200);

    admin
        .post("/users", &new_user("second.admin", "admin"))
        .await?
        .assert_status(201);
    admin
        .patch(&path, &json!({ "role": "director" }))
        .await?
        .assert_status(200);
    let me = admin.get("/auth/me").await?.ensure_status(200)?;
    assert_eq!(me.body["role"], "director");
    admin
        .post("/branches", &json!({ "name": "North" }))
        .await?
        .assert_problem(403, "role_forbidden");
    Ok(())
}

#[tokio::test]
async fn replacing_a_teams_managers_changes_who_sees_its_accounts() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let admin = app.login_as(&org.admin).await?;
    let newcomer = app
        .create_user("manager_b", Role::Manager, None, Some(org.branch_id))
        .await?;
    let a1 = app.login_as(&org.rep_a1).await?;
    let b1 = app.login_as(&org.rep_b1).await?;
    let old_manager = app.login_as(&org.manager).await?;
    let new_manager = app.login_as(&newcomer).await?;
    let in_a = a1.create_account(new_account("In team A")).await?;
    let in_b = b1.create_account(new_account("In team B")).await?;
    assert!(new_manager.list_accounts("").await?.is_empty());

    let team: Team = put(
        &admin,
        &format!("/teams/{}/managers", org.team_b),
        &json!({ "manager_ids": [newcomer.id] }),
    )
    .await?
    .ensure_status(200)?
    .json()?;
    assert_eq!(team.manager_ids, [newcomer.id.into()]);
    assert_eq!(
        account_ids(&new_manager.list_accounts("").await?),
        [in_b.id.0]
    );
    assert_eq!(usernames(&new_manager, "").await?, ["manager_b", "rep_b1"]);

    put(
        &admin,
        &format!("/teams/{}/managers", org.team_a),
        &json!({ "manager_ids": [] }),
    )
    .await?
    .assert_status(200);
    assert!(old_manager.list_accounts("").await?.is_empty());
    old_manager
        .get(&format!("/accounts/{}", in_a.id))
        .await?
        .assert_problem(404, "not_found");
    put(
        &admin,
        &format!("/teams/{}/managers", Uuid::now_v7()),
        &json!({ "manager_ids": [] }),
    )
    .await?
    .assert_problem(404, "not_found");
    Ok(())
}

#[tokio::test]
async fn a_manager_made_a_rep_stops_leading_their_teams_at_once() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let admin = app.login_as(&org.admin).await?;
    let manager = app.login_as(&org.manager).await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Team A's")).await?;
    assert_eq!(
        account_ids(&manager.list_accounts("").await?),
        [account.id.0]
    );

    let demoted: User = admin
        .patch(
            &format!("/users/{}", org.manager.id),
            &json!({ "role": "rep", "team_id": org.team_a }),
        )
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(demoted.role, Role::Rep);

    let me = manager.get("/auth/me").await?.ensure_status(200)?;
    assert_eq!(me.body["role"], "rep");
    assert_eq!(me.body["led_teams"], json!([]));
    assert!(manager.list_accounts("").await?.is_empty());
    manager
        .get(&format!("/accounts/{}", account.id))
        .await?
        .assert_problem(404, "not_found");
    let team_a = teams(&admin)
        .await?
        .into_iter()
        .find(|t| t.id.0 == org.team_a)
        .ok_or_else(|| anyhow::anyhow!("team A is gone"))?;
    assert!(team_a.manager_ids.is_empty(), "{team_a:?}");
    Ok(())
}

#[tokio::test]
async fn a_rep_moved_to_another_team_works_in_it_at_once_without_logging_in_again()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let admin = app.login_as(&org.admin).await?;
    let new_manager = lead_team_b(&app, &admin, &org).await?;
    let new_manager = app.login_as(&new_manager).await?;
    let old_manager = app.login_as(&org.manager).await?;
    let rep = app.login_as(&org.rep_a1).await?;

    let moved: User = admin
        .patch(
            &format!("/users/{}", org.rep_a1.id),
            &json!({ "team_id": org.team_b }),
        )
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(moved.team_id.map(|t| t.0), Some(org.team_b));
    assert_eq!(moved.version, 2);

    let me = rep.get("/auth/me").await?.ensure_status(200)?;
    assert_eq!(me.body["team_id"], json!(org.team_b));
    let account = rep.create_account(new_account("After the move")).await?;
    assert_eq!(account.account.team_id.map(|t| t.0), Some(org.team_b));
    assert_eq!(
        account_ids(&new_manager.list_accounts("").await?),
        [account.id.0]
    );
    assert!(old_manager.list_accounts("").await?.is_empty());
    old_manager
        .get(&format!("/accounts/{}", account.id))
        .await?
        .assert_problem(404, "not_found");
    assert_eq!(
        usernames(&new_manager, "").await?,
        ["manager_b", "rep_a1", "rep_b1"]
    );
    assert_eq!(usernames(&old_manager, "").await?, ["manager", "rep_a2"]);
    Ok(())
}

#[tokio::test]
async fn a_moved_reps_accounts_follow_them_to_the_new_team() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let admin = app.login_as(&org.admin).await?;
    let new_manager = lead_team_b(&app, &admin, &org).await?;
    let new_manager = app.login_as(&new_manager).await?;
    let old_manager = app.login_as(&org.manager).await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Before the move")).await?;
    assert_eq!(account.account.team_id.map(|t| t.0), Some(org.team_a));

    admin
        .patch(
            &format!("/users/{}", org.rep_a1.id),
            &json!({ "team_id": org.team_b }),
        )
        .await?
        .assert_status(200);

    let read = rep.account(account.id).await?;
    assert_eq!(
        read.account.team_id.map(|t| t.0),
        Some(org.team_b),
        "the account is in its owner's team"
    );
    assert_eq!(
        account_ids(
            &rep.list_accounts(&format!("team_id={}", org.team_b))
                .await?
        ),
        [account.id.0]
    );
    assert_eq!(
        account_ids(&new_manager.list_accounts("").await?),
        [account.id.0],
        "the new team's manager sees the moved rep's account"
    );
    old_manager
        .get(&format!("/accounts/{}", account.id))
        .await?
        .assert_problem(404, "not_found");
    Ok(())
}
