//! The OpenAPI 3 document of the REST API (`GET /api/v1/openapi.json`) and a
//! readable page generated from it (`GET /api/v1/docs`).
//!
//! Every handler carries a `#[utoipa::path]` annotation next to its code; this
//! module collects them, describes the types the hub does not own (the actors'
//! views, the billing documents) with schema-only mirrors, and adds what every
//! operation shares in one place (`CommonResponses`): 401 for operations that
//! need credentials, 403 (`csrf`) for cookie-authenticated changes, 400 for bad
//! path, query or body input, 413/415 for bodies, and 503 when the database
//! does not answer. `tests/openapi.rs` checks that the document names every
//! route the hub registers and nothing else.
//!
//! Both routes are public: the document holds no data, only the API's shape.

use std::fmt::Write as _;
use std::sync::OnceLock;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, OpenApi as Document, Ref, RefOr, ResponseBuilder, SecurityRequirement,
};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::error::ApiError;

/// Register the document and the docs page.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/openapi.json", web::get().to(openapi_json))
        .route("/api/v1/docs", web::get().to(docs_page));
}

/// The document, built once.
pub fn document() -> &'static Document {
    static DOC: OnceLock<Document> = OnceLock::new();
    DOC.get_or_init(ApiDoc::openapi)
}

fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| document().to_pretty_json().unwrap_or_else(|_| "{}".into()))
}

/// The OpenAPI document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    security(()),
    responses((status = 200, description = "This document (OpenAPI 3.1).", content_type = "application/json", body = Object))
)]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document_json())
}

/// A readable page of every operation, generated from the document.
#[utoipa::path(
    get,
    path = "/api/v1/docs",
    tag = "meta",
    security(()),
    responses((status = 200, description = "HTML page listing every operation, its parameters, bodies and answers.", content_type = "text/html", body = String))
)]
pub async fn docs_page() -> Result<HttpResponse, ApiError> {
    let (html, css_hash) = docs_html();
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((
            "content-security-policy",
            format!("default-src 'none'; style-src '{css_hash}'; frame-ancestors 'none'"),
        ))
        .insert_header(("x-content-type-options", "nosniff"))
        .insert_header(("referrer-policy", "same-origin"))
        .body(html.as_str()))
}

// ---------------------------------------------------------------------------
// The document
// ---------------------------------------------------------------------------

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ppu-hub API",
        version = "1",
        description = "Telemetry hub for pay-per-use large-format printers. \
Authenticate with `Authorization: Bearer <token>` (the admin token or an API token) \
or with the portal's `ppu_session` cookie; cookie requests that change anything send the \
session's CSRF token in `X-CSRF-Token`. A reseller's accounts see only that reseller's \
objects: another tenant's object answers 404. Every error has one shape: \
`{\"error\": {\"code\": \"...\", \"message\": \"...\"}}` with a stable code. \
Uploads and collector requests are sealed envelopes (PROTOCOL.md), authenticated by their MAC."
    ),
    paths(
        crate::routes::health::healthz,
        crate::routes::health::readyz,
        crate::routes::health::metrics,
        crate::routes::ingest::ingest,
        crate::auth::login,
        crate::auth::logout,
        crate::auth::current,
        crate::auth::create_user,
        crate::auth::list_users,
        crate::auth::create_token,
        crate::auth::list_tokens,
        crate::auth::revoke_token,
        crate::auth::list_audit,
        crate::routes::admin::create_reseller,
        crate::routes::admin::show_reseller,
        crate::routes::admin::create_site,
        crate::routes::admin::show_site,
        crate::routes::admin::create_collector,
        crate::routes::admin::register_printer,
        crate::routes::admin::show_printer,
        crate::routes::alerts::list,
        crate::routes::alerts::stream,
        crate::routes::alerts::acknowledge,
        crate::routes::alerts::clear,
        crate::routes::alerts::get_settings,
        crate::routes::alerts::put_settings,
        crate::routes::alerts::create_webhook,
        crate::routes::alerts::list_webhooks,
        crate::routes::alerts::deliveries,
        crate::routes::billing::create_contract,
        crate::routes::billing::list_contracts,
        crate::routes::billing::show_contract,
        crate::routes::billing::billing_totals,
        crate::routes::billing::find_statement,
        crate::routes::billing::show_statement,
        crate::routes::billing::close_statement,
        crate::routes::billing::statement_evidence,
        crate::routes::collector::create_enrollment_code,
        crate::routes::collector::enroll,
        crate::routes::collector::put_collector_config,
        crate::routes::collector::show_collector_config,
        crate::routes::collector::collector_config,
        openapi_json,
        docs_page,
    ),
    components(schemas(ppu_protocol::api::ErrorBody)),
    modifiers(&Security, &CommonResponses),
    security(("bearer" = []), ("session_cookie" = [])),
    tags(
        (name = "health", description = "Liveness, readiness, metrics."),
        (name = "ingest", description = "Sealed uploads from collectors and direct printers."),
        (name = "accounts", description = "Sessions, users, API tokens, the audit log."),
        (name = "provisioning", description = "Resellers, sites, collectors, printers."),
        (name = "alerts", description = "Alerts, thresholds, the live stream, webhooks."),
        (name = "billing", description = "Contracts, usage totals, statements, evidence."),
        (name = "collector", description = "Data Collector enrollment and remote configuration."),
        (name = "meta", description = "This document and its page."),
    )
)]
struct ApiDoc;

