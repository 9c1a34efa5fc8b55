//! Keyset pagination: pages ordered by version (the change-log position of a
//! record's last change), newest first, with an opaque cursor.

use crate::error::{ApiError, ApiResult};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Page size when the client names none.
pub const DEFAULT_PAGE_SIZE: u64 = 50;

/// One page of a list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    /// The records, newest change first.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
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
    pub fn from_overfetch(mut items: Vec<T>, limit: u64, version: impl Fn(&T) -> i64) -> Self {
        let more = items.len() as u64 > limit;
        items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next_cursor = if more {
            items.last().map(|last| {
                Cursor {
                    before_version: version(last),
                }
                .encode()
            })
        } else {
            None
        };
        Self { items, next_cursor }
    }
}

/// Where the next page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Items with a lower version than this come next.
    pub before_version: i64,
}

const CURSOR_PREFIX: &str = "v1:";

impl Cursor {
    /// The opaque form.
    pub fn encode(self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{}", self.before_version))
    }

    /// Parses an opaque cursor; anything else is a 400.
    pub fn parse(text: &str) -> ApiResult<Self> {
        let invalid = || {
            ApiError::bad_request(
                "invalid_cursor",
                "the cursor is not one this server gave out",
            )
        };
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let version = text
            .strip_prefix(CURSOR_PREFIX)
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or_else(invalid)?;
        Ok(Self {
            before_version: version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused() {
        let cursor = Cursor { before_version: 42 };
        assert_eq!(Cursor::parse(&cursor.encode()).ok(), Some(cursor));
        assert!(Cursor::parse("not-a-cursor").is_err());
        assert!(Cursor::parse(&URL_SAFE_NO_PAD.encode("v1:abc")).is_err());
    }

    #[test]
    fn an_overfetched_page_has_a_cursor_and_a_short_one_does_not() {
        let page = Page::from_overfetch(vec![9, 7, 5], 2, |v| *v);
        assert_eq!(page.items, [9, 7]);
        assert_eq!(
            page.next_cursor,
            Some(Cursor { before_version: 7 }.encode())
        );
        let last = Page::from_overfetch(vec![3], 2, |v| *v);
        assert_eq!(last.next_cursor, None);
    }
}
