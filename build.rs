//! `sqlx::migrate!` embeds the files under `migrations/` at compile time; without this
//! a new or edited migration alone would not rebuild the binary that carries them.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
