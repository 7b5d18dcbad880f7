//! Usage and billing page: a period picker, totals grouped as asked, the
//! statements that cover the period, and a CSV export of the same totals.
//!
//! Totals come from the billing module (`ppu_actors::billing::totals`), the
//! same code as `GET /api/v1/billing/totals`. Money figures are shown only to
//! roles that may see money (not support staff). Viewing an export is
//! written to the audit log.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{Datelike, Months, NaiveDate, Utc};
use ppu_actors::billing::totals::{self, Group, GroupBy, Totals, TotalsQuery, TotalsScope};
use ppu_actors::domain::billing::{Basis, Metric, Span};
use ppu_entities::{printer, reseller, site};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Deserialize;
use serde_json::json;

use super::html::{self, Nav, e, url_part};
use super::{Page, PortalError, Viewer, ok_html, viewer};
use crate::error::ApiError;
use crate::state::AppState;

/// The picker's parameters (all optional: defaults are this month, the
/// viewer's reseller, job records, per printer).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// The picker's `kind:id` (wins over `scope` and `id`).
    target: Option<String>,
    scope: Option<String>,
    id: Option<i64>,
    from: Option<String>,
    to: Option<String>,
    basis: Option<String>,
    group_by: Option<String>,
}

/// A resolved, permitted query.
struct Resolved {
    query: TotalsQuery,
    reseller_id: i64,
    label: String,
    scope_name: &'static str,
    id: i64,
    group: String,
}

fn bad(code: &'static str, msg: String) -> PortalError {
    PortalError::Api(ApiError::bad_request(code, msg))
}

fn parse_date(field: &str, v: &str) -> Result<NaiveDate, PortalError> {
    NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d").map_err(|_| {
        bad(
            "invalid_date",
            format!("{field} must be a date YYYY-MM-DD, not {v:?}"),
        )
    })
}

async fn resolve(state: &AppState, v: &Viewer, q: &UsageQuery) -> Result<Resolved, PortalError> {
    let today = Utc::now().date_naive();
    let month_start = today.with_day(1).unwrap_or(today);
    let from = match q.from.as_deref().filter(|s| !s.is_empty()) {
        Some(f) => parse_date("from", f)?,
        None => month_start,
    };
    let to = match q.to.as_deref().filter(|s| !s.is_empty()) {
        Some(t) => parse_date("to", t)?,
        None => from
            .with_day(1)
            .and_then(|d| d.checked_add_months(Months::new(1)))
            .unwrap_or(from),
    };
    let span = Span::new(from, to).ok_or_else(|| {
        bad(
            "invalid_range",
            "the end date must be after the start date (the end day is not included)".into(),
        )
    })?;
    if span.days() > 3 * 366 {
        return Err(bad(
            "invalid_range",
            "choose a period of at most three years".into(),
        ));
    }
    let basis = match q.basis.as_deref() {
        None | Some("") => Basis::Jobs,
        Some(b) => Basis::parse(b)
            .ok_or_else(|| bad("invalid_query", "basis must be jobs or meter".into()))?,
    };
    let group = q.group_by.clone().unwrap_or_else(|| "printer".into());
    let group_by = match group.as_str() {
        "" | "none" => Vec::new(),
        g => vec![GroupBy::parse(g).ok_or_else(|| {
            bad(
                "invalid_group_by",
                format!(
                    "unknown grouping {g:?}: use none, {}",
                    GroupBy::ALL.map(GroupBy::as_str).join(", ")
                ),
            )
        })?],
    };
    let (scope_name, id) = match q.target.as_deref().and_then(|t| t.split_once(':')) {
        Some((kind, id)) => (
            kind,
            Some(
                id.parse::<i64>()
                    .map_err(|_| bad("invalid_query", format!("invalid choice {:?}", q.target)))?,
            ),
        ),
        None => (q.scope.as_deref().unwrap_or("reseller"), q.id),
    };
    let (scope, scope_name, id, reseller_id, label) = match (scope_name, id) {
        ("reseller", id) => {
            let id = match id.or(v.who.reseller_id) {
                Some(id) => id,
                None => reseller::Entity::find()
                    .order_by_asc(reseller::Column::Id)
                    .one(&state.db.read)
                    .await?
                    .map(|r| r.id)
                    .ok_or_else(|| ApiError::not_found("reseller"))?,
            };
            v.who.read(id, "reseller")?;
            let r = reseller::Entity::find_by_id(id)
                .one(&state.db.read)
                .await?
                .ok_or_else(|| ApiError::not_found("reseller"))?;
            (
                TotalsScope::Reseller(id),
                "reseller",
                id,
                id,
                format!("reseller {}", r.name),
            )
        }
        ("site", Some(id)) => {
            let s = site::Entity::find_by_id(id)
                .one(&state.db.read)
                .await?
                .ok_or_else(|| ApiError::not_found("site"))?;
            v.who.read(s.reseller_id, "site")?;
            (
                TotalsScope::Site(id),
                "site",
                id,
                s.reseller_id,
                format!("site {}", s.name),
            )
        }
        ("printer", Some(id)) => {
            let p = printer::Entity::find_by_id(id)
                .one(&state.db.read)
                .await?
                .ok_or_else(|| ApiError::not_found("printer"))?;
            let s = site::Entity::find_by_id(p.site_id)
                .one(&state.db.read)
                .await?
                .ok_or_else(|| ApiError::not_found("printer"))?;
            v.who.read(s.reseller_id, "printer")?;
            (
                TotalsScope::Printer(id),
                "printer",
                id,
                s.reseller_id,
                format!("printer {}", p.serial_number),
            )
        }
        _ => {
            return Err(bad(
                "invalid_query",
                "scope must be reseller, site or printer, with an id for site and printer".into(),
            ));
        }
    };
    Ok(Resolved {
        query: TotalsQuery {
            scope,
            span,
            basis,
            group_by,
            amounts: v.sees_money() && !matches!(scope, TotalsScope::Reseller(_)),
        },
        reseller_id,
        label,
        scope_name,
        id,
        group,
    })
}

