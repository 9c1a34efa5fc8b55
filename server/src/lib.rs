//! KAM Sync server: the REST API, authentication, and storage of record
//! documents (Automerge) with their materialized rows.
//!
//! The binary in `main.rs` is thin: it loads [`config::Settings`], builds the
//! [`startup::Application`] and runs it. Tests build the same application on
//! port 0 against a fresh database.

pub mod access;
pub mod auth;
pub mod bootstrap;
pub mod cache;
pub mod config;
pub mod console;
pub mod cpu;
pub mod csv_io;
pub mod db;
pub mod demo;
pub mod entities;
pub mod error;
pub mod hardening;
pub mod idempotency;
pub mod insight;
pub mod metrics;
pub mod migration;
pub mod openapi;
pub mod operator;
pub mod org;
pub mod records;
pub mod reports;
pub mod routes;
pub mod startup;
pub mod state;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod tiering;
pub mod totals;
pub mod worklist;
