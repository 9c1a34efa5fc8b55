//! [`AppState`]: what every handler and service can reach (the database,
//! token keys, settings, login throttle, document cache), and the signing
//! key it is made with. It sits below the services and the routes; the
//! module that builds the app (`startup`) only hands it out.

use crate::auth::{AuthUser, LoginThrottle, Sessions, TokenKeys, hash_password};
use crate::cache::DocCache;
use crate::config::Settings;
use crate::db::Db;
use crate::entities::server_value;
use anyhow::Context;
use base64::Engine;
use rand::RngCore;
use sea_orm::{EntityTrait, Set};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

/// What every handler can reach.
pub struct AppState {
    /// The database.
    pub db: Db,
    /// Access-token keys.
    pub keys: TokenKeys,
    /// The settings the server started with.
    pub settings: Arc<Settings>,
    /// Failed-login counters.
    pub login_throttle: LoginThrottle,
    /// The Automerge actor of changes this process makes on users' behalf.
    pub actor: automerge::ActorId,
    /// A password hash that matches nothing, checked when a login names an
    /// unknown user.
    pub decoy_hash: String,
    /// Loaded hot documents.
    pub cache: DocCache,
}

impl AppState {
    /// The state of a server on `db`: the signing key is the configured one
    /// or the one shared through the database. `startup::prepare`
    /// also checks the settings and fills in what older versions left out.
    pub async fn new(settings: Settings, db: Db) -> anyhow::Result<Self> {
        let secret = match &settings.auth.jwt_secret {
            Some(secret) => configured_jwt_secret(&db, secret).await?,
            None => shared_jwt_secret(&db).await?,
        };
        let keys = TokenKeys::new(&secret, settings.auth.access_ttl_secs);
        let cache = DocCache::new(settings.server.doc_cache_mib * 1024 * 1024);
        Ok(Self {
            db,
            keys,
            settings: Arc::new(settings),
            login_throttle: LoginThrottle::default(),
            actor: automerge::ActorId::random(),
            cache,
            decoy_hash: hash_password(secrecy::SecretString::from(
                uuid::Uuid::new_v4().to_string(),
            ))
            .await?,
        })
    }

    /// Session operations with this server's keys and lifetimes.
    pub fn sessions(&self) -> Sessions<'_> {
        Sessions::new(&self.db, &self.keys, self.settings.auth.refresh_ttl_days)
    }

    /// The author of a change made now through the API by `caller`.
    pub fn change_meta(&self, caller: &AuthUser) -> kam_sync_core::ChangeMeta {
        kam_sync_core::ChangeMeta {
            user: Some(caller.id),
            device: caller.device_id.clone(),
            time: chrono::Utc::now(),
        }
    }
}

/// The `server_values` row holding the signing key made by a server that
/// was given none.
const JWT_KEY_NAME: &str = "jwt_signing_key";

/// The least length of a configured signing key: HS256 wants a key as long
/// as its hash, and a shorter one can be guessed from a token.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// A configured signing key, checked; the key stored in the database by a
/// server without one is removed, so that a reader of the database cannot
/// mint tokens with it.
async fn configured_jwt_secret(db: &Db, secret: &SecretString) -> anyhow::Result<Vec<u8>> {
    let bytes = secret.expose_secret().as_bytes();
    if bytes.len() < MIN_JWT_SECRET_BYTES {
        anyhow::bail!(
            "the configured signing key (KAM__AUTH__JWT_SECRET, auth.jwt_secret) has {} bytes; \
             it must have at least {MIN_JWT_SECRET_BYTES} bytes (`openssl rand -base64 32` makes \
             one), or be left unset to have one made and kept in the database",
            bytes.len()
        );
    }
    let removed = server_value::Entity::delete_by_id(JWT_KEY_NAME.to_owned())
        .exec(db.conn())
        .await
        .context("cannot remove the stored JWT key")?
        .rows_affected;
    if removed > 0 {
        tracing::info!("removed the signing key kept in the database: the configured one is used");
    }
    Ok(bytes.to_vec())
}

/// The JWT key shared by every server on this database, made on first start.
async fn shared_jwt_secret(db: &Db) -> anyhow::Result<Vec<u8>> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let candidate = base64::engine::general_purpose::STANDARD.encode(bytes);
    server_value::Entity::insert(server_value::ActiveModel {
        name: Set(JWT_KEY_NAME.into()),
        value: Set(candidate),
    })
    .on_conflict_do_nothing_on([server_value::Column::Name])
    .exec(db.conn())
    .await
    .context("cannot store the JWT key")?;
    let stored = server_value::Entity::find_by_id(JWT_KEY_NAME.to_owned())
        .one(db.conn())
        .await?
        .context("the JWT key vanished")?;
    base64::engine::general_purpose::STANDARD
        .decode(stored.value)
        .context("the stored JWT key is not base64")
}
