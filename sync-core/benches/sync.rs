//! Criterion benchmarks of the sync hot paths, with no HTTP and no database:
//! applying a push, a device applying a pull, the wire format, and merging
//! one change into a record with a long history versus a fresh one.
//!
//! `cargo bench -p kam-sync-core`

use automerge::{ActorId, AutoCommit};
use chrono::Utc;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use kam_sync_core::protocol::{Bytes, PullDoc, PushDoc, SyncRequest, SyncResponse};
use kam_sync_core::{Account, ChangeMeta, RecordDoc, RecordKind, Replica};
use serde_json::{Map, Value, json};
use std::hint::black_box;
use uuid::Uuid;

const STAGES: [&str; 2] = ["engaging", "deepening"];

fn meta() -> ChangeMeta {
    ChangeMeta {
        user: None,
        device: "bench".into(),
        time: Utc::now(),
    }
}

fn account(i: usize) -> Account {
    kam_sync_core::parse_record(json!({
        "name": format!("Account {i}"),
        "segment": "enterprise",
        "owner_id": Uuid::nil(),
        "scores": {"need": 50, "loyalty": 40},
        "address": {"city": "Hangzhou", "country": "China"},
        "location": {"lat": 30.27, "lon": 120.15},
        "tags": ["water"],
        "notes": "Met the purchasing director, who wants a proposal before the budget round.",
    }))
    .unwrap_or_else(|err| panic!("{err:?}"))
}

fn patch(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

/// A record document with `edits` one-field edits after its creation.
fn with_history(edits: usize) -> RecordDoc {
    let mut doc = RecordDoc::create(&account(0), ActorId::random(), &meta())
        .unwrap_or_else(|err| panic!("{err:?}"));
    for i in 0..edits {
        let change = if i % 2 == 0 {
            json!({"scores": {"loyalty": i % 100}})
        } else {
            json!({"stage": STAGES[i % 4 / 2]})
        };
        doc.merge_patch::<Account>(&patch(change), &meta())
            .unwrap_or_else(|err| panic!("{err:?}"));
    }
    doc
}

/// One device's push of `docs` new accounts, each with `edits` edits.
fn push_of(docs: usize, edits: usize) -> SyncRequest {
    let mut replica = Replica::new(ActorId::random());
    for i in 0..docs {
        let id = Uuid::now_v7();
        replica
            .create(id, &account(i), &meta())
            .unwrap_or_else(|err| panic!("{err:?}"));
        for e in 0..edits {
            replica
                .edit::<Account>(id, &patch(json!({"scores": {"loyalty": e}})), &meta())
                .unwrap_or_else(|err| panic!("{err:?}"));
        }
    }
    replica.prepare_sync()
}

fn apply_push(c: &mut Criterion) {
    let request = push_of(100, 10);
    c.bench_function(
        "apply a push of 100 documents x 11 changes (merge + validate + save)",
        |b| {
            b.iter(|| {
                for push in &request.push {
                    let mut doc = RecordDoc::from_automerge(push.kind, AutoCommit::new());
                    doc.automerge_mut()
                        .load_incremental(&push.changes.0)
                        .unwrap_or_else(|err| panic!("{err}"));
                    black_box(
                        doc.read::<Account>()
                            .unwrap_or_else(|err| panic!("{err:?}")),
                    );
                    black_box(doc.automerge_mut().save());
                }
            });
        },
    );
}

fn apply_pull(c: &mut Criterion) {
    let request = push_of(100, 10);
    let response = SyncResponse {
        cursor: "c".into(),
        pull: request
            .push
            .iter()
            .map(|p| PullDoc {
                id: p.id,
                kind: RecordKind::Account,
                account_id: p.id,
                whole: true,
                data: p.changes.clone(),
                heads: Vec::new(),
            })
            .collect(),
        ..SyncResponse::default()
    };
    c.bench_function("a device applies a pull of 100 documents", |b| {
        b.iter_batched(
            || (Replica::new(ActorId::random()), response.clone()),
            |(mut replica, response)| {
                black_box(
                    replica
                        .apply_sync(response)
                        .unwrap_or_else(|err| panic!("{err}")),
                )
            },
            BatchSize::SmallInput,
        );
    });
}

fn wire_format(c: &mut Criterion) {
    let request = push_of(100, 10);
    let json = serde_json::to_vec(&request).unwrap_or_default();
    let mut cbor = Vec::new();
    ciborium::into_writer(&request, &mut cbor).unwrap_or_else(|err| panic!("{err}"));
    c.bench_function("encode a 100-document push as JSON", |b| {
        b.iter(|| black_box(serde_json::to_vec(&request)))
    });
    c.bench_function("decode a 100-document push from JSON", |b| {
        b.iter(|| black_box(serde_json::from_slice::<SyncRequest>(&json).unwrap_or_default()))
    });
    c.bench_function("encode a 100-document push as CBOR", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            ciborium::into_writer(&request, &mut out).unwrap_or_else(|err| panic!("{err}"));
            black_box(out)
        })
    });
    c.bench_function("decode a 100-document push from CBOR", |b| {
        b.iter(|| {
            black_box(
                ciborium::from_reader::<SyncRequest, _>(&cbor[..])
                    .unwrap_or_else(|err| panic!("{err}")),
            )
        })
    });
}

