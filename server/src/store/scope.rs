//! The scope history of accounts (table `scope_changes`): who could see
//! each account from which change-log position on, written when an
//! account's owner, team, branch or shares change, so a pull can tell which
//! accounts entered or left a user's scope since the device's cursor.

use super::IN_LIST_CHUNK;
use crate::db::insert_each;
use crate::entities::scope_change;
use crate::error::ApiResult;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set};
use std::collections::{BTreeSet, HashMap};
use uuid::Uuid;

/// Who could see an account from a change-log position on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountScope {
    /// The account.
    pub account_id: Uuid,
    /// The position from which this scope holds.
    pub seq: i64,
    /// Owner.
    pub owner_id: Uuid,
    /// Owner's team.
    pub team_id: Option<Uuid>,
    /// The team's branch.
    pub branch_id: Option<Uuid>,
    /// Users the account is shared with.
    pub shared_with: Vec<Uuid>,
}

/// Writes the scopes of accounts whose scope changed, one row each.
pub async fn record(conn: &impl ConnectionTrait, scopes: Vec<AccountScope>) -> ApiResult<()> {
    let rows = scopes.into_iter().map(|scope| scope_change::ActiveModel {
        account_id: Set(scope.account_id),
        seq: Set(scope.seq),
        owner_id: Set(scope.owner_id),
        team_id: Set(scope.team_id),
        branch_id: Set(scope.branch_id),
        shared_with: Set(serde_json::to_value(&scope.shared_with).unwrap_or_default()),
    });
    insert_each(conn, rows.collect()).await?;
    Ok(())
}

/// The accounts whose scope changed after position `after`.
pub async fn accounts_rescoped_after(
    conn: &impl ConnectionTrait,
    after: i64,
) -> ApiResult<BTreeSet<Uuid>> {
    Ok(scope_change::Entity::find()
        .select_only()
        .column(scope_change::Column::AccountId)
        .filter(scope_change::Column::Seq.gt(after))
        .into_tuple::<Uuid>()
        .all(conn)
        .await?
        .into_iter()
        .collect())
}

/// The scope each of `accounts` had at position `at`: its last history row
/// up to then. An account made after `at` has none.
pub async fn as_of(
    conn: &impl ConnectionTrait,
    accounts: &[Uuid],
    at: i64,
) -> ApiResult<HashMap<Uuid, AccountScope>> {
    let mut then: HashMap<Uuid, AccountScope> = HashMap::new();
    for ids in accounts.chunks(IN_LIST_CHUNK) {
        let rows = scope_change::Entity::find()
            .filter(scope_change::Column::AccountId.is_in(ids.iter().copied()))
            .filter(scope_change::Column::Seq.lte(at))
            .all(conn)
            .await?;
        for row in rows {
            match then.get(&row.account_id) {
                Some(kept) if kept.seq >= row.seq => {}
                _ => {
                    then.insert(
                        row.account_id,
                        AccountScope {
                            account_id: row.account_id,
                            seq: row.seq,
                            owner_id: row.owner_id,
                            team_id: row.team_id,
                            branch_id: row.branch_id,
                            shared_with: serde_json::from_value(row.shared_with)
                                .unwrap_or_default(),
                        },
                    );
                }
            }
        }
    }
    Ok(then)
}
