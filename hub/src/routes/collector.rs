//! Data Collector endpoints: enrollment and remote configuration.
//!
//! # Enrollment
//! A reseller asks for an enrollment code for a site
//! (`POST /api/v1/sites/{id}/enrollment-codes`, admins of the site's
//! reseller) and gives it to the
//! installer. The hub keeps only keys derived from the code, in a
//! `credentials` row of kind `enrollment` whose sender id is the site's
//! account name. The installer runs `ppu-collector enroll`, which seals an
//! envelope with those keys (kind collector, sender id = account name) and
//! posts it to `POST /api/v1/enroll`: the code itself never travels, only
//! proof of possession. The hub verifies it like an upload (MAC, timestamp
//! window) and, in one transaction, marks the code used (`revoked_at`) and
//! creates a collector credential, whose secret it returns once. Because
//! ingest only looks up credentials of kind `collector` and `printer`, an
//! enrollment code can never upload data; because it is used up in the
//! same transaction that creates the collector, a replayed enrollment
//! envelope is refused (`enrollment_code_used`) without a nonce table.
//!
//! # Remote configuration
//! `PUT /api/v1/sites/{id}/collector-config` (admins of the site's reseller;
//! its users and support staff read it with `GET`) validates a
//! [`CollectorConfig`] exactly as the collector will, stores it and bumps
//! the site's `config_version` in one statement; every ingest answer carries
//! that version, and a collector whose version differs fetches the
//! configuration with `POST /api/v1/collector/config` (an envelope sealed
//! with its keys, empty payload). Nothing here can reach a printer: the
//! configuration only tells the collector where to *read*.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt as _;
use ppu_entities::{credential, site};
use ppu_protocol::collector_config::{CollectorConfig, MAX_ACCOUNT_NAME_BYTES};
use ppu_protocol::envelope::{self, DecodeError, Header, Limits, SenderKeys, SenderKind};
use ppu_protocol::model::Payload;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::files::random_secret;
use crate::openapi::{CollectorConfigSchema, EnvelopeSchema};
use crate::state::{AppState, SenderCredential};

/// `credentials.sender_kind` of an enrollment code.
pub const ENROLLMENT_KIND: &str = "enrollment";

/// How long an enrollment code can be used after it was issued.
pub const ENROLLMENT_CODE_TTL_DAYS: i64 = 7;

/// Enrollment and configuration requests are small: an envelope with an
/// empty payload is a few hundred bytes.
const SMALL_ENVELOPE_LIMIT: usize = 64 * 1024;

/// Register the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/api/v1/sites/{id}/enrollment-codes",
        web::post().to(create_enrollment_code),
    )
    .route("/api/v1/enroll", web::post().to(enroll))
    .route(
        "/api/v1/sites/{id}/collector-config",
        web::put().to(put_collector_config),
    )
    .route(
        "/api/v1/sites/{id}/collector-config",
        web::get().to(show_collector_config),
    )
    .route("/api/v1/collector/config", web::post().to(collector_config));
}

// ---------------------------------------------------------------------------
// Envelope verification shared by the collector endpoints
// ---------------------------------------------------------------------------

/// The API error for an envelope that does not open.
pub fn decode_error(e: &DecodeError) -> ApiError {
    let status = match e {
        DecodeError::BadMac => StatusCode::UNAUTHORIZED,
        DecodeError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError::new(status, e.code(), e.to_string())
}

/// Read an `application/octet-stream` body of at most `limit` bytes.
///
/// # Errors
/// 415 for another content type, 413 beyond the limit, 400 when the body
/// cannot be read.
pub async fn read_envelope(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, ApiError> {
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/octet-stream") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected content-type application/octet-stream",
        ));
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request("bad_body", format!("could not read request body: {e}"))
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("envelope larger than {limit} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// 422 when `timestamp` is outside the hub's window around `now`.
fn check_window(
    state: &AppState,
    timestamp: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let window = Duration::seconds(
        i64::try_from(state.settings.timestamp_window_secs).unwrap_or(i64::MAX / 1000),
    );
    let skew = now.signed_duration_since(timestamp);
    if skew > window || -skew > window {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "stale_timestamp",
            format!(
                "envelope timestamp {} is outside the allowed window of {} seconds around the hub's clock {}; seal again with a fresh header",
                timestamp.to_rfc3339(),
                state.settings.timestamp_window_secs,
                now.to_rfc3339()
            ),
        ));
    }
    Ok(())
}