fn key_cells(t: &Totals, g: &Group) -> Vec<String> {
    let k = &g.key;
    let dim = |v: &Option<String>| match v.as_deref() {
        None | Some("") => "(none)".to_owned(),
        Some(s) => s.to_owned(),
    };
    t.query
        .group_by
        .iter()
        .map(|by| match by {
            GroupBy::Site => k
                .site_id
                .and_then(|s| t.site_names.get(&s).cloned())
                .unwrap_or_else(|| "(none)".into()),
            GroupBy::Printer => k
                .printer_id
                .and_then(|p| t.serials.get(&p).cloned())
                .unwrap_or_else(|| "(none)".into()),
            GroupBy::Month => k
                .month
                .map(|m| m.format("%Y-%m").to_string())
                .unwrap_or_default(),
            GroupBy::Day => k.day.map(|d| d.to_string()).unwrap_or_default(),
            GroupBy::MediaType => dim(&k.media_type),
            GroupBy::PrintCategory => dim(&k.print_category),
            GroupBy::InkColor => dim(&k.ink_color),
            GroupBy::AccountId => dim(&k.account_id),
            GroupBy::ProjectId => dim(&k.project_id),
        })
        .collect()
}

/// The usage columns: (header, value) for one group.
fn usage_cells(t: &Totals, g: &Group) -> Vec<(&'static str, String)> {
    let m = &g.measures;
    let ml = |ul: u64| Metric::Ink.to_unit(ul).to_string();
    let m2 = |mm2: u64| Metric::MediaArea.to_unit(mm2).to_string();
    if t.ink_only {
        return vec![
            ("ink_ml", ml(m.ink_ul)),
            ("non_hp_ink_ml", ml(m.non_hp_ink_ul)),
        ];
    }
    vec![
        ("jobs", m.jobs.to_string()),
        ("pages", m.pages.to_string()),
        ("copies", m.copies.to_string()),
        ("media_area_m2", m2(m.media_area_mm2)),
        (
            "media_length_m",
            Metric::MediaLength.to_unit(m.media_length_mm).to_string(),
        ),
        ("printed_area_m2", m2(m.printed_area_mm2)),
        (
            "scanned_area_m2",
            m2(m.scan_area_mm2 + m.copy_scan_area_mm2),
        ),
        ("ink_ml", ml(m.ink_ul)),
        ("non_hp_ink_ml", ml(m.non_hp_ink_ul)),
    ]
}

fn currencies(t: &Totals) -> Vec<String> {
    let mut c: Vec<String> = t
        .groups
        .iter()
        .flat_map(|g| g.amounts.keys().cloned())
        .chain(t.total.amounts.keys().cloned())
        .collect();
    c.sort();
    c.dedup();
    c
}

