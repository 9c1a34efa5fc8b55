//! What a push answers, as a client written from docs/sync-protocol.md
//! meets it: the server's corrections of a push come in the same response
//! whatever the page limit (so nothing is pushed twice), an integral float
//! written by Automerge's JavaScript library is read as the integer, and a
//! record made under an account the same push had refused says so.

use automerge::transaction::Transactable;
use automerge::{ROOT, ReadDoc, ScalarValue};
use chrono::Utc;
use kam_server::records::visits::VisitView;
use kam_sync_core::protocol::{PushStatus, SyncResponse};
use kam_sync_core::{Account, Visit};
use kam_tests::{Device, TestApp, new_account};
use serde_json::json;
use std::collections::HashMap;
use uuid::Uuid;

/// Sets `scores.<score>` of an account held by `phone` to a float, as
/// `@automerge/automerge` does for a number in an assigned object literal.
fn put_float_score(phone: &mut Device, id: Uuid, score: &str, value: f64) -> anyhow::Result<()> {
    let meta = phone.meta();
    phone.replica.edit_raw(id, &meta, |doc| {
        let Some((_, scores)) = doc.get(ROOT, "scores")? else {
            return Err(automerge::AutomergeError::InvalidObjId(
                "the account has no scores map".into(),
            ));
        };
        doc.put(&scores, score, ScalarValue::F64(value))
    })?;
    Ok(())
}

/// A new account and a visit under it, made offline by `phone`.
fn account_with_visit(phone: &mut Device, name: &str) -> anyhow::Result<(Uuid, Uuid)> {
    let account: Account = kam_sync_core::parse_record(
        json!({"name": name, "segment": "enterprise", "owner_id": phone.user, "scores": {}}),
    )?;
    let account_id = phone.create(&account)?;
    let visit: Visit = kam_sync_core::parse_record(json!({
        "account_id": account_id, "owner_id": phone.user,
        "planned_at": Utc::now(), "type": "phone",
    }))?;
    let visit_id = phone.create(&visit)?;
    Ok((account_id, visit_id))
}

#[tokio::test]
async fn an_integral_float_is_read_as_the_integer_and_the_visit_under_its_account_lands()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let mut phone = Device::new(&app, &org.rep_a1, "phone").await?;
    phone.sync().await?;
    let (account_id, visit_id) = account_with_visit(&mut phone, "Ningbo Port")?;
    put_float_score(&mut phone, account_id, "loyalty", 0.0)?;
    put_float_score(&mut phone, account_id, "need", 80.0)?;
    let stored = phone
        .replica
        .doc(account_id)
        .map(|doc| doc.to_json()["scores"].clone());
    assert_eq!(
        stored,
        Some(json!({"loyalty": 0.0, "need": 80.0})),
        "the document holds floats"
    );

    let outcome = phone.sync().await?;
    assert!(outcome.notices.is_empty(), "{:?}", outcome.notices);
    let rest = app.login_as(&org.rep_a1).await?;
    let account = rest.account(account_id).await?;
    assert_eq!(account.account.scores.loyalty, Some(0));
    assert_eq!(account.account.scores.need, Some(80));
    rest.get(&format!("/visits/{visit_id}"))
        .await?
        .ensure_status(200)?
        .json::<VisitView>()?;
    Ok(())
}