/// An envelope from a known, active sender whose MAC and timestamp checked out.
#[derive(Debug)]
pub struct VerifiedEnvelope {
    /// The sender's credential.
    pub credential: Arc<SenderCredential>,
    /// The authenticated header.
    pub header: Header,
    /// The payload.
    pub payload: Payload,
}

/// Peek the header, look the sender up, open the envelope and check the
/// timestamp window: the authentication steps of PROTOCOL.md 4.6 in order.
/// Replayed nonces are not checked here (ingest does it in its ledger);
/// callers use this for requests whose replay reveals and changes nothing.
///
/// # Errors
/// The API errors of the ingest exchange: `unknown_sender`, `bad_mac`,
/// decoding errors, `stale_timestamp`.
pub async fn verify_envelope(
    state: &AppState,
    body: &[u8],
    limits: &Limits,
    received_at: DateTime<Utc>,
) -> Result<VerifiedEnvelope, ApiError> {
    let header = envelope::peek_header(body, limits).map_err(|e| decode_error(&e))?;
    let Some(credential) = state
        .credential(header.sender_kind, &header.sender_id)
        .await?
    else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unknown_sender",
            "unknown or revoked sender",
        ));
    };
    let (header, payload) =
        envelope::open(body, &credential.keys, limits).map_err(|e| decode_error(&e))?;
    check_window(state, header.timestamp, received_at)?;
    Ok(VerifiedEnvelope {
        credential,
        header,
        payload,
    })
}

fn small_limits(state: &AppState) -> Limits {
    Limits {
        max_envelope_bytes: SMALL_ENVELOPE_LIMIT,
        ..state.settings.limits()
    }
}

// ---------------------------------------------------------------------------
// Enrollment
// ---------------------------------------------------------------------------

/// Crockford's base32 alphabet: no I, L, O, U, so a code read aloud or
/// typed from paper is not mistaken.
const CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A new enrollment code: 20 symbols of 5 random bits (100 bits) in four
/// groups, e.g. `7KQ2M-XW9RT-B4C8D-NP3ZA`.
fn new_enrollment_code() -> String {
    use rand::Rng as _;
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    let mut code = String::with_capacity(23);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 && i % 5 == 0 {
            code.push('-');
        }
        code.push(char::from(CODE_ALPHABET[usize::from(b & 0x1f)]));
    }
    code
}

/// The answer to creating an enrollment code: shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewEnrollmentCode {
    /// The site.
    site_id: i64,
    /// Its account name (the collector enrolls with it).
    account_name: String,
    /// The code, e.g. `7KQ2M-XW9RT-B4C8D-NP3ZA`. The hub keeps only keys derived from it.
    code: String,
    /// It can be used until then.
    expires_at: DateTime<Utc>,
}

