//! Security, end to end: the authorization matrix on every record route and
//! every role that may not see the record (REST and sync), list filters and
//! cursors that try to widen a caller's scope, forged and replayed tokens,
//! and login throttling (docs/login-throttling.md): guessing is slowed per
//! username and address, and nobody can lock a user out who has the right
//! password on a device that logged in before.
//!
//! What `access.rs`, `visits.rs`, `auth.rs`, `admin.rs` and `sync.rs`
//! already pin (reps on each other's records, alg `none`, another key,
//! expiry, tampered claims, refresh-token reuse, revocation) is not repeated.

use automerge::ActorId;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{Duration, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use kam_server::auth::Role;
use kam_server::entities::server_value;
use kam_server::records::accounts::AccountView;
use kam_server::records::page::Page;
use kam_server::records::visits::VisitView;
use kam_sync_core::protocol::{Bytes, PushDoc, PushStatus, SyncRequest, SyncResponse};
use kam_sync_core::{ChangeMeta, RecordDoc, RecordKind, Replica, Visit};
use kam_tests::{Device, Org, OrgUser, Reply, Session, TestApp, West, new_account};
use sea_orm::EntityTrait;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use uuid::Uuid;

/// Where the seeded accounts are.
const SITE: (f64, f64) = (31.2304, 121.4737);

fn site() -> Value {
    json!({ "lat": SITE.0, "lon": SITE.1 })
}

fn new_visit(account: Uuid) -> Value {
    json!({
        "account_id": account,
        "planned_at": Utc::now() + Duration::days(1),
        "type": "onsite",
        "purpose": "Renewal",
    })
}

/// An account with a planned visit and a visit under way, owned by `owner`.
struct Records {
    owner: Session,
    account: Uuid,
    planned: Uuid,
    started: Uuid,
}

impl Records {
    async fn create(owner: Session, name: &str) -> anyhow::Result<Self> {
        let mut body = new_account(name);
        body["location"] = site();
        let account = owner.create_account(body).await?.id.0;
        let mut visits = Vec::new();
        for _ in 0..2 {
            let view: VisitView = owner
                .post("/visits", &new_visit(account))
                .await?
                .ensure_status(201)?
                .json()?;
            visits.push(view.id.0);
        }
        owner
            .post(
                &format!("/visits/{}/check-in", visits[1]),
                &json!({ "location": site() }),
            )
            .await?
            .ensure_status(200)?;
        Ok(Self {
            owner,
            account,
            planned: visits[0],
            started: visits[1],
        })
    }

    fn ids(&self) -> [Uuid; 3] {
        [self.account, self.planned, self.started]
    }

    /// What the owner reads of each record (body and ETag), and the visits
    /// under the account.
    async fn snapshot(&self) -> anyhow::Result<Vec<Value>> {
        let mut seen = Vec::new();
        for path in [
            format!("/accounts/{}", self.account),
            format!("/visits/{}", self.planned),
            format!("/visits/{}", self.started),
        ] {
            let reply = self.owner.get(&path).await?.ensure_status(200)?;
            let etag = reply.header("etag").map(str::to_owned);
            anyhow::ensure!(etag.is_some(), "{path} has no ETag");
            seen.push(json!({ "body": reply.body, "etag": etag }));
        }
        let under: Vec<Uuid> = visit_ids(
            &self.owner,
            &format!("account_id={}&include_deleted=true", self.account),
        )
        .await?
        .into_iter()
        .collect();
        seen.push(json!(under));
        Ok(seen)
    }
}

/// The seeded org, West, and records of team B (East) and of West.
struct World {
    app: TestApp,
    org: Org,
    west: West,
    team_b: Records,
    west_records: Records,
}

impl World {
    async fn build() -> anyhow::Result<Self> {
        let app = TestApp::spawn().await;
        let org = app.seed_org().await?;
        let west = app.seed_west().await?;
        let team_b = Records::create(app.login_as(&org.rep_b1).await?, "Team B's").await?;
        let west_records = Records::create(app.login_as(&west.rep).await?, "West's").await?;
        Ok(Self {
            app,
            org,
            west,
            team_b,
            west_records,
        })
    }

    /// Who may not see the records of team B, and who may not see West's.
    fn outsiders(&self) -> [(&Records, Vec<&OrgUser>); 2] {
        let (org, west) = (&self.org, &self.west);
        [
            (
                &self.team_b,
                vec![
                    &org.rep_a1,
                    &org.rep_a2,
                    &org.manager,
                    &west.director,
                    &west.manager,
                    &west.service,
                    &west.rep,
                ],
            ),
            (
                &self.west_records,
                vec![
                    &org.rep_a1,
                    &org.rep_b1,
                    &org.manager,
                    &org.director,
                    &org.service,
                ],
            ),
        ]
    }
}

/// Logs `user` in on a device of its own, leaving the session that owns
/// records (on `<username>-phone`) working.
async fn outsider(app: &TestApp, user: &OrgUser) -> anyhow::Result<Session> {
    app.login(&user.username, &user.password, "probe").await
}

/// Every visit id `session` lists with `query`, through every page.
async fn visit_ids(session: &Session, query: &str) -> anyhow::Result<BTreeSet<Uuid>> {
    let mut ids = BTreeSet::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let mut path = format!("/visits?{query}&limit=500");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let page: Page<VisitView> = session.get(&path).await?.ensure_status(200)?.json()?;
        ids.extend(page.items.iter().map(|v| v.id.0));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(ids),
        }
    }
    anyhow::bail!("the list of visits did not end")
}