/// The security schemes: bearer tokens and the portal session cookie.
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The admin token (data/admin-token: platform admin) or an API token \
                         (`POST /api/v1/tokens`: its own role and reseller).",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::SESSION_COOKIE,
                "The portal session (`POST /api/v1/login`). Changes also need `X-CSRF-Token`.",
            ))),
        );
    }
}

/// Answers every operation of a kind shares, added where the handler's own
/// annotation does not name them.
struct CommonResponses;

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build(),
    )
}

impl Modify for CommonResponses {
    fn modify(&self, doc: &mut Document) {
        for (path, item) in doc.paths.paths.iter_mut() {
            let public_meta = path.starts_with("/api/v1/openapi") || path == "/api/v1/docs";
            for (method, op) in [
                ("get", &mut item.get),
                ("put", &mut item.put),
                ("post", &mut item.post),
                ("delete", &mut item.delete),
            ] {
                let Some(op) = op.as_mut() else { continue };
                let authenticated = op.security.is_none();
                let params = op.parameters.as_deref().unwrap_or_default();
                let has = |kind: utoipa::openapi::path::ParameterIn| {
                    params
                        .iter()
                        .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == kind))
                };
                let has_path = has(utoipa::openapi::path::ParameterIn::Path);
                let has_query = has(utoipa::openapi::path::ParameterIn::Query);
                let json_body = op.request_body.as_ref().is_some_and(
                    |b| matches!(b, RefOr::T(b) if b.content.contains_key("application/json")),
                );
                let r = &mut op.responses.responses;
                let mut add = |code: &str, description: &str| {
                    r.entry(code.to_owned())
                        .or_insert_with(|| error_response(description));
                };
                if authenticated {
                    add(
                        "401",
                        "`unauthorized`: no, an invalid or a revoked token, or an expired session.",
                    );
                    if method != "get" {
                        add(
                            "403",
                            "`csrf`: a cookie-authenticated change without the session's `X-CSRF-Token`.",
                        );
                    }
                }
                if has_path || has_query {
                    add(
                        "400",
                        "`invalid_path` / `invalid_query` and other input errors (see `code`).",
                    );
                }
                if json_body {
                    add(
                        "400",
                        "`invalid_json` (malformed, unknown or missing fields) and field errors (see `code`).",
                    );
                    add("413", "`too_large`: the body is larger than 256 KiB.");
                    add(
                        "415",
                        "`unsupported_media_type`: the body must be `application/json`.",
                    );
                }
                if !public_meta && path != "/healthz" {
                    add(
                        "503",
                        "`storage_unavailable` (the database does not answer) and other \
                         temporary conditions; `Retry-After` says when to retry.",
                    );
                }
            }
        }
        // Operations without their own `security` use the document's: bearer or cookie.
        if doc.security.is_none() {
            doc.security = Some(vec![
                SecurityRequirement::new("bearer", Vec::<String>::new()),
                SecurityRequirement::new("session_cookie", Vec::<String>::new()),
            ]);
        }
    }
}

// ---------------------------------------------------------------------------
// Schema-only descriptions of types the hub serializes but does not own
// (they live in ppu-actors, which stays free of the OpenAPI dependency).
// They are never built: `tests/openapi.rs` and schemathesis check that the
// answers match them.
// ---------------------------------------------------------------------------

