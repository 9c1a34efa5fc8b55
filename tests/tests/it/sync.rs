//! Offline sync, end to end: real devices (`kam-sync-core`'s `Replica`)
//! against the real server over HTTP.

use automerge::ActorId;
use automerge::transaction::Transactable;
use chrono::Utc;
use kam_server::records::accounts::AccountView;
use kam_server::records::visits::VisitView;
use kam_sync_core::protocol::{Bytes, PushDoc, PushStatus, SyncRequest, SyncResponse};
use kam_sync_core::{Account, RecordKind, Visit};
use kam_tests::{Device, OrgUser, Reply, Session, TestApp, new_account};
use serde_json::{Value, json};
use uuid::Uuid;

/// The record fields of a REST view (bookkeeping removed), to compare with a device's document.
fn fields(view: &AccountView) -> Value {
    serde_json::to_value(&view.account).unwrap_or_default()
}

async fn account_on_server(
    app: &TestApp,
    owner: &OrgUser,
    name: &str,
) -> anyhow::Result<(Session, AccountView)> {
    let session = app.login_as(owner).await?;
    let mut body = new_account(name);
    body["notes"] = json!("Met the CFO.");
    let view = session.create_account(body).await?;
    Ok((session, view))
}

#[tokio::test]
async fn two_devices_editing_one_account_offline_converge_with_the_server() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let (rest, account) = account_on_server(&app, &org.rep_a1, "Shanghai Metro").await?;
    let id = account.id.0;
    let mut phone = Device::new(&app, &org.rep_a1, "phone").await?;
    let mut tablet = Device::new(&app, &org.rep_a1, "tablet").await?;
    phone.sync().await?;
    tablet.sync().await?;
    assert_eq!(phone.json(id), fields(&account));

    phone.edit_account(
        id,
        json!({"stage": "engaging", "notes": "Met the CFO. Budget approved.", "industry": "rail"}),
    )?;
    tablet.edit_account(id, json!({"scores": {"loyalty": 80}, "notes": "Yesterday: Met the CFO.", "industry": "transport"}))?;
    phone.sync().await?;
    tablet.sync().await?;
    phone.sync().await?;

    let server = rest.account(id).await?;
    assert_eq!(phone.json(id), tablet.json(id));
    assert_eq!(phone.json(id), fields(&server));
    assert_eq!(server.account.stage.as_str(), "engaging");
    assert_eq!(server.account.scores.loyalty, Some(80));
    assert_eq!(
        server.account.notes,
        "Yesterday: Met the CFO. Budget approved."
    );
    let industry = server.conflicts.iter().find(|c| c.field == "industry");
    let industry = industry
        .ok_or_else(|| anyhow::anyhow!("no conflict on industry: {:?}", server.conflicts))?;
    let winner = server.account.industry.clone().unwrap_or_default();
    assert_eq!(industry.value, json!(winner));
    let loser = if winner == "rail" {
        "transport"
    } else {
        "rail"
    };
    assert_eq!(industry.others, vec![json!(loser)]);
    Ok(())
}

#[tokio::test]
async fn a_visit_logged_offline_with_check_in_appears_to_the_manager() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let mut body = new_account("Hangzhou Water");
    body["location"] = json!({"lat": 30.2741, "lon": 120.1551});
    let rest = app.login_as(&org.rep_a1).await?;
    let account = rest.create_account(body).await?;
    let mut phone = Device::new(&app, &org.rep_a1, "phone").await?;
    phone.sync().await?;
    let visit_id = Uuid::now_v7();
    let now = Utc::now();
    let visit: Visit = serde_json::from_value(json!({
        "account_id": account.id,
        "owner_id": org.rep_a1.id,
        "planned_at": now,
        "type": "onsite",
        "purpose": "Renewal",
        "status": "in_progress",
        "check_in": {"at": now, "location": {"lat": 30.2745, "lon": 120.1551}},
        "summary": "Talked to the deputy director.",
    }))?;
    let meta = phone.meta();
    phone.replica.create(visit_id, &visit, &meta)?;
    let outcome = phone.sync().await?;
    assert!(outcome.notices.is_empty(), "{:?}", outcome.notices);

    let manager = app.login_as(&org.manager).await?;
    let seen: VisitView = manager
        .get(&format!("/visits/{visit_id}"))
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(seen.visit.summary, "Talked to the deputy director.");
    let distance = seen.check_in_distance_m.unwrap_or(f64::MAX);
    assert!((40.0..50.0).contains(&distance), "distance {distance}");
    assert!(!seen.check_in_too_far);
    Ok(())
}

