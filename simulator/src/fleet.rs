//! A fleet of simulated printers: planning, provisioning through the hub's
//! admin API, and the fleet file that remembers the result.
//!
//! Provisioning creates one reseller, one site (customer account) and
//! registers every printer as direct-connected ([`provision`]), or adds a site
//! with its printers to an existing reseller ([`provision_site`]); the secrets
//! the hub returns (shown once) are kept in the [`FleetFile`] so a later run
//! can reuse the same printers (`ppu-sim run --fleet FILE`).

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::models::ModelId;
use crate::names;
use crate::rng::{SimRng, derive_seed};

/// One printer of a fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetPrinter {
    /// Serial number (the printer's identity and sender id).
    pub serial_number: String,
    /// Model.
    pub model: ModelId,
    /// Sender id the hub assigned (the serial number for direct printers).
    #[serde(default)]
    pub sender_id: String,
    /// Shared secret from the registration; its UTF-8 bytes are the HKDF input.
    #[serde(default)]
    pub secret: String,
}

/// The result of provisioning, saved as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetFile {
    /// Hub base URL the fleet was provisioned on.
    #[serde(default)]
    pub hub: String,
    /// Reseller id as the hub returned it.
    #[serde(default)]
    pub reseller_id: Value,
    /// Site id as the hub returned it.
    #[serde(default)]
    pub site_id: Value,
    /// Customer account name of the site.
    #[serde(default)]
    pub account_name: String,
    /// Seed the serial numbers were drawn from.
    pub seed: u64,
    /// The printers.
    pub printers: Vec<FleetPrinter>,
}

impl FleetFile {
    /// Read a fleet file.
    ///
    /// # Errors
    /// I/O or JSON errors.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        Ok(serde_json::from_str(&text)?)
    }

    /// Write the fleet file (it holds secrets: keep it private).
    ///
    /// # Errors
    /// I/O errors.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        std::fs::write(path, serde_json::to_string_pretty(self)?)?;
        Ok(())
    }
}

/// Choose `n` printers: models round-robin over `models` (every catalog model
/// when empty), serial numbers drawn from `seed`, unique.
pub fn plan(n: usize, seed: u64, models: &[ModelId]) -> Vec<(ModelId, String)> {
    let models: &[ModelId] = if models.is_empty() {
        &ModelId::ALL
    } else {
        models
    };
    let mut rng = SimRng::new(derive_seed(seed, "serials"));
    let mut out: Vec<(ModelId, String)> = Vec::with_capacity(n);
    for i in 0..n {
        let model = models[i % models.len()];
        loop {
            let serial = names::printer_serial(&mut rng, model.spec().serial_prefix);
            if !out.iter().any(|(_, s)| *s == serial) {
                out.push((model, serial));
                break;
            }
        }
    }
    out
}

/// Errors of the admin API.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The request failed on the network.
    #[error("admin request to {url} failed: {source}")]
    Network {
        /// URL.
        url: String,
        /// Cause.
        source: reqwest::Error,
    },
    /// The hub answered with an error.
    #[error("admin request to {url} answered {status}: {body}")]
    Status {
        /// URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// Answer body (truncated).
        body: String,
    },
    /// The answer lacked a field.
    #[error("admin answer from {url} lacks `{field}`")]
    Missing {
        /// URL.
        url: String,
        /// Field.
        field: &'static str,
    },
}

/// The hub's provisioning API, authenticated with the admin bearer token.
#[derive(Debug, Clone)]
pub struct AdminClient {
    http: reqwest::Client,
    base_url: String,
    token: String,
}

/// A printer registration as the hub answered it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Registration {
    /// Serial number.
    pub serial_number: String,
    /// Sender id for the envelope.
    #[serde(default)]
    pub sender_id: String,
    /// Shared secret, shown once.
    pub secret: String,
}

