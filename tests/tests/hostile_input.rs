//! Hostile structure from any logged-in user (and before login): documents
//! and bodies nested thousands deep, NUL characters in any text of any body,
//! members sent twice, Automerge bytes that inflate a thousandfold, commit
//! messages of any length. Each is refused with a clear 4xx or a refused
//! push with a notice, changes nothing, and the server carries on.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, ObjType, ROOT};
use kam_sync_core::limits::{MAX_DEPTH, TOO_DEEP};
use kam_sync_core::protocol::{Bytes, PushDoc, PushStatus, SyncRequest, SyncResponse};
use kam_sync_core::{RecordDoc, RecordKind, Ticket, Visit};
use kam_tests::{Method, OrgUser, PROBLEM_JSON, Reply, Session, TestApp, new_account};
use serde_json::{Value, json};
use uuid::Uuid;

/// Nests a map `levels` deep at `key` of the document's root.
fn nest(doc: &mut RecordDoc, key: &str, levels: usize) {
    let doc = doc.automerge_mut();
    let mut at = ROOT;
    let mut name = key;
    for _ in 0..levels {
        at = doc
            .put_object(&at, name, ObjType::Map)
            .unwrap_or_else(|err| panic!("{err}"));
        name = "a";
    }
    doc.commit();
}

/// A device's document of `kind` made from `record`, ready to push.
fn document<R: kam_sync_core::Record>(record: Value, author: &OrgUser) -> RecordDoc {
    let record: R = serde_json::from_value(record).unwrap_or_else(|err| panic!("{err}"));
    let meta = kam_sync_core::ChangeMeta {
        user: Some(author.id.into()),
        device: "phone".into(),
        time: chrono::Utc::now(),
    };
    RecordDoc::create(&record, ActorId::random(), &meta).unwrap_or_else(|err| panic!("{err}"))
}

/// Pushes the changes of one document and returns the reply.
async fn push_reply(
    session: &Session,
    id: Uuid,
    kind: RecordKind,
    changes: Vec<u8>,
) -> anyhow::Result<Reply> {
    let request = SyncRequest {
        push: vec![PushDoc {
            id,
            kind,
            changes: Bytes(changes),
        }],
        ..SyncRequest::default()
    };
    session
        .post("/sync", &serde_json::to_value(&request)?)
        .await
}

/// Pushes the changes of one document and returns the response.
async fn push(
    session: &Session,
    id: Uuid,
    kind: RecordKind,
    changes: Vec<u8>,
) -> anyhow::Result<SyncResponse> {
    push_reply(session, id, kind, changes)
        .await?
        .ensure_status(200)?
        .json()
}

/// Asserts the one pushed document was refused with a `too_deep` notice.
#[track_caller]
fn assert_refused_too_deep(response: &SyncResponse, id: Uuid) {
    assert_eq!(response.pushed.len(), 1);
    assert_eq!(response.pushed[0].id, id);
    assert_eq!(response.pushed[0].status, PushStatus::Refused);
    let notice = response
        .notices
        .iter()
        .find(|n| n.id == id && n.code == TOO_DEEP)
        .unwrap_or_else(|| panic!("no too_deep notice: {:?}", response.notices));
    assert!(
        notice
            .field
            .as_deref()
            .is_some_and(|f| f.starts_with("purpose") || f.starts_with("description")),
        "{notice:?}"
    );
}

async fn assert_alive(app: &TestApp) -> anyhow::Result<()> {
    let reply = app
        .api()
        .send(app.api().http().get(app.api().root_url("/healthz")))
        .await?;
    assert_eq!(reply.status, 200, "{}", reply.body);
    Ok(())
}

fn visit_body(account: impl std::fmt::Display, owner: Uuid) -> Value {
    json!({
        "account_id": account.to_string(),
        "owner_id": owner,
        "planned_at": "2026-12-10T09:00:00Z",
        "type": "onsite",
        "purpose": "Renewal",
    })
}

#[tokio::test]
async fn a_visit_nested_a_thousand_deep_is_refused_too_deep_and_the_server_carries_on()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Deep Water")).await?;
    let mut visit = document::<Visit>(visit_body(account.id, org.rep_a1.id), &org.rep_a1);
    nest(&mut visit, "purpose", 1_000);
    let id = Uuid::now_v7();
    let response = push(&rep, id, RecordKind::Visit, visit.automerge_mut().save()).await?;
    assert_refused_too_deep(&response, id);
    assert_alive(&app).await?;
    rep.get(&format!("/visits/{id}")).await?.assert_status(404);
    Ok(())
}

