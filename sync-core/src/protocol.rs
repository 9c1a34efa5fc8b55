//! The sync protocol's messages: one request pushes a device's new changes
//! and pulls what it lacks; see `docs/sync-protocol.md` for the rules.
//!
//! Binary payloads are Automerge bytes: what `save()`, `saveSince()` /
//! `save_after()` produce and `loadIncremental()` / `load_incremental()`
//! accepts. In JSON they travel as standard base64 strings; in binary formats
//! (CBOR) as byte strings.

use crate::record::RecordKind;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use uuid::Uuid;

/// Automerge bytes: base64 in JSON, a byte string in CBOR.
#[derive(Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(value_type = String, format = Byte))]
pub struct Bytes(pub Vec<u8>);

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes({} bytes)", self.0.len())
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&STANDARD.encode(&self.0))
        } else {
            serializer.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Bytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("base64 text or a byte string")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Bytes, E> {
                STANDARD
                    .decode(text)
                    .map(Bytes)
                    .map_err(|_| E::custom("not valid base64"))
            }
            fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<Bytes, E> {
                Ok(Bytes(bytes.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, bytes: Vec<u8>) -> Result<Bytes, E> {
                Ok(Bytes(bytes))
            }
        }
        if deserializer.is_human_readable() {
            deserializer.deserialize_str(Visitor)
        } else {
            // An owned buffer, not a borrowed slice: ciborium lends a byte
            // string only when it fits its 4 KiB scratch space, and refused
            // every longer `changes` before.
            deserializer.deserialize_byte_buf(Visitor)
        }
    }
}

/// The notice code by which the server asks for a whole document: the
/// pushed changes build on history the server does not have.
pub const MISSING_DEPENDENCIES: &str = "missing_dependencies";

/// The notice code of a record refused because the account it was made
/// under, pushed in the same request, was refused: fixing the account and
/// pushing both again brings the record in.
pub const ACCOUNT_REFUSED: &str = "account_refused";

/// What a device sends.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SyncRequest {
    /// The `cursor` of the last response applied; absent on a first sync.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Per document, the changes made since the server heads the device last saw.
    #[serde(default)]
    pub push: Vec<PushDoc>,
    /// Documents the device wants whole (it found changes it cannot apply).
    #[serde(default)]
    pub resend: Vec<Uuid>,
    /// Most documents to pull in this response: default 200, at least 1; the
    /// server caps it at 1000.
    #[serde(default)]
    // utoipa documents a u32 as `int32`, whose range ends at 2^31 - 1.
    #[cfg_attr(
        feature = "openapi",
        schema(format = Int64, minimum = 1, maximum = 4294967295.0)
    )]
    pub limit: Option<u32>,
}

/// One document's new changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PushDoc {
    /// The record's id.
    pub id: Uuid,
    /// The record's kind.
    pub kind: RecordKind,
    /// Automerge bytes, base64 in JSON (a byte string in CBOR): the changes
    /// the device made since the server heads it last saw,
    /// `save_after(server_heads)` (or the change chunks themselves); for a
    /// document the server has never seen (server heads `[]`), `save()`,
    /// the whole document. See docs/sync-protocol.md, "What to push".
    pub changes: Bytes,
}

/// What the server answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncResponse {
    /// Send this back next time.
    pub cursor: String,
    /// More documents wait: sync again (with no push needed) to get them.
    pub has_more: bool,
    /// This page starts a reset (no cursor, or its user's role, team, branch
    /// or led teams changed): the reset's pages deliver every document in
    /// scope, the device's own pushes included; once `has_more` is false,
    /// drop every acknowledged document they did not deliver.
    pub reset: bool,
    /// The outcome of each pushed document, in request order.
    pub pushed: Vec<PushResult>,
    /// Documents with changes the device lacks.
    pub pull: Vec<PullDoc>,
    /// Documents the device must drop (they left its user's scope). Dropping
    /// an account drops every document under it.
    pub removed: Vec<Removed>,
    /// What the server undid or refused, and why.
    pub notices: Vec<Notice>,
}

/// How a pushed document fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PushStatus {
    /// Merged as sent.
    Applied,
    /// The server had every change already.
    Unchanged,
    /// Merged, then partly undone by a server change (see `notices`); also
    /// the answer, with the same notices, to a repeat of such a push.
    Corrected,
    /// Not merged: the document is outside the user's scope, or invalid as a
    /// new record (see `notices`). The server's copy is unchanged.
    Refused,
}

/// The outcome of one pushed document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushResult {
    /// The record's id.
    pub id: Uuid,
    /// What happened.
    pub status: PushStatus,
    /// The server's heads after the merge (hex change hashes).
    pub heads: Vec<String>,
}

/// A document, or the part of it, the device lacks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PullDoc {
    /// The record's id.
    pub id: Uuid,
    /// The record's kind.
    pub kind: RecordKind,
    /// The account the record belongs to (its own id for an account).
    pub account_id: Uuid,
    /// True when `data` is the whole document (`save()`), false when it is
    /// the changes after the device's cursor; either way, apply it with
    /// `load_incremental`.
    pub whole: bool,
    /// Automerge bytes.
    pub data: Bytes,
    /// The server's heads for this document (hex change hashes).
    pub heads: Vec<String>,
}

/// A document to drop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Removed {
    /// The record's id.
    pub id: Uuid,
    /// The record's kind.
    pub kind: RecordKind,
    /// Why (`out_of_scope`).
    pub reason: String,
}

/// Something the server undid or refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notice {
    /// The document.
    pub id: Uuid,
    /// A stable code (`owner_change_forbidden`, `invalid_value`, `out_of_scope`, ...).
    pub code: String,
    /// The field concerned, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// A sentence for a person.
    pub message: String,
}