fn label_of(col: &str) -> &str {
    match col {
        "jobs" => "Jobs",
        "pages" => "Pages",
        "copies" => "Copies",
        "media_area_m2" => "Media m²",
        "media_length_m" => "Media length m",
        "printed_area_m2" => "Printed m²",
        "scanned_area_m2" => "Scanned m²",
        "ink_ml" => "Ink ml",
        "non_hp_ink_ml" => "Non-HP ink ml",
        other => other,
    }
}

fn query_string(r: &Resolved) -> String {
    format!(
        "scope={}&id={}&from={}&to={}&basis={}&group_by={}",
        r.scope_name,
        r.id,
        r.query.span.start,
        r.query.span.end,
        r.query.basis.as_str(),
        url_part(&r.group)
    )
}

/// `GET /portal/usage`.
pub async fn page(state: web::Data<AppState>, req: HttpRequest, q: web::Query<UsageQuery>) -> Page {
    let v = viewer(&state, &req).await?;
    let r = resolve(&state, &v, &q).await?;
    let t = totals::totals(&state.db, r.query.clone())
        .await
        .map_err(ApiError::from)?;

    // The picker: scopes the viewer can choose.
    let mut sites_q = site::Entity::find();
    if let Some(rid) = v.who.scope() {
        sites_q = sites_q.filter(site::Column::ResellerId.eq(rid));
    }
    let sites = sites_q
        .order_by_asc(site::Column::Name)
        .all(&state.db.read)
        .await?;
    let mut options = String::new();
    let resellers = if v.who.scope().is_none() {
        reseller::Entity::find()
            .order_by_asc(reseller::Column::Name)
            .all(&state.db.read)
            .await?
    } else {
        reseller::Entity::find_by_id(r.reseller_id)
            .all(&state.db.read)
            .await?
    };
    for rs in &resellers {
        let sel = if r.scope_name == "reseller" && r.id == rs.id {
            " selected"
        } else {
            ""
        };
        options.push_str(&format!(
            "<option value=\"reseller:{}\"{sel}>All sites of {}</option>",
            rs.id,
            e(&rs.name)
        ));
    }
    for s in &sites {
        let sel = if r.scope_name == "site" && r.id == s.id {
            " selected"
        } else {
            ""
        };
        options.push_str(&format!(
            "<option value=\"site:{}\"{sel}>Site {} ({})</option>",
            s.id,
            e(&s.name),
            e(&s.account_name)
        ));
    }
    if r.scope_name == "printer" {
        options.push_str(&format!(
            "<option value=\"printer:{}\" selected>{}</option>",
            r.id,
            e(&r.label)
        ));
    }
    let group_opts: String = std::iter::once("none")
        .chain(GroupBy::ALL.iter().map(|g| g.as_str()))
        .map(|g| {
            let sel = if g == r.group { " selected" } else { "" };
            format!(
                "<option value=\"{g}\"{sel}>{}</option>",
                e(&g.replace('_', " "))
            )
        })
        .collect();
    let basis_opts: String = [
        ("jobs", "Job records (print time)"),
        ("meter", "Meter readings"),
    ]
    .iter()
    .map(|(b, l)| {
        let sel = if *b == r.query.basis.as_str() {
            " selected"
        } else {
            ""
        };
        format!("<option value=\"{b}\"{sel}>{l}</option>")
    })
    .collect();
    let today = Utc::now().date_naive();
    let this_month = today.with_day(1).unwrap_or(today);
    let last_month = this_month
        .checked_sub_months(Months::new(1))
        .unwrap_or(this_month);
    let quick = |from: NaiveDate, to: NaiveDate, label: &str| {
        format!(
            "<a href=\"/portal/usage?scope={}&amp;id={}&amp;from={from}&amp;to={to}&amp;basis={}&amp;group_by={}\">{label}</a>",
            r.scope_name,
            r.id,
            r.query.basis.as_str(),
            e(&url_part(&r.group))
        )
    };
    let picker = format!(
        "<form method=\"get\" action=\"/portal/usage\" class=\"card picker\" id=\"usage-form\">\
<div><label for=\"target\">Whose usage</label><select id=\"target\" name=\"target\">{options}</select></div>\
<div><label for=\"from\">From</label><input id=\"from\" name=\"from\" type=\"date\" required value=\"{from}\"></div>\
<div><label for=\"to\">To (not included)</label><input id=\"to\" name=\"to\" type=\"date\" required value=\"{to}\"></div>\
<div><label for=\"basis\">Basis</label><select id=\"basis\" name=\"basis\">{basis_opts}</select></div>\
<div><label for=\"group_by\">Group by</label><select id=\"group_by\" name=\"group_by\">{group_opts}</select></div>\
<div><button type=\"submit\">Show</button></div>\
<p class=\"quick\">Quick periods: {q1} · {q2}</p></form>",
        from = r.query.span.start,
        to = r.query.span.end,
        q1 = quick(
            this_month,
            this_month
                .checked_add_months(Months::new(1))
                .unwrap_or(today),
            "this month"
        ),
        q2 = quick(last_month, this_month, "last month"),
    );

    // Totals table.
    let curs = if t.amounts.is_some() {
        currencies(&t)
    } else {
        Vec::new()
    };
    let mut head = String::new();
    for by in &t.query.group_by {
        head.push_str(&format!(
            "<th scope=\"col\">{}</th>",
            e(&by.as_str().replace('_', " "))
        ));
    }
    for (col, _) in usage_cells(&t, &t.total) {
        head.push_str(&format!(
            "<th scope=\"col\" class=\"num\">{}</th>",
            e(label_of(col))
        ));
    }
    for c in &curs {
        head.push_str(&format!(
            "<th scope=\"col\" class=\"num\">Amount {}</th>",
            e(c)
        ));
    }
    let mut rows = String::new();
    for g in &t.groups {
        rows.push_str("<tr>");
        for (i, k) in key_cells(&t, g).iter().enumerate() {
            if i == 0 {
                rows.push_str(&format!("<th scope=\"row\">{}</th>", e(k)));
            } else {
                rows.push_str(&format!("<td>{}</td>", e(k)));
            }
        }
        for (_, val) in usage_cells(&t, g) {
            rows.push_str(&format!("<td class=\"num\">{}</td>", e(&val)));
        }
        for c in &curs {
            let a = g
                .amounts
                .get(c)
                .map(ToString::to_string)
                .unwrap_or_default();
            rows.push_str(&format!("<td class=\"num\">{}</td>", e(&a)));
        }
        rows.push_str("</tr>");
    }
    let mut total_row = String::from("<tr class=\"total\">");
    let key_cols = t.query.group_by.len();
    if key_cols > 0 {
        total_row.push_str(&format!(
            "<th scope=\"row\" colspan=\"{key_cols}\">Total</th>"
        ));
    }
    for (_, val) in usage_cells(&t, &t.total) {
        total_row.push_str(&format!("<td class=\"num\" data-total>{}</td>", e(&val)));
    }
    for c in &curs {
        let a = t
            .total
            .amounts
            .get(c)
            .map(ToString::to_string)
            .unwrap_or_default();
        total_row.push_str(&format!("<td class=\"num\">{}</td>", e(&a)));
    }
    total_row.push_str("</tr>");
    let money_note = if !v.sees_money() {
        "<p class=\"muted\">Amounts are not shown to support staff.</p>"
    } else if t.amounts.is_none() {
        "<p class=\"muted\">Amounts are priced per contract: choose a site or a printer to see them.</p>"
    } else {
        ""
    };
    let statements = if t.statements.is_empty() || !v.sees_money() {
        "<p class=\"muted\">No statements cover this period.</p>".to_owned()
    } else {
        let items: String = t
            .statements
            .iter()
            .map(|s| {
                format!(
                    "<li><code>{id}</code>: <a href=\"/api/v1/billing/statements/{href}\">details</a> · \
<a href=\"/api/v1/billing/statements/{href}?format=csv\">CSV</a> · <a href=\"/api/v1/billing/statements/{href}/evidence?format=csv\">evidence CSV</a></li>",
                    id = e(s),
                    href = e(&url_part(s)),
                )
            })
            .collect();
        format!("<ul>{items}</ul>")
    };
    let qs = query_string(&r);
    let body = format!(
        "{picker}<section class=\"card\" aria-labelledby=\"h-totals\"><h2 id=\"h-totals\">Usage of {label}, {from} to {to_incl}</h2>\
<p class=\"muted\">Basis: {basis}. Quantities are exact decimals of the stored integers.</p>{money_note}\
<p><a class=\"button\" id=\"csv-export\" href=\"/portal/usage/export.csv?{qs_attr}\" download>Export CSV</a></p>\
<div class=\"table-wrap\"><table id=\"totals\"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody><tfoot>{total_row}</tfoot></table></div></section>\
<section class=\"card\" aria-labelledby=\"h-statements\"><h2 id=\"h-statements\">Statements</h2>{statements}</section>",
        label = e(&r.label),
        from = r.query.span.start,
        to_incl = r.query.span.end.pred_opt().unwrap_or(r.query.span.end),
        basis = e(r.query.basis.as_str()),
        qs_attr = e(&qs),
    );
    Ok(ok_html(html::page(
        &v,
        Nav::Usage,
        "Usage & billing",
        &body,
    )))
}

