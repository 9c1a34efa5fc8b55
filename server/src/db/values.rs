//! Named values the server keeps in the `server_values` table: settings an
//! admin stored as JSON (tiering, insight) and marks of one-off work done
//! once per database (the backfills at start-up).

use crate::entities::server_value;
use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, EntityTrait, QuerySelect, Set};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// How a read holds the value's row on PostgreSQL (SQLite's writers take
/// turns, so it needs no row lock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// A shared lock: a write judged by the value commits before it changes.
    Shared,
    /// An exclusive lock: the reader is about to replace it.
    Exclusive,
}

/// The JSON value stored under `name`, read with `hold` on PostgreSQL;
/// `None` when nothing is stored.
pub async fn read<T: DeserializeOwned>(
    conn: &impl ConnectionTrait,
    name: &str,
    hold: Hold,
) -> Result<Option<T>, DbErr> {
    let mut query = server_value::Entity::find_by_id(name.to_owned());
    if conn.get_database_backend() == DbBackend::Postgres {
        query = match hold {
            Hold::Shared => query.lock_shared(),
            Hold::Exclusive => query.lock_exclusive(),
        };
    }
    query
        .one(conn)
        .await?
        .map(|row| serde_json::from_str(&row.value))
        .transpose()
        .map_err(|err| DbErr::Json(format!("server value {name}: {err}")))
}

/// Stores `value` as JSON under `name`, replacing what was there.
pub async fn write(
    conn: &impl ConnectionTrait,
    name: &str,
    value: &impl Serialize,
) -> Result<(), DbErr> {
    let text = serde_json::to_string(value)
        .map_err(|err| DbErr::Json(format!("server value {name}: {err}")))?;
    server_value::Entity::insert(server_value::ActiveModel {
        name: Set(name.to_owned()),
        value: Set(text),
    })
    .on_conflict(
        OnConflict::column(server_value::Column::Name)
            .update_column(server_value::Column::Value)
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Whether the one-off work `name` was marked done ([`mark_done`]).
pub async fn is_done(conn: &impl ConnectionTrait, name: &str) -> Result<bool, DbErr> {
    Ok(server_value::Entity::find_by_id(name.to_owned())
        .one(conn)
        .await?
        .is_some())
}

/// Marks the one-off work `name` done, with the time; a mark already there
/// (another server did the same work) stays.
pub async fn mark_done(conn: &impl ConnectionTrait, name: &str) -> Result<(), DbErr> {
    server_value::Entity::insert(server_value::ActiveModel {
        name: Set(name.to_owned()),
        value: Set(Utc::now().to_rfc3339()),
    })
    .on_conflict(
        OnConflict::column(server_value::Column::Name)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}
