//! CSV import and export: `POST /import/{kind}` and `GET /export/{kind}`,
//! and the library function behind `kam-server import`. The report of
//! created, updated and rejected rows; idempotent re-runs; the same scope
//! and authority rules as the REST writes; Chinese text both ways.

use kam_server::csv_io::{self, CsvKindName, ImportReport};
use kam_server::records::accounts::AccountView;
use kam_server::records::page::Page;
use kam_server::records::timeline::TimelineEntry;
use kam_server::records::visits::VisitView;
use kam_tests::{Method, Reply, Session, TestApp, cli, new_account};
use serde_json::json;
use uuid::Uuid;

async fn import(session: &Session, kind: &str, csv: &str, query: &str) -> anyhow::Result<Reply> {
    let request = session
        .request(Method::POST, &format!("/import/{kind}{query}"))
        .header("content-type", "text/csv")
        .body(csv.to_owned());
    session.send(request).await
}

async fn import_ok(session: &Session, kind: &str, csv: &str) -> anyhow::Result<ImportReport> {
    import(session, kind, csv, "")
        .await?
        .ensure_status(200)?
        .json()
}

async fn export(session: &Session, kind: &str) -> anyhow::Result<String> {
    let response = session
        .request(Method::GET, &format!("/export/{kind}"))
        .send()
        .await?;
    anyhow::ensure!(response.status() == 200, "export: {}", response.status());
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    anyhow::ensure!(content_type.starts_with("text/csv"), "{content_type}");
    Ok(response.text().await?)
}

fn rejection_summary(report: &ImportReport) -> Vec<(u64, Option<&str>, &str)> {
    report
        .rejected
        .iter()
        .map(|r| (r.line, r.column.as_deref(), r.code.as_str()))
        .collect()
}

#[tokio::test]
async fn an_import_creates_updates_and_reports_each_rejected_row() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let existing = rep.create_account(new_account("Old Name")).await?;
    let csv = format!(
        "name,segment,stage,city,tags,score_need,id\n\
         Hangzhou Water,government,engaging,Hangzhou,water;utility,80,\n\
         ,enterprise,,,,,\n\
         Bad Segment,shipping,,,,,\n\
         New Name,enterprise,engaging,,,,{}\n\
         Bad Score,enterprise,,,,lots,\n\
         Too High,enterprise,,,,101,\n",
        existing.id
    );
    let report = import_ok(&rep, "accounts", &csv).await?;
    assert_eq!(
        (report.imported, report.updated, report.unchanged),
        (1, 1, 0)
    );
    assert!(!report.dry_run);
    assert_eq!(
        rejection_summary(&report),
        [
            (3, Some("name"), "required"),
            (4, Some("segment"), "invalid_value"),
            (6, Some("score_need"), "invalid_value"),
            (7, Some("score_need"), "out_of_range"),
        ]
    );

    let updated = rep.account(existing.id).await?;
    assert_eq!(updated.account.name, "New Name");
    assert_eq!(updated.account.stage.as_str(), "engaging");
    let created = rep.list_accounts("q=Hangzhou").await?;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].account.owner_id.0, org.rep_a1.id);
    assert_eq!(created[0].account.team_id.map(|t| t.0), Some(org.team_a));
    assert_eq!(created[0].account.tags, ["water", "utility"]);
    assert_eq!(created[0].account.address.city.as_deref(), Some("Hangzhou"));
    assert_eq!(created[0].account.scores.need, Some(80));
    Ok(())
}

#[tokio::test]
async fn an_exported_file_imports_back_changing_nothing_and_chinese_text_round_trips()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let csv = "\u{feff}name,segment,city,notes,tags\n\
               杭州市水务集团有限公司,government,杭州,\"局长说：\"\"下月招标\"\"，\n请准备方案。\",水务;重点\n\
               Shanghai Metro,enterprise,上海,,\n";
    let report = import_ok(&rep, "accounts", csv).await?;
    assert_eq!(report.imported, 2, "{report:?}");
    let accounts = rep.list_accounts("").await?;
    let water = accounts
        .iter()
        .find(|a| a.account.name == "杭州市水务集团有限公司")
        .ok_or_else(|| anyhow::anyhow!("the Chinese name did not survive: {accounts:?}"))?;
    assert_eq!(water.account.notes, "局长说：\"下月招标\"，\n请准备方案。");
    assert_eq!(water.account.tags, ["水务", "重点"]);

    let exported = export(&rep, "accounts").await?;
    assert!(exported.starts_with("id,name,segment,"));
    assert!(exported.contains("杭州市水务集团有限公司"));
    let versions: Vec<i64> = accounts.iter().map(|a| a.version).collect();

    let again = import_ok(&rep, "accounts", &exported).await?;
    assert_eq!(
        (
            again.imported,
            again.updated,
            again.unchanged,
            again.rejected.len()
        ),
        (0, 0, 2, 0),
        "{again:?}"
    );
    let after = rep.list_accounts("").await?;
    assert_eq!(
        after.iter().map(|a| a.version).collect::<Vec<_>>(),
        versions
    );
    assert_eq!(export(&rep, "accounts").await?, exported);
    Ok(())
}

