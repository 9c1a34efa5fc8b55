//! The black-box test harness: the real KAM Sync server started on a free
//! port against a fresh database, an org seeded straight through
//! [`kam_server::org`], and a small HTTP client that logs in and sends JSON.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use kam_tests::{TestApp, new_account};
//! let app = TestApp::spawn().await;
//! let org = app.seed_org().await?;
//! let rep = app.login_as(&org.rep_a1).await?;
//! let created = rep.create_account(new_account("Shanghai Metro")).await?;
//! let reply = rep.get(&format!("/accounts/{}", created.id)).await?;
//! reply.assert_status(200);
//! # Ok(())
//! # }
//! ```
//!
//! # Databases
//! Each [`TestApp`] gets a database of its own:
//! - by default a SQLite file in a fresh temporary directory;
//! - when `KAM_TEST_DATABASE_URL` names a PostgreSQL server
//!   (`postgres://postgres@127.0.0.1:5432/postgres`), a new database on that
//!   server, copied from a template that each test binary migrates once
//!   (`CREATE DATABASE ... TEMPLATE ...`, as crates.io does), so a test pays
//!   for a file copy rather than for the migrations. Most areas are modules
//!   of the one binary `it` (`tests/tests/it/`) and share its template; the
//!   few files that need the process to themselves are binaries of their
//!   own.
//!
//! A server named by `KAM_TEST_DATABASE_URL` that cannot be reached fails
//! every test, in CI and locally alike: a run never falls back to SQLite
//! behind the caller's back.
//!
//! A test database is dropped with its [`TestApp`], except when the test
//! panicked: then its name (or the SQLite directory) is printed and it is
//! kept for inspection, until a run an hour later drops it. A binary's
//! template lives while the binary runs (an advisory lock it holds says so)
//! and is dropped by the next test binary to start (the lock is taken in
//! the server's `postgres` database, so that runs naming different
//! databases see each other's).
//!
//! Set `KAM_TEST_LOG` (with `KAM_LOG` as the filter) to see the server's logs.

use anyhow::{Context, bail};
use kam_server::auth::{Role, TokenPair};
use kam_server::config::{DatabaseSettings, Settings};
use kam_server::db::Db;
use kam_server::org::{self, NewUser};
use kam_server::records::accounts::AccountView;
use kam_server::startup::Application;
use kam_server::state::AppState;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap};
use reqwest::{RequestBuilder, Url};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
    TransactionTrait,
};
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tempfile::TempDir;
use uuid::Uuid;

pub mod axe;
pub mod browser;
pub mod cli;
pub mod log_capture;
pub mod node;

pub use reqwest::{Method, StatusCode};

/// The environment variable naming a PostgreSQL server to test against.
pub const DATABASE_URL_VAR: &str = "KAM_TEST_DATABASE_URL";

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A running server on `127.0.0.1` with a database of its own.
///
/// Dropping it stops the server and drops the database.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// The port the server listens on.
    pub port: u16,
    /// The port of the metrics listener, when `metrics.bind` is set.
    pub metrics_port: Option<u16>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    state: Arc<AppState>,
    http: reqwest::Client,
    database: TestDatabase,
    database_url: String,
}

impl TestApp {
    /// Builds the real application on `127.0.0.1:0` against a fresh database
    /// and runs it in the background. Panics, with the reason, when that
    /// cannot be done.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// As [`TestApp::spawn`], with settings changed by `adjust` (policies
    /// such as SLA hours; the bind address and database are the harness's).
    pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> Self {
        Self::try_spawn(adjust)
            .await
            .unwrap_or_else(|err| panic!("cannot start the test server: {err:#}"))
    }

    /// Another server process on this one's database, as a second node of a
    /// deployment would run (with its settings changed by `adjust`). This
    /// app keeps owning the database.
    pub async fn spawn_beside(&self, adjust: impl FnOnce(&mut Settings)) -> Self {
        Self::try_spawn_on(TestDatabase::Shared, self.database_url.clone(), adjust)
            .await
            .unwrap_or_else(|err| panic!("cannot start the second test server: {err:#}"))
    }

