//! Site page: printers, the Data Collector's status, and its configuration
//! editor (collection interval, job poll interval, address ranges).
//!
//! The editor validates exactly like `PUT /api/v1/sites/{id}/collector-config`
//! and the collector itself ([`CollectorConfig::validate`]), stores the
//! configuration and bumps the site's `config_version` in one statement (the
//! collector fetches it after its next upload), and writes an audit entry.

use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{Duration, Utc};
use ppu_actors::alerts::state as alert_state;
use ppu_entities::{alert, credential, printer, site};
use ppu_protocol::collector_config::{
    CollectorConfig, DEFAULT_JOB_POLL_INTERVAL_S, DEFAULT_POLL_INTERVAL_MINUTES,
    MAX_POLL_INTERVAL_MINUTES, MIN_JOB_POLL_INTERVAL_S, MIN_POLL_INTERVAL_MINUTES, Scheme,
};
use ppu_protocol::envelope::SenderKind;
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Deserialize;
use serde_json::{Value, json};

use super::fleet::{Thresholds, latest_status, low_consumables, printer_state_badge};
use super::html::{self, Nav, e, url_part};
use super::{Page, PortalError, Viewer, see_other, viewer};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct SavedParam {
    saved: Option<i64>,
}

/// What the editor shows: the stored values, or what the user typed.
struct EditorValues {
    hub_url: String,
    poll: String,
    job_poll: String,
    targets: String,
}

fn values_of(config: Option<&Value>, default_hub: &str) -> EditorValues {
    let parsed = config.and_then(|c| CollectorConfig::from_json_value(c.clone()).ok());
    match parsed {
        Some(c) => EditorValues {
            hub_url: c.hub_url.clone(),
            poll: c.poll_interval_minutes.to_string(),
            job_poll: c.job_poll_interval_s.to_string(),
            targets: c
                .targets
                .iter()
                .map(|t| {
                    let mut line = format!("{} {}", t.address, t.scheme.as_str());
                    if !t.ports.is_empty() {
                        line.push(' ');
                        line.push_str(
                            &t.ports
                                .iter()
                                .map(u16::to_string)
                                .collect::<Vec<_>>()
                                .join(","),
                        );
                    }
                    line
                })
                .collect::<Vec<_>>()
                .join("\n"),
        },
        None => EditorValues {
            hub_url: default_hub.to_owned(),
            poll: DEFAULT_POLL_INTERVAL_MINUTES.to_string(),
            job_poll: DEFAULT_JOB_POLL_INTERVAL_S.to_string(),
            targets: String::new(),
        },
    }
}

fn default_hub_url(req: &HttpRequest) -> String {
    format!("https://{}", req.connection_info().host())
}

/// `GET /portal/sites/{id}`.
pub async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
    q: web::Query<SavedParam>,
) -> Page {
    let v = viewer(&state, &req).await?;
    let s = load_site(&state, &v, id.into_inner()).await?;
    let values = values_of(s.collector_config.as_ref(), &default_hub_url(&req));
    let notice = q.saved.map(|ver| {
        format!(
            "<p class=\"notice\" role=\"status\" id=\"saved\">Configuration saved as version {ver}. The collector fetches it after its next upload.</p>"
        )
    });
    render(
        &state,
        &v,
        &s,
        &values,
        notice.as_deref(),
        None,
        StatusCode::OK,
    )
    .await
}

async fn load_site(state: &AppState, v: &Viewer, id: i64) -> Result<site::Model, PortalError> {
    let s = site::Entity::find_by_id(id)
        .one(&state.db.read)
        .await?
        .ok_or_else(|| ApiError::not_found("site"))?;
    v.who.read(s.reseller_id, "site")?;
    Ok(s)
}