#[tokio::test]
async fn a_file_with_ids_imports_once_and_a_rerun_changes_nothing() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let (a, b) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let csv =
        format!("id,name,segment\n{a},Alpha,enterprise\n{b},Beta,education\n{a},Again,other\n");
    let first = import_ok(&rep, "accounts", &csv).await?;
    assert_eq!(first.imported, 2);
    assert_eq!(rejection_summary(&first), [(4, Some("id"), "duplicate_id")]);
    let second = import_ok(&rep, "accounts", &csv).await?;
    assert_eq!(
        (second.imported, second.updated, second.unchanged),
        (0, 0, 2)
    );
    assert_eq!(rep.account(a).await?.account.name, "Alpha");
    assert_eq!(rep.list_accounts("").await?.len(), 2);
    Ok(())
}

#[tokio::test]
async fn a_dry_run_reports_and_writes_nothing() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let report: ImportReport = import(
        &rep,
        "accounts",
        "name,segment\nDry,enterprise\n,enterprise\n",
        "?dry_run=true",
    )
    .await?
    .ensure_status(200)?
    .json()?;
    assert!(report.dry_run);
    assert_eq!(report.imported, 1);
    assert_eq!(report.rejected.len(), 1);
    assert!(rep.list_accounts("").await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_rep_cannot_import_into_another_reps_account_or_give_accounts_away() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep_b = app.login_as(&org.rep_b1).await?;
    let theirs = rep_b.create_account(new_account("Not Yours")).await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let csv = format!(
        "id,name,segment,owner\n\
         {},Taken Over,enterprise,\n\
         ,Gift,enterprise,rep_a2\n\
         ,Nobody's,enterprise,no.such.user\n\
         ,Mine,enterprise,rep_a1\n",
        theirs.id
    );
    let report = import_ok(&rep, "accounts", &csv).await?;
    assert_eq!(report.imported, 1);
    // A user the rep may not assign and a user who does not exist get the
    // same answer: the import does not tell which usernames exist.
    assert_eq!(
        rejection_summary(&report),
        [
            (2, Some("id"), "not_found"),
            (3, Some("owner"), "owner_change_forbidden"),
            (4, Some("owner"), "owner_change_forbidden"),
        ]
    );
    assert_eq!(report.rejected[1].message, report.rejected[2].message);
    assert_eq!(rep_b.account(theirs.id).await?.account.name, "Not Yours");

    let manager = app.login_as(&org.manager).await?;
    let report = import_ok(
        &manager,
        "accounts",
        &format!(
            "name,segment,owner\nAssigned,enterprise,rep_a2\nOutside,enterprise,{}\n\
             Outside,enterprise,rep_b1\nGhost,enterprise,no.such.user\n",
            org.rep_b1.id
        ),
    )
    .await?;
    assert_eq!(report.imported, 1);
    assert_eq!(
        rejection_summary(&report),
        [
            (3, Some("owner"), "owner_change_forbidden"),
            (4, Some("owner"), "owner_change_forbidden"),
            (5, Some("owner"), "owner_change_forbidden"),
        ]
    );
    assert_eq!(report.rejected[1].message, report.rejected[2].message);
    let rep_a2 = app.login_as(&org.rep_a2).await?;
    let assigned = rep_a2.list_accounts("q=Assigned").await?;
    assert_eq!(assigned.len(), 1);

    let service = app.login_as(&org.service).await?;
    import(&service, "accounts", "name,segment\nX,other\n", "")
        .await?
        .assert_problem(403, "read_only_role");
    Ok(())
}

