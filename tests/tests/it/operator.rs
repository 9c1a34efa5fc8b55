//! What an operator runs beside the server, as the real `kam-server` binary:
//! `health` against a real server, start-up refusing a misspelt setting,
//! `--help` naming every setting's source, and `user` commands on the
//! server's database, checked by logging in over HTTP.

use kam_server::org::User;
use kam_server::records::page::Page;
use kam_tests::cli::{describe, kam_server};
use kam_tests::{Org, TestApp, password_of};
use serde_json::json;
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The password the `user` commands below set.
const NEW_PASSWORD: &str = "chosen-on-the-command-line";

/// Runs `command` with `input` on its standard input, and waits for it.
fn run_with_input(mut command: Command, input: &str) -> anyhow::Result<Output> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes())?;
    }
    Ok(child.wait_with_output()?)
}

/// Runs `command` off the test's runtime, which the in-process server it
/// talks to needs.
async fn run_beside_the_server(mut command: Command) -> anyhow::Result<Output> {
    Ok(tokio::task::spawn_blocking(move || command.output()).await??)
}

/// `kam-server user <args>` on the app's database, in an empty directory.
fn user_command(app: &TestApp, dir: &tempfile::TempDir, args: &[&str]) -> anyhow::Result<Command> {
    let mut command = kam_server()?;
    command
        .current_dir(dir.path())
        .env("KAM__DATABASE__URL", app.database_url())
        .arg("user")
        .args(args);
    Ok(command)
}

/// The exit code, or a panic naming what the command wrote.
#[track_caller]
fn assert_exit(output: &Output, code: i32) {
    assert_eq!(output.status.code(), Some(code), "{}", describe(output));
}

/// The command's standard error, as text.
fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn health_exits_0_for_a_ready_server_and_1_when_nothing_listens() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir()?;
    let mut ready = kam_server()?;
    ready
        .current_dir(dir.path())
        .args(["health", "--url", &app.address]);
    let ready = run_beside_the_server(ready).await?;
    assert_exit(&ready, 0);

    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut nothing = kam_server()?;
    nothing
        .current_dir(dir.path())
        .args(["health", "--url", &format!("http://127.0.0.1:{port}")]);
    let nothing = run_beside_the_server(nothing).await?;
    assert_exit(&nothing, 1);
    assert!(
        stderr(&nothing).contains("not ready"),
        "{}",
        describe(&nothing)
    );
    Ok(())
}

#[tokio::test]
async fn health_asks_the_configured_bind_address_on_loopback() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir()?;
    // As in the container: the server listens on every address.
    let mut health = kam_server()?;
    health
        .current_dir(dir.path())
        .env("KAM__SERVER__BIND", format!("0.0.0.0:{}", app.port))
        .arg("health");
    let output = run_beside_the_server(health).await?;
    assert_exit(&output, 0);
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        said.contains(&format!("http://127.0.0.1:{}/readyz", app.port)),
        "{said}"
    );
    Ok(())
}

/// Starts the server with `configure` applied and waits (at most a minute,
/// a guard against a server that starts) for it to stop.
fn start_and_wait_for_exit(configure: impl FnOnce(&mut Command)) -> anyhow::Result<Output> {
    let dir = tempfile::tempdir()?;
    let mut command = kam_server()?;
    command
        .current_dir(dir.path())
        .env("KAM__SERVER__BIND", "127.0.0.1:0")
        .stdout(std::fs::File::create(dir.path().join("stdout"))?)
        .stderr(std::fs::File::create(dir.path().join("stderr"))?);
    configure(&mut command);
    let mut child = command.spawn()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            child.kill()?;
            child.wait()?;
            anyhow::bail!(
                "the server started and kept running: {}",
                std::fs::read_to_string(dir.path().join("stdout"))?
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Ok(Output {
        status,
        stdout: std::fs::read(dir.path().join("stdout"))?,
        stderr: std::fs::read(dir.path().join("stderr"))?,
    })
}

#[test]
fn a_misspelt_key_in_kam_toml_stops_the_server_naming_the_key_and_the_file() -> anyhow::Result<()> {
    let config = tempfile::tempdir()?;
    let file = config.path().join("kam.toml");
    std::fs::write(&file, "[server]\nbnid = \"0.0.0.0:9000\"\n")?;
    let output = start_and_wait_for_exit(|command| {
        command.env("KAM_CONFIG", &file);
    })?;
    assert_exit(&output, 1);
    let said = stderr(&output);
    assert!(said.contains(&file.display().to_string()), "{said}");
    assert!(said.contains("unknown field `bnid`"), "{said}");
    Ok(())
}

#[test]
fn a_misspelt_settings_variable_stops_the_server_naming_the_variable() -> anyhow::Result<()> {
    let output = start_and_wait_for_exit(|command| {
        command
            .env("KAM__SERVER__BIDN", "0.0.0.0:9000")
            .env("KAM_LOG_FORMAT", "json");
    })?;
    assert_exit(&output, 1);
    let said = stderr(&output);
    assert!(
        said.contains("environment variable KAM__SERVER__BIDN") && said.contains("`bidn`"),
        "{said}"
    );
    Ok(())
}

#[test]
fn help_names_the_config_file_and_every_variable_the_server_reads() -> anyhow::Result<()> {
    let output = kam_server()?.arg("--help").output()?;
    assert_exit(&output, 0);
    let help = String::from_utf8_lossy(&output.stdout).into_owned();
    for named in [
        "kam.toml",
        "examples/kam.example.toml",
        "KAM__SECTION__KEY",
        "KAM_CONFIG",
        "KAM_ADMIN_PASSWORD",
        "KAM_USER_PASSWORD",
        "KAM_LOG ",
        "KAM_LOG_FORMAT",
    ] {
        assert!(
            help.contains(named),
            "--help does not name {named}:\n{help}"
        );
    }
    Ok(())
}

/// The users the admin sees, by username.
async fn listed_user(app: &TestApp, org: &Org, username: &str) -> anyhow::Result<Option<User>> {
    let admin = app.login_as(&org.admin).await?;
    let page: Page<User> = admin
        .get("/users?limit=500")
        .await?
        .ensure_status(200)?
        .json()?;
    Ok(page
        .items
        .into_iter()
        .find(|user| user.username == username))
}

#[tokio::test]
async fn a_user_created_from_the_command_line_logs_in_over_http() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let dir = tempfile::tempdir()?;
    let mut create = user_command(
        &app,
        &dir,
        &[
            "create",
            "--username",
            "wang.fang",
            "--name",
            "Wang Fang",
            "--role",
            "rep",
            "--team",
            "Team A",
        ],
    )?;
    create.env("KAM_USER_PASSWORD", NEW_PASSWORD);
    let output = run_with_input(create, "")?;
    assert_exit(&output, 0);

    let session = app.login("wang.fang", NEW_PASSWORD, "her-phone").await?;
    let me = session.get("/auth/me").await?.ensure_status(200)?;
    assert_eq!(me.body["role"], json!("rep"), "{}", me.body);
    let listed = listed_user(&app, &org, "wang.fang").await?;
    assert_eq!(
        listed.map(|user| (user.display_name, user.team_id.map(uuid::Uuid::from))),
        Some(("Wang Fang".to_owned(), Some(org.team_a)))
    );
    Ok(())
}

