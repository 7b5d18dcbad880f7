//! Alerts page: open alerts, updated live from `/api/v1/alerts/stream`
//! (Server-Sent Events, authenticated by the session cookie), with
//! acknowledge and clear buttons that call the JSON API with the session's
//! CSRF token in `X-CSRF-Token` (see `assets/portal.js`).

use actix_web::{HttpRequest, web};
use ppu_actors::alerts::state as alert_state;
use ppu_entities::{alert, printer, site};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;

use super::html::{self, Nav, e, url_part};
use super::{Page, Viewer, ok_html, viewer};
use crate::error::ApiError;
use crate::state::AppState;

/// Filters of the page (passed on to the stream).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsQuery {
    site: Option<i64>,
    printer: Option<String>,
}

/// One alert as a table row; `assets/portal.js` builds the same markup for
/// alerts that arrive over the stream.
fn row(v: &Viewer, a: &alert::Model, serial: Option<&str>) -> String {
    let printer = match serial {
        Some(s) => format!(
            "<a href=\"/portal/printers/{}\">{}</a>",
            e(&url_part(s)),
            e(s)
        ),
        None if a.collector_id.is_some() => {
            format!("<a href=\"/portal/sites/{}\">collector</a>", a.site_id)
        }
        None => "—".into(),
    };
    let actions = if v.operates() {
        let ack = if a.state == alert_state::ACTIVE {
            format!(
                "<button type=\"button\" data-action=\"acknowledge\" data-id=\"{}\">Acknowledge</button> ",
                a.id
            )
        } else {
            String::new()
        };
        format!(
            "{ack}<button type=\"button\" class=\"secondary\" data-action=\"clear\" data-id=\"{}\">Clear</button>",
            a.id
        )
    } else {
        "<span class=\"muted\">read only</span>".into()
    };
    let state = match a.state.as_str() {
        alert_state::ACKNOWLEDGED => format!(
            "{} <span class=\"muted\">by {}</span>",
            html::badge("info", "acknowledged"),
            e(a.acknowledged_by.as_deref().unwrap_or("?"))
        ),
        other => html::badge("warn", other),
    };
    format!(
        "<tr id=\"alert-{id}\" data-state=\"{st}\"><td>{sev}</td><td>{printer}</td><td>{msg}<br><code>{code}</code></td>\
<td class=\"state\">{state}</td><td>{first}<br><span class=\"muted\">last {last}</span></td><td>{occ}</td><td class=\"actions\">{actions}</td></tr>",
        id = a.id,
        st = e(&a.state),
        sev = html::badge(html::severity_kind(&a.severity), &a.severity),
        code = e(&a.code),
        msg = e(&a.message),
        first = html::time(Some(a.first_seen)),
        last = html::time(Some(a.last_seen)),
        occ = a.occurrences,
    )
}

/// `GET /portal/alerts`.
pub async fn page(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<AlertsQuery>,
) -> Page {
    let v = viewer(&state, &req).await?;
    let mut query = alert::Entity::find().filter(alert::Column::State.ne(alert_state::CLEARED));
    if let Some(r) = v.who.scope() {
        query = query.filter(alert::Column::ResellerId.eq(r));
    }
    let mut stream_params = Vec::new();
    let mut heading = String::new();
    if let Some(site_id) = q.site {
        let s = site::Entity::find_by_id(site_id)
            .one(&state.db.read)
            .await?
            .ok_or_else(|| ApiError::not_found("site"))?;
        v.who.read(s.reseller_id, "site")?;
        query = query.filter(alert::Column::SiteId.eq(site_id));
        stream_params.push(format!("site={site_id}"));
        heading = format!(
            "<p>Site <a href=\"/portal/sites/{}\">{}</a> · <a href=\"/portal/alerts\">all alerts</a></p>",
            s.id,
            e(&s.name)
        );
    }
    if let Some(serial) = &q.printer {
        let serial = crate::routes::admin::serial_number(serial)
            .map_err(|_| ApiError::not_found("printer"))?;
        let p = state
            .printer_by_serial(&serial)
            .await?
            .ok_or_else(|| ApiError::not_found("printer"))?;
        let s = site::Entity::find_by_id(p.site_id)
            .one(&state.db.read)
            .await?
            .ok_or_else(|| ApiError::not_found("printer"))?;
        v.who.read(s.reseller_id, "printer")?;
        query = query.filter(alert::Column::PrinterId.eq(p.id));
        stream_params.push(format!("printer={}", url_part(&serial)));
        heading = format!(
            "<p>Printer <a href=\"/portal/printers/{}\">{}</a> · <a href=\"/portal/alerts\">all alerts</a></p>",
            e(&url_part(&serial)),
            e(&serial)
        );
    }
    let rows = query
        .order_by_desc(alert::Column::Id)
        .limit(500)
        .all(&state.db.read)
        .await?;
    let ids: Vec<i64> = rows.iter().filter_map(|a| a.printer_id).collect();
    let serials: std::collections::HashMap<i64, String> = if ids.is_empty() {
        Default::default()
    } else {
        printer::Entity::find()
            .filter(printer::Column::Id.is_in(ids))
            .all(&state.db.read)
            .await?
            .into_iter()
            .map(|p| (p.id, p.serial_number))
            .collect()
    };
    let body_rows: String = rows
        .iter()
        .map(|a| {
            row(
                &v,
                a,
                a.printer_id
                    .and_then(|p| serials.get(&p))
                    .map(String::as_str),
            )
        })
        .collect();
    let stream = if stream_params.is_empty() {
        "/api/v1/alerts/stream".to_owned()
    } else {
        format!("/api/v1/alerts/stream?{}", stream_params.join("&"))
    };
    let body = format!(
        "{heading}<p id=\"live-status\" role=\"status\" class=\"live\" data-state=\"connecting\">Connecting to the live alert stream…</p>\
<p id=\"alert-message\" role=\"alert\" class=\"error\" hidden></p>\
<div class=\"table-wrap\"><table id=\"alerts\" data-stream=\"{stream}\" data-by=\"{by}\" data-operate=\"{operate}\">\
<caption class=\"sr-only\">Open alerts, newest first; new alerts appear at the top without reloading</caption><thead><tr>\
<th scope=\"col\">Severity</th><th scope=\"col\">Printer</th><th scope=\"col\">Alert</th>\
<th scope=\"col\">State</th><th scope=\"col\">Seen</th><th scope=\"col\">Count</th><th scope=\"col\">Actions</th>\
</tr></thead><tbody>{body_rows}</tbody></table></div>\
<p id=\"no-alerts\" class=\"muted\"{hidden}>No open alerts.</p>",
        stream = e(&stream),
        by = e(&v.email),
        operate = v.operates(),
        hidden = if rows.is_empty() { "" } else { " hidden" },
    );
    Ok(ok_html(html::page(&v, Nav::Alerts, "Alerts", &body)))
}