#[tokio::test]
async fn a_lost_response_is_repaired_by_sending_the_same_request_again() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let (rest, account) = account_on_server(&app, &org.rep_a1, "Ningbo Port").await?;
    let id = account.id.0;
    let mut phone = Device::new(&app, &org.rep_a1, "phone").await?;
    phone.sync().await?;
    phone.edit_account(id, json!({"stage": "engaging"}))?;
    let request = phone.replica.prepare_sync();
    let first: SyncResponse = phone.send(&request).await?.ensure_status(200)?.json()?;
    let version_after_first = rest.account(id).await?.version;
    let again: SyncResponse = phone.send(&request).await?.ensure_status(200)?.json()?;
    assert_eq!(again.pushed[0].status, PushStatus::Unchanged);
    assert_eq!(again.pushed[0].heads, first.pushed[0].heads);
    phone.replica.apply_sync(again)?;
    phone.sync().await?;
    let server = rest.account(id).await?;
    assert_eq!(server.account.stage.as_str(), "engaging");
    assert_eq!(phone.json(id), fields(&server));
    assert_eq!(
        server.version, version_after_first,
        "the retry made no second change"
    );
    Ok(())
}

/// A device whose response was lost never saw why its changes were undone:
/// the repeat must say it again, for an edit and for a record made offline.
#[tokio::test]
async fn a_repeated_push_that_was_corrected_gives_the_same_notices() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let (rest, account) = account_on_server(&app, &org.rep_a1, "Jiangsu Grid").await?;
    let id = account.id.0;
    let mut phone = Device::new(&app, &org.rep_a1, "phone").await?;
    phone.sync().await?;
    phone.edit_account(id, json!({"tier": "key", "stage": "engaging"}))?;
    let made: Account = kam_sync_core::parse_record(json!({
        "name": "Made offline", "segment": "education", "owner_id": org.rep_a1.id, "tier": "strategic",
    }))?;
    let made = phone.create(&made)?;
    let request = phone.replica.prepare_sync();
    let first: SyncResponse = phone.send(&request).await?.ensure_status(200)?.json()?;
    let codes: Vec<(Uuid, &str)> = first
        .notices
        .iter()
        .map(|n| (n.id, n.code.as_str()))
        .collect();
    assert!(
        codes.contains(&(id, "tier_confirmation_forbidden")),
        "{codes:?}"
    );
    assert!(
        codes.contains(&(made, "tier_confirmation_forbidden")),
        "{codes:?}"
    );

    let again: SyncResponse = phone.send(&request).await?.ensure_status(200)?.json()?;
    assert_eq!(again.notices, first.notices, "the repeat says why again");
    assert_eq!(
        again.pushed, first.pushed,
        "the same results, the same heads"
    );
    phone.replica.apply_sync(again)?;
    phone.sync().await?;
    let server = rest.account(id).await?;
    assert_eq!(server.account.tier, None);
    assert_eq!(phone.json(id), fields(&server));
    Ok(())
}

