//! Provisioning and inspection (admin token for now; accounts come with the portal).
//!
//! Secrets are generated here, returned once, and never stored: the hub keeps
//! only the keys derived from them.

use actix_web::{FromRequest, HttpRequest, HttpResponse, dev::Payload, web};
use chrono::{DateTime, Utc};
use ppu_entities::{credential, printer, reseller, site};
use ppu_protocol::envelope::{SenderKeys, SenderKind};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, SqlErr};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::files::random_secret;
use crate::openapi::{AggregateViewSchema, PrinterViewSchema};
use crate::state::AppState;

/// Register the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/resellers", web::post().to(create_reseller))
        .route("/api/v1/resellers/{id}", web::get().to(show_reseller))
        .route("/api/v1/sites", web::post().to(create_site))
        .route("/api/v1/sites/{id}", web::get().to(show_site))
        .route("/api/v1/collectors", web::post().to(create_collector))
        .route("/api/v1/printers", web::post().to(register_printer))
        .route("/api/v1/printers/{serial}", web::get().to(show_printer));
}

/// A platform administrator (the admin token, or a `platform_admin` user or token).
#[derive(Debug)]
pub struct Admin(pub Principal);

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let who = Principal::from_request(req, payload);
        Box::pin(async move {
            let who = who.await?;
            who.platform()?;
            Ok(Admin(who))
        })
    }
}

fn name(field: &'static str, value: &str, max: usize) -> Result<String, ApiError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_field",
            format!("{field} must have 1 to {max} printable characters"),
        ));
    }
    Ok(v.to_owned())
}

/// A printer serial number: 1 to 64 characters of letters, digits, `-`, `_`, `.`.
pub fn serial_number(value: &str) -> Result<String, ApiError> {
    let v = value.trim();
    if v.is_empty()
        || v.len() > 64
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(ApiError::bad_request(
            "invalid_serial_number",
            "serial_number must have 1 to 64 characters: letters, digits, '-', '_' or '.'",
        ));
    }
    Ok(v.to_owned())
}

fn unique_violation(e: &sea_orm::DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// A new reseller.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewReseller {
    /// Unique name, 1 to 200 printable characters.
    name: String,
}

/// A reseller.
#[derive(Debug, Serialize, ToSchema)]
pub struct Reseller {
    /// Reseller id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// A site in a reseller's list.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteSummary {
    /// Site id.
    pub id: i64,
    /// The customer account name (the collector's sender id).
    pub account_name: String,
    /// Display name.
    pub name: String,
}

/// A reseller, its sites and its actor's aggregated usage.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResellerDetail {
    /// Reseller id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Its sites.
    pub sites: Vec<SiteSummary>,
    /// The reseller actor's live view.
    #[schema(value_type = AggregateViewSchema)]
    pub actor: serde_json::Value,
}

