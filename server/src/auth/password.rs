//! Argon2id password hashing. Hashing is slow and memory-hard on purpose
//! (19 MiB per hash), so it runs on the blocking pool, never on the async
//! workers, and only as many at once as there are cores: a storm of logins
//! queues instead of taking a gigabyte.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use secrecy::{ExposeSecret, SecretString};
use std::sync::LazyLock;
use tokio::sync::Semaphore;

static HASHING: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())));

/// Hashes a password into a PHC string.
pub async fn hash_password(password: SecretString) -> anyhow::Result<String> {
    let _turn = HASHING.acquire().await?;
    tokio::task::spawn_blocking(move || {
        let mut salt_bytes = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt_bytes);
        let salt = SaltString::encode_b64(&salt_bytes)
            .map_err(|err| anyhow::anyhow!("cannot make a salt: {err}"))?;
        Argon2::default()
            .hash_password(password.expose_secret().as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|err| anyhow::anyhow!("cannot hash password: {err}"))
    })
    .await?
}

/// Checks a password against a PHC string; a malformed hash never matches.
pub async fn verify_password(password: SecretString, phc: String) -> anyhow::Result<bool> {
    let _turn = HASHING.acquire().await?;
    tokio::task::spawn_blocking(move || {
        let Ok(parsed) = PasswordHash::new(&phc) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok()
    })
    .await
    .map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let hash = hash_password("correct horse".into())
            .await
            .unwrap_or_default();
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            verify_password("correct horse".into(), hash.clone())
                .await
                .unwrap_or(false)
        );
        assert!(
            !verify_password("wrong horse".into(), hash)
                .await
                .unwrap_or(true)
        );
        assert!(
            !verify_password("x".into(), "not a hash".into())
                .await
                .unwrap_or(true)
        );
    }
}
