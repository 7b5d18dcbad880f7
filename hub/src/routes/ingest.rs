//! `POST /api/v1/ingest`: authenticated, idempotent upload of a sealed envelope.
//!
//! Order of checks (PROTOCOL.md): content type, size, header, sender,
//! MAC and payload, timestamp window; then the writer checks the ledger
//! (duplicate envelope or batch, replayed nonce) inside its transaction.
//! Nothing is stored unless every check passed, and the answer is sent only
//! after the records are durable.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use ppu_actors::ingest::{IngestError, VerifiedUpload};
use ppu_protocol::envelope::{self, DecodeError};
use tracing::Instrument as _;

use crate::error::ApiError;
use crate::metrics as m;
use crate::state::AppState;

fn decode_error(e: &DecodeError) -> ApiError {
    let status = match e {
        DecodeError::BadMac => StatusCode::UNAUTHORIZED,
        DecodeError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError::new(status, e.code(), e.to_string())
}

fn reject(kind: &str, err: ApiError) -> ApiError {
    metrics::counter!(m::UPLOADS_TOTAL, "sender_kind" => kind.to_owned(), "outcome" => "rejected")
        .increment(1);
    metrics::counter!(m::UPLOADS_REJECTED_TOTAL, "reason" => err.code).increment(1);
    err
}

/// Read the body up to `limit` bytes; beyond it, 413 without reading further.
/// How long a sender may take to send an envelope's body once its request
/// head arrived (the head itself has the server's request timeout). An
/// envelope is under 100 KB: 30 s allows a line of about 3 KB/s, and a client
/// that drips slower cannot hold a connection open for ever.
const BODY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

async fn read_body(payload: web::Payload, limit: usize) -> Result<web::BytesMut, ApiError> {
    tokio::time::timeout(BODY_DEADLINE, read_body_until_end(payload, limit))
        .await
        .unwrap_or_else(|_| {
            Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!(
                    "the request body did not arrive within {} s",
                    BODY_DEADLINE.as_secs()
                ),
            ))
        })
}