/// A sealed envelope (PROTOCOL.md): header, AES-128-CBC ciphertext of the
/// LZ4-compressed MessagePack payload, HMAC-SHA256.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = Envelope, value_type = String, format = Binary)]
#[allow(dead_code)]
pub struct EnvelopeSchema(Vec<u8>);

/// Alert severity, most severe first.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = Severity)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum SeveritySchema {
    /// Device down or billing data at risk.
    Critical,
    /// Needs service soon.
    Major,
    /// Needs attention.
    Minor,
    /// Worth knowing.
    Warning,
    /// Informational.
    Info,
}

/// An alert.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = Alert)]
#[allow(dead_code)]
pub struct AlertSchema {
    /// Alert id.
    pub id: i64,
    /// Stable code, e.g. `cartridge_low`.
    pub code: String,
    /// Severity.
    pub severity: SeveritySchema,
    /// Message.
    pub message: String,
    /// `device` or `derived`.
    pub source: String,
    /// `active`, `acknowledged` or `cleared`.
    pub state: String,
    /// Printer id.
    pub printer_id: Option<i64>,
    /// Printer serial number.
    pub serial_number: Option<String>,
    /// Collector credential id (collector alerts).
    pub collector_id: Option<i64>,
    /// Site.
    pub site_id: i64,
    /// Reseller.
    pub reseller_id: i64,
    /// First occurrence.
    pub first_seen: DateTime<Utc>,
    /// Latest occurrence.
    pub last_seen: DateTime<Utc>,
    /// Occurrences.
    pub occurrences: i64,
    /// Who acknowledged it.
    pub acknowledged_by: Option<String>,
    /// When.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Who cleared it (`auto` when its condition resolved).
    pub cleared_by: Option<String>,
    /// When.
    pub cleared_at: Option<DateTime<Utc>>,
}

/// A reseller's alert thresholds (missing fields take their defaults).
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = AlertThresholds)]
#[serde(default, deny_unknown_fields)]
#[allow(dead_code)]
pub struct AlertThresholdsSchema {
    /// A cartridge at or under this level is low (0-100, default 10).
    #[schema(minimum = 0, maximum = 100)]
    pub cartridge_low_pct: u8,
    /// Warn when a cartridge is predicted empty within this many days (0-365, default 7).
    #[schema(minimum = 0, maximum = 365)]
    pub predicted_empty_days: u32,
    /// A printhead under this health is reported (0-100, default 20).
    #[schema(minimum = 0, maximum = 100)]
    pub printhead_health_min_pct: u8,
    /// A printer silent for this many times its expected interval stopped reporting (1-100, default 2).
    #[schema(minimum = 1, maximum = 100)]
    pub stale_factor: u32,
}

impl Default for AlertThresholdsSchema {
    fn default() -> Self {
        let d = ppu_actors::domain::alerts::AlertThresholds::default();
        Self {
            cartridge_low_pct: d.cartridge_low_pct,
            predicted_empty_days: d.predicted_empty_days,
            printhead_health_min_pct: d.printhead_health_min_pct,
            stale_factor: d.stale_factor,
        }
    }
}

/// What support staff see of a printer actor: identity, live state (status,
/// consumables, counters, usage), mailbox. The live state's fields are those
/// of the actor and may grow.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = PrinterView)]
#[allow(dead_code)]
pub struct PrinterViewSchema {
    /// Printer id.
    pub printer_id: i64,
    /// Serial number.
    pub serial_number: String,
    /// Site id.
    pub site_id: i64,
    /// Reseller id.
    pub reseller_id: i64,
    /// Direct-connected.
    pub direct: bool,
    /// Messages waiting in the actor's mailbox.
    pub mailbox_depth: u64,
    /// The mailbox capacity.
    pub mailbox_capacity: u64,
    /// Seconds since the actor last handled a message.
    pub idle_seconds: u64,
}