#[tokio::test]
async fn an_edit_that_nests_a_stored_visit_too_deep_is_refused_and_the_visit_stays()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Deep Water")).await?;
    let mut visit = document::<Visit>(visit_body(account.id, org.rep_a1.id), &org.rep_a1);
    let id = Uuid::now_v7();
    let created = push(&rep, id, RecordKind::Visit, visit.automerge_mut().save()).await?;
    assert_eq!(created.pushed[0].status, PushStatus::Applied);
    let heads = visit.automerge_mut().get_heads();
    nest(&mut visit, "purpose", MAX_DEPTH * 40);
    let edit = visit.automerge_mut().save_after(&heads);
    let response = push(&rep, id, RecordKind::Visit, edit).await?;
    assert_refused_too_deep(&response, id);
    let stored = rep
        .get(&format!("/visits/{id}"))
        .await?
        .ensure_status(200)?;
    assert_eq!(stored.body["purpose"], "Renewal");
    assert_alive(&app).await
}

#[tokio::test]
async fn a_ticket_nested_deep_by_the_service_role_is_refused_too_deep() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let service = app.login_as(&org.service).await?;
    let account = rep.create_account(new_account("Deep Water")).await?;
    let mut ticket = document::<Ticket>(
        json!({
            "account_id": account.id.to_string(),
            "type": "complaint",
            "title": "Readings doubled",
            "severity": "high",
            "description": "Three sites.",
        }),
        &org.service,
    );
    nest(&mut ticket, "description", 1_000);
    let id = Uuid::now_v7();
    let response = push(
        &service,
        id,
        RecordKind::Ticket,
        ticket.automerge_mut().save(),
    )
    .await?;
    assert_refused_too_deep(&response, id);
    assert_alive(&app).await?;
    service
        .get(&format!("/tickets/{id}"))
        .await?
        .assert_status(404);
    Ok(())
}

/// `{"a": {"a": ... "leaf" }}`, `levels` maps deep.
fn nested_json(levels: usize) -> Value {
    let mut value = json!("leaf");
    for _ in 0..levels {
        value = json!({ "a": value });
    }
    value
}

#[tokio::test]
async fn a_body_nested_past_the_bound_is_422_too_deep_on_every_body() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let admin = app.login_as(&org.admin).await?;
    let account = rep.create_account(new_account("Shallow")).await?;
    let deep = nested_json(MAX_DEPTH);

    let mut body = new_account("Deep");
    body["address"] = deep.clone();
    let reply = rep.post("/accounts", &body).await?;
    reply.assert_violation(&format!("address{}", ".a".repeat(MAX_DEPTH - 1)), TOO_DEEP);

    let reply = rep
        .patch(
            &format!("/accounts/{}", account.id),
            &json!({ "address": deep }),
        )
        .await?;
    reply.assert_problem(422, "validation_failed");
    assert_eq!(reply.body["violations"][0]["code"], TOO_DEEP);

    let reply = admin
        .request(Method::PUT, "/admin/settings/tiering")
        .json(&json!({ "weights": nested_json(MAX_DEPTH + 3) }));
    let reply = admin.send(reply).await?;
    reply.assert_problem(422, "validation_failed");
    assert_eq!(reply.body["violations"][0]["code"], TOO_DEEP);

    assert_eq!(rep.list_accounts("").await?.len(), 1, "nothing was made");
    let stored = rep.account(account.id).await?;
    assert_eq!(stored.version, account.version, "nothing was changed");
    Ok(())
}

/// Asserts a 422 naming `field` with `invalid_value`, as a problem.
#[track_caller]
fn assert_nul_refused(reply: &Reply, field: &str) {
    assert_eq!(
        reply.header("content-type"),
        Some(PROBLEM_JSON),
        "{}",
        reply.body
    );
    reply.assert_violation(field, "invalid_value");
}

