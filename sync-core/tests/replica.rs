//! `Replica`, the Rust sync client: what it puts in a request.

use automerge::ActorId;
use chrono::Utc;
use kam_sync_core::ids::UserId;
use kam_sync_core::{Account, Callback, ChangeMeta, Record, RecordKind, Replica, Ticket, Visit};
use serde_json::{Value, json};
use uuid::Uuid;

fn record<R: Record>(fields: Value) -> R {
    kam_sync_core::parse_record(fields).unwrap_or_else(|err| panic!("sample record: {err:?}"))
}

/// Records made offline child first go parents first, in `RecordKind::ALL`
/// order: a batch never holds a ticket whose closing callback, or a visit
/// whose new account, waits for a later batch.
#[test]
fn a_request_pushes_kinds_parents_first_whatever_order_they_were_made_in() {
    let me = UserId::new_v7();
    let meta = ChangeMeta {
        user: Some(me),
        device: "phone".into(),
        time: Utc::now(),
    };
    let mut replica = Replica::new(ActorId::random());
    let account_id = Uuid::now_v7();
    let ticket_id = Uuid::now_v7();
    let made: Vec<(Uuid, RecordKind)> = vec![
        (ticket_id, RecordKind::Ticket),
        (Uuid::now_v7(), RecordKind::Callback),
        (Uuid::now_v7(), RecordKind::Visit),
        (account_id, RecordKind::Account),
    ];
    for (id, kind) in &made {
        let created = match kind {
            RecordKind::Ticket => replica.create::<Ticket>(
                *id,
                &record(json!({"account_id": account_id, "type": "complaint", "title": "Late delivery", "severity": "high"})),
                &meta,
            ),
            RecordKind::Callback => replica.create::<Callback>(
                *id,
                &record(json!({"account_id": account_id, "kind": "after_ticket", "ticket_id": ticket_id, "owner_id": me, "scheduled_on": "2026-12-07"})),
                &meta,
            ),
            RecordKind::Visit => replica.create::<Visit>(
                *id,
                &record(json!({"account_id": account_id, "owner_id": me, "planned_at": Utc::now(), "type": "onsite"})),
                &meta,
            ),
            _ => replica.create::<Account>(
                *id,
                &record(json!({"name": "Xiamen Airlines", "segment": "enterprise", "owner_id": me})),
                &meta,
            ),
        };
        created.unwrap_or_else(|err| panic!("create {kind:?}: {err:?}"));
    }
    let kinds: Vec<RecordKind> = replica
        .prepare_sync()
        .push
        .iter()
        .map(|push| push.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![
            RecordKind::Account,
            RecordKind::Visit,
            RecordKind::Callback,
            RecordKind::Ticket
        ]
    );
}
