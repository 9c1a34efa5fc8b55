//! Bearer access tokens, verified as the server verifies them
//! (`kam_sync_core::token::TokenKeys::verify`). The first
//! byte picks the mode: the rest is either a token as sent, or the claims
//! of a token signed with the server's key, so that claims parsing and
//! time checks are reached past the signature.
//!
//! Refresh tokens are not parsed: the server hashes the text and looks the
//! hash up, so there is no decoder to fuzz.

#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use kam_sync_core::token::TokenKeys;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const SECRET: &[u8] = b"kam-fuzz: a fixed 32-byte secret";
const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

fn keys() -> &'static TokenKeys {
    static KEYS: OnceLock<TokenKeys> = OnceLock::new();
    KEYS.get_or_init(|| TokenKeys::new(SECRET, 900))
}

/// A token over `claims`, signed as the server signs.
fn signed(claims: &[u8]) -> Option<String> {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(HEADER),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let key = EncodingKey::from_secret(SECRET);
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256).ok()?;
    Some(format!("{message}.{signature}"))
}

fuzz_target!(|bytes: &[u8]| {
    kam_fuzz::on_worker_stack(|| {
        let Some((mode, rest)) = bytes.split_first() else {
            return;
        };
        if mode % 2 == 0 {
            if let Ok(token) = std::str::from_utf8(rest) {
                let _claims = keys().verify(token);
            }
        } else if let Some(token) = signed(rest) {
            let _claims = keys().verify(&token);
        }
    });
});
