//! The `reminderd` binary: everything happens in the library's `cli` module.

fn main() -> std::process::ExitCode {
    reminderd::cli::main()
}
