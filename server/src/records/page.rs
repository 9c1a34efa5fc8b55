//! Keyset pagination shared by every list: items ordered by id, newest
//! first (ids are UUIDv7, so in order of creation), with an opaque cursor.
//! An item edited while a client pages keeps its place, so a client that
//! pages to the end sees every item that existed when it started.

use crate::error::{ApiError, ApiResult};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
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
            Some(_) => Err(ApiError::bad_request(
                "invalid_query",
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

/// Wraps a list's position as an opaque cursor: `prefix` names the list's
/// key format, so a cursor of one list is refused by another.
pub fn encode_opaque(prefix: &str, position: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{prefix}{position}"))
}

/// The position inside an opaque cursor made by [`encode_opaque`] with
/// `prefix`; anything else is a 400 `invalid_cursor`.
pub fn decode_opaque(prefix: &str, cursor: &str) -> ApiResult<String> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix(prefix).map(str::to_owned))
        .ok_or_else(invalid_cursor)
}

/// The problem of a cursor this server did not give out.
pub fn invalid_cursor() -> ApiError {
    ApiError::bad_request(
        "invalid_cursor",
        "the cursor is not one this server gave out",
    )
}

/// Where the next page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Items with a lower id than this come next.
    pub last_id: Uuid,
}

const CURSOR_PREFIX: &str = "k1:";

impl Cursor {
    /// The opaque form.
    pub fn encode(self) -> String {
        encode_opaque(CURSOR_PREFIX, &self.last_id.to_string())
    }

    /// Parses an opaque cursor; anything else is a 400.
    pub fn parse(text: &str) -> ApiResult<Self> {
        let last_id =
            Uuid::parse_str(&decode_opaque(CURSOR_PREFIX, text)?).map_err(|_| invalid_cursor())?;
        Ok(Self { last_id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused() {
        let cursor = Cursor {
            last_id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::parse(&cursor.encode()).ok(), Some(cursor));
        assert!(Cursor::parse("not-a-cursor").is_err());
        assert!(Cursor::parse(&URL_SAFE_NO_PAD.encode("k1:42")).is_err());
    }

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
