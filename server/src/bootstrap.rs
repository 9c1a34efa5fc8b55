//! First start: an `admin` user, so that someone can log in and build the org.

use crate::auth::Role;
use crate::db::Db;
use crate::entities::user;
use crate::org::{self, NewUser};
use base64::Engine;
use rand::RngCore;
use sea_orm::{EntityTrait, PaginatorTrait};
use secrecy::{ExposeSecret, SecretString};

/// Creates `admin` when there are no users at all. Its password comes from
/// `KAM_ADMIN_PASSWORD`; without it one is generated and returned so the
/// caller can show it once.
pub async fn ensure_admin(db: &Db) -> anyhow::Result<Option<String>> {
    if user::Entity::find().count(db.conn()).await? > 0 {
        return Ok(None);
    }
    let (password, generated) = match std::env::var("KAM_ADMIN_PASSWORD") {
        Ok(password) if !password.is_empty() => (SecretString::from(password), false),
        _ => {
            let mut bytes = [0u8; 15];
            rand::rng().fill_bytes(&mut bytes);
            let password = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
            (SecretString::from(password), true)
        }
    };
    let shown = generated.then(|| password.expose_secret().to_owned());
    org::create_user(
        db,
        NewUser {
            username: "admin".into(),
            display_name: "Administrator".into(),
            password,
            role: Role::Admin,
            team_id: None,
            branch_id: None,
        },
    )
    .await
    .map_err(|err| anyhow::anyhow!("cannot create the admin user: {err}"))?;
    tracing::info!("created the admin user");
    Ok(shown)
}
