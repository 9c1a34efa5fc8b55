//! Record documents: create, read, merge-patch, and merge between replicas.

use automerge::ActorId;
use chrono::Utc;
use kam_sync_core::account::{Segment, Stage, Tier};
use kam_sync_core::geo::GeoPoint;
use kam_sync_core::ids::UserId;
use kam_sync_core::{Account, ChangeMeta, RecordDoc, RecordError, RecordKind};
use serde_json::{Map, Value, json};

fn meta(device: &str) -> ChangeMeta {
    ChangeMeta {
        user: Some(UserId::new_v7()),
        device: device.into(),
        time: Utc::now(),
    }
}

fn account() -> Account {
    serde_json::from_value(json!({
        "name": "Hangzhou Water Authority",
        "segment": "government",
        "owner_id": UserId::new_v7(),
        "tags": ["water"],
        "notes": "Met the deputy director."
    }))
    .unwrap_or_else(|err| panic!("sample account: {err}"))
}

fn patch(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

fn replica_of(doc: &mut RecordDoc, actor: &str) -> RecordDoc {
    let bytes = doc.automerge_mut().save();
    let mut copy =
        RecordDoc::load(RecordKind::Account, &bytes).unwrap_or_else(|err| panic!("load: {err}"));
    copy.automerge_mut()
        .set_actor(ActorId::from(actor.as_bytes()));
    copy
}

fn merge(into: &mut RecordDoc, from: &mut RecordDoc) {
    into.automerge_mut()
        .merge(from.automerge_mut())
        .unwrap_or_else(|err| panic!("merge: {err}"));
}

fn read(doc: &RecordDoc) -> Account {
    doc.read::<Account>()
        .unwrap_or_else(|err| panic!("read: {err:?}"))
}

#[test]
fn a_created_account_reads_back_equal() {
    let original = account();
    let doc = RecordDoc::create(&original, ActorId::random(), &meta("phone-1"))
        .unwrap_or_else(|err| panic!("create: {err:?}"));
    assert_eq!(read(&doc), original);
    assert_eq!(doc.to_json()["stage"], "identified");
}

#[test]
fn a_patch_changes_only_what_it_names_and_null_clears() {
    let mut doc = RecordDoc::create(&account(), ActorId::random(), &meta("phone-1"))
        .unwrap_or_else(|err| panic!("create: {err:?}"));
    let result = doc
        .merge_patch::<Account>(
            &patch(json!({"stage": "engaging", "industry": "utilities", "address": {"city": "Hangzhou"}})),
            &meta("phone-1"),
        )
        .unwrap_or_else(|err| panic!("patch: {err:?}"));
    assert!(result.is_some());
    let updated = read(&doc);
    assert_eq!(updated.stage, Stage::Engaging);
    assert_eq!(updated.address.city.as_deref(), Some("Hangzhou"));
    assert_eq!(updated.name, "Hangzhou Water Authority");

    doc.merge_patch::<Account>(&patch(json!({"industry": null})), &meta("phone-1"))
        .unwrap_or_else(|err| panic!("patch: {err:?}"));
    assert_eq!(read(&doc).industry, None);
}

#[test]
fn a_patch_that_changes_nothing_makes_no_change() {
    let mut doc = RecordDoc::create(&account(), ActorId::random(), &meta("phone-1"))
        .unwrap_or_else(|err| panic!("create: {err:?}"));
    let heads = doc.automerge_mut().get_heads();
    let result = doc
        .merge_patch::<Account>(
            &patch(json!({"name": "Hangzhou Water Authority", "tags": ["water"]})),
            &meta("x"),
        )
        .unwrap_or_else(|err| panic!("patch: {err:?}"));
    assert!(result.is_none());
    assert_eq!(doc.automerge_mut().get_heads(), heads);
}

#[test]
fn an_invalid_patch_changes_nothing_and_names_the_field() {
    let mut doc = RecordDoc::create(&account(), ActorId::random(), &meta("phone-1"))
        .unwrap_or_else(|err| panic!("create: {err:?}"));
    let before = doc.to_json();
    for (bad, field, code) in [
        (json!({"tier": "platinum"}), "tier", "invalid_value"),
        (json!({"colour": "red"}), "colour", "unknown_field"),
        (json!({"name": ""}), "name", "required"),
        (
            json!({"location": {"lat": 200.0, "lon": 1.0}}),
            "location.lat",
            "out_of_range",
        ),
        (
            json!({"scores": {"loyalty": "high"}}),
            "scores.loyalty",
            "invalid_value",
        ),
    ] {
        match doc.merge_patch::<Account>(&patch(bad.clone()), &meta("x")) {
            Err(RecordError::Invalid(violations)) => {
                assert_eq!(violations[0].field, field, "{bad}");
                assert_eq!(violations[0].code, code, "{bad}");
            }
            other => panic!("{bad} gave {other:?}"),
        }
        assert_eq!(doc.to_json(), before, "{bad} left a trace");
    }
}

#[test]
fn concurrent_edits_to_different_fields_both_survive() {
    let mut server = RecordDoc::create(&account(), ActorId::random(), &meta("server"))
        .unwrap_or_else(|err| panic!("create: {err:?}"));
    let mut phone_a = replica_of(&mut server, "phone-a");
    let mut phone_b = replica_of(&mut server, "phone-b");
    phone_a
        .merge_patch::<Account>(&patch(json!({"stage": "engaging"})), &meta("a"))
        .unwrap_or_else(|err| panic!("{err:?}"));
    phone_b
        .merge_patch::<Account>(&patch(json!({"scores": {"loyalty": 80}})), &meta("b"))
        .unwrap_or_else(|err| panic!("{err:?}"));
    merge(&mut server, &mut phone_a);
    merge(&mut server, &mut phone_b);
    let merged = read(&server);
    assert_eq!(merged.stage, Stage::Engaging);
    assert_eq!(merged.scores.loyalty, Some(80));
    assert!(server.conflicts().is_empty());
}

#[test]
fn concurrent_text_edits_interleave_and_lists_keep_both_additions() {
    let mut server = RecordDoc::create(&account(), ActorId::random(), &meta("server"))
        .unwrap_or_else(|err| panic!("create: {err:?}"));
    let mut phone_a = replica_of(&mut server, "phone-a");
    let mut phone_b = replica_of(&mut server, "phone-b");
    phone_a
        .merge_patch::<Account>(
            &patch(json!({"notes": "Budget approved. Met the deputy director.", "tags": ["water", "tender"]})),
            &meta("a"),
        )
        .unwrap_or_else(|err| panic!("{err:?}"));
    phone_b
        .merge_patch::<Account>(
            &patch(json!({"notes": "Met the deputy director. Wants a demo.", "tags": ["water", "urgent"]})),
            &meta("b"),
        )
        .unwrap_or_else(|err| panic!("{err:?}"));
    merge(&mut server, &mut phone_a);
    merge(&mut server, &mut phone_b);
    let merged = read(&server);
    assert_eq!(
        merged.notes,
        "Budget approved. Met the deputy director. Wants a demo."
    );
    let mut tags = merged.tags.clone();
    tags.sort();
    assert_eq!(tags, ["tender", "urgent", "water"]);
}

#[test]
fn the_same_field_set_twice_shows_a_winner_and_the_other_value() {
    let mut server = RecordDoc::create(&account(), ActorId::random(), &meta("server"))
        .unwrap_or_else(|err| panic!("create: {err:?}"));
    let mut phone_a = replica_of(&mut server, "phone-a");
    let mut phone_b = replica_of(&mut server, "phone-b");
    phone_a
        .merge_patch::<Account>(&patch(json!({"proposed_tier": "key"})), &meta("a"))
        .unwrap_or_else(|err| panic!("{err:?}"));
    phone_b
        .merge_patch::<Account>(&patch(json!({"proposed_tier": "strategic"})), &meta("b"))
        .unwrap_or_else(|err| panic!("{err:?}"));
    merge(&mut server, &mut phone_a);
    merge(&mut server, &mut phone_b);
    merge(&mut phone_a, &mut server);
    let conflicts = server.conflicts();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].field, "proposed_tier");
    let winner = read(&server).proposed_tier;
    assert_eq!(read(&phone_a).proposed_tier, winner);
    let loser = if winner == Some(Tier::Key) {
        "strategic"
    } else {
        "key"
    };
    assert_eq!(conflicts[0].others, vec![json!(loser)]);
    assert_eq!(conflicts[0].value, json!(winner));
}