#[tokio::test]
async fn an_account_reassigned_away_is_dropped_and_the_new_owner_receives_it_whole()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let (rest, account) = account_on_server(&app, &org.rep_a1, "BOE Hefei").await?;
    let id = account.id.0;
    let visit = rest
        .post(
            "/visits",
            &json!({"account_id": id, "planned_at": Utc::now(), "type": "phone"}),
        )
        .await?
        .ensure_status(201)?
        .json::<VisitView>()?;
    let mut old_owner = Device::new(&app, &org.rep_a1, "phone-1").await?;
    let mut new_owner = Device::new(&app, &org.rep_a2, "phone-2").await?;
    old_owner.sync().await?;
    new_owner.sync().await?;
    assert!(old_owner.replica.doc(visit.id.0).is_some());
    assert!(new_owner.replica.is_empty());

    let manager = app.login_as(&org.manager).await?;
    manager
        .patch(
            &format!("/accounts/{id}"),
            &json!({"owner_id": org.rep_a2.id}),
        )
        .await?
        .ensure_status(200)?;

    let outcome = old_owner.sync().await?;
    assert!(outcome.dropped.contains(&id), "{outcome:?}");
    assert!(old_owner.replica.doc(id).is_none());
    assert!(
        old_owner.replica.doc(visit.id.0).is_none(),
        "the visit went with its account"
    );

    new_owner.sync().await?;
    let server = manager.account(id).await?;
    assert_eq!(new_owner.json(id), fields(&server));
    assert!(
        new_owner.replica.doc(visit.id.0).is_some(),
        "the visit came with its account"
    );

    manager
        .patch(
            &format!("/accounts/{id}"),
            &json!({"owner_id": org.rep_a1.id}),
        )
        .await?
        .ensure_status(200)?;
    old_owner.sync().await?;
    assert!(
        old_owner.replica.doc(id).is_some(),
        "back in scope, received whole"
    );
    assert!(old_owner.replica.doc(visit.id.0).is_some());
    Ok(())
}

#[tokio::test]
async fn forbidden_offline_changes_are_undone_with_a_notice_and_everyone_converges()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let (rest, account) = account_on_server(&app, &org.rep_a1, "Bank of Jiangsu").await?;
    let id = account.id.0;
    let mut phone = Device::new(&app, &org.rep_a1, "phone").await?;
    phone.sync().await?;
    phone.edit_account(
        id,
        json!({"owner_id": org.rep_a2.id, "tier": "strategic", "stage": "engaging"}),
    )?;
    let meta = phone.meta();
    phone.replica.edit_raw(id, &meta, |doc| {
        doc.put(automerge::ROOT, "segment", "casino")
    })?;
    let outcome = phone.sync().await?;
    let codes: Vec<(&str, Option<&str>)> = outcome
        .notices
        .iter()
        .map(|n| (n.code.as_str(), n.field.as_deref()))
        .collect();
    assert!(
        codes.contains(&("owner_change_forbidden", Some("owner_id"))),
        "{codes:?}"
    );
    assert!(
        codes.contains(&("tier_confirmation_forbidden", Some("tier"))),
        "{codes:?}"
    );
    assert!(
        codes.contains(&("invalid_value", Some("segment"))),
        "{codes:?}"
    );

    let server = rest.account(id).await?;
    assert_eq!(server.account.owner_id.0, org.rep_a1.id);
    assert_eq!(server.account.tier, None);
    assert_eq!(server.account.segment.as_str(), "enterprise");
    assert_eq!(
        server.account.stage.as_str(),
        "engaging",
        "the allowed change stays"
    );
    assert_eq!(
        phone.json(id),
        fields(&server),
        "the device received the compensation"
    );
    Ok(())
}

#[tokio::test]
async fn a_push_to_a_record_outside_the_scope_is_refused_and_changes_nothing() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let (rest, account) = account_on_server(&app, &org.rep_b1, "CPIC").await?;
    let id = account.id.0;
    let mut thief = Device::new(&app, &org.rep_a1, "phone").await?;
    let doc = kam_sync_core::RecordDoc::create(&account.account, ActorId::random(), &thief.meta())?;
    let mut bytes = doc.into_automerge();
    let request = SyncRequest {
        push: vec![PushDoc {
            id,
            kind: RecordKind::Account,
            changes: Bytes(bytes.save()),
        }],
        ..SyncRequest::default()
    };
    let response: SyncResponse = thief.send(&request).await?.ensure_status(200)?.json()?;
    assert_eq!(response.pushed[0].status, PushStatus::Refused);
    assert_eq!(response.notices[0].code, "out_of_scope");
    assert!(response.pull.is_empty());
    assert_eq!(rest.account(id).await?.version, account.version);
    thief.replica.apply_sync(response)?;
    Ok(())
}

