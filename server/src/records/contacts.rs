//! Key persons (关键人): their rows, the rules a change must pass, and the
//! account's org chart with the gaps in its decision map.

use super::child::{ChildKind, Columns, list_filter};
use super::kind::{Pending, Stamp, SyncedKind};
use super::{Materialize, Review};
use crate::auth::AuthUser;
use crate::config::Settings;
use crate::db::upsert_each;
use crate::entities::contact;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::records::accounts::visible_row;
use crate::state::AppState;
use kam_sync_core::contact::{Attitude, BuyingRole, Personality};
use kam_sync_core::ids::{AccountId, ContactId};
use kam_sync_core::{Contact, RecordKind};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use utoipa::ToSchema;
use uuid::Uuid;

/// Influence from which an opponent is a threat to the deal.
pub const HIGH_INFLUENCE: i64 = 4;

/// Most live (not deleted) key persons an account holds: a large group's
/// decision map runs to a few hundred people; more is a runaway client.
/// Adding one more (a new key person, or a deleted one restored) is refused
/// with `too_many_key_persons`.
pub const MAX_KEY_PERSONS: usize = 1_000;

/// Most levels the org chart nests, its roots being the first. A person
/// further down is drawn as the root of a tree of their own, flagged by a
/// `too_deep` gap: a response nests at most this deep, well within what
/// JSON readers accept (serde_json stops at 128 levels, and each level of
/// the chart is two).
pub const MAX_CHART_DEPTH: usize = 32;

/// A key person as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ContactView {
    /// Id.
    pub id: ContactId,
    /// The record.
    #[serde(flatten)]
    pub contact: Contact,
    /// Bookkeeping.
    #[serde(flatten)]
    pub stamp: Stamp,
}

list_filter!(
    /// Filters for listing key persons; all combine with AND, within the caller's scope.
    ContactFilter {
        /// With this buying role.
        buying_role: Option<BuyingRole>,
        /// With this attitude.
        attitude: Option<Attitude>,
        /// Reporting to this key person.
        reports_to: Option<Uuid>,
    }
);

/// Key persons as a synced kind.
pub struct Contacts;

impl SyncedKind for Contacts {
    type Record = Contact;
    type Entity = contact::Entity;
    type View = ContactView;
    const NAME: &'static str = "contact";
    const STAYS_WITH_ACCOUNT: &'static str =
        "a key person stays with their account; add them to the other one";

    // A device may push many key persons of one account at once; the cap
    // counts those merged before in the same request.
    const READ_BY_LATER_REVIEWS: bool = true;

    async fn review(
        conn: &impl ConnectionTrait,
        _caller: &AuthUser,
        id: Uuid,
        old: Option<&Contact>,
        new: &Contact,
        pending: &Pending,
    ) -> ApiResult<Review> {
        let mut review = Review::default();
        review_cap(conn, id, old, new, pending, &mut review).await?;
        let old_manager = old.and_then(|o| o.reports_to);
        if let Some(manager) = new.reports_to
            && Some(manager) != old_manager
            && let Some(error) = reports_to_problem(conn, new, manager).await?
        {
            review.refuse("reports_to", json!(old_manager), error);
        }
        Ok(review)
    }