/// Issue an enrollment code for a site's collector (replaces the previous one).
#[utoipa::path(
    post,
    path = "/api/v1/sites/{id}/enrollment-codes",
    tag = "collector",
    params(("id" = i64, Path, description = "Site id.")),
    responses(
        (status = 201, description = "Issued; the code is shown only here.", body = NewEnrollmentCode),
        (status = 400, description = "`account_name_too_long`.", body = ppu_protocol::api::ErrorBody),
        (status = 403, description = "`forbidden`: your role may not enroll collectors.", body = ppu_protocol::api::ErrorBody),
        (status = 404, description = "`not_found`: no such site, or another tenant's.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn create_enrollment_code(
    who: Principal,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let site = site::Entity::find_by_id(id.into_inner())
        .one(&state.db.read)
        .await?
        .ok_or_else(|| ApiError::not_found("site"))?;
    who.administer(site.reseller_id, "site")?;
    if site.account_name.len() > MAX_ACCOUNT_NAME_BYTES {
        return Err(ApiError::bad_request(
            "account_name_too_long",
            "the account name is longer than the 128 bytes an envelope sender id can hold",
        ));
    }
    let code = new_enrollment_code();
    let keys = SenderKeys::derive(code.as_bytes(), SenderKind::Collector, &site.account_name);
    let now = Utc::now();
    let txn = state.db.begin_write().await?;
    let existing = credential::Entity::find()
        .filter(credential::Column::SenderKind.eq(ENROLLMENT_KIND))
        .filter(credential::Column::SenderId.eq(site.account_name.as_str()))
        .one(&txn)
        .await?;
    // One code per account at a time (the sender index is unique): a new
    // code replaces the previous one, used or not.
    match existing {
        Some(row) => {
            credential::ActiveModel {
                id: Set(row.id),
                site_id: Set(site.id),
                keys: Set(keys.to_bytes().to_vec()),
                created_at: Set(now),
                last_used_at: Set(None),
                revoked_at: Set(None),
                ..Default::default()
            }
            .update(&txn)
            .await?;
        }
        None => {
            credential::ActiveModel {
                sender_kind: Set(ENROLLMENT_KIND.to_owned()),
                sender_id: Set(site.account_name.clone()),
                site_id: Set(site.id),
                printer_id: Set(None),
                name: Set(format!("enrollment code of {}", site.account_name)),
                keys: Set(keys.to_bytes().to_vec()),
                created_at: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
        }
    }
    txn.commit().await?;
    tracing::info!(site_id = site.id, "enrollment code issued");
    Ok(HttpResponse::Created().json(NewEnrollmentCode {
        site_id: site.id,
        account_name: site.account_name,
        code,
        expires_at: now + Duration::days(ENROLLMENT_CODE_TTL_DAYS),
    }))
}

/// Create a collector credential for `site` on `db` (a transaction or a
/// connection), the way the admin API does: a random id `col-...`, a random
/// secret returned once, only the derived keys stored. Returns (id, secret).
///
/// # Errors
/// 409 when the id exists (practically never), 503 for the database.
pub async fn insert_collector_credential<C: ConnectionTrait>(
    db: &C,
    site: &site::Model,
    display: &str,
) -> Result<(String, String), ApiError> {
    let sender_id = format!("col-{}", random_secret(9));
    let secret = random_secret(32);
    let keys = SenderKeys::derive(secret.as_bytes(), SenderKind::Collector, &sender_id);
    credential::ActiveModel {
        sender_kind: Set(SenderKind::Collector.as_str().to_owned()),
        sender_id: Set(sender_id.clone()),
        site_id: Set(site.id),
        printer_id: Set(None),
        name: Set(display.to_owned()),
        keys: Set(keys.to_bytes().to_vec()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok((sender_id, secret))
}

/// The answer to a successful enrollment: shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct Enrolled {
    /// The new collector's sender id.
    collector_id: String,
    /// The collector's shared secret; the hub keeps only derived keys.
    secret: String,
    /// Its site.
    site_id: i64,
    /// The site's collector configuration version.
    config_version: i64,
}

fn unauthorized(code: &'static str, message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, code, message)
}

/// Enroll a collector: an envelope sealed with keys derived from the
/// enrollment code (sender id: the account name), proving the code without
/// sending it. Creates the collector credential and uses the code up.
#[utoipa::path(
    post,
    path = "/api/v1/enroll",
    tag = "collector",
    security(()),
    request_body(content = EnvelopeSchema, content_type = "application/octet-stream", description = "An envelope sealed with the enrollment code's keys."),
    responses(
        (status = 201, description = "Enrolled; the secret is shown only here.", body = Enrolled),
        (status = 400, description = "The envelope does not decode.", body = ppu_protocol::api::ErrorBody),
        (status = 401, description = "`unknown_enrollment`, `invalid_enrollment_code`, `enrollment_code_used`, `enrollment_code_expired`.", body = ppu_protocol::api::ErrorBody),
        (status = 404, description = "`not_found`: the code's site is gone.", body = ppu_protocol::api::ErrorBody),
        (status = 413, description = "`too_large`.", body = ppu_protocol::api::ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body must be `application/octet-stream`.", body = ppu_protocol::api::ErrorBody),
        (status = 422, description = "`stale_timestamp`.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn enroll(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let received_at = Utc::now();
    let limits = small_limits(&state);
    let body = read_envelope(&req, payload, limits.max_envelope_bytes).await?;
    let header = envelope::peek_header(&body, &limits).map_err(|e| decode_error(&e))?;
    if header.sender_kind != SenderKind::Collector {
        return Err(unauthorized(
            "unknown_enrollment",
            "an enrollment envelope is sealed as a collector",
        ));
    }
    let account = header.sender_id;
    let Some(row) = credential::Entity::find()
        .filter(credential::Column::SenderKind.eq(ENROLLMENT_KIND))
        .filter(credential::Column::SenderId.eq(account.as_str()))
        .one(&state.db.read)
        .await?
    else {
        return Err(unauthorized(
            "unknown_enrollment",
            "no enrollment code was issued for this account",
        ));
    };
    let keys = SenderKeys::from_bytes(&row.keys).map_err(ApiError::internal)?;
    let (header, _) = envelope::open(&body, &keys, &limits).map_err(|e| match e {
        DecodeError::BadMac => unauthorized(
            "invalid_enrollment_code",
            "the enrollment code is wrong for this account",
        ),
        other => decode_error(&other),
    })?;
    // Only a holder of the code gets past the MAC, and only then learns
    // whether it was used or expired.
    if row.revoked_at.is_some() {
        return Err(unauthorized(
            "enrollment_code_used",
            "this enrollment code was already used; ask for a new one",
        ));
    }
    if received_at > row.created_at + Duration::days(ENROLLMENT_CODE_TTL_DAYS) {
        return Err(unauthorized(
            "enrollment_code_expired",
            "this enrollment code has expired; ask for a new one",
        ));
    }
    check_window(&state, header.timestamp, received_at)?;
    let site = site::Entity::find_by_id(row.site_id)
        .one(&state.db.read)
        .await?
        .ok_or_else(|| ApiError::not_found("site"))?;

    let txn = state.db.begin_write().await?;
    let used = credential::Entity::update_many()
        .col_expr(credential::Column::RevokedAt, Expr::value(received_at))
        .col_expr(credential::Column::LastUsedAt, Expr::value(received_at))
        .filter(credential::Column::Id.eq(row.id))
        .filter(credential::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    if used.rows_affected != 1 {
        // A concurrent enrollment with the same code won the race.
        txn.rollback().await?;
        return Err(unauthorized(
            "enrollment_code_used",
            "this enrollment code was already used; ask for a new one",
        ));
    }
    let display = format!("collector of {} (enrolled)", site.account_name);
    let (collector_id, secret) = insert_collector_credential(&txn, &site, &display).await?;
    txn.commit().await?;
    tracing::info!(site_id = site.id, collector_id = %collector_id, "collector enrolled");
    Ok(HttpResponse::Created().json(Enrolled {
        collector_id,
        secret,
        site_id: site.id,
        config_version: site.config_version,
    }))
}

// ---------------------------------------------------------------------------
// Remote configuration
// ---------------------------------------------------------------------------

/// `{config_version, config}`: a site's collector configuration.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfigView {
    /// Bumped by every change (0: never configured).
    config_version: i64,
    /// The configuration as the collector reads it (defaults filled in); null: none yet.
    #[schema(value_type = Option<CollectorConfigSchema>)]
    config: Option<serde_json::Value>,
}

fn invalid_config(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_config", message)
}

/// Change a site's collector configuration: validated exactly as the
/// collector validates it; the version goes up by one.
#[utoipa::path(
    put,
    path = "/api/v1/sites/{id}/collector-config",
    tag = "collector",
    params(("id" = i64, Path, description = "Site id.")),
    request_body = CollectorConfigSchema,
    responses(
        (status = 200, description = "Stored.", body = ConfigView),
        (status = 400, description = "`invalid_config` (explains what is wrong), `account_mismatch`.", body = ppu_protocol::api::ErrorBody),
        (status = 403, description = "`forbidden`: your role may not configure collectors.", body = ppu_protocol::api::ErrorBody),
        (status = 404, description = "`not_found`: no such site, or another tenant's.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn put_collector_config(
    who: Principal,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    // Whose first: another tenant's site is 404 whatever the body says.
    let site = site::Entity::find_by_id(id)
        .one(&state.db.read)
        .await?
        .ok_or_else(|| ApiError::not_found("site"))?;
    who.administer(site.reseller_id, "site")?;
    let config = CollectorConfig::from_json_value(body.into_inner())
        .map_err(|e| invalid_config(e.to_string()))?;
    config
        .validate()
        .map_err(|e| invalid_config(e.to_string()))?;
    if config.account_name != site.account_name {
        return Err(ApiError::bad_request(
            "account_mismatch",
            format!(
                "account_name {:?} is not this site's account {:?}",
                config.account_name, site.account_name
            ),
        ));
    }
    // Stored as the collector will read it back (defaults filled in).
    let json = serde_json::to_value(&config).map_err(ApiError::internal)?;
    let txn = state.db.begin_write().await?;
    // One statement, so two concurrent changes get two versions.
    site::Entity::update_many()
        .col_expr(site::Column::CollectorConfig, Expr::value(json.clone()))
        .col_expr(
            site::Column::ConfigVersion,
            Expr::col(site::Column::ConfigVersion).add(1),
        )
        .filter(site::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    let version = site::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .map_or(0, |s| s.config_version);
    txn.commit().await?;
    tracing::info!(
        site_id = id,
        config_version = version,
        "collector configuration changed"
    );
    crate::auth::audit(
        &state,
        &who,
        Some(site.reseller_id),
        "collector_config.update",
        &format!("site:{id}"),
        Some(serde_json::json!({
            "config_version": version,
            "poll_interval_minutes": config.poll_interval_minutes,
            "job_poll_interval_s": config.job_poll_interval_s,
            "targets": config.targets.iter().map(|t| t.address.clone()).collect::<Vec<_>>(),
            "via": "api",
        })),
    )
    .await;
    Ok(HttpResponse::Ok().json(ConfigView {
        config_version: version,
        config: Some(json),
    }))
}

/// A site's collector configuration and its version.
#[utoipa::path(
    get,
    path = "/api/v1/sites/{id}/collector-config",
    tag = "collector",
    params(("id" = i64, Path, description = "Site id.")),
    responses(
        (status = 200, description = "The configuration.", body = ConfigView),
        (status = 404, description = "`not_found`: no such site, or another tenant's.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn show_collector_config(
    who: Principal,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let site = site::Entity::find_by_id(id.into_inner())
        .one(&state.db.read)
        .await?
        .ok_or_else(|| ApiError::not_found("site"))?;
    who.read(site.reseller_id, "site")?;
    Ok(HttpResponse::Ok().json(ConfigView {
        config_version: site.config_version,
        config: site.collector_config,
    }))
}

/// A collector fetches its configuration: an envelope sealed with its keys
/// (empty payload).
#[utoipa::path(
    post,
    path = "/api/v1/collector/config",
    tag = "collector",
    security(()),
    request_body(content = EnvelopeSchema, content_type = "application/octet-stream", description = "An envelope sealed with the collector's keys."),
    responses(
        (status = 200, description = "The configuration.", body = ConfigView),
        (status = 400, description = "The envelope does not decode.", body = ppu_protocol::api::ErrorBody),
        (status = 401, description = "`unknown_sender`, `bad_mac`.", body = ppu_protocol::api::ErrorBody),
        (status = 403, description = "`not_a_collector`.", body = ppu_protocol::api::ErrorBody),
        (status = 404, description = "`not_found`: the collector's site is gone.", body = ppu_protocol::api::ErrorBody),
        (status = 413, description = "`too_large`.", body = ppu_protocol::api::ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body must be `application/octet-stream`.", body = ppu_protocol::api::ErrorBody),
        (status = 422, description = "`stale_timestamp`.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn collector_config(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let received_at = Utc::now();
    let limits = small_limits(&state);
    let body = read_envelope(&req, payload, limits.max_envelope_bytes).await?;
    let verified = verify_envelope(&state, &body, &limits, received_at).await?;
    let sender = &verified.credential.sender;
    if sender.kind != SenderKind::Collector {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_a_collector",
            "only collectors have a remote configuration",
        ));
    }
    let site = site::Entity::find_by_id(sender.site_id)
        .one(&state.db.read)
        .await?
        .ok_or_else(|| ApiError::not_found("site"))?;
    tracing::debug!(
        site_id = site.id,
        collector_id = %sender.sender_id,
        config_version = site.config_version,
        "collector configuration fetched"
    );
    Ok(HttpResponse::Ok().json(ConfigView {
        config_version: site.config_version,
        config: site.collector_config,
    }))
}
