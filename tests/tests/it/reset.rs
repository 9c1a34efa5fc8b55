//! What a reset delivers (issue 12): a sync with no cursor, or the first
//! sync after the user's place in the org changed, leaves the device with
//! exactly the documents in its user's scope, the ones this very session
//! pushed included. A client written from `docs/sync-protocol.md` drops every
//! document a reset does not deliver, so a reset that skipped the session's
//! own pushes made the device drop its own records.

use chrono::Utc;
use kam_server::auth::Role;
use kam_server::records::visits::VisitView;
use kam_sync_core::protocol::SyncResponse;
use kam_sync_core::{Account, RecordKind, Visit, parse_record};
use kam_tests::{Device, OrgUser, Session, TestApp, new_account};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::json;
use std::collections::BTreeSet;
use uuid::Uuid;

/// What a run of sync requests did.
#[derive(Debug, Default)]
struct Synced {
    /// Some response said `reset: true`.
    reset: bool,
    /// The documents the pages delivered from the first `reset: true` on.
    delivered: BTreeSet<Uuid>,
}

/// Syncs until nothing waits, `limit` documents a page; the first request
/// goes without a cursor when `forget_cursor` (a device that lost it, or a
/// client that syncs `{}`).
async fn sync_pages(
    device: &mut Device,
    forget_cursor: bool,
    limit: Option<u32>,
) -> anyhow::Result<Synced> {
    let mut synced = Synced::default();
    sync_on(device, &mut synced, forget_cursor, limit, 100).await?;
    Ok(synced)
}

/// Sends at most `rounds` sync requests, stopping when nothing waits;
/// returns whether something still waits.
async fn sync_on(
    device: &mut Device,
    synced: &mut Synced,
    forget_cursor: bool,
    limit: Option<u32>,
    rounds: usize,
) -> anyhow::Result<bool> {
    for round in 0..rounds {
        let mut request = device.replica.prepare_sync();
        if forget_cursor && round == 0 {
            request.cursor = None;
        }
        request.limit = limit;
        let response: SyncResponse = device.send(&request).await?.ensure_status(200)?.json()?;
        synced.reset |= response.reset;
        if synced.reset {
            synced.delivered.extend(response.pull.iter().map(|d| d.id));
        }
        let outcome = device.replica.apply_sync(response)?;
        if !outcome.has_more && !device.replica.needs_sync() {
            return Ok(false);
        }
    }
    anyhow::ensure!(rounds < 100, "sync did not settle");
    Ok(true)
}

/// Every document the device holds.
fn held(device: &Device) -> BTreeSet<Uuid> {
    [RecordKind::Account, RecordKind::Visit]
        .into_iter()
        .flat_map(|kind| device.replica.ids(kind))
        .collect()
}

fn account_of(owner: &OrgUser, name: &str) -> anyhow::Result<Account> {
    Ok(parse_record(
        json!({"name": name, "segment": "education", "owner_id": owner.id}),
    )?)
}

fn visit_of(owner: &OrgUser, account: Uuid) -> anyhow::Result<Visit> {
    Ok(parse_record(json!({
        "account_id": account,
        "owner_id": owner.id,
        "planned_at": Utc::now(),
        "type": "phone",
    }))?)
}

/// An account the rep made over REST (another session than the device's).
async fn rest_account(app: &TestApp, owner: &OrgUser, name: &str) -> anyhow::Result<Uuid> {
    let rest = app.login_as(owner).await?;
    Ok(rest.create_account(new_account(name)).await?.id.0)
}

async fn assert_visit_on_server(session: &Session, id: Uuid) -> anyhow::Result<()> {
    session
        .get(&format!("/visits/{id}"))
        .await?
        .ensure_status(200)?;
    Ok(())
}

/// A rep's phone, synced, that made a visit to the rep's account offline
/// and pushed it in this session: the visit's only changes are the session's.
async fn phone_that_pushed_a_visit(
    app: &TestApp,
    rep: &OrgUser,
) -> anyhow::Result<(Device, Uuid, Uuid)> {
    let account = rest_account(app, rep, "Suzhou Metro").await?;
    let mut phone = Device::new(app, rep, "phone").await?;
    phone.sync().await?;
    let visit = phone.create(&visit_of(rep, account)?)?;
    phone.sync().await?;
    Ok((phone, account, visit))
}