#[test]
fn a_gps_fix_is_replaced_whole_never_mixed() {
    let mut server = RecordDoc::create(&account(), ActorId::random(), &meta("server"))
        .unwrap_or_else(|err| panic!("create: {err:?}"));
    server
        .merge_patch::<Account>(
            &patch(json!({"location": {"lat": 30.0, "lon": 120.0}})),
            &meta("s"),
        )
        .unwrap_or_else(|err| panic!("{err:?}"));
    let mut phone_a = replica_of(&mut server, "phone-a");
    let mut phone_b = replica_of(&mut server, "phone-b");
    phone_a
        .merge_patch::<Account>(
            &patch(json!({"location": {"lat": 31.0, "lon": 120.0}})),
            &meta("a"),
        )
        .unwrap_or_else(|err| panic!("{err:?}"));
    phone_b
        .merge_patch::<Account>(
            &patch(json!({"location": {"lat": 30.0, "lon": 121.0}})),
            &meta("b"),
        )
        .unwrap_or_else(|err| panic!("{err:?}"));
    merge(&mut server, &mut phone_a);
    merge(&mut server, &mut phone_b);
    let location = read(&server).location;
    assert!(
        location
            == Some(GeoPoint {
                lat: 31.0,
                lon: 120.0
            })
            || location
                == Some(GeoPoint {
                    lat: 30.0,
                    lon: 121.0
                }),
        "mixed fix {location:?}"
    );
}