async fn account_ids(session: &Session, query: &str) -> anyhow::Result<BTreeSet<Uuid>> {
    Ok(session
        .list_accounts(query)
        .await?
        .iter()
        .map(|a| a.id.0)
        .collect())
}

/// Everything `session` may see, as REST lists it (deleted records too).
async fn visible(session: &Session) -> anyhow::Result<BTreeSet<Uuid>> {
    let mut ids = account_ids(session, "include_deleted=true").await?;
    ids.extend(visit_ids(session, "include_deleted=true").await?);
    Ok(ids)
}

/// The status, problem code and violated fields of a reply: what tells one
/// refusal from another.
fn answer(reply: &Reply) -> (u16, Option<String>, Vec<String>) {
    (
        reply.status.as_u16(),
        reply.code().map(str::to_owned),
        reply.violated_fields(),
    )
}

/// Tries every record route on an account, a planned visit and a visit
/// under way.
async fn probe(
    caller: &Session,
    caller_id: Uuid,
    [account, planned, started]: [Uuid; 3],
) -> anyhow::Result<Vec<(&'static str, Reply)>> {
    let here = json!({ "location": site(), "at": Utc::now() });
    Ok(vec![
        (
            "GET /accounts/{id}",
            caller.get(&format!("/accounts/{account}")).await?,
        ),
        (
            "PATCH /accounts/{id}",
            caller
                .patch(
                    &format!("/accounts/{account}"),
                    &json!({ "notes": "snooping" }),
                )
                .await?,
        ),
        (
            "PATCH /accounts/{id} taking it over",
            caller
                .patch(
                    &format!("/accounts/{account}"),
                    &json!({ "owner_id": caller_id }),
                )
                .await?,
        ),
        (
            "DELETE /accounts/{id}",
            caller.delete(&format!("/accounts/{account}")).await?,
        ),
        (
            "POST /accounts/{id}/tier/confirm",
            caller
                .post(&format!("/accounts/{account}/tier/confirm"), &json!({}))
                .await?,
        ),
        (
            "POST /accounts/{id}/tier/reject",
            caller
                .post(
                    &format!("/accounts/{account}/tier/reject"),
                    &json!({ "reason": "snooping" }),
                )
                .await?,
        ),
        (
            "GET /visits/{id}",
            caller.get(&format!("/visits/{planned}")).await?,
        ),
        (
            "PATCH /visits/{id}",
            caller
                .patch(
                    &format!("/visits/{planned}"),
                    &json!({ "summary": "snooping" }),
                )
                .await?,
        ),
        (
            "DELETE /visits/{id}",
            caller.delete(&format!("/visits/{planned}")).await?,
        ),
        (
            "POST /visits/{id}/check-in",
            caller
                .post(&format!("/visits/{planned}/check-in"), &here)
                .await?,
        ),
        (
            "POST /visits/{id}/check-out",
            caller
                .post(&format!("/visits/{started}/check-out"), &here)
                .await?,
        ),
        (
            "POST /visits under the account",
            caller.post("/visits", &new_visit(account)).await?,
        ),
    ])
}

/// The documented refusal of `route` on a record out of the caller's sight.
fn documented(role: Role, route: &str) -> (u16, Option<String>, Vec<String>) {
    let code = |status, code: &str| (status, Some(code.to_owned()), Vec::new());
    match (role, route) {
        // The service role writes nothing, but a record out of its sight
        // is not found before that is said.
        (Role::Service, "POST /visits under the account") => code(403, "read_only_role"),
        (_, "POST /visits under the account") => (
            422,
            Some("validation_failed".to_owned()),
            vec!["account_id".to_owned()],
        ),
        _ => code(404, "not_found"),
    }
}