    async fn try_spawn(adjust: impl FnOnce(&mut Settings)) -> anyhow::Result<Self> {
        let (database, url) = TestDatabase::create().await?;
        Self::try_spawn_on(database, url, adjust).await
    }

    async fn try_spawn_on(
        database: TestDatabase,
        url: String,
        adjust: impl FnOnce(&mut Settings),
    ) -> anyhow::Result<Self> {
        if std::env::var_os("KAM_TEST_LOG").is_some() {
            kam_server::telemetry::init();
        }
        let mut settings = Settings::defaults().context("cannot read the default settings")?;
        adjust(&mut settings);
        settings.server.bind = "127.0.0.1:0".into();
        settings.database.url = Some(SecretString::from(url.clone()));
        let application = Application::build(settings)
            .await
            .context("cannot build the application")?;
        let port = application.port();
        let metrics_port = application.metrics_port();
        let state = application.state().into_inner();
        let server = application.spawn();
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            // Below the server's keep-alive (5 s): a connection idle longer
            // may be closed by the server as it is reused.
            .pool_idle_timeout(Duration::from_secs(4))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self {
            address: format!("http://127.0.0.1:{port}"),
            port,
            metrics_port,
            server,
            state,
            http,
            database,
            database_url: url,
        })
    }

    /// The server's shared state: its database handle, token keys, settings
    /// and sessions, for setting up what the API cannot (yet) do.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The server's database.
    pub fn db(&self) -> &Db {
        &self.state.db
    }

    /// The URL of the server's database, for running a `kam-server` command
    /// on it ([`cli::kam_server`]).
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// Whether this app runs on PostgreSQL (else SQLite).
    pub fn is_postgres(&self) -> bool {
        match self.database {
            TestDatabase::Postgres(_) => true,
            TestDatabase::Sqlite(_) => false,
            TestDatabase::Shared => self.database_url.starts_with("postgres"),
        }
    }

    /// A client without credentials.
    pub fn api(&self) -> Api {
        Api {
            http: self.http.clone(),
            address: self.address.clone(),
            token: None,
        }
    }

    /// Logs in over HTTP; any answer but 200 is an error carrying the reply.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        device_id: &str,
    ) -> anyhow::Result<Session> {
        let reply = self
            .api()
            .post(
                "/auth/login",
                &json!({ "username": username, "password": password, "device_id": device_id }),
            )
            .await?
            .ensure_status(200)?;
        Ok(self.session(reply.json()?, device_id))
    }

    /// Logs a seeded user in on the device `<username>-phone`.
    pub async fn login_as(&self, user: &OrgUser) -> anyhow::Result<Session> {
        self.login(
            &user.username,
            &user.password,
            &format!("{}-phone", user.username),
        )
        .await
    }

    /// A session from a token pair (the answer of a login or a refresh).
    pub fn session(&self, pair: TokenPair, device_id: &str) -> Session {
        Session {
            api: self.api().with_token(&pair.access_token),
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
            session_id: pair.session_id,
            device_id: device_id.to_owned(),
        }
    }

    /// Creates a branch.
    pub async fn create_branch(&self, name: &str) -> anyhow::Result<Uuid> {
        let branch = org::create_branch(self.db(), name)
            .await
            .map_err(|err| anyhow::anyhow!("cannot create branch {name}: {err:?}"))?;
        Ok(branch.id)
    }

    /// Creates a team in `branch_id`, led by `managers`.
    pub async fn create_team(
        &self,
        name: &str,
        branch_id: Uuid,
        managers: &[Uuid],
    ) -> anyhow::Result<Uuid> {
        let team = org::create_team(self.db(), name, branch_id, managers)
            .await
            .map_err(|err| anyhow::anyhow!("cannot create team {name}: {err:?}"))?;
        Ok(team.id)
    }

    /// Creates a user whose password is [`password_of`] their username.
    pub async fn create_user(
        &self,
        username: &str,
        role: Role,
        team_id: Option<Uuid>,
        branch_id: Option<Uuid>,
    ) -> anyhow::Result<OrgUser> {
        let password = password_of(username);
        let user = org::create_user(
            self.db(),
            NewUser {
                username: username.to_owned(),
                display_name: format!("Test {username}"),
                password: SecretString::from(password.clone()),
                role,
                team_id,
                branch_id,
            },
        )
        .await
        .map_err(|err| anyhow::anyhow!("cannot create user {username}: {err:?}"))?;
        Ok(OrgUser {
            id: user.id,
            username: username.to_owned(),
            password,
            role,
        })
    }

    /// Seeds the small org most tests start from (see [`Org`]).
    pub async fn seed_org(&self) -> anyhow::Result<Org> {
        let branch_id = self.create_branch("East").await?;
        // Password hashing runs on the blocking pool: hash side by side.
        let (admin, director, manager, service) = tokio::try_join!(
            self.create_user("admin", Role::Admin, None, None),
            self.create_user("director", Role::Director, None, Some(branch_id)),
            self.create_user("manager", Role::Manager, None, Some(branch_id)),
            self.create_user("service", Role::Service, None, Some(branch_id)),
        )?;
        let team_a = self.create_team("Team A", branch_id, &[manager.id]).await?;
        let team_b = self.create_team("Team B", branch_id, &[]).await?;
        let (rep_a1, rep_a2, rep_b1) = tokio::try_join!(
            self.create_user("rep_a1", Role::Rep, Some(team_a), None),
            self.create_user("rep_a2", Role::Rep, Some(team_a), None),
            self.create_user("rep_b1", Role::Rep, Some(team_b), None),
        )?;
        Ok(Org {
            branch_id,
            team_a,
            team_b,
            admin,
            director,
            manager,
            rep_a1,
            rep_a2,
            rep_b1,
            service,
        })
    }
}

