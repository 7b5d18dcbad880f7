//! Provisioning and inspection (admin token for now; accounts come with the portal).
//!
//! Secrets are generated here, returned once, and never stored: the hub keeps
//! only the keys derived from them.

use actix_web::{FromRequest, HttpRequest, HttpResponse, dev::Payload, web};
use chrono::Utc;
use ppu_entities::{credential, printer, reseller, site};
use ppu_protocol::envelope::{SenderKeys, SenderKind};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, SqlErr};
use serde::{Deserialize, Serialize};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::files::random_secret;
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

#[derive(Debug, Deserialize)]
struct NewReseller {
    name: String,
}

async fn create_reseller(
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
    Ok(HttpResponse::Created().json(serde_json::json!({
        "id": row.id, "name": row.name, "created_at": row.created_at,
    })))
}

async fn show_reseller(
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
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "id": row.id,
        "name": row.name,
        "created_at": row.created_at,
        "sites": sites.iter().map(|s| serde_json::json!({"id": s.id, "account_name": s.account_name, "name": s.name})).collect::<Vec<_>>(),
        "actor": view,
    })))
}

#[derive(Debug, Deserialize)]
struct NewSite {
    reseller_id: i64,
    account_name: String,
    name: Option<String>,
}

async fn create_site(
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
    Ok(HttpResponse::Created().json(site_json(&row)))
}

fn site_json(s: &site::Model) -> serde_json::Value {
    serde_json::json!({
        "id": s.id, "reseller_id": s.reseller_id, "account_name": s.account_name,
        "name": s.name, "config_version": s.config_version, "created_at": s.created_at,
    })
}

async fn show_site(
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
    let mut json = site_json(&row);
    json["printers"] = printers
        .iter()
        .map(|p| {
            serde_json::json!({
                "id": p.id, "serial_number": p.serial_number, "direct": p.direct,
                "product_name": p.product_name, "last_upload_at": p.last_upload_at,
            })
        })
        .collect();
    json["collectors"] = collectors
        .iter()
        .map(|c| {
            serde_json::json!({
                "collector_id": c.sender_id, "name": c.name,
                "last_upload_at": c.last_used_at, "revoked_at": c.revoked_at,
            })
        })
        .collect();
    json["actor"] = serde_json::to_value(view).map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(json))
}

/// The answer to creating a sender: shown once.
#[derive(Debug, Serialize)]
struct NewSender {
    sender_kind: SenderKind,
    sender_id: String,
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

#[derive(Debug, Deserialize)]
struct NewCollector {
    site_id: i64,
    name: Option<String>,
}

async fn create_collector(
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

#[derive(Debug, Deserialize)]
struct NewPrinter {
    site_id: i64,
    serial_number: String,
    #[serde(default)]
    direct: bool,
    /// Expected seconds between uploads (default 3 hours, the firmware's interval).
    expected_interval_s: Option<i64>,
}

async fn register_printer(
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
        return Ok(HttpResponse::Created().json(serde_json::json!({
            "printer_id": printer.id, "serial_number": printer.serial_number, "site_id": site.id, "direct": false,
        })));
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
    Ok(HttpResponse::Created().json(serde_json::json!({
        "printer_id": printer.id,
        "serial_number": serial,
        "site_id": site.id,
        "direct": true,
        "sender_kind": SenderKind::Printer,
        "sender_id": serial,
        "secret": secret,
    })))
}

async fn show_printer(
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