async fn render(
    state: &AppState,
    v: &Viewer,
    s: &site::Model,
    values: &EditorValues,
    notice: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Page {
    let now = Utc::now();
    let t = Thresholds::new(state).get(s.reseller_id).await;
    let printers = printer::Entity::find()
        .filter(printer::Column::SiteId.eq(s.id))
        .order_by_asc(printer::Column::SerialNumber)
        .all(&state.db.read)
        .await?;
    let statuses = latest_status(state, &printers.iter().map(|p| p.id).collect::<Vec<_>>()).await?;
    let collectors = credential::Entity::find()
        .filter(credential::Column::SiteId.eq(s.id))
        .filter(credential::Column::SenderKind.eq(SenderKind::Collector.as_str()))
        .order_by_asc(credential::Column::Id)
        .all(&state.db.read)
        .await?;
    let collector_alerts = alert::Entity::find()
        .filter(alert::Column::SiteId.eq(s.id))
        .filter(alert::Column::CollectorId.is_not_null())
        .filter(alert::Column::State.ne(alert_state::CLEARED))
        .all(&state.db.read)
        .await?;
    let poll_minutes: i64 = values
        .poll
        .parse()
        .unwrap_or(i64::from(DEFAULT_POLL_INTERVAL_MINUTES));
    let mut body = String::new();
    if let Some(n) = notice {
        body.push_str(n);
    }

    // Collector status.
    let rows: String = collectors
        .iter()
        .map(|c| {
            let status = if c.revoked_at.is_some() {
                html::badge("muted", "revoked")
            } else {
                match c.last_used_at {
                    None => html::badge("muted", "never connected"),
                    Some(at) if now.signed_duration_since(at) <= Duration::minutes(2 * std::cmp::max(poll_minutes, 1)) => {
                        html::badge("ok", "online")
                    }
                    Some(_) => html::badge("bad", "offline"),
                }
            };
            let alerts: String = collector_alerts
                .iter()
                .filter(|a| a.collector_id == Some(c.id))
                .map(|a| {
                    format!(
                        "<li>{} {}</li>",
                        html::badge(html::severity_kind(&a.severity), &a.severity),
                        e(&a.message)
                    )
                })
                .collect();
            format!(
                "<tr><th scope=\"row\">{name}</th><td><code>{id}</code></td><td>{status}</td><td>{last}{ago}</td><td>{created}</td><td>{alerts}</td></tr>",
                name = e(&c.name),
                id = e(&c.sender_id),
                last = html::time(c.last_used_at),
                ago = if c.last_used_at.is_some() {
                    format!(" <span class=\"muted\">{}</span>", e(&html::ago(c.last_used_at, now)))
                } else {
                    String::new()
                },
                created = html::time(Some(c.created_at)),
                alerts = if alerts.is_empty() { "<span class=\"muted\">none</span>".to_owned() } else { format!("<ul class=\"plain\">{alerts}</ul>") },
            )
        })
        .collect();
    body.push_str(&format!(
        "<section class=\"card\" aria-labelledby=\"h-collector\"><h2 id=\"h-collector\">Data Collector</h2>\
<p>Configuration version <strong id=\"config-version\">{ver}</strong>{cfg_note}.</p>{table}</section>",
        ver = s.config_version,
        cfg_note = if s.collector_config.is_some() { "" } else { " (no remote configuration yet: collectors use their local file)" },
        table = super::fleet::table_or_none(
            &rows,
            "<th scope=\"col\">Name</th><th scope=\"col\">Collector id</th><th scope=\"col\">Status</th><th scope=\"col\">Last upload</th><th scope=\"col\">Created</th><th scope=\"col\">Open alerts</th>",
            "No collector installed at this site."
        ),
    ));

    // Configuration editor.
    let can_edit = v.who.administer(s.reseller_id, "site").is_ok();
    let err_html = error
        .map(|m| {
            format!(
                "<p class=\"error\" role=\"alert\" id=\"config-error\">{}</p>",
                e(m)
            )
        })
        .unwrap_or_default();
    let disabled = if can_edit { "" } else { " disabled" };
    let schemes = Scheme::ALL.map(Scheme::as_str).join(", ");
    body.push_str(&format!(
        "<section class=\"card\" aria-labelledby=\"h-config\"><h2 id=\"h-config\">Collector configuration</h2>{note}{err_html}\
<form method=\"post\" action=\"/portal/sites/{id}/collector-config\" class=\"stack\" id=\"config-form\" novalidate>{csrf}<fieldset{disabled}>\
<label for=\"hub_url\">Hub address</label><input id=\"hub_url\" name=\"hub_url\" type=\"url\" required value=\"{hub}\" aria-describedby=\"hub-help\">\
<p class=\"help\" id=\"hub-help\">Informational for new collectors: a collector keeps the hub address of its local file.</p>\
<label for=\"poll_interval_minutes\">Collection interval (minutes)</label>\
<input id=\"poll_interval_minutes\" name=\"poll_interval_minutes\" type=\"number\" inputmode=\"numeric\" min=\"{pmin}\" max=\"{pmax}\" step=\"1\" required value=\"{poll}\" aria-describedby=\"poll-help\">\
<p class=\"help\" id=\"poll-help\">How often the collector reads the printers and uploads: {pmin} to {pmax} minutes, {pdef} recommended.</p>\
<label for=\"job_poll_interval_s\">Job poll interval (seconds)</label>\
<input id=\"job_poll_interval_s\" name=\"job_poll_interval_s\" type=\"number\" inputmode=\"numeric\" min=\"{jmin}\" step=\"1\" required value=\"{job}\" aria-describedby=\"job-help\">\
<p class=\"help\" id=\"job-help\">How often job lists are read, from {jmin} seconds up to the collection interval; {jdef} by default.</p>\
<label for=\"targets\">Printer addresses</label>\
<textarea id=\"targets\" name=\"targets\" rows=\"5\" spellcheck=\"false\" aria-describedby=\"targets-help\">{targets}</textarea>\
<p class=\"help\" id=\"targets-help\">One per line: an address (<code>10.0.0.5</code>), a range (<code>10.0.0.10-10.0.0.60</code>) or a block (<code>10.0.1.0/28</code>), \
then optionally a scheme ({schemes}; default ledm-https) and ports (<code>631,8631</code>). At most 4096 addresses per line.</p>\
<button type=\"submit\">Save configuration</button></fieldset></form></section>",
        note = if can_edit { "" } else { "<p class=\"muted\">Only the reseller's administrators can change it.</p>" },
        id = s.id,
        csrf = html::csrf_field(v),
        hub = e(&values.hub_url),
        poll = e(&values.poll),
        job = e(&values.job_poll),
        targets = e(&values.targets),
        pmin = MIN_POLL_INTERVAL_MINUTES,
        pmax = MAX_POLL_INTERVAL_MINUTES,
        pdef = DEFAULT_POLL_INTERVAL_MINUTES,
        jmin = MIN_JOB_POLL_INTERVAL_S,
        jdef = DEFAULT_JOB_POLL_INTERVAL_S,
    ));

    // Printers.
    let prow: String = printers
        .iter()
        .map(|p| {
            let status = statuses.get(&p.id).map(|(_, s)| s);
            let low = status
                .map(|s| low_consumables(s, &t, now.date_naive()))
                .unwrap_or_default();
            format!(
                "<tr><th scope=\"row\"><a href=\"/portal/printers/{href}\">{serial}</a></th><td>{model}</td><td>{state}</td><td>{seen}</td><td>{low}</td></tr>",
                href = e(&url_part(&p.serial_number)),
                serial = e(&p.serial_number),
                model = e(p.product_name.as_deref().unwrap_or("—")),
                state = printer_state_badge(p, status, t.stale_factor, now),
                seen = html::time(p.last_upload_at),
                low = if low.is_empty() {
                    "<span class=\"muted\">none</span>".to_owned()
                } else {
                    e(&low.iter().map(|(l, d)| format!("{l}: {d}")).collect::<Vec<_>>().join("; "))
                },
            )
        })
        .collect();
    body.push_str(&format!(
        "<section class=\"card\" aria-labelledby=\"h-printers\"><h2 id=\"h-printers\">Printers</h2>{}\
<p><a href=\"/portal/alerts?site={}\">Alerts of this site</a> · <a href=\"/portal/usage?scope=site&amp;id={}\">Usage of this site</a></p></section>",
        super::fleet::table_or_none(
            &prow,
            "<th scope=\"col\">Serial number</th><th scope=\"col\">Model</th><th scope=\"col\">State</th><th scope=\"col\">Last seen</th><th scope=\"col\">Consumables</th>",
            "No printers registered at this site yet."
        ),
        s.id,
        s.id,
    ));
    let title = if s.name == s.account_name {
        format!("Site {}", s.name)
    } else {
        format!("Site {} ({})", s.name, s.account_name)
    };
    Ok(HttpResponse::build(status)
        .content_type(ContentType::html())
        .body(html::page(v, Nav::Fleet, &title, &body)))
}

/// The editor's form.
#[derive(Debug, Deserialize)]
pub struct ConfigForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    hub_url: String,
    #[serde(default)]
    poll_interval_minutes: String,
    #[serde(default)]
    job_poll_interval_s: String,
    #[serde(default)]
    targets: String,
}

