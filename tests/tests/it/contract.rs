//! The served OpenAPI document against what the server does: the answers
//! fit the schemas they are documented with, and what the document calls
//! valid the server takes. Each test pins a mismatch contract fuzzing
//! (`.ci/schemathesis`) found.

use kam_sync_core::account::{Segment, Stage, Tier};
use kam_sync_core::visit::{Outcome, VisitStatus, VisitType};
use kam_tests::{Method, Session, TestApp, new_account};
use serde_json::{Value, json};

/// The document the server serves.
async fn served_document(app: &TestApp) -> anyhow::Result<Value> {
    let api = app.api();
    let reply = api
        .send(api.http().get(api.root_url("/api/v1/openapi.json")))
        .await?
        .ensure_status(200)?;
    Ok(reply.body)
}

/// The component schema `name`.
fn schema<'a>(document: &'a Value, name: &str) -> &'a Value {
    &document["components"]["schemas"][name]
}

/// The schema of the query parameter `name` of `GET path`.
fn query_parameter<'a>(document: &'a Value, path: &str, name: &str) -> &'a Value {
    document["paths"][path]["get"]["parameters"]
        .as_array()
        .and_then(|all| all.iter().find(|p| p["name"] == name))
        .map_or(&Value::Null, |p| &p["schema"])
}