/// A site or reseller actor: aggregated usage of every printer in scope.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = AggregateView)]
#[allow(dead_code)]
pub struct AggregateViewSchema {
    /// `site` or `reseller`.
    pub kind: String,
    /// Site or reseller id.
    pub id: i64,
    /// Records folded in so far.
    #[schema(value_type = Object)]
    pub watermark: Value,
    /// Usage of every printer in scope (job and meter bases).
    #[schema(value_type = Object)]
    pub usage: Value,
    /// Printers that reported usage into this aggregate.
    pub printers: Vec<i64>,
    /// Receipt time of the last upload folded in.
    pub last_upload_at: Option<DateTime<Utc>>,
    /// Messages waiting in the mailbox.
    pub mailbox_depth: u64,
    /// The mailbox capacity.
    pub mailbox_capacity: u64,
}

/// The billing cycle.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = CycleDraft)]
#[allow(dead_code)]
pub struct CycleDraftSchema {
    /// `monthly` or `quarterly`.
    pub kind: String,
    /// Day of the month periods start on (1-28, default 1).
    pub anchor_day: Option<u32>,
}

/// A price step.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = TierDraft)]
#[allow(dead_code)]
pub struct TierDraftSchema {
    /// Upper bound in billing units, a decimal string (omit or null on the last tier).
    pub up_to: Option<String>,
    /// Price per billing unit, a decimal string.
    pub unit_price: String,
}

/// A pricing model.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = PricingDraft)]
#[allow(dead_code)]
pub struct PricingDraftSchema {
    /// `flat`, `allowance`, `graduated` or `volume`.
    pub model: String,
    /// Price per billing unit (`flat`, `allowance`), a decimal string.
    pub unit_price: Option<String>,
    /// Units included (`allowance`), a decimal string.
    pub included: Option<String>,
    /// Tiers (`graduated`, `volume`).
    pub tiers: Option<Vec<TierDraftSchema>>,
}

/// A charge: a fixed fee or a usage metric with its pricing.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = ChargeDraft)]
#[allow(dead_code)]
pub struct ChargeDraftSchema {
    /// `fixed_fee`, or a metric: `media_area`, `ink`, `pages`, `copies`,
    /// `scanned_area`, `media_length`, `non_hp_ink`.
    pub metric: String,
    /// Display name (default: derived from the metric).
    pub name: Option<String>,
    /// `media_area` of one media type only.
    pub media_type: Option<String>,
    /// `media_area` of one print category only.
    pub print_category: Option<String>,
    /// `ink` or `non_hp_ink` of one color only.
    pub color: Option<String>,
    /// The amount of a `fixed_fee` per period, a decimal string.
    pub amount: Option<String>,
    /// The pricing of a usage charge.
    pub pricing: Option<PricingDraftSchema>,
}

/// A contract as submitted. Every field is validated (400 `invalid_contract`
/// names the field); decimals are JSON strings, floats are refused.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = ContractDraft)]
#[allow(dead_code)]
pub struct ContractDraftSchema {
    /// Site of a site contract (exactly one of `site_id`, `printer_id`).
    pub site_id: Option<i64>,
    /// Printer of a printer contract.
    pub printer_id: Option<i64>,
    /// Display name.
    pub name: Option<String>,
    /// First day in force, `YYYY-MM-DD`.
    pub effective_from: String,
    /// First day no longer in force, `YYYY-MM-DD` (omit: open-ended).
    pub effective_to: Option<String>,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Billing cycle.
    pub period: CycleDraftSchema,
    /// `jobs` (default) or `meter`.
    pub basis: Option<String>,
    /// Days after a period's end before it may be closed (default 5).
    pub grace_days: Option<u32>,
    /// Minimum of the usage charges per period, a decimal string.
    pub minimum_commitment: Option<String>,
    /// Charges: fixed fees and usage charges.
    pub charges: Vec<ChargeDraftSchema>,
}

/// A contract's billing cycle.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = Cycle)]
#[allow(dead_code)]
pub struct CycleSchema {
    /// `monthly` or `quarterly`.
    pub kind: String,
    /// Day of the month periods start on.
    pub anchor_day: u32,
}

/// A usage charge of a contract.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = Charge)]
#[allow(dead_code)]
pub struct ChargeSchema {
    /// Display name.
    pub name: String,
    /// Stable code, e.g. `media_area[media_type=bond]`.
    pub code: String,
    /// The metric.
    pub metric: String,
    /// Which part of the metric (`all` or a media type, print category or color).
    #[schema(value_type = Object)]
    pub filter: Value,
    /// Billing unit (`m2`, `ml`, `m`, `pages`, ...).
    pub unit: String,
    /// The pricing model and its prices.
    #[schema(value_type = Object)]
    pub pricing: Value,
}

