//! The core schema: tenants, senders, the upload ledger, job records,
//! counter readings, status snapshots, actor snapshots, alerts, anomalies.

// `async_trait` signatures must match the trait exactly, hidden lifetimes included.
#![allow(elided_lifetimes_in_paths)]

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(Debug)]
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000001_core"
    }
}

#[derive(DeriveIden)]
enum Resellers {
    Table,
    Id,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Sites {
    Table,
    Id,
    ResellerId,
    AccountName,
    Name,
    CollectorConfig,
    ConfigVersion,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Printers {
    Table,
    Id,
    SerialNumber,
    SiteId,
    Direct,
    ProductNumber,
    ProductName,
    FirmwareVersion,
    ExpectedIntervalS,
    LastUploadAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Credentials {
    Table,
    Id,
    SenderKind,
    SenderId,
    SiteId,
    PrinterId,
    Name,
    Keys,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Uploads {
    Table,
    Id,
    EnvelopeSha256,
    SenderKind,
    SenderId,
    Nonce,
    BatchId,
    SentAt,
    ReceivedAt,
    SizeBytes,
    Response,
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    Id,
    Uuid,
    Kind,
    PrinterId,
    SiteId,
    ResellerId,
    UploadId,
    Name,
    SequenceNumber,
    ProjectId,
    ApplicationId,
    CustomField,
    AccountId,
    UserName,
    SubmittedAt,
    OccurredAt,
    PrintedAt,
    ScannedAt,
    Status,
    Source,
    Category,
    Quality,
    MediaType,
    Pages,
    Copies,
    PrintTimeS,
    InkTotalUl,
    Ink,
    MediaAreaMm2,
    MediaLengthMm,
    PrintedAreaMm2,
    Categories,
    NonWhiteCoverageBp,
    ColorCoverageBp,
    ScanStatus,
    ScannedAreaMm2,
    ReceivedAt,
}

#[derive(DeriveIden)]
enum CounterReadings {
    Table,
    Id,
    PrinterId,
    SiteId,
    ResellerId,
    UploadId,
    ReadAt,
    Counters,
    Delta,
    Anomaly,
}

#[derive(DeriveIden)]
enum StatusSnapshots {
    Table,
    Id,
    PrinterId,
    UploadId,
    TakenAt,
    Config,
    Status,
}

#[derive(DeriveIden)]
enum ActorSnapshots {
    Table,
    Kind,
    Key,
    State,
    SavedAt,
}

#[derive(DeriveIden)]
enum Alerts {
    Table,
    Id,
    PrinterId,
    CollectorId,
    SiteId,
    ResellerId,
    Code,
    Severity,
    Message,
    Source,
    State,
    FirstSeen,
    LastSeen,
    Occurrences,
    AcknowledgedBy,
    AcknowledgedAt,
    ClearedBy,
    ClearedAt,
}

#[derive(DeriveIden)]
enum Anomalies {
    Table,
    Id,
    PrinterId,
    ReadingId,
    Kind,
    Detail,
    DetectedAt,
}

fn fk(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Restrict)
        .take()
}

fn index(name: &str, table: impl IntoIden, cols: &[&'static str]) -> IndexCreateStatement {
    let mut stmt = Index::create().name(name).table(table).take();
    for col in cols {
        stmt.col(Alias::new(*col));
    }
    stmt
}

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
                    .table(Resellers::Table)
                    .col(big_pk_auto(Resellers::Id))
                    .col(string_uniq(Resellers::Name))
                    .col(timestamp_with_time_zone(Resellers::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Sites::Table)
                    .col(big_pk_auto(Sites::Id))
                    .col(big_integer(Sites::ResellerId))
                    .col(string_uniq(Sites::AccountName))
                    .col(string(Sites::Name))
                    .col(json_null(Sites::CollectorConfig))
                    .col(big_integer(Sites::ConfigVersion).default(0))
                    .col(timestamp_with_time_zone(Sites::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_sites_reseller",
                        (Sites::Table, Sites::ResellerId),
                        (Resellers::Table, Resellers::Id),
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Printers::Table)
                    .col(big_pk_auto(Printers::Id))
                    .col(string_uniq(Printers::SerialNumber))
                    .col(big_integer(Printers::SiteId))
                    .col(boolean(Printers::Direct).default(false))
                    .col(string_null(Printers::ProductNumber))
                    .col(string_null(Printers::ProductName))
                    .col(string_null(Printers::FirmwareVersion))
                    .col(big_integer(Printers::ExpectedIntervalS).default(10_800))
                    .col(timestamp_with_time_zone_null(Printers::LastUploadAt))
                    .col(timestamp_with_time_zone(Printers::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_printers_site",
                        (Printers::Table, Printers::SiteId),
                        (Sites::Table, Sites::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("ix_printers_site", Printers::Table, &["site_id"]))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Credentials::Table)
                    .col(big_pk_auto(Credentials::Id))
                    .col(string(Credentials::SenderKind))
                    .col(string(Credentials::SenderId))
                    .col(big_integer(Credentials::SiteId))
                    .col(big_integer_null(Credentials::PrinterId))
                    .col(string(Credentials::Name))
                    .col(binary(Credentials::Keys))
                    .col(timestamp_with_time_zone(Credentials::CreatedAt))
                    .col(timestamp_with_time_zone_null(Credentials::LastUsedAt))
                    .col(timestamp_with_time_zone_null(Credentials::RevokedAt))
                    .foreign_key(&mut fk(
                        "fk_credentials_site",
                        (Credentials::Table, Credentials::SiteId),
                        (Sites::Table, Sites::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_credentials_printer",
                        (Credentials::Table, Credentials::PrinterId),
                        (Printers::Table, Printers::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "ux_credentials_sender",
                    Credentials::Table,
                    &["sender_kind", "sender_id"],
                )
                .unique()
                .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Uploads::Table)
                    .col(big_pk_auto(Uploads::Id))
                    .col(string_uniq(Uploads::EnvelopeSha256))
                    .col(string(Uploads::SenderKind))
                    .col(string(Uploads::SenderId))
                    .col(string(Uploads::Nonce))
                    .col(string(Uploads::BatchId))
                    .col(timestamp_with_time_zone(Uploads::SentAt))
                    .col(timestamp_with_time_zone(Uploads::ReceivedAt))
                    .col(big_integer(Uploads::SizeBytes))
                    .col(json(Uploads::Response))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "ux_uploads_nonce",
                    Uploads::Table,
                    &["sender_kind", "sender_id", "nonce"],
                )
                .unique()
                .take(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "ux_uploads_batch",
                    Uploads::Table,
                    &["sender_kind", "sender_id", "batch_id"],
                )
                .unique()
                .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Jobs::Table)
                    .col(big_pk_auto(Jobs::Id))
                    .col(uuid_uniq(Jobs::Uuid))
                    .col(string(Jobs::Kind))
                    .col(big_integer(Jobs::PrinterId))
                    .col(big_integer(Jobs::SiteId))
                    .col(big_integer(Jobs::ResellerId))
                    .col(big_integer(Jobs::UploadId))
                    .col(string(Jobs::Name))
                    .col(big_integer(Jobs::SequenceNumber))
                    .col(string_null(Jobs::ProjectId))
                    .col(string_null(Jobs::ApplicationId))
                    .col(string_null(Jobs::CustomField))
                    .col(string_null(Jobs::AccountId))
                    .col(string_null(Jobs::UserName))
                    .col(timestamp_with_time_zone_null(Jobs::SubmittedAt))
                    .col(timestamp_with_time_zone(Jobs::OccurredAt))
                    .col(timestamp_with_time_zone_null(Jobs::PrintedAt))
                    .col(timestamp_with_time_zone_null(Jobs::ScannedAt))
                    .col(string_null(Jobs::Status))
                    .col(string_null(Jobs::Source))
                    .col(string_null(Jobs::Category))
                    .col(string_null(Jobs::Quality))
                    .col(string_null(Jobs::MediaType))
                    .col(big_integer(Jobs::Pages))
                    .col(big_integer(Jobs::Copies))
                    .col(big_integer(Jobs::PrintTimeS))
                    .col(big_integer(Jobs::InkTotalUl))
                    .col(json_null(Jobs::Ink))
                    .col(big_integer(Jobs::MediaAreaMm2))
                    .col(big_integer(Jobs::MediaLengthMm))
                    .col(big_integer(Jobs::PrintedAreaMm2))
                    .col(json_null(Jobs::Categories))
                    .col(integer(Jobs::NonWhiteCoverageBp))
                    .col(integer(Jobs::ColorCoverageBp))
                    .col(string_null(Jobs::ScanStatus))
                    .col(big_integer(Jobs::ScannedAreaMm2))
                    .col(timestamp_with_time_zone(Jobs::ReceivedAt))
                    .foreign_key(&mut fk(
                        "fk_jobs_printer",
                        (Jobs::Table, Jobs::PrinterId),
                        (Printers::Table, Printers::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_jobs_upload",
                        (Jobs::Table, Jobs::UploadId),
                        (Uploads::Table, Uploads::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_jobs_printer",
                Jobs::Table,
                &["printer_id", "upload_id"],
            ))
            .await?;
        manager
            .create_index(index(
                "ix_jobs_site",
                Jobs::Table,
                &["site_id", "upload_id"],
            ))
            .await?;
        manager
            .create_index(index(
                "ix_jobs_reseller_time",
                Jobs::Table,
                &["reseller_id", "occurred_at"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CounterReadings::Table)
                    .col(big_pk_auto(CounterReadings::Id))
                    .col(big_integer(CounterReadings::PrinterId))
                    .col(big_integer(CounterReadings::SiteId))
                    .col(big_integer(CounterReadings::ResellerId))
                    .col(big_integer(CounterReadings::UploadId))
                    .col(timestamp_with_time_zone(CounterReadings::ReadAt))
                    .col(json(CounterReadings::Counters))
                    .col(json(CounterReadings::Delta))
                    .col(boolean(CounterReadings::Anomaly).default(false))
                    .foreign_key(&mut fk(
                        "fk_readings_printer",
                        (CounterReadings::Table, CounterReadings::PrinterId),
                        (Printers::Table, Printers::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_readings_upload",
                        (CounterReadings::Table, CounterReadings::UploadId),
                        (Uploads::Table, Uploads::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_readings_printer",
                CounterReadings::Table,
                &["printer_id", "upload_id"],
            ))
            .await?;
        manager
            .create_index(index(
                "ix_readings_site",
                CounterReadings::Table,
                &["site_id", "upload_id"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(StatusSnapshots::Table)
                    .col(big_pk_auto(StatusSnapshots::Id))
                    .col(big_integer(StatusSnapshots::PrinterId))
                    .col(big_integer(StatusSnapshots::UploadId))
                    .col(timestamp_with_time_zone(StatusSnapshots::TakenAt))
                    .col(json_null(StatusSnapshots::Config))
                    .col(json_null(StatusSnapshots::Status))
                    .foreign_key(&mut fk(
                        "fk_status_printer",
                        (StatusSnapshots::Table, StatusSnapshots::PrinterId),
                        (Printers::Table, Printers::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_status_printer",
                StatusSnapshots::Table,
                &["printer_id", "id"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ActorSnapshots::Table)
                    .col(string(ActorSnapshots::Kind))
                    .col(string(ActorSnapshots::Key))
                    .col(json(ActorSnapshots::State))
                    .col(timestamp_with_time_zone(ActorSnapshots::SavedAt))
                    .primary_key(
                        Index::create()
                            .col(ActorSnapshots::Kind)
                            .col(ActorSnapshots::Key),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Alerts::Table)
                    .col(big_pk_auto(Alerts::Id))
                    .col(big_integer_null(Alerts::PrinterId))
                    .col(big_integer_null(Alerts::CollectorId))
                    .col(big_integer(Alerts::SiteId))
                    .col(big_integer(Alerts::ResellerId))
                    .col(string(Alerts::Code))
                    .col(string(Alerts::Severity))
                    .col(text(Alerts::Message))
                    .col(string(Alerts::Source))
                    .col(string(Alerts::State))
                    .col(timestamp_with_time_zone(Alerts::FirstSeen))
                    .col(timestamp_with_time_zone(Alerts::LastSeen))
                    .col(big_integer(Alerts::Occurrences))
                    .col(string_null(Alerts::AcknowledgedBy))
                    .col(timestamp_with_time_zone_null(Alerts::AcknowledgedAt))
                    .col(string_null(Alerts::ClearedBy))
                    .col(timestamp_with_time_zone_null(Alerts::ClearedAt))
                    .foreign_key(&mut fk(
                        "fk_alerts_printer",
                        (Alerts::Table, Alerts::PrinterId),
                        (Printers::Table, Printers::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_alerts_printer_code",
                Alerts::Table,
                &["printer_id", "code", "state"],
            ))
            .await?;
        manager
            .create_index(index(
                "ix_alerts_reseller",
                Alerts::Table,
                &["reseller_id", "id"],
            ))
            .await?;
        // One open alert per printer (or collector) and code: repeats update it.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX ux_alerts_open ON alerts (COALESCE(printer_id, 0), COALESCE(collector_id, 0), code) WHERE state <> 'cleared'",
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Anomalies::Table)
                    .col(big_pk_auto(Anomalies::Id))
                    .col(big_integer(Anomalies::PrinterId))
                    .col(big_integer_uniq(Anomalies::ReadingId))
                    .col(string(Anomalies::Kind))
                    .col(json(Anomalies::Detail))
                    .col(timestamp_with_time_zone(Anomalies::DetectedAt))
                    .foreign_key(&mut fk(
                        "fk_anomalies_printer",
                        (Anomalies::Table, Anomalies::PrinterId),
                        (Printers::Table, Printers::Id),
                    ))
                    .to_owned(),
            )
            .await?;

        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Anomalies::Table.into_iden(),
            Alerts::Table.into_iden(),
            ActorSnapshots::Table.into_iden(),
            StatusSnapshots::Table.into_iden(),
            CounterReadings::Table.into_iden(),
            Jobs::Table.into_iden(),
            Uploads::Table.into_iden(),
            Credentials::Table.into_iden(),
            Printers::Table.into_iden(),
            Sites::Table.into_iden(),
            Resellers::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
