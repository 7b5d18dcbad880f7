//! Contracts, billing totals, statements and their evidence.
//!
//! Access: platform admins everything; a reseller admin manages its
//! reseller's contracts and closes its statements; reseller users read and
//! export them; support staff see no money (403). Another reseller's site,
//! printer, contract or statement answers 404. CSV exports are audited.
//!
//! Every answer is JSON, or CSV with `Accept: text/csv` or `format=csv`:
//! UTF-8 with a byte order mark (so spreadsheet tools read it as UTF-8),
//! a header row, every field quoted, `.` as the decimal separator, ISO
//! dates. Text cells that start with `=`, `+`, `-`, `@`, tab or carriage
//! return get a leading `'`, so a spreadsheet never runs a job name or an
//! account id as a formula; numeric cells are written by the hub and never
//! start with those (amounts are never negative on totals; negative
//! adjustment amounts are numbers, not text, and stay unprefixed).

use std::collections::BTreeSet;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{NaiveDate, Utc};
use ppu_actors::billing::BillingError;
use ppu_actors::billing::contracts::{self, Contract, ListFilter};
use ppu_actors::billing::statements::{self, Evidence, Statement, StatementId};
use ppu_actors::billing::totals::{self, Group, GroupBy, Totals, TotalsQuery, TotalsScope};
use ppu_actors::domain::billing::{
    Basis, ContractDraft, ContractScope, InkMeasures, Measures, Metric, Span,
};
use sea_orm::EntityTrait as _;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;

use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::openapi::{
    ContractDraftSchema, ContractListSchema, ContractSchema, EvidenceSchema, StatementOrListSchema,
    StatementSchema, TotalsSchema,
};
use crate::state::AppState;

/// Register the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/contracts", web::post().to(create_contract))
        .route("/api/v1/contracts", web::get().to(list_contracts))
        .route("/api/v1/contracts/{id}", web::get().to(show_contract))
        .route("/api/v1/billing/totals", web::get().to(billing_totals))
        .route("/api/v1/billing/statements", web::get().to(find_statement))
        .route(
            "/api/v1/billing/statements/{id}",
            web::get().to(show_statement),
        )
        .route(
            "/api/v1/billing/statements/{id}/close",
            web::post().to(close_statement),
        )
        .route(
            "/api/v1/billing/statements/{id}/evidence",
            web::get().to(statement_evidence),
        );
}

impl From<BillingError> for ApiError {
    fn from(e: BillingError) -> Self {
        match e {
            BillingError::NotFound(what) => ApiError::not_found(&what),
            BillingError::Invalid { code, message } => ApiError::bad_request(code, message),
            BillingError::Conflict { code, message } => ApiError::conflict(code, message),
            BillingError::Db(e) => ApiError::database(e),
        }
    }
}

// ---------------------------------------------------------------------------
// Whose is it
// ---------------------------------------------------------------------------

/// The reseller of a site; 404 when there is no such site.
async fn site_reseller(state: &AppState, id: i64) -> Result<i64, ApiError> {
    ppu_entities::site::Entity::find_by_id(id)
        .one(&state.db.read)
        .await?
        .map(|s| s.reseller_id)
        .ok_or_else(|| ApiError::not_found("site"))
}

/// The reseller of a printer (through its site); 404 when there is no such printer.
async fn printer_reseller(state: &AppState, id: i64) -> Result<i64, ApiError> {
    let p = ppu_entities::printer::Entity::find_by_id(id)
        .one(&state.db.read)
        .await?
        .ok_or_else(|| ApiError::not_found("printer"))?;
    site_reseller(state, p.site_id)
        .await
        .map_err(|_| ApiError::not_found("printer"))
}

/// The reseller billed under a contract scope.
async fn scope_reseller(state: &AppState, scope: ContractScope) -> Result<i64, ApiError> {
    match scope {
        ContractScope::Site(id) => site_reseller(state, id).await,
        ContractScope::Printer(id) => printer_reseller(state, id).await,
    }
}

/// Money figures of a reseller: 403 for support staff, 404 when foreign.
fn read_money(who: &Principal, rid: i64, what: &str) -> Result<(), ApiError> {
    who.money(rid, what)
}

/// Change billing objects of a reseller: its admins and platform admins.
fn manage_money(who: &Principal, rid: i64, what: &str) -> Result<(), ApiError> {
    who.money(rid, what)?;
    who.administer(rid, what)
}