fn merge_into_history(c: &mut Criterion) {
    for history in [0usize, 10_000] {
        let mut base = with_history(history);
        let mut device = RecordDoc::load(RecordKind::Account, &base.automerge_mut().save())
            .unwrap_or_else(|err| panic!("{err:?}"));
        device.automerge_mut().set_actor(ActorId::random());
        let heads = device.automerge_mut().get_heads();
        device
            .merge_patch::<Account>(&patch(json!({"stage": "maintaining"})), &meta())
            .unwrap_or_else(|err| panic!("{err:?}"));
        let change = device.automerge_mut().save_after(&heads);
        let push = PushDoc {
            id: Uuid::nil(),
            kind: RecordKind::Account,
            changes: Bytes(change),
        };
        c.bench_function(
            &format!("merge one change into a loaded record with {history} changes of history"),
            |b| {
                b.iter_batched(
                    || base.automerge_mut().fork(),
                    |mut doc| {
                        let before = doc.get_heads();
                        doc.load_incremental(&push.changes.0)
                            .unwrap_or_else(|err| panic!("{err}"));
                        black_box(doc.save_after(&before))
                    },
                    BatchSize::LargeInput,
                );
            },
        );
        c.bench_function(
            &format!(
                "apply one change (no save) to a loaded record with {history} changes of history"
            ),
            |b| {
                b.iter_batched(
                    || base.automerge_mut().fork(),
                    |mut doc| {
                        doc.load_incremental(&push.changes.0)
                            .unwrap_or_else(|err| panic!("{err}"));
                        black_box(doc)
                    },
                    BatchSize::LargeInput,
                );
            },
        );
        c.bench_function(&format!("apply one change with apply_changes to a loaded record with {history} changes of history"), |b| {
            let changes: Vec<automerge::Change> = {
                let mut scratch = base.automerge_mut().fork();
                let before = scratch.get_heads();
                scratch.load_incremental(&push.changes.0).unwrap_or_else(|err| panic!("{err}"));
                scratch.get_changes(&before).into_iter().collect()
            };
            b.iter_batched(
                || (base.automerge_mut().fork(), changes.clone()),
                |(mut doc, changes)| {
                    doc.apply_changes(changes).unwrap_or_else(|err| panic!("{err}"));
                    black_box(doc)
                },
                BatchSize::LargeInput,
            );
        });
        c.bench_function(&format!("apply one change to a warm record (it already took one since loading) with {history} changes of history"), |b| {
            let mut other = RecordDoc::load(RecordKind::Account, &base.automerge_mut().save()).unwrap_or_else(|err| panic!("{err:?}"));
            other.automerge_mut().set_actor(ActorId::random());
            let other_heads = other.automerge_mut().get_heads();
            other
                .merge_patch::<Account>(&patch(json!({"industry": "water"})), &meta())
                .unwrap_or_else(|err| panic!("{err:?}"));
            let warm_up = other.automerge_mut().save_after(&other_heads);
            b.iter_batched(
                || {
                    let mut doc = base.automerge_mut().fork();
                    doc.load_incremental(&warm_up).unwrap_or_else(|err| panic!("{err}"));
                    doc
                },
                |mut doc| {
                    doc.load_incremental(&push.changes.0).unwrap_or_else(|err| panic!("{err}"));
                    black_box(doc)
                },
                BatchSize::LargeInput,
            );
        });
        let snapshot = base.automerge_mut().save();
        c.bench_function(
            &format!("load from snapshot, then merge one change, {history} changes of history"),
            |b| {
                b.iter(|| {
                    let mut doc = AutoCommit::load(&snapshot).unwrap_or_else(|err| panic!("{err}"));
                    let before = doc.get_heads();
                    doc.load_incremental(&push.changes.0)
                        .unwrap_or_else(|err| panic!("{err}"));
                    black_box(doc.save_after(&before))
                });
            },
        );
    }
}

criterion_group!(
    benches,
    apply_push,
    apply_pull,
    wire_format,
    merge_into_history
);
criterion_main!(benches);
