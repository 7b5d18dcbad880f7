//! Fleet overview and printer page.

use std::collections::{BTreeMap, HashMap};

use actix_web::{HttpRequest, web};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use ppu_actors::alerts::state as alert_state;
use ppu_actors::domain::alerts::AlertThresholds;
use ppu_entities::{alert, job, printer, reseller, site, status_snapshot};
use ppu_protocol::model::{ConsumableState, EngineState, PrinterStatus};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::html::{self, Nav, e, url_part};
use super::{Page, PortalError, ok_html, viewer};
use crate::error::ApiError;
use crate::state::AppState;

/// Printers shown at most on the overview (the rest are counted).
const OVERVIEW_LIMIT: usize = 1000;

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

/// The latest stored status of each printer: `(taken_at, status)`.
pub(super) async fn latest_status(
    state: &AppState,
    printer_ids: &[i64],
) -> Result<HashMap<i64, (DateTime<Utc>, PrinterStatus)>, DbErr> {
    let mut out = HashMap::new();
    for chunk in printer_ids.chunks(500) {
        let ids: Vec<Option<i64>> = status_snapshot::Entity::find()
            .select_only()
            .expr_as(
                sea_orm::sea_query::ExprTrait::max(Expr::col(status_snapshot::Column::Id)),
                "id",
            )
            .filter(status_snapshot::Column::PrinterId.is_in(chunk.to_vec()))
            .filter(status_snapshot::Column::Status.is_not_null())
            .group_by(status_snapshot::Column::PrinterId)
            .into_tuple()
            .all(&state.db.read)
            .await?;
        let ids: Vec<i64> = ids.into_iter().flatten().collect();
        if ids.is_empty() {
            continue;
        }
        let rows = status_snapshot::Entity::find()
            .filter(status_snapshot::Column::Id.is_in(ids))
            .all(&state.db.read)
            .await?;
        for r in rows {
            if let Some(s) = r
                .status
                .and_then(|j| serde_json::from_value::<PrinterStatus>(j).ok())
            {
                out.insert(r.printer_id, (r.taken_at, s));
            }
        }
    }
    Ok(out)
}

/// Alert thresholds per reseller, loaded once each.
pub(super) struct Thresholds<'a> {
    state: &'a AppState,
    cache: HashMap<i64, AlertThresholds>,
}

impl<'a> Thresholds<'a> {
    pub(super) fn new(state: &'a AppState) -> Self {
        Self {
            state,
            cache: HashMap::new(),
        }
    }

    pub(super) async fn get(&mut self, reseller_id: i64) -> AlertThresholds {
        if let Some(t) = self.cache.get(&reseller_id) {
            return t.clone();
        }
        let t = ppu_actors::alerts::thresholds(&self.state.db.read, reseller_id)
            .await
            .unwrap_or_default();
        self.cache.insert(reseller_id, t.clone());
        t
    }
}

/// Consumables that need attention: `(label, detail)`.
pub(super) fn low_consumables(
    s: &PrinterStatus,
    t: &AlertThresholds,
    today: NaiveDate,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let soon = today + Duration::days(30);
    for c in &s.cartridges {
        let label = format!("{} ink", c.color.0.replace('_', " "));
        let bad_state = matches!(
            c.state,
            ConsumableState::Low
                | ConsumableState::VeryLow
                | ConsumableState::Empty
                | ConsumableState::Expired
                | ConsumableState::Missing
                | ConsumableState::Failed
        );
        let low = c.level_pct.is_some_and(|p| p <= t.cartridge_low_pct);
        if bad_state || low {
            let detail = match c.level_pct {
                Some(p) => format!("{p}\u{a0}%"),
                None => consumable_state(c.state).to_owned(),
            };
            out.push((label, detail));
        } else if c.expires_on.is_some_and(|d| d <= soon) {
            out.push((label, format!("expires {}", c.expires_on.unwrap_or(today))));
        }
    }
    for h in &s.printheads {
        let label = format!("printhead {}", h.slot);
        let bad_state = matches!(
            h.state,
            ConsumableState::ReplaceSoon
                | ConsumableState::Failed
                | ConsumableState::Expired
                | ConsumableState::Missing
        );
        let weak = h.health_pct.is_some_and(|p| p < t.printhead_health_min_pct);
        if bad_state || weak {
            let detail = match h.health_pct {
                Some(p) => format!("health {p}\u{a0}%"),
                None => consumable_state(h.state).to_owned(),
            };
            out.push((label, detail));
        }
    }
    out
}

