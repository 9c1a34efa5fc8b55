//! What managers act on: reports, worklists, health. Everything here reads
//! the materialized rows with SQL aggregates, never the documents.

pub mod reports;
