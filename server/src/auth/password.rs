//! Argon2id password hashing. Hashing is slow and memory-hard on purpose
//! (19 MiB per hash), so it runs on the blocking pool, never on the async
//! workers, and only as many at once as there are cores: a storm of logins
//! queues instead of taking a gigabyte. The queue of password checks is
//! bounded too ([`CHECKS_WAITING_PER_CORE`] per core): past it a login is
//! turned away at once rather than waiting behind a flood.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use secrecy::{ExposeSecret, SecretString};
use std::sync::LazyLock;
use tokio::sync::Semaphore;

/// Password checks that may wait for a turn, per core, besides those hashing.
pub const CHECKS_WAITING_PER_CORE: usize = 16;

static CORES: LazyLock<usize> =
    LazyLock::new(|| std::thread::available_parallelism().map_or(2, |n| n.get()));

static HASHING: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(*CORES));

/// Places for password checks, hashing or waiting to.
static CHECKS: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(*CORES * (1 + CHECKS_WAITING_PER_CORE)));

/// Why a password could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// Too many checks are under way; try again shortly.
    #[error("too many password checks are under way")]
    Busy,
    /// The check failed.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

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
/// [`CheckError::Busy`] when the queue of checks is full.
pub async fn verify_password(password: SecretString, phc: String) -> Result<bool, CheckError> {
    verify_with_places(&CHECKS, password, phc).await
}

/// [`verify_password`], taking a place from `places`.
async fn verify_with_places(
    places: &Semaphore,
    password: SecretString,
    phc: String,
) -> Result<bool, CheckError> {
    let _place = places.try_acquire().map_err(|_| CheckError::Busy)?;
    let _turn = HASHING.acquire().await.map_err(anyhow::Error::from)?;
    tokio::task::spawn_blocking(move || {
        let Ok(parsed) = PasswordHash::new(&phc) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok()
    })
    .await
    .map_err(|err| CheckError::Failed(err.into()))
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

    #[tokio::test]
    async fn a_check_is_turned_away_when_every_place_is_taken() {
        let places = Semaphore::new(1);
        let held = places.try_acquire();
        assert!(matches!(
            verify_with_places(&places, "x".into(), "not a hash".into()).await,
            Err(CheckError::Busy)
        ));
        drop(held);
        assert!(matches!(
            verify_with_places(&places, "x".into(), "not a hash".into()).await,
            Ok(false)
        ));
    }
}