fn push_of(id: Uuid, kind: RecordKind, bytes: Vec<u8>) -> SyncRequest {
    SyncRequest {
        push: vec![PushDoc {
            id,
            kind,
            changes: Bytes(bytes),
        }],
        ..SyncRequest::default()
    }
}

#[tokio::test]
async fn bad_automerge_bytes_and_foreign_documents_get_a_problem_and_change_nothing()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let (rest, account) = account_on_server(&app, &org.rep_a1, "SAIC").await?;
    let id = account.id.0;
    let mut phone = Device::new(&app, &org.rep_a1, "phone").await?;
    phone.sync().await?;
    phone.edit_account(id, json!({"stage": "engaging"}))?;
    let good = phone.replica.prepare_sync().push.remove(0).changes.0;

    let mut other =
        kam_sync_core::RecordDoc::create(&account.account, ActorId::random(), &phone.meta())?;
    let foreign = other.automerge_mut().save();
    let truncated = good[..good.len() / 2].to_vec();
    let unknown_changes = {
        let mut fresh = other.automerge_mut().fork();
        let heads = fresh.get_heads();
        fresh.put(automerge::ROOT, "name", "x")?;
        fresh.commit();
        fresh.save_after(&heads)
    };
    for (what, request, status, code) in [
        (
            "garbage",
            push_of(id, RecordKind::Account, b"not automerge".to_vec()),
            400,
            "invalid_automerge",
        ),
        (
            "truncated",
            push_of(id, RecordKind::Account, truncated),
            400,
            "invalid_automerge",
        ),
        (
            "foreign",
            push_of(id, RecordKind::Account, foreign),
            422,
            "foreign_document",
        ),
        (
            "wrong kind",
            push_of(id, RecordKind::Visit, good.clone()),
            422,
            "kind_mismatch",
        ),
        (
            "unknown id",
            push_of(Uuid::now_v7(), RecordKind::Account, unknown_changes),
            422,
            "unknown_document",
        ),
    ] {
        let reply = phone.send(&request).await?;
        assert_eq!(reply.status, status, "{what}: {}", reply.body);
        let violation = reply.body["violations"][0]["code"].as_str();
        assert_eq!(
            reply
                .code()
                .filter(|c| *c != "validation_failed")
                .or(violation),
            Some(code),
            "{what}: {}",
            reply.body
        );
        assert_eq!(
            rest.account(id).await?.version,
            account.version,
            "{what} changed the account"
        );
    }
    let unknown_kind = json!({"push": [{"id": id, "kind": "spaceship", "changes": "AAAA"}]});
    let reply = phone.session.post("/sync", &unknown_kind).await?;
    assert_eq!(reply.status, 422, "{}", reply.body);
    let too_many: Vec<Value> = (0..1001)
        .map(|_| json!({"id": Uuid::now_v7(), "kind": "account", "changes": ""}))
        .collect();
    let reply = phone
        .session
        .post("/sync", &json!({"push": too_many}))
        .await?;
    assert_eq!(reply.status, 413, "{}", reply.body);
    assert_eq!(reply.code(), Some("too_many_documents"));
    // A pull of no documents is no pull: the schema's minimum is 1.
    let reply = phone.session.post("/sync", &json!({"limit": 0})).await?;
    reply.assert_violation("limit", "invalid_value");
    assert_eq!(rest.account(id).await?.version, account.version);
    Ok(())
}