    async fn materialize_all(
        conn: &impl ConnectionTrait,
        _settings: &Settings,
        items: &[Materialize<'_, contact::Model>],
    ) -> ApiResult<Vec<ContactView>> {
        let mut views = Vec::with_capacity(items.len());
        let mut models = Vec::with_capacity(items.len());
        for item in items {
            let view = ContactView {
                id: ContactId(item.id),
                contact: item.doc.read()?,
                stamp: item.stamp(|row| (row.created_by, row.created_at)),
            };
            let contact = &view.contact;
            models.push(contact::ActiveModel {
                id: Set(item.id),
                account_id: Set(contact.account_id.0),
                name: Set(contact.name.clone()),
                buying_role: Set(contact.buying_role.map(|r| r.as_str().to_owned())),
                attitude: Set(contact.attitude.map(|a| a.as_str().to_owned())),
                influence: Set(contact.influence),
                reports_to: Set(contact.reports_to.map(|c| c.0)),
                deleted: Set(contact.deleted),
                created_by: Set(view.stamp.created_by.map(|u| u.0)),
                created_at: Set(view.stamp.created_at),
                updated_at: Set(view.stamp.updated_at),
                version: Set(view.stamp.version),
                body: Set(serde_json::to_value(&view).map_err(ApiError::internal)?),
            });
            views.push(view);
        }
        upsert_each(
            conn,
            models,
            OnConflict::column(contact::Column::Id)
                .update_columns([
                    contact::Column::AccountId,
                    contact::Column::Name,
                    contact::Column::BuyingRole,
                    contact::Column::Attitude,
                    contact::Column::Influence,
                    contact::Column::ReportsTo,
                    contact::Column::Deleted,
                    contact::Column::UpdatedAt,
                    contact::Column::Version,
                    contact::Column::Body,
                ])
                .to_owned(),
        )
        .await?;
        Ok(views)
    }

    async fn rows_by_id(
        conn: &impl ConnectionTrait,
        ids: Vec<Uuid>,
    ) -> ApiResult<HashMap<Uuid, contact::Model>> {
        super::rows_by_id::<contact::Entity>(conn, contact::Column::Id, ids, |row| row.id).await
    }

    fn account_of(_id: Uuid, record: &Contact) -> Uuid {
        record.account_id.0
    }

    fn account_of_view(view: &ContactView) -> Uuid {
        view.contact.account_id.0
    }

    fn row_parts(row: &contact::Model) -> (Uuid, i64, &Value) {
        (row.id, row.version, &row.body)
    }
}

impl ChildKind for Contacts {
    type Filter = ContactFilter;

    fn columns() -> Columns<contact::Column> {
        Columns {
            id: contact::Column::Id,
            account_id: contact::Column::AccountId,
            deleted: contact::Column::Deleted,
            updated_at: contact::Column::UpdatedAt,
        }
    }

    fn filter(filter: &ContactFilter, mut condition: Condition) -> Condition {
        if let Some(role) = filter.buying_role {
            condition = condition.add(contact::Column::BuyingRole.eq(role.as_str()));
        }
        if let Some(attitude) = filter.attitude {
            condition = condition.add(contact::Column::Attitude.eq(attitude.as_str()));
        }
        if let Some(manager) = filter.reports_to {
            condition = condition.add(contact::Column::ReportsTo.eq(manager));
        }
        condition
    }
}

/// The cap on live key persons per account ([`MAX_KEY_PERSONS`]), checked
/// when a record adds one: a new key person, or a deleted one restored. A
/// restored one is deleted again; a new one cannot be undone into fitting
/// (its account stays as it is), so sync refuses it whole.
async fn review_cap(
    conn: &impl ConnectionTrait,
    id: Uuid,
    old: Option<&Contact>,
    new: &Contact,
    pending: &Pending,
    review: &mut Review,
) -> ApiResult<()> {
    let adds_one = match old {
        None => true,
        Some(old) => old.deleted && !new.deleted,
    };
    // A key person stays with their account (a move is refused apart).
    let account = old.map_or(new.account_id, |o| o.account_id);
    if !adds_one || live_key_persons(conn, id, account, pending).await? < MAX_KEY_PERSONS {
        return Ok(());
    }
    let error = ApiError::new(
        ErrorCode::TooManyKeyPersons,
        format!("an account holds at most {MAX_KEY_PERSONS} key persons; delete one first"),
    );
    match old {
        None => review.refuse("account_id", json!(new.account_id), error),
        Some(_) => review.refuse("deleted", json!(true), error),
    }
    Ok(())
}

/// The live key persons of `account` besides `id`: those merged before in
/// the same sync request as they stand there, the stored ones otherwise.
async fn live_key_persons(
    conn: &impl ConnectionTrait,
    id: Uuid,
    account: AccountId,
    pending: &Pending,
) -> ApiResult<usize> {
    let mut pushed = vec![id];
    let mut live = 0;
    // Two fields of each, read in place: a request may hold a thousand.
    for (other, record) in pending.of(RecordKind::Contact) {
        let at_account = record
            .get("account_id")
            .and_then(Value::as_str)
            .and_then(|text| Uuid::parse_str(text).ok())
            == Some(account.0);
        if other != id && at_account {
            pushed.push(other);
            let deleted = record.get("deleted").and_then(Value::as_bool) == Some(true);
            live += usize::from(!deleted);
        }
    }
    let stored = contact::Entity::find()
        .filter(contact::Column::AccountId.eq(account.0))
        .filter(contact::Column::Deleted.eq(false))
        .filter(contact::Column::Id.is_not_in(pushed))
        .count(conn)
        .await?;
    Ok(live + usize::try_from(stored).unwrap_or(usize::MAX))
}

/// Why `contact` may not report to `manager`, if it may not: not to
/// themselves, nor to a key person of another account. A manager not known
/// here yet is accepted: a device may push a person and their manager,
/// both made offline, in either order. Cycles are not refused either, since
/// two devices can make one concurrently whatever the server checks; the org
/// chart breaks and flags them.
async fn reports_to_problem(
    conn: &impl ConnectionTrait,
    contact: &Contact,
    manager: ContactId,
) -> ApiResult<Option<ApiError>> {
    let manager_row = contact::Entity::find_by_id(manager.0).one(conn).await?;
    let problem = match manager_row {
        Some(row) if row.account_id != contact.account_id.0 => Some(ApiError::invalid_field(
            "reports_to",
            "other_account",
            "a key person reports to someone at the same account",
        )),
        _ => None,
    };
    Ok(problem)
}

/// A key person in the org chart, with those who report to them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrgNode {
    /// Id.
    pub id: ContactId,
    /// Full name.
    pub name: String,
    /// Job title.
    pub title: Option<String>,
    /// Department.
    pub department: Option<String>,
    /// Part in the buying decision.
    pub buying_role: Option<BuyingRole>,
    /// How they stand towards us.
    pub attitude: Option<Attitude>,
    /// Weight in the decision, 1-5.
    pub influence: Option<i64>,
    /// Strength of our relationship, 1-5.
    pub relationship_strength: Option<i64>,
    /// Personality style.
    pub personality: Option<Personality>,
    /// Who reports to them.
    #[schema(no_recursion)]
    pub reports: Vec<OrgNode>,
}

