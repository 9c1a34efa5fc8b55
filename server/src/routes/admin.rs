//! stub
use utoipa_actix_web::service_config::ServiceConfig;
/// Mounts.
pub fn configure(_config: &mut ServiceConfig) {}
