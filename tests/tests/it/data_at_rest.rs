//! Data at rest: the SQLite database and its folder are private to the
//! server's user (folder 0700, files 0600, whatever the umask), and the key
//! access tokens are signed with is kept out of the database when it is
//! configured, and refused when it is too short to be a key.

use kam_server::config::{DatabaseSettings, Settings};
use kam_server::db::Db;
use kam_server::entities::server_value;
use kam_server::startup::Application;
use kam_tests::TestApp;
use sea_orm::EntityTrait;
use secrecy::SecretString;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A key of the least length accepted.
const GOOD_SECRET: &str = "0123456789abcdef0123456789abcdef";

fn mode_of(path: &Path) -> anyhow::Result<u32> {
    Ok(std::fs::metadata(path)?.permissions().mode() & 0o777)
}

fn sqlite_settings(path: &Path) -> DatabaseSettings {
    DatabaseSettings {
        url: Some(SecretString::from(format!(
            "sqlite://{}?mode=rwc",
            path.display()
        ))),
        max_connections: 2,
    }
}

async fn stored_signing_key(db: &Db) -> anyhow::Result<Option<server_value::Model>> {
    Ok(
        server_value::Entity::find_by_id("jwt_signing_key".to_owned())
            .one(db.conn())
            .await?,
    )
}

#[tokio::test]
async fn a_new_sqlite_database_and_its_folder_are_private_to_the_server() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let folder = dir.path().join("kam-data");
    let file = folder.join("kam.db");
    let db = Db::connect(&sqlite_settings(&file)).await?;
    // Migrations have written: the write-ahead log and its index exist.
    assert_eq!(mode_of(&folder)?, 0o700, "{}", folder.display());
    for name in ["kam.db", "kam.db-wal", "kam.db-shm"] {
        let path = folder.join(name);
        assert_eq!(mode_of(&path)?, 0o600, "{}", path.display());
    }
    drop(db);
    Ok(())
}

#[tokio::test]
async fn an_existing_world_readable_database_is_made_private_at_start() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("kam.db");
    let first = Db::connect(&sqlite_settings(&file)).await?;
    drop(first);
    for name in ["kam.db", "kam.db-wal", "kam.db-shm"] {
        let path = dir.path().join(name);
        if path.exists() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
        }
    }
    let db = Db::connect(&sqlite_settings(&file)).await?;
    for name in ["kam.db", "kam.db-wal", "kam.db-shm"] {
        let path = dir.path().join(name);
        assert_eq!(mode_of(&path)?, 0o600, "{}", path.display());
    }
    drop(db);
    Ok(())
}

#[tokio::test]
async fn a_configured_signing_key_shorter_than_32_bytes_stops_the_start() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut settings = Settings::defaults()?;
    settings.server.bind = "127.0.0.1:0".into();
    settings.database = sqlite_settings(&dir.path().join("kam.db"));
    settings.auth.jwt_secret = Some(SecretString::from(GOOD_SECRET[1..].to_owned()));
    let Err(err) = Application::build(settings.clone()).await else {
        panic!("a server started with a 31-byte signing key");
    };
    let message = format!("{err:#}");
    assert!(
        message.contains("KAM__AUTH__JWT_SECRET") && message.contains("at least 32 bytes"),
        "{message}"
    );
    assert!(!message.contains(&GOOD_SECRET[1..]), "{message}");

    settings.auth.jwt_secret = Some(SecretString::from(GOOD_SECRET.to_owned()));
    Application::build(settings).await?;
    Ok(())
}

#[tokio::test]
async fn a_configured_signing_key_is_not_stored_and_removes_a_stored_one() -> anyhow::Result<()> {
    let configured = TestApp::spawn_with(|settings| {
        settings.auth.jwt_secret = Some(SecretString::from(GOOD_SECRET.to_owned()));
    })
    .await;
    assert!(stored_signing_key(configured.db()).await?.is_none());

    // A server without a configured key stores one for the others...
    let app = TestApp::spawn().await;
    assert!(stored_signing_key(app.db()).await?.is_some());
    // ...which a server given its own key removes: nobody signs with it
    // any more, and a copy of the database no longer lets its reader mint
    // tokens.
    let mut settings = (*app.state().settings).clone();
    settings.server.bind = "127.0.0.1:0".into();
    settings.auth.jwt_secret = Some(SecretString::from(GOOD_SECRET.to_owned()));
    Application::build_with_db(settings, app.db().clone()).await?;
    assert!(stored_signing_key(app.db()).await?.is_none());
    Ok(())
}