#[tokio::test]
async fn malformed_files_are_refused_whole() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    import(&rep, "accounts", "name,colour\nX,red\n", "")
        .await?
        .assert_problem(400, "unknown_column");
    import(&rep, "accounts", "name,name\nX,Y\n", "")
        .await?
        .assert_problem(400, "duplicate_column");
    import(&rep, "accounts", "", "")
        .await?
        .assert_problem(400, "invalid_csv");
    import(&rep, "contracts", "name\nX\n", "")
        .await?
        .assert_problem(400, "invalid_path");
    let request = rep
        .request(Method::POST, "/import/accounts")
        .header("content-type", "application/json")
        .body("{}");
    rep.send(request)
        .await?
        .assert_problem(415, "unsupported_media_type");
    let report = import_ok(&rep, "accounts", "name,segment\nShort\nOk,other\n").await?;
    assert_eq!(report.imported, 1);
    assert_eq!(
        rejection_summary(&report),
        [(2, None, "wrong_column_count")]
    );
    Ok(())
}

#[tokio::test]
async fn visits_import_under_visible_accounts_and_export_back() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let mine = rep.create_account(new_account("Mine")).await?;
    let rep_b = app.login_as(&org.rep_b1).await?;
    let theirs = rep_b.create_account(new_account("Theirs")).await?;
    let csv = format!(
        "account_id,planned_at,type,purpose,summary\n\
         {},2026-12-01T09:00:00Z,onsite,介绍新产品,客户很感兴趣\n\
         {},2026-12-02T09:00:00Z,phone,Sneak,\n\
         {},not a time,phone,Bad,\n",
        mine.id, theirs.id, mine.id
    );
    let report = import_ok(&rep, "visits", &csv).await?;
    assert_eq!(report.imported, 1);
    assert_eq!(
        rejection_summary(&report),
        [
            (3, Some("account_id"), "unknown_account"),
            (4, Some("planned_at"), "invalid_value"),
        ]
    );
    let visits: Page<VisitView> = rep.get("/visits").await?.ensure_status(200)?.json()?;
    assert_eq!(visits.items.len(), 1);
    assert_eq!(visits.items[0].visit.purpose, "介绍新产品");
    assert_eq!(visits.items[0].visit.summary, "客户很感兴趣");
    assert_eq!(visits.items[0].visit.owner_id.0, org.rep_a1.id);

    let exported = export(&rep, "visits").await?;
    assert!(exported.contains("客户很感兴趣"));
    let again = import_ok(&rep, "visits", &exported).await?;
    assert_eq!((again.imported, again.updated, again.unchanged), (0, 0, 1));
    assert!(!export(&rep_b, "visits").await?.contains("介绍新产品"));
    Ok(())
}

#[tokio::test]
async fn the_import_command_writes_as_the_named_user_from_its_own_device() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let csv = "name,segment\n南京地铁,government\n,other\n";
    let report = csv_io::import_as(
        app.state(),
        "rep_a1",
        CsvKindName::Accounts,
        csv.as_bytes(),
        false,
        &|_, _| {},
    )
    .await?;
    assert_eq!(report.imported, 1);
    let rejects = String::from_utf8(report.rejects_csv()?)?;
    assert!(
        rejects.starts_with("line,column,code,message\n3,name,required,"),
        "{rejects}"
    );
    assert!(
        csv_io::import_as(
            app.state(),
            "nobody",
            CsvKindName::Accounts,
            csv.as_bytes(),
            false,
            &|_, _| {}
        )
        .await
        .is_err()
    );

    let rep = app.login_as(&org.rep_a1).await?;
    let accounts: Vec<AccountView> = rep.list_accounts("").await?;
    assert_eq!(accounts.len(), 1);
    let history: Page<TimelineEntry> = rep
        .get(&format!("/accounts/{}/timeline", accounts[0].id))
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(
        history.items[0].device.as_deref(),
        Some(csv_io::COMMAND_DEVICE)
    );
    assert_eq!(history.items[0].user_id, Some(org.rep_a1.id));

    let mut everything = Vec::new();
    let written =
        csv_io::export_as(app.state(), None, CsvKindName::Accounts, &mut everything).await?;
    assert_eq!(written, 1);
    assert!(String::from_utf8(everything)?.contains("南京地铁"));
    let mut none = Vec::new();
    let written = csv_io::export_as(
        app.state(),
        Some("rep_b1"),
        CsvKindName::Accounts,
        &mut none,
    )
    .await?;
    assert_eq!(written, 0);
    Ok(())
}

