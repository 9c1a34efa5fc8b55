//! Access tokens: short-lived HS256 JWTs naming the user, role and session;
//! signed and verified here, in one place, so that the server and the fuzz
//! target in `sync-core/fuzz` verify bearer tokens with the same code.
//! Behind the `token` feature (clients do not carry `jsonwebtoken`).

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

const ISSUER: &str = "kam-sync";

/// What an access token says about its bearer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: Uuid,
    /// The user's role code when the token was issued.
    pub role: String,
    /// The login session (revoking it cuts the token off at once).
    pub sid: Uuid,
    /// The device named at login.
    pub dev: String,
    /// Issuer, always `kam-sync`.
    pub iss: String,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Not valid before.
    pub nbf: i64,
    /// Expiry.
    pub exp: i64,
}

/// The signing and verifying keys, and the token lifetime.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_secs: i64,
}

impl TokenKeys {
    /// Keys from an HMAC secret.
    pub fn new(secret: &[u8], ttl_secs: i64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "sub", "iss"]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl_secs,
        }
    }

    /// Access token lifetime in seconds.
    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// Signs a token for a user's session (`role`: the role's code).
    pub fn issue(
        &self,
        user: Uuid,
        role: &str,
        session: Uuid,
        device: &str,
        now: DateTime<Utc>,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let claims = Claims {
            sub: user,
            role: role.to_owned(),
            sid: session,
            dev: device.to_owned(),
            iss: ISSUER.to_owned(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: now.timestamp() + self.ttl_secs,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// Verifies signature, algorithm, issuer and times.
    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_and_another_key_is_refused() {
        let keys = TokenKeys::new(b"0123456789abcdef0123456789abcdef", 900);
        let user = Uuid::now_v7();
        let token = keys
            .issue(user, "rep", Uuid::now_v7(), "phone", Utc::now())
            .unwrap_or_default();
        let claims = keys.verify(&token).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(claims.sub, user);
        let other = TokenKeys::new(b"another key entirely, 32 bytes!!", 900);
        assert!(other.verify(&token).is_err());
    }

    #[test]
    fn an_expired_token_is_refused() {
        let keys = TokenKeys::new(b"0123456789abcdef0123456789abcdef", 900);
        let issued = Utc::now() - chrono::Duration::hours(1);
        let token = keys
            .issue(Uuid::now_v7(), "rep", Uuid::now_v7(), "phone", issued)
            .unwrap_or_default();
        assert!(keys.verify(&token).is_err());
    }
}
