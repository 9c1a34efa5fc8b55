//! The sync cursor: where a device stands in the change feed, opaque to it.
//!
//! `base` is the feed position the device is complete up to; while a pull
//! runs over several pages, `after` is the last document version delivered
//! (documents are paged by version) and `seen` the feed position the last
//! page was read at (a reset's next page asks what changed in scope since).
//! `scope` fingerprints the user's place in the org: when it changes
//! (another team, another role), the device's scope is rebuilt from
//! scratch.

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

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
    pub fn parse(text: &str) -> ApiResult<Self> {
        let invalid = || {
            ApiError::bad_request(
                "invalid_cursor",
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

/// The fingerprint of what decides a user's scope: id, role, team, branch
/// and the teams they lead.
pub fn scope_fingerprint(user: &AuthUser) -> u64 {
    let mut led: Vec<String> = user.led_teams.iter().map(ToString::to_string).collect();
    led.sort();
    let text = format!(
        "{}|{}|{:?}|{:?}|{}",
        user.id,
        user.role.as_str(),
        user.team_id.map(|t| t.to_string()),
        user.branch_id.map(|b| b.to_string()),
        led.join(",")
    );
    let digest = Sha256::digest(text.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_tampering_is_refused() {
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
}