fn whole_number(label: &str, v: &str) -> Result<u32, String> {
    v.trim()
        .parse::<u32>()
        .map_err(|_| format!("{label} must be a whole number, not {:?}", v.trim()))
}

/// Parse the targets text: `ADDRESS [SCHEME] [PORT,PORT]` per line. Targets
/// whose address was already configured keep their TLS policy.
fn parse_targets(text: &str, old: &[Value]) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let address = words.next().unwrap_or_default();
        let mut target = json!({ "address": address });
        for w in words {
            if let Some(s) = Scheme::ALL.iter().find(|s| s.as_str() == w) {
                target["scheme"] = json!(s.as_str());
            } else if w.chars().all(|c| c.is_ascii_digit() || c == ',') {
                let ports: Result<Vec<u16>, _> = w
                    .split(',')
                    .filter(|p| !p.is_empty())
                    .map(|p| p.parse::<u16>().map_err(|_| p.to_owned()))
                    .collect();
                let ports = ports.map_err(|p| {
                    format!(
                        "line {}: port {p:?} is not a port number (1 to 65535)",
                        n + 1
                    )
                })?;
                if ports.contains(&0) {
                    return Err(format!("line {}: port 0 is not a port number", n + 1));
                }
                target["ports"] = json!(ports);
            } else {
                return Err(format!(
                    "line {}: {w:?} is neither a scheme ({}) nor a list of ports like 443,8443",
                    n + 1,
                    Scheme::ALL.map(Scheme::as_str).join(", ")
                ));
            }
        }
        if let Some(tls) = old
            .iter()
            .find(|t| t["address"].as_str() == Some(address))
            .and_then(|t| t.get("tls"))
        {
            target["tls"] = tls.clone();
        }
        out.push(target);
    }
    Ok(out)
}