#[test]
fn reading_an_account_document_as_another_kind_is_refused() {
    let doc = RecordDoc::create(&account(), ActorId::random(), &meta("x"))
        .unwrap_or_else(|err| panic!("create: {err:?}"));
    assert!(matches!(
        doc.read::<kam_sync_core::Visit>(),
        Err(RecordError::Invalid(v)) if v[0].code == "wrong_kind"
    ));
    let _ = Segment::ALL;
}

#[test]
fn a_diff_patch_turns_one_record_into_the_other() {
    let mut doc = RecordDoc::create(&account(), ActorId::random(), &meta("x"))
        .unwrap_or_else(|err| panic!("create: {err:?}"));
    let before = doc.to_json();
    doc.merge_patch::<Account>(
        &patch(
            json!({"tier": "key", "scores": {"loyalty": 70}, "tags": ["a"], "industry": "water"}),
        ),
        &meta("x"),
    )
    .unwrap_or_else(|err| panic!("{err:?}"));
    let after = doc.to_json();
    let (Some(from), Some(to)) = (after.as_object(), before.as_object()) else {
        panic!("records are objects");
    };
    let undo = kam_sync_core::diff_patch(from, to);
    doc.merge_patch::<Account>(&undo, &meta("x"))
        .unwrap_or_else(|err| panic!("{err:?}"));
    assert_eq!(doc.to_json(), before);
}

#[test]
fn a_missing_required_field_is_named() {
    let result = kam_sync_core::parse_record::<Account>(
        json!({"segment": "government", "owner_id": UserId::new_v7()}),
    );
    match result {
        Err(RecordError::Invalid(violations)) => {
            assert_eq!(violations[0].field, "name");
            assert_eq!(violations[0].code, "required");
        }
        other => panic!("{other:?}"),
    }
}

fn plan_replica(doc: &mut RecordDoc, actor: &str) -> RecordDoc {
    let bytes = doc.automerge_mut().save();
    let mut copy = RecordDoc::load(RecordKind::AccountPlan, &bytes)
        .unwrap_or_else(|err| panic!("load: {err}"));
    copy.automerge_mut()
        .set_actor(ActorId::from(actor.as_bytes()));
    copy
}

