//! reminderd: appointment reminders over WhatsApp for clinics.
//!
//! Data flows one way (see DESIGN.md in the repository):
//! sources → appointments → planner → outbox (durable queue) → dispatcher → channels,
//! and back: webhook → inbox → actions → store → report.

pub mod clock;
pub mod config;
pub mod domain;
pub mod http;
pub mod import;
pub mod ops;
pub mod report;
pub mod rules;
pub mod scheduler;
pub mod store;
pub mod whatsapp;