/// Build and validate the configuration from the form and the stored one.
fn build_config(site: &site::Model, form: &ConfigForm) -> Result<CollectorConfig, String> {
    let mut doc = site
        .collector_config
        .clone()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let poll = whole_number("The collection interval", &form.poll_interval_minutes)?;
    let job = whole_number("The job poll interval", &form.job_poll_interval_s)?;
    let old_targets = doc["targets"].as_array().cloned().unwrap_or_default();
    let targets = parse_targets(&form.targets, &old_targets)?;
    doc["account_name"] = json!(site.account_name);
    doc["hub_url"] = json!(form.hub_url.trim());
    doc["poll_interval_minutes"] = json!(poll);
    doc["job_poll_interval_s"] = json!(job);
    doc["targets"] = json!(targets);
    let config = CollectorConfig::from_json_value(doc).map_err(|e| e.to_string())?;
    config.validate().map_err(|e| explain(&e.to_string()))?;
    Ok(config)
}

/// Field names of the file format, as the form labels them.
fn explain(msg: &str) -> String {
    let m = msg
        .replace("job_poll_interval_s = ", "the job poll interval of ")
        .replace("poll_interval_minutes = ", "the collection interval of ")
        .replace("job_poll_interval_s", "the job poll interval")
        .replace("poll_interval_minutes", "the collection interval")
        .replace("hub_url", "the hub address");
    let mut c = m.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => m,
    }
}

