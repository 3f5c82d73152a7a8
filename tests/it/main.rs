//! One integration-test binary (one link step on a 2-core machine): the store on
//! every backend, SQL sources on real servers, the daemon end to end, and the command
//! line.

mod api;
mod browser;
mod cli;
mod consent;
mod database;
mod email;
mod feeds;
mod helpers;
mod ingest;
mod morning;
mod privacy;
mod report;
mod reschedule;
mod rules;
mod store;