#[tokio::test]
async fn contacts_import_under_visible_accounts_and_export_back() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let own = rep.create_account(new_account("Wuxi Power")).await?;
    let other = app
        .login_as(&org.rep_b1)
        .await?
        .create_account(new_account("Not Mine"))
        .await?;
    let csv = format!(
        "account_id,name,title,buying_role,attitude,influence,org_needs\n\
         {own},王建国,CIO,decision_maker,supporter,5,quality;terms\n\
         {own},Li Na,Procurement,influencer,opponent,9,\n\
         {other},Sneaky,,,,,\n",
        own = own.id,
        other = other.id
    );
    let report = import_ok(&rep, "contacts", &csv).await?;
    assert_eq!(report.imported, 1);
    assert_eq!(
        rejection_summary(&report),
        [
            (3, Some("influence"), "out_of_range"),
            (4, Some("account_id"), "unknown_account")
        ]
    );
    let listed: kam_server::records::page::Page<kam_server::records::contacts::ContactView> = rep
        .get(&format!("/contacts?account_id={}", own.id))
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].contact.name, "王建国");

    let exported = export(&rep, "contacts").await?;
    assert!(exported.contains("王建国"), "{exported}");
    let again = import_ok(&rep, "contacts", &exported).await?;
    assert_eq!((again.imported, again.updated, again.unchanged), (0, 0, 1));
    Ok(())
}

#[tokio::test]
async fn an_import_answers_alike_for_a_visit_owner_who_cannot_be_assigned_and_one_who_does_not_exist()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let mine = rep.create_account(new_account("Mine")).await?;
    let manager = app.login_as(&org.manager).await?;
    // rep_b1 exists but cannot see the account; nobody is called no.such.user.
    let csv = format!(
        "account_id,owner,planned_at,type,purpose\n\
         {id},rep_a1,2026-12-01T09:00:00Z,onsite,Assigned\n\
         {id},rep_b1,2026-12-01T09:00:00Z,onsite,Outside\n\
         {id},no.such.user,2026-12-01T09:00:00Z,onsite,Ghost\n",
        id = mine.id
    );
    let report = import_ok(&manager, "visits", &csv).await?;
    assert_eq!(report.imported, 1, "{report:?}");
    let answers: Vec<(Option<&str>, &str, &str)> = report
        .rejected
        .iter()
        .map(|r| (r.column.as_deref(), r.code.as_str(), r.message.as_str()))
        .collect();
    assert_eq!(answers.len(), 2, "{report:?}");
    assert_eq!(answers[0], answers[1], "{report:?}");
    Ok(())
}

#[tokio::test]
async fn the_rest_api_answers_alike_for_an_owner_who_cannot_be_assigned_and_one_who_does_not_exist()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let manager = app.login_as(&org.manager).await?;
    for (caller, existing) in [(&rep, org.rep_a2.id), (&manager, org.rep_b1.id)] {
        let mut answers = Vec::new();
        for owner in [existing, Uuid::now_v7()] {
            let reply = caller
                .post(
                    "/accounts",
                    &json!({ "name": "Given Away", "segment": "enterprise", "owner_id": owner }),
                )
                .await?;
            answers.push((
                reply.status,
                reply.body["code"].clone(),
                reply.body["detail"].clone(),
            ));
        }
        assert_eq!(answers[0].0, 403, "{answers:?}");
        assert_eq!(answers[0], answers[1]);
    }
    Ok(())
}