#[tokio::test]
async fn a_first_sync_pages_through_every_document_in_scope() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rest = app.login_as(&org.rep_a1).await?;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(
            rest.create_account(new_account(&format!("Account {i}")))
                .await?
                .id
                .0,
        );
    }
    let other = app.login_as(&org.rep_b1).await?;
    let hidden = other.create_account(new_account("Not yours")).await?.id.0;
    let mut phone = Device::new(&app, &org.rep_a1, "phone").await?;
    let mut pages = 0;
    loop {
        let mut request = phone.replica.prepare_sync();
        request.limit = Some(3);
        let response: SyncResponse = phone.send(&request).await?.ensure_status(200)?.json()?;
        pages += 1;
        if !phone.replica.apply_sync(response)?.has_more {
            break;
        }
    }
    assert!(pages >= 3, "{pages} pages");
    let mut held = phone.replica.ids(RecordKind::Account);
    held.sort();
    ids.sort();
    assert_eq!(held, ids);
    assert!(phone.replica.doc(hidden).is_none());
    Ok(())
}

#[tokio::test]
async fn cbor_requests_get_cbor_responses() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let (_, account) = account_on_server(&app, &org.rep_a1, "Huashan Hospital").await?;
    let phone = Device::new(&app, &org.rep_a1, "phone").await?;
    let mut body = Vec::new();
    ciborium::into_writer(&SyncRequest::default(), &mut body)?;
    let response = phone
        .session
        .request(reqwest::Method::POST, "/sync")
        .header("content-type", "application/cbor")
        .body(body)
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/cbor")
    );
    let decoded: SyncResponse = ciborium::from_reader(&response.bytes().await?[..])?;
    assert_eq!(decoded.pull.len(), 1);
    assert_eq!(decoded.pull[0].id, account.id.0);
    Ok(())
}

/// A CBOR sync request pushing one account, whose `id` and `changes` are
/// the byte strings `wrap` makes of them.
fn cbor_push(
    id: Uuid,
    changes: Vec<u8>,
    wrap: fn(ciborium::Value) -> ciborium::Value,
) -> anyhow::Result<Vec<u8>> {
    use ciborium::Value as Cbor;
    let push = Cbor::Map(vec![
        (
            Cbor::Text("id".into()),
            wrap(Cbor::Bytes(id.as_bytes().to_vec())),
        ),
        (Cbor::Text("kind".into()), Cbor::Text("account".into())),
        (Cbor::Text("changes".into()), wrap(Cbor::Bytes(changes))),
    ]);
    let request = Cbor::Map(vec![(Cbor::Text("push".into()), Cbor::Array(vec![push]))]);
    let mut body = Vec::new();
    ciborium::into_writer(&request, &mut body)?;
    Ok(body)
}

/// JavaScript's `cbor-x` wraps every `Uint8Array` in tag 64 (an RFC 8746
/// typed array) unless told `tagUint8Array: false`; a whole document of
/// some kilobytes is an ordinary first push.
#[tokio::test]
async fn cbor_byte_strings_tagged_as_typed_arrays_or_longer_than_4_kib_are_read()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let phone = Device::new(&app, &org.rep_a1, "phone").await?;
    let rest = app.login_as(&org.rep_a1).await?;
    let long_notes: String = (0..3000)
        .map(|i| format!("{} ", i * 7919 % 10007))
        .collect();
    for (what, notes, wrap) in [
        (
            "tag 64",
            String::new(),
            (|bytes| ciborium::Value::Tag(64, Box::new(bytes))) as fn(_) -> _,
        ),
        ("longer than 4 KiB", long_notes, |bytes| bytes),
    ] {
        let account: Account = kam_sync_core::parse_record(json!({
            "name": what, "segment": "other", "owner_id": org.rep_a1.id, "notes": notes,
        }))?;
        let id = Uuid::now_v7();
        let mut doc = kam_sync_core::RecordDoc::create(&account, ActorId::random(), &phone.meta())?;
        let changes = doc.automerge_mut().save();
        if what != "tag 64" {
            assert!(changes.len() > 4096, "{what}: {} bytes", changes.len());
        }
        let response = phone
            .session
            .request(reqwest::Method::POST, "/sync")
            .header("content-type", "application/cbor")
            .body(cbor_push(id, changes, wrap)?)
            .send()
            .await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        assert_eq!(status, 200, "{what}: {}", String::from_utf8_lossy(&bytes));
        let decoded: SyncResponse = ciborium::from_reader(&bytes[..])?;
        // Corrected: the server fills in the owner's team, with no notice.
        assert_eq!(
            decoded.pushed[0].status,
            PushStatus::Corrected,
            "{what}: {decoded:?}"
        );
        assert!(decoded.notices.is_empty(), "{what}: {decoded:?}");
        assert_eq!(rest.account(id).await?.account.name, what);
    }
    Ok(())
}

