//! Property: any number of replicas (2 to 6) making random concurrent edits
//! to shared documents converge to identical documents once they have all
//! synced, whatever the order of syncs and however many requests or
//! responses were lost or repeated on the way.
//!
//! The server here is a model of the protocol (a change log with a cursor);
//! the real server is tested against the same `Replica` in `tests/`.

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ReadDoc};
use chrono::Utc;
use kam_sync_core::protocol::{Bytes, PullDoc, PushResult, PushStatus, SyncRequest, SyncResponse};
use kam_sync_core::{Account, ChangeMeta, RecordDoc, RecordKind, Replica};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The protocol's server side, in memory.
struct ModelServer {
    docs: BTreeMap<Uuid, AutoCommit>,
    log: Vec<(Uuid, Vec<u8>)>,
}

impl ModelServer {
    fn heads(doc: &mut AutoCommit) -> Vec<String> {
        doc.get_heads().iter().map(ToString::to_string).collect()
    }

    fn handle(&mut self, request: &SyncRequest) -> SyncResponse {
        let mut pushed = Vec::new();
        for push in &request.push {
            let doc = self
                .docs
                .entry(push.id)
                .or_insert_with(|| AutoCommit::new().with_actor(ActorId::random()));
            let before = doc.get_heads();
            doc.load_incremental(&push.changes.0)
                .unwrap_or_else(|err| panic!("push: {err}"));
            let status = if doc.get_heads() == before {
                PushStatus::Unchanged
            } else {
                self.log.push((push.id, doc.save_after(&before)));
                PushStatus::Applied
            };
            pushed.push(PushResult {
                id: push.id,
                status,
                heads: Self::heads(doc),
            });
        }
        let base: usize = request
            .cursor
            .as_deref()
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let mut changed: BTreeMap<Uuid, Vec<u8>> = BTreeMap::new();
        for (id, bytes) in &self.log[base.min(self.log.len())..] {
            changed.entry(*id).or_default().extend_from_slice(bytes);
        }
        let pull = changed
            .into_iter()
            .map(|(id, data)| {
                let doc = self
                    .docs
                    .get_mut(&id)
                    .unwrap_or_else(|| panic!("logged doc {id} exists"));
                let whole = base == 0;
                PullDoc {
                    id,
                    kind: RecordKind::Account,
                    account_id: id,
                    whole,
                    data: Bytes(if whole { doc.save() } else { data }),
                    heads: Self::heads(doc),
                }
            })
            .collect();
        SyncResponse {
            cursor: self.log.len().to_string(),
            pushed,
            pull,
            ..SyncResponse::default()
        }
    }
}

#[derive(Debug, Clone)]
enum Edit {
    Stage(usize),
    Industry(String),
    Loyalty(i64),
    Tag(String),
    Notes { at: usize, text: String },
    Delete(bool),
}

#[derive(Debug, Clone)]
enum Step {
    Edit {
        replica: usize,
        doc: usize,
        edit: Edit,
    },
    Sync {
        replica: usize,
        lose_request: bool,
        lose_response: bool,
        repeat: bool,
    },
}

const STAGES: [&str; 4] = ["identified", "engaging", "deepening", "maintaining"];

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0..STAGES.len()).prop_map(Edit::Stage),
        "[a-z]{1,8}".prop_map(Edit::Industry),
        (0i64..=100).prop_map(Edit::Loyalty),
        "[a-z]{1,5}".prop_map(Edit::Tag),
        (0usize..40, "[a-z ]{1,6}").prop_map(|(at, text)| Edit::Notes { at, text }),
        any::<bool>().prop_map(Edit::Delete),
    ]
}

fn step(replicas: usize, docs: usize) -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..replicas, 0..docs, edit()).prop_map(|(replica, doc, edit)| Step::Edit { replica, doc, edit }),
        2 => (0..replicas, any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
            |(replica, lose_request, lose_response, repeat)| Step::Sync { replica, lose_request, lose_response, repeat }
        ),
    ]
}

fn scenario() -> impl Strategy<Value = (usize, usize, Vec<Step>)> {
    (2usize..=6, 1usize..=3).prop_flat_map(|(replicas, docs)| {
        (
            Just(replicas),
            Just(docs),
            proptest::collection::vec(step(replicas, docs), 1..60),
        )
    })
}