#[tokio::test]
async fn formula_cells_are_neutralized_in_exports_and_imported_exactly() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let hyperlink = "=HYPERLINK(\"http://example.com/x\",\"Open\")";
    let created = rep
        .create_account(json!({
            "name": hyperlink,
            "segment": "enterprise",
            "industry": "+cmd|' /C calc'!A0",
            "notes": "\tTabbed",
            "address": { "street": "-2+3", "city": "@SUM(A1)", "region": "'=quoted already", "postal_code": "'plain" },
            "location": { "lat": -33.5, "lon": 151.2 },
            "tags": ["=tag", "plain"],
        }))
        .await?;
    let exported = export(&rep, "accounts").await?;
    let mut reader = csv::Reader::from_reader(exported.as_bytes());
    let header = reader.headers()?.clone();
    let row = reader
        .records()
        .next()
        .ok_or_else(|| anyhow::anyhow!("nothing exported"))??;
    let cell = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .and_then(|i| row.get(i))
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(cell("name"), format!("'{hyperlink}"));
    assert_eq!(cell("industry"), "'+cmd|' /C calc'!A0");
    assert_eq!(cell("notes"), "'\tTabbed");
    assert_eq!(cell("street"), "'-2+3");
    assert_eq!(cell("city"), "'@SUM(A1)");
    // A quote before a formula character gets one more, so that the import
    // takes exactly one away; a quote before anything else is left alone.
    assert_eq!(cell("region"), "''=quoted already");
    assert_eq!(cell("postal_code"), "'plain");
    assert_eq!(cell("tags"), "'=tag;plain");
    // Numbers are numbers, not formulas.
    assert_eq!(cell("lat"), "-33.5");

    // The export imports back changing nothing.
    let again = import_ok(&rep, "accounts", &exported).await?;
    assert_eq!(
        (again.updated, again.unchanged, again.rejected.len()),
        (0, 1, 0),
        "{again:?}"
    );
    let after = rep.account(created.id).await?;
    assert_eq!(after.account.name, hyperlink);
    assert_eq!(after.version, created.version);

    // A file written by hand imports exactly as written.
    let csv = "name,segment,notes,tags\n=1+2,enterprise,@note,-minus;+plus\n";
    let report = import_ok(&rep, "accounts", csv).await?;
    assert_eq!(report.imported, 1, "{report:?}");
    let imported = rep.list_accounts("q=1%2B2").await?;
    assert_eq!(imported.len(), 1);
    assert_eq!(imported[0].account.name, "=1+2");
    assert_eq!(imported[0].account.notes, "@note");
    assert_eq!(imported[0].account.tags, ["-minus", "+plus"]);
    Ok(())
}

#[tokio::test]
async fn every_fault_of_a_row_is_reported_not_only_the_first() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let own = rep.create_account(new_account("Suzhou Gas")).await?;
    let csv = format!(
        "account_id,name,email,buying_role,influence\n\
         {own},Zhou Jie,zhou.jie.example.com,kingmaker,5\n\
         {own},Wu Fang,wu@example.com,user,many\n\
         {own},Good Row,good@example.com,user,5\n",
        own = own.id
    );
    let report = import_ok(&rep, "contacts", &csv).await?;
    assert_eq!(
        (report.imported, report.rejected_rows),
        (1, 2),
        "{report:?}"
    );
    assert_eq!(
        rejection_summary(&report),
        [
            (2, Some("buying_role"), "invalid_value"),
            (2, Some("email"), "invalid_value"),
            (3, Some("influence"), "invalid_value"),
        ]
    );

    // Bad cells, bad values and a rule of the record, in a row making a
    // record and in one changing a record. A missing required field ends
    // the checks of the record's other rules (score_loyalty on line 2).
    let existing = rep.create_account(new_account("Old Name")).await?;
    let csv = format!(
        "id,name,segment,tier,score_need,score_loyalty\n\
         ,,enterprise,platinum,lots,101\n\
         {},New Name,shipping,platinum,,101\n",
        existing.id
    );
    let report = import_ok(&rep, "accounts", &csv).await?;
    assert_eq!(
        (report.imported, report.updated, report.rejected_rows),
        (0, 0, 2)
    );
    let mut faults = rejection_summary(&report);
    faults.sort();
    assert_eq!(
        faults,
        [
            (2, Some("name"), "required"),
            (2, Some("score_need"), "invalid_value"),
            (2, Some("tier"), "invalid_value"),
            (3, Some("score_loyalty"), "out_of_range"),
            (3, Some("segment"), "invalid_value"),
            (3, Some("tier"), "invalid_value"),
        ]
    );
    assert_eq!(rep.account(existing.id).await?.account.name, "Old Name");
    let rejects = String::from_utf8(report.rejects_csv()?)?;
    assert_eq!(rejects.lines().count(), 1 + 6, "{rejects}");
    Ok(())
}