#[tokio::test]
async fn a_nul_character_in_any_text_of_any_body_is_422_naming_the_field() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let admin = app.login_as(&org.admin).await?;
    let account = rep.create_account(new_account("Clean")).await?;
    let nul = "bad\u{0}text";

    let contract = json!({
        "account_id": account.id.to_string(),
        "number": "HT-2026-001",
        "amount": 1000,
        "notes": "fine",
        "payment_terms": "30 days",
        "currency": "CNY",
    });
    for field in ["number", "notes", "payment_terms", "currency"] {
        let mut body = contract.clone();
        body[field] = json!(nul);
        assert_nul_refused(&rep.post("/contracts", &body).await?, field);
    }
    let contracts = rep.get("/contracts").await?.ensure_status(200)?;
    assert_eq!(contracts.body["items"], json!([]), "no contract was made");

    let user = json!({
        "username": "nul.user",
        "display_name": nul,
        "password": "a-long-enough-password",
        "role": "rep",
        "team_id": org.team_a,
    });
    assert_nul_refused(&admin.post("/users", &user).await?, "display_name");
    let team = json!({ "name": nul, "branch_id": org.branch_id, "manager_ids": [] });
    assert_nul_refused(&admin.post("/teams", &team).await?, "name");
    assert_nul_refused(
        &admin.post("/branches", &json!({ "name": nul })).await?,
        "name",
    );
    let reply = admin
        .patch(
            &format!("/users/{}", org.rep_a2.id),
            &json!({ "display_name": nul }),
        )
        .await?;
    assert_nul_refused(&reply, "display_name");
    let users = admin.get("/users").await?.ensure_status(200)?;
    assert!(
        !users.body.to_string().contains("\\u0000"),
        "{}",
        users.body
    );
    let branches = admin.get("/branches").await?.ensure_status(200)?;
    assert_eq!(branches.body.as_array().map(Vec::len), Some(1));

    let anonymous = app.api();
    let login = |username: &str, device: &str| json!({ "username": username, "password": org.rep_a1.password, "device_id": device });
    let reply = anonymous
        .post(
            "/auth/login",
            &login(&format!("{}\u{0}", org.rep_a1.username), "phone"),
        )
        .await?;
    assert_nul_refused(&reply, "username");
    let reply = anonymous
        .post("/auth/login", &login(&org.rep_a1.username, "phone\u{0}"))
        .await?;
    assert_nul_refused(&reply, "device_id");
    let sessions = admin
        .get(&format!("/users/{}/sessions", org.rep_a1.id))
        .await?
        .ensure_status(200)?;
    assert_eq!(
        sessions.body.as_array().map(Vec::len),
        Some(1),
        "no session was opened: {}",
        sessions.body
    );
    Ok(())
}

#[tokio::test]
async fn a_member_sent_twice_is_400_duplicate_member() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Once")).await?;
    let send = |method: Method, path: String, body: &'static str| {
        let request = rep
            .request(method, &path)
            .header("content-type", "application/json")
            .body(body);
        rep.send(request)
    };
    let bodies: [(Method, String, &str); 4] = [
        (
            Method::POST,
            "/accounts".into(),
            r#"{"name": "A", "name": "B", "segment": "enterprise"}"#,
        ),
        (
            Method::POST,
            "/accounts".into(),
            r#"{"name": "A", "segment": "enterprise", "address": {"city": "x", "city": "y"}}"#,
        ),
        (
            Method::PATCH,
            format!("/accounts/{}", account.id),
            r#"{"name": "A", "name": "B"}"#,
        ),
        (
            Method::POST,
            "/sync".into(),
            r#"{"limit": 10, "limit": 20}"#,
        ),
    ];
    for (method, path, body) in bodies {
        let reply = send(method.clone(), path.clone(), body).await?;
        reply.assert_problem(400, "duplicate_member");
        assert!(
            reply.body["detail"]
                .as_str()
                .is_some_and(|d| d.contains('`')),
            "{}",
            reply.body
        );
    }
    let reply = app
        .api()
        .send(
            app.api()
                .request(Method::POST, "/auth/login")
                .header("content-type", "application/json")
                .body(r#"{"username": "x", "username": "y", "password": "p"}"#),
        )
        .await?;
    reply.assert_problem(400, "duplicate_member");
    assert_eq!(rep.list_accounts("").await?.len(), 1);
    assert_eq!(rep.account(account.id).await?.version, account.version);
    Ok(())
}

const MIB: usize = 1024 * 1024;

/// Adds a change to `doc` whose commit message is `size` bytes of one
/// character (it also renames the purpose, so the change is not empty).
fn commit_with_message(doc: &mut RecordDoc, size: usize) {
    let doc = doc.automerge_mut();
    doc.put(ROOT, "purpose", "Renewal, again")
        .unwrap_or_else(|err| panic!("{err}"));
    doc.commit_with(CommitOptions::default().with_message("a".repeat(size)));
}

