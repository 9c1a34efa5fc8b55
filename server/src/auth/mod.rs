//! Authentication and the caller's identity: roles, password hashing, access
//! tokens, refresh-token sessions, and the caller ([`AuthUser`]) every
//! protected handler takes (the extractor that reads it from a request is
//! the HTTP edge's, in `routes`).

mod password;
mod role;
mod sessions;
mod throttle;
mod user;

pub use kam_sync_core::token::{Claims, TokenKeys};
pub use password::{CheckError, hash_password, verify_password};
pub use role::Role;
pub use sessions::{Sessions, TokenPair};
pub use throttle::{Attempt, LoginThrottle};
pub use user::AuthUser;