/// Record that `who` exported `what` as CSV.
async fn audit_export(state: &AppState, who: &Principal, rid: i64, object: &str, export: &str) {
    crate::auth::audit(
        state,
        who,
        Some(rid),
        "export.view",
        object,
        Some(json!({"export": export, "format": "csv", "via": "api"})),
    )
    .await;
}

// ---------------------------------------------------------------------------
// Contracts
// ---------------------------------------------------------------------------

fn contract_json(c: &Contract) -> Value {
    let r = &c.row;
    json!({
        "id": r.id,
        "scope": r.scope,
        "reseller_id": r.reseller_id,
        "site_id": r.site_id,
        "printer_id": r.printer_id,
        "name": r.name,
        "currency": c.terms.currency.code,
        "minor_units": c.terms.currency.minor_units,
        "period": {"kind": c.terms.cycle.kind.as_str(), "anchor_day": c.terms.cycle.anchor_day},
        "basis": c.terms.basis.as_str(),
        "effective_from": r.effective_from,
        "effective_to": r.effective_to,
        "grace_days": c.terms.grace_days,
        "minimum_commitment": c.terms.minimum_commitment,
        "fixed_fees": c.terms.fixed_fees,
        "charges": c.terms.charges.iter().map(|ch| json!({
            "name": ch.name,
            "code": ch.selector.code(),
            "metric": ch.selector.metric.as_str(),
            "filter": ch.selector.filter,
            "unit": ch.selector.metric.unit(),
            "pricing": ch.pricing,
        })).collect::<Vec<_>>(),
        "created_at": r.created_at,
    })
}

/// Create a contract for a site or a printer.
#[utoipa::path(
    post,
    path = "/api/v1/contracts",
    tag = "billing",
    request_body = ContractDraftSchema,
    responses(
        (status = 201, description = "Created.", body = ContractSchema),
        (status = 400, description = "`invalid_contract` (names the field).", body = ppu_protocol::api::ErrorBody),
        (status = 403, description = "`forbidden`: your role may not manage contracts.", body = ppu_protocol::api::ErrorBody),
        (status = 404, description = "`not_found`: no such site or printer, or another tenant's.", body = ppu_protocol::api::ErrorBody),
        (status = 409, description = "The contract overlaps another in force, or a closed period.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn create_contract(
    who: Principal,
    state: web::Data<AppState>,
    body: web::Json<ContractDraft>,
) -> Result<HttpResponse, ApiError> {
    // Whose: checked before the terms, so a foreign site stays hidden.
    let rid = match (body.site_id, body.printer_id) {
        (Some(site), None) => Some(site_reseller(&state, site).await?),
        (None, Some(printer)) => Some(printer_reseller(&state, printer).await?),
        _ => None,
    };
    match rid {
        Some(rid) => manage_money(&who, rid, "site")?,
        // Neither or both: the terms' validation explains (400).
        None if matches!(who.role, Role::PlatformAdmin | Role::ResellerAdmin) => {}
        None => return Err(crate::auth::forbidden()),
    }
    let spec = body
        .validate()
        .map_err(|e| ApiError::bad_request("invalid_contract", e.to_string()))?;
    let c = contracts::create(&state.db, spec, Utc::now()).await?;
    crate::auth::audit(
        &state,
        &who,
        Some(c.row.reseller_id),
        "contract.create",
        &format!("contract:{}", c.row.id),
        Some(json!({"scope": c.row.scope, "site_id": c.row.site_id, "printer_id": c.row.printer_id, "via": "api"})),
    )
    .await;
    Ok(HttpResponse::Created().json(contract_json(&c)))
}

/// Which contracts.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ContractFilter {
    /// Only this reseller's.
    reseller_id: Option<i64>,
    /// Only this site's.
    site_id: Option<i64>,
    /// Only this printer's.
    printer_id: Option<i64>,
}