/// Writers commit out of order on PostgreSQL: a puller must never move its
/// cursor past a change that is not yet committed. A skipped change shows up
/// either as a change the device cannot apply (it asks for the whole
/// document) or as a document whose heads differ at the end.
#[tokio::test]
async fn the_change_log_has_no_gaps_under_concurrent_writers() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rest = app.login_as(&org.rep_a1).await?;
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(
            rest.create_account(new_account(&format!("Account {i}")))
                .await?
                .id
                .0,
        );
    }
    let mut puller = Device::new(&app, &org.rep_a1, "puller").await?;
    puller.sync().await?;
    let writers: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(w, id)| {
            let session = rest.clone();
            let id = *id;
            tokio::spawn(async move {
                for round in 0..12 {
                    session
                        .patch(
                            &format!("/accounts/{id}"),
                            &json!({"notes": format!("writer {w} round {round}")}),
                        )
                        .await?
                        .ensure_status(200)?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    let mut pulls = 0;
    while writers.iter().any(|w| !w.is_finished()) {
        let request = puller.replica.prepare_sync();
        assert!(
            request.resend.is_empty(),
            "the change log skipped a change: the device had to ask for {:?}",
            request.resend
        );
        let response: SyncResponse = puller.send(&request).await?.ensure_status(200)?.json()?;
        puller.replica.apply_sync(response)?;
        pulls += 1;
    }
    for writer in writers {
        writer.await??;
    }
    let request = puller.replica.prepare_sync();
    assert!(
        request.resend.is_empty(),
        "the change log skipped a change: {:?}",
        request.resend
    );
    puller.sync().await?;
    for id in &ids {
        let server = rest.account(id).await?;
        assert_eq!(
            puller.json(*id),
            fields(&server),
            "account {id} after {pulls} pulls"
        );
    }
    assert!(pulls > 1, "the puller ran while the writers wrote");
    Ok(())
}

#[tokio::test]
async fn a_cursor_from_before_a_compaction_still_works_with_whole_documents() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let (rest, account) = account_on_server(&app, &org.rep_a1, "Zhejiang University").await?;
    let id = account.id.0;
    let mut phone = Device::new(&app, &org.rep_a1, "phone").await?;
    phone.sync().await?;
    for stage in ["engaging", "deepening"] {
        rest.patch(&format!("/accounts/{id}"), &json!({"stage": stage}))
            .await?
            .ensure_status(200)?;
    }
    let done = kam_server::store::log::compact(app.db(), &app.state().cache, 0).await?;
    assert!(done.deleted > 0, "{done:?}");
    rest.patch(
        &format!("/accounts/{id}"),
        &json!({"industry": "education"}),
    )
    .await?
    .ensure_status(200)?;

    let request = phone.replica.prepare_sync();
    let response: SyncResponse = phone.send(&request).await?.ensure_status(200)?.json()?;
    let entry = response
        .pull
        .iter()
        .find(|d| d.id == id)
        .ok_or_else(|| anyhow::anyhow!("not pulled"))?;
    assert!(
        entry.whole,
        "a cursor behind the horizon gets the whole document"
    );
    phone.replica.apply_sync(response)?;
    phone.sync().await?;
    assert_eq!(phone.json(id), fields(&rest.account(id).await?));
    Ok(())
}

#[tokio::test]
async fn a_visit_pushed_before_its_new_account_in_one_request_lands_with_it() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let mut phone = Device::new(&app, &org.rep_a1, "phone").await?;
    phone.sync().await?;
    let meta = phone.meta();
    let account: Account = kam_sync_core::parse_record(
        json!({"name": "Suzhou Park", "segment": "government", "owner_id": org.rep_a1.id}),
    )?;
    let visit_id = Uuid::now_v7();
    let account_id = Uuid::now_v7();
    phone.replica.create(account_id, &account, &meta)?;
    let visit: Visit = kam_sync_core::parse_record(
        json!({"account_id": account_id, "owner_id": org.rep_a1.id, "planned_at": Utc::now(), "type": "onsite"}),
    )?;
    phone.replica.create(visit_id, &visit, &meta)?;
    let mut request = phone.replica.prepare_sync();
    request.push.sort_by_key(|p| p.kind != RecordKind::Visit);
    assert_eq!(
        request.push[0].kind,
        RecordKind::Visit,
        "the visit goes first"
    );
    let response: SyncResponse = phone.send(&request).await?.ensure_status(200)?.json()?;
    assert!(response.notices.is_empty(), "{:?}", response.notices);
    assert_eq!(
        response.pushed[0].id, visit_id,
        "results keep the request's order"
    );
    assert!(
        response
            .pushed
            .iter()
            .all(|p| p.status != PushStatus::Refused),
        "{:?}",
        response.pushed
    );
    Ok(())
}

#[tokio::test]
async fn a_compressed_request_is_read() -> anyhow::Result<()> {
    use std::io::Write;
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let (_, account) = account_on_server(&app, &org.rep_a1, "Nanjing Steel").await?;
    let phone = Device::new(&app, &org.rep_a1, "phone").await?;
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(&serde_json::to_vec(&SyncRequest::default())?)?;
    let response = phone
        .session
        .request(reqwest::Method::POST, "/sync")
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gzip.finish()?)
        .send()
        .await?;
    let reply = Reply::read(response).await?.ensure_status(200)?;
    let decoded: SyncResponse = reply.json()?;
    assert_eq!(decoded.pull[0].id, account.id.0);
    Ok(())
}