#[tokio::test]
async fn lf_and_crlf_files_report_the_same_physical_lines() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    // Line 2 holds a cell over three lines; a blank line follows it.
    let lf = "name,segment,notes\n\
              Multi Line,enterprise,\"first\nsecond\nthird\"\n\
              \n\
              Bad Segment,shipping,\n\
              ,enterprise,\n\
              Fine,enterprise,\"a\nb\"\n\
              Also Bad,nowhere,\n";
    let crlf = lf.replace('\n', "\r\n");
    let expected = [
        (6, Some("segment"), "invalid_value"),
        (7, Some("name"), "required"),
        (10, Some("segment"), "invalid_value"),
    ];
    for file in [lf, &crlf] {
        let report = import(&rep, "accounts", file, "?dry_run=true")
            .await?
            .ensure_status(200)?
            .json::<ImportReport>()?;
        assert_eq!(rejection_summary(&report), expected, "{file:?}");
        let report = csv_io::import_as(
            app.state(),
            "rep_a1",
            CsvKindName::Accounts,
            file.as_bytes(),
            true,
            &|_, _| {},
        )
        .await?;
        assert_eq!(rejection_summary(&report), expected, "{file:?}");
    }
    Ok(())
}

#[tokio::test]
async fn the_import_command_exits_2_when_rows_were_rejected_and_1_when_it_cannot_run()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    app.seed_org().await?;
    let folder = tempfile::tempdir()?;
    let good = folder.path().join("good.csv");
    std::fs::write(&good, "name,segment\nNanjing Metro,government\n")?;
    let mixed = folder.path().join("mixed.csv");
    std::fs::write(
        &mixed,
        "name,segment\nWuhan Steel,enterprise\n,enterprise\n",
    )?;
    let run = |file: &std::path::Path, user: &str, extra: &[&str]| -> anyhow::Result<_> {
        let file = file.to_str().unwrap_or_default();
        let mut args = vec!["import", "accounts", file, "--as", user];
        args.extend(extra);
        let output = cli::kam_server_on(&app, &args)?.output()?;
        Ok((
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        ))
    };

    let (code, printed) = run(&good, "rep_a1", &[])?;
    assert_eq!(code, Some(0), "{printed}");
    assert!(printed.contains("1 created"), "{printed}");

    let (code, printed) = run(&mixed, "rep_a1", &["--dry-run"])?;
    assert_eq!(code, Some(2), "{printed}");
    let (code, printed) = run(&mixed, "rep_a1", &[])?;
    assert_eq!(code, Some(2), "{printed}");
    assert!(printed.contains("1 created"), "{printed}");
    assert!(printed.contains("1 rejected"), "{printed}");
    assert!(printed.contains("line 3, column name"), "{printed}");

    let (code, _) = run(&good, "nobody", &[])?;
    assert_eq!(code, Some(1));
    let (code, _) = run(&folder.path().join("missing.csv"), "rep_a1", &[])?;
    assert_eq!(code, Some(1));
    Ok(())
}

#[tokio::test]
async fn the_deprecated_key_persons_names_still_import_and_export_contacts() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let own = rep.create_account(new_account("Alias Works")).await?;

    let by_rest = format!("account_id,name\n{},Over REST\n", own.id);
    let report = import_ok(&rep, "key_persons", &by_rest).await?;
    assert_eq!(
        (report.imported, report.rejected_rows),
        (1, 0),
        "{report:?}"
    );
    let exported = export(&rep, "key_persons").await?;
    assert_eq!(exported, export(&rep, "contacts").await?);
    assert!(exported.contains("Over REST"), "{exported}");

    let folder = tempfile::tempdir()?;
    let file = folder.path().join("key-persons.csv");
    std::fs::write(&file, format!("account_id,name\n{},By Command\n", own.id))?;
    let file = file.to_str().unwrap_or_default();
    let output =
        cli::kam_server_on(&app, &["import", "key-persons", file, "--as", "rep_a1"])?.output()?;
    let printed = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{printed}");
    assert!(printed.contains("1 created"), "{printed}");
    let output =
        cli::kam_server_on(&app, &["export", "key-persons", "--as", "rep_a1"])?.output()?;
    assert_eq!(output.status.code(), Some(0));
    let exported = String::from_utf8(output.stdout)?;
    assert!(
        exported.contains("By Command") && exported.contains("Over REST"),
        "{exported}"
    );
    Ok(())
}