#[tokio::test]
async fn a_visit_under_an_account_refused_in_the_same_push_is_refused_as_account_refused()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let mut phone = Device::new(&app, &org.rep_a1, "phone").await?;
    phone.sync().await?;
    let (account_id, visit_id) = account_with_visit(&mut phone, "Wuxi Steel")?;
    put_float_score(&mut phone, account_id, "loyalty", 2.5)?;

    let request = phone.replica.prepare_sync();
    let response: SyncResponse = phone.send(&request).await?.ensure_status(200)?.json()?;
    let status: HashMap<Uuid, PushStatus> =
        response.pushed.iter().map(|p| (p.id, p.status)).collect();
    assert_eq!(status.get(&account_id), Some(&PushStatus::Refused));
    assert_eq!(status.get(&visit_id), Some(&PushStatus::Refused));
    let of = |id: Uuid| -> Vec<(String, Option<String>)> {
        response
            .notices
            .iter()
            .filter(|n| n.id == id)
            .map(|n| (n.code.clone(), n.field.clone()))
            .collect()
    };
    assert_eq!(
        of(account_id),
        vec![(
            "invalid_record".to_owned(),
            Some("scores.loyalty".to_owned())
        )]
    );
    assert_eq!(
        of(visit_id),
        vec![("account_refused".to_owned(), Some("account_id".to_owned()))],
        "the visit names its account's refusal, not a scope it is in"
    );
    let rest = app.login_as(&org.rep_a1).await?;
    rest.get(&format!("/visits/{visit_id}"))
        .await?
        .assert_problem(404, "not_found");

    // The account fixed, the next sync brings both in.
    phone.replica.apply_sync(response)?;
    put_float_score(&mut phone, account_id, "loyalty", 3.0)?;
    phone.edit::<Visit>(visit_id, json!({"purpose": "Fix the scores"}))?;
    let outcome = phone.sync().await?;
    assert!(outcome.notices.is_empty(), "{:?}", outcome.notices);
    assert_eq!(
        rest.account(account_id).await?.account.scores.loyalty,
        Some(3)
    );
    rest.get(&format!("/visits/{visit_id}"))
        .await?
        .ensure_status(200)?;
    Ok(())
}

/// A push the server corrects, while the documents that changed since the
/// device's cursor fill many pages: the correction still comes in the
/// response to the push, so a conforming client (here `Replica`) holds the
/// server's heads at once and never pushes the document again.
#[tokio::test]
async fn a_correction_comes_with_its_push_whatever_the_limit_and_nothing_is_pushed_twice()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rest = app.login_as(&org.rep_a1).await?;
    let id = rest.create_account(new_account("Hefei Metro")).await?.id.0;
    let mut phone = Device::new(&app, &org.rep_a1, "phone").await?;
    phone.sync().await?;
    let elsewhere = rest.create_account(new_account("Elsewhere")).await?.id.0;
    for _ in 0..5 {
        rest.post(
            "/visits",
            &json!({"account_id": elsewhere, "planned_at": Utc::now(), "type": "phone"}),
        )
        .await?
        .ensure_status(201)?;
    }
    // A rep may not confirm a tier: the server undoes it.
    phone.edit_account(id, json!({"tier": "strategic", "stage": "engaging"}))?;

    let mut pushes_of_account = 0;
    let mut first = true;
    for _ in 0..50 {
        let mut request = phone.replica.prepare_sync();
        request.limit = Some(1);
        pushes_of_account += request.push.iter().filter(|p| p.id == id).count();
        let response: SyncResponse = phone.send(&request).await?.ensure_status(200)?.json()?;
        if first {
            first = false;
            assert_eq!(response.pushed.len(), 1);
            assert_eq!(response.pushed[0].status, PushStatus::Corrected);
            assert!(
                response.has_more,
                "the page limit left documents for later pages"
            );
            assert!(
                response.pull.iter().any(|doc| doc.id == id),
                "the correction comes with the push: {:?}",
                response.pull.iter().map(|doc| doc.id).collect::<Vec<_>>()
            );
        }
        let outcome = phone.replica.apply_sync(response)?;
        if !outcome.has_more && !phone.replica.needs_sync() {
            break;
        }
    }
    assert_eq!(
        pushes_of_account, 1,
        "the account was pushed once, never again whole"
    );
    let server = rest.account(id).await?;
    assert_eq!(server.account.tier, None);
    assert_eq!(server.account.stage.as_str(), "engaging");
    assert_eq!(
        phone.json(id),
        serde_json::to_value(&server.account)?,
        "the phone holds what the server holds"
    );
    Ok(())
}
