//! KAM Sync's CRDT layer, shared by the server and by field clients.
//!
//! Every record a phone may edit offline (an account, a visit, ...) is one
//! Automerge document keyed by a client-chosen UUID. This crate owns:
//! - the typed records and their validation rules ([`account`], [`visit`],
//!   [`contact`], [`account_plan`], ...),
//!   [`contact`], [`ticket`], [`callback`], ...),
//! - reading and writing them from and to Automerge documents, merge-patching
//!   them, and listing concurrent values of a field ([`doc`]),
//! - the identifiers shared by every component ([`ids`]), money ([`money`]),
//!   and the bounds on untrusted structure ([`limits`]),
//! - what untrusted Automerge bytes decode to, found before decoding them
//!   ([`inflation`]),
//! - the decoders of every other untrusted input a server takes, each
//!   refusing with a transport-free [`error::Rejection`]: the pure middle
//!   of a push ([`merge`]), request bodies ([`wire`]), cursors ([`cursor`])
//!   and, with the `token` feature, access tokens (`token`).
//!
//! It is sans-IO: no threads, sockets, clocks or databases. Callers pass the
//! time and the author of each change in [`doc::ChangeMeta`].

pub mod account;
pub mod account_plan;
pub mod callback;
pub mod contact;
pub mod cursor;
pub mod doc;
pub mod error;
pub mod geo;
pub mod ids;
pub mod inflation;
pub mod limits;
pub mod line_item;
pub mod merge;
pub mod money;
pub mod opportunity;
pub mod protocol;
pub mod record;
pub mod replica;
pub mod ticket;
#[cfg(feature = "token")]
pub mod token;
pub mod visit;
pub mod wire;

pub use account::Account;
pub use account_plan::AccountPlan;
pub use callback::Callback;
pub use contact::Contact;
pub use doc::{ChangeMeta, Conflict, RecordDoc, deserialize_json, diff_patch, parse_record};
pub use error::{RecordError, Violation};
pub use opportunity::Opportunity;
pub use record::{Record, RecordKind};
pub use replica::{Replica, ReplicaError, SyncOutcome};
pub use ticket::Ticket;
pub use visit::Visit;