#[tokio::test]
async fn a_field_the_server_does_not_know_is_removed_and_sync_carries_on() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let (rest, account) = account_on_server(&app, &org.rep_a1, "Hefei BOE").await?;
    let id = account.id.0;
    let mut phone = Device::new(&app, &org.rep_a1, "phone").await?;
    phone.sync().await?;
    phone.edit_account(id, json!({"stage": "engaging"}))?;
    let meta = phone.meta();
    phone.replica.edit_raw(id, &meta, |doc| {
        doc.put(automerge::ROOT, "favourite_colour", "teal")
    })?;
    let outcome = phone.sync().await?;
    assert!(
        outcome
            .notices
            .iter()
            .any(|n| n.field.as_deref() == Some("favourite_colour")),
        "{:?}",
        outcome.notices
    );
    assert_eq!(phone.json(id), fields(&rest.account(id).await?));
    phone.edit_account(id, json!({"stage": "deepening"}))?;
    phone.sync().await?;
    assert_eq!(rest.account(id).await?.account.stage.as_str(), "deepening");
    Ok(())
}

#[tokio::test]
async fn a_new_record_with_a_field_the_server_does_not_know_is_refused_naming_it()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let mut phone = Device::new(&app, &org.rep_a1, "phone").await?;
    phone.sync().await?;
    let meta = phone.meta();
    let account: Account = kam_sync_core::parse_record(
        json!({"name": "Wuxi Biologics", "segment": "healthcare", "owner_id": org.rep_a1.id}),
    )?;
    let id = Uuid::now_v7();
    phone.replica.create(id, &account, &meta)?;
    phone.replica.edit_raw(id, &meta, |doc| {
        doc.put(automerge::ROOT, "favourite_colour", "teal")
    })?;
    let outcome = phone.sync().await?;
    let named: Vec<_> = outcome
        .notices
        .iter()
        .map(|n| (n.code.as_str(), n.field.as_deref()))
        .collect();
    assert_eq!(named, [("invalid_record", Some("favourite_colour"))]);
    let rest = app.login_as(&org.rep_a1).await?;
    rest.get(&format!("/accounts/{id}"))
        .await?
        .assert_status(404);
    Ok(())
}

