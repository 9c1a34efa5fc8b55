//! The key-account lifecycle and tiering: stage moves over REST and sync,
//! risk and lost reasons, accounts won back, scores and suggested tiers
//! under default and changed weights, the admin's tiering settings, and the
//! tier proposal a manager confirms or turns down.

use automerge::ActorId;
use chrono::Utc;
use kam_server::records::accounts::AccountView;
use kam_server::records::page::Page;
use kam_sync_core::{Account, ChangeMeta, Replica, SyncOutcome};
use kam_tests::{OrgUser, Session, TestApp, new_account};
use serde_json::{Value, json};
use uuid::Uuid;

/// A phone: a login session and a replica.
struct Device {
    session: Session,
    replica: Replica,
    user: Uuid,
}

impl Device {
    async fn new(app: &TestApp, user: &OrgUser) -> anyhow::Result<Self> {
        // Its own device id: a second login from one device ends the first.
        let session = app
            .login(&user.username, &user.password, "offline-phone")
            .await?;
        Ok(Self {
            session,
            replica: Replica::new(ActorId::random()),
            user: user.id,
        })
    }

    /// Syncs until nothing more is waiting; returns every notice.
    async fn sync(&mut self) -> anyhow::Result<SyncOutcome> {
        let mut total = SyncOutcome::default();
        for _ in 0..100 {
            let request = serde_json::to_value(self.replica.prepare_sync())?;
            let response = self
                .session
                .post("/sync", &request)
                .await?
                .ensure_status(200)?
                .json()?;
            let outcome = self.replica.apply_sync(response)?;
            total.notices.extend(outcome.notices);
            if !outcome.has_more && !self.replica.needs_sync() {
                return Ok(total);
            }
        }
        anyhow::bail!("sync did not settle")
    }

    fn edit_account(&mut self, id: Uuid, patch: Value) -> anyhow::Result<()> {
        let meta = ChangeMeta {
            user: Some(self.user.into()),
            device: self.session.device_id.clone(),
            time: Utc::now(),
        };
        self.replica
            .edit::<Account>(id, &patch.as_object().cloned().unwrap_or_default(), &meta)?;
        Ok(())
    }

    fn account(&self, id: Uuid) -> anyhow::Result<Account> {
        Ok(self.replica.read::<Account>(id)?)
    }
}

async fn patch(
    session: &Session,
    id: impl std::fmt::Display,
    body: Value,
) -> anyhow::Result<AccountView> {
    session.patched(&format!("/accounts/{id}"), &body).await
}

fn stage(view: &AccountView) -> &'static str {
    view.account.stage.as_str()
}

fn names(views: &[AccountView]) -> Vec<String> {
    let mut names: Vec<String> = views.iter().map(|v| v.account.name.clone()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_rep_moves_an_account_forward_one_stage_at_a_time() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Ningbo Port")).await?;
    assert_eq!(stage(&account), "identified");
    for next in ["engaging", "deepening", "maintaining"] {
        let moved = patch(&rep, account.id, json!({ "stage": next })).await?;
        assert_eq!(stage(&moved), next);
    }
    Ok(())
}

#[tokio::test]
async fn a_rep_cannot_skip_or_step_back_a_stage_but_a_manager_corrects_it() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let manager = app.login_as(&org.manager).await?;
    let account = rep.create_account(new_account("Suzhou Steel")).await?;
    let path = format!("/accounts/{}", account.id);

    let skip = rep.patch(&path, &json!({ "stage": "deepening" })).await?;
    skip.assert_problem(422, "invalid_stage_move");
    let detail = skip.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("identified") && detail.contains("deepening"),
        "the problem names both stages: {detail}"
    );
    rep.patch(&path, &json!({ "stage": "lost", "lost_reason": "gone" }))
        .await?
        .assert_problem(422, "invalid_stage_move");
    assert_eq!(stage(&rep.account(account.id).await?), "identified");

    let corrected = patch(&manager, account.id, json!({ "stage": "deepening" })).await?;
    assert_eq!(stage(&corrected), "deepening", "a manager may skip a stage");
    let back = patch(&manager, account.id, json!({ "stage": "engaging" })).await?;
    assert_eq!(stage(&back), "engaging", "and step one back");
    rep.patch(&path, &json!({ "stage": "identified" }))
        .await?
        .assert_problem(422, "invalid_stage_move");
    Ok(())
}

