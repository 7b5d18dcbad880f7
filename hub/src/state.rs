//! Shared state of the HTTP front end.

use std::sync::Arc;

use dashmap::DashMap;
use ppu_actors::Fleet;
use ppu_actors::ingest::Sender;
use ppu_actors::store::Db;
use ppu_entities::{credential, printer, site};
use ppu_protocol::envelope::{SenderKeys, SenderKind};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::settings::Settings;

/// Compare two secrets in constant time (through their SHA-256, so lengths leak nothing).
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let da: [u8; 32] = Sha256::digest(a.as_bytes()).into();
    let db: [u8; 32] = Sha256::digest(b.as_bytes()).into();
    da.ct_eq(&db).into()
}

/// A sender's keys and identity, as ingest needs them.
#[derive(Debug, Clone)]
pub struct SenderCredential {
    /// Keys derived from the shared secret.
    pub keys: SenderKeys,
    /// Who it is.
    pub sender: Sender,
}

/// State shared by every worker.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// The actors.
    pub fleet: Fleet,
    /// Settings in effect.
    pub settings: Arc<Settings>,
    admin_token_sha256: [u8; 32],
    /// Failed-login counters.
    pub login_throttle: Arc<crate::auth::LoginThrottle>,
    credentials: Arc<DashMap<(SenderKind, String), Arc<SenderCredential>>>,
}

impl AppState {
    /// New state.
    pub fn new(db: Db, fleet: Fleet, settings: Arc<Settings>, admin_token: &str) -> Self {
        Self {
            db,
            fleet,
            settings,
            admin_token_sha256: Sha256::digest(admin_token.as_bytes()).into(),
            login_throttle: Arc::default(),
            credentials: Arc::new(DashMap::new()),
        }
    }

    /// Whether `token` is the admin token (constant time).
    pub fn is_admin_token(&self, token: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        digest.ct_eq(&self.admin_token_sha256).into()
    }

    /// A sender's credential: from the cache, else from the database.
    pub async fn credential(
        &self,
        kind: SenderKind,
        sender_id: &str,
    ) -> Result<Option<Arc<SenderCredential>>, DbErr> {
        let key = (kind, sender_id.to_owned());
        if let Some(c) = self.credentials.get(&key) {
            return Ok(Some(c.clone()));
        }
        let Some(row) = credential::Entity::find()
            .filter(credential::Column::SenderKind.eq(kind.as_str()))
            .filter(credential::Column::SenderId.eq(sender_id))
            .filter(credential::Column::RevokedAt.is_null())
            .one(&self.db.read)
            .await?
        else {
            return Ok(None);
        };
        let Ok(keys) = SenderKeys::from_bytes(&row.keys) else {
            tracing::error!(
                credential_id = row.id,
                "stored sender keys have the wrong length"
            );
            return Ok(None);
        };
        let Some(site) = site::Entity::find_by_id(row.site_id)
            .one(&self.db.read)
            .await?
        else {
            return Ok(None);
        };
        let cred = Arc::new(SenderCredential {
            keys,
            sender: Sender {
                kind,
                sender_id: sender_id.to_owned(),
                site_id: row.site_id,
                reseller_id: site.reseller_id,
                printer_id: row.printer_id,
                credential_id: row.id,
            },
        });
        self.credentials.insert(key, cred.clone());
        Ok(Some(cred))
    }

    /// Forget a cached credential (after revocation or a change of site).
    pub fn forget_credential(&self, kind: SenderKind, sender_id: &str) {
        self.credentials.remove(&(kind, sender_id.to_owned()));
    }

    /// A printer row by serial number.
    pub async fn printer_by_serial(&self, serial: &str) -> Result<Option<printer::Model>, DbErr> {
        printer::Entity::find()
            .filter(printer::Column::SerialNumber.eq(serial))
            .one(&self.db.read)
            .await
    }
}
