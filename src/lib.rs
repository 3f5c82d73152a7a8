//! reminderd: appointment reminders over WhatsApp for clinics.
//!
//! Data flows one way (see DESIGN.md in the repository):
//! sources → appointments → planner → outbox (durable queue) → dispatcher → channels,
//! and back: webhook → inbox → actions → store → report.
//! Each module uses only the ones listed before it.

/// Wiring: builds the daemon from settings and runs it.
pub mod app;
/// The command line.
pub mod cli;
/// The one place that reads the system time; tests move a manual clock.
pub mod clock;
/// Settings: embedded defaults, the config file, the environment.
pub mod config;
/// The consent ledger's ways in: a CSV file and an authenticated JSON API.
pub mod consent;
/// `reminderd demo`: the whole loop on a sample feed, without a Meta account.
pub mod demo;
/// Plain types and invariants: appointments, messages, phones, signed payloads, time.
pub mod domain;
/// E-mail: the reminder message and the SMTP transport.
pub mod email;
/// The HTTP edge's shared error type.
pub mod http;
/// Calendar sources: fetching, reading iCal, reconciling with the store.
pub mod import;
/// `reminderd plan` and `reminderd explain`: the plan and its reasons, read-only.
pub mod inspect;
/// The pages behind the links of a reminder e-mail: GET shows, POST acts.
pub mod links;
/// Health, readiness, logging and shutdown.
pub mod ops;
/// Personal data over time: the nightly purge and `reminderd forget`.
pub mod privacy;
/// The staff report behind a login.
pub mod report;
/// Rescheduling: free times and the conversation that picks one.
pub mod reschedule;
/// Reminder rules and the pure planning of reminders.
pub mod rules;
/// The dispatcher: due messages out, within Meta's rules.
pub mod scheduler;
/// `reminderd simulate-tap`: a signed button tap, as Meta would post it.
pub mod simulate;
/// All SQL, for SQLite and PostgreSQL.
pub mod store;
/// Meta's webhook: verify, store, acknowledge; then process taps and statuses.
pub mod webhook;
/// Meta's WhatsApp Cloud API: requests, client, answers, webhooks, signatures.
pub mod whatsapp;
