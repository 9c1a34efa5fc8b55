//! Key persons (关键人): their rows, the rules a change must pass, and the
//! account's org chart with the gaps in its decision map.

use super::child::{ChildKind, Columns, list_filter};
use super::kind::{Pending, Stamp, SyncedKind};
use super::{Materialize, Review, upsert_each};
use crate::auth::AuthUser;
use crate::config::Settings;
use crate::entities::contact;
use crate::error::{ApiError, ApiResult};
use crate::records::accounts::visible_row;
use crate::startup::AppState;
use kam_sync_core::Contact;
use kam_sync_core::contact::{Attitude, BuyingRole, Personality};
use kam_sync_core::ids::ContactId;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use utoipa::ToSchema;
use uuid::Uuid;

/// Influence from which an opponent is a threat to the deal.
pub const HIGH_INFLUENCE: i64 = 4;

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

    async fn review(
        conn: &impl ConnectionTrait,
        _caller: &AuthUser,
        _id: Uuid,
        old: Option<&Contact>,
        new: &Contact,
        _pending: &Pending,
    ) -> ApiResult<Review> {
        let mut review = Review::default();
        if let Some(old) = old
            && old.account_id != new.account_id
        {
            review.refuse(
                "account_id",
                json!(old.account_id),
                ApiError::invalid_field(
                    "account_id",
                    "immutable_field",
                    "a key person stays with their account; add them to the other one",
                ),
            );
        }
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

    fn account_of(record: &Contact) -> Uuid {
        record.account_id.0
    }

    fn row_parts(row: &contact::Model) -> (Uuid, i64, &Value) {
        (row.id, row.version, &row.body)
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
    /// `unknown_manager`, `reporting_cycle`.
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

/// Builds the tree and finds the gaps; pure, so the rules are tested beside it.
fn chart_of(account_id: Uuid, mut people: Vec<ContactView>) -> OrgChart {
    people.sort_by(|a, b| a.contact.name.cmp(&b.contact.name).then(a.id.cmp(&b.id)));
    let known: HashSet<ContactId> = people.iter().map(|p| p.id).collect();
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
            && !known.contains(&manager)
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
    // A person whose chain of managers loops is placed as a root where the
    // loop is found, so every person appears exactly once.
    let manager_of: HashMap<ContactId, ContactId> = people
        .iter()
        .filter_map(|p| {
            let manager = p.contact.reports_to?;
            known.contains(&manager).then_some((p.id, manager))
        })
        .collect();
    let mut cut = HashSet::new();
    for person in &people {
        let mut seen = HashSet::from([person.id]);
        let mut at = person.id;
        while let Some(&next) = manager_of.get(&at) {
            if cut.contains(&at) {
                break;
            }
            if !seen.insert(next) {
                cut.insert(at);
                gaps.push(gap(
                    "reporting_cycle",
                    "these key persons report to each other in a loop; fix reports_to",
                    Some(at),
                ));
                break;
            }
            at = next;
        }
    }
    let mut children: HashMap<ContactId, Vec<&ContactView>> = HashMap::new();
    let mut roots = Vec::new();
    for person in &people {
        match manager_of.get(&person.id) {
            Some(manager) if !cut.contains(&person.id) => {
                children.entry(*manager).or_default().push(person)
            }
            _ => roots.push(person),
        }
    }
    OrgChart {
        account_id,
        roots: roots.into_iter().map(|p| node(p, &children)).collect(),
        gaps,
    }
}

fn node(person: &ContactView, children: &HashMap<ContactId, Vec<&ContactView>>) -> OrgNode {
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
        reports: children
            .get(&person.id)
            .map(|reports| reports.iter().map(|p| node(p, children)).collect())
            .unwrap_or_default(),
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
        fn count(nodes: &[OrgNode]) -> usize {
            nodes.iter().map(|n| 1 + count(&n.reports)).sum()
        }
        assert_eq!(count(&chart.roots), 2);
    }
}
