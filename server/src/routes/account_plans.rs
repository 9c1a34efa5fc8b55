//! `/account-plans`: account plans (大客户计划) per account and period.

use super::{child_record_routes, merge_patch_schema, new_record_schema};
use crate::records::account_plans::{AccountPlanFilter, AccountPlanView, AccountPlans};
use kam_sync_core::AccountPlan;

merge_patch_schema!(
    /// A merge patch of an account plan.
    AccountPlanPatch for AccountPlan
);

new_record_schema!(
    /// A new account plan.
    NewAccountPlan for AccountPlan, defaulted: ["owner_id"]
);

child_record_routes!(
    kind: AccountPlans,
    tag: "account_plans",
    names: { one: "AccountPlan", many: "AccountPlans" },
    list: "/account-plans",
    item: "/account-plans/{id}",
    view: AccountPlanView,
    filter: AccountPlanFilter,
    new: NewAccountPlan,
    patch: AccountPlanPatch,
    docs: {
        list: "List the account plans of the accounts in the caller's scope, newest first.",
        create: "Write a plan for an account the caller can see and a period (year, quarter or month). Goals, actions and resource requests without an `id` get one. At most one plan is active per account and period (422 `plan_exists`).",
        get: "Read an account plan: the merged record, overdue actions, progress, resource totals by decision and any concurrent values.",
        update: "Change an account plan with a JSON merge patch. Lists are sent whole; items are matched by `id`. Status moves draft → active → closed (422 `invalid_status_move`); only a manager or above approves or rejects resource requests (403 `approval_forbidden`); action owners are active users who can see the account.",
        delete: "Delete an account plan (soft: `deleted` becomes true).",
    },
);