/// Contracts, filtered.
#[utoipa::path(
    get,
    path = "/api/v1/contracts",
    tag = "billing",
    params(ContractFilter),
    responses(
        (status = 200, description = "The contracts.", body = ContractListSchema),
        (status = 403, description = "`forbidden`: your role may not read contracts.", body = ppu_protocol::api::ErrorBody),
        (status = 404, description = "`not_found`: the reseller, site or printer filtered on is another tenant's.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn list_contracts(
    who: Principal,
    state: web::Data<AppState>,
    q: web::Query<ContractFilter>,
) -> Result<HttpResponse, ApiError> {
    if who.role == Role::Support {
        return Err(crate::auth::forbidden());
    }
    if let Some(r) = q.reseller_id {
        read_money(&who, r, "reseller")?;
    }
    if let Some(s) = q.site_id {
        read_money(&who, site_reseller(&state, s).await?, "site")?;
    }
    if let Some(p) = q.printer_id {
        read_money(&who, printer_reseller(&state, p).await?, "printer")?;
    }
    let list = contracts::list(
        &state.db.read,
        ListFilter {
            reseller_id: q.reseller_id.or(who.scope()),
            site_id: q.site_id,
            printer_id: q.printer_id,
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({
        "contracts": list.iter().map(contract_json).collect::<Vec<_>>()
    })))
}

/// A contract.
#[utoipa::path(
    get,
    path = "/api/v1/contracts/{id}",
    tag = "billing",
    params(("id" = i64, Path, description = "Contract id.")),
    responses(
        (status = 200, description = "The contract.", body = ContractSchema),
        (status = 403, description = "`forbidden`: your role may not read contracts.", body = ppu_protocol::api::ErrorBody),
        (status = 404, description = "`not_found`: no such contract, or another tenant's.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn show_contract(
    who: Principal,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let c = contracts::get(&state.db.read, id.into_inner()).await?;
    read_money(&who, c.row.reseller_id, "contract")?;
    Ok(HttpResponse::Ok().json(contract_json(&c)))
}

// ---------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------

/// CSV writing: every field quoted, text cells defused against formulas.
mod csv {
    /// A text cell: quoted, with a leading `'` when a spreadsheet would read a formula.
    pub fn text(s: &str) -> String {
        let defused = match s.chars().next() {
            Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
            _ => s.to_owned(),
        };
        format!("\"{}\"", defused.replace('"', "\"\""))
    }

    /// A cell the hub formats itself (numbers, dates, codes): quoted, never defused.
    pub fn value(s: &str) -> String {
        format!("\"{}\"", s.replace('"', "\"\""))
    }

    /// A document: byte order mark, header row, rows, CRLF line ends (RFC 4180).
    pub fn document(header: &[String], rows: &[Vec<String>]) -> String {
        let mut out = String::from("\u{feff}");
        out.push_str(
            &header
                .iter()
                .map(|h| value(h))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push_str("\r\n");
        for r in rows {
            out.push_str(&r.join(","));
            out.push_str("\r\n");
        }
        out
    }
}

fn wants_csv(req: &HttpRequest, format: Option<&str>) -> Result<bool, ApiError> {
    match format {
        Some("csv") => return Ok(true),
        Some("json") => return Ok(false),
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_format",
                format!("format must be json or csv, not {other:?}"),
            ));
        }
        None => {}
    }
    Ok(req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv")))
}

fn csv_response(name: &str, body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}.csv\""),
        ))
        .body(body)
}

// ---------------------------------------------------------------------------
// Totals
// ---------------------------------------------------------------------------

/// What to total.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TotalsParams {
    /// `reseller`, `site` or `printer` (required).
    scope: Option<String>,
    /// Its id (required).
    id: Option<i64>,
    /// First day, `YYYY-MM-DD` (required).
    from: Option<String>,
    /// First day after the range, `YYYY-MM-DD` (required; exclusive).
    to: Option<String>,
    /// Comma-separated: `printer, site, media_type, print_category, ink_color, account_id, project_id, day, month`.
    group_by: Option<String>,
    /// `jobs` (default) or `meter`.
    basis: Option<String>,
    /// Include allocated amounts (default: true for sites and printers).
    amounts: Option<bool>,
    /// `json` (default) or `csv` (also `Accept: text/csv`).
    format: Option<String>,
}

fn date(field: &'static str, v: Option<&str>) -> Result<NaiveDate, ApiError> {
    let v = v.ok_or_else(|| {
        ApiError::bad_request("invalid_query", format!("{field} is required (YYYY-MM-DD)"))
    })?;
    NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
        ApiError::bad_request(
            "invalid_date",
            format!("{field} must be a date YYYY-MM-DD, not {v:?}"),
        )
    })
}

