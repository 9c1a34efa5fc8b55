//! Login sessions and refresh tokens. A session is one user on one device;
//! its refresh token rotates on every use and is stored only as a hash. A
//! refresh token presented twice means it was stolen or replayed: the whole
//! session is revoked.

use crate::auth::{Role, TokenKeys};
use crate::db::Db;
use crate::entities::{refresh_token, session, user};
use crate::error::{ApiError, ApiResult, ErrorCode};
use base64::Engine;
use chrono::{Duration, Utc};
use rand::RngCore;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

/// What a login or a refresh gives the device.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct TokenPair {
    /// Bearer token for API calls.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Single-use token for `/auth/refresh`; keep it secret.
    pub refresh_token: String,
    /// The session (one per device).
    pub session_id: Uuid,
}

/// Opens, renews and ends sessions.
pub struct Sessions<'a> {
    db: &'a Db,
    keys: &'a TokenKeys,
    refresh_ttl: Duration,
}

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn invalid_refresh() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidRefreshToken,
        "the refresh token is unknown or expired; log in again",
    )
}

impl<'a> Sessions<'a> {
    /// Sessions over `db`, signing with `keys`.
    pub fn new(db: &'a Db, keys: &'a TokenKeys, refresh_ttl_days: i64) -> Self {
        Self {
            db,
            keys,
            refresh_ttl: Duration::days(refresh_ttl_days),
        }
    }

    /// Opens a session for `user` on `device_id` (ending any earlier one on that device).
    pub async fn open(&self, user: &user::Model, device_id: &str) -> ApiResult<TokenPair> {
        let role = Role::parse(&user.role)
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("bad role")))?;
        let now = Utc::now();
        let session_id = Uuid::now_v7();
        let refresh = new_refresh_token();
        let txn = self.db.begin_write().await?;
        session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(now))
            .col_expr(
                session::Column::RevokedReason,
                Expr::value("replaced_by_new_login"),
            )
            .filter(session::Column::UserId.eq(user.id))
            .filter(session::Column::DeviceId.eq(device_id))
            .filter(session::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        session::ActiveModel {
            id: Set(session_id),
            user_id: Set(user.id),
            device_id: Set(device_id.to_owned()),
            created_at: Set(now),
            last_used_at: Set(now),
            revoked_at: Set(None),
            revoked_reason: Set(None),
        }
        .insert(&txn)
        .await?;
        self.store_refresh(&txn, session_id, &refresh, now).await?;
        txn.commit().await?;
        self.pair(user.id, role, session_id, device_id, refresh)
    }

    /// Exchanges a refresh token for a new pair; a reused token revokes the session.
    pub async fn refresh(&self, token: &str) -> ApiResult<TokenPair> {
        let now = Utc::now();
        let hash = hash_token(token);
        let txn = self.db.begin_write().await?;
        let stored = refresh_token::Entity::find_by_id(hash.clone())
            .one(&txn)
            .await?
            .ok_or_else(invalid_refresh)?;
        let claimed = refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
            .filter(refresh_token::Column::TokenHash.eq(hash))
            .filter(refresh_token::Column::UsedAt.is_null())
            .exec(&txn)
            .await?
            .rows_affected;
        if claimed == 0 {
            revoke_in(&txn, stored.session_id, "refresh_token_reused", now).await?;
            txn.commit().await?;
            tracing::warn!(session_id = %stored.session_id, "refresh token reused; session revoked");
            return Err(ApiError::new(
                ErrorCode::RefreshTokenReused,
                "this refresh token was already used; the session is revoked, log in again",
            ));
        }
        if stored.expires_at < now {
            return Err(invalid_refresh());
        }
        let session = session::Entity::find_by_id(stored.session_id)
            .one(&txn)
            .await?
            .filter(|s| s.revoked_at.is_none())
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::SessionRevoked,
                    "this device's session has ended; log in again",
                )
            })?;
        let user = user::Entity::find_by_id(session.user_id)
            .one(&txn)
            .await?
            .filter(|u| u.active)
            .ok_or_else(|| ApiError::new(ErrorCode::UserInactive, "the account is deactivated"))?;
        let role = Role::parse(&user.role)
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("bad role")))?;
        let refresh = new_refresh_token();
        self.store_refresh(&txn, session.id, &refresh, now).await?;
        session::Entity::update_many()
            .col_expr(session::Column::LastUsedAt, Expr::value(now))
            .filter(session::Column::Id.eq(session.id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        self.pair(user.id, role, session.id, &session.device_id, refresh)
    }

    /// Ends one session.
    pub async fn revoke(&self, session_id: Uuid, reason: &str) -> ApiResult<()> {
        let _guard = self.db.write_guard().await;
        revoke_in(self.db.conn(), session_id, reason, Utc::now()).await
    }

    /// Ends a user's sessions, on every device or on one; returns how many.
    pub async fn revoke_user(
        &self,
        user_id: Uuid,
        device_id: Option<&str>,
        reason: &str,
    ) -> ApiResult<u64> {
        let _guard = self.db.write_guard().await;
        let mut update = session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(Utc::now()))
            .col_expr(session::Column::RevokedReason, Expr::value(reason))
            .filter(session::Column::UserId.eq(user_id))
            .filter(session::Column::RevokedAt.is_null());
        if let Some(device_id) = device_id {
            update = update.filter(session::Column::DeviceId.eq(device_id));
        }
        Ok(update.exec(self.db.conn()).await?.rows_affected)
    }

    async fn store_refresh(
        &self,
        conn: &impl sea_orm::ConnectionTrait,
        session_id: Uuid,
        token: &str,
        now: chrono::DateTime<Utc>,
    ) -> ApiResult<()> {
        refresh_token::ActiveModel {
            token_hash: Set(hash_token(token)),
            session_id: Set(session_id),
            issued_at: Set(now),
            expires_at: Set(now + self.refresh_ttl),
            used_at: Set(None),
        }
        .insert(conn)
        .await?;
        Ok(())
    }

    fn pair(
        &self,
        user: Uuid,
        role: Role,
        session_id: Uuid,
        device: &str,
        refresh: String,
    ) -> ApiResult<TokenPair> {
        let access = self
            .keys
            .issue(user, role.as_str(), session_id, device, Utc::now())
            .map_err(ApiError::internal)?;
        Ok(TokenPair {
            access_token: access,
            token_type: "Bearer".into(),
            expires_in: self.keys.ttl_secs(),
            refresh_token: refresh,
            session_id,
        })
    }
}

async fn revoke_in(
    conn: &impl sea_orm::ConnectionTrait,
    session_id: Uuid,
    reason: &str,
    now: chrono::DateTime<Utc>,
) -> ApiResult<()> {
    session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now))
        .col_expr(session::Column::RevokedReason, Expr::value(reason))
        .filter(session::Column::Id.eq(session_id))
        .filter(session::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}
