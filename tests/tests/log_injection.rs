//! Log injection: text a client sends (a username, a device id) can hold
//! line breaks and other control characters; in the text log they are
//! escaped, so a client cannot write a line that looks like the server's.
//!
//! The server runs in this process, so this binary installs the server's
//! own text format (`kam_server::telemetry::text_layer`) as the global
//! subscriber, writing into memory, before the server starts. The binary
//! holds this one test, so nothing else writes to the capture.

use kam_tests::TestApp;
use kam_tests::log_capture::LogCapture;
use serde_json::json;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// What a forged line starts with.
const FORGED: &str = "FORGED";

#[tokio::test]
async fn control_characters_sent_by_a_client_are_escaped_in_the_text_log() -> anyhow::Result<()> {
    let capture = LogCapture::default();
    tracing_subscriber::registry()
        .with(EnvFilter::new("info"))
        .with(kam_server::telemetry::text_layer(capture.clone(), false))
        .try_init()?;
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let api = app.api();
    let forged = format!("{FORGED} INFO admin logged in");
    api.post(
        "/auth/login",
        &json!({ "username": format!("ghost\n{forged}"), "password": "whatever-it-is" }),
    )
    .await?
    .assert_problem(401, "invalid_credentials");
    api.post(
        "/auth/login",
        &json!({
            "username": "rep_a1",
            "password": org.rep_a1.password,
            "device_id": format!("phone\r\n{forged}\u{2028}{FORGED}\u{1b}[2J"),
        }),
    )
    .await?
    .assert_status(200);

    let text = capture.text();
    let forged_lines: Vec<&str> = text
        .split(['\n', '\r', '\u{2028}'])
        .filter(|line| line.starts_with(FORGED))
        .collect();
    assert!(
        forged_lines.is_empty(),
        "a client wrote lines of its own into the log: {forged_lines:?}\n{text}"
    );
    assert!(
        !text.contains('\u{1b}'),
        "an escape sequence reached the log"
    );
    // The text is logged, escaped, rather than dropped.
    assert!(text.contains(&format!("ghost\\n{FORGED}")), "{text}");
    assert!(text.contains(&format!("phone\\r\\n{FORGED}")), "{text}");
    Ok(())
}
