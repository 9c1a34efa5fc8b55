//! Storage models: one sea-orm entity per table. No rules live here; the
//! domain types in `kam-sync-core` and the services convert at the edges.

pub mod account;
pub mod account_plan;
pub mod account_share;
pub mod account_warning;
pub mod branch;
pub mod callback;
pub mod contact;
pub mod contract;
pub mod contract_line;
pub mod corrected_push;
pub mod doc_change;
pub mod document;
pub mod feed_head;
pub mod idempotency_key;
pub mod insight_sweep;
pub mod opportunity;
pub mod opportunity_line;
pub mod plan_action;
pub mod plan_resource;
pub mod product;
pub mod refresh_token;
pub mod sales_target;
pub mod scope_change;
pub mod server_value;
pub mod session;
pub mod stage_move;
pub mod team;
pub mod team_manager;
pub mod ticket;
pub mod timeline_entry;
pub mod user;
pub mod visit;
pub mod worklist_look;