#[tokio::test]
async fn moving_to_at_risk_needs_reasons_and_to_lost_a_lost_reason() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let mut body = new_account("Wuxi Textiles");
    body["stage"] = json!("maintaining");
    let account = rep.create_account(body).await?;
    let path = format!("/accounts/{}", account.id);

    let bare = rep.patch(&path, &json!({ "stage": "at_risk" })).await?;
    bare.assert_problem(422, "validation_failed");
    assert_eq!(bare.violated_fields(), ["risk_reasons"]);
    rep.patch(
        &path,
        &json!({ "stage": "at_risk", "risk_reasons": ["  "] }),
    )
    .await?
    .assert_problem(422, "validation_failed");

    let reasons = ["no visit in 60 days", "complaint past its SLA"];
    let at_risk = patch(
        &rep,
        account.id,
        json!({ "stage": "at_risk", "risk_reasons": reasons }),
    )
    .await?;
    assert_eq!(stage(&at_risk), "at_risk");
    assert_eq!(at_risk.account.risk_reasons, reasons);

    let no_reason = rep.patch(&path, &json!({ "stage": "lost" })).await?;
    no_reason.assert_problem(422, "validation_failed");
    assert_eq!(no_reason.violated_fields(), ["lost_reason"]);
    let lost = patch(
        &rep,
        account.id,
        json!({ "stage": "lost", "lost_reason": "signed with a competitor" }),
    )
    .await?;
    assert_eq!(stage(&lost), "lost");
    assert_eq!(
        lost.account.lost_reason.as_deref(),
        Some("signed with a competitor")
    );
    assert_eq!(
        lost.account.risk_reasons, reasons,
        "the warning stays on record"
    );
    Ok(())
}

#[tokio::test]
async fn winning_an_account_back_is_counted_and_clears_the_churn_reasons() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let mut body = new_account("Hefei Glass");
    body["stage"] = json!("maintaining");
    let account = rep.create_account(body).await?;
    assert_eq!(account.account.won_back_count, 0);
    assert_eq!(account.account.won_back_at, None);

    patch(
        &rep,
        account.id,
        json!({ "stage": "at_risk", "risk_reasons": ["budget cut"] }),
    )
    .await?;
    patch(
        &rep,
        account.id,
        json!({ "stage": "lost", "lost_reason": "frozen budget" }),
    )
    .await?;
    let before = Utc::now();
    let won = patch(&rep, account.id, json!({ "stage": "maintaining" })).await?;
    assert_eq!(stage(&won), "maintaining");
    assert_eq!(won.account.won_back_count, 1);
    assert!(won.account.won_back_at.is_some_and(|at| at >= before));
    assert!(won.account.risk_reasons.is_empty());
    assert_eq!(won.account.lost_reason, None);

    patch(
        &rep,
        account.id,
        json!({ "stage": "at_risk", "risk_reasons": ["new competitor"] }),
    )
    .await?;
    let again = patch(&rep, account.id, json!({ "stage": "maintaining" })).await?;
    assert_eq!(again.account.won_back_count, 2, "won back from at_risk too");
    assert_eq!(rep.account(account.id).await?.account.won_back_count, 2);
    Ok(())
}

