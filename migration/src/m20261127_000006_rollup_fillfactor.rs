//! PostgreSQL: room on every page of the billing rollup tables for the next
//! version of their rows.
//!
//! Every stored job adds to rows that already exist (a printer's day and
//! month, its site's, its reseller's), so the rollup tables are updated far
//! more often than inserted into. An update only changes the sums, which no
//! index covers, so PostgreSQL can write the new row version on the same
//! page without touching any index (a heap-only tuple), but only when the
//! page has room: with the default fill factor of 100 it rarely has, and
//! every update then also writes an entry in each of the table's three
//! indexes. A fill factor of 70 keeps 30% of each page free for that. It
//! applies to pages written from now on. SQLite has no such setting: nothing
//! to do there.

// `async_trait` signatures must match the trait exactly, hidden lifetimes included.
#![allow(elided_lifetimes_in_paths)]

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(Debug)]
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000006_rollup_fillfactor"
    }
}

const TABLES: [&str; 2] = ["billing_rollups", "billing_rollup_ink"];

async fn set_fillfactor(manager: &SchemaManager<'_>, value: Option<u8>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    for table in TABLES {
        let sql = match value {
            Some(v) => format!("ALTER TABLE {table} SET (fillfactor = {v})"),
            None => format!("ALTER TABLE {table} RESET (fillfactor)"),
        };
        db.execute_unprepared(&sql).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set_fillfactor(manager, Some(70)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set_fillfactor(manager, None).await
    }
}
