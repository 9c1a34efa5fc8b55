//! The server's part of the sync cursor ([`kam_sync_core::cursor::SyncCursor`],
//! parsed and encoded there): the fingerprint of a user's scope, which
//! needs the authenticated user. When it changes (another team, another
//! role), the device's scope is rebuilt from scratch.

use crate::auth::AuthUser;
use sha2::{Digest, Sha256};

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
