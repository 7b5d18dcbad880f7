//! Actor snapshots in binary form: a `packed` column holding the state in
//! MessagePack, so that saving and hydrating 100,000 printer actors neither
//! parses nor writes JSON documents. Snapshots saved before stay readable
//! (their `state` is the JSON state and `packed` is NULL).

// `async_trait` signatures must match the trait exactly, hidden lifetimes included.
#![allow(elided_lifetimes_in_paths)]

use sea_orm_migration::prelude::*;

#[derive(Debug)]
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000005_packed_snapshots"
    }
}

#[derive(DeriveIden)]
enum ActorSnapshots {
    Table,
    Packed,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ActorSnapshots::Table)
                    .add_column(ColumnDef::new(ActorSnapshots::Packed).blob().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ActorSnapshots::Table)
                    .drop_column(ActorSnapshots::Packed)
                    .to_owned(),
            )
            .await
    }
}