async fn read_body_until_end(
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, ApiError> {
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

/// Upload a sealed envelope. Authenticated by its MAC (sender keys), not by a
/// token; answered only after its records are committed.
#[utoipa::path(
    post,
    path = "/api/v1/ingest",
    tag = "ingest",
    security(()),
    request_body(content = crate::openapi::EnvelopeSchema, content_type = "application/octet-stream", description = "A sealed envelope (PROTOCOL.md)."),
    responses(
        (status = 200, description = "Stored (or a duplicate of a stored upload: nothing changed).", body = ppu_protocol::api::IngestResponse),
        (status = 400, description = "The envelope does not decode (`bad_magic`, `unsupported_version`, `truncated`, `bad_header`, `bad_padding`, `bad_compression`, `malformed_payload`, `unsupported_schema`, ...).", body = ppu_protocol::api::ErrorBody),
        (status = 401, description = "`unknown_sender` or `bad_mac`.", body = ppu_protocol::api::ErrorBody),
        (status = 409, description = "`replayed_nonce`: the nonce was used with other content.", body = ppu_protocol::api::ErrorBody),
        (status = 408, description = "`body_timeout`: the body did not arrive within 30 s.", body = ppu_protocol::api::ErrorBody),
        (status = 413, description = "`too_large`: the envelope exceeds the hub's limit.", body = ppu_protocol::api::ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body must be `application/octet-stream`.", body = ppu_protocol::api::ErrorBody),
        (status = 422, description = "`stale_timestamp`: outside the hub's window; seal again.", body = ppu_protocol::api::ErrorBody),
        (status = 503, description = "`busy`, `storage_unavailable` or `shutting_down`: nothing was stored; retry after `Retry-After`.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn ingest(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let received_at = Utc::now();
    let started = std::time::Instant::now();
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/octet-stream") {
        return Err(reject(
            "unknown",
            ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected content-type application/octet-stream",
            ),
        ));
    }
    let limits = state.settings.limits();
    let body = read_body(payload, limits.max_envelope_bytes)
        .await
        .map_err(|e| reject("unknown", e))?;
    metrics::counter!(m::RECEIVED_BYTES_TOTAL).increment(body.len() as u64);

    let header =
        envelope::peek_header(&body, &limits).map_err(|e| reject("unknown", decode_error(&e)))?;
    let kind = header.sender_kind.as_str();
    let span = tracing::info_span!("ingest", sender_kind = kind, sender_id = %header.sender_id);
    store_envelope(&state, &body, &limits, header, kind, received_at, started)
        .instrument(span)
        .await
}

/// The rest of an upload, inside its span. The span is entered only while
/// this future runs (`Instrument`): a span held entered across an `.await`
/// stays current on the worker thread while the request waits, becomes the
/// parent of every span the thread opens meanwhile, and under load those
/// chains grew until closing them overflowed the stack. `clippy.toml` makes
/// holding a span guard across an `.await` a lint error.
async fn store_envelope(
    state: &AppState,
    body: &[u8],
    limits: &envelope::Limits,
    header: envelope::Header,
    kind: &'static str,
    received_at: DateTime<Utc>,
    started: std::time::Instant,
) -> Result<HttpResponse, ApiError> {
    let Some(cred) = state
        .credential(header.sender_kind, &header.sender_id)
        .await?
    else {
        return Err(reject(
            kind,
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unknown_sender",
                "unknown or revoked sender",
            ),
        ));
    };
    let (header, payload) = envelope::open(body, &cred.keys, limits).map_err(|e| {
        tracing::info!(code = e.code(), "envelope refused");
        reject(kind, decode_error(&e))
    })?;

    let window = chrono::Duration::seconds(
        i64::try_from(state.settings.timestamp_window_secs).unwrap_or(i64::MAX / 1000),
    );
    let skew = received_at.signed_duration_since(header.timestamp);
    if skew > window || -skew > window {
        return Err(reject(
            kind,
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "stale_timestamp",
                format!(
                    "envelope timestamp {} is outside the allowed window of {} seconds around the hub's clock {}; seal the payload again with a fresh header",
                    header.timestamp.to_rfc3339(),
                    state.settings.timestamp_window_secs,
                    received_at.to_rfc3339()
                ),
            ),
        ));
    }

    let upload = VerifiedUpload::new(
        header,
        payload,
        envelope::upload_id(body),
        body.len(),
        cred.sender.clone(),
        received_at,
    );
    let result = state.fleet.ingest(upload).await;
    let response = match result {
        Ok(r) => r,
        Err(IngestError::ReplayedNonce) => {
            return Err(reject(
                kind,
                ApiError::conflict(
                    "replayed_nonce",
                    "this sender already used the envelope's nonce with other content",
                ),
            ));
        }
        Err(IngestError::Busy) => {
            metrics::counter!(m::MAILBOX_FULL_TOTAL, "queue" => "ingest").increment(1);
            return Err(reject(
                kind,
                ApiError::unavailable("busy", "the hub is busy, nothing was stored; retry", 1),
            ));
        }
        Err(IngestError::Unavailable(_)) => {
            return Err(reject(
                kind,
                ApiError::unavailable(
                    "storage_unavailable",
                    "the database is not available, nothing was stored; retry",
                    5,
                ),
            ));
        }
        Err(IngestError::ShuttingDown) => {
            return Err(reject(
                kind,
                ApiError::unavailable("shutting_down", "the hub is stopping; retry", 5),
            ));
        }
    };
    let outcome = if response.duplicate {
        "duplicate"
    } else {
        "stored"
    };
    metrics::counter!(m::UPLOADS_TOTAL, "sender_kind" => kind, "outcome" => outcome).increment(1);
    metrics::counter!(m::JOBS_STORED_TOTAL).increment(u64::from(response.accepted.jobs()));
    metrics::counter!(m::DUPLICATE_JOBS_TOTAL).increment(u64::from(response.duplicates.jobs()));
    metrics::histogram!(m::INGEST_SECONDS).record(started.elapsed().as_secs_f64());
    tracing::info!(
        upload_id = %response.upload_id,
        duplicate = response.duplicate,
        jobs = response.accepted.jobs(),
        duplicate_jobs = response.duplicates.jobs(),
        rejected_printers = response.rejected_printers.len(),
        "upload stored"
    );
    Ok(HttpResponse::Ok().json(response))
}