/// The fields of `value` that the `allOf` parts of `view` reject: a part
/// with `additionalProperties: false` rejects every field it does not name.
fn fields_rejected_by_parts(document: &Value, view: &str, value: &Value) -> Vec<String> {
    let parts = schema(document, view)["allOf"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut rejected = Vec::new();
    for part in parts {
        let part = match part["$ref"].as_str() {
            Some(reference) => schema(
                document,
                reference.trim_start_matches("#/components/schemas/"),
            )
            .clone(),
            None => part,
        };
        if part["additionalProperties"] != Value::Bool(false) {
            continue;
        }
        let fields = value.as_object().map(|o| o.keys()).into_iter().flatten();
        rejected.extend(
            fields
                .filter(|field| part["properties"].get(field.as_str()).is_none())
                .cloned(),
        );
    }
    rejected
}

/// The `enum` of a component schema.
fn documented_values(document: &Value, name: &str) -> Vec<String> {
    schema(document, name)["enum"]
        .as_array()
        .map(|values| {
            values
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Names as they go over the wire.
fn wire_names<T: Copy + std::fmt::Display>(all: &[T]) -> Vec<String> {
    all.iter().map(ToString::to_string).collect()
}

#[tokio::test]
async fn every_record_enum_is_documented_with_its_names_on_the_wire() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let document = served_document(&app).await?;
    for (name, wire) in [
        ("Segment", wire_names(Segment::ALL)),
        ("Tier", wire_names(Tier::ALL)),
        ("Stage", wire_names(Stage::ALL)),
        ("VisitType", wire_names(VisitType::ALL)),
        ("VisitStatus", wire_names(VisitStatus::ALL)),
        ("Outcome", wire_names(Outcome::ALL)),
    ] {
        assert_eq!(documented_values(&document, name), wire, "{name}");
    }
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    for value in documented_values(&document, "Tier") {
        rep.get(&format!("/accounts?tier={value}"))
            .await?
            .assert_status(200);
    }
    for value in documented_values(&document, "VisitStatus") {
        rep.get(&format!("/visits?status={value}"))
            .await?
            .assert_status(200);
    }
    Ok(())
}

/// An account and a visit to it, made by `rep`.
async fn account_and_visit(rep: &Session) -> anyhow::Result<(Value, Value)> {
    let account = rep
        .post("/accounts", &new_account("Documented"))
        .await?
        .ensure_status(201)?
        .body;
    let visit = rep
        .post(
            "/visits",
            &json!({
                "account_id": account["id"],
                "planned_at": "2030-01-01T09:00:00Z",
                "type": "onsite",
            }),
        )
        .await?
        .ensure_status(201)?
        .body;
    Ok((account, visit))
}

/// The fields the schema of `view` (its `allOf` parts and the records they
/// name) says are always answered, which `value` lacks.
fn required_but_missing(document: &Value, view: &str, value: &Value) -> Vec<String> {
    let parts = schema(document, view)["allOf"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    parts
        .iter()
        .map(|part| match part["$ref"].as_str() {
            Some(reference) => schema(
                document,
                reference.trim_start_matches("#/components/schemas/"),
            ),
            None => part,
        })
        .flat_map(|part| part["required"].as_array().cloned().unwrap_or_default())
        .filter_map(|field| field.as_str().map(str::to_owned))
        .filter(|field| value.get(field).is_none())
        .collect()
}

#[tokio::test]
async fn record_views_fit_their_documented_schemas() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let document = served_document(&app).await?;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let (account, visit) = account_and_visit(&rep).await?;
    assert_eq!(
        fields_rejected_by_parts(&document, "AccountView", &account),
        Vec::<String>::new()
    );
    assert_eq!(
        fields_rejected_by_parts(&document, "VisitView", &visit),
        Vec::<String>::new()
    );
    // What the server always answers is required, so typed clients need
    // no guards: a fresh account's stage and tags, a visit's status.
    for (view, value, field) in [
        ("AccountView", &account, "stage"),
        ("AccountView", &account, "tags"),
        ("VisitView", &visit, "status"),
    ] {
        assert_eq!(
            required_but_missing(&document, view, value),
            Vec::<String>::new()
        );
        let required = schema(&document, view.trim_end_matches("View"))["required"].clone();
        assert!(
            required
                .as_array()
                .is_some_and(|all| all.contains(&json!(field))),
            "{view}: {field} is always answered but not required"
        );
    }
    assert_eq!(
        schema(&document, "NewAccount")["additionalProperties"],
        Value::Bool(false),
        "a new account's body still refuses unknown fields"
    );
    Ok(())
}

#[tokio::test]
async fn list_limits_are_documented_as_the_server_takes_them() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let document = served_document(&app).await?;
    let org = app.seed_org().await?;
    let admin = app.login_as(&org.admin).await?;
    for path in ["/accounts", "/visits", "/users"] {
        let limit = query_parameter(&document, &format!("/api/v1{path}"), "limit");
        assert_eq!(limit["minimum"], 1, "{path}");
        assert_eq!(limit["maximum"], 500, "{path}");
        admin
            .get(&format!("{path}?limit=1"))
            .await?
            .assert_status(200);
        admin
            .get(&format!("{path}?limit=500"))
            .await?
            .assert_status(200);
        admin
            .get(&format!("{path}?limit=0"))
            .await?
            .assert_problem(400, "invalid_query");
    }
    Ok(())
}

#[tokio::test]
async fn a_sync_limit_is_documented_over_its_whole_range() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let document = served_document(&app).await?;
    let limit = &schema(&document, "SyncRequest")["properties"]["limit"];
    assert_eq!(limit["maximum"], u64::from(u32::MAX));
    assert_ne!(limit["format"], "int32", "int32 ends at 2^31 - 1");
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    assert_eq!(limit["minimum"], 1);
    rep.post("/sync", &json!({ "limit": 0 }))
        .await?
        .assert_violation("limit", "invalid_value");
    rep.post("/sync", &json!({ "limit": u32::MAX }))
        .await?
        .assert_status(200);
    rep.post("/sync", &json!({ "limit": u64::from(u32::MAX) + 1 }))
        .await?
        .assert_problem(422, "invalid_body");
    Ok(())
}

#[tokio::test]
async fn admin_bodies_document_the_lengths_the_server_checks() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let document = served_document(&app).await?;
    let create = &schema(&document, "CreateUser")["properties"];
    assert_eq!(create["password"]["minLength"], 10);
    assert_eq!(create["display_name"]["minLength"], 1);
    assert_eq!(create["display_name"]["maxLength"], 200);
    assert_eq!(
        schema(&document, "CreateTeam")["properties"]["name"]["minLength"],
        1
    );
    assert_eq!(
        schema(&document, "RevokeSessions")["properties"]["device_id"]["minLength"],
        1
    );
    let org = app.seed_org().await?;
    let admin = app.login_as(&org.admin).await?;
    let user = |password: &str, display_name: &str| {
        json!({
            "username": "new.rep",
            "display_name": display_name,
            "password": password,
            "role": "rep",
            "team_id": org.team_a,
        })
    };
    for (password, display_name) in [("123456789", "New Rep"), ("1234567890", "")] {
        admin
            .post("/users", &user(password, display_name))
            .await?
            .assert_problem(422, "validation_failed");
    }
    admin
        .post("/users", &user("1234567890", "N"))
        .await?
        .assert_status(201);
    Ok(())
}

#[tokio::test]
async fn a_patch_that_is_no_valid_patch_is_refused_before_its_precondition() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let (account, visit) = account_and_visit(&rep).await?;
    for (path, version) in [
        (
            format!("/accounts/{}", account["id"].as_str().unwrap_or_default()),
            &account["version"],
        ),
        (
            format!("/visits/{}", visit["id"].as_str().unwrap_or_default()),
            &visit["version"],
        ),
    ] {
        for if_match in ["", "\"0\""] {
            let reply = rep
                .send(
                    rep.request(Method::PATCH, &path)
                        .header("if-match", if_match)
                        .json(&json!({ "x-unknown-property": 42 })),
                )
                .await?;
            reply.assert_problem(422, "validation_failed");
        }
        let now = rep.get(&path).await?.ensure_status(200)?.body;
        assert_eq!(&now["version"], version, "{path} changed");
    }
    Ok(())
}