/// Something missing or risky in an account's decision map.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrgGap {
    /// Stable code: `no_key_persons`, `no_decision_maker`, `no_champion`,
    /// `opponent_with_high_influence`, `decision_maker_not_supportive`,
    /// `unknown_manager`, `reporting_cycle`, `too_deep` (the person is
    /// more than 32 levels down and drawn as a root).
    pub code: String,
    /// What it means, for a person.
    pub message: String,
    /// The key person concerned, when there is one.
    pub contact_id: Option<ContactId>,
}

/// An account's reporting tree and the gaps in it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrgChart {
    /// The account.
    pub account_id: Uuid,
    /// The people who report to nobody known, with their reports beneath.
    pub roots: Vec<OrgNode>,
    /// What is missing or risky.
    pub gaps: Vec<OrgGap>,
}

/// The org chart of an account the caller can see.
pub async fn org_chart(
    state: &AppState,
    caller: &AuthUser,
    account_id: Uuid,
) -> ApiResult<OrgChart> {
    let conn = state.db.conn();
    visible_row(conn, caller, account_id).await?;
    let bodies: Vec<Value> = contact::Entity::find()
        .filter(contact::Column::AccountId.eq(account_id))
        .filter(contact::Column::Deleted.eq(false))
        .all(conn)
        .await?
        .into_iter()
        .map(|row| row.body)
        .collect();
    let people = bodies
        .into_iter()
        .map(|body| serde_json::from_value::<ContactView>(body).map_err(ApiError::internal))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(chart_of(account_id, people))
}

fn gap(code: &str, message: impl Into<String>, contact_id: Option<ContactId>) -> OrgGap {
    OrgGap {
        code: code.to_owned(),
        message: message.into(),
        contact_id,
    }
}