#[tokio::test]
async fn every_record_route_refuses_every_role_that_cannot_see_the_record_and_changes_nothing()
-> anyhow::Result<()> {
    let world = World::build().await?;
    for (records, outsiders) in world.outsiders() {
        let before = records.snapshot().await?;
        for user in outsiders {
            let caller = outsider(&world.app, user).await?;
            let foreign = probe(&caller, user.id, records.ids()).await?;
            let made_up = [Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()];
            let unknown = probe(&caller, user.id, made_up).await?;
            for ((route, reply), (_, unknown)) in foreign.iter().zip(&unknown) {
                assert_eq!(
                    answer(reply),
                    documented(user.role, route),
                    "{} {route}: {}",
                    user.username,
                    reply.body
                );
                assert_eq!(
                    answer(reply),
                    answer(unknown),
                    "{} {route}: a record out of sight is answered like one that does not exist",
                    user.username
                );
                if reply.status.is_client_error() {
                    assert_eq!(reply.header("content-type"), Some(kam_tests::PROBLEM_JSON));
                }
            }
        }
        assert_eq!(
            records.snapshot().await?,
            before,
            "a refused request changed a record"
        );
    }
    Ok(())
}

/// A sync request pushing `docs`, from a device that has never synced.
fn push_request(docs: Vec<(Uuid, RecordKind, Vec<u8>)>) -> SyncRequest {
    SyncRequest {
        push: docs
            .into_iter()
            .map(|(id, kind, bytes)| PushDoc {
                id,
                kind,
                changes: Bytes(bytes),
            })
            .collect(),
        ..SyncRequest::default()
    }
}

async fn send_sync(session: &Session, request: &SyncRequest) -> anyhow::Result<SyncResponse> {
    session
        .post("/sync", &serde_json::to_value(request)?)
        .await?
        .ensure_status(200)?
        .json()
}

fn meta(user: &OrgUser) -> ChangeMeta {
    ChangeMeta {
        user: Some(user.id.into()),
        device: "thief".into(),
        time: Utc::now(),
    }
}