#[tokio::test]
async fn nobody_writes_the_won_back_record_or_a_tier_rejection_by_hand() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let manager = app.login_as(&org.manager).await?;
    let account = rep.create_account(new_account("Jinan Rail")).await?;
    let path = format!("/accounts/{}", account.id);
    for (session, body, field) in [
        (&rep, json!({ "won_back_count": 3 }), "won_back_count"),
        (
            &manager,
            json!({ "won_back_at": Utc::now() }),
            "won_back_at",
        ),
        (
            &manager,
            json!({ "tier_rejection": { "tier": "key", "reason": "no", "at": Utc::now() } }),
            "tier_rejection",
        ),
    ] {
        let reply = session.patch(&path, &body).await?;
        reply.assert_problem(422, "validation_failed");
        assert_eq!(reply.violated_fields(), [field]);
    }
    let mut body = new_account("Pre-won");
    body["won_back_count"] = json!(1);
    rep.post("/accounts", &body)
        .await?
        .assert_problem(422, "validation_failed");
    Ok(())
}

#[tokio::test]
async fn a_stage_move_refused_over_sync_is_undone_with_a_notice() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rest = app.login_as(&org.rep_a1).await?;
    let account = rest.create_account(new_account("Xiamen Airlines")).await?;
    let id = account.id.0;
    let mut phone = Device::new(&app, &org.rep_a1).await?;
    phone.sync().await?;

    phone.edit_account(
        id,
        json!({ "stage": "maintaining", "industry": "aviation" }),
    )?;
    let outcome = phone.sync().await?;
    let codes: Vec<(&str, Option<&str>)> = outcome
        .notices
        .iter()
        .map(|n| (n.code.as_str(), n.field.as_deref()))
        .collect();
    assert_eq!(codes, [("invalid_stage_move", Some("stage"))]);
    let server = rest.account(id).await?;
    assert_eq!(stage(&server), "identified", "the server undid the move");
    assert_eq!(
        server.account.industry.as_deref(),
        Some("aviation"),
        "the allowed change stays"
    );
    assert_eq!(phone.account(id)?, server.account, "the device converged");

    phone.edit_account(id, json!({ "stage": "engaging" }))?;
    assert!(phone.sync().await?.notices.is_empty());
    phone.edit_account(id, json!({ "stage": "at_risk" }))?;
    let outcome = phone.sync().await?;
    assert!(
        outcome
            .notices
            .iter()
            .any(|n| n.code == "required" && n.field.as_deref() == Some("stage")),
        "{:?}",
        outcome.notices
    );
    let server = rest.account(id).await?;
    assert_eq!(
        stage(&server),
        "engaging",
        "at_risk without reasons was undone"
    );
    assert_eq!(phone.account(id)?, server.account);
    Ok(())
}

#[tokio::test]
async fn winning_back_over_sync_is_recorded_by_the_server() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rest = app.login_as(&org.rep_a1).await?;
    let mut body = new_account("Qingdao Beer");
    body["stage"] = json!("maintaining");
    let account = rest.create_account(body).await?;
    let id = account.id.0;
    patch(
        &rest,
        id,
        json!({ "stage": "at_risk", "risk_reasons": ["price war"] }),
    )
    .await?;
    let mut phone = Device::new(&app, &org.rep_a1).await?;
    phone.sync().await?;
    phone.edit_account(id, json!({ "stage": "maintaining" }))?;
    let outcome = phone.sync().await?;
    assert!(outcome.notices.is_empty(), "{:?}", outcome.notices);
    let server = rest.account(id).await?;
    assert_eq!(server.account.won_back_count, 1);
    assert!(server.account.won_back_at.is_some());
    assert!(server.account.risk_reasons.is_empty());
    assert_eq!(
        phone.account(id)?,
        server.account,
        "the device got the record"
    );
    Ok(())
}

/// Scores whose default rating (weights 25/25/15/15/20) is 90, strategic.
fn strong() -> Value {
    json!({ "need": 90, "purchasing_power": 90, "loyalty": 90, "size": 90, "strategic_value": 90 })
}

async fn scored(session: &Session, name: &str, scores: Value) -> anyhow::Result<AccountView> {
    let mut body = new_account(name);
    body["scores"] = scores;
    session.create_account(body).await
}

