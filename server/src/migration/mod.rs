//! Schema migrations, applied in order at every start (and in test setup).
//! Each migration is written once and never edited after it lands.

use sea_orm_migration::prelude::*;

mod columns;
mod m20261127_000001_foundation;
mod m20261127_000002_feed_head;
mod m20261127_000003_idempotency_keys;
mod m20261127_000004_contacts;
mod m20261127_000005_contracts_targets;
mod m20261127_000006_account_scores;
mod m20261127_000007_opportunities;
mod m20261127_000008_tickets_callbacks;
mod m20261127_000009_account_plans;
mod m20261204_000010_timeline_entries;
mod m20261204_000011_corrected_pushes;
mod m20261205_000012_insight;
mod m20261205_000013_stage_moves;
mod m20261205_000014_plan_actions;
mod m20261205_000015_products;
mod m20261205_000016_report_indexes;

/// The list of migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_foundation::Migration),
            Box::new(m20261127_000002_feed_head::Migration),
            Box::new(m20261127_000003_idempotency_keys::Migration),
            Box::new(m20261127_000004_contacts::Migration),
            Box::new(m20261127_000005_contracts_targets::Migration),
            Box::new(m20261127_000006_account_scores::Migration),
            Box::new(m20261127_000007_opportunities::Migration),
            Box::new(m20261127_000008_tickets_callbacks::Migration),
            Box::new(m20261127_000009_account_plans::Migration),
            Box::new(m20261204_000010_timeline_entries::Migration),
            Box::new(m20261204_000011_corrected_pushes::Migration),
            Box::new(m20261205_000012_insight::Migration),
            Box::new(m20261205_000013_stage_moves::Migration),
            Box::new(m20261205_000014_plan_actions::Migration),
            Box::new(m20261205_000015_products::Migration),
            Box::new(m20261205_000016_report_indexes::Migration),
        ]
    }
}