pub(super) fn consumable_state(s: ConsumableState) -> &'static str {
    match s {
        ConsumableState::Ok => "ok",
        ConsumableState::Low => "low",
        ConsumableState::VeryLow => "very low",
        ConsumableState::Empty => "empty",
        ConsumableState::Expired => "expired",
        ConsumableState::Missing => "missing",
        ConsumableState::Failed => "failed",
        ConsumableState::ReplaceSoon => "replace soon",
        ConsumableState::Unknown => "unknown",
    }
}

fn consumable_badge(s: ConsumableState) -> String {
    let kind = match s {
        ConsumableState::Ok => "ok",
        ConsumableState::Low | ConsumableState::ReplaceSoon | ConsumableState::VeryLow => "warn",
        ConsumableState::Unknown => "muted",
        _ => "bad",
    };
    html::badge(kind, consumable_state(s))
}

/// The state badge of a printer: not reporting, or the engine state.
pub(super) fn printer_state_badge(
    p: &printer::Model,
    status: Option<&PrinterStatus>,
    stale_factor: u32,
    now: DateTime<Utc>,
) -> String {
    let silent_after = Duration::seconds(p.expected_interval_s.max(1) * i64::from(stale_factor));
    match p.last_upload_at {
        None => return html::badge("muted", "never reported"),
        Some(t) if now.signed_duration_since(t) > silent_after => {
            return html::badge("bad", "not reporting");
        }
        _ => {}
    }
    match status.map(|s| s.engine.state) {
        Some(EngineState::Ready) => html::badge("ok", "ready"),
        Some(EngineState::Printing) => html::badge("ok", "printing"),
        Some(EngineState::Sleep) => html::badge("ok", "sleep"),
        Some(EngineState::Booting) => html::badge("info", "booting"),
        Some(EngineState::Warning) => html::badge("warn", "warning"),
        Some(EngineState::Error) => html::badge("bad", "error"),
        Some(EngineState::Unknown) | None => html::badge("muted", "unknown"),
    }
}

/// Open (not cleared) alerts in the viewer's scope.
pub(super) async fn open_alerts(
    state: &AppState,
    scope: Option<i64>,
) -> Result<Vec<alert::Model>, DbErr> {
    let mut q = alert::Entity::find().filter(alert::Column::State.ne(alert_state::CLEARED));
    if let Some(r) = scope {
        q = q.filter(alert::Column::ResellerId.eq(r));
    }
    q.order_by_desc(alert::Column::Id)
        .limit(10_000)
        .all(&state.db.read)
        .await
}

// ---------------------------------------------------------------------------
// Overview
// ---------------------------------------------------------------------------

