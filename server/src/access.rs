//! Who may see and change which records. Every query for records goes
//! through these conditions; a record outside the caller's scope does not
//! exist for them (404), a record in scope that they may not change is 403.
//!
//! | role | sees | changes |
//! | --- | --- | --- |
//! | rep | accounts they own or are shared on, and the visits under them | the same |
//! | manager | the accounts of the teams they lead, plus their own and shared ones | the same |
//! | director | the accounts of their branch, or all without a branch | the same |
//! | service | the accounts of their branch, or all without a branch | tickets and callbacks (accounts, visits, key persons: reads) |
//! | admin | everything | everything |
//!
//! An account's managers ([`manages`]) alone reassign it, change who it is
//! shared with (besides its owner), confirm its tier, correct its stage and
//! give its records to others: an admin, its branch's director, a manager
//! leading its team. Sharing an account with a manager gives her what it
//! gives a rep.

use crate::auth::{AuthUser, Role};
use crate::entities::{account, account_share};
use crate::error::{ApiError, ErrorCode};
use sea_orm::sea_query::{Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{ColumnTrait, Condition};
use uuid::Uuid;

/// The accounts a caller may see, as a condition on `accounts` (`None`: all).
///
/// The grounds for access are alternatives (owner OR shared OR team), so the
/// condition is wrapped as one AND-ed term: a caller may add filters to it
/// without widening it.
pub fn account_scope(user: &AuthUser) -> Option<Condition> {
    grounds(user).map(|grounds| Condition::all().add(grounds))
}

fn grounds(user: &AuthUser) -> Option<Condition> {
    let own_or_shared = || {
        Condition::any()
            .add(account::Column::OwnerId.eq(user.id.0))
            .add(account::Column::Id.in_subquery(shared_with(user.id.0)))
    };
    match user.role {
        Role::Admin => None,
        Role::Director | Role::Service => user
            .branch_id
            .map(|branch| Condition::all().add(account::Column::BranchId.eq(branch.0))),
        Role::Manager => Some(
            own_or_shared().add(account::Column::TeamId.is_in(user.led_teams.iter().map(|t| t.0))),
        ),
        Role::Rep => Some(own_or_shared()),
    }
}

fn shared_with(user: Uuid) -> SelectStatement {
    Query::select()
        .column(account_share::Column::AccountId)
        .from(account_share::Entity)
        .and_where(Expr::col(account_share::Column::UserId).eq(user))
        .to_owned()
}

/// The ids of the accounts a caller may see, as a subquery (`None`: all).
pub fn visible_account_ids(user: &AuthUser) -> Option<SelectStatement> {
    account_scope(user).map(|condition| {
        Query::select()
            .column(account::Column::Id)
            .from(account::Entity)
            .cond_where(condition)
            .to_owned()
    })
}

/// Whether the caller may see this account row (the same rule as [`account_scope`]).
pub fn can_see_account(user: &AuthUser, row: &account::Model, shared_with: &[Uuid]) -> bool {
    can_see(user, row.owner_id, row.team_id, row.branch_id, shared_with)
}

/// The access rule on an account's scope fields: its owner, team, branch
/// and the users it is shared with.
pub fn can_see(
    user: &AuthUser,
    owner: Uuid,
    team: Option<Uuid>,
    branch: Option<Uuid>,
    shared_with: &[Uuid],
) -> bool {
    let own_or_shared = owner == user.id.0 || shared_with.contains(&user.id.0);
    match user.role {
        Role::Admin => true,
        Role::Director | Role::Service => user.branch_id.is_none_or(|b| branch == Some(b.0)),
        Role::Manager => {
            own_or_shared || team.is_some_and(|t| user.led_teams.iter().any(|l| l.0 == t))
        }
        Role::Rep => own_or_shared,
    }
}

/// Whether `user` manages an account owned by `owner` in `team`: an admin,
/// a director (who sees only their branch's accounts, or every account
/// without a branch), or a manager leading its team or owning it; not a
/// manager it is merely shared with.
pub fn manages(user: &AuthUser, owner: Uuid, team: Option<Uuid>) -> bool {
    match user.role {
        Role::Admin | Role::Director => true,
        Role::Manager => {
            owner == user.id.0 || team.is_some_and(|t| user.led_teams.iter().any(|l| l.0 == t))
        }
        Role::Rep | Role::Service => false,
    }
}

/// The accounts `user` [`manages`], as a condition on `accounts` within
/// their scope (`None`: all): what an admin or a director sees; for a
/// manager, the accounts they own or whose team they lead, not those merely
/// shared with them; for a rep or the service desk, none.
pub fn managed_scope(user: &AuthUser) -> Option<Condition> {
    let scope = account_scope(user);
    match user.role {
        Role::Admin | Role::Director => scope,
        Role::Manager => Some(
            scope.unwrap_or_else(Condition::all).add(
                Condition::any()
                    .add(account::Column::OwnerId.eq(user.id.0))
                    .add(account::Column::TeamId.is_in(user.led_teams.iter().map(|t| t.0))),
            ),
        ),
        Role::Rep | Role::Service => Some(Condition::all().add(Expr::cust("1 = 0"))),
    }
}

/// Refuses roles that only read records.
pub fn require_writer(user: &AuthUser) -> Result<(), ApiError> {
    if user.role == Role::Service {
        Err(ApiError::new(
            ErrorCode::ReadOnlyRole,
            "the service role reads accounts and visits",
        ))
    } else {
        Ok(())
    }
}