/// The reset delivered the account and the session's own visit, and the
/// phone holds exactly them.
async fn assert_kept_after_reset(
    synced: &Synced,
    phone: &Device,
    account: Uuid,
    visit: Uuid,
) -> anyhow::Result<()> {
    assert!(synced.reset, "a reset");
    assert_eq!(
        synced.delivered,
        BTreeSet::from([account, visit]),
        "the reset delivers the whole scope, the session's own visit included"
    );
    assert_eq!(held(phone), BTreeSet::from([account, visit]));
    assert_visit_on_server(&phone.session, visit).await
}

#[tokio::test]
async fn a_reset_in_the_same_session_delivers_what_the_session_pushed() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let (mut phone, account, visit) = phone_that_pushed_a_visit(&app, &org.rep_a1).await?;
    let again = sync_pages(&mut phone, true, None).await?;
    assert_kept_after_reset(&again, &phone, account, visit).await
}

#[tokio::test]
async fn a_reset_after_an_admin_moves_the_rep_to_another_team_keeps_the_reps_own_work()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let (mut phone, account, visit) = phone_that_pushed_a_visit(&app, &org.rep_a1).await?;
    let admin = app.login_as(&org.admin).await?;
    admin
        .patch(
            &format!("/users/{}", org.rep_a1.id),
            &json!({"team_id": org.team_b}),
        )
        .await?
        .ensure_status(200)?;
    let moved = sync_pages(&mut phone, false, None).await?;
    assert_kept_after_reset(&moved, &phone, account, visit).await
}

#[tokio::test]
async fn a_first_sync_carrying_offline_work_delivers_it_back() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let existing = rest_account(&app, &org.rep_a1, "Nanjing Airport").await?;
    let mut phone = Device::new(&app, &org.rep_a1, "phone").await?;
    let made = phone.create(&account_of(&org.rep_a1, "Made offline")?)?;
    let visit_to_existing = phone.create(&visit_of(&org.rep_a1, existing)?)?;
    let visit_to_made = phone.create(&visit_of(&org.rep_a1, made)?)?;

    let first = sync_pages(&mut phone, false, None).await?;
    assert!(first.reset, "a first sync is a reset");
    let scope = BTreeSet::from([existing, made, visit_to_existing, visit_to_made]);
    assert_eq!(
        first.delivered, scope,
        "the reset delivers the whole scope, the work the first request pushed included"
    );
    assert_eq!(held(&phone), scope);
    assert_visit_on_server(&phone.session, visit_to_existing).await?;
    assert_visit_on_server(&phone.session, visit_to_made).await
}

/// One step of a device's day, for the property below.
#[derive(Debug, Clone)]
enum Step {
    /// The device makes an account offline.
    MakeAccount,
    /// The device makes a visit offline, under the n-th account it made.
    MakeVisit(usize),
    /// The device syncs with its cursor, at most `limit` documents a page.
    Sync { limit: u32 },
    /// The device syncs without a cursor (a reset), `limit` documents a page.
    Reset { limit: u32 },
    /// An admin moves the rep to the other team: the next sync is a reset.
    MoveTeam,
    /// Another rep makes an account over REST, shared with nobody.
    OtherAccount,
    /// The other rep shares the n-th account they made with the rep, or
    /// stops sharing it.
    Share { account: usize, shared: bool },
    /// A reset (one document a page) whose first page is followed by a
    /// `Share` before the device asks for the next.
    ShareDuringReset { account: usize, shared: bool },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => Just(Step::MakeAccount),
        2 => (0usize..4).prop_map(Step::MakeVisit),
        2 => (1u32..=3).prop_map(|limit| Step::Sync { limit }),
        3 => (1u32..=3).prop_map(|limit| Step::Reset { limit }),
        1 => Just(Step::MoveTeam),
        1 => Just(Step::OtherAccount),
        2 => (0usize..3, any::<bool>()).prop_map(|(account, shared)| Step::Share { account, shared }),
        2 => (0usize..3, any::<bool>()).prop_map(|(account, shared)| Step::ShareDuringReset { account, shared }),
    ]
}

