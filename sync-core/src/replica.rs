//! The client side of sync: a device's local documents, what it has not yet
//! pushed, and its cursor. Sans-IO: [`Replica::prepare_sync`] makes the
//! request, the app sends it however it likes, [`Replica::apply_sync`] takes
//! the response. A lost response is repaired by preparing and sending again.

use crate::doc::{ChangeMeta, RecordDoc, decode_untrusted};
use crate::error::RecordError;
use crate::protocol::{
    Bytes, MISSING_DEPENDENCIES, Notice, PushDoc, PushStatus, SyncRequest, SyncResponse,
};
use crate::record::{Record, RecordKind};
use automerge::{ActorId, AutoCommit, ChangeHash, ReadDoc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use uuid::Uuid;

/// Most documents one request pushes: a device with more pending work
/// syncs in several requests, each small enough for a weak link.
pub const PUSH_BATCH: usize = 200;

/// Why a replica operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    /// No such document on this device.
    #[error("no document {0} on this device")]
    UnknownDocument(Uuid),
    /// A document with this id exists already.
    #[error("a document {0} exists already")]
    AlreadyExists(Uuid),
    /// The record or its bytes are not acceptable.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The saved replica could not be read.
    #[error("cannot read the saved replica: {0}")]
    Corrupt(String),
}

struct LocalDoc {
    doc: RecordDoc,
    account_id: Uuid,
    /// The server's heads as last reported.
    server_heads: Vec<ChangeHash>,
    /// Heads at which the server refused this document: not pushed again
    /// until it changes.
    refused_at: Option<Vec<ChangeHash>>,
    /// The device's heads when it last pushed: once the push is acknowledged
    /// the server has them, even before the device applies the server's
    /// own changes (the compensation that comes in the same response).
    in_flight: Vec<ChangeHash>,
}

impl LocalDoc {
    /// The server heads this device also has: what a push is saved after.
    fn known_server_heads(&self) -> Vec<ChangeHash> {
        self.server_heads
            .iter()
            .filter(|hash| self.doc.automerge().get_change_by_hash(hash).is_some())
            .copied()
            .collect()
    }
}

/// What one applied response did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SyncOutcome {
    /// Documents received (new or updated).
    pub received: usize,
    /// Documents dropped because they left the user's scope.
    pub dropped: Vec<Uuid>,
    /// What the server undid or refused.
    pub notices: Vec<Notice>,
    /// More to pull: sync again.
    pub has_more: bool,
}

/// One device's documents.
pub struct Replica {
    actor: ActorId,
    docs: BTreeMap<Uuid, LocalDoc>,
    cursor: Option<String>,
    resend: BTreeSet<Uuid>,
    /// During a reset: the documents its pages delivered so far.
    reset_confirmed: Option<BTreeSet<Uuid>>,
}

impl Replica {
    /// An empty replica whose changes are made by `actor` (one per device).
    pub fn new(actor: ActorId) -> Self {
        Self {
            actor,
            docs: BTreeMap::new(),
            cursor: None,
            resend: BTreeSet::new(),
            reset_confirmed: None,
        }
    }

    /// The device's actor.
    pub fn actor(&self) -> &ActorId {
        &self.actor
    }