/// A CSV cell the hub formats itself (numbers, dates, codes).
fn csv_value(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A text cell: quoted, defused against spreadsheet formulas.
fn csv_text(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => csv_value(&format!("'{s}")),
        _ => csv_value(s),
    }
}

/// The totals as CSV: UTF-8 with a byte order mark, every field quoted,
/// CRLF line ends, text cells defused (the API's conventions).
fn totals_csv(t: &Totals) -> String {
    let curs = if t.amounts.is_some() {
        currencies(t)
    } else {
        Vec::new()
    };
    let mut header: Vec<String> = vec!["from".into(), "to_exclusive".into(), "basis".into()];
    header.extend(t.query.group_by.iter().map(|g| g.as_str().to_owned()));
    header.extend(
        usage_cells(t, &t.total)
            .into_iter()
            .map(|(c, _)| c.to_owned()),
    );
    header.extend(curs.iter().map(|c| format!("amount_{c}")));
    let mut out = String::from("\u{feff}");
    out.push_str(
        &header
            .iter()
            .map(|h| csv_value(h))
            .collect::<Vec<_>>()
            .join(","),
    );
    out.push_str("\r\n");
    let line = |key: Vec<String>, g: &Group| {
        let mut cells = vec![
            csv_value(&t.query.span.start.to_string()),
            csv_value(&t.query.span.end.to_string()),
            csv_value(t.query.basis.as_str()),
        ];
        cells.extend(key.iter().map(|k| csv_text(k)));
        cells.extend(usage_cells(t, g).into_iter().map(|(_, v)| csv_value(&v)));
        cells.extend(curs.iter().map(|c| {
            csv_value(
                &g.amounts
                    .get(c)
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            )
        }));
        cells.join(",") + "\r\n"
    };
    for g in &t.groups {
        out.push_str(&line(key_cells(t, g), g));
    }
    if !t.query.group_by.is_empty() {
        let mut key = vec!["total".to_owned()];
        key.extend(std::iter::repeat_n(
            String::new(),
            t.query.group_by.len() - 1,
        ));
        out.push_str(&line(key, &t.total));
    } else if t.groups.is_empty() {
        out.push_str(&line(Vec::new(), &t.total));
    }
    out
}