/// Builds the tree and finds the gaps; pure, so the rules are tested beside
/// it. Linear in the number of people and free of recursion whatever the
/// reporting lines (loops, chains of any length), and the tree it returns
/// nests at most [`MAX_CHART_DEPTH`] levels, so serializing and dropping it
/// are bounded too.
fn chart_of(account_id: Uuid, mut people: Vec<ContactView>) -> OrgChart {
    people.sort_by(|a, b| a.contact.name.cmp(&b.contact.name).then(a.id.cmp(&b.id)));
    let index: HashMap<ContactId, usize> = people
        .iter()
        .enumerate()
        .map(|(at, p)| (p.id, at))
        .collect();
    let mut gaps = Vec::new();
    if people.is_empty() {
        gaps.push(gap(
            "no_key_persons",
            "no key person is known at this account",
            None,
        ));
    }
    let is = |role: BuyingRole| people.iter().any(|p| p.contact.buying_role == Some(role));
    if !people.is_empty() && !is(BuyingRole::DecisionMaker) {
        gaps.push(gap(
            "no_decision_maker",
            "no decision maker is known: find who makes the final call",
            None,
        ));
    }
    let champion = people.iter().any(|p| {
        p.contact.attitude == Some(Attitude::Champion)
            || p.contact.buying_role == Some(BuyingRole::Coach)
    });
    if !people.is_empty() && !champion {
        gaps.push(gap(
            "no_champion",
            "nobody inside champions us: develop a coach",
            None,
        ));
    }
    for person in &people {
        let contact = &person.contact;
        if contact.attitude == Some(Attitude::Opponent)
            && contact.influence.is_some_and(|i| i >= HIGH_INFLUENCE)
        {
            gaps.push(gap(
                "opponent_with_high_influence",
                format!(
                    "{} opposes us and weighs heavily in the decision",
                    contact.name
                ),
                Some(person.id),
            ));
        }
        if contact.buying_role == Some(BuyingRole::DecisionMaker)
            && matches!(
                contact.attitude,
                Some(Attitude::Neutral) | Some(Attitude::Opponent)
            )
        {
            gaps.push(gap(
                "decision_maker_not_supportive",
                format!(
                    "{}, a decision maker, does not support us yet",
                    contact.name
                ),
                Some(person.id),
            ));
        }
        if let Some(manager) = contact.reports_to
            && !index.contains_key(&manager)
        {
            gaps.push(gap(
                "unknown_manager",
                format!(
                    "{} reports to a key person not on file (or deleted)",
                    contact.name
                ),
                Some(person.id),
            ));
        }
    }
    let manager_of: Vec<Option<usize>> = people
        .iter()
        .map(|p| p.contact.reports_to.and_then(|m| index.get(&m).copied()))
        .collect();
    // A person whose line of managers loops is drawn as a root where the
    // loop is found, so every person appears exactly once.
    let cuts = loop_cuts(&manager_of);
    let mut cut = vec![false; people.len()];
    for &at in &cuts {
        cut[at] = true;
        gaps.push(gap(
            "reporting_cycle",
            "these key persons report to each other in a loop; fix reports_to",
            Some(people[at].id),
        ));
    }
    let mut reports_of: Vec<Vec<usize>> = vec![Vec::new(); people.len()];
    let mut roots = VecDeque::new();
    for (at, manager) in manager_of.iter().enumerate() {
        match manager {
            Some(manager) if !cut[at] => reports_of[*manager].push(at),
            _ => roots.push_back(at),
        }
    }
    let mut trees = Vec::with_capacity(roots.len());
    while let Some(root) = roots.pop_front() {
        let (tree, too_deep) = tree_of(&people, &reports_of, root);
        for at in too_deep {
            gaps.push(gap(
                "too_deep",
                format!(
                    "{} is more than {MAX_CHART_DEPTH} levels below the top; \
                     drawn from here as a tree of its own",
                    people[at].contact.name
                ),
                Some(people[at].id),
            ));
            roots.push_back(at);
        }
        trees.push(tree);
    }
    OrgChart {
        account_id,
        roots: trees,
        gaps,
    }
}

/// The people (by position) whose reporting line closes a loop, one per
/// loop, in the order walks from each person in turn find them: without
/// their lines, the reporting lines form a forest. Each person has at most
/// one manager, so walking up from each person, over people no earlier walk
/// crossed, visits everyone once.
fn loop_cuts(manager_of: &[Option<usize>]) -> Vec<usize> {
    #[derive(Clone, Copy, PartialEq)]
    enum Walked {
        Not,
        Now,
        Before,
    }
    let mut walked = vec![Walked::Not; manager_of.len()];
    let mut cuts = Vec::new();
    let mut path = Vec::new();
    for start in 0..manager_of.len() {
        let mut at = start;
        while walked[at] == Walked::Not {
            walked[at] = Walked::Now;
            path.push(at);
            match manager_of[at] {
                Some(next) if walked[next] == Walked::Now => {
                    cuts.push(at);
                    break;
                }
                Some(next) => at = next,
                None => break,
            }
        }
        for at in path.drain(..) {
            walked[at] = Walked::Before;
        }
    }
    cuts
}

