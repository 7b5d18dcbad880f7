//! Webhook delivery: at least once, signed, retried with exponential backoff
//! for more than 24 hours, every attempt logged.
//!
//! The source of truth is the alert event log: each webhook has a cursor (the
//! last event turned into deliveries). Turning events into delivery rows and
//! advancing the cursor happen in one transaction, so a crash can neither
//! lose an event nor deliver one twice by our choice; receivers still
//! de-duplicate by the stable `X-PPU-Event-Id` because a delivery whose answer
//! was lost is retried.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use ppu_actors::store::Db;
use ppu_entities::{alert_event, webhook, webhook_delivery};
use ppu_protocol::model::Severity;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use sha2::Sha256;

/// Give up on a delivery whose first attempt is older than this.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(25 * 3600);
/// Longest wait between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// The signature header value: `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("hmac takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Delay before attempt `attempts + 1`: 2^attempts seconds, capped, with jitter.
pub fn backoff(attempts: i32) -> Duration {
    let base = 1u64 << attempts.clamp(0, 12);
    let capped = Duration::from_secs(base).min(MAX_BACKOFF);
    let jitter = rand::random::<u64>() % (capped.as_millis() as u64 / 4 + 1);
    capped + Duration::from_millis(jitter)
}

/// The delivery loop. Runs until the process stops.
#[derive(Debug)]
pub struct Dispatcher {
    db: Db,
    client: reqwest::Client,
    tick: Duration,
}