fn parse_totals(p: &TotalsParams) -> Result<TotalsQuery, ApiError> {
    let id = p.id.filter(|i| *i > 0).ok_or_else(|| {
        ApiError::bad_request("invalid_query", "id (a positive integer) is required")
    })?;
    let scope = match p.scope.as_deref() {
        Some("reseller") => TotalsScope::Reseller(id),
        Some("site") => TotalsScope::Site(id),
        Some("printer") => TotalsScope::Printer(id),
        _ => {
            return Err(ApiError::bad_request(
                "invalid_query",
                "scope must be reseller, site or printer",
            ));
        }
    };
    let from = date("from", p.from.as_deref())?;
    let to = date("to", p.to.as_deref())?;
    let span = Span::new(from, to).ok_or_else(|| {
        ApiError::bad_request("invalid_range", "to must be after from (to is exclusive)")
    })?;
    let mut group_by = Vec::new();
    for g in p
        .group_by
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
    {
        group_by.push(GroupBy::parse(g).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_group_by",
                format!(
                    "unknown group_by {g:?}: use {}",
                    GroupBy::ALL.map(GroupBy::as_str).join(", ")
                ),
            )
        })?);
    }
    let basis = match p.basis.as_deref() {
        None => Basis::Jobs,
        Some(b) => Basis::parse(b)
            .ok_or_else(|| ApiError::bad_request("invalid_query", "basis must be jobs or meter"))?,
    };
    Ok(TotalsQuery {
        scope,
        span,
        basis,
        amounts: p
            .amounts
            .unwrap_or(!matches!(scope, TotalsScope::Reseller(_))),
        group_by,
    })
}

/// The usage fields, raw integers and billing units (exact decimals).
fn usage_json(
    m: &Measures,
    ink: &std::collections::BTreeMap<String, InkMeasures>,
    ink_only: bool,
) -> Value {
    let ml = |ul: u64| Metric::Ink.to_unit(ul).to_string();
    let m2 = |mm2: u64| Metric::MediaArea.to_unit(mm2).to_string();
    let by_color: serde_json::Map<String, Value> = ink
        .iter()
        .map(|(c, v)| (c.clone(), json!(v.ink_ul)))
        .collect();
    if ink_only {
        return json!({
            "ink_ul": m.ink_ul, "ink_ml": ml(m.ink_ul),
            "non_hp_ink_ul": m.non_hp_ink_ul, "non_hp_ink_ml": ml(m.non_hp_ink_ul),
        });
    }
    json!({
        "jobs": m.jobs,
        "print_jobs": m.print_jobs,
        "scan_jobs": m.scan_jobs,
        "copy_jobs": m.copy_jobs,
        "pages": m.pages,
        "copies": m.copies,
        "media_area_mm2": m.media_area_mm2,
        "media_area_m2": m2(m.media_area_mm2),
        "media_length_mm": m.media_length_mm,
        "media_length_m": Metric::MediaLength.to_unit(m.media_length_mm).to_string(),
        "printed_area_mm2": m.printed_area_mm2,
        "printed_area_m2": m2(m.printed_area_mm2),
        "scanned_area_mm2": m.scan_area_mm2 + m.copy_scan_area_mm2,
        "scanned_area_m2": m2(m.scan_area_mm2 + m.copy_scan_area_mm2),
        "scan_area_mm2": m.scan_area_mm2,
        "copy_scan_area_mm2": m.copy_scan_area_mm2,
        "ink_ul": m.ink_ul,
        "ink_ml": ml(m.ink_ul),
        "ink_by_color_ul": by_color,
        "non_hp_ink_ul": m.non_hp_ink_ul,
        "non_hp_ink_ml": ml(m.non_hp_ink_ul),
    })
}

/// A job dimension's value: `""` (none recorded) is null.
fn dim(v: &Option<String>) -> Value {
    match v.as_deref() {
        Some("") | None => Value::Null,
        Some(s) => json!(s),
    }
}