    /// The cursor of the last applied response.
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    /// Ids of the documents held, by kind.
    pub fn ids(&self, kind: RecordKind) -> Vec<Uuid> {
        self.docs
            .iter()
            .filter(|(_, local)| local.doc.kind() == kind)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Number of documents held.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// Whether the replica holds nothing.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// A document, to read or inspect.
    pub fn doc(&self, id: Uuid) -> Option<&RecordDoc> {
        self.docs.get(&id).map(|local| &local.doc)
    }

    /// A typed record.
    pub fn read<R: Record>(&self, id: Uuid) -> Result<R, ReplicaError> {
        Ok(self
            .doc(id)
            .ok_or(ReplicaError::UnknownDocument(id))?
            .read()?)
    }

    /// Documents with changes the server has not acknowledged.
    pub fn pending(&mut self) -> Vec<Uuid> {
        self.docs
            .iter_mut()
            .filter_map(|(id, local)| has_unpushed(local).then_some(*id))
            .collect()
    }

    /// Whether anything waits to be pushed or pulled.
    pub fn needs_sync(&mut self) -> bool {
        self.cursor.is_none() || !self.resend.is_empty() || !self.pending().is_empty()
    }

    /// Creates a record offline, with its final id.
    pub fn create<R: Record>(
        &mut self,
        id: Uuid,
        record: &R,
        meta: &ChangeMeta,
    ) -> Result<(), ReplicaError> {
        if self.docs.contains_key(&id) {
            return Err(ReplicaError::AlreadyExists(id));
        }
        let doc = RecordDoc::create(record, self.actor.clone(), meta)?;
        let account_id = R::KIND.account_of(id, &doc.to_json()).unwrap_or(id);
        self.docs.insert(
            id,
            LocalDoc {
                doc,
                account_id,
                server_heads: Vec::new(),
                refused_at: None,
                in_flight: Vec::new(),
            },
        );
        Ok(())
    }

    /// Edits a record offline with a JSON merge patch; returns whether it changed.
    pub fn edit<R: Record>(
        &mut self,
        id: Uuid,
        patch: &Map<String, Value>,
        meta: &ChangeMeta,
    ) -> Result<bool, ReplicaError> {
        let local = self
            .docs
            .get_mut(&id)
            .ok_or(ReplicaError::UnknownDocument(id))?;
        Ok(local.doc.merge_patch::<R>(patch, meta)?.is_some())
    }

    /// Edits a document with raw Automerge operations (for what a merge
    /// patch cannot say, such as splicing text at a cursor). The closure's
    /// changes are committed with `meta`.
    pub fn edit_raw(
        &mut self,
        id: Uuid,
        meta: &ChangeMeta,
        edit: impl FnOnce(&mut AutoCommit) -> Result<(), automerge::AutomergeError>,
    ) -> Result<(), ReplicaError> {
        let local = self
            .docs
            .get_mut(&id)
            .ok_or(ReplicaError::UnknownDocument(id))?;
        let doc = local.doc.automerge_mut();
        if let Err(err) = edit(doc) {
            doc.rollback();
            return Err(RecordError::from(err).into());
        }
        doc.commit_with(meta.commit_options());
        Ok(())
    }

    /// The request to send: up to [`PUSH_BATCH`] documents' unacknowledged
    /// changes (the rest go in the next request), the documents wanted
    /// whole, and the cursor.
    pub fn prepare_sync(&mut self) -> SyncRequest {
        // Kinds in `RecordKind::ALL` order, parents first, so a batch never
        // holds a visit whose new account waits for a later one, nor a
        // ticket whose closing callback does.
        let rank = |kind: RecordKind| RecordKind::ALL.iter().position(|k| *k == kind);
        let mut pending: Vec<(Option<usize>, Uuid)> = self
            .docs
            .iter_mut()
            .filter_map(|(id, local)| has_unpushed(local).then_some((rank(local.doc.kind()), *id)))
            .collect();
        pending.sort();
        let push = pending
            .into_iter()
            .take(PUSH_BATCH)
            .filter_map(|(_, id)| {
                let local = self.docs.get_mut(&id)?;
                let known = local.known_server_heads();
                let kind = local.doc.kind();
                local.in_flight = local.doc.automerge_mut().get_heads();
                let doc = local.doc.automerge_mut();
                let changes = if known.is_empty() {
                    doc.save()
                } else {
                    doc.save_after(&known)
                };
                Some(PushDoc {
                    id,
                    kind,
                    changes: Bytes(changes),
                })
            })
            .collect();
        SyncRequest {
            cursor: self.cursor.clone(),
            push,
            resend: self.resend.iter().copied().collect(),
            limit: None,
        }
    }

    /// Takes the server's response.
    pub fn apply_sync(&mut self, response: SyncResponse) -> Result<SyncOutcome, ReplicaError> {
        let mut outcome = SyncOutcome {
            has_more: response.has_more,
            notices: response.notices.clone(),
            ..SyncOutcome::default()
        };
        if response.reset && self.reset_confirmed.is_none() {
            self.reset_confirmed = Some(BTreeSet::new());
        }
        for pushed in &response.pushed {
            if let Some(local) = self.docs.get_mut(&pushed.id) {
                if pushed.status == PushStatus::Refused {
                    local.refused_at = Some(local.doc.automerge_mut().get_heads());
                } else {
                    let mut heads = parse_heads(&pushed.heads);
                    for head in local.in_flight.drain(..) {
                        if !heads.contains(&head) {
                            heads.push(head);
                        }
                    }
                    local.server_heads = heads;
                    local.refused_at = None;
                }
            }
        }
        for notice in &response.notices {
            if notice.code == MISSING_DEPENDENCIES
                && let Some(local) = self.docs.get_mut(&notice.id)
            {
                // The server lacks history this push built on: send it all next time.
                local.server_heads.clear();
                local.refused_at = None;
            }
        }
        for entry in response.pull {
            let local = self.docs.entry(entry.id).or_insert_with(|| LocalDoc {
                doc: RecordDoc::from_automerge(
                    entry.kind,
                    AutoCommit::new().with_actor(self.actor.clone()),
                ),
                account_id: entry.account_id,
                server_heads: Vec::new(),
                refused_at: None,
                in_flight: Vec::new(),
            });
            let doc = local.doc.automerge_mut();
            decode_untrusted(|| doc.load_incremental(&entry.data.0)).map_err(RecordError::from)?;
            local.server_heads = parse_heads(&entry.heads);
            local.account_id = entry.account_id;
            let missing = local.doc.automerge().get_missing_deps(&[]);
            if missing.is_empty() {
                self.resend.remove(&entry.id);
            } else {
                self.resend.insert(entry.id);
            }
            if let Some(confirmed) = &mut self.reset_confirmed {
                confirmed.insert(entry.id);
            }
            outcome.received += 1;
        }
        for removed in &response.removed {
            outcome.dropped.extend(self.drop_with_children(removed.id));
        }
        if !response.has_more
            && let Some(confirmed) = self.reset_confirmed.take()
        {
            // The pages delivered every document in scope, this device's own
            // pushes included. Documents the server never acknowledged stay:
            // they are this device's unsent work, not something the server
            // withdrew.
            let stale: Vec<Uuid> = self
                .docs
                .iter()
                .filter(|(id, local)| !confirmed.contains(id) && !local.server_heads.is_empty())
                .map(|(id, _)| *id)
                .collect();
            for id in stale {
                outcome.dropped.extend(self.drop_with_children(id));
            }
        }
        self.cursor = Some(response.cursor);
        Ok(outcome)
    }

    fn drop_with_children(&mut self, id: Uuid) -> Vec<Uuid> {
        let doomed: Vec<Uuid> = self
            .docs
            .iter()
            .filter(|(doc_id, local)| **doc_id == id || local.account_id == id)
            .map(|(doc_id, _)| *doc_id)
            .collect();
        for doc_id in &doomed {
            self.docs.remove(doc_id);
            self.resend.remove(doc_id);
        }
        doomed
    }

    /// The replica as bytes, to keep on the device between runs.
    pub fn save(&mut self) -> Vec<u8> {
        let saved = SavedReplica {
            actor: self.actor.to_hex_string(),
            cursor: self.cursor.clone(),
            resend: self.resend.iter().copied().collect(),
            reset_confirmed: self
                .reset_confirmed
                .as_ref()
                .map(|set| set.iter().copied().collect()),
            docs: self
                .docs
                .iter_mut()
                .map(|(id, local)| SavedDoc {
                    id: *id,
                    kind: local.doc.kind(),
                    account_id: local.account_id,
                    server_heads: local.server_heads.iter().map(ToString::to_string).collect(),
                    refused_at: local
                        .refused_at
                        .as_ref()
                        .map(|heads| heads.iter().map(ToString::to_string).collect()),
                    data: Bytes(local.doc.automerge_mut().save()),
                })
                .collect(),
        };
        serde_json::to_vec(&saved).unwrap_or_default()
    }

    /// A replica from [`Replica::save`] output.
    pub fn load(bytes: &[u8]) -> Result<Self, ReplicaError> {
        let saved: SavedReplica =
            serde_json::from_slice(bytes).map_err(|err| ReplicaError::Corrupt(err.to_string()))?;
        let actor = ActorId::from_str(&saved.actor)
            .map_err(|err| ReplicaError::Corrupt(err.to_string()))?;
        let mut docs = BTreeMap::new();
        for doc in saved.docs {
            let mut record = RecordDoc::load(doc.kind, &doc.data.0)?;
            record.automerge_mut().set_actor(actor.clone());
            docs.insert(
                doc.id,
                LocalDoc {
                    doc: record,
                    account_id: doc.account_id,
                    server_heads: parse_heads(&doc.server_heads),
                    refused_at: doc.refused_at.as_deref().map(parse_heads),
                    in_flight: Vec::new(),
                },
            );
        }
        Ok(Self {
            actor,
            docs,
            cursor: saved.cursor,
            resend: saved.resend.into_iter().collect(),
            reset_confirmed: saved.reset_confirmed.map(|ids| ids.into_iter().collect()),
        })
    }
}

fn has_unpushed(local: &mut LocalDoc) -> bool {
    let heads = local.doc.automerge_mut().get_heads();
    let acknowledged = heads.iter().all(|head| local.server_heads.contains(head));
    !acknowledged && local.refused_at.as_ref() != Some(&heads)
}

/// Parses hex change hashes, skipping any that do not parse.
pub fn parse_heads(heads: &[String]) -> Vec<ChangeHash> {
    heads
        .iter()
        .filter_map(|h| ChangeHash::from_str(h).ok())
        .collect()
}

#[derive(Serialize, Deserialize)]
struct SavedReplica {
    actor: String,
    cursor: Option<String>,
    resend: Vec<Uuid>,
    reset_confirmed: Option<Vec<Uuid>>,
    docs: Vec<SavedDoc>,
}

#[derive(Serialize, Deserialize)]
struct SavedDoc {
    id: Uuid,
    kind: RecordKind,
    account_id: Uuid,
    server_heads: Vec<String>,
    refused_at: Option<Vec<String>>,
    data: Bytes,
}