impl TestApp {
    /// Seeds a second branch, West, beside the org of [`TestApp::seed_org`]
    /// (see [`West`]).
    pub async fn seed_west(&self) -> anyhow::Result<West> {
        let branch_id = self.create_branch("West").await?;
        let manager = self
            .create_user("manager_w", Role::Manager, None, Some(branch_id))
            .await?;
        let team = self
            .create_team("West team", branch_id, &[manager.id])
            .await?;
        let (director, service, rep, other_rep) = tokio::try_join!(
            self.create_user("director_w", Role::Director, None, Some(branch_id)),
            self.create_user("service_w", Role::Service, None, Some(branch_id)),
            self.create_user("rep_w1", Role::Rep, Some(team), None),
            self.create_user("rep_w2", Role::Rep, Some(team), None),
        )?;
        Ok(West {
            branch_id,
            team,
            director,
            manager,
            service,
            rep,
            other_rep,
        })
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The password [`TestApp::create_user`] gives `username`.
pub fn password_of(username: &str) -> String {
    format!("{username}-secret-pw")
}

/// A seeded user and what it takes to log in as them.
#[derive(Debug, Clone)]
pub struct OrgUser {
    /// User id.
    pub id: Uuid,
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
    /// Role.
    pub role: Role,
}

/// The org of [`TestApp::seed_org`]: one branch, East, with two teams.
#[derive(Debug, Clone)]
pub struct Org {
    /// The branch.
    pub branch_id: Uuid,
    /// Team A, led by `manager`, with `rep_a1` and `rep_a2`.
    pub team_a: Uuid,
    /// Team B, with `rep_b1` and no manager.
    pub team_b: Uuid,
    /// The administrator (no team, no branch).
    pub admin: OrgUser,
    /// The director of the branch.
    pub director: OrgUser,
    /// The manager leading team A (in the branch, in no team).
    pub manager: OrgUser,
    /// A rep in team A.
    pub rep_a1: OrgUser,
    /// Another rep in team A.
    pub rep_a2: OrgUser,
    /// A rep in team B.
    pub rep_b1: OrgUser,
    /// Customer service for the branch.
    pub service: OrgUser,
}

/// The second branch of [`TestApp::seed_west`]: West, with one team.
#[derive(Debug, Clone)]
pub struct West {
    /// The branch.
    pub branch_id: Uuid,
    /// Its team, led by `manager`, with `rep` and `other_rep`.
    pub team: Uuid,
    /// The director of the branch.
    pub director: OrgUser,
    /// The manager leading the team (in the branch, in no team).
    pub manager: OrgUser,
    /// Customer service for the branch.
    pub service: OrgUser,
    /// A rep in the team.
    pub rep: OrgUser,
    /// Another rep in the team.
    pub other_rep: OrgUser,
}

/// A new account's body: a name and a segment, the two required fields.
pub fn new_account(name: &str) -> Value {
    json!({ "name": name, "segment": "enterprise" })
}

/// An HTTP client for `/api/v1`, with or without a bearer token.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    address: String,
    token: Option<String>,
}

impl Api {
    /// The absolute URL of `path` under `/api/v1` (`/accounts` → `http://…/api/v1/accounts`).
    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.address)
    }

    /// The absolute URL of `path` at the server's root (`/healthz`).
    pub fn root_url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// The same client, sending `token` as its bearer token.
    pub fn with_token(&self, token: &str) -> Self {
        Self {
            token: Some(token.to_owned()),
            ..self.clone()
        }
    }

    /// The underlying client, for requests built entirely by hand.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// A request to `path` under `/api/v1`, with the bearer token if any.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.http.request(method, self.url(path));
        match &self.token {
            Some(token) => request.header(AUTHORIZATION, format!("Bearer {token}")),
            None => request,
        }
    }

    /// Sends a request and reads the reply.
    pub async fn send(&self, request: RequestBuilder) -> anyhow::Result<Reply> {
        let response = request.send().await.context("the request failed")?;
        Reply::read(response).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> anyhow::Result<Reply> {
        self.send(self.request(Method::GET, path)).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Reply> {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    /// `PATCH path` with a JSON body.
    pub async fn patch(&self, path: &str, body: &Value) -> anyhow::Result<Reply> {
        self.send(self.request(Method::PATCH, path).json(body))
            .await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> anyhow::Result<Reply> {
        self.send(self.request(Method::DELETE, path)).await
    }
}

/// A logged-in device: its tokens and a client that sends the access token.
#[derive(Clone)]
pub struct Session {
    /// The bearer token sent with every request.
    pub access_token: String,
    /// The single-use refresh token.
    pub refresh_token: String,
    /// The server's id of this session.
    pub session_id: Uuid,
    /// The device named at login.
    pub device_id: String,
    api: Api,
}

impl Session {
    /// The client, sending this session's access token.
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// A request to `path` under `/api/v1` with the access token, to add
    /// headers or a body of one's own; send it with [`Session::send`].
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.api.request(method, path)
    }

    /// Sends a request and reads the reply.
    pub async fn send(&self, request: RequestBuilder) -> anyhow::Result<Reply> {
        self.api.send(request).await
    }

    /// `GET path` with the access token.
    pub async fn get(&self, path: &str) -> anyhow::Result<Reply> {
        self.api.get(path).await
    }

    /// `POST path` with a JSON body and the access token.
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Reply> {
        self.api.post(path, body).await
    }

    /// `PATCH path` with a JSON body and the access token.
    pub async fn patch(&self, path: &str, body: &Value) -> anyhow::Result<Reply> {
        self.api.patch(path, body).await
    }

    /// `PUT`s `body` as JSON to `path`.
    pub async fn put(&self, path: &str, body: &Value) -> anyhow::Result<Reply> {
        self.send(self.request(Method::PUT, path).json(body)).await
    }

    /// `DELETE path` with the access token.
    pub async fn delete(&self, path: &str) -> anyhow::Result<Reply> {
        self.api.delete(path).await
    }

    /// `POST path` expecting 201; any other answer is an error carrying the
    /// reply. The body is read as `T`.
    pub async fn created<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<T> {
        self.post(path, body).await?.ensure_status(201)?.json()
    }

    /// `PATCH path` expecting 200; any other answer is an error carrying the
    /// reply. The body is read as `T`.
    pub async fn patched<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<T> {
        self.patch(path, body).await?.ensure_status(200)?.json()
    }

    /// `GET path` expecting 200; any other answer is an error carrying the
    /// reply. The body is read as `T`.
    pub async fn read<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.get(path).await?.ensure_status(200)?.json()
    }

    /// Creates an account; any answer but 201 is an error carrying the reply.
    pub async fn create_account(&self, body: Value) -> anyhow::Result<AccountView> {
        self.created("/accounts", &body).await
    }

    /// Reads an account; any answer but 200 is an error carrying the reply.
    pub async fn account(&self, id: impl std::fmt::Display) -> anyhow::Result<AccountView> {
        self.read(&format!("/accounts/{id}")).await
    }

    /// Every account this session lists with `query` (`owner_id=…&tier=key`),
    /// following the cursor to the last page.
    pub async fn list_accounts(&self, query: &str) -> anyhow::Result<Vec<AccountView>> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let mut path = format!("/accounts?{query}");
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let page: kam_server::records::page::Page<AccountView> =
                self.get(&path).await?.ensure_status(200)?.json()?;
            items.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(items),
            }
        }
        bail!("the list of accounts did not end after 1000 pages")
    }
}