/// A contract.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = Contract)]
#[allow(dead_code)]
pub struct ContractSchema {
    /// Contract id.
    pub id: i64,
    /// `site` or `printer`.
    pub scope: String,
    /// Reseller.
    pub reseller_id: i64,
    /// Site (of the printer, for printer contracts).
    pub site_id: i64,
    /// Printer of a printer contract.
    pub printer_id: Option<i64>,
    /// Display name.
    pub name: String,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Digits after the decimal point of the currency.
    pub minor_units: u32,
    /// Billing cycle.
    pub period: CycleSchema,
    /// `jobs` or `meter`.
    pub basis: String,
    /// First day in force.
    pub effective_from: NaiveDate,
    /// First day no longer in force (null: open-ended).
    pub effective_to: Option<NaiveDate>,
    /// Days after a period's end before it may be closed.
    pub grace_days: u32,
    /// Minimum of the usage charges per period, a decimal string.
    pub minimum_commitment: Option<String>,
    /// Fixed fees per period.
    #[schema(value_type = Vec<Object>)]
    pub fixed_fees: Vec<Value>,
    /// Usage charges.
    pub charges: Vec<ChargeSchema>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// A statement, or the list of statement ids when no `period` is given.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = StatementOrList)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum StatementOrListSchema {
    /// The statement of the period.
    Statement(Box<StatementSchema>),
    /// The statement ids.
    List(StatementListSchema),
}

/// Contracts.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = ContractList)]
#[allow(dead_code)]
pub struct ContractListSchema {
    /// The contracts, by id.
    pub contracts: Vec<ContractSchema>,
}

/// Usage of a group, raw integers (`_ul`, `_mm2`, `_mm`) and billing units as
/// exact decimal strings (`_ml`, `_m2`, `_m`). Grouped by ink color, only the
/// ink fields.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = TotalsUsage)]
#[allow(dead_code)]
pub struct TotalsUsageSchema {
    /// Ink, µl.
    pub ink_ul: u64,
    /// Ink, ml.
    pub ink_ml: String,
    /// Non-HP ink, µl.
    pub non_hp_ink_ul: u64,
    /// Non-HP ink, ml.
    pub non_hp_ink_ml: String,
    /// Jobs of every kind.
    pub jobs: Option<u64>,
    /// Pages.
    pub pages: Option<u64>,
    /// Media area, mm².
    pub media_area_mm2: Option<u64>,
    /// Media area, m².
    pub media_area_m2: Option<String>,
}

/// One group of a totals answer.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = TotalsGroup)]
#[allow(dead_code)]
pub struct TotalsGroupSchema {
    /// The group's key: one field per `group_by` dimension.
    #[schema(value_type = Object)]
    pub key: Value,
    /// Usage.
    pub usage: TotalsUsageSchema,
    /// Allocated amounts per currency (decimal strings), null without amounts.
    #[schema(value_type = Option<Object>)]
    pub amounts: Option<Value>,
}

/// The whole range of a totals answer.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = TotalsTotal)]
#[allow(dead_code)]
pub struct TotalsTotalSchema {
    /// Usage.
    pub usage: TotalsUsageSchema,
    /// Allocated amounts per currency (decimal strings), null without amounts.
    #[schema(value_type = Option<Object>)]
    pub amounts: Option<Value>,
}

/// Usage totals and allocated amounts of a reseller, site or printer over a
/// range of days, answered from the maintained rollups.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = Totals)]
#[allow(dead_code)]
pub struct TotalsSchema {
    /// `reseller`, `site` or `printer`.
    pub scope: String,
    /// Its id.
    pub id: i64,
    /// First day.
    pub from: NaiveDate,
    /// First day after the range.
    pub to: NaiveDate,
    /// Always true.
    pub to_is_exclusive: bool,
    /// `jobs` or `meter`.
    pub basis: String,
    /// The grouping dimensions.
    pub group_by: Vec<String>,
    /// Groups, by key.
    pub groups: Vec<TotalsGroupSchema>,
    /// The whole range.
    pub total: TotalsTotalSchema,
    /// Per currency: `{allocated, unallocated}` (null without amounts).
    #[schema(value_type = Option<Object>)]
    pub amounts: Option<Value>,
    /// Statements whose lines were allocated.
    pub statements: Vec<String>,
    /// Always `rollups`.
    pub source: String,
}

