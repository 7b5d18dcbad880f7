//! Enrollment: trading a one-time code for collector credentials.
//!
//! The reseller issues an enrollment code for the site. The collector
//! derives keys from the code exactly as the hub did (the code is the
//! shared secret, the account name the sender id) and seals an envelope
//! with them: the hub learns that the collector holds the code without the
//! code ever travelling. The hub answers with a new collector id and
//! secret; the collector derives its keys from the secret, stores the id and
//! the keys (never the code, never the secret) in `credentials.json`
//! (mode 0600), and forgets the rest.

use chrono::Utc;
use ppu_protocol::collector_config::{ProxyConfig, parse_hub_url};
use ppu_protocol::envelope::{self, Header, SenderKeys, SenderKind};
use ppu_protocol::{Payload, UploadTrigger};
use uuid::Uuid;

use crate::hub::{HubClient, HubError, HubSettings};
use crate::state::{Credentials, StateDir};

/// What enrollment needs.
#[derive(Debug, Clone)]
pub struct EnrollRequest {
    /// Hub base URL.
    pub hub_url: String,
    /// The site's account name.
    pub account_name: String,
    /// The enrollment code, as shown by the hub.
    pub code: String,
    /// Extra CA file for the hub.
    pub hub_ca_file: Option<String>,
    /// How to reach the hub.
    pub proxy: ProxyConfig,
}

/// The code as the hub generated it: surrounding spaces removed, upper case.
pub fn normalize_code(code: &str) -> String {
    code.trim().to_uppercase()
}

/// Enroll and store the credentials in `state`.
///
/// # Errors
/// A clear message: wrong, used or expired code, unreachable hub or proxy,
/// or a state directory that already holds credentials.
pub async fn enroll(state: &StateDir, req: &EnrollRequest) -> anyhow::Result<Credentials> {
    if let Ok(existing) = state.credentials() {
        anyhow::bail!(
            "{} is already enrolled as collector {} for account {:?}; use another --state-dir or remove credentials.json to enroll again",
            state.root().display(),
            existing.collector_id,
            existing.account_name
        );
    }
    let url = parse_hub_url(&req.hub_url)?;
    let hub = HubClient::new(&HubSettings {
        url: url.clone(),
        ca_file: req.hub_ca_file.clone(),
        proxy: req.proxy.clone(),
        timeout_s: 60,
    })?;
    let code = normalize_code(&req.code);
    let code_keys = SenderKeys::derive(code.as_bytes(), SenderKind::Collector, &req.account_name);
    let payload = Payload::new(
        Uuid::new_v4(),
        crate::engine::AGENT,
        Utc::now(),
        UploadTrigger::Manual,
    );
    let header = Header::new(SenderKind::Collector, req.account_name.clone(), Utc::now());
    let sealed = envelope::seal(&header, &payload, &code_keys)?;
    let answer = hub.enroll(sealed).await.map_err(|e| match &e {
        HubError::Status { code, message, .. } => match code.as_str() {
            "invalid_enrollment_code" => anyhow::anyhow!(
                "enrollment refused: the code is wrong for account {:?}",
                req.account_name
            ),
            "enrollment_code_used" => {
                anyhow::anyhow!("enrollment refused: this code was already used; ask for a new one")
            }
            "enrollment_code_expired" => {
                anyhow::anyhow!("enrollment refused: this code has expired; ask for a new one")
            }
            "unknown_enrollment" => anyhow::anyhow!(
                "enrollment refused: no enrollment code was issued for account {:?}",
                req.account_name
            ),
            "stale_timestamp" => {
                anyhow::anyhow!("enrollment refused: this machine's clock is off ({message})")
            }
            _ => anyhow::anyhow!("enrollment failed: {e}"),
        },
        _ => anyhow::anyhow!("enrollment failed: {e}"),
    })?;
    let keys = SenderKeys::derive(
        answer.secret.as_bytes(),
        SenderKind::Collector,
        &answer.collector_id,
    );
    let credentials = Credentials::new(
        url.as_str(),
        &req.account_name,
        &answer.collector_id,
        answer.site_id,
        &keys,
        Utc::now(),
    );
    credentials.save(&state.credentials_path())?;
    tracing::info!(
        collector_id = %answer.collector_id,
        site_id = answer.site_id,
        config_version = answer.config_version,
        "enrolled"
    );
    Ok(credentials)
}