impl AdminClient {
    /// A client for the hub at `base_url` using `token` as admin bearer token.
    pub fn new(base_url: &str, token: &str, http: reqwest::Client) -> Self {
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        }
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value, AdminError> {
        let url = format!("{}{path}", self.base_url);
        let response = self
            .http
            .post(&url)
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .map_err(|source| AdminError::Network {
                url: url.clone(),
                source,
            })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|source| AdminError::Network {
                url: url.clone(),
                source,
            })?;
        if !status.is_success() {
            return Err(AdminError::Status {
                url,
                status: status.as_u16(),
                body: text.chars().take(300).collect(),
            });
        }
        serde_json::from_str(&text).map_err(|_| AdminError::Status {
            url,
            status: status.as_u16(),
            body: text.chars().take(300).collect(),
        })
    }

    fn id(url: &str, value: &Value) -> Result<Value, AdminError> {
        value.get("id").cloned().ok_or_else(|| AdminError::Missing {
            url: url.to_owned(),
            field: "id",
        })
    }

    /// `POST /api/v1/resellers {"name"}`; returns the reseller id.
    ///
    /// # Errors
    /// [`AdminError`].
    pub async fn create_reseller(&self, name: &str) -> Result<Value, AdminError> {
        let v = self
            .post("/api/v1/resellers", json!({ "name": name }))
            .await?;
        Self::id("/api/v1/resellers", &v)
    }

    /// `POST /api/v1/sites {"reseller_id", "account_name", "name"}`; returns the site id.
    ///
    /// # Errors
    /// [`AdminError`].
    pub async fn create_site(
        &self,
        reseller_id: &Value,
        account_name: &str,
        name: &str,
    ) -> Result<Value, AdminError> {
        let v = self
            .post(
                "/api/v1/sites",
                json!({ "reseller_id": reseller_id, "account_name": account_name, "name": name }),
            )
            .await?;
        Self::id("/api/v1/sites", &v)
    }

    /// `POST /api/v1/printers {"site_id", "serial_number", "direct": true}`.
    ///
    /// # Errors
    /// [`AdminError`].
    pub async fn register_printer(
        &self,
        site_id: &Value,
        serial_number: &str,
    ) -> Result<Registration, AdminError> {
        let v = self
            .post(
                "/api/v1/printers",
                json!({ "site_id": site_id, "serial_number": serial_number, "direct": true }),
            )
            .await?;
        serde_json::from_value(v).map_err(|_| AdminError::Missing {
            url: "/api/v1/printers".into(),
            field: "secret",
        })
    }
}

/// What to provision.
#[derive(Debug, Clone)]
pub struct ProvisionRequest {
    /// Number of printers.
    pub printers: usize,
    /// Seed for serial numbers (and, later, the simulation).
    pub seed: u64,
    /// Models to cycle through (all when empty).
    pub models: Vec<ModelId>,
    /// Reseller name.
    pub reseller_name: String,
    /// Customer account name of the site.
    pub account_name: String,
    /// Site name.
    pub site_name: String,
}

/// Create a reseller, a site and `request.printers` direct-connected printers.
///
/// # Errors
/// The first [`AdminError`]; printers registered before it stay registered.
pub async fn provision(
    admin: &AdminClient,
    request: &ProvisionRequest,
) -> Result<FleetFile, AdminError> {
    let reseller_id = admin.create_reseller(&request.reseller_name).await?;
    let printers = plan(request.printers, request.seed, &request.models);
    provision_site(
        admin,
        &reseller_id,
        &request.account_name,
        &request.site_name,
        &printers,
        request.seed,
    )
    .await
}

/// Create a site (customer account) under an existing reseller and register
/// `printers` (e.g. a slice of one [`plan`], so serial numbers stay unique
/// over several sites) there as direct-connected printers.
///
/// A fleet spread over several resellers and sites is several fleet files,
/// one per site; [`crate::direct::DirectFleet::from_fleet_files`] drives them together.
///
/// # Errors
/// The first [`AdminError`]; printers registered before it stay registered.
pub async fn provision_site(
    admin: &AdminClient,
    reseller_id: &Value,
    account_name: &str,
    site_name: &str,
    printers: &[(ModelId, String)],
    seed: u64,
) -> Result<FleetFile, AdminError> {
    let site_id = admin
        .create_site(reseller_id, account_name, site_name)
        .await?;
    let mut registered = Vec::with_capacity(printers.len());
    for (model, serial) in printers {
        let reg = admin.register_printer(&site_id, serial).await?;
        tracing::info!(serial = %serial, model = %model, "printer registered");
        registered.push(FleetPrinter {
            sender_id: if reg.sender_id.is_empty() {
                serial.clone()
            } else {
                reg.sender_id
            },
            serial_number: serial.clone(),
            model: *model,
            secret: reg.secret,
        });
    }
    Ok(FleetFile {
        hub: admin.base_url.clone(),
        reseller_id: reseller_id.clone(),
        site_id,
        account_name: account_name.to_owned(),
        seed,
        printers: registered,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_is_deterministic_unique_and_cycles_models() {
        let a = plan(30, 7, &[]);
        assert_eq!(a, plan(30, 7, &[]));
        assert_ne!(a, plan(30, 8, &[]));
        let serials: std::collections::HashSet<_> = a.iter().map(|(_, s)| s.clone()).collect();
        assert_eq!(serials.len(), 30);
        assert_eq!(a[0].0, ModelId::ALL[0]);
        assert_eq!(a[13].0, ModelId::ALL[0]);
        let only = plan(3, 1, &[ModelId::Z6200]);
        assert!(
            only.iter()
                .all(|(m, s)| *m == ModelId::Z6200 && s.len() == 10)
        );
    }
}