fn key_json(t: &Totals, g: &Group) -> Value {
    let k = &g.key;
    let mut o = serde_json::Map::new();
    for by in &t.query.group_by {
        match by {
            GroupBy::Site => {
                o.insert("site_id".into(), json!(k.site_id));
                o.insert(
                    "account_name".into(),
                    json!(k.site_id.and_then(|s| t.site_names.get(&s))),
                );
            }
            GroupBy::Printer => {
                o.insert("printer_id".into(), json!(k.printer_id));
                o.insert(
                    "serial_number".into(),
                    json!(k.printer_id.and_then(|p| t.serials.get(&p))),
                );
            }
            GroupBy::Month => {
                o.insert(
                    "month".into(),
                    json!(k.month.map(|m| m.format("%Y-%m").to_string())),
                );
            }
            GroupBy::Day => {
                o.insert("day".into(), json!(k.day));
            }
            GroupBy::MediaType => {
                o.insert("media_type".into(), dim(&k.media_type));
            }
            GroupBy::PrintCategory => {
                o.insert("print_category".into(), dim(&k.print_category));
            }
            GroupBy::InkColor => {
                o.insert("ink_color".into(), dim(&k.ink_color));
            }
            GroupBy::AccountId => {
                o.insert("account_id".into(), dim(&k.account_id));
            }
            GroupBy::ProjectId => {
                o.insert("project_id".into(), dim(&k.project_id));
            }
        }
    }
    Value::Object(o)
}

fn totals_json(t: &Totals) -> Value {
    let scope = match t.query.scope {
        TotalsScope::Reseller(id) => ("reseller", id),
        TotalsScope::Site(id) => ("site", id),
        TotalsScope::Printer(id) => ("printer", id),
    };
    let amounts = |g: &Group| -> Value {
        if t.amounts.is_some() {
            json!(g.amounts)
        } else {
            Value::Null
        }
    };
    json!({
        "scope": scope.0,
        "id": scope.1,
        "from": t.query.span.start,
        "to": t.query.span.end,
        "to_is_exclusive": true,
        "basis": t.query.basis.as_str(),
        "group_by": t.query.group_by.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "groups": t.groups.iter().map(|g| json!({
            "key": key_json(t, g),
            "usage": usage_json(&g.measures, &g.ink, t.ink_only),
            "amounts": amounts(g),
        })).collect::<Vec<_>>(),
        "total": {
            "usage": usage_json(&t.total.measures, &t.total.ink, t.ink_only),
            "amounts": amounts(&t.total),
        },
        "amounts": t.amounts.as_ref().map(|a| a.iter().map(|(cur, v)| (cur.clone(), json!({
            "allocated": v.allocated, "unallocated": v.unallocated,
        }))).collect::<serde_json::Map<_, _>>()),
        "statements": t.statements,
        "source": "rollups",
    })
}

fn totals_csv(t: &Totals) -> String {
    let colors: BTreeSet<&String> = t.groups.iter().flat_map(|g| g.ink.keys()).collect();
    let currencies: BTreeSet<&String> = t.groups.iter().flat_map(|g| g.amounts.keys()).collect();
    let mut header: Vec<String> = vec!["from".into(), "to_exclusive".into(), "basis".into()];
    for by in &t.query.group_by {
        match by {
            GroupBy::Site => header.extend(["site_id".into(), "account_name".into()]),
            GroupBy::Printer => header.extend(["printer_id".into(), "serial_number".into()]),
            other => header.push(other.as_str().into()),
        }
    }
    let usage_cols: &[&str] = if t.ink_only {
        &["ink_ml", "non_hp_ink_ml"]
    } else {
        &[
            "jobs",
            "print_jobs",
            "scan_jobs",
            "copy_jobs",
            "pages",
            "copies",
            "media_area_m2",
            "media_length_m",
            "printed_area_m2",
            "scanned_area_m2",
            "ink_ml",
            "non_hp_ink_ml",
        ]
    };
    header.extend(usage_cols.iter().map(|c| (*c).to_owned()));
    if !t.ink_only {
        header.extend(colors.iter().map(|c| format!("ink_ml_{c}")));
    }
    header.extend(currencies.iter().map(|c| format!("amount_{c}")));
    let mut rows = Vec::new();
    for g in &t.groups {
        let mut r = vec![
            csv::value(&t.query.span.start.to_string()),
            csv::value(&t.query.span.end.to_string()),
            csv::value(t.query.basis.as_str()),
        ];
        let key = key_json(t, g);
        let cell = |v: &Value| match v {
            Value::Null => csv::value(""),
            Value::String(s) => csv::text(s),
            other => csv::value(&other.to_string()),
        };
        for by in &t.query.group_by {
            match by {
                GroupBy::Site => {
                    r.push(cell(&key["site_id"]));
                    r.push(cell(&key["account_name"]));
                }
                GroupBy::Printer => {
                    r.push(cell(&key["printer_id"]));
                    r.push(cell(&key["serial_number"]));
                }
                GroupBy::Month | GroupBy::Day => {
                    r.push(csv::value(key[by.as_str()].as_str().unwrap_or_default()))
                }
                other => r.push(cell(&key[other.as_str()])),
            }
        }
        let usage = usage_json(&g.measures, &g.ink, t.ink_only);
        for c in usage_cols {
            let v = &usage[*c];
            r.push(csv::value(&match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }));
        }
        if !t.ink_only {
            for c in &colors {
                let ul = g.ink.get(*c).map_or(0, |m| m.ink_ul);
                r.push(csv::value(&Metric::Ink.to_unit(ul).to_string()));
            }
        }
        for c in &currencies {
            r.push(csv::value(
                &g.amounts
                    .get(*c)
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            ));
        }
        rows.push(r);
    }
    csv::document(&header, &rows)
}