#[tokio::test]
async fn every_account_view_shows_its_score_and_suggested_tier() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let strong = scored(&rep, "Strong", strong()).await?;
    assert_eq!(strong.score, Some(90));
    assert_eq!(strong.suggested_tier.map(|t| t.as_str()), Some("strategic"));
    // (25 * 70 + 25 * 50) / 50: a score not given counts for nothing.
    let middling = scored(
        &rep,
        "Middling",
        json!({ "need": 70, "purchasing_power": 50 }),
    )
    .await?;
    assert_eq!(middling.score, Some(60));
    assert_eq!(middling.suggested_tier.map(|t| t.as_str()), Some("key"));
    let unscored = rep.create_account(new_account("Unscored")).await?;
    assert_eq!((unscored.score, unscored.suggested_tier), (None, None));
    let raw = rep.get(&format!("/accounts/{}", unscored.id)).await?;
    assert_eq!(raw.body["score"], Value::Null);
    assert_eq!(raw.body["suggested_tier"], Value::Null);

    let weak = patch(&rep, middling.id, json!({ "scores": { "need": 20 } })).await?;
    assert_eq!(weak.score, Some(35));
    assert_eq!(weak.suggested_tier.map(|t| t.as_str()), Some("standard"));
    assert_eq!(rep.account(middling.id).await?.score, Some(35));

    assert_eq!(
        names(&rep.list_accounts("suggested_tier=strategic").await?),
        ["Strong"]
    );
    assert_eq!(
        names(&rep.list_accounts("min_score=30").await?),
        ["Middling", "Strong"]
    );
    assert_eq!(
        names(&rep.list_accounts("min_score=91").await?),
        Vec::<String>::new()
    );
    rep.get("/accounts?suggested_tier=gold")
        .await?
        .assert_problem(400, "invalid_query");
    Ok(())
}

fn loyalty_only() -> Value {
    json!({
        "weights": { "need": 0, "purchasing_power": 0, "loyalty": 1, "size": 0, "strategic_value": 0 },
        "thresholds": { "strategic": 50, "key": 30 },
    })
}

#[tokio::test]
async fn changing_the_weights_rescores_every_account() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let admin = app.login_as(&org.admin).await?;
    let defaults = admin
        .get("/admin/settings/tiering")
        .await?
        .ensure_status(200)?;
    assert_eq!(defaults.body["weights"]["need"], json!(25.0));
    assert_eq!(
        defaults.body["thresholds"],
        json!({ "strategic": 80, "key": 60 })
    );
    let strong = scored(&rep, "Strong", strong()).await?;
    let no_loyalty = scored(
        &rep,
        "No loyalty",
        json!({ "need": 70, "purchasing_power": 50 }),
    )
    .await?;
    let loyal = scored(&rep, "Loyal", json!({ "loyalty": 40 })).await?;
    assert_eq!(loyal.suggested_tier.map(|t| t.as_str()), Some("standard"));

    let changed = admin
        .request(kam_tests::Method::PUT, "/admin/settings/tiering")
        .json(&loyalty_only());
    let changed = admin.send(changed).await?.ensure_status(200)?;
    assert_eq!(changed.body["rescored"], json!(2), "{}", changed.body);
    assert_eq!(changed.body["settings"]["thresholds"]["key"], json!(30));
    let read = admin
        .get("/admin/settings/tiering")
        .await?
        .ensure_status(200)?;
    assert_eq!(read.body["weights"]["loyalty"], json!(1.0));

    let loyal = rep.account(loyal.id).await?;
    assert_eq!(loyal.score, Some(40));
    assert_eq!(loyal.suggested_tier.map(|t| t.as_str()), Some("key"));
    let no_loyalty = rep.account(no_loyalty.id).await?;
    assert_eq!((no_loyalty.score, no_loyalty.suggested_tier), (None, None));
    assert_eq!(rep.account(strong.id).await?.score, Some(90));
    assert_eq!(
        names(&rep.list_accounts("suggested_tier=key").await?),
        ["Loyal"]
    );

    // New writes are scored with the stored settings too.
    let fresh = scored(&rep, "Fresh", json!({ "need": 100, "loyalty": 10 })).await?;
    assert_eq!(fresh.score, Some(10));
    Ok(())
}