/// `GET /portal/`: sites and printers in the viewer's scope.
pub async fn overview(state: web::Data<AppState>, req: HttpRequest) -> Page {
    let v = viewer(&state, &req).await?;
    let scope = v.who.scope();
    let now = Utc::now();
    let mut sq = site::Entity::find();
    if let Some(r) = scope {
        sq = sq.filter(site::Column::ResellerId.eq(r));
    }
    let sites = sq
        .order_by_asc(site::Column::ResellerId)
        .order_by_asc(site::Column::Name)
        .all(&state.db.read)
        .await?;
    let mut pq = printer::Entity::find();
    if scope.is_some() {
        pq = pq.filter(printer::Column::SiteId.is_in(sites.iter().map(|s| s.id)));
    }
    let printers = pq
        .order_by_asc(printer::Column::SerialNumber)
        .all(&state.db.read)
        .await?;
    let total_printers = printers.len();
    let shown: Vec<&printer::Model> = printers.iter().take(OVERVIEW_LIMIT).collect();
    let ids: Vec<i64> = shown.iter().map(|p| p.id).collect();
    let statuses = latest_status(&state, &ids).await?;
    let alerts = open_alerts(&state, scope).await?;
    let resellers: HashMap<i64, String> = if scope.is_none() {
        reseller::Entity::find()
            .all(&state.db.read)
            .await?
            .into_iter()
            .map(|r| (r.id, r.name))
            .collect()
    } else {
        HashMap::new()
    };
    let mut alerts_by_printer: HashMap<i64, Vec<&alert::Model>> = HashMap::new();
    let mut alerts_by_site: HashMap<i64, usize> = HashMap::new();
    for a in &alerts {
        *alerts_by_site.entry(a.site_id).or_default() += 1;
        if let Some(p) = a.printer_id {
            alerts_by_printer.entry(p).or_default().push(a);
        }
    }
    let mut by_site: BTreeMap<i64, Vec<&printer::Model>> = BTreeMap::new();
    for p in &shown {
        by_site.entry(p.site_id).or_default().push(p);
    }
    let mut thresholds = Thresholds::new(&state);
    let today = now.date_naive();

    let mut reporting = 0usize;
    let mut low_total = 0usize;
    let mut sections = String::new();
    for s in &sites {
        let t = thresholds.get(s.reseller_id).await;
        let list = by_site.get(&s.id).map(Vec::as_slice).unwrap_or(&[]);
        let mut rows = String::new();
        for p in list {
            let status = statuses.get(&p.id).map(|(_, s)| s);
            let silent_after =
                Duration::seconds(p.expected_interval_s.max(1) * i64::from(t.stale_factor));
            if p.last_upload_at
                .is_some_and(|t| now.signed_duration_since(t) <= silent_after)
            {
                reporting += 1;
            }
            let low = status
                .map(|s| low_consumables(s, &t, today))
                .unwrap_or_default();
            if !low.is_empty() {
                low_total += 1;
            }
            let low_html = if low.is_empty() {
                "<span class=\"muted\">none</span>".to_owned()
            } else {
                let items: String = low
                    .iter()
                    .map(|(l, d)| format!("<li>{}: {}</li>", e(l), e(d)))
                    .collect();
                format!("<ul class=\"plain low\">{items}</ul>")
            };
            let pa = alerts_by_printer
                .get(&p.id)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let alert_html = if pa.is_empty() {
                "<span class=\"muted\">none</span>".to_owned()
            } else {
                let worst = pa
                    .iter()
                    .map(|a| {
                        a.severity
                            .parse::<ppu_protocol::model::Severity>()
                            .unwrap_or_default()
                    })
                    .min()
                    .unwrap_or_default();
                format!(
                    "<a href=\"/portal/alerts?printer={}\">{} {}</a>",
                    e(&url_part(&p.serial_number)),
                    html::badge(html::severity_kind(worst.as_str()), worst.as_str()),
                    pa.len()
                )
            };
            rows.push_str(&format!(
                "<tr data-serial=\"{serial}\"><th scope=\"row\"><a href=\"/portal/printers/{href}\">{serial}</a></th>\
<td>{model}</td><td>{state}</td><td>{seen}<br><span class=\"muted\">{ago}</span></td><td>{alert_html}</td><td>{low_html}</td></tr>",
                serial = e(&p.serial_number),
                href = e(&url_part(&p.serial_number)),
                model = e(p.product_name.as_deref().unwrap_or("—")),
                state = printer_state_badge(p, status, t.stale_factor, now),
                seen = html::time(p.last_upload_at),
                ago = e(&html::ago(p.last_upload_at, now)),
            ));
        }
        let table = if list.is_empty() {
            "<p class=\"muted\">No printers registered at this site yet.</p>".to_owned()
        } else {
            format!(
                "<div class=\"table-wrap\"><table><caption class=\"sr-only\">Printers of {name}</caption><thead><tr>\
<th scope=\"col\">Serial number</th><th scope=\"col\">Model</th><th scope=\"col\">State</th>\
<th scope=\"col\">Last seen</th><th scope=\"col\">Open alerts</th><th scope=\"col\">Consumables</th>\
</tr></thead><tbody>{rows}</tbody></table></div>",
                name = e(&s.name)
            )
        };
        let reseller = resellers
            .get(&s.reseller_id)
            .map(|n| format!(" <span class=\"muted\">· reseller {}</span>", e(n)))
            .unwrap_or_default();
        let site_alerts = alerts_by_site.get(&s.id).copied().unwrap_or(0);
        sections.push_str(&format!(
            "<section class=\"card\" aria-labelledby=\"site-{id}\"><h2 id=\"site-{id}\"><a href=\"/portal/sites/{id}\">{name}</a> \
{account}{reseller}</h2><p class=\"muted\">{n} printer(s) · {site_alerts} open alert(s)</p>{table}</section>",
            id = s.id,
            name = e(&s.name),
            account = if s.account_name == s.name {
                String::new()
            } else {
                format!(" <span class=\"muted\">({})</span>", e(&s.account_name))
            },
            n = list.len(),
        ));
    }
    if sites.is_empty() {
        sections.push_str("<p class=\"muted\">No sites yet.</p>");
    }
    let more = if total_printers > OVERVIEW_LIMIT {
        format!(
            "<p class=\"notice\">Showing the first {OVERVIEW_LIMIT} of {total_printers} printers; open a site to see all of its printers.</p>"
        )
    } else {
        String::new()
    };
    let summary = format!(
        "<ul class=\"summary\" aria-label=\"Summary\">\
<li><span class=\"big\" id=\"count-sites\">{}</span> sites</li>\
<li><span class=\"big\" id=\"count-printers\">{}</span> printers</li>\
<li><span class=\"big\">{}</span> reporting</li>\
<li><a href=\"/portal/alerts\"><span class=\"big\" id=\"count-alerts\">{}</span> open alerts</a></li>\
<li><span class=\"big\">{}</span> with consumables needing attention</li></ul>",
        sites.len(),
        total_printers,
        reporting,
        alerts.len(),
        low_total
    );
    Ok(ok_html(html::page(
        &v,
        Nav::Fleet,
        "Fleet",
        &format!("{summary}{more}{sections}"),
    )))
}