#[tokio::test]
async fn sync_pushes_naming_foreign_documents_are_refused_out_of_scope_and_change_nothing()
-> anyhow::Result<()> {
    let world = World::build().await?;
    for (records, outsiders) in world.outsiders() {
        let before = records.snapshot().await?;
        let account: AccountView = records.owner.account(records.account).await?;
        let planned: VisitView = records
            .owner
            .get(&format!("/visits/{}", records.planned))
            .await?
            .ensure_status(200)?
            .json()?;
        for user in outsiders {
            let caller = outsider(&world.app, user).await?;
            let account_bytes =
                RecordDoc::create(&account.account, ActorId::random(), &meta(user))?
                    .automerge_mut()
                    .save();
            let visit_bytes = RecordDoc::create(&planned.visit, ActorId::random(), &meta(user))?
                .automerge_mut()
                .save();
            let mut mine: Visit = planned.visit.clone();
            mine.owner_id = user.id.into();
            let new_visit_bytes = RecordDoc::create(&mine, ActorId::random(), &meta(user))?
                .automerge_mut()
                .save();
            let new_visit = Uuid::now_v7();
            let foreign = [
                (records.account, RecordKind::Account, account_bytes.clone()),
                (records.planned, RecordKind::Visit, visit_bytes),
                // The same bytes under the other kind: still out of scope,
                // not a hint about what the record is.
                (records.started, RecordKind::Account, account_bytes),
            ];
            let mut expected: Vec<(Uuid, &str)> = foreign
                .iter()
                .map(|(id, _, _)| (*id, "out_of_scope"))
                .collect();
            let new_visit_code = if user.role == Role::Service {
                "read_only_role"
            } else {
                "out_of_scope"
            };
            expected.push((new_visit, new_visit_code));
            let mut docs = foreign.to_vec();
            docs.push((new_visit, RecordKind::Visit, new_visit_bytes));

            let response = send_sync(&caller, &push_request(docs)).await?;
            for ((id, code), result) in expected.iter().zip(&response.pushed) {
                assert_eq!(result.id, *id);
                assert_eq!(
                    result.status,
                    PushStatus::Refused,
                    "{}: {id}",
                    user.username
                );
                assert!(
                    result.heads.is_empty(),
                    "{}: the heads of {id}, out of scope, were given away: {:?}",
                    user.username,
                    result.heads
                );
                let codes: Vec<&str> = response
                    .notices
                    .iter()
                    .filter(|n| n.id == *id)
                    .map(|n| n.code.as_str())
                    .collect();
                assert_eq!(codes, [*code], "{}: {id}", user.username);
            }
            let pulled: Vec<Uuid> = response.pull.iter().map(|d| d.id).collect();
            for (id, _) in &expected {
                assert!(!pulled.contains(id), "{}: {id} was pulled", user.username);
            }
            world
                .app
                .login_as(&world.org.admin)
                .await?
                .get(&format!("/visits/{new_visit}"))
                .await?
                .assert_problem(404, "not_found");
        }
        assert_eq!(
            records.snapshot().await?,
            before,
            "a refused push changed a record"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_visit_moved_under_a_foreign_account_by_sync_stays_with_its_own() -> anyhow::Result<()> {
    let world = World::build().await?;
    let rep = &world.org.rep_a1;
    let own = Records::create(world.app.login_as(rep).await?, "Own").await?;
    let before = world.team_b.snapshot().await?;
    let mut replica = Replica::new(ActorId::random());
    sync_all(&own.owner, &mut replica, &[]).await?;
    replica.edit::<Visit>(
        own.planned,
        &json!({ "account_id": world.team_b.account })
            .as_object()
            .cloned()
            .unwrap_or_default(),
        &meta(rep),
    )?;
    let (_, notices) = sync_all(&own.owner, &mut replica, &[]).await?;
    assert!(
        notices.contains(&("immutable_field".to_owned(), Some("account_id".to_owned()))),
        "{notices:?}"
    );
    let read: VisitView = own
        .owner
        .get(&format!("/visits/{}", own.planned))
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(read.visit.account_id.0, own.account);
    assert_eq!(world.team_b.snapshot().await?, before);
    Ok(())
}

/// Syncs until nothing waits, asking every time for `resend` whole; returns
/// every document pulled and every notice (code and field).
async fn sync_all(
    session: &Session,
    replica: &mut Replica,
    resend: &[Uuid],
) -> anyhow::Result<(BTreeSet<Uuid>, Vec<(String, Option<String>)>)> {
    let mut pulled = BTreeSet::new();
    let mut notices = Vec::new();
    for _ in 0..100 {
        let mut request = replica.prepare_sync();
        request.resend.extend_from_slice(resend);
        let response = send_sync(session, &request).await?;
        pulled.extend(response.pull.iter().map(|d| d.id));
        notices.extend(
            response
                .notices
                .iter()
                .map(|n| (n.code.clone(), n.field.clone())),
        );
        let has_more = response.has_more;
        replica.apply_sync(response)?;
        if !has_more && !replica.needs_sync() {
            return Ok((pulled, notices));
        }
    }
    anyhow::bail!("sync did not settle")
}

#[tokio::test]
async fn a_pull_delivers_exactly_the_documents_in_scope_even_when_asked_to_resend_others()
-> anyhow::Result<()> {
    let world = World::build().await?;
    let (org, west) = (&world.org, &world.west);
    // Records of team A too, one of them deleted and one shared with rep_b1.
    let a1 = Records::create(world.app.login_as(&org.rep_a1).await?, "A1's").await?;
    let a2 = Records::create(world.app.login_as(&org.rep_a2).await?, "A2's").await?;
    a2.owner
        .patch(
            &format!("/accounts/{}", a2.account),
            &json!({ "shared_with": [org.rep_b1.id] }),
        )
        .await?
        .ensure_status(200)?;
    a1.owner
        .delete(&format!("/visits/{}", a1.planned))
        .await?
        .ensure_status(204)?;
    let everything: Vec<Uuid> = [&a1, &a2, &world.team_b, &world.west_records]
        .iter()
        .flat_map(|r| r.ids())
        .collect();
    for user in [
        &org.rep_a1,
        &org.rep_b1,
        &org.manager,
        &org.director,
        &org.service,
        &west.director,
        &west.manager,
        &west.service,
    ] {
        let session = outsider(&world.app, user).await?;
        let in_scope = visible(&session).await?;
        let out_of_scope: Vec<Uuid> = everything
            .iter()
            .copied()
            .filter(|id| !in_scope.contains(id))
            .collect();
        assert!(
            !out_of_scope.is_empty(),
            "{}: sees everything",
            user.username
        );
        let mut replica = Replica::new(ActorId::random());
        let (pulled, _) = sync_all(&session, &mut replica, &out_of_scope).await?;
        assert_eq!(pulled, in_scope, "{}", user.username);
        // A later sync, cursor in hand, asks again.
        let (pulled, _) = sync_all(&session, &mut replica, &out_of_scope).await?;
        assert!(
            pulled.iter().all(|id| in_scope.contains(id)),
            "{}: {pulled:?}",
            user.username
        );
    }
    Ok(())
}

#[tokio::test]
async fn list_filters_naming_other_owners_teams_or_deleted_rows_stay_within_scope()
-> anyhow::Result<()> {
    let world = World::build().await?;
    let (org, west) = (&world.org, &world.west);
    let a1 = Records::create(world.app.login_as(&org.rep_a1).await?, "A1's").await?;
    let a2 = Records::create(world.app.login_as(&org.rep_a2).await?, "A2's").await?;
    for records in [&a2, &world.team_b] {
        records
            .owner
            .delete(&format!("/visits/{}", records.planned))
            .await?
            .ensure_status(204)?;
    }
    let deleted_account = world
        .team_b
        .owner
        .create_account(new_account("Team B's deleted"))
        .await?
        .id
        .0;
    world
        .team_b
        .owner
        .delete(&format!("/accounts/{deleted_account}"))
        .await?
        .ensure_status(204)?;

    let wideners = |other_owners: &[Uuid], other_teams: &[Uuid], other_accounts: &[Uuid]| {
        let mut queries = vec!["include_deleted=true".to_owned()];
        for owner in other_owners {
            queries.push(format!("owner_id={owner}&include_deleted=true"));
        }
        for team in other_teams {
            queries.push(format!("team_id={team}&include_deleted=true"));
        }
        for account in other_accounts {
            queries.push(format!("account_id={account}&include_deleted=true"));
        }
        queries
    };
    let cases = [
        (
            &org.rep_a1,
            wideners(
                &[org.rep_a2.id, org.rep_b1.id, west.rep.id],
                &[org.team_a, org.team_b, west.team],
                &[a2.account, world.team_b.account, deleted_account],
            ),
        ),
        (
            &org.manager,
            wideners(
                &[org.rep_b1.id, west.rep.id],
                &[org.team_b, west.team],
                &[
                    world.team_b.account,
                    deleted_account,
                    world.west_records.account,
                ],
            ),
        ),
        (
            &org.director,
            wideners(&[west.rep.id], &[west.team], &[world.west_records.account]),
        ),
        (
            &west.service,
            wideners(
                &[org.rep_a1.id, org.rep_b1.id],
                &[org.team_a, org.team_b],
                &[a1.account, deleted_account],
            ),
        ),
    ];
    for (user, queries) in cases {
        let session = outsider(&world.app, user).await?;
        let in_scope = visible(&session).await?;
        for query in queries {
            for resource in ["accounts", "visits"] {
                let reply = session
                    .get(&format!("/{resource}?{query}&limit=500"))
                    .await?;
                let unknown_filter = match resource {
                    "visits" => query.contains("team_id"),
                    _ => query.contains("account_id"),
                };
                if unknown_filter {
                    reply.assert_problem(400, "invalid_query");
                    continue;
                }
                let page: Page<Value> = reply.ensure_status(200)?.json()?;
                assert!(page.next_cursor.is_none());
                for item in page.items {
                    let id: Uuid = serde_json::from_value(item["id"].clone())?;
                    assert!(
                        in_scope.contains(&id),
                        "{} listed {id} with /{resource}?{query}",
                        user.username
                    );
                }
            }
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_cursor_from_another_users_listing_pages_only_through_the_callers_scope()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let a1 = app.login_as(&org.rep_a1).await?;
    let b1 = app.login_as(&org.rep_b1).await?;
    // Interleaved, so that the rows after b1's cursor are both users'.
    let mut own_accounts = BTreeSet::new();
    let mut own_visits = BTreeSet::new();
    for i in 0..3 {
        for (session, mine) in [(&a1, true), (&b1, false)] {
            let account = session
                .create_account(new_account(&format!("{i} {mine}")))
                .await?
                .id
                .0;
            let visit: VisitView = session
                .post("/visits", &new_visit(account))
                .await?
                .ensure_status(201)?
                .json()?;
            if mine {
                own_accounts.insert(account);
                own_visits.insert(visit.id.0);
            }
        }
    }
    for (resource, own) in [("accounts", &own_accounts), ("visits", &own_visits)] {
        let first: Page<Value> = b1
            .get(&format!("/{resource}?limit=1"))
            .await?
            .ensure_status(200)?
            .json()?;
        let cursor = first
            .next_cursor
            .ok_or_else(|| anyhow::anyhow!("b1 has more than one {resource}"))?;
        let page: Page<Value> = a1
            .get(&format!("/{resource}?cursor={cursor}&limit=500"))
            .await?
            .ensure_status(200)?
            .json()?;
        let listed: BTreeSet<Uuid> = page
            .items
            .iter()
            .map(|item| serde_json::from_value(item["id"].clone()))
            .collect::<Result<_, _>>()?;
        assert!(
            !listed.is_empty(),
            "a1 has {resource} older than the cursor"
        );
        assert!(
            listed.is_subset(own),
            "{resource}: {listed:?} is not within {own:?}"
        );
    }
    Ok(())
}

/// The key the server signs access tokens with.
async fn signing_secret(app: &TestApp) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = &app.state().settings.auth.jwt_secret {
        return Ok(secret.expose_secret().as_bytes().to_vec());
    }
    let stored = server_value::Entity::find_by_id("jwt_signing_key".to_owned())
        .one(app.db().conn())
        .await?
        .ok_or_else(|| anyhow::anyhow!("no JWT key stored"))?;
    Ok(STANDARD.decode(stored.value)?)
}

fn forge(secret: &[u8], alg: Algorithm, claims: &Value) -> anyhow::Result<String> {
    Ok(jsonwebtoken::encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(secret),
    )?)
}

/// The claims of a good access token for `session`'s user.
fn claims_of(user: &OrgUser, session: &Session) -> Value {
    let now = Utc::now().timestamp();
    json!({
        "sub": user.id,
        "role": user.role.as_str(),
        "sid": session.session_id,
        "dev": session.device_id,
        "iss": "kam-sync",
        "iat": now,
        "nbf": now,
        "exp": now + 900,
    })
}

#[tokio::test]
async fn tokens_signed_with_the_servers_own_key_are_refused_unless_every_claim_holds()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let session = app.login_as(&org.rep_a1).await?;
    let other = app.login_as(&org.rep_a2).await?;
    let secret = signing_secret(&app).await?;
    let good = claims_of(&org.rep_a1, &session);
    let now = Utc::now().timestamp();
    let with = |changes: Value| {
        let mut claims = good.clone();
        for (key, value) in changes.as_object().into_iter().flatten() {
            if value.is_null() {
                claims.as_object_mut().map(|c| c.remove(key));
            } else {
                claims[key] = value.clone();
            }
        }
        claims
    };

    // The forgery works when nothing is wrong: each refusal below is the flaw's.
    let reply = app
        .api()
        .with_token(&forge(&secret, Algorithm::HS256, &good)?)
        .get("/auth/me")
        .await?;
    reply.assert_status(200);
    assert_eq!(reply.body["id"], org.rep_a1.id.to_string());

    let invalid = [
        (
            "not yet valid",
            Algorithm::HS256,
            with(json!({ "nbf": now + 600 })),
        ),
        (
            "expired a minute ago",
            Algorithm::HS256,
            with(json!({ "exp": now - 60 })),
        ),
        (
            "another issuer",
            Algorithm::HS256,
            with(json!({ "iss": "evil" })),
        ),
        ("no issuer", Algorithm::HS256, with(json!({ "iss": null }))),
        ("no expiry", Algorithm::HS256, with(json!({ "exp": null }))),
        (
            "no not-before",
            Algorithm::HS256,
            with(json!({ "nbf": null })),
        ),
        ("no subject", Algorithm::HS256, with(json!({ "sub": null }))),
        ("no session", Algorithm::HS256, with(json!({ "sid": null }))),
        ("HS384", Algorithm::HS384, good.clone()),
        ("HS512", Algorithm::HS512, good.clone()),
    ];
    for (what, alg, claims) in invalid {
        let reply = app
            .api()
            .with_token(&forge(&secret, alg, &claims)?)
            .get("/auth/me")
            .await?;
        assert_eq!(reply.status, 401, "{what}: {}", reply.body);
        reply.assert_problem(401, "invalid_token");
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"), "{what}");
    }

    // A session belongs to its user: another user's session id, or one
    // that never existed, opens nothing.
    for (what, claims) in [
        (
            "rep_a1 with rep_a2's session",
            with(json!({ "sid": other.session_id })),
        ),
        (
            "rep_a2 with rep_a1's session",
            with(json!({ "sub": org.rep_a2.id })),
        ),
        ("a made-up session", with(json!({ "sid": Uuid::now_v7() }))),
    ] {
        let reply = app
            .api()
            .with_token(&forge(&secret, Algorithm::HS256, &claims)?)
            .get("/auth/me")
            .await?;
        assert_eq!(reply.status, 401, "{what}: {}", reply.body);
        reply.assert_problem(401, "session_revoked");
    }
    Ok(())
}

#[tokio::test]
async fn the_role_comes_from_the_database_not_from_the_tokens_claim() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let session = app.login_as(&org.rep_a1).await?;
    let b1 = app.login_as(&org.rep_b1).await?;
    let theirs = b1.create_account(new_account("Not yours")).await?;
    let secret = signing_secret(&app).await?;
    let mut claims = claims_of(&org.rep_a1, &session);
    claims["role"] = json!("admin");
    let as_admin = app
        .api()
        .with_token(&forge(&secret, Algorithm::HS256, &claims)?);

    let me = as_admin.get("/auth/me").await?;
    me.assert_status(200);
    assert_eq!(me.body["role"], "rep");
    as_admin
        .get("/users")
        .await?
        .assert_problem(403, "role_forbidden");
    as_admin
        .get(&format!("/accounts/{}", theirs.id))
        .await?
        .assert_problem(404, "not_found");
    Ok(())
}

#[tokio::test]
async fn reusing_a_refresh_token_ends_that_devices_session_and_no_other() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let phone = app.login("rep_a1", &org.rep_a1.password, "phone").await?;
    let laptop = app.login("rep_a1", &org.rep_a1.password, "laptop").await?;
    let refresh = |token: &str| {
        let api = app.api();
        let body = json!({ "refresh_token": token });
        async move { api.post("/auth/refresh", &body).await }
    };
    let rotated = app.session(
        refresh(&phone.refresh_token)
            .await?
            .ensure_status(200)?
            .json()?,
        "phone",
    );
    rotated.get("/auth/me").await?.assert_status(200);

    refresh(&phone.refresh_token)
        .await?
        .assert_problem(401, "refresh_token_reused");
    rotated
        .get("/auth/me")
        .await?
        .assert_problem(401, "session_revoked");
    refresh(&rotated.refresh_token)
        .await?
        .assert_problem(401, "session_revoked");

    laptop.get("/auth/me").await?.assert_status(200);
    let renewed = app.session(
        refresh(&laptop.refresh_token)
            .await?
            .ensure_status(200)?
            .json()?,
        "laptop",
    );
    renewed.get("/auth/me").await?.assert_status(200);
    Ok(())
}