/// An HTTP answer: status, headers and the body as JSON (`Null` when empty,
/// a JSON string when the body is not JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Value,
}

impl Reply {
    /// Reads a response whole.
    pub async fn read(response: reqwest::Response) -> anyhow::Result<Self> {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.context("cannot read the body")?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok(Self {
            status,
            headers,
            body,
        })
    }

    /// A header's value, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The problem's stable `code`, if the body has one.
    pub fn code(&self) -> Option<&str> {
        self.body.get("code").and_then(Value::as_str)
    }

    /// The fields named by the problem's `violations`.
    pub fn violated_fields(&self) -> Vec<String> {
        self.body
            .get("violations")
            .and_then(Value::as_array)
            .map(|all| {
                all.iter()
                    .filter_map(|v| v.get("field").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The body as `T`.
    pub fn json<T: DeserializeOwned>(&self) -> anyhow::Result<T> {
        serde_json::from_value(self.body.clone())
            .with_context(|| format!("unexpected body for a {}: {}", self.status, self.body))
    }

    /// This reply if its status is `status`, else an error showing it.
    pub fn ensure_status(self, status: u16) -> anyhow::Result<Self> {
        if self.status != status {
            bail!("expected {status}, got {}: {}", self.status, self.body);
        }
        Ok(self)
    }

    /// Panics unless the status is `status`.
    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        self
    }

    /// Panics unless this is a 422 `validation_failed` problem whose
    /// violations name `field` with `code`.
    #[track_caller]
    pub fn assert_violation(&self, field: &str, code: &str) -> &Self {
        self.assert_problem(422, "validation_failed");
        let found = self
            .body
            .get("violations")
            .and_then(Value::as_array)
            .is_some_and(|all| all.iter().any(|v| v["field"] == field && v["code"] == code));
        assert!(
            found,
            "the violations should name {field:?} with {code:?}: {}",
            self.body
        );
        self
    }

    /// Panics unless this is an RFC 9457 problem with `status` and the stable
    /// `code`, sent as `application/problem+json`.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) -> &Self {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        assert_eq!(
            self.code(),
            Some(code),
            "unexpected problem code; body: {}",
            self.body
        );
        assert_eq!(
            self.header(CONTENT_TYPE.as_str()),
            Some(PROBLEM_JSON),
            "a problem is sent as {PROBLEM_JSON}"
        );
        assert_eq!(
            self.body.get("status").and_then(Value::as_u64),
            Some(u64::from(status))
        );
        assert_eq!(
            self.body.get("type").and_then(Value::as_str),
            Some(format!("/problems/{code}").as_str())
        );
        self
    }
}

/// Where a [`TestApp`]'s data lives, and what to clean up after it.
enum TestDatabase {
    Sqlite(Option<TempDir>),
    Postgres(PgDatabase),
    /// Another app's database, which that app drops.
    Shared,
}

impl TestDatabase {
    /// A fresh database and the URL to give the server.
    async fn create() -> anyhow::Result<(Self, String)> {
        match std::env::var(DATABASE_URL_VAR) {
            Ok(server) if !server.trim().is_empty() => {
                let database = PgDatabase::create(server.trim()).await?;
                let url = database_url(&database.server, &database.name)?;
                Ok((Self::Postgres(database), url))
            }
            _ => {
                let dir = tempfile::Builder::new()
                    .prefix("kam-test-")
                    .tempdir()
                    .context("cannot make a temporary directory")?;
                let url = format!("sqlite://{}/kam.db?mode=rwc", dir.path().display());
                Ok((Self::Sqlite(Some(dir)), url))
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match self {
            Self::Sqlite(dir) if std::thread::panicking() => {
                if let Some(dir) = dir.take() {
                    eprintln!(
                        "kept the failed test's SQLite database in {}",
                        dir.keep().display()
                    );
                }
            }
            Self::Sqlite(_) | Self::Shared => {}
            Self::Postgres(database) if std::thread::panicking() => eprintln!(
                "kept the failed test's database {} on {}",
                database.name,
                redacted(&database.server)
            ),
            Self::Postgres(database) => database.drop_now(),
        }
    }
}

/// How old (in seconds) a leftover test database must be before a later run drops it.
const STALE_AFTER_SECS: u64 = 3600;
/// Names of per-test databases: `kam_t_<unix seconds>_<uuid>`.
const TEST_DB_PREFIX: &str = "kam_t_";
/// Names of per-binary templates: `kam_tmpl_<key>`, where `key` is the
/// advisory lock its test binary holds for as long as it runs.
const TEMPLATE_PREFIX: &str = "kam_tmpl_";

/// The template this test binary copies its databases from, made once; or
/// why it could not be made, so that every later test fails at once with
/// the same reason instead of waiting for the same timeout.
static TEMPLATE: tokio::sync::OnceCell<Result<String, String>> = tokio::sync::OnceCell::const_new();

/// A database of its own on a PostgreSQL server, dropped with it.
struct PgDatabase {
    /// The server's URL, as given in `KAM_TEST_DATABASE_URL`.
    server: String,
    /// The database's name.
    name: String,
}

impl PgDatabase {
    async fn create(server: &str) -> anyhow::Result<Self> {
        if !(server.starts_with("postgres://") || server.starts_with("postgresql://")) {
            bail!(
                "{DATABASE_URL_VAR} must be a postgres:// URL, not {}",
                redacted(server)
            );
        }
        let template = TEMPLATE
            .get_or_init(|| async {
                make_template(server)
                    .await
                    .map_err(|err| format!("{err:#}"))
            })
            .await
            .as_ref()
            .map_err(|err| anyhow::anyhow!("{err}"))?;
        let name = unique_name(TEST_DB_PREFIX);
        let admin = connect_server(server).await?;
        let created = admin
            .execute_unprepared(&format!(
                "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
            ))
            .await
            .with_context(|| format!("cannot create database {name} from template {template}"));
        admin.close_by_ref().await.ok();
        created?;
        Ok(Self {
            server: server.to_owned(),
            name,
        })
    }
}

impl PgDatabase {
    /// Drops the database, whoever is still connected.
    fn drop_now(&self) {
        let server = self.server.clone();
        let name = self.name.clone();
        // Drop cannot await, and the test's runtime may be single-threaded:
        // the database is dropped from a thread with a runtime of its own.
        let dropped = std::thread::spawn(move || -> anyhow::Result<()> {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(drop_database(&server, &name))
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(err)) => eprintln!("cannot drop test database {}: {err:#}", self.name),
            Err(_) => eprintln!("dropping test database {} panicked", self.name),
        }
    }
}

/// Makes and migrates this binary's template, first dropping what earlier
/// runs left behind.
async fn make_template(server: &str) -> anyhow::Result<String> {
    let key = i64::from_be_bytes(Uuid::new_v4().as_bytes()[..8].try_into()?).abs();
    hold_while_running(server, key).await?;
    let name = format!("{TEMPLATE_PREFIX}{key}");
    let admin = connect_server(server).await?;
    drop_abandoned_databases(server, &admin).await;
    let created = admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .with_context(|| format!("cannot create template database {name}"));
    admin.close_by_ref().await.ok();
    created?;
    let db = Db::connect(&DatabaseSettings {
        url: Some(SecretString::from(database_url(server, &name)?)),
        max_connections: 1,
    })
    .await
    .with_context(|| format!("cannot migrate template database {name}"))?;
    // A database with open connections cannot be copied.
    db.conn().close_by_ref().await?;
    Ok(name)
}

/// Takes the advisory lock `key` on the server and holds it until this
/// process exits, from a thread of its own (each test has its own runtime,
/// which ends with the test): while the lock is held, the template named
/// after it is in use.
async fn hold_while_running(server: &str, key: i64) -> anyhow::Result<()> {
    let (held, taken) = tokio::sync::oneshot::channel();
    let server = server.to_owned();
    std::thread::spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(err) => {
                held.send(Err(err.into())).ok();
                return;
            }
        };
        runtime.block_on(async move {
            let lock = async {
                let conn = connect_server(&lock_database_url(&server)?).await?;
                // A connection in a transaction is never idle, so the pool
                // never closes it (and so never releases the lock).
                let txn = conn.begin().await?;
                txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({key})"))
                    .await?;
                anyhow::Ok((conn, txn))
            };
            match lock.await {
                Ok(_lock) => {
                    held.send(Ok(())).ok();
                    std::future::pending::<()>().await;
                }
                Err(err) => {
                    held.send(Err(err)).ok();
                }
            }
        });
    });
    taken
        .await
        .context("the thread holding the template's lock stopped")?
        .context("cannot take the template's advisory lock")
}