#[tokio::test]
async fn only_an_admin_reads_or_changes_the_tiering_settings() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    for user in [&org.director, &org.manager, &org.rep_a1, &org.service] {
        let session = app.login_as(user).await?;
        session
            .get("/admin/settings/tiering")
            .await?
            .assert_problem(403, "role_forbidden");
        let put = session
            .request(kam_tests::Method::PUT, "/admin/settings/tiering")
            .json(&loyalty_only());
        session
            .send(put)
            .await?
            .assert_problem(403, "role_forbidden");
    }
    app.api()
        .get("/admin/settings/tiering")
        .await?
        .assert_problem(401, "missing_token");
    Ok(())
}

#[tokio::test]
async fn bad_tiering_settings_are_refused_and_change_nothing() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let admin = app.login_as(&org.admin).await?;
    let put = |body: Value| {
        let request = admin
            .request(kam_tests::Method::PUT, "/admin/settings/tiering")
            .json(&body);
        admin.send(request)
    };
    let mut negative = loyalty_only();
    negative["weights"]["need"] = json!(-1);
    let mut all_zero = loyalty_only();
    all_zero["weights"]["loyalty"] = json!(0);
    let mut inverted = loyalty_only();
    inverted["thresholds"] = json!({ "strategic": 40, "key": 40 });
    let mut too_high = loyalty_only();
    too_high["thresholds"] = json!({ "strategic": 101, "key": 40 });
    for (body, field) in [
        (negative, "weights.need"),
        (all_zero, "weights"),
        (inverted, "thresholds.strategic"),
        (too_high, "thresholds.strategic"),
    ] {
        let reply = put(body).await?;
        reply.assert_problem(422, "validation_failed");
        assert_eq!(reply.violated_fields(), [field], "{}", reply.body);
    }
    let mut missing = loyalty_only();
    missing["weights"] = json!({ "need": 1 });
    put(missing).await?.assert_problem(422, "invalid_body");
    let mut unknown = loyalty_only();
    unknown["weights"]["charm"] = json!(1);
    put(unknown).await?.assert_problem(422, "invalid_body");
    let malformed = admin
        .request(kam_tests::Method::PUT, "/admin/settings/tiering")
        .header("content-type", "application/json")
        .body("{\"weights\":");
    admin
        .send(malformed)
        .await?
        .assert_problem(400, "malformed_json");
    let read = admin
        .get("/admin/settings/tiering")
        .await?
        .ensure_status(200)?;
    assert_eq!(read.body["weights"]["need"], json!(25.0), "nothing changed");
    Ok(())
}

async fn proposals(session: &Session) -> anyhow::Result<Page<AccountView>> {
    session.read("/tier-proposals").await
}

#[tokio::test]
async fn a_manager_confirms_a_proposed_tier_from_the_proposals_list() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let manager = app.login_as(&org.manager).await?;
    let account = scored(&rep, "Rising", strong()).await?;
    rep.create_account(new_account("Quiet")).await?;
    let proposed = patch(&rep, account.id, json!({ "proposed_tier": "strategic" })).await?;
    assert_eq!(proposed.account.tier, None);

    let waiting = proposals(&manager).await?;
    assert_eq!(names(&waiting.items), ["Rising"]);
    assert_eq!(waiting.items[0].score, Some(90));
    assert_eq!(
        waiting.items[0].suggested_tier.map(|t| t.as_str()),
        Some("strategic")
    );
    assert_eq!(
        names(&proposals(&app.login_as(&org.director).await?).await?.items),
        ["Rising"]
    );

    let path = format!("/accounts/{}/tier/confirm", account.id);
    let reply = manager
        .send(
            manager
                .request(kam_tests::Method::POST, &path)
                .header("if-match", format!("\"{}\"", proposed.version)),
        )
        .await?
        .ensure_status(200)?;
    let confirmed: AccountView = reply.json()?;
    assert_eq!(
        confirmed.account.tier.map(|t| t.as_str()),
        Some("strategic")
    );
    assert_eq!(confirmed.account.proposed_tier, None);
    assert_eq!(
        reply.header("etag"),
        Some(format!("\"{}\"", confirmed.version).as_str())
    );
    assert!(proposals(&manager).await?.items.is_empty());
    manager
        .post(&path, &json!({}))
        .await?
        .assert_problem(409, "no_tier_proposal");
    Ok(())
}

