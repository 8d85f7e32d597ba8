// `sqlx::migrate!` embeds the migration files at compile time, but on stable Rust it
// cannot tell Cargo to watch them: without this, a new migration is silently left out
// of an incremental build.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