#[tokio::test]
async fn a_password_reset_from_the_command_line_ends_the_old_password_and_every_session()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let before = app.login_as(&org.rep_a1).await?;
    let dir = tempfile::tempdir()?;

    // The password typed (or piped) on standard input.
    let reset = user_command(&app, &dir, &["reset-password", "--username", "rep_a1"])?;
    let output = run_with_input(reset, &format!("{NEW_PASSWORD}\n"))?;
    assert_exit(&output, 0);

    let old = app
        .api()
        .post(
            "/auth/login",
            &json!({ "username": "rep_a1", "password": password_of("rep_a1"), "device_id": "d" }),
        )
        .await?;
    old.assert_problem(401, "invalid_credentials");
    app.login("rep_a1", NEW_PASSWORD, "rep_a1-laptop").await?;
    before.get("/auth/me").await?.assert_status(401);
    let refreshed = app
        .api()
        .post(
            "/auth/refresh",
            &json!({ "refresh_token": before.refresh_token }),
        )
        .await?;
    refreshed.assert_problem(401, "session_revoked");
    Ok(())
}

#[tokio::test]
async fn a_user_deactivated_from_the_command_line_cannot_log_in() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let before = app.login_as(&org.rep_b1).await?;
    let dir = tempfile::tempdir()?;
    let output = user_command(&app, &dir, &["deactivate", "--username", "rep_b1"])?.output()?;
    assert_exit(&output, 0);

    let login = app
        .api()
        .post(
            "/auth/login",
            &json!({ "username": "rep_b1", "password": org.rep_b1.password, "device_id": "d" }),
        )
        .await?;
    login.assert_problem(401, "invalid_credentials");
    before.get("/auth/me").await?.assert_status(401);
    assert_eq!(
        listed_user(&app, &org, "rep_b1")
            .await?
            .map(|user| user.active),
        Some(false)
    );
    Ok(())
}

#[tokio::test]
async fn a_bad_user_command_says_what_is_wrong_and_exits_non_zero() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let dir = tempfile::tempdir()?;
    let create = |username: &str, role: &str, team: &str| -> anyhow::Result<Output> {
        let mut command = user_command(
            &app,
            &dir,
            &[
                "create",
                "--username",
                username,
                "--name",
                "Someone",
                "--role",
                role,
                "--team",
                team,
            ],
        )?;
        command.env("KAM_USER_PASSWORD", NEW_PASSWORD);
        run_with_input(command, "")
    };
    let expect = |output: Output, said: &str| {
        assert_ne!(output.status.code(), Some(0), "{}", describe(&output));
        assert!(stderr(&output).contains(said), "{}", describe(&output));
    };

    expect(create("new.one", "boss", "Team A")?, "no role `boss`");
    expect(
        create(&org.rep_a2.username, "rep", "Team A")?,
        "that username is taken",
    );
    expect(
        create("new.two", "rep", "Team Z")?,
        "no team named `Team Z`",
    );
    expect(
        user_command(&app, &dir, &["reset-password", "--username", "nobody"])
            .and_then(|command| run_with_input(command, &format!("{NEW_PASSWORD}\n")))?,
        "no user `nobody`",
    );
    expect(
        user_command(&app, &dir, &["deactivate", "--username", "nobody"])?.output()?,
        "no user `nobody`",
    );
    expect(
        user_command(&app, &dir, &["reset-password", "--username", "rep_a2"])
            .and_then(|command| run_with_input(command, "short\n"))?,
        "password: 10 to 256 characters",
    );
    expect(
        user_command(&app, &dir, &["reset-password", "--username", "rep_a2"])
            .and_then(|command| run_with_input(command, ""))?,
        "no password",
    );
    expect(
        user_command(&app, &dir, &["deactivate", "--username", "admin"])?.output()?,
        "last active admin",
    );
    // Nothing was made or changed by any of them.
    assert!(listed_user(&app, &org, "new.one").await?.is_none());
    assert!(listed_user(&app, &org, "new.two").await?.is_none());
    app.login_as(&org.rep_a2).await?;
    Ok(())
}