#[test]
fn items_with_ids_merge_item_by_item_when_two_devices_edit_a_list() {
    use kam_sync_core::AccountPlan;
    let (first, second, third) = (
        uuid::Uuid::now_v7(),
        uuid::Uuid::now_v7(),
        uuid::Uuid::now_v7(),
    );
    let plan: AccountPlan = serde_json::from_value(json!({
        "account_id": UserId::new_v7(),
        "period_kind": "quarter",
        "period_start": "2026-10-01",
        "title": "Q4",
        "owner_id": UserId::new_v7(),
        "actions": [
            {"id": first, "text": "Pilot", "status": "todo"},
            {"id": second, "text": "Demo", "status": "todo"},
        ],
    }))
    .unwrap_or_else(|err| panic!("sample plan: {err}"));
    let mut phone = RecordDoc::create(&plan, ActorId::from(b"phone".as_slice()), &meta("phone"))
        .unwrap_or_else(|err| panic!("create: {err:?}"));
    let mut tablet = plan_replica(&mut phone, "tablet");
    let actions = |doc: &RecordDoc| doc.to_json()["actions"].clone();

    // The phone finishes the pilot and adds an action; the tablet moves the
    // demo's date and drops nothing.
    let mut on_phone = actions(&phone);
    on_phone[0]["status"] = json!("done");
    if let Some(list) = on_phone.as_array_mut() {
        list.push(json!({"id": third, "text": "Tender", "status": "todo"}));
    }
    phone
        .merge_patch::<AccountPlan>(&patch(json!({"actions": on_phone})), &meta("phone"))
        .unwrap_or_else(|err| panic!("phone: {err:?}"));
    let mut on_tablet = actions(&tablet);
    on_tablet[1]["due_on"] = json!("2026-11-30");
    on_tablet[0]["text"] = json!("Pilot at the west depot");
    tablet
        .merge_patch::<AccountPlan>(&patch(json!({"actions": on_tablet})), &meta("tablet"))
        .unwrap_or_else(|err| panic!("tablet: {err:?}"));

    merge(&mut phone, &mut tablet);
    merge(&mut tablet, &mut phone);
    assert_eq!(phone.to_json(), tablet.to_json());
    assert_eq!(
        actions(&phone),
        json!([
            {"id": first, "text": "Pilot at the west depot", "status": "done"},
            {"id": second, "text": "Demo", "status": "todo", "due_on": "2026-11-30"},
            {"id": third, "text": "Tender", "status": "todo"},
        ])
    );
    assert!(phone.conflicts().is_empty(), "{:?}", phone.conflicts());

    // Removing one item and reordering the rest still reads as asked.
    let reordered = json!([actions(&phone)[2].clone(), actions(&phone)[0].clone()]);
    phone
        .merge_patch::<AccountPlan>(
            &patch(json!({"actions": reordered.clone()})),
            &meta("phone"),
        )
        .unwrap_or_else(|err| panic!("reorder: {err:?}"));
    assert_eq!(actions(&phone), reordered);
}

#[test]
fn a_document_reads_as_it_was_before_and_after_each_change() {
    let mut doc = RecordDoc::create(&account(), ActorId::random(), &meta("phone"))
        .unwrap_or_else(|err| panic!("create: {err:?}"));
    let created = doc.automerge_mut().get_heads();
    doc.merge_patch::<Account>(
        &patch(json!({"stage": "engaging", "notes": "Met the director. 见了局长。"})),
        &meta("phone"),
    )
    .unwrap_or_else(|err| panic!("patch: {err:?}"));
    let edited = doc.automerge_mut().get_heads();
    let before = doc.to_json_at(&created);
    let after = doc.to_json_at(&edited);
    assert_eq!(before["stage"], json!("identified"));
    assert_eq!(before["notes"], json!("Met the deputy director."));
    assert_eq!(after["stage"], json!("engaging"));
    assert_eq!(after["notes"], json!("Met the director. 见了局长。"));
    assert_eq!(doc.to_json_at(&[]), json!({}));
    assert_eq!(after, doc.to_json());
}

#[test]
fn a_nul_character_anywhere_in_a_record_is_refused_naming_its_field() {
    let mut value = serde_json::to_value(account()).unwrap_or_default();
    value["tags"] = json!(["ok", "bad\u{0}tag"]);
    match kam_sync_core::parse_record::<Account>(value) {
        Err(RecordError::Invalid(violations)) => {
            assert_eq!(violations[0].field, "tags.1");
            assert_eq!(violations[0].code, "invalid_value");
        }
        other => panic!("{other:?}"),
    }
}