impl Dispatcher {
    /// A dispatcher polling every `tick` (and woken by new alert events).
    pub fn new(db: Db, tick: Duration) -> anyhow::Result<Self> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let tls = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ppu-hub/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { db, client, tick })
    }

    /// Run forever: enqueue new events, deliver what is due.
    pub async fn run(
        self,
        mut wake: tokio::sync::broadcast::Receiver<std::sync::Arc<ppu_actors::alerts::AlertEvent>>,
    ) {
        loop {
            if let Err(e) = self.enqueue().await {
                tracing::warn!(error = %e, "webhook enqueue failed");
            }
            if let Err(e) = self.deliver_due().await {
                tracing::warn!(error = %e, "webhook delivery pass failed");
            }
            tokio::select! {
                _ = wake.recv() => {
                    // One pass covers every event published so far: a batch
                    // of uploads raising many alerts wakes it once, not once each.
                    while !matches!(
                        wake.try_recv(),
                        Err(tokio::sync::broadcast::error::TryRecvError::Empty
                            | tokio::sync::broadcast::error::TryRecvError::Closed)
                    ) {}
                }
                _ = tokio::time::sleep(self.tick) => {}
            }
        }
    }

    /// Turn new events into pending deliveries, per webhook, advancing its cursor.
    pub async fn enqueue(&self) -> Result<(), DbErr> {
        let hooks = webhook::Entity::find()
            .filter(webhook::Column::Active.eq(true))
            .all(&self.db.read)
            .await?;
        for hook in hooks {
            let events = alert_event::Entity::find()
                .filter(alert_event::Column::ResellerId.eq(hook.reseller_id))
                .filter(alert_event::Column::Id.gt(hook.cursor))
                .order_by_asc(alert_event::Column::Id)
                .limit(500)
                .all(&self.db.read)
                .await?;
            let Some(last) = events.last().map(|e| e.id) else {
                continue;
            };
            let min: Severity = hook.min_severity.parse().unwrap_or(Severity::Warning);
            let now = Utc::now();
            let rows: Vec<_> = events
                .iter()
                .filter(|e| {
                    e.severity
                        .parse::<Severity>()
                        .is_ok_and(|s| s.at_least(min))
                })
                .map(|e| webhook_delivery::ActiveModel {
                    webhook_id: Set(hook.id),
                    event_id: Set(e.id),
                    state: Set("pending".into()),
                    attempts: Set(0),
                    next_attempt_at: Set(now),
                    created_at: Set(now),
                    ..Default::default()
                })
                .collect();
            let tx = self.db.write.begin().await?;
            if !rows.is_empty() {
                webhook_delivery::Entity::insert_many(rows)
                    .on_conflict(
                        OnConflict::columns([
                            webhook_delivery::Column::WebhookId,
                            webhook_delivery::Column::EventId,
                        ])
                        .do_nothing()
                        .to_owned(),
                    )
                    .exec_without_returning(&tx)
                    .await?;
            }
            webhook::ActiveModel {
                id: Set(hook.id),
                cursor: Set(last),
                ..Default::default()
            }
            .update(&tx)
            .await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// Attempt every delivery that is due.
    pub async fn deliver_due(&self) -> Result<(), DbErr> {
        let now = Utc::now();
        let due = webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::State.eq("pending"))
            .filter(webhook_delivery::Column::NextAttemptAt.lte(now))
            .order_by_asc(webhook_delivery::Column::Id)
            .limit(100)
            .all(&self.db.read)
            .await?;
        for d in due {
            let (Some(hook), Some(event)) = (
                webhook::Entity::find_by_id(d.webhook_id)
                    .one(&self.db.read)
                    .await?,
                alert_event::Entity::find_by_id(d.event_id)
                    .one(&self.db.read)
                    .await?,
            ) else {
                continue;
            };
            let outcome = self.attempt(&hook, &event).await;
            self.record(d, outcome, now).await?;
        }
        Ok(())
    }

    async fn attempt(
        &self,
        hook: &webhook::Model,
        event: &alert_event::Model,
    ) -> Result<u16, (Option<u16>, String)> {
        let body = match ppu_actors::alerts::stored_event(event) {
            Some(e) => serde_json::to_vec(&e),
            None => serde_json::to_vec(&event.event),
        }
        .unwrap_or_default();
        let ts = Utc::now().timestamp();
        let res = self
            .client
            .post(&hook.url)
            .header("content-type", "application/json")
            .header("x-ppu-event-id", event.id.to_string())
            .header("x-ppu-timestamp", ts.to_string())
            .header("x-ppu-signature", signature(&hook.secret, ts, &body))
            .body(body)
            .send()
            .await;
        match res {
            Ok(r) if r.status().is_success() => Ok(r.status().as_u16()),
            Ok(r) => Err((
                Some(r.status().as_u16()),
                format!("http status {}", r.status()),
            )),
            Err(e) => Err((None, e.to_string())),
        }
    }

    async fn record(
        &self,
        d: webhook_delivery::Model,
        outcome: Result<u16, (Option<u16>, String)>,
        started: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        let attempts = d.attempts + 1;
        let mut row = webhook_delivery::ActiveModel {
            id: Set(d.id),
            attempts: Set(attempts),
            ..Default::default()
        };
        match outcome {
            Ok(status) => {
                row.state = Set("delivered".into());
                row.last_status = Set(Some(i32::from(status)));
                row.last_error = Set(None);
                row.delivered_at = Set(Some(Utc::now()));
                metrics::counter!(crate::metrics::WEBHOOK_DELIVERIES_TOTAL, "outcome" => "delivered").increment(1);
            }
            Err((status, error)) => {
                let give_up = started - d.created_at
                    > chrono::Duration::from_std(GIVE_UP_AFTER).unwrap_or(chrono::Duration::MAX);
                row.last_status = Set(status.map(i32::from));
                row.last_error = Set(Some(error.clone()));
                if give_up {
                    row.state = Set("failed".into());
                    metrics::counter!(crate::metrics::WEBHOOK_DELIVERIES_TOTAL, "outcome" => "failed").increment(1);
                    tracing::warn!(delivery_id = d.id, error = %error, "webhook delivery abandoned after 25 hours");
                } else {
                    let wait = chrono::Duration::from_std(backoff(attempts))
                        .unwrap_or(chrono::Duration::hours(1));
                    row.next_attempt_at = Set(Utc::now() + wait);
                    metrics::counter!(crate::metrics::WEBHOOK_DELIVERIES_TOTAL, "outcome" => "retry").increment(1);
                    tracing::info!(delivery_id = d.id, attempts, error = %error, "webhook delivery failed, will retry");
                }
            }
        }
        row.update(&self.db.write).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_over_timestamp_and_body() {
        // Independent check: HMAC-SHA256(key="k", "1700000000.{}")
        let sig = signature("k", 1_700_000_000, b"{}");
        assert!(sig.starts_with("sha256="));
        assert_eq!(sig.len(), 7 + 64);
        assert_ne!(sig, signature("k", 1_700_000_001, b"{}"));
        assert_ne!(sig, signature("other", 1_700_000_000, b"{}"));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(0) >= Duration::from_secs(1));
        assert!(backoff(5) >= Duration::from_secs(32));
        assert!(backoff(30) <= MAX_BACKOFF + MAX_BACKOFF / 4 + Duration::from_millis(1));
        // Enough attempts fit in 24 hours at the cap.
        let total: Duration = (0..40)
            .map(|a| Duration::from_secs((1u64 << a.min(12)).min(3600)))
            .sum();
        assert!(total > Duration::from_secs(24 * 3600));
    }
}