/// A client whose connections come from `127.0.0.<last>`.
fn client_from(last: u8) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        .build()?)
}

/// Logs in from `client` on the device `device_id`, with `forwarded_for`
/// claimed in `X-Forwarded-For` and `Forwarded` (which the server ignores).
async fn login_on(
    app: &TestApp,
    client: &reqwest::Client,
    username: &str,
    password: &str,
    device_id: &str,
    forwarded_for: Option<&str>,
) -> anyhow::Result<Reply> {
    let mut request = client
        .post(app.api().url("/auth/login"))
        .json(&json!({ "username": username, "password": password, "device_id": device_id }));
    if let Some(address) = forwarded_for {
        request = request
            .header("x-forwarded-for", address)
            .header("forwarded", format!("for={address}"));
    }
    Reply::read(request.send().await?).await
}

/// A wrong password for `username` from `client`: 401 while the pair has
/// tries left, 429 once it must wait.
async fn guess(app: &TestApp, client: &reqwest::Client, username: &str) -> anyhow::Result<Reply> {
    login_on(app, client, username, "guessing-password", "attacker", None).await
}

fn assert_slowed(reply: &Reply) -> anyhow::Result<()> {
    reply.assert_problem(429, "too_many_attempts");
    let retry_after: u64 = reply
        .header("retry-after")
        .ok_or_else(|| anyhow::anyhow!("no Retry-After header"))?
        .parse()?;
    assert!(
        (1..=900).contains(&retry_after),
        "Retry-After: {retry_after}"
    );
    Ok(())
}