fn meta() -> ChangeMeta {
    ChangeMeta {
        user: None,
        device: "prop".into(),
        time: Utc::now(),
    }
}

fn patch(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

fn apply_edit(replica: &mut Replica, id: Uuid, edit: &Edit) {
    let meta = meta();
    let current: Account = replica.read(id).unwrap_or_else(|err| panic!("read: {err}"));
    let result = match edit {
        Edit::Stage(i) => replica
            .edit::<Account>(id, &patch(json!({"stage": STAGES[*i]})), &meta)
            .map(drop),
        Edit::Industry(text) => replica
            .edit::<Account>(id, &patch(json!({"industry": text})), &meta)
            .map(drop),
        Edit::Loyalty(score) => replica
            .edit::<Account>(id, &patch(json!({"scores": {"loyalty": score}})), &meta)
            .map(drop),
        Edit::Tag(tag) => {
            let mut tags = current.tags.clone();
            if !tags.contains(tag) {
                tags.push(tag.clone());
            }
            replica
                .edit::<Account>(id, &patch(json!({"tags": tags})), &meta)
                .map(drop)
        }
        Edit::Notes { at, text } => replica.edit_raw(id, &meta, |doc| {
            let (_, notes) = doc
                .get(automerge::ROOT, "notes")?
                .ok_or(automerge::AutomergeError::Fail)?;
            let len = doc.length(&notes);
            doc.splice_text(&notes, (*at).min(len), 0, text)
        }),
        Edit::Delete(deleted) => replica
            .edit::<Account>(id, &patch(json!({"deleted": deleted})), &meta)
            .map(drop),
    };
    result.unwrap_or_else(|err| panic!("edit {edit:?}: {err}"));
}

fn sync(
    server: &mut ModelServer,
    replica: &mut Replica,
    lose_request: bool,
    lose_response: bool,
    repeat: bool,
) {
    let request = replica.prepare_sync();
    if lose_request {
        return;
    }
    let mut response = server.handle(&request);
    if repeat {
        response = server.handle(&request);
    }
    if !lose_response {
        replica
            .apply_sync(response)
            .unwrap_or_else(|err| panic!("apply: {err}"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge_whatever_the_order_and_losses((replicas, docs, steps) in scenario()) {
        let mut server = ModelServer { docs: BTreeMap::new(), log: Vec::new() };
        let owner = kam_sync_core::ids::UserId::new_v7();
        let mut ids = Vec::new();
        for i in 0..docs {
            let account: Account = serde_json::from_value(json!({
                "name": format!("Account {i}"), "segment": "enterprise", "owner_id": owner, "notes": "start"
            })).unwrap_or_else(|err| panic!("{err}"));
            let id = Uuid::now_v7();
            let doc = RecordDoc::create(&account, ActorId::random(), &meta()).unwrap_or_else(|err| panic!("{err:?}"));
            let mut doc = doc.into_automerge();
            server.log.push((id, doc.save()));
            server.docs.insert(id, doc);
            ids.push(id);
        }
        let mut devices: Vec<Replica> = (0..replicas).map(|_| Replica::new(ActorId::random())).collect();
        for device in &mut devices {
            sync(&mut server, device, false, false, false);
        }
        for step in &steps {
            match step {
                Step::Edit { replica, doc, edit } => apply_edit(&mut devices[*replica], ids[*doc], edit),
                Step::Sync { replica, lose_request, lose_response, repeat } => {
                    sync(&mut server, &mut devices[*replica], *lose_request, *lose_response, *repeat);
                }
            }
        }
        for _ in 0..2 {
            for device in &mut devices {
                sync(&mut server, device, false, false, false);
            }
        }
        for id in &ids {
            let expected = RecordDoc::from_automerge(RecordKind::Account, server.docs[id].clone()).to_json();
            for (i, device) in devices.iter_mut().enumerate() {
                let doc = device.doc(*id).unwrap_or_else(|| panic!("replica {i} lost {id}"));
                prop_assert_eq!(&doc.to_json(), &expected, "replica {} differs on {}", i, id);
                prop_assert!(device.pending().is_empty(), "replica {} still has pending changes", i);
            }
        }
    }
}
