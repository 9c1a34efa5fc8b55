//! Authentication and the caller's identity: roles, password hashing, access
//! tokens, refresh-token sessions, and the [`AuthUser`] extractor that every
//! protected handler takes.

mod extractor;
mod password;
mod role;
mod sessions;
mod throttle;

pub use extractor::AuthUser;
pub use kam_sync_core::token::{Claims, TokenKeys};
pub use password::{CheckError, hash_password, verify_password};
pub use role::Role;
pub use sessions::{Sessions, TokenPair};
pub use throttle::{Attempt, LoginThrottle};
