//! One integration-test binary (one link step on a 2-core machine): the store on
//! every backend, the daemon end to end, and the command line.

mod api;
mod cli;
mod feeds;
mod helpers;
mod store;
