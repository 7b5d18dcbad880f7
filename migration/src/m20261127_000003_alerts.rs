//! Alert delivery: the event log (SSE resume, webhook source), per-reseller
//! thresholds, webhooks and their delivery log.

// `async_trait` signatures must match the trait exactly, hidden lifetimes included.
#![allow(elided_lifetimes_in_paths)]

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(Debug)]
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000003_alerts"
    }
}

#[derive(DeriveIden)]
enum AlertEvents {
    Table,
    Id,
    AlertId,
    ResellerId,
    SiteId,
    PrinterId,
    Kind,
    Severity,
    Event,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AlertSettings {
    Table,
    ResellerId,
    Settings,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    Id,
    ResellerId,
    Url,
    Secret,
    MinSeverity,
    Active,
    Cursor,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    WebhookId,
    EventId,
    State,
    Attempts,
    LastStatus,
    LastError,
    NextAttemptAt,
    DeliveredAt,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AlertEvents::Table)
                    .col(big_pk_auto(AlertEvents::Id))
                    .col(big_integer(AlertEvents::AlertId))
                    .col(big_integer(AlertEvents::ResellerId))
                    .col(big_integer(AlertEvents::SiteId))
                    .col(big_integer_null(AlertEvents::PrinterId))
                    .col(string(AlertEvents::Kind))
                    .col(string(AlertEvents::Severity))
                    .col(json(AlertEvents::Event))
                    .col(timestamp_with_time_zone(AlertEvents::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_alert_events_reseller")
                    .table(AlertEvents::Table)
                    .col(AlertEvents::ResellerId)
                    .col(AlertEvents::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AlertSettings::Table)
                    .col(big_integer(AlertSettings::ResellerId).primary_key())
                    .col(json(AlertSettings::Settings))
                    .col(timestamp_with_time_zone(AlertSettings::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Webhooks::Table)
                    .col(big_pk_auto(Webhooks::Id))
                    .col(big_integer(Webhooks::ResellerId))
                    .col(string(Webhooks::Url))
                    .col(string(Webhooks::Secret))
                    .col(string(Webhooks::MinSeverity))
                    .col(boolean(Webhooks::Active).default(true))
                    .col(big_integer(Webhooks::Cursor).default(0))
                    .col(timestamp_with_time_zone(Webhooks::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .col(big_pk_auto(WebhookDeliveries::Id))
                    .col(big_integer(WebhookDeliveries::WebhookId))
                    .col(big_integer(WebhookDeliveries::EventId))
                    .col(string(WebhookDeliveries::State))
                    .col(integer(WebhookDeliveries::Attempts).default(0))
                    .col(integer_null(WebhookDeliveries::LastStatus))
                    .col(text_null(WebhookDeliveries::LastError))
                    .col(timestamp_with_time_zone(WebhookDeliveries::NextAttemptAt))
                    .col(timestamp_with_time_zone_null(
                        WebhookDeliveries::DeliveredAt,
                    ))
                    .col(timestamp_with_time_zone(WebhookDeliveries::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_webhook_deliveries_event")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::WebhookId)
                    .col(WebhookDeliveries::EventId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_webhook_deliveries_due")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::State)
                    .col(WebhookDeliveries::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            WebhookDeliveries::Table.into_iden(),
            Webhooks::Table.into_iden(),
            AlertSettings::Table.into_iden(),
            AlertEvents::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(t).to_owned())
                .await?;
        }
        Ok(())
    }
}
