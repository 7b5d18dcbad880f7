//! Database migrations of ppu-hub (SeaORM migrations, SQLite and PostgreSQL).
//!
//! The hub runs [`Migrator::up`] at startup. Every migration runs inside one
//! transaction on both backends (SQLite DDL is transactional too), so a failed
//! migration leaves the schema as it was.
//!
//! Migrations are written with sea-query statements rather than derived from
//! the entities, so that the schema's history stays fixed while the entities
//! evolve.

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_core;
mod m20261127_000002_billing;
mod m20261127_000003_alerts;
mod m20261127_000004_accounts;
mod m20261127_000005_packed_snapshots;
mod m20261127_000006_rollup_fillfactor;
mod m20261127_000007_rollup_ink_inline;

/// The hub's migrator.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_core::Migration),
            Box::new(m20261127_000002_billing::Migration),
            Box::new(m20261127_000003_alerts::Migration),
            Box::new(m20261127_000004_accounts::Migration),
            Box::new(m20261127_000005_packed_snapshots::Migration),
            Box::new(m20261127_000006_rollup_fillfactor::Migration),
            Box::new(m20261127_000007_rollup_ink_inline::Migration),
        ]
    }
}
