//! Billing: contracts, the usage rollups billing totals are answered from,
//! and closed statements.
//!
//! The rollups are maintained by the ingest writer in the same transaction
//! that stores the job records and counter readings they add up, so a rollup
//! is never out of step with its records. Two rollup tables share one key
//! layout: `billing_rollups` holds every measure except ink per color,
//! `billing_rollup_ink` holds ink per color (a job has one row per color).
//!
//! Key columns, in the order of the unique index:
//! `printer_id, level, basis, grain, bucket, site_id, reseller_id,
//! media_type, category, account_id, project_id` (+ `color` for ink), where
//! `level` is `x` (one printer, split by the job dimensions), `p` (one
//! printer), `s` (one site, `printer_id = 0`) or `r` (one reseller,
//! `printer_id = site_id = 0`); `grain` is `d` (a UTC day) or `m` (a UTC
//! month, `bucket` = its first day; level `x` has day rows only); absent dimensions are `''`, never
//! NULL, so that the unique index sees them as equal.

// `async_trait` signatures must match the trait exactly, hidden lifetimes included.
#![allow(elided_lifetimes_in_paths)]

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(Debug)]
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000002_billing"
    }
}

#[derive(DeriveIden)]
enum Sites {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Printers {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
}

#[derive(DeriveIden)]
enum BillingContracts {
    Table,
    Id,
    Scope,
    ResellerId,
    SiteId,
    PrinterId,
    Name,
    Currency,
    Period,
    AnchorDay,
    Basis,
    EffectiveFrom,
    EffectiveTo,
    GraceDays,
    Terms,
    CreatedAt,
}

#[derive(DeriveIden)]
enum BillingRollups {
    Table,
    Id,
    Level,
    Basis,
    Grain,
    Bucket,
    ResellerId,
    SiteId,
    PrinterId,
    MediaType,
    Category,
    AccountId,
    ProjectId,
    Jobs,
    PrintJobs,
    ScanJobs,
    CopyJobs,
    Pages,
    Copies,
    InkUl,
    NonHpInkUl,
    MediaAreaMm2,
    MediaLengthMm,
    PrintedAreaMm2,
    ScanAreaMm2,
    CopyScanAreaMm2,
}

#[derive(DeriveIden)]
enum BillingRollupInk {
    Table,
    Id,
    Level,
    Basis,
    Grain,
    Bucket,
    ResellerId,
    SiteId,
    PrinterId,
    MediaType,
    Category,
    AccountId,
    ProjectId,
    Color,
    InkUl,
    NonHpInkUl,
}

#[derive(DeriveIden)]
enum BillingStatements {
    Table,
    Id,
    Key,
    Scope,
    ResellerId,
    SiteId,
    PrinterId,
    PeriodStart,
    PeriodEnd,
    Currency,
    Total,
    Document,
    Digest,
    JobWatermark,
    ReadingWatermark,
    ClosedAt,
}

fn index(name: &str, table: impl IntoIden, cols: &[&'static str]) -> IndexCreateStatement {
    let mut stmt = Index::create().name(name).table(table).take();
    for col in cols {
        stmt.col(Alias::new(*col));
    }
    stmt
}

/// The key columns shared by both rollup tables, in unique-index order.
const ROLLUP_KEY: [&str; 11] = [
    "printer_id",
    "level",
    "basis",
    "grain",
    "bucket",
    "site_id",
    "reseller_id",
    "media_type",
    "category",
    "account_id",
    "project_id",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        // Atomic on SQLite as well, not only on PostgreSQL (the default).
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BillingContracts::Table)
                    .col(big_pk_auto(BillingContracts::Id))
                    .col(string(BillingContracts::Scope))
                    .col(big_integer(BillingContracts::ResellerId))
                    .col(big_integer(BillingContracts::SiteId))
                    .col(big_integer_null(BillingContracts::PrinterId))
                    .col(string(BillingContracts::Name))
                    .col(string(BillingContracts::Currency))
                    .col(string(BillingContracts::Period))
                    .col(integer(BillingContracts::AnchorDay))
                    .col(string(BillingContracts::Basis))
                    .col(date(BillingContracts::EffectiveFrom))
                    .col(date_null(BillingContracts::EffectiveTo))
                    .col(integer(BillingContracts::GraceDays))
                    .col(json(BillingContracts::Terms))
                    .col(timestamp_with_time_zone(BillingContracts::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_contracts_site")
                            .from(BillingContracts::Table, BillingContracts::SiteId)
                            .to(Sites::Table, Sites::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_contracts_printer")
                            .from(BillingContracts::Table, BillingContracts::PrinterId)
                            .to(Printers::Table, Printers::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_contracts_site",
                BillingContracts::Table,
                &["site_id", "scope", "effective_from"],
            ))
            .await?;
        manager
            .create_index(index(
                "ix_contracts_printer",
                BillingContracts::Table,
                &["printer_id", "effective_from"],
            ))
            .await?;

        let measures = [
            BillingRollups::Jobs,
            BillingRollups::PrintJobs,
            BillingRollups::ScanJobs,
            BillingRollups::CopyJobs,
            BillingRollups::Pages,
            BillingRollups::Copies,
            BillingRollups::InkUl,
            BillingRollups::NonHpInkUl,
            BillingRollups::MediaAreaMm2,
            BillingRollups::MediaLengthMm,
            BillingRollups::PrintedAreaMm2,
            BillingRollups::ScanAreaMm2,
            BillingRollups::CopyScanAreaMm2,
        ];
        let mut rollups = Table::create()
            .table(BillingRollups::Table)
            .col(big_pk_auto(BillingRollups::Id))
            .col(string_len(BillingRollups::Level, 1))
            .col(string_len(BillingRollups::Basis, 8))
            .col(string_len(BillingRollups::Grain, 1))
            .col(date(BillingRollups::Bucket))
            .col(big_integer(BillingRollups::ResellerId))
            .col(big_integer(BillingRollups::SiteId))
            .col(big_integer(BillingRollups::PrinterId))
            .col(string(BillingRollups::MediaType))
            .col(string(BillingRollups::Category))
            .col(string(BillingRollups::AccountId))
            .col(string(BillingRollups::ProjectId))
            .to_owned();
        for m in measures {
            rollups.col(big_integer(m).default(0));
        }
        manager.create_table(rollups).await?;
        let mut key = ROLLUP_KEY.to_vec();
        manager
            .create_index(
                index("ux_rollups_key", BillingRollups::Table, &key)
                    .unique()
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_rollups_site",
                BillingRollups::Table,
                &["site_id", "level", "basis", "grain", "bucket"],
            ))
            .await?;
        manager
            .create_index(index(
                "ix_rollups_reseller",
                BillingRollups::Table,
                &["reseller_id", "level", "basis", "grain", "bucket"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(BillingRollupInk::Table)
                    .col(big_pk_auto(BillingRollupInk::Id))
                    .col(string_len(BillingRollupInk::Level, 1))
                    .col(string_len(BillingRollupInk::Basis, 8))
                    .col(string_len(BillingRollupInk::Grain, 1))
                    .col(date(BillingRollupInk::Bucket))
                    .col(big_integer(BillingRollupInk::ResellerId))
                    .col(big_integer(BillingRollupInk::SiteId))
                    .col(big_integer(BillingRollupInk::PrinterId))
                    .col(string(BillingRollupInk::MediaType))
                    .col(string(BillingRollupInk::Category))
                    .col(string(BillingRollupInk::AccountId))
                    .col(string(BillingRollupInk::ProjectId))
                    .col(string(BillingRollupInk::Color))
                    .col(big_integer(BillingRollupInk::InkUl).default(0))
                    .col(big_integer(BillingRollupInk::NonHpInkUl).default(0))
                    .to_owned(),
            )
            .await?;
        key.push("color");
        manager
            .create_index(
                index("ux_rollup_ink_key", BillingRollupInk::Table, &key)
                    .unique()
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_rollup_ink_site",
                BillingRollupInk::Table,
                &["site_id", "level", "basis", "grain", "bucket"],
            ))
            .await?;
        manager
            .create_index(index(
                "ix_rollup_ink_reseller",
                BillingRollupInk::Table,
                &["reseller_id", "level", "basis", "grain", "bucket"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(BillingStatements::Table)
                    .col(big_pk_auto(BillingStatements::Id))
                    .col(string_uniq(BillingStatements::Key))
                    .col(string(BillingStatements::Scope))
                    .col(big_integer(BillingStatements::ResellerId))
                    .col(big_integer(BillingStatements::SiteId))
                    .col(big_integer_null(BillingStatements::PrinterId))
                    .col(date(BillingStatements::PeriodStart))
                    .col(date(BillingStatements::PeriodEnd))
                    .col(string(BillingStatements::Currency))
                    .col(string(BillingStatements::Total))
                    .col(json(BillingStatements::Document))
                    .col(string(BillingStatements::Digest))
                    .col(big_integer(BillingStatements::JobWatermark))
                    .col(big_integer(BillingStatements::ReadingWatermark))
                    .col(timestamp_with_time_zone(BillingStatements::ClosedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_statements_site")
                            .from(BillingStatements::Table, BillingStatements::SiteId)
                            .to(Sites::Table, Sites::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_statements_scope",
                BillingStatements::Table,
                &["scope", "site_id", "printer_id", "period_start"],
            ))
            .await?;

        // Evidence of a site's statement reads that site's jobs of one period.
        manager
            .create_index(index(
                "ix_jobs_site_occurred",
                Jobs::Table,
                &["site_id", "occurred_at"],
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_jobs_site_occurred")
                    .table(Jobs::Table)
                    .to_owned(),
            )
            .await?;
        for table in [
            BillingStatements::Table.into_iden(),
            BillingRollupInk::Table.into_iden(),
            BillingRollups::Table.into_iden(),
            BillingContracts::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