/// Create a reseller (platform admins).
#[utoipa::path(
    post,
    path = "/api/v1/resellers",
    tag = "provisioning",
    request_body = NewReseller,
    responses(
        (status = 201, description = "Created.", body = Reseller),
        (status = 403, description = "`forbidden`: only platform admins create resellers.", body = ppu_protocol::api::ErrorBody),
        (status = 409, description = "`already_exists`: a reseller of that name exists.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn create_reseller(
    _: Admin,
    state: web::Data<AppState>,
    body: web::Json<NewReseller>,
) -> Result<HttpResponse, ApiError> {
    let name = name("name", &body.name, 200)?;
    let row = reseller::ActiveModel {
        name: Set(name.clone()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&state.db.write)
    .await
    .map_err(|e| {
        if unique_violation(&e) {
            ApiError::conflict(
                "already_exists",
                format!("a reseller named {name:?} exists"),
            )
        } else {
            ApiError::database(e)
        }
    })?;
    Ok(HttpResponse::Created().json(Reseller {
        id: row.id,
        name: row.name,
        created_at: row.created_at,
    }))
}

/// A reseller, its sites and its actor's aggregated usage.
#[utoipa::path(
    get,
    path = "/api/v1/resellers/{id}",
    tag = "provisioning",
    params(("id" = i64, Path, description = "Reseller id.")),
    responses(
        (status = 200, description = "The reseller.", body = ResellerDetail),
        (status = 404, description = "`not_found`: no such reseller, or another tenant's.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn show_reseller(
    who: Principal,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    who.read(id, "reseller")?;
    let row = reseller::Entity::find_by_id(id)
        .one(&state.db.read)
        .await?
        .ok_or_else(|| ApiError::not_found("reseller"))?;
    let sites = site::Entity::find()
        .filter(site::Column::ResellerId.eq(id))
        .order_by_asc(site::Column::Id)
        .all(&state.db.read)
        .await?;
    let view = state.fleet.reseller_view(id).await.ok_or_else(|| {
        ApiError::unavailable("actor_unavailable", "reseller actor unavailable", 1)
    })?;
    Ok(HttpResponse::Ok().json(ResellerDetail {
        id: row.id,
        name: row.name,
        created_at: row.created_at,
        sites: sites
            .into_iter()
            .map(|s| SiteSummary {
                id: s.id,
                account_name: s.account_name,
                name: s.name,
            })
            .collect(),
        actor: serde_json::to_value(view).map_err(ApiError::internal)?,
    }))
}

/// A new site (customer account).
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewSite {
    /// The reseller.
    reseller_id: i64,
    /// Unique account name, 1 to 100 printable characters (the collector's sender id).
    account_name: String,
    /// Display name (default: the account name).
    name: Option<String>,
}

/// A site.
#[derive(Debug, Serialize, ToSchema)]
pub struct Site {
    /// Site id.
    pub id: i64,
    /// Reseller.
    pub reseller_id: i64,
    /// Account name.
    pub account_name: String,
    /// Display name.
    pub name: String,
    /// Version of its collector configuration (0: none).
    pub config_version: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// A printer of a site.
#[derive(Debug, Serialize, ToSchema)]
pub struct SitePrinter {
    /// Printer id.
    pub id: i64,
    /// Serial number.
    pub serial_number: String,
    /// Direct-connected.
    pub direct: bool,
    /// Product name, once reported.
    pub product_name: Option<String>,
    /// Last upload that carried it.
    pub last_upload_at: Option<DateTime<Utc>>,
}

/// A collector of a site.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteCollector {
    /// Collector (sender) id.
    pub collector_id: String,
    /// Display name.
    pub name: String,
    /// Its last upload.
    pub last_upload_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A site, its printers and collectors, its actor's usage.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteDetail {
    /// The site.
    #[serde(flatten)]
    pub site: Site,
    /// Its printers, by serial number.
    pub printers: Vec<SitePrinter>,
    /// Its collectors.
    pub collectors: Vec<SiteCollector>,
    /// The site actor's live view.
    #[schema(value_type = AggregateViewSchema)]
    pub actor: serde_json::Value,
}

/// Create a site (admins of its reseller).
#[utoipa::path(
    post,
    path = "/api/v1/sites",
    tag = "provisioning",
    request_body = NewSite,
    responses(
        (status = 201, description = "Created.", body = Site),
        (status = 403, description = "`forbidden`: your role may not create sites.", body = ppu_protocol::api::ErrorBody),
        (status = 404, description = "`not_found`: no such reseller, or another tenant's.", body = ppu_protocol::api::ErrorBody),
        (status = 409, description = "`already_exists`: the account name is taken.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn create_site(
    who: Principal,
    state: web::Data<AppState>,
    body: web::Json<NewSite>,
) -> Result<HttpResponse, ApiError> {
    who.administer(body.reseller_id, "reseller")?;
    let account = name("account_name", &body.account_name, 100)?;
    let display = match &body.name {
        Some(n) => name("name", n, 200)?,
        None => account.clone(),
    };
    reseller::Entity::find_by_id(body.reseller_id)
        .one(&state.db.read)
        .await?
        .ok_or_else(|| ApiError::not_found("reseller"))?;
    let row = site::ActiveModel {
        reseller_id: Set(body.reseller_id),
        account_name: Set(account.clone()),
        name: Set(display),
        collector_config: Set(None),
        config_version: Set(0),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&state.db.write)
    .await
    .map_err(|e| {
        if unique_violation(&e) {
            ApiError::conflict(
                "already_exists",
                format!("a site with account name {account:?} exists"),
            )
        } else {
            ApiError::database(e)
        }
    })?;
    Ok(HttpResponse::Created().json(site_view(row)))
}

fn site_view(s: site::Model) -> Site {
    Site {
        id: s.id,
        reseller_id: s.reseller_id,
        account_name: s.account_name,
        name: s.name,
        config_version: s.config_version,
        created_at: s.created_at,
    }
}

/// A site, its printers and collectors, its actor's usage.
#[utoipa::path(
    get,
    path = "/api/v1/sites/{id}",
    tag = "provisioning",
    params(("id" = i64, Path, description = "Site id.")),
    responses(
        (status = 200, description = "The site.", body = SiteDetail),
        (status = 404, description = "`not_found`: no such site, or another tenant's.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn show_site(
    who: Principal,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let row = site::Entity::find_by_id(id)
        .one(&state.db.read)
        .await?
        .ok_or_else(|| ApiError::not_found("site"))?;
    who.read(row.reseller_id, "site")?;
    let printers = printer::Entity::find()
        .filter(printer::Column::SiteId.eq(id))
        .order_by_asc(printer::Column::SerialNumber)
        .all(&state.db.read)
        .await?;
    let collectors = credential::Entity::find()
        .filter(credential::Column::SiteId.eq(id))
        .filter(credential::Column::SenderKind.eq(SenderKind::Collector.as_str()))
        .all(&state.db.read)
        .await?;
    let view = state
        .fleet
        .site_view(id, row.reseller_id)
        .await
        .ok_or_else(|| ApiError::unavailable("actor_unavailable", "site actor unavailable", 1))?;
    Ok(HttpResponse::Ok().json(SiteDetail {
        site: site_view(row),
        printers: printers
            .into_iter()
            .map(|p| SitePrinter {
                id: p.id,
                serial_number: p.serial_number,
                direct: p.direct,
                product_name: p.product_name,
                last_upload_at: p.last_upload_at,
            })
            .collect(),
        collectors: collectors
            .into_iter()
            .map(|c| SiteCollector {
                collector_id: c.sender_id,
                name: c.name,
                last_upload_at: c.last_used_at,
                revoked_at: c.revoked_at,
            })
            .collect(),
        actor: serde_json::to_value(view).map_err(ApiError::internal)?,
    }))
}

/// The answer to creating a collector: shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewSender {
    /// `collector`.
    #[schema(value_type = String)]
    sender_kind: SenderKind,
    /// The collector's sender id (`col-...`).
    sender_id: String,
    /// Its site.
    site_id: i64,
    /// The shared secret. Shown once; the hub stores only derived keys.
    secret: String,
}

async fn insert_credential(
    state: &AppState,
    kind: SenderKind,
    sender_id: &str,
    site_id: i64,
    printer_id: Option<i64>,
    display: &str,
) -> Result<String, ApiError> {
    let secret = random_secret(32);
    let keys = SenderKeys::derive(secret.as_bytes(), kind, sender_id);
    credential::ActiveModel {
        sender_kind: Set(kind.as_str().to_owned()),
        sender_id: Set(sender_id.to_owned()),
        site_id: Set(site_id),
        printer_id: Set(printer_id),
        name: Set(display.to_owned()),
        keys: Set(keys.to_bytes().to_vec()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&state.db.write)
    .await
    .map_err(|e| {
        if unique_violation(&e) {
            ApiError::conflict("already_exists", "this sender already has a credential")
        } else {
            ApiError::database(e)
        }
    })?;
    state.forget_credential(kind, sender_id);
    Ok(secret)
}

/// A new collector credential.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewCollector {
    /// Its site.
    site_id: i64,
    /// Display name, 1 to 200 printable characters (default: `collector of <account>`).
    name: Option<String>,
}

/// Create a collector credential; the secret is shown once.
#[utoipa::path(
    post,
    path = "/api/v1/collectors",
    tag = "provisioning",
    request_body = NewCollector,
    responses(
        (status = 201, description = "Created; the secret is shown only here.", body = NewSender),
        (status = 403, description = "`forbidden`: your role may not create collectors.", body = ppu_protocol::api::ErrorBody),
        (status = 404, description = "`not_found`: no such site, or another tenant's.", body = ppu_protocol::api::ErrorBody),
        (status = 409, description = "`already_exists`.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn create_collector(
    who: Principal,
    state: web::Data<AppState>,
    body: web::Json<NewCollector>,
) -> Result<HttpResponse, ApiError> {
    let site = site::Entity::find_by_id(body.site_id)
        .one(&state.db.read)
        .await?
        .ok_or_else(|| ApiError::not_found("site"))?;
    who.administer(site.reseller_id, "site")?;
    let display = match &body.name {
        Some(n) => name("name", n, 200)?,
        None => format!("collector of {}", site.account_name),
    };
    let sender_id = format!("col-{}", &random_secret(9));
    let secret = insert_credential(
        &state,
        SenderKind::Collector,
        &sender_id,
        site.id,
        None,
        &display,
    )
    .await?;
    tracing::info!(site_id = site.id, collector_id = %sender_id, "collector created");
    Ok(HttpResponse::Created().json(NewSender {
        sender_kind: SenderKind::Collector,
        sender_id,
        site_id: site.id,
        secret,
    }))
}

/// A printer to register.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewPrinter {
    /// Its site.
    site_id: i64,
    /// 1 to 64 letters, digits, `-`, `_`, `.`.
    serial_number: String,
    /// Direct-connected (uploads itself; gets a secret).
    #[serde(default)]
    direct: bool,
    /// Expected seconds between uploads, 1 to 2678400 (default 3 hours, the firmware's interval).
    expected_interval_s: Option<i64>,
}

/// A registered printer; a direct printer's secret is shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredPrinter {
    /// Printer id.
    pub printer_id: i64,
    /// Serial number.
    pub serial_number: String,
    /// Its site.
    pub site_id: i64,
    /// Direct-connected.
    pub direct: bool,
    /// `printer` (direct printers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub sender_kind: Option<SenderKind>,
    /// The sender id: the serial number (direct printers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_id: Option<String>,
    /// The shared secret, shown once (direct printers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// Register a printer; `direct: true` creates its credential (secret shown once).
#[utoipa::path(
    post,
    path = "/api/v1/printers",
    tag = "provisioning",
    request_body = NewPrinter,
    responses(
        (status = 201, description = "Registered.", body = RegisteredPrinter),
        (status = 403, description = "`forbidden`: your role may not register printers.", body = ppu_protocol::api::ErrorBody),
        (status = 404, description = "`not_found`: no such site, or another tenant's.", body = ppu_protocol::api::ErrorBody),
        (status = 409, description = "`printer_of_another_site` or `already_exists`.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn register_printer(
    who: Principal,
    state: web::Data<AppState>,
    body: web::Json<NewPrinter>,
) -> Result<HttpResponse, ApiError> {
    let serial = serial_number(&body.serial_number)?;
    let interval = body.expected_interval_s.unwrap_or(10_800);
    if !(1..=31 * 86_400).contains(&interval) {
        return Err(ApiError::bad_request(
            "invalid_field",
            "expected_interval_s must be between 1 and 2678400 (31 days)",
        ));
    }
    let site = site::Entity::find_by_id(body.site_id)
        .one(&state.db.read)
        .await?
        .ok_or_else(|| ApiError::not_found("site"))?;
    who.administer(site.reseller_id, "site")?;
    let existing = state.printer_by_serial(&serial).await?;
    let printer = match existing {
        Some(p) if p.site_id != site.id => {
            return Err(ApiError::conflict(
                "printer_of_another_site",
                "this serial number is registered to another site",
            ));
        }
        Some(p) if p.direct && body.direct => {
            return Err(ApiError::conflict(
                "already_exists",
                "this printer is already registered for direct connection",
            ));
        }
        Some(p) => p,
        None => printer::ActiveModel {
            serial_number: Set(serial.clone()),
            site_id: Set(site.id),
            direct: Set(false),
            expected_interval_s: Set(interval),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&state.db.write)
        .await
        .map_err(|e| {
            if unique_violation(&e) {
                ApiError::conflict("already_exists", "this serial number is registered")
            } else {
                ApiError::database(e)
            }
        })?,
    };
    if !body.direct {
        return Ok(HttpResponse::Created().json(RegisteredPrinter {
            printer_id: printer.id,
            serial_number: printer.serial_number,
            site_id: site.id,
            direct: false,
            sender_kind: None,
            sender_id: None,
            secret: None,
        }));
    }
    let secret = insert_credential(
        &state,
        SenderKind::Printer,
        &serial,
        site.id,
        Some(printer.id),
        &serial,
    )
    .await?;
    printer::ActiveModel {
        id: Set(printer.id),
        direct: Set(true),
        expected_interval_s: Set(interval),
        ..Default::default()
    }
    .update(&state.db.write)
    .await?;
    tracing::info!(site_id = site.id, serial_number = %serial, "printer registered for direct connection");
    Ok(HttpResponse::Created().json(RegisteredPrinter {
        printer_id: printer.id,
        serial_number: serial.clone(),
        site_id: site.id,
        direct: true,
        sender_kind: Some(SenderKind::Printer),
        sender_id: Some(serial),
        secret: Some(secret),
    }))
}

/// The printer actor's live state, for support staff.
#[utoipa::path(
    get,
    path = "/api/v1/printers/{serial}",
    tag = "provisioning",
    params(("serial" = String, Path, description = "Serial number.")),
    responses(
        (status = 200, description = "The printer's live state.", body = PrinterViewSchema),
        (status = 400, description = "`invalid_serial_number`.", body = ppu_protocol::api::ErrorBody),
        (status = 404, description = "`not_found`: no such printer, or another tenant's.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn show_printer(
    who: Principal,
    state: web::Data<AppState>,
    serial: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let serial = serial_number(&serial)?;
    let row = state
        .printer_by_serial(&serial)
        .await?
        .ok_or_else(|| ApiError::not_found("printer"))?;
    let reseller_id = site::Entity::find_by_id(row.site_id)
        .one(&state.db.read)
        .await?
        .map_or(-1, |s| s.reseller_id);
    who.read(reseller_id, "printer")?;
    let view = state.fleet.printer_view(row.id).await.ok_or_else(|| {
        ApiError::unavailable("actor_unavailable", "printer actor unavailable", 1)
    })?;
    Ok(HttpResponse::Ok().json(view))
}