/// Usage totals and allocated amounts over a range of days, from the maintained rollups.
#[utoipa::path(
    get,
    path = "/api/v1/billing/totals",
    tag = "billing",
    params(TotalsParams),
    responses(
        (status = 200, description = "The totals, as JSON or CSV (UTF-8 with BOM).", content(
            (TotalsSchema = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "`invalid_query`, `invalid_date`, `invalid_range`, `invalid_group_by`, `invalid_format`.", body = ppu_protocol::api::ErrorBody),
        (status = 403, description = "`forbidden`: your role may not read billing figures.", body = ppu_protocol::api::ErrorBody),
        (status = 404, description = "`not_found`: no such reseller, site or printer, or another tenant's.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn billing_totals(
    who: Principal,
    req: HttpRequest,
    state: web::Data<AppState>,
    params: web::Query<TotalsParams>,
) -> Result<HttpResponse, ApiError> {
    let csv_out = wants_csv(&req, params.format.as_deref())?;
    let q = parse_totals(&params)?;
    let (rid, object) = match q.scope {
        TotalsScope::Reseller(id) => {
            read_money(&who, id, "reseller")?;
            ppu_entities::reseller::Entity::find_by_id(id)
                .one(&state.db.read)
                .await?
                .ok_or_else(|| ApiError::not_found("reseller"))?;
            (id, format!("reseller:{id}"))
        }
        TotalsScope::Site(id) => (site_reseller(&state, id).await?, format!("site:{id}")),
        TotalsScope::Printer(id) => (printer_reseller(&state, id).await?, format!("printer:{id}")),
    };
    read_money(&who, rid, "reseller")?;
    let started = std::time::Instant::now();
    let t = totals::totals(&state.db, q).await?;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "billing totals"
    );
    if csv_out {
        audit_export(&state, &who, rid, &object, "usage_totals").await;
        return Ok(csv_response("totals", totals_csv(&t)));
    }
    Ok(HttpResponse::Ok().json(totals_json(&t)))
}

// ---------------------------------------------------------------------------
// Statements
// ---------------------------------------------------------------------------

/// Which statement.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatementParams {
    /// The site (exactly one of `site` and `printer`).
    site: Option<i64>,
    /// The printer.
    printer: Option<i64>,
    /// `2026-03`, `2026-Q1` or any day inside the period; omitted: the list of statement ids.
    period: Option<String>,
    /// `json` (default) or `csv` (also `Accept: text/csv`).
    format: Option<String>,
}

/// The answer's format.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FormatParam {
    /// `json` (default) or `csv` (also `Accept: text/csv`).
    format: Option<String>,
}

fn statement_id(s: &str) -> Result<StatementId, ApiError> {
    StatementId::parse(s).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_statement_id",
            "a statement id looks like site-3-2026-03-01 or printer-17-2026-04-15",
        )
    })
}