/// A statement's period.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = Period)]
#[allow(dead_code)]
pub struct PeriodSchema {
    /// `2026-03` or `2026-Q1`.
    pub label: String,
    /// First day.
    pub start: NaiveDate,
    /// First day after (exclusive).
    pub end: NaiveDate,
}

/// A numbered statement line.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = StatementLine)]
#[allow(dead_code)]
pub struct StatementLineSchema {
    /// Line number, from 1.
    pub no: u32,
    /// `fixed_fee`, `usage`, `reported`, `minimum_true_up` or `adjustment`.
    pub kind: String,
    /// Stable code within its segment.
    pub code: String,
    /// Human description.
    pub description: String,
    /// The contract that rates it.
    pub contract_id: i64,
    /// First day of the segment it rates.
    pub from: NaiveDate,
    /// First day after that segment.
    pub to: NaiveDate,
    /// For an adjustment: the label of the closed period it adjusts.
    pub adjusts: Option<String>,
    /// What it counts (metric and filter).
    #[schema(value_type = Option<Object>)]
    pub selector: Option<Value>,
    /// Quantity in raw units.
    pub quantity_raw: i64,
    /// Raw unit.
    pub raw_unit: String,
    /// Quantity in the billing unit, a decimal string.
    pub quantity: String,
    /// Billing unit.
    pub unit: String,
    /// Pricing summary.
    pub pricing: String,
    /// Amount, rounded to the currency's minor unit, a decimal string.
    pub amount: String,
}

/// A statement: its lines and total. A closed statement never changes.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = Statement)]
#[allow(dead_code)]
pub struct StatementSchema {
    /// Statement id, e.g. `site-3-2026-03-01`.
    pub id: String,
    /// `site` or `printer`.
    pub scope: String,
    /// Site or printer id.
    pub scope_id: i64,
    /// Reseller.
    pub reseller_id: i64,
    /// Site.
    pub site_id: i64,
    /// The period.
    pub period: PeriodSchema,
    /// ISO 4217 currency code.
    pub currency: String,
    /// `open` or `closed`.
    pub status: String,
    /// First day it may be closed (period end + grace days).
    pub closable_from: NaiveDate,
    /// When it was closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Contracts rating it.
    pub contracts: Vec<i64>,
    /// The rounding rule applied.
    pub rounding: String,
    /// Lines.
    pub lines: Vec<StatementLineSchema>,
    /// Sum of the line amounts, a decimal string.
    pub total: String,
    /// SHA-256 over the canonical lines and evidence (closed statements).
    pub digest: Option<String>,
    /// Highest job id behind it.
    pub job_watermark: i64,
    /// Highest counter reading id behind it.
    pub reading_watermark: i64,
}

/// The statement ids of a site or printer (without `period`).
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = StatementList)]
#[allow(dead_code)]
pub struct StatementListSchema {
    /// Ids, oldest first.
    pub statements: Vec<String>,
}

/// A line's quantity against the sum of its evidence.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = LineCheck)]
#[allow(dead_code)]
pub struct LineCheckSchema {
    /// Line number.
    pub line_no: u32,
    /// Code.
    pub code: String,
    /// The line's quantity, raw units.
    pub quantity_raw: i64,
    /// Sum of its evidence, raw units.
    pub evidence_raw: i64,
    /// Whether lines that count records re-add exactly.
    pub reconciles: bool,
}

/// One record behind a line.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = EvidenceRow)]
#[allow(dead_code)]
pub struct EvidenceRowSchema {
    /// The line it adds to.
    pub line_no: u32,
    /// `job:<uuid>` or `reading:<id>`.
    pub reference: String,
    /// Printer.
    pub printer_id: i64,
    /// Its serial number.
    pub serial_number: String,
    /// Print time (scan time for scans) or reading time.
    pub at: DateTime<Utc>,
    /// Quantity in the line's raw unit.
    pub quantity_raw: u64,
}

/// The evidence of a statement: the records behind each line and the digest.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = Evidence)]
#[allow(dead_code)]
pub struct EvidenceSchema {
    /// Statement id.
    pub statement_id: String,
    /// `open` or `closed`.
    pub status: String,
    /// SHA-256 over the canonical text.
    pub digest: String,
    /// The digest stored when it was closed.
    pub stored_digest: Option<String>,
    /// Whether `digest` equals `stored_digest` (open statements: null).
    pub verified: Option<bool>,
    /// Per line: quantity against evidence.
    pub lines: Vec<LineCheckSchema>,
    /// Records, by line then reference.
    pub items: Vec<EvidenceRowSchema>,
    /// The canonical text the digest is computed over.
    pub canonical: String,
}