#[tokio::test]
async fn guessing_from_one_address_is_slowed_for_that_address_alone() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let attacker = client_from(2)?;
    for _ in 0..5 {
        guess(&app, &attacker, "rep_a1")
            .await?
            .assert_problem(401, "invalid_credentials");
    }
    for _ in 0..10 {
        assert_slowed(&guess(&app, &attacker, "rep_a1").await?)?;
    }
    // The right password from the guessing address waits too, or guessing
    // would go on; a forwarded-for header does not make it another address.
    for forwarded in [None, Some("203.0.113.9")] {
        let reply = login_on(
            &app,
            &attacker,
            "REP_A1",
            &org.rep_a1.password,
            "attacker",
            forwarded,
        )
        .await?;
        assert_slowed(&reply)?;
    }

    // The real user, from anywhere else, logs in with the right password.
    let office = client_from(3)?;
    login_on(&app, &office, "rep_a1", &org.rep_a1.password, "phone", None)
        .await?
        .assert_status(200);
    // So does everyone else behind the guessing address.
    login_on(
        &app,
        &attacker,
        "rep_a2",
        &org.rep_a2.password,
        "phone",
        None,
    )
    .await?
    .assert_status(200);
    Ok(())
}

#[tokio::test]
async fn a_device_that_logged_in_before_gets_in_through_a_distributed_attack() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let office = client_from(3)?;
    login_on(&app, &office, "rep_a1", &org.rep_a1.password, "phone", None)
        .await?
        .assert_status(200);

    // Four addresses spend their free tries on one username: twenty
    // guesses, the username's whole budget for devices it has never seen.
    for last in 10..14 {
        let attacker = client_from(last)?;
        for _ in 0..5 {
            guess(&app, &attacker, "rep_a1")
                .await?
                .assert_problem(401, "invalid_credentials");
        }
    }
    // A device never seen with this username now waits, wherever it is...
    let reply = login_on(
        &app,
        &client_from(20)?,
        "rep_a1",
        &org.rep_a1.password,
        "new-laptop",
        None,
    )
    .await?;
    assert_slowed(&reply)?;
    // ...but the phone that logged in from the office before gets in.
    login_on(&app, &office, "rep_a1", &org.rep_a1.password, "phone", None)
        .await?
        .assert_status(200);
    // And other usernames are not touched.
    login_on(
        &app,
        &client_from(20)?,
        "rep_a2",
        &org.rep_a2.password,
        "phone",
        None,
    )
    .await?
    .assert_status(200);
    Ok(())
}