// ---------------------------------------------------------------------------
// Printer page
// ---------------------------------------------------------------------------

/// Days shown in the printer's usage chart.
const CHART_DAYS: i64 = 30;

/// `GET /portal/printers/{serial}`.
pub async fn printer(
    state: web::Data<AppState>,
    req: HttpRequest,
    serial: web::Path<String>,
) -> Page {
    let v = viewer(&state, &req).await?;
    let serial = crate::routes::admin::serial_number(&serial)
        .map_err(|_| PortalError::Api(ApiError::not_found("printer")))?;
    let p = state
        .printer_by_serial(&serial)
        .await?
        .ok_or_else(|| ApiError::not_found("printer"))?;
    let s = site::Entity::find_by_id(p.site_id)
        .one(&state.db.read)
        .await?
        .ok_or_else(|| ApiError::not_found("printer"))?;
    v.who.read(s.reseller_id, "printer")?;
    let view = state.fleet.printer_view(p.id).await.ok_or_else(|| {
        ApiError::unavailable("actor_unavailable", "printer actor unavailable, retry", 1)
    })?;
    let t = ppu_actors::alerts::thresholds(&state.db.read, s.reseller_id)
        .await
        .unwrap_or_default();
    let now = Utc::now();
    let st = &view.state;
    // The actor keeps its documents packed: unpack each once.
    let (config, status, counters) = (st.config(), st.status(), st.counters());
    let mut body = String::new();

    // Configuration.
    let cfg = config.as_ref();
    body.push_str(&format!(
        "<section class=\"card\" aria-labelledby=\"h-config\"><h2 id=\"h-config\">Configuration</h2><dl class=\"grid\">\
<dt>Model</dt><dd>{model}</dd><dt>Product number</dt><dd>{pn}</dd><dt>Serial number</dt><dd>{serial}</dd>\
<dt>Firmware</dt><dd>{fw}</dd><dt>Site</dt><dd><a href=\"/portal/sites/{site_id}\">{site}</a></dd>\
<dt>Connection</dt><dd>{conn}</dd><dt>State</dt><dd>{state}{detail}</dd>\
<dt>Last upload</dt><dd>{last} <span class=\"muted\">({ago})</span></dd><dt>Expected every</dt><dd>{every}</dd>\
<dt>Counter anomalies</dt><dd>{anomalies}</dd></dl></section>",
        model = e(cfg.map_or(p.product_name.as_deref().unwrap_or("—"), |c| &c.product_name)),
        pn = e(cfg.map_or(p.product_number.as_deref().unwrap_or("—"), |c| &c.product_number)),
        serial = e(&p.serial_number),
        fw = e(cfg.map_or(p.firmware_version.as_deref().unwrap_or("—"), |c| &c.firmware_version)),
        site_id = s.id,
        site = e(&s.name),
        conn = if p.direct { "direct (printer firmware)" } else { "through the site's Data Collector" },
        state = printer_state_badge(&p, status.as_ref(), t.stale_factor, now),
        detail = status
            .as_ref()
            .and_then(|s| s.engine.detail.as_deref())
            .map(|d| format!(" <span class=\"muted\">{}</span>", e(d)))
            .unwrap_or_default(),
        last = html::time(p.last_upload_at.or(st.last_upload_at)),
        ago = e(&html::ago(p.last_upload_at.or(st.last_upload_at), now)),
        every = e(&humanize_secs(p.expected_interval_s)),
        anomalies = st.anomalies,
    ));

    // Alerts of this printer.
    let alerts = alert::Entity::find()
        .filter(alert::Column::PrinterId.eq(p.id))
        .filter(alert::Column::State.ne(alert_state::CLEARED))
        .order_by_desc(alert::Column::Id)
        .limit(50)
        .all(&state.db.read)
        .await?;
    let alert_rows: String = alerts
        .iter()
        .map(|a| {
            format!(
                "<li>{} <code>{}</code> {} <span class=\"muted\">({}, since {})</span></li>",
                html::badge(html::severity_kind(&a.severity), &a.severity),
                e(&a.code),
                e(&a.message),
                e(&a.state),
                html::time(Some(a.first_seen)),
            )
        })
        .collect();
    body.push_str(&format!(
        "<section class=\"card\" aria-labelledby=\"h-alerts\"><h2 id=\"h-alerts\">Open alerts</h2>{}\
<p><a href=\"/portal/alerts?printer={}\">Manage this printer's alerts</a></p></section>",
        if alert_rows.is_empty() {
            "<p class=\"muted\">None.</p>".to_owned()
        } else {
            format!("<ul class=\"plain\">{alert_rows}</ul>")
        },
        e(&url_part(&p.serial_number)),
    ));

    // Consumables and media.
    match &status {
        Some(status) => {
            let soon = now.date_naive() + Duration::days(30);
            let expiry = |d: Option<NaiveDate>| match d {
                Some(d) if d < now.date_naive() => format!("{} {}", html::date(Some(d)), html::badge("bad", "expired")),
                Some(d) if d <= soon => format!("{} {}", html::date(Some(d)), html::badge("warn", "soon")),
                other => html::date(other),
            };
            let carts: String = status
                .cartridges
                .iter()
                .map(|c| {
                    format!(
                        "<tr><th scope=\"row\">{slot}</th><td>{color}</td><td>{pn}</td><td>{state}</td><td>{level}</td>\
<td>{used} of {cap} ml</td><td>{exp}</td></tr>",
                        slot = e(&c.slot),
                        color = e(&c.color.0.replace('_', " ")),
                        pn = e(&c.product_number),
                        state = consumable_badge(c.state),
                        level = html::meter(&format!("{} ink level", c.color.0), c.level_pct, t.cartridge_low_pct),
                        used = e(&ml(c.ink_used_ul)),
                        cap = e(&ml(c.capacity_ul)),
                        exp = expiry(c.expires_on),
                    )
                })
                .collect();
            let heads: String = status
                .printheads
                .iter()
                .map(|h| {
                    format!(
                        "<tr><th scope=\"row\">{slot}</th><td>{colors}</td><td>{pn}</td><td>{state}</td><td>{health}</td><td>{exp}</td></tr>",
                        slot = e(&h.slot),
                        colors = e(&h.colors.iter().map(|c| c.0.replace('_', " ")).collect::<Vec<_>>().join(", ")),
                        pn = e(&h.product_number),
                        state = consumable_badge(h.state),
                        health = html::meter(&format!("printhead {} health", h.slot), h.health_pct, t.printhead_health_min_pct),
                        exp = expiry(h.expires_on),
                    )
                })
                .collect();
            let media_name = |id: &str| {
                status
                    .supported_media_types
                    .iter()
                    .find(|m| m.id == id)
                    .and_then(|m| m.names.get("en").cloned())
                    .unwrap_or_else(|| id.to_owned())
            };
            let media: String = status
                .media_sources
                .iter()
                .map(|m| {
                    format!(
                        "<tr><th scope=\"row\">{id}</th><td>{kind}</td><td>{state}</td><td>{ty}</td><td>{w}</td><td>{h}</td></tr>",
                        id = e(&m.id),
                        kind = e(&format!("{:?}", m.kind).to_lowercase()),
                        state = e(&format!("{:?}", m.state).to_lowercase()),
                        ty = e(&m.media_type.as_deref().map(media_name).unwrap_or_else(|| "—".into())),
                        w = m.width_mm.map_or("—".into(), |w| format!("{w} mm")),
                        h = m.height_mm.map_or("—".into(), |h| format!("{h} mm")),
                    )
                })
                .collect();
            body.push_str(&format!(
                "<section class=\"card\" aria-labelledby=\"h-ink\"><h2 id=\"h-ink\">Ink cartridges</h2>\
<p class=\"muted\">As read {read}.</p>{carts}</section>\
<section class=\"card\" aria-labelledby=\"h-heads\"><h2 id=\"h-heads\">Printheads</h2>{heads}</section>\
<section class=\"card\" aria-labelledby=\"h-media\"><h2 id=\"h-media\">Media loaded</h2>{media}</section>",
                read = html::time(st.status_at),
                carts = table_or_none(
                    &carts,
                    "<th scope=\"col\">Slot</th><th scope=\"col\">Color</th><th scope=\"col\">Product</th><th scope=\"col\">State</th><th scope=\"col\">Level</th><th scope=\"col\">Ink used</th><th scope=\"col\">Expires</th>",
                    "No cartridges reported."
                ),
                heads = table_or_none(
                    &heads,
                    "<th scope=\"col\">Slot</th><th scope=\"col\">Colors</th><th scope=\"col\">Product</th><th scope=\"col\">State</th><th scope=\"col\">Health</th><th scope=\"col\">Expires</th>",
                    "No printheads reported."
                ),
                media = table_or_none(
                    &media,
                    "<th scope=\"col\">Source</th><th scope=\"col\">Kind</th><th scope=\"col\">State</th><th scope=\"col\">Media type</th><th scope=\"col\">Width</th><th scope=\"col\">Length / height</th>",
                    "No media sources reported."
                ),
            ));
        }
        None => body.push_str(
            "<section class=\"card\"><h2>Consumables and media</h2><p class=\"muted\">No status reported yet.</p></section>",
        ),
    }

    // Lifetime counters.
    if let Some(c) = &counters {
        let types: String = c
            .cartridge_types
            .iter()
            .map(|t| {
                format!(
                    "<tr><th scope=\"row\">{}</th><td>{}</td><td>{} ml</td><td>{} ml</td><td>{}</td></tr>",
                    e(&t.product_number),
                    e(&t.color.0.replace('_', " ")),
                    e(&ml(t.ink_used_ul)),
                    e(&ml(t.non_hp_ink_used_ul)),
                    t.insertions
                )
            })
            .collect();
        body.push_str(&format!(
            "<section class=\"card\" aria-labelledby=\"h-counters\"><h2 id=\"h-counters\">Lifetime counters</h2>\
<dl class=\"grid\"><dt>Pages</dt><dd id=\"lifetime-pages\">{pages}</dd><dt>Jobs</dt><dd>{jobs}</dd>\
<dt>Ink used</dt><dd>{ink} ml</dd><dt>Media used</dt><dd>{area} m²</dd><dt>Scanned</dt><dd>{scan} m²</dd>\
<dt>Read</dt><dd>{at}</dd></dl>{types}</section>",
            pages = html::num(c.pages),
            jobs = html::num(c.jobs),
            ink = e(&ml(c.total_ink_used_ul)),
            area = e(&m2(c.total_media_area_mm2)),
            scan = e(&m2(c.scan.total_area_mm2)),
            at = html::time(st.counters_at),
            types = table_or_none(
                &types,
                "<th scope=\"col\">Cartridge type</th><th scope=\"col\">Color</th><th scope=\"col\">Ink used</th><th scope=\"col\">Of which non-HP</th><th scope=\"col\">Insertions</th>",
                ""
            ),
        ));
    }

    // Usage chart and recent jobs.
    let since = now - Duration::days(CHART_DAYS - 1);
    let since_day = since.date_naive();
    let day_rows: Vec<(DateTime<Utc>, i64, i64)> = job::Entity::find()
        .select_only()
        .column(job::Column::OccurredAt)
        .column(job::Column::Pages)
        .column(job::Column::InkTotalUl)
        .filter(job::Column::PrinterId.eq(p.id))
        .filter(
            job::Column::OccurredAt.gte(
                since_day
                    .and_hms_opt(0, 0, 0)
                    .map_or(since, |d| d.and_utc()),
            ),
        )
        .limit(100_000)
        .into_tuple()
        .all(&state.db.read)
        .await?;
    let mut per_day: BTreeMap<NaiveDate, (u64, u64)> = BTreeMap::new();
    for (at, pages, ink) in day_rows {
        let d = per_day.entry(at.date_naive()).or_default();
        d.0 += u64::try_from(pages).unwrap_or(0);
        d.1 += u64::try_from(ink).unwrap_or(0);
    }
    let days: Vec<(NaiveDate, u64, u64)> = (0..CHART_DAYS)
        .map(|i| {
            let d = since_day + Duration::days(i);
            let (pg, ink) = per_day.get(&d).copied().unwrap_or_default();
            (d, pg, ink)
        })
        .collect();
    body.push_str(&format!(
        "<section class=\"card\" aria-labelledby=\"h-usage\"><h2 id=\"h-usage\">Usage, last {CHART_DAYS} days</h2>{}</section>",
        usage_chart(&days)
    ));
    let jobs = job::Entity::find()
        .filter(job::Column::PrinterId.eq(p.id))
        .order_by_desc(job::Column::OccurredAt)
        .order_by_desc(job::Column::Id)
        .limit(20)
        .all(&state.db.read)
        .await?;
    let job_rows: String = jobs
        .iter()
        .map(|j| {
            format!(
                "<tr><td>{at}</td><th scope=\"row\">{name}</th><td>{kind}</td><td>{user}</td><td>{account}</td><td>{pages}</td>\
<td>{copies}</td><td>{media}</td><td>{area} m²</td><td>{ink} ml</td><td>{status}</td></tr>",
                at = html::time(Some(j.occurred_at)),
                name = e(&j.name),
                kind = e(&j.kind),
                user = e(j.user_name.as_deref().unwrap_or("—")),
                account = e(j.account_id.as_deref().unwrap_or("—")),
                pages = j.pages,
                copies = j.copies,
                media = e(j.media_type.as_deref().unwrap_or("—")),
                area = e(&m2(u64::try_from(j.media_area_mm2).unwrap_or(0))),
                ink = e(&ml(u64::try_from(j.ink_total_ul).unwrap_or(0))),
                status = e(j.status.as_deref().or(j.scan_status.as_deref()).unwrap_or("—")),
            )
        })
        .collect();
    body.push_str(&format!(
        "<section class=\"card\" aria-labelledby=\"h-jobs\"><h2 id=\"h-jobs\">Recent jobs</h2>{}</section>",
        table_or_none(
            &job_rows,
            "<th scope=\"col\">When</th><th scope=\"col\">Name</th><th scope=\"col\">Kind</th><th scope=\"col\">User</th><th scope=\"col\">Account</th><th scope=\"col\">Pages</th><th scope=\"col\">Copies</th><th scope=\"col\">Media</th><th scope=\"col\">Area</th><th scope=\"col\">Ink</th><th scope=\"col\">Status</th>",
            "No jobs recorded yet."
        )
    ));
    let title = format!(
        "Printer {} — {}",
        p.serial_number,
        cfg.map_or(p.product_name.as_deref().unwrap_or("unknown model"), |c| &c
            .product_name)
    );
    Ok(ok_html(html::page(&v, Nav::Fleet, &title, &body)))
}

