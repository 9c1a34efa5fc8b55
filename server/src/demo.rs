//! stub
use crate::db::Db;
/// The password of every demo user.
pub const DEMO_PASSWORD: &str = "demo-password";
/// Seeds.
pub async fn seed(_db: &Db) -> anyhow::Result<Option<Vec<(String, String)>>> {
    Ok(None)
}
