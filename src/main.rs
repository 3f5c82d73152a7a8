//! The `reminderd` binary: everything happens in the library's `cli` module.

/// mimalloc rather than glibc malloc: an import frees on one thread what sqlx's SQLite
/// worker allocated on another, which glibc handles slowly and with fragmentation
/// (`cargo bench --bench import`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    reminderd::cli::main()
}