fn statement_csv(st: &Statement) -> String {
    let header: Vec<String> = [
        "statement_id",
        "period",
        "period_start",
        "period_end_exclusive",
        "currency",
        "status",
        "line_no",
        "kind",
        "code",
        "description",
        "contract_id",
        "from",
        "to_exclusive",
        "adjusts",
        "quantity_raw",
        "raw_unit",
        "quantity",
        "unit",
        "pricing",
        "amount",
    ]
    .map(String::from)
    .to_vec();
    let head = |r: &mut Vec<String>| {
        r.push(csv::value(&st.id));
        r.push(csv::value(&st.period.label));
        r.push(csv::value(&st.period.start.to_string()));
        r.push(csv::value(&st.period.end.to_string()));
        r.push(csv::value(&st.currency));
        r.push(csv::value(&st.status));
    };
    let mut rows = Vec::new();
    for l in &st.lines {
        let mut r = Vec::new();
        head(&mut r);
        r.push(csv::value(&l.no.to_string()));
        r.push(csv::value(l.kind.as_str()));
        r.push(csv::text(&l.code));
        r.push(csv::text(&l.description));
        r.push(csv::value(&l.contract_id.to_string()));
        r.push(csv::value(&l.from.to_string()));
        r.push(csv::value(&l.to.to_string()));
        r.push(csv::value(l.adjusts.as_deref().unwrap_or("")));
        r.push(csv::value(&l.quantity_raw.to_string()));
        r.push(csv::value(&l.raw_unit));
        r.push(csv::value(&l.quantity.to_string()));
        r.push(csv::value(&l.unit));
        r.push(csv::text(&l.pricing));
        r.push(csv::value(&l.amount.to_string()));
        rows.push(r);
    }
    let mut r = Vec::new();
    head(&mut r);
    r.extend(std::iter::repeat_n(csv::value(""), 13));
    r.push(csv::value(&st.total.to_string()));
    r[7] = csv::value("total");
    rows.push(r);
    csv::document(&header, &rows)
}

async fn statement_response(
    state: &AppState,
    who: &Principal,
    req: &HttpRequest,
    format: Option<&str>,
    st: &Statement,
) -> Result<HttpResponse, ApiError> {
    if wants_csv(req, format)? {
        audit_export(
            state,
            who,
            st.reseller_id,
            &format!("statement:{}", st.id),
            "statement",
        )
        .await;
        return Ok(csv_response(&st.id, statement_csv(st)));
    }
    Ok(HttpResponse::Ok().json(st))
}

