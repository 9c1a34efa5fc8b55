//! The opaque cursors a server gives out and clients send back: the sync
//! cursor ([`SyncCursor`]: where a device stands in the change feed) and
//! the list cursors ([`Cursor`], and any list's position wrapped by
//! [`encode_opaque`]). Parsing one is parsing untrusted text: anything the
//! server did not give out is a `400 invalid_cursor`.
//!
//! In a [`SyncCursor`], `base` is the feed position the device is complete
//! up to; while a pull runs over several pages, `after` is the last
//! document version delivered (documents are paged by version) and `seen`
//! the feed position the last page was read at (a reset's next page asks
//! what changed in scope since). `scope` fingerprints the user's place in
//! the org (the server computes it): when it changes (another team, another
//! role), the device's scope is rebuilt from scratch.

use crate::error::{Rejection, RejectionCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

/// A device's position in the feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncCursor {
    /// Every change up to here is on the device (for documents in its scope).
    pub base: i64,
    /// Documents with a version up to here were delivered in this pull.
    pub after: i64,
    /// The feed position the last page was read at.
    pub seen: i64,
    /// The fingerprint of the user's scope rules.
    pub scope: u64,
}

const PREFIX: &str = "s2";
/// The format before `seen`: such a cursor reads as seen at `after`.
const PREFIX_V1: &str = "s1";

impl SyncCursor {
    /// The opaque form.
    pub fn encode(self) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "{PREFIX}:{}:{}:{}:{:016x}",
            self.base, self.after, self.seen, self.scope
        ))
    }

    /// Parses an opaque cursor; anything else is a 400.
    pub fn parse(text: &str) -> Result<Self, Rejection> {
        let invalid = || {
            Rejection::new(
                RejectionCode::InvalidCursor,
                "the sync cursor is not one this server gave out",
            )
        };
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let parts: Vec<&str> = text.split(':').collect();
        let (base, after, seen, scope) = match parts.as_slice() {
            [PREFIX, base, after, seen, scope] => (*base, *after, Some(*seen), *scope),
            [PREFIX_V1, base, after, scope] => (*base, *after, None, *scope),
            _ => return Err(invalid()),
        };
        let base: i64 = base.parse().map_err(|_| invalid())?;
        let after: i64 = after.parse().map_err(|_| invalid())?;
        let seen: i64 = match seen {
            Some(seen) => seen.parse().map_err(|_| invalid())?,
            None => after,
        };
        let scope = u64::from_str_radix(scope, 16).map_err(|_| invalid())?;
        if base < 0 || after < base || seen < after {
            return Err(invalid());
        }
        Ok(Self {
            base,
            after,
            seen,
            scope,
        })
    }
}

/// Wraps a list's position as an opaque cursor: `prefix` names the list's
/// key format, so a cursor of one list is refused by another.
pub fn encode_opaque(prefix: &str, position: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{prefix}{position}"))
}

/// The position inside an opaque cursor made by [`encode_opaque`] with
/// `prefix`; anything else is a 400 `invalid_cursor`.
pub fn decode_opaque(prefix: &str, cursor: &str) -> Result<String, Rejection> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix(prefix).map(str::to_owned))
        .ok_or_else(invalid_cursor)
}

/// The rejection of a list cursor this server did not give out.
pub fn invalid_cursor() -> Rejection {
    Rejection::new(
        RejectionCode::InvalidCursor,
        "the cursor is not one this server gave out",
    )
}

/// Where the next page of a list ordered by id starts.
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
    pub fn parse(text: &str) -> Result<Self, Rejection> {
        let last_id =
            Uuid::parse_str(&decode_opaque(CURSOR_PREFIX, text)?).map_err(|_| invalid_cursor())?;
        Ok(Self { last_id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sync_cursor_round_trips_and_tampering_is_refused() {
        let cursor = SyncCursor {
            base: 41,
            after: 57,
            seen: 60,
            scope: 0xdead_beef,
        };
        assert_eq!(SyncCursor::parse(&cursor.encode()).ok(), Some(cursor));
        let before_seen = SyncCursor::parse(&URL_SAFE_NO_PAD.encode("s1:41:57:deadbeef"));
        assert_eq!(
            before_seen.ok(),
            Some(SyncCursor { seen: 57, ..cursor }),
            "a cursor given out before `seen` still works"
        );
        for bad in [
            "",
            "garbage",
            &URL_SAFE_NO_PAD.encode("s1:5:4:00"),
            &URL_SAFE_NO_PAD.encode("s1:-1:0:00"),
            &URL_SAFE_NO_PAD.encode("s2:5:7:6:00"),
            &URL_SAFE_NO_PAD.encode("s2:5:7:00"),
        ] {
            assert!(SyncCursor::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_list_cursor_round_trips_and_garbage_is_refused() {
        let cursor = Cursor {
            last_id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::parse(&cursor.encode()).ok(), Some(cursor));
        assert!(Cursor::parse("not-a-cursor").is_err());
        assert!(Cursor::parse(&URL_SAFE_NO_PAD.encode("k1:42")).is_err());
    }
}