pub(super) fn table_or_none(rows: &str, head: &str, none: &str) -> String {
    if rows.is_empty() {
        if none.is_empty() {
            return String::new();
        }
        return format!("<p class=\"muted\">{}</p>", e(none));
    }
    format!(
        "<div class=\"table-wrap\"><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>"
    )
}

/// Microlitres as millilitres: exact, at least one decimal.
pub(super) fn ml(ul: u64) -> String {
    let frac = format!("{:03}", ul % 1000);
    let frac = frac.trim_end_matches('0');
    format!("{}.{}", ul / 1000, if frac.is_empty() { "0" } else { frac })
}

/// Square millimetres as square metres with two decimals.
pub(super) fn m2(mm2: u64) -> String {
    format!("{}.{:02}", mm2 / 1_000_000, (mm2 % 1_000_000) / 10_000)
}

fn humanize_secs(s: i64) -> String {
    match s {
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// Pages per day as an inline SVG bar chart (presentation attributes only,
/// so the page's CSP needs no inline styles), with the numbers as a table.
fn usage_chart(days: &[(NaiveDate, u64, u64)]) -> String {
    const W: u64 = 600;
    const H: u64 = 160;
    const PAD: u64 = 24;
    let max = days.iter().map(|d| d.1).max().unwrap_or(0).max(1);
    let n = days.len().max(1) as u64;
    let slot = (W - PAD) / n;
    let bar = slot.saturating_sub(2).max(1);
    let mut bars = String::new();
    for (i, (d, pages, ink)) in days.iter().enumerate() {
        let h = pages * (H - PAD) / max;
        let x = PAD + i as u64 * slot;
        let y = H - PAD / 2 - h;
        bars.push_str(&format!(
            "<rect class=\"bar\" x=\"{x}\" y=\"{y}\" width=\"{bar}\" height=\"{h}\" fill=\"#2f6fb0\"><title>{}: {} pages, {} ml ink</title></rect>",
            e(&d.to_string()),
            pages,
            e(&ml(*ink)),
        ));
    }
    let first = days
        .first()
        .map(|d| d.0.format("%d %b").to_string())
        .unwrap_or_default();
    let last = days
        .last()
        .map(|d| d.0.format("%d %b").to_string())
        .unwrap_or_default();
    let total_pages: u64 = days.iter().map(|d| d.1).sum();
    let total_ink: u64 = days.iter().map(|d| d.2).sum();
    let rows: String = days
        .iter()
        .filter(|d| d.1 > 0 || d.2 > 0)
        .map(|(d, p, i)| {
            format!(
                "<tr><th scope=\"row\">{}</th><td>{}</td><td>{} ml</td></tr>",
                e(&d.to_string()),
                p,
                e(&ml(*i))
            )
        })
        .collect();
    format!(
        "<p>{total_pages} pages, {ink} ml ink in the last {n} days.</p>\
<svg class=\"chart\" id=\"usage-chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-labelledby=\"chart-title\" preserveAspectRatio=\"none\">\
<title id=\"chart-title\">Pages printed per day, {first} to {last} (highest day {max} pages)</title>\
<line x1=\"{PAD}\" y1=\"{base}\" x2=\"{W}\" y2=\"{base}\" stroke=\"#555\" stroke-width=\"1\"/>\
<text x=\"0\" y=\"12\" font-size=\"11\" fill=\"#333\">{max}</text><text x=\"0\" y=\"{base}\" font-size=\"11\" fill=\"#333\">0</text>{bars}</svg>\
<p class=\"chart-axis muted\"><span>{first}</span><span>{last}</span></p>\
<details><summary>Usage per day as a table</summary>{table}</details>",
        ink = e(&ml(total_ink)),
        base = H - PAD / 2,
        first = e(&first),
        last = e(&last),
        table = table_or_none(
            &rows,
            "<th scope=\"col\">Day</th><th scope=\"col\">Pages</th><th scope=\"col\">Ink</th>",
            "No usage in this period."
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(ml(12_345), "12.345");
        assert_eq!(ml(46_800), "46.8");
        assert_eq!(ml(10), "0.01");
        assert_eq!(ml(0), "0.0");
        assert_eq!(m2(1_234_567), "1.23");
        assert_eq!(humanize_secs(10_800), "3 h");
    }

    #[test]
    fn chart_is_svg_with_a_bar_per_day() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        let days: Vec<_> = (0..3)
            .map(|i| (d + Duration::days(i), i as u64 * 10, 5))
            .collect();
        let svg = usage_chart(&days);
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains("30 pages"));
        assert!(!svg.contains("style="), "no inline styles under the CSP");
    }
}