/// A collector configuration (`collector.toml` as JSON), validated exactly
/// as the collector validates it. `account_name` must be the site's.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = CollectorConfig)]
#[allow(dead_code)]
pub struct CollectorConfigSchema {
    /// The site's account name.
    pub account_name: String,
    /// The hub's URL (https).
    pub hub_url: String,
    /// Minutes between polls (at least 30, default 180).
    pub poll_interval_minutes: Option<u32>,
    /// Seconds between job polls (default 30).
    pub job_poll_interval_s: Option<u32>,
    /// Address ranges to read: `{address, scheme, ports?}`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub targets: Option<Vec<Value>>,
    /// CA file for the hub's certificate (set on the collector only).
    pub hub_ca_file: Option<String>,
    /// Network timeouts and concurrency.
    #[schema(value_type = Option<Object>)]
    pub network: Option<Value>,
    /// Proxy: `{mode: system | none | explicit, url?}`.
    #[schema(value_type = Option<Object>)]
    pub proxy: Option<Value>,
    /// Printer certificates: `{mode: tofu | ...}`.
    #[schema(value_type = Option<Object>)]
    pub printer_tls: Option<Value>,
    /// Model families collected.
    pub supported_models: Option<Vec<String>>,
    /// The on-disk spool's limits.
    #[schema(value_type = Option<Object>)]
    pub spool: Option<Value>,
}

// ---------------------------------------------------------------------------
// The docs page
// ---------------------------------------------------------------------------

const DOCS_CSS: &str = "body{font-family:system-ui,sans-serif;max-width:70rem;margin:1rem auto;\
padding:0 1rem;color:#1a1a1a;line-height:1.4}h2{border-bottom:1px solid #ccc;margin-top:2rem}\
section.op{border:1px solid #ddd;border-radius:4px;padding:.5rem 1rem;margin:.75rem 0}\
.m{display:inline-block;min-width:4.5rem;font-weight:bold;font-family:monospace}\
.get{color:#05603a}.post{color:#1a4f8b}.put{color:#7a4a00}.delete{color:#a10d0d}\
code{background:#f3f3f3;padding:0 .2rem}table{border-collapse:collapse}\
td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left;vertical-align:top}";

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `#/components/schemas/X` -> `X`; inline schemas by type.
fn schema_name(s: &Value) -> String {
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        return r.rsplit('/').next().unwrap_or(r).to_owned();
    }
    if let Some(items) = s.get("items") {
        return format!("array of {}", schema_name(items));
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(list) = s.get(key).and_then(Value::as_array) {
            let names: Vec<String> = list
                .iter()
                .map(schema_name)
                .filter(|n| n != "null")
                .collect();
            return names.join(" | ");
        }
    }
    match s.get("type") {
        Some(Value::String(t)) => match s.get("format").and_then(Value::as_str) {
            Some(f) => format!("{t} ({f})"),
            None => t.clone(),
        },
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect::<Vec<_>>()
            .join(" | "),
        _ => "any".into(),
    }
}