/// This process's memory in KiB: resident now, and the most resident since
/// [`reset_peak_memory`].
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/self/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Starts counting the peak resident memory afresh (Linux: writing 5 to
/// `clear_refs` resets `VmHWM`).
fn reset_peak_memory() {
    std::fs::write("/proc/self/clear_refs", "5")
        .unwrap_or_else(|err| panic!("cannot reset the peak memory: {err}"));
}

/// How far the server's memory (it runs in this process) rose above where
/// it stood while it answered `request`, in MiB.
async fn memory_rise_mib<T>(request: impl std::future::Future<Output = T>) -> (u64, T) {
    reset_peak_memory();
    let (before, _) = memory_kib();
    let result = request.await;
    let (_, peak) = memory_kib();
    (peak.saturating_sub(before) / 1024, result)
}

#[tokio::test]
async fn automerge_bytes_that_inflate_past_the_bound_are_413_too_large_decoded_without_inflating()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Bombs Away")).await?;

    // A new visit pushed whole: a document chunk whose message column
    // is deflated from 256 MiB to a few hundred KiB.
    let mut visit = document::<Visit>(visit_body(account.id, org.rep_a1.id), &org.rep_a1);
    commit_with_message(&mut visit, 256 * MIB);
    let whole = visit.automerge_mut().save();
    drop(visit);
    assert!(whole.len() < MIB, "{} bytes on the wire", whole.len());
    let id = Uuid::now_v7();
    let (rise, reply) = memory_rise_mib(push_reply(&rep, id, RecordKind::Visit, whole)).await;
    let reply = reply?;
    reply.assert_problem(413, "too_large_decoded");
    assert!(rise < 64, "the server's memory rose {rise} MiB");
    rep.get(&format!("/visits/{id}")).await?.assert_status(404);

    // An edit of a stored visit: a compressed change chunk of 256 MiB.
    let mut visit = document::<Visit>(visit_body(account.id, org.rep_a1.id), &org.rep_a1);
    let id = Uuid::now_v7();
    let created = push(&rep, id, RecordKind::Visit, visit.automerge_mut().save()).await?;
    assert_eq!(created.pushed[0].status, PushStatus::Applied);
    commit_with_message(&mut visit, 256 * MIB);
    let mut change = visit
        .automerge_mut()
        .get_last_local_change()
        .ok_or_else(|| anyhow::anyhow!("no change"))?;
    let compressed = change.bytes().into_owned();
    drop((change, visit));
    assert!(compressed.len() < MIB, "{} bytes", compressed.len());
    let (rise, reply) = memory_rise_mib(push_reply(&rep, id, RecordKind::Visit, compressed)).await;
    let reply = reply?;
    reply.assert_problem(413, "too_large_decoded");
    assert!(rise < 64, "the server's memory rose {rise} MiB");
    let stored = rep
        .get(&format!("/visits/{id}"))
        .await?
        .ensure_status(200)?;
    assert_eq!(stored.body["purpose"], "Renewal", "nothing was changed");
    assert_alive(&app).await
}

#[tokio::test]
async fn a_change_whose_commit_message_is_longer_than_4_kib_is_refused_message_too_long()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Long Winded")).await?;

    let mut visit = document::<Visit>(visit_body(account.id, org.rep_a1.id), &org.rep_a1);
    commit_with_message(&mut visit, 4 * 1024 + 1);
    let new_id = Uuid::now_v7();
    let response = push(
        &rep,
        new_id,
        RecordKind::Visit,
        visit.automerge_mut().save(),
    )
    .await?;
    assert_refused_message_too_long(&response, new_id);
    rep.get(&format!("/visits/{new_id}"))
        .await?
        .assert_status(404);

    let mut visit = document::<Visit>(visit_body(account.id, org.rep_a1.id), &org.rep_a1);
    let id = Uuid::now_v7();
    let created = push(&rep, id, RecordKind::Visit, visit.automerge_mut().save()).await?;
    assert_eq!(created.pushed[0].status, PushStatus::Applied);
    let heads = visit.automerge_mut().get_heads();
    commit_with_message(&mut visit, 64 * 1024);
    let edit = visit.automerge_mut().save_after(&heads);
    let response = push(&rep, id, RecordKind::Visit, edit).await?;
    assert_refused_message_too_long(&response, id);
    let stored = rep
        .get(&format!("/visits/{id}"))
        .await?
        .ensure_status(200)?;
    assert_eq!(stored.body["purpose"], "Renewal", "nothing was changed");

    // A message of exactly 4 KiB is taken.
    let mut fresh = document::<Visit>(visit_body(account.id, org.rep_a1.id), &org.rep_a1);
    commit_with_message(&mut fresh, 4 * 1024);
    let fresh_id = Uuid::now_v7();
    let response = push(
        &rep,
        fresh_id,
        RecordKind::Visit,
        fresh.automerge_mut().save(),
    )
    .await?;
    assert_eq!(
        response.pushed[0].status,
        PushStatus::Applied,
        "{response:?}"
    );
    Ok(())
}

/// Asserts the one pushed document was refused with a `message_too_long`
/// notice.
#[track_caller]
fn assert_refused_message_too_long(response: &SyncResponse, id: Uuid) {
    assert_eq!(response.pushed.len(), 1);
    assert_eq!(
        response.pushed[0].status,
        PushStatus::Refused,
        "{response:?}"
    );
    assert!(
        response
            .notices
            .iter()
            .any(|n| n.id == id && n.code == "message_too_long"),
        "no message_too_long notice: {:?}",
        response.notices
    );
}