#[tokio::test]
async fn a_manager_turns_a_proposal_down_with_a_reason() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let manager = app.login_as(&org.manager).await?;
    let mut body = new_account("Hopeful");
    body["proposed_tier"] = json!("key");
    let account = rep.create_account(body).await?;
    let path = format!("/accounts/{}/tier/reject", account.id);
    for reason in ["", "   "] {
        let reply = manager.post(&path, &json!({ "reason": reason })).await?;
        reply.assert_problem(422, "validation_failed");
        assert_eq!(reply.violated_fields(), ["reason"]);
    }
    manager
        .post(&path, &json!({ "reason": "x".repeat(501) }))
        .await?
        .assert_problem(422, "validation_failed");
    manager
        .post(&path, &json!({}))
        .await?
        .assert_problem(422, "invalid_body");

    let rejected: AccountView = manager
        .post(
            &path,
            &json!({ "reason": "revenue below the key threshold" }),
        )
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(rejected.account.proposed_tier, None);
    assert_eq!(rejected.account.tier, None);
    let rejection = rejected
        .account
        .tier_rejection
        .ok_or_else(|| anyhow::anyhow!("no rejection recorded"))?;
    assert_eq!(rejection.tier.as_str(), "key");
    assert_eq!(rejection.reason, "revenue below the key threshold");
    assert_eq!(rejection.by.map(|u| u.0), Some(org.manager.id));
    assert!(proposals(&manager).await?.items.is_empty());
    manager
        .post(&path, &json!({ "reason": "again" }))
        .await?
        .assert_problem(409, "no_tier_proposal");
    let read = rep.account(account.id).await?;
    assert_eq!(
        read.account.tier_rejection.map(|r| r.reason),
        Some("revenue below the key threshold".to_owned()),
        "the rep reads why"
    );
    Ok(())
}

#[tokio::test]
async fn reps_and_service_cannot_decide_tiers_and_others_accounts_are_not_found()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let mut body = new_account("Proposed");
    body["proposed_tier"] = json!("strategic");
    let account = rep.create_account(body).await?;
    let confirm = format!("/accounts/{}/tier/confirm", account.id);
    let reject = format!("/accounts/{}/tier/reject", account.id);
    let reason = json!({ "reason": "not yet" });

    rep.post(&confirm, &json!({}))
        .await?
        .assert_problem(403, "tier_confirmation_forbidden");
    rep.post(&reject, &reason)
        .await?
        .assert_problem(403, "tier_confirmation_forbidden");
    rep.get("/tier-proposals")
        .await?
        .assert_problem(403, "tier_confirmation_forbidden");
    let service = app.login_as(&org.service).await?;
    service
        .post(&confirm, &json!({}))
        .await?
        .assert_problem(403, "read_only_role");
    let other_rep = app.login_as(&org.rep_b1).await?;
    other_rep
        .post(&confirm, &json!({}))
        .await?
        .assert_problem(404, "not_found");

    let mut elsewhere = new_account("Team B's");
    elsewhere["proposed_tier"] = json!("key");
    let team_b = other_rep.create_account(elsewhere).await?;
    let manager = app.login_as(&org.manager).await?;
    manager
        .post(&format!("/accounts/{}/tier/confirm", team_b.id), &json!({}))
        .await?
        .assert_problem(404, "not_found");
    assert_eq!(names(&proposals(&manager).await?.items), ["Proposed"]);
    manager
        .post(
            &format!("/accounts/{}/tier/confirm", Uuid::now_v7()),
            &json!({}),
        )
        .await?
        .assert_problem(404, "not_found");
    assert_eq!(rep.account(account.id).await?.account.tier, None);
    Ok(())
}