/// `POST /portal/sites/{id}/collector-config`.
pub async fn save_config(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
    form: web::Form<ConfigForm>,
) -> Page {
    let v = viewer(&state, &req).await?;
    v.check_csrf(&form.csrf_token)?;
    let s = load_site(&state, &v, id.into_inner()).await?;
    v.who.administer(s.reseller_id, "site")?;
    let config = match build_config(&s, &form) {
        Ok(c) => c,
        Err(msg) => {
            let values = EditorValues {
                hub_url: form.hub_url.clone(),
                poll: form.poll_interval_minutes.clone(),
                job_poll: form.job_poll_interval_s.clone(),
                targets: form.targets.clone(),
            };
            return render(
                &state,
                &v,
                &s,
                &values,
                None,
                Some(&format!("Not saved. {msg}")),
                StatusCode::BAD_REQUEST,
            )
            .await;
        }
    };
    let json = serde_json::to_value(&config).map_err(ApiError::internal)?;
    let txn = state.db.begin_write().await?;
    site::Entity::update_many()
        .col_expr(site::Column::CollectorConfig, Expr::value(json.clone()))
        .col_expr(
            site::Column::ConfigVersion,
            Expr::col(site::Column::ConfigVersion).add(1),
        )
        .filter(site::Column::Id.eq(s.id))
        .exec(&txn)
        .await?;
    let version = site::Entity::find_by_id(s.id)
        .one(&txn)
        .await?
        .map_or(0, |s| s.config_version);
    txn.commit().await?;
    crate::auth::audit(
        &state,
        &v.who,
        Some(s.reseller_id),
        "collector_config.update",
        &format!("site:{}", s.id),
        Some(json!({
            "config_version": version,
            "poll_interval_minutes": config.poll_interval_minutes,
            "job_poll_interval_s": config.job_poll_interval_s,
            "targets": config.targets.iter().map(|t| t.address.clone()).collect::<Vec<_>>(),
            "via": "portal",
        })),
    )
    .await;
    tracing::info!(site_id = s.id, config_version = version, actor = %v.who.actor, "collector configuration changed in the portal");
    Ok(see_other(&format!(
        "/portal/sites/{}?saved={version}",
        s.id
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site_model() -> site::Model {
        site::Model {
            id: 1,
            reseller_id: 1,
            account_name: "acme".into(),
            name: "Acme".into(),
            collector_config: None,
            config_version: 0,
            created_at: Utc::now(),
        }
    }

    fn form(poll: &str, targets: &str) -> ConfigForm {
        ConfigForm {
            csrf_token: String::new(),
            hub_url: "https://hub.example".into(),
            poll_interval_minutes: poll.into(),
            job_poll_interval_s: "30".into(),
            targets: targets.into(),
        }
    }

    #[test]
    fn valid_form_builds_a_config() {
        let c = build_config(
            &site_model(),
            &form("60", "10.0.0.5\n10.0.1.0/28 ipps 631,8631\n"),
        )
        .unwrap();
        assert_eq!(c.poll_interval_minutes, 60);
        assert_eq!(c.targets.len(), 2);
        assert_eq!(c.targets[1].scheme, Scheme::Ipps);
        assert_eq!(c.targets[1].ports, vec![631, 8631]);
        assert_eq!(c.account_name, "acme");
    }

    #[test]
    fn invalid_input_is_explained() {
        let err = build_config(&site_model(), &form("5", "")).unwrap_err();
        assert!(
            err.contains("collection interval of 5 is too short"),
            "{err}"
        );
        let err = build_config(&site_model(), &form("abc", "")).unwrap_err();
        assert!(err.contains("whole number"), "{err}");
        let err = build_config(&site_model(), &form("60", "10.0.0.0/8")).unwrap_err();
        assert!(err.contains("more than the 4096 allowed"), "{err}");
        let err = build_config(&site_model(), &form("60", "10.0.0.1 telnet")).unwrap_err();
        assert!(err.contains("neither a scheme"), "{err}");
    }
}