#[tokio::test]
async fn one_person_failing_behind_a_shared_address_does_not_stop_the_others() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    // A branch office behind one NAT address: one person tries four
    // usernames until each is slowed down.
    let branch_office = client_from(4)?;
    for username in ["rep_b1", "service", "admin", "director"] {
        for _ in 0..5 {
            guess(&app, &branch_office, username)
                .await?
                .assert_problem(401, "invalid_credentials");
        }
        assert_slowed(&guess(&app, &branch_office, username).await?)?;
    }
    // Colleagues at the same address, on devices never seen, log in.
    for user in [&org.rep_a1, &org.rep_a2, &org.manager] {
        login_on(
            &app,
            &branch_office,
            &user.username,
            &user.password,
            "phone",
            None,
        )
        .await?
        .assert_status(200);
    }
    Ok(())
}

#[tokio::test]
async fn spraying_usernames_from_one_address_slows_only_its_unknown_devices() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let shared = client_from(5)?;
    login_on(&app, &shared, "rep_a1", &org.rep_a1.password, "phone", None)
        .await?
        .assert_status(200);
    // Five guesses at each of ten usernames (existing or not): fifty
    // failures from one address, its whole budget.
    for n in 0..10 {
        let username = format!("someone{n:02}");
        for _ in 0..5 {
            guess(&app, &shared, &username)
                .await?
                .assert_problem(401, "invalid_credentials");
        }
    }
    // A device never seen at this address now waits, even with the right
    // password; the phone that logged in here before does not.
    let reply = login_on(
        &app,
        &shared,
        "manager",
        &org.manager.password,
        "phone",
        None,
    )
    .await?;
    assert_slowed(&reply)?;
    login_on(&app, &shared, "rep_a1", &org.rep_a1.password, "phone", None)
        .await?
        .assert_status(200);
    // Another address is not touched.
    login_on(
        &app,
        &client_from(6)?,
        "manager",
        &org.manager.password,
        "phone",
        None,
    )
    .await?
    .assert_status(200);
    Ok(())
}