/// A site's or printer's statement of a period, or its statement ids.
#[utoipa::path(
    get,
    path = "/api/v1/billing/statements",
    tag = "billing",
    params(StatementParams),
    responses(
        (status = 200, description = "The statement (JSON or CSV), or `{statements: [ids]}` without `period`.", content(
            (StatementOrListSchema = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "`invalid_query`, `invalid_period`, `invalid_format`.", body = ppu_protocol::api::ErrorBody),
        (status = 403, description = "`forbidden`: your role may not read billing figures.", body = ppu_protocol::api::ErrorBody),
        (status = 404, description = "`not_found`: no such site, printer or contract, or another tenant's.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn find_statement(
    who: Principal,
    req: HttpRequest,
    state: web::Data<AppState>,
    p: web::Query<StatementParams>,
) -> Result<HttpResponse, ApiError> {
    let scope = match (p.site, p.printer) {
        (Some(s), None) => ContractScope::Site(s),
        (None, Some(pr)) => ContractScope::Printer(pr),
        _ => {
            return Err(ApiError::bad_request(
                "invalid_query",
                "give exactly one of site and printer",
            ));
        }
    };
    read_money(&who, scope_reseller(&state, scope).await?, scope.kind())?;
    match &p.period {
        Some(period) => {
            let st = statements::statement(&state.db, scope, period).await?;
            statement_response(&state, &who, &req, p.format.as_deref(), &st).await
        }
        None => {
            let ids = statements::list(&state.db, scope, Utc::now().date_naive()).await?;
            Ok(HttpResponse::Ok().json(json!({ "statements": ids })))
        }
    }
}

/// A statement by id, e.g. `site-3-2026-03-01`.
#[utoipa::path(
    get,
    path = "/api/v1/billing/statements/{id}",
    tag = "billing",
    params(("id" = String, Path, description = "Statement id: `site-<id>-<start>` or `printer-<id>-<start>`."), FormatParam),
    responses(
        (status = 200, description = "The statement, as JSON or CSV.", content(
            (StatementSchema = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "`invalid_statement_id`, `invalid_format`.", body = ppu_protocol::api::ErrorBody),
        (status = 403, description = "`forbidden`: your role may not read billing figures.", body = ppu_protocol::api::ErrorBody),
        (status = 404, description = "`not_found`: no such statement, or another tenant's.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn show_statement(
    who: Principal,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    f: web::Query<FormatParam>,
) -> Result<HttpResponse, ApiError> {
    let id = statement_id(&id)?;
    read_money(&who, scope_reseller(&state, id.scope).await?, "statement")?;
    let st = statements::statement_by_id(&state.db, &id).await?;
    statement_response(&state, &who, &req, f.format.as_deref(), &st).await
}

/// Close a statement's period (after its grace window, periods in order); a closed statement never changes.
#[utoipa::path(
    post,
    path = "/api/v1/billing/statements/{id}/close",
    tag = "billing",
    params(("id" = String, Path, description = "Statement id.")),
    responses(
        (status = 200, description = "The closed statement.", body = StatementSchema),
        (status = 400, description = "`invalid_statement_id`.", body = ppu_protocol::api::ErrorBody),
        (status = 403, description = "`forbidden`: your role may not close statements.", body = ppu_protocol::api::ErrorBody),
        (status = 404, description = "`not_found`: no such statement, or another tenant's.", body = ppu_protocol::api::ErrorBody),
        (status = 409, description = "Not closable yet (grace window, an earlier open period) or already closed.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn close_statement(
    who: Principal,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = statement_id(&id)?;
    let rid = scope_reseller(&state, id.scope).await?;
    manage_money(&who, rid, "statement")?;
    let st = statements::close(&state.db, &id, Utc::now()).await?;
    crate::auth::audit(
        &state,
        &who,
        Some(rid),
        "statement.close",
        &format!("statement:{}", st.id),
        Some(json!({"total": st.total, "digest": st.digest, "via": "api"})),
    )
    .await;
    Ok(HttpResponse::Ok().json(st))
}

fn evidence_csv(e: &Evidence) -> String {
    let header: Vec<String> = [
        "statement_id",
        "line_no",
        "reference",
        "printer_id",
        "serial_number",
        "at",
        "quantity_raw",
    ]
    .map(String::from)
    .to_vec();
    let rows: Vec<Vec<String>> = e
        .items
        .iter()
        .map(|i| {
            vec![
                csv::value(&e.statement_id),
                csv::value(&i.line_no.to_string()),
                csv::text(&i.reference),
                csv::value(&i.printer_id.to_string()),
                csv::text(&i.serial_number),
                csv::value(&i.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                csv::value(&i.quantity_raw.to_string()),
            ]
        })
        .collect();
    csv::document(&header, &rows)
}

/// The records behind each line of a statement, its canonical text and digest.
#[utoipa::path(
    get,
    path = "/api/v1/billing/statements/{id}/evidence",
    tag = "billing",
    params(("id" = String, Path, description = "Statement id."), FormatParam),
    responses(
        (status = 200, description = "The evidence, as JSON or CSV.", content(
            (EvidenceSchema = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "`invalid_statement_id`, `invalid_format`.", body = ppu_protocol::api::ErrorBody),
        (status = 403, description = "`forbidden`: your role may not read billing figures.", body = ppu_protocol::api::ErrorBody),
        (status = 404, description = "`not_found`: no such statement, or another tenant's.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn statement_evidence(
    who: Principal,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    f: web::Query<FormatParam>,
) -> Result<HttpResponse, ApiError> {
    let id = statement_id(&id)?;
    let rid = scope_reseller(&state, id.scope).await?;
    read_money(&who, rid, "statement")?;
    let e = statements::evidence(&state.db, &id).await?;
    if wants_csv(&req, f.format.as_deref())? {
        audit_export(
            &state,
            &who,
            rid,
            &format!("statement:{}", e.statement_id),
            "evidence",
        )
        .await;
        return Ok(csv_response(
            &format!("{}-evidence", e.statement_id),
            evidence_csv(&e),
        ));
    }
    Ok(HttpResponse::Ok().json(e))
}

#[cfg(test)]
mod tests {
    use super::csv;

    #[test]
    fn csv_cells_are_quoted_and_defused() {
        assert_eq!(csv::text("plain"), "\"plain\"");
        assert_eq!(csv::text("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv::text("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        for bad in ["+1", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            assert!(csv::text(bad).starts_with("\"'"), "{bad}");
        }
        assert_eq!(csv::value("-1.50"), "\"-1.50\"", "numbers stay numbers");
        let doc = csv::document(
            &["a".into(), "b".into()],
            &[vec![csv::value("1"), csv::text("x,y")]],
        );
        assert_eq!(doc, "\u{feff}\"a\",\"b\"\r\n\"1\",\"x,y\"\r\n");
    }
}