#[tokio::test]
async fn after_compacting_everything_the_cursor_still_moves_on() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    account_on_server(&app, &org.rep_a1, "Anhui Transport").await?;
    kam_server::store::log::compact(app.db(), &app.state().cache, 0).await?;
    let mut phone = Device::new(&app, &org.rep_a1, "phone").await?;
    phone.sync().await?;
    let request = phone.replica.prepare_sync();
    let response: SyncResponse = phone.send(&request).await?.ensure_status(200)?.json()?;
    assert!(
        response.pull.is_empty(),
        "nothing new, nothing resent: {:?}",
        response.pull.len()
    );
    Ok(())
}

#[tokio::test]
async fn records_made_before_the_very_first_sync_stay_on_the_device() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rest = app.login_as(&org.rep_a1).await?;
    let existing = rest
        .create_account(new_account("Already on the server"))
        .await?
        .id
        .0;
    let mut phone = Device::new(&app, &org.rep_a1, "phone").await?;
    let meta = phone.meta();
    let mut made = Vec::new();
    let mut made_visits = Vec::new();
    for i in 0..3 {
        let account: Account = kam_sync_core::parse_record(
            json!({"name": format!("Made offline {i}"), "segment": "education", "owner_id": org.rep_a1.id}),
        )?;
        let id = Uuid::now_v7();
        phone.replica.create(id, &account, &meta)?;
        made.push(id);
        // A visit needs no server-kept field, so nothing of it comes back.
        let visit: Visit = kam_sync_core::parse_record(
            json!({"account_id": id, "owner_id": org.rep_a1.id, "planned_at": Utc::now(), "type": "phone"}),
        )?;
        let visit_id = Uuid::now_v7();
        phone.replica.create(visit_id, &visit, &meta)?;
        made_visits.push(visit_id);
    }
    phone.sync().await?;
    for id in &made_visits {
        assert!(
            phone.replica.doc(*id).is_some(),
            "the device dropped its own visit {id}"
        );
    }
    for id in &made {
        assert!(
            phone.replica.doc(*id).is_some(),
            "the device dropped its own {id}"
        );
        assert_eq!(phone.json(*id), fields(&rest.account(id).await?));
    }
    assert!(phone.replica.doc(existing).is_some());
    Ok(())
}

#[tokio::test]
async fn a_document_bringing_too_many_changes_is_refused_whole() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let phone = Device::new(&app, &org.rep_a1, "phone").await?;
    let account: Account = serde_json::from_value(json!({
        "name": "Runaway Client Ltd",
        "segment": "enterprise",
        "owner_id": org.rep_a1.id,
    }))?;
    let mut doc = kam_sync_core::RecordDoc::create(&account, ActorId::random(), &phone.meta())?;
    let runaway = doc.automerge_mut();
    for i in 0..=kam_sync_core::merge::MAX_PUSH_CHANGES {
        runaway.put(
            automerge::ROOT,
            "stage",
            if i % 2 == 0 { "engaging" } else { "identified" },
        )?;
        runaway.commit();
    }
    let id = Uuid::now_v7();
    let reply = phone
        .send(&push_of(id, RecordKind::Account, runaway.save()))
        .await?;
    reply.assert_problem(413, "too_many_changes");
    phone
        .session
        .get(&format!("/accounts/{id}"))
        .await?
        .assert_problem(404, "not_found");
    Ok(())
}