fn content_summary(content: Option<&Value>) -> String {
    let Some(Value::Object(c)) = content else {
        return String::new();
    };
    c.iter()
        .map(|(ct, v)| {
            let schema = v.get("schema").map(schema_name).unwrap_or_default();
            format!("<code>{}</code> {}", esc(ct), esc(&schema))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The page and the CSP hash of its style sheet.
fn docs_html() -> &'static (String, String) {
    static PAGE: OnceLock<(String, String)> = OnceLock::new();
    PAGE.get_or_init(|| {
        use base64::Engine as _;
        use sha2::Digest as _;
        let doc: Value = serde_json::from_str(document_json()).unwrap_or_default();
        let hash = format!(
            "sha256-{}",
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(DOCS_CSS))
        );
        (render(&doc), hash)
    })
}

fn render(doc: &Value) -> String {
    let mut h = String::new();
    let title = doc["info"]["title"].as_str().unwrap_or("API");
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>{DOCS_CSS}</style></head><body><h1>{t}</h1>\
         <p>{d}</p><p>Machine-readable: <a href=\"/api/v1/openapi.json\"><code>/api/v1/openapi.json</code></a> \
         (OpenAPI {v}).</p>",
        t = esc(title),
        d = esc(doc["info"]["description"].as_str().unwrap_or("")),
        v = esc(doc["openapi"].as_str().unwrap_or("3")),
    );
    let empty = serde_json::Map::new();
    let paths = doc["paths"].as_object().unwrap_or(&empty);
    let tags: Vec<(String, String)> = doc["tags"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .map(|t| {
                    (
                        t["name"].as_str().unwrap_or("").to_owned(),
                        t["description"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    h.push_str("<nav><ul>");
    for (name, description) in &tags {
        let _ = write!(
            h,
            "<li><a href=\"#tag-{n}\">{n}</a>: {d}</li>",
            n = esc(name),
            d = esc(description)
        );
    }
    h.push_str("</ul></nav>");
    for (tag, _) in &tags {
        let _ = write!(h, "<h2 id=\"tag-{t}\">{t}</h2>", t = esc(tag));
        for (path, item) in paths {
            for method in ["get", "put", "post", "delete"] {
                let Some(op) = item.get(method) else { continue };
                let op_tag = op["tags"][0].as_str().unwrap_or("");
                if op_tag != tag {
                    continue;
                }
                render_op(&mut h, method, path, op);
            }
        }
    }
    h.push_str("</body></html>");
    h
}

fn render_op(h: &mut String, method: &str, path: &str, op: &Value) {
    let _ = write!(
        h,
        "<section class=\"op\"><h3><span class=\"m {method}\">{m}</span> <code>{p}</code></h3>",
        m = method.to_uppercase(),
        p = esc(path)
    );
    if let Some(s) = op["summary"].as_str() {
        let _ = write!(h, "<p><strong>{}</strong></p>", esc(s));
    }
    if let Some(d) = op["description"].as_str() {
        let _ = write!(h, "<p>{}</p>", esc(d));
    }
    let auth = match op.get("security").and_then(Value::as_array) {
        Some(list)
            if list
                .iter()
                .all(|r| r.as_object().is_some_and(|o| o.is_empty())) =>
        {
            "none (public, or a sealed envelope)"
        }
        _ => "bearer token or session cookie",
    };
    let _ = write!(h, "<p>Authentication: {auth}</p>");
    if let Some(params) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
        h.push_str(
            "<table><tr><th>parameter</th><th>in</th><th>type</th><th>description</th></tr>",
        );
        for p in params {
            let _ = write!(
                h,
                "<tr><td><code>{n}</code>{r}</td><td>{i}</td><td>{t}</td><td>{d}</td></tr>",
                n = esc(p["name"].as_str().unwrap_or("")),
                r = if p["required"].as_bool() == Some(true) {
                    " (required)"
                } else {
                    ""
                },
                i = esc(p["in"].as_str().unwrap_or("")),
                t = esc(&p.get("schema").map(schema_name).unwrap_or_default()),
                d = esc(p["description"].as_str().unwrap_or("")),
            );
        }
        h.push_str("</table>");
    }
    if let Some(body) = op.get("requestBody") {
        let _ = write!(
            h,
            "<p>Request body: {}</p>",
            content_summary(body.get("content"))
        );
    }
    h.push_str("<table><tr><th>status</th><th>answer</th><th>body</th></tr>");
    if let Some(Value::Object(responses)) = op.get("responses") {
        for (status, r) in responses {
            let _ = write!(
                h,
                "<tr><td>{s}</td><td>{d}</td><td>{c}</td></tr>",
                s = esc(status),
                d = esc(r["description"].as_str().unwrap_or("")),
                c = content_summary(r.get("content")),
            );
        }
    }
    h.push_str("</table></section>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_an_error_shape_and_a_tag() {
        let doc: Value = serde_json::from_str(document_json()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                assert!(op["tags"][0].is_string(), "{method} {path} has no tag");
                let responses = op["responses"].as_object().unwrap();
                assert!(
                    responses.keys().any(|k| k.starts_with('2')),
                    "{method} {path} has no success answer"
                );
            }
        }
        let html = render(&doc);
        assert!(html.contains("/api/v1/billing/statements/{id}/close"));
        assert!(!html.contains("<script"));
    }
}
