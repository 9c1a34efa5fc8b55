//! Keyset pagination shared by every list: items ordered by id, newest
//! first (ids are UUIDv7, so in order of creation), with an opaque cursor.
//! An item edited while a client pages keeps its place, so a client that
//! pages to the end sees every item that existed when it started.

use crate::error::{ApiError, ApiResult, ErrorCode};
use kam_sync_core::cursor::Cursor;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Page size when the client names none.
pub const DEFAULT_PAGE_SIZE: u64 = 50;

/// One page of a list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    /// The items, newest first.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The page size to use, checked against the configured maximum.
    pub fn limit(asked: Option<u64>, max: u64) -> ApiResult<u64> {
        match asked {
            None => Ok(DEFAULT_PAGE_SIZE.min(max)),
            Some(limit) if (1..=max).contains(&limit) => Ok(limit),
            Some(_) => Err(ApiError::new(
                ErrorCode::InvalidQuery,
                format!("limit runs from 1 to {max}"),
            )),
        }
    }

    /// A page from `limit + 1` fetched items: the extra one tells that more follow.
    pub fn from_overfetch(items: Vec<T>, limit: u64, id: impl Fn(&T) -> Uuid) -> Self {
        Self::from_overfetch_by(items, limit, |last| Cursor { last_id: id(last) }.encode())
    }

    /// A page from `limit + 1` fetched items, for a list ordered by more than
    /// an id: `cursor_of` gives the opaque cursor after an item.
    pub fn from_overfetch_by(
        mut items: Vec<T>,
        limit: u64,
        cursor_of: impl Fn(&T) -> String,
    ) -> Self {
        let more = items.len() as u64 > limit;
        items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next_cursor = if more {
            items.last().map(cursor_of)
        } else {
            None
        };
        Self { items, next_cursor }
    }
}

/// One page of the rows of `E` that match `condition`: newest `id` first,
/// after `cursor` (a previous page's `next_cursor`), `limit` + 1 of them so
/// that [`Page::from_overfetch`] tells whether more follow. The keyset
/// query of every list ordered by id.
pub async fn rows_after<E: EntityTrait>(
    conn: &impl ConnectionTrait,
    mut condition: Condition,
    id: E::Column,
    cursor: Option<&str>,
    limit: u64,
) -> ApiResult<Vec<E::Model>> {
    if let Some(cursor) = cursor.map(Cursor::parse).transpose()? {
        condition = condition.add(id.lt(cursor.last_id));
    }
    Ok(E::find()
        .filter(condition)
        .order_by_desc(id)
        .limit(limit.saturating_add(1))
        .all(conn)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overfetched_page_has_a_cursor_and_a_short_one_does_not() {
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let page = Page::from_overfetch(ids.clone(), 2, |id| *id);
        assert_eq!(page.items, ids[..2]);
        assert_eq!(page.next_cursor, Some(Cursor { last_id: ids[1] }.encode()));
        let last = Page::from_overfetch(vec![ids[0]], 2, |id| *id);
        assert_eq!(last.next_cursor, None);
    }
}