/// Connects to the server's own database (the one `KAM_TEST_DATABASE_URL` names).
async fn connect_server(server: &str) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(server.to_owned());
    options
        .max_connections(1)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    Database::connect(options).await.with_context(|| {
        format!(
            "{DATABASE_URL_VAR} names a PostgreSQL server that cannot be reached ({}); \
             start it, or unset {DATABASE_URL_VAR} to test on SQLite",
            redacted(server)
        )
    })
}

/// Drops a database, ending its connections (`WITH (FORCE)`: PostgreSQL 13 or later).
async fn drop_database(server: &str, name: &str) -> anyhow::Result<()> {
    let admin = connect_server(server).await?;
    let dropped = admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await;
    admin.close_by_ref().await.ok();
    dropped?;
    Ok(())
}

/// The database the templates' advisory locks are taken in: always the
/// server's `postgres` database, because an advisory lock is held within
/// one database, and runs naming different databases in
/// `KAM_TEST_DATABASE_URL` must see each other's locks (or each would take
/// the other's templates for abandoned and drop them).
fn lock_database_url(server: &str) -> anyhow::Result<String> {
    database_url(server, "postgres")
}

/// Drops what earlier runs left: templates whose test binary has exited
/// (nobody holds their lock), and test databases older than
/// [`STALE_AFTER_SECS`] (kept after a failure, or left by a killed run). One
/// still in use refuses to go, and is left alone.
async fn drop_abandoned_databases(server: &str, admin: &DatabaseConnection) {
    let Ok(locks) = async { connect_server(&lock_database_url(server)?).await }.await else {
        return;
    };
    let Ok(rows) = admin
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT datname FROM pg_database WHERE datname LIKE 'kam%'",
        ))
        .await
    else {
        return;
    };
    let now = unix_now();
    for row in rows {
        let Ok(name) = row.try_get::<String>("", "datname") else {
            continue;
        };
        if let Some(key) = name
            .strip_prefix(TEMPLATE_PREFIX)
            .and_then(|key| key.parse::<i64>().ok())
        {
            let free = locks
                .query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    format!("SELECT pg_try_advisory_lock({key}) AS free"),
                ))
                .await
                .ok()
                .flatten()
                .and_then(|row| row.try_get::<bool>("", "free").ok())
                .unwrap_or(false);
            if free {
                drop_quietly(admin, &name).await;
                locks
                    .execute_unprepared(&format!("SELECT pg_advisory_unlock({key})"))
                    .await
                    .ok();
            }
        }
        let created = name
            .strip_prefix(TEST_DB_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        if created.is_some_and(|created| now.saturating_sub(created) > STALE_AFTER_SECS) {
            drop_quietly(admin, &name).await;
        }
    }
    locks.close_by_ref().await.ok();
}