/// The tree under `root`, down to [`MAX_CHART_DEPTH`] levels, built with a
/// stack rather than recursion; and the people one level further down,
/// whose trees are drawn apart.
fn tree_of(
    people: &[ContactView],
    reports_of: &[Vec<usize>],
    root: usize,
) -> (OrgNode, Vec<usize>) {
    // Depth first, each person with the position of their manager in
    // `order` (the root, first, with its own).
    let mut order: Vec<(usize, usize)> = Vec::new();
    let mut too_deep = Vec::new();
    let mut stack = vec![(root, 0, 1)];
    while let Some((at, manager, level)) = stack.pop() {
        if level > MAX_CHART_DEPTH {
            too_deep.push(at);
            continue;
        }
        let position = order.len();
        order.push((at, manager));
        stack.extend(
            reports_of[at]
                .iter()
                .rev()
                .map(|&report| (report, position, level + 1)),
        );
    }
    // Backwards, everyone comes after all of their reports: each node is
    // made once its reports are, and handed to its manager.
    let mut reports: Vec<Vec<OrgNode>> = (0..order.len()).map(|_| Vec::new()).collect();
    for (position, &(at, manager)) in order.iter().enumerate().skip(1).rev() {
        let made = node(&people[at], std::mem::take(&mut reports[position]));
        reports[manager].push(made);
    }
    let tree = node(&people[root], std::mem::take(&mut reports[0]));
    (tree, too_deep)
}