/// `GET /portal/usage/export.csv`: the page's totals as CSV (audited).
pub async fn export(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<UsageQuery>,
) -> Page {
    let v = viewer(&state, &req).await?;
    let r = resolve(&state, &v, &q).await?;
    let t = totals::totals(&state.db, r.query.clone())
        .await
        .map_err(ApiError::from)?;
    crate::auth::audit(
        &state,
        &v.who,
        Some(r.reseller_id),
        "export.view",
        &format!("{}:{}", r.scope_name, r.id),
        Some(json!({
            "export": "usage_totals",
            "from": r.query.span.start,
            "to": r.query.span.end,
            "basis": r.query.basis.as_str(),
            "group_by": r.group,
            "amounts": r.query.amounts,
            "via": "portal",
        })),
    )
    .await;
    let name = format!(
        "usage-{}-{}-{}-{}",
        r.scope_name, r.id, r.query.span.start, r.query.span.end
    );
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}.csv\""),
        ))
        .body(totals_csv(&t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_text_is_defused() {
        assert_eq!(csv_text("=SUM(A1)"), "\"'=SUM(A1)\"");
        assert_eq!(csv_text("a \"b\""), "\"a \"\"b\"\"\"");
        assert_eq!(csv_value("-1.5"), "\"-1.5\"");
    }
}
