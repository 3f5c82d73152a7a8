//! reminderd: appointment reminders over WhatsApp for clinics.
//!
//! Data flows one way (see DESIGN.md in the repository):
//! sources → appointments → planner → outbox (durable queue) → dispatcher → channels,
//! and back: webhook → inbox → actions → store → report.

pub mod clock;
pub mod config;
pub mod domain;
pub mod import;
pub mod rules;
pub mod store;
pub mod http;
pub mod ops;
pub mod report;
pub mod scheduler;
pub mod whatsapp;