/// A person's node over their reports, given last first (as they are made).
fn node(person: &ContactView, mut reports: Vec<OrgNode>) -> OrgNode {
    reports.reverse();
    let contact = &person.contact;
    OrgNode {
        id: person.id,
        name: contact.name.clone(),
        title: contact.title.clone(),
        department: contact.department.clone(),
        buying_role: contact.buying_role,
        attitude: contact.attitude,
        influence: contact.influence,
        relationship_strength: contact.relationship_strength,
        personality: contact.personality,
        reports,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use kam_sync_core::ids::AccountId;

    fn person(name: &str, role: Option<BuyingRole>, attitude: Option<Attitude>) -> ContactView {
        ContactView {
            id: ContactId::new_v7(),
            contact: serde_json::from_value(json!({
                "account_id": AccountId::new_v7(),
                "name": name,
            }))
            .unwrap_or_else(|err| panic!("{err}")),
            stamp: Stamp {
                conflicts: vec![],
                created_by: None,
                created_at: Utc::now(),
                updated_at: Utc::now(),
                version: 1,
            },
        }
        .with(role, attitude)
    }

    impl ContactView {
        fn with(mut self, role: Option<BuyingRole>, attitude: Option<Attitude>) -> Self {
            self.contact.buying_role = role;
            self.contact.attitude = attitude;
            self
        }
    }

    fn codes(chart: &OrgChart) -> Vec<&str> {
        chart.gaps.iter().map(|g| g.code.as_str()).collect()
    }

    #[test]
    fn a_map_with_a_supportive_decision_maker_and_a_champion_has_no_gaps() {
        let boss = person(
            "A",
            Some(BuyingRole::DecisionMaker),
            Some(Attitude::Supporter),
        );
        let mut coach = person("B", Some(BuyingRole::Coach), Some(Attitude::Champion));
        coach.contact.reports_to = Some(boss.id);
        let chart = chart_of(Uuid::now_v7(), vec![coach, boss]);
        assert!(chart.gaps.is_empty(), "{:?}", chart.gaps);
        assert_eq!(chart.roots.len(), 1);
        assert_eq!(chart.roots[0].reports.len(), 1);
    }

    #[test]
    fn missing_roles_and_a_strong_opponent_are_flagged() {
        let mut opponent = person("C", Some(BuyingRole::Influencer), Some(Attitude::Opponent));
        opponent.contact.influence = Some(5);
        let chart = chart_of(Uuid::now_v7(), vec![opponent]);
        assert_eq!(
            codes(&chart),
            [
                "no_decision_maker",
                "no_champion",
                "opponent_with_high_influence"
            ]
        );
    }

    #[test]
    fn a_reporting_loop_is_cut_and_everyone_appears_once() {
        let mut a = person(
            "A",
            Some(BuyingRole::DecisionMaker),
            Some(Attitude::Champion),
        );
        let mut b = person("B", None, None);
        a.contact.reports_to = Some(b.id);
        b.contact.reports_to = Some(a.id);
        let chart = chart_of(Uuid::now_v7(), vec![a, b]);
        assert_eq!(codes(&chart), ["reporting_cycle"]);
        assert_eq!(levels(&chart).len(), 2);
    }

    /// Every person drawn, with their level (a root is at level 1), walked
    /// with a stack.
    fn levels(chart: &OrgChart) -> Vec<(ContactId, usize)> {
        let mut out = Vec::new();
        let mut stack: Vec<(&OrgNode, usize)> = chart.roots.iter().map(|n| (n, 1)).collect();
        while let Some((node, level)) = stack.pop() {
            out.push((node.id, level));
            stack.extend(node.reports.iter().map(|r| (r, level + 1)));
        }
        out
    }

    /// Asserts that each of `people` is drawn exactly once, and nothing else.
    fn assert_drawn_once(chart: &OrgChart, people: &[ContactId]) {
        let mut drawn: Vec<ContactId> = levels(chart).into_iter().map(|(id, _)| id).collect();
        drawn.sort();
        let mut expected = people.to_vec();
        expected.sort();
        assert_eq!(drawn, expected);
    }

    /// `count` people, each reporting to the one before; the first reports
    /// to the last when `closed`.
    fn chain(count: usize, closed: bool) -> Vec<ContactView> {
        let mut people: Vec<ContactView> = (0..count)
            .map(|i| person(&format!("P{i:05}"), None, None))
            .collect();
        for i in 1..count {
            people[i].contact.reports_to = Some(people[i - 1].id);
        }
        if closed && let Some(last) = people.last().map(|p| p.id) {
            people[0].contact.reports_to = Some(last);
        }
        people
    }

    #[test]
    fn a_chain_of_twenty_thousand_is_drawn_once_each_within_the_depth_bound() {
        let people = chain(20_000, false);
        let ids: Vec<ContactId> = people.iter().map(|p| p.id).collect();
        let chart = chart_of(Uuid::now_v7(), people);
        assert_drawn_once(&chart, &ids);
        let deepest = levels(&chart).into_iter().map(|(_, level)| level).max();
        assert_eq!(deepest, Some(MAX_CHART_DEPTH));
        // Cut every MAX_CHART_DEPTH levels, each cut drawn as a root.
        let cut: Vec<ContactId> = chart
            .gaps
            .iter()
            .filter(|g| g.code == "too_deep")
            .filter_map(|g| g.contact_id)
            .collect();
        let expected: Vec<ContactId> = ids.iter().copied().step_by(MAX_CHART_DEPTH).collect();
        assert_eq!(cut, expected[1..]);
        let roots: Vec<ContactId> = chart.roots.iter().map(|r| r.id).collect();
        assert_eq!(roots, expected);
        assert!(serde_json::to_string(&chart).is_ok());
    }

    #[test]
    fn a_loop_of_twenty_thousand_is_cut_once_and_everyone_is_drawn_once() {
        let people = chain(20_000, true);
        let ids: Vec<ContactId> = people.iter().map(|p| p.id).collect();
        let chart = chart_of(Uuid::now_v7(), people);
        assert_drawn_once(&chart, &ids);
        let cycles = chart
            .gaps
            .iter()
            .filter(|g| g.code == "reporting_cycle")
            .count();
        assert_eq!(cycles, 1);
    }

    #[test]
    fn people_reporting_into_loops_hang_under_them_and_each_loop_is_cut_once() {
        let mut people = chain(3, true);
        let mut second = chain(2, true);
        let loop_member = people[1].id;
        let mut below = person("Q", None, None);
        below.contact.reports_to = Some(loop_member);
        let mut further = person("R", None, None);
        further.contact.reports_to = Some(below.id);
        let mut unknown = person("S", None, None);
        unknown.contact.reports_to = Some(ContactId::new_v7());
        people.append(&mut second);
        people.extend([below, further, unknown]);
        let ids: Vec<ContactId> = people.iter().map(|p| p.id).collect();
        let chart = chart_of(Uuid::now_v7(), people);
        assert_drawn_once(&chart, &ids);
        let mut gaps: Vec<&str> = codes(&chart)
            .into_iter()
            .filter(|c| !matches!(*c, "no_decision_maker" | "no_champion"))
            .collect();
        gaps.sort();
        assert_eq!(
            gaps,
            ["reporting_cycle", "reporting_cycle", "unknown_manager"]
        );
        assert_eq!(chart.roots.len(), 3, "one root per loop and the orphan");
    }
}
