//! The black-box suite as one test binary, one module per area: one link
//! step and, on PostgreSQL, one migrated template for all of them. Run an
//! area with `cargo test -p kam-tests --test it security::`.
//!
//! Three files stay binaries of their own, because their tests measure or
//! capture the whole process and would see every other area's server in
//! it: `hostile_input.rs` reads the process's peak memory while a server
//! decodes a bomb, and `log_hygiene.rs` and `log_injection.rs` each install
//! the process's one global tracing subscriber.

mod access;
mod account_plans;
mod accounts;
mod admin;
mod auth;
mod bad_input;
mod callbacks;
mod concurrency;
mod console;
mod console_session;
mod contacts;
mod contract;
mod contracts;
mod csv;
mod data_at_rest;
mod http_hardening;
mod idempotency;
mod insight;
mod js_example;
mod lifecycle;
mod metrics;
mod money;
mod operator;
mod opportunities;
mod products;
mod push_outcomes;
mod reports;
mod reset;
mod security;
mod service;
mod sync;
mod targets;
mod tickets;
mod timeline;
mod typescript_client;
mod visits;
mod worklist;