/// Drops a database unless someone is connected to it.
async fn drop_quietly(admin: &DatabaseConnection, name: &str) {
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\""))
        .await
        .ok();
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn unique_name(prefix: &str) -> String {
    format!("{prefix}{}_{}", unix_now(), Uuid::new_v4().simple())
}

/// The server's URL with the database name replaced.
fn database_url(server: &str, name: &str) -> anyhow::Result<String> {
    let mut url = Url::parse(server).with_context(|| format!("{DATABASE_URL_VAR} is not a URL"))?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

/// A URL fit to print: without its password.
fn redacted(server: &str) -> String {
    match Url::parse(server) {
        Ok(mut url) => {
            if url.password().is_some() {
                url.set_password(Some("***")).ok();
            }
            url.to_string()
        }
        Err(_) => "<not a URL>".to_owned(),
    }
}

/// A phone: a login session and a replica (`kam-sync-core`'s own client
/// code), syncing with the server over HTTP.
pub struct Device {
    /// Its login.
    pub session: Session,
    /// Its local copy of the records in its user's scope.
    pub replica: kam_sync_core::Replica,
    /// Its user.
    pub user: Uuid,
}

impl Device {
    /// Logs `user` in as the device `name`, with an empty replica.
    pub async fn new(app: &TestApp, user: &OrgUser, name: &str) -> anyhow::Result<Self> {
        let session = app.login(&user.username, &user.password, name).await?;
        Ok(Self {
            session,
            replica: kam_sync_core::Replica::new(automerge::ActorId::random()),
            user: user.id,
        })
    }

    /// The author of a change made on this device now.
    pub fn meta(&self) -> kam_sync_core::ChangeMeta {
        kam_sync_core::ChangeMeta {
            user: Some(self.user.into()),
            device: self.session.device_id.clone(),
            time: chrono::Utc::now(),
        }
    }

    /// Sends one sync request.
    pub async fn send(
        &self,
        request: &kam_sync_core::protocol::SyncRequest,
    ) -> anyhow::Result<Reply> {
        self.session
            .post("/sync", &serde_json::to_value(request)?)
            .await
    }

    /// Syncs until nothing more is waiting; returns every notice and drop.
    pub async fn sync(&mut self) -> anyhow::Result<kam_sync_core::SyncOutcome> {
        let mut total = kam_sync_core::SyncOutcome::default();
        for _ in 0..100 {
            let request = self.replica.prepare_sync();
            let response: kam_sync_core::protocol::SyncResponse =
                self.send(&request).await?.ensure_status(200)?.json()?;
            let outcome = self.replica.apply_sync(response)?;
            total.received += outcome.received;
            total.dropped.extend(outcome.dropped);
            total.notices.extend(outcome.notices);
            if !outcome.has_more && !self.replica.needs_sync() {
                return Ok(total);
            }
        }
        bail!("sync did not settle")
    }

    /// Makes a record offline; returns its id.
    pub fn create<R: kam_sync_core::Record>(&mut self, record: &R) -> anyhow::Result<Uuid> {
        let id = Uuid::now_v7();
        let meta = self.meta();
        self.replica.create(id, record, &meta)?;
        Ok(id)
    }

    /// Edits a record offline with a merge patch.
    pub fn edit<R: kam_sync_core::Record>(&mut self, id: Uuid, patch: Value) -> anyhow::Result<()> {
        let meta = self.meta();
        self.replica.edit::<R>(id, &object(patch), &meta)?;
        Ok(())
    }

    /// Edits an account offline with a merge patch.
    pub fn edit_account(&mut self, id: Uuid, patch: Value) -> anyhow::Result<()> {
        self.edit::<kam_sync_core::Account>(id, patch)
    }

    /// The record as this device holds it (`null` when it does not).
    pub fn json(&self, id: Uuid) -> Value {
        self.replica
            .doc(id)
            .map(|d| d.to_json())
            .unwrap_or(Value::Null)
    }
}

/// The members of a JSON object (none for anything else).
pub fn object(value: Value) -> serde_json::Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

/// `items` sorted: for comparing sets of ids whatever order they came in.
pub fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort();
    items
}