/// Plays `steps` against a fresh server; after every sync that was a
/// reset, the device must hold exactly the documents in its user's scope:
/// what it made (all pushed by then) and what the other rep shares with it
/// (each of the other rep's accounts has a visit under it).
async fn play(steps: &[Step]) -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let branch = app.create_branch("East").await?;
    let teams = [
        app.create_team("Team A", branch, &[]).await?,
        app.create_team("Team B", branch, &[]).await?,
    ];
    let (admin, rep, other) = tokio::try_join!(
        app.create_user("admin", Role::Admin, None, None),
        app.create_user("rep", Role::Rep, Some(teams[0]), None),
        app.create_user("other", Role::Rep, Some(teams[0]), None),
    )?;
    let admin = app.login_as(&admin).await?;
    let other_rest = app.login_as(&other).await?;
    let mut phone = Device::new(&app, &rep, "phone").await?;
    let mut team = 0;
    let mut made_accounts: Vec<Uuid> = Vec::new();
    let mut made = BTreeSet::new();
    let mut others: Vec<(Uuid, Uuid)> = Vec::new();
    let mut shared = BTreeSet::new();
    for (i, step) in steps.iter().enumerate() {
        let synced = match step {
            Step::MakeAccount => {
                let id = phone.create(&account_of(&rep, &format!("Made offline {i}"))?)?;
                made_accounts.push(id);
                made.insert(id);
                None
            }
            Step::MakeVisit(n) => {
                if let Some(account) = made_accounts.get(n % made_accounts.len().max(1)) {
                    made.insert(phone.create(&visit_of(&rep, *account)?)?);
                }
                None
            }
            Step::Sync { limit } => Some(sync_pages(&mut phone, false, Some(*limit)).await?),
            Step::Reset { limit } => Some(sync_pages(&mut phone, true, Some(*limit)).await?),
            Step::MoveTeam => {
                team = 1 - team;
                admin
                    .patch(
                        &format!("/users/{}", rep.id),
                        &json!({"team_id": teams[team]}),
                    )
                    .await?
                    .ensure_status(200)?;
                None
            }
            Step::OtherAccount => {
                let name = format!("Other's {i}");
                let account = other_rest.create_account(new_account(&name)).await?.id.0;
                let visit: VisitView = other_rest
                    .post(
                        "/visits",
                        &json!({"account_id": account, "planned_at": Utc::now(), "type": "phone"}),
                    )
                    .await?
                    .ensure_status(201)?
                    .json()?;
                others.push((account, visit.id.0));
                None
            }
            Step::Share {
                account,
                shared: share,
            } => {
                share_with(&other_rest, &rep, &others, *account, *share, &mut shared).await?;
                None
            }
            Step::ShareDuringReset {
                account,
                shared: share,
            } => {
                let mut synced = Synced::default();
                if sync_on(&mut phone, &mut synced, true, Some(1), 1).await? {
                    share_with(&other_rest, &rep, &others, *account, *share, &mut shared).await?;
                    sync_on(&mut phone, &mut synced, false, Some(1), 100).await?;
                }
                Some(synced)
            }
        };
        if let Some(synced) = synced
            && synced.reset
        {
            let scope: BTreeSet<Uuid> = made
                .iter()
                .copied()
                .chain(
                    others
                        .iter()
                        .filter(|(a, _)| shared.contains(a))
                        .flat_map(|(a, v)| [*a, *v]),
                )
                .collect();
            anyhow::ensure!(
                held(&phone) == scope,
                "after step {i} ({step:?}) the device holds {:?}, its scope is {scope:?}",
                held(&phone)
            );
        }
    }
    Ok(())
}

/// The other rep shares the n-th of their accounts with the rep (or stops).
async fn share_with(
    other: &Session,
    rep: &OrgUser,
    others: &[(Uuid, Uuid)],
    account: usize,
    share: bool,
    shared: &mut BTreeSet<Uuid>,
) -> anyhow::Result<()> {
    let Some((id, _)) = others.get(account % others.len().max(1)) else {
        return Ok(());
    };
    let with = if share { vec![rep.id] } else { Vec::new() };
    other
        .patch(&format!("/accounts/{id}"), &json!({"shared_with": with}))
        .await?
        .ensure_status(200)?;
    if share {
        shared.insert(*id);
    } else {
        shared.remove(id);
    }
    Ok(())
}

proptest! {
    // Each case starts a server (and on PostgreSQL makes a database): 16
    // cases take about 15 s on SQLite, 30 s on PostgreSQL, on 2 busy cores.
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn after_every_reset_the_device_holds_exactly_its_scope_and_its_own_work(
        steps in proptest::collection::vec(step(), 1..16)
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| TestCaseError::fail(err.to_string()))?;
        runtime
            .block_on(play(&steps))
            .map_err(|err| TestCaseError::fail(format!("{err:#}")))?;
    }
}