#[tokio::test]
async fn a_manager_an_account_is_only_shared_with_cannot_take_it_over_by_sync() -> anyhow::Result<()>
{
    let world = World::build().await?;
    let (org, west) = (&world.org, &world.west);
    let account = world.west_records.account;
    let path = format!("/accounts/{account}");
    let admin = world.app.login_as(&org.admin).await?;
    admin
        .patch(&path, &json!({ "shared_with": [org.manager.id] }))
        .await?
        .assert_status(200);

    let mut phone = Device::new(&world.app, &org.manager, "phone").await?;
    phone.sync().await?;
    phone.edit_account(
        account,
        json!({
            "owner_id": org.manager.id,
            "tier": "strategic",
            "shared_with": [org.manager.id, org.rep_a1.id],
            "notes": "taken over",
        }),
    )?;
    let outcome = phone.sync().await?;
    let mut refused: Vec<(&str, Option<&str>)> = outcome
        .notices
        .iter()
        .map(|n| (n.code.as_str(), n.field.as_deref()))
        .collect();
    refused.sort();
    assert_eq!(
        refused,
        [
            ("owner_change_forbidden", Some("owner_id")),
            ("share_change_forbidden", Some("shared_with")),
            ("tier_confirmation_forbidden", Some("tier")),
        ]
    );
    let server: AccountView = admin.get(&path).await?.ensure_status(200)?.json()?;
    assert_eq!(server.account.owner_id.0, west.rep.id);
    assert_eq!(server.account.team_id.map(|t| t.0), Some(west.team));
    let shares: Vec<Uuid> = server.account.shared_with.iter().map(|u| u.0).collect();
    assert_eq!(shares, [org.manager.id]);
    assert_eq!(server.account.tier, None);
    assert_eq!(server.account.notes, "taken over");
    assert_eq!(
        phone.json(account)["owner_id"],
        json!(west.rep.id),
        "the device received the compensation"
    );

    // The manager of its team keeps the right, by sync too.
    let mut manager_phone = Device::new(&world.app, &west.manager, "phone").await?;
    manager_phone.sync().await?;
    manager_phone.edit_account(account, json!({ "shared_with": [] }))?;
    let outcome = manager_phone.sync().await?;
    assert!(outcome.notices.is_empty(), "{:?}", outcome.notices);
    let server: AccountView = admin.get(&path).await?.ensure_status(200)?.json()?;
    assert!(server.account.shared_with.is_empty());
    Ok(())
}
