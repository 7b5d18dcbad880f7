//! Databases for the actors crate's tests: a fresh SQLite file, and a fresh
//! PostgreSQL database when a server answers (required with `CI=true`).

use ppu_actors::store::Db;

/// The test databases: SQLite always, PostgreSQL when a server answers
/// (`PPU_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`);
/// outside CI a missing server skips it with a loud message, in CI it fails.
pub async fn databases(dir: &std::path::Path) -> Vec<(&'static str, Db)> {
    let sqlite = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
    let mut out = vec![("sqlite", Db::connect(&sqlite).await.expect("sqlite"))];
    if let Some(url) = postgres().await {
        out.push(("postgres", Db::connect(&url).await.expect("postgres")));
    }
    out
}

async fn postgres() -> Option<String> {
    let base = std::env::var("PPU_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    match ppu_actors::store::scratch_postgres_database(&base, "ppu_test").await {
        Ok((url, _)) => Some(url),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("PostgreSQL at {base} is required in CI: {e}")
        }
        Err(e) => {
            eprintln!(
                "\n!!! SKIPPING PostgreSQL: no server at {base} ({e}); set PPU_TEST_POSTGRES_URL\n"
            );
            None
        }
    }
}