#[tokio::test]
async fn a_confirmed_tier_reaches_the_reps_device() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rest = app.login_as(&org.rep_a1).await?;
    let account = rest.create_account(new_account("Dalian Shipyard")).await?;
    let id = account.id.0;
    let mut phone = Device::new(&app, &org.rep_a1).await?;
    phone.sync().await?;
    phone.edit_account(id, json!({ "proposed_tier": "key" }))?;
    let outcome = phone.sync().await?;
    assert!(outcome.notices.is_empty(), "{:?}", outcome.notices);

    let manager = app.login_as(&org.manager).await?;
    manager
        .post(&format!("/accounts/{id}/tier/confirm"), &json!({}))
        .await?
        .ensure_status(200)?;
    phone.sync().await?;
    let on_phone = phone.account(id)?;
    assert_eq!(on_phone.tier.map(|t| t.as_str()), Some("key"));
    assert_eq!(on_phone.proposed_tier, None);
    assert_eq!(on_phone, rest.account(id).await?.account);
    Ok(())
}

#[tokio::test]
async fn accounts_written_before_scoring_are_scored_once_at_start() -> anyhow::Result<()> {
    use kam_server::entities::{account, server_value};
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let old = scored(&rep, "Old", strong()).await?;
    // As the rows were before the score columns: no score, no start noted.
    account::Entity::update_many()
        .col_expr(account::Column::Score, Expr::value(Option::<i64>::None))
        .col_expr(
            account::Column::SuggestedTier,
            Expr::value(Option::<String>::None),
        )
        .filter(account::Column::Id.eq(old.id.0))
        .exec(app.db().conn())
        .await?;
    server_value::Entity::delete_by_id("tiering_backfilled".to_owned())
        .exec(app.db().conn())
        .await?;
    assert_eq!(rep.account(old.id).await?.score, None);

    let configured = &app.state().settings.tiering;
    kam_server::tiering::backfill_once(app.db(), configured)
        .await
        .map_err(|err| anyhow::anyhow!("{err:?}"))?;
    let read = rep.account(old.id).await?;
    assert_eq!(read.score, Some(90));
    assert_eq!(read.suggested_tier.map(|t| t.as_str()), Some("strategic"));
    assert_eq!(
        names(&rep.list_accounts("suggested_tier=strategic").await?),
        ["Old"]
    );
    Ok(())
}

#[tokio::test]
async fn a_manager_an_account_is_merely_shared_with_neither_decides_its_tier_nor_corrects_its_stage()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep_b = app.login_as(&org.rep_b1).await?;
    let mut body = new_account("Team B, shared");
    body["proposed_tier"] = json!("key");
    body["shared_with"] = json!([org.manager.id]);
    let account = rep_b.create_account(body).await?;
    let manager = app.login_as(&org.manager).await?;
    manager.account(account.id).await?;

    manager
        .post(
            &format!("/accounts/{}/tier/confirm", account.id),
            &json!({}),
        )
        .await?
        .assert_problem(403, "tier_confirmation_forbidden");
    let path = format!("/accounts/{}", account.id);
    manager
        .patch(&path, &json!({ "tier": "key" }))
        .await?
        .assert_problem(403, "tier_confirmation_forbidden");
    manager
        .patch(&path, &json!({ "stage": "maintaining" }))
        .await?
        .assert_problem(422, "invalid_stage_move");
    assert!(proposals(&manager).await?.items.is_empty());

    let director = app.login_as(&org.director).await?;
    assert_eq!(
        names(&proposals(&director).await?.items),
        ["Team B, shared"]
    );
    let confirmed: AccountView = director
        .post(
            &format!("/accounts/{}/tier/confirm", account.id),
            &json!({}),
        )
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(confirmed.account.tier.map(|t| t.as_str()), Some("key"));
    Ok(())
}
