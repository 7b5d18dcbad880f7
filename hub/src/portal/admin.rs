//! Administration for reseller admins (and platform admins): users, API
//! tokens, webhooks, and the latest audit entries.
//!
//! The rules are the JSON API's: a reseller admin manages only its own
//! reseller and grants only reseller roles; secrets (API tokens, webhook
//! signing secrets) are shown once, stored hashed (tokens) and every change
//! is audited.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use chrono::Utc;
use ppu_entities::{alert_event, api_token, audit_entry, reseller, user, webhook};
use ppu_protocol::model::Severity;
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;
use serde_json::json;

use super::html::{self, Nav, e};
use super::{Page, PortalError, Viewer, ok_html, viewer};
use crate::auth::{Role, audit, hash_password, sha256_hex};
use crate::error::ApiError;
use crate::state::AppState;

fn forbidden() -> PortalError {
    PortalError::Api(ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "only administrators manage users, tokens and webhooks",
    ))
}

async fn admin_viewer(state: &AppState, req: &HttpRequest) -> Result<Viewer, PortalError> {
    let v = viewer(state, req).await?;
    if !v.is_admin() {
        return Err(forbidden());
    }
    Ok(v)
}

/// The reseller a new object belongs to: a reseller admin's own; the one a
/// platform admin picked.
async fn target_reseller(state: &AppState, v: &Viewer, picked: &str) -> Result<i64, String> {
    let rid = match v.who.role {
        Role::ResellerAdmin => v.who.reseller_id.ok_or("your account has no reseller")?,
        Role::PlatformAdmin => picked
            .trim()
            .parse::<i64>()
            .map_err(|_| "choose a reseller".to_owned())?,
        _ => return Err("your role may not do this".into()),
    };
    v.who.administer(rid, "reseller").map_err(|e| e.message)?;
    reseller::Entity::find_by_id(rid)
        .one(&state.db.read)
        .await
        .map_err(|e| ApiError::database(e).message)?
        .ok_or_else(|| "reseller not found".to_owned())?;
    Ok(rid)
}

fn reseller_role(s: &str) -> Result<Role, String> {
    match Role::parse(s) {
        Ok(r) if r.is_reseller_role() => Ok(r),
        _ => Err("role must be reseller_admin or reseller_user".into()),
    }
}

fn printable(field: &str, v: &str, max: usize) -> Result<String, String> {
    let v = v.trim();
    if v.is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(format!("{field} must have 1 to {max} printable characters"));
    }
    Ok(v.to_owned())
}

/// A message above the forms: `Ok` for a success (may hold a secret shown
/// once), `Err` for a refusal.
type Outcome = Result<String, String>;

async fn render(state: &AppState, v: &Viewer, outcome: Option<Outcome>) -> Page {
    let scope = v.who.scope();
    let mut uq = user::Entity::find();
    let mut tq = api_token::Entity::find();
    let mut wq = webhook::Entity::find();
    let mut aq = audit_entry::Entity::find();
    if let Some(rid) = scope {
        uq = uq.filter(user::Column::ResellerId.eq(rid));
        tq = tq.filter(api_token::Column::ResellerId.eq(rid));
        wq = wq.filter(webhook::Column::ResellerId.eq(rid));
        aq = aq.filter(audit_entry::Column::ResellerId.eq(rid));
    }
    let users = uq
        .order_by_asc(user::Column::Id)
        .all(&state.db.read)
        .await?;
    let tokens = tq
        .order_by_desc(api_token::Column::Id)
        .limit(200)
        .all(&state.db.read)
        .await?;
    let hooks = wq
        .order_by_asc(webhook::Column::Id)
        .all(&state.db.read)
        .await?;
    let entries = aq
        .order_by_desc(audit_entry::Column::Id)
        .limit(25)
        .all(&state.db.read)
        .await?;
    let resellers = if scope.is_none() {
        reseller::Entity::find()
            .order_by_asc(reseller::Column::Name)
            .all(&state.db.read)
            .await?
    } else {
        Vec::new()
    };
    let reseller_field = if scope.is_none() {
        let opts: String = resellers
            .iter()
            .map(|r| format!("<option value=\"{}\">{}</option>", r.id, e(&r.name)))
            .collect();
        format!(
            "<label for=\"{{p}}-reseller\">Reseller</label><select id=\"{{p}}-reseller\" name=\"reseller_id\" required>{opts}</select>"
        )
    } else {
        String::new()
    };
    let reseller_field = |prefix: &str| reseller_field.replace("{p}", prefix);
    let csrf = html::csrf_field(v);
    let role_opts = "<option value=\"reseller_user\">reseller user (reads and exports)</option>\
<option value=\"reseller_admin\">reseller admin (manages everything of the reseller)</option>";
    let mut body = String::new();
    match outcome {
        Some(Ok(m)) => body.push_str(&format!(
            "<div class=\"notice\" role=\"status\" id=\"outcome\">{m}</div>"
        )),
        Some(Err(m)) => body.push_str(&format!(
            "<p class=\"error\" role=\"alert\" id=\"outcome\">Not done: {}</p>",
            e(&m)
        )),
        None => {}
    }

    // Users.
    let rows: String = users
        .iter()
        .map(|u| {
            format!(
                "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                e(&u.email),
                e(&u.name),
                e(&u.role),
                html::time(Some(u.created_at)),
                if u.disabled_at.is_some() {
                    html::badge("muted", "disabled")
                } else {
                    html::badge("ok", "active")
                },
            )
        })
        .collect();
    body.push_str(&format!(
        "<section class=\"card\" aria-labelledby=\"h-users\"><h2 id=\"h-users\">Users</h2>{table}\
<details><summary>Add a user</summary><form method=\"post\" action=\"/portal/admin/users\" class=\"stack\" id=\"user-form\">{csrf}{rf}\
<label for=\"u-email\">Email</label><input id=\"u-email\" name=\"email\" type=\"email\" required autocomplete=\"off\">\
<label for=\"u-name\">Name</label><input id=\"u-name\" name=\"name\" required maxlength=\"200\">\
<label for=\"u-password\">Initial password (at least 12 characters)</label><input id=\"u-password\" name=\"password\" type=\"password\" minlength=\"12\" required autocomplete=\"new-password\">\
<label for=\"u-role\">Role</label><select id=\"u-role\" name=\"role\">{role_opts}</select>\
<button type=\"submit\">Add user</button></form></details></section>",
        table = super::fleet::table_or_none(&rows, "<th scope=\"col\">Email</th><th scope=\"col\">Name</th><th scope=\"col\">Role</th><th scope=\"col\">Created</th><th scope=\"col\">Status</th>", "No users."),
        rf = reseller_field("u"),
    ));

    // Tokens.
    let rows: String = tokens
        .iter()
        .map(|t| {
            let action = if t.revoked_at.is_some() {
                format!("{} {}", html::badge("muted", "revoked"), html::time(t.revoked_at))
            } else {
                format!(
                    "<form method=\"post\" action=\"/portal/admin/tokens/{}/revoke\" class=\"inline\">{csrf}<button type=\"submit\" class=\"secondary\" aria-label=\"Revoke token {}\">Revoke</button></form>",
                    t.id,
                    e(&t.name)
                )
            };
            format!(
                "<tr><th scope=\"row\">{}</th><td><code>{}…</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                e(&t.name),
                e(&t.prefix),
                e(&t.role),
                e(&t.created_by),
                html::time(Some(t.created_at)),
                html::time(t.last_used_at),
                action
            )
        })
        .collect();
    body.push_str(&format!(
        "<section class=\"card\" aria-labelledby=\"h-tokens\"><h2 id=\"h-tokens\">API tokens</h2>{table}\
<details><summary>Create a token</summary><form method=\"post\" action=\"/portal/admin/tokens\" class=\"stack\" id=\"token-form\">{csrf}{rf}\
<label for=\"t-name\">Name (what uses it)</label><input id=\"t-name\" name=\"name\" required maxlength=\"200\">\
<label for=\"t-role\">Role</label><select id=\"t-role\" name=\"role\">{role_opts}</select>\
<button type=\"submit\">Create token</button></form></details></section>",
        table = super::fleet::table_or_none(&rows, "<th scope=\"col\">Name</th><th scope=\"col\">Prefix</th><th scope=\"col\">Role</th><th scope=\"col\">Created by</th><th scope=\"col\">Created</th><th scope=\"col\">Last used</th><th scope=\"col\">Revoke</th>", "No tokens."),
        rf = reseller_field("t"),
    ));

    // Webhooks.
    let rows: String = hooks
        .iter()
        .map(|w| {
            format!(
                "<tr><th scope=\"row\"><code>{}</code></th><td>{}</td><td>{}</td><td>{}</td></tr>",
                e(&w.url),
                e(&w.min_severity),
                if w.active {
                    html::badge("ok", "active")
                } else {
                    html::badge("muted", "inactive")
                },
                html::time(Some(w.created_at)),
            )
        })
        .collect();
    let sev_opts: String = Severity::ALL
        .iter()
        .map(|s| {
            let sel = if *s == Severity::Warning {
                " selected"
            } else {
                ""
            };
            format!("<option value=\"{0}\"{sel}>{0}</option>", s.as_str())
        })
        .collect();
    body.push_str(&format!(
        "<section class=\"card\" aria-labelledby=\"h-hooks\"><h2 id=\"h-hooks\">Webhooks</h2>{table}\
<details><summary>Add a webhook</summary><form method=\"post\" action=\"/portal/admin/webhooks\" class=\"stack\" id=\"webhook-form\">{csrf}{rf}\
<label for=\"w-url\">URL (https)</label><input id=\"w-url\" name=\"url\" type=\"url\" required placeholder=\"https://service.example/hooks/ppu\">\
<label for=\"w-sev\">Minimum severity</label><select id=\"w-sev\" name=\"min_severity\">{sev_opts}</select>\
<button type=\"submit\">Add webhook</button></form></details></section>",
        table = super::fleet::table_or_none(&rows, "<th scope=\"col\">URL</th><th scope=\"col\">Minimum severity</th><th scope=\"col\">State</th><th scope=\"col\">Created</th>", "No webhooks."),
        rf = reseller_field("w"),
    ));

    // Audit log.
    let rows: String = entries
        .iter()
        .map(|a| {
            format!(
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                html::time(Some(a.at)),
                e(&a.actor),
                e(&a.action),
                e(&a.object)
            )
        })
        .collect();
    body.push_str(&format!(
        "<section class=\"card\" aria-labelledby=\"h-audit\"><h2 id=\"h-audit\">Latest audit entries</h2>{}</section>",
        super::fleet::table_or_none(&rows, "<th scope=\"col\">When</th><th scope=\"col\">Who</th><th scope=\"col\">Action</th><th scope=\"col\">Object</th>", "Nothing recorded yet.")
    ));
    Ok(ok_html(html::page(v, Nav::Admin, "Administration", &body)))
}

/// `GET /portal/admin`.
pub async fn page(state: web::Data<AppState>, req: HttpRequest) -> Page {
    let v = admin_viewer(&state, &req).await?;
    render(&state, &v, None).await
}

#[derive(Debug, Deserialize)]
pub struct UserForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    reseller_id: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    role: String,
}

/// `POST /portal/admin/users`.
pub async fn create_user(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<UserForm>,
) -> Page {
    let v = admin_viewer(&state, &req).await?;
    v.check_csrf(&form.csrf_token)?;
    let outcome = create_user_inner(&state, &v, &form).await;
    render(&state, &v, Some(outcome)).await
}

async fn create_user_inner(state: &AppState, v: &Viewer, f: &UserForm) -> Outcome {
    let rid = target_reseller(state, v, &f.reseller_id).await?;
    let role = reseller_role(&f.role)?;
    let email = f.email.trim().to_lowercase();
    if email.len() > 200
        || !email.contains('@')
        || email.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err("email must be an address like name@example.com".into());
    }
    let name = printable("name", &f.name, 200)?;
    if f.password.chars().count() < 12 || f.password.len() > 1024 {
        return Err("the password must have at least 12 characters".into());
    }
    let hash = hash_password(&f.password).map_err(|e| e.message)?;
    let row = user::ActiveModel {
        email: Set(email.clone()),
        name: Set(name),
        password_hash: Set(hash),
        role: Set(role.as_str().to_owned()),
        reseller_id: Set(Some(rid)),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&state.db.write)
    .await
    .map_err(|e| match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
            "a user with this email exists".to_owned()
        }
        _ => ApiError::database(e).message,
    })?;
    audit(
        state,
        &v.who,
        Some(rid),
        "user.create",
        &format!("user:{}", row.id),
        Some(json!({"email": email, "role": role, "via": "portal"})),
    )
    .await;
    Ok(format!(
        "User <strong>{}</strong> added as {}.",
        e(&email),
        e(role.as_str())
    ))
}

#[derive(Debug, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    reseller_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
}

/// `POST /portal/admin/tokens`: the token is shown once, on the answer.
pub async fn create_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<TokenForm>,
) -> Page {
    let v = admin_viewer(&state, &req).await?;
    v.check_csrf(&form.csrf_token)?;
    let outcome = create_token_inner(&state, &v, &form).await;
    render(&state, &v, Some(outcome)).await
}

async fn create_token_inner(state: &AppState, v: &Viewer, f: &TokenForm) -> Outcome {
    let rid = target_reseller(state, v, &f.reseller_id).await?;
    let role = reseller_role(&f.role)?;
    let name = printable("name", &f.name, 200)?;
    let token = format!("ppu_{}", crate::files::random_secret(32));
    let prefix: String = token.chars().take(10).collect();
    let row = api_token::ActiveModel {
        token_sha256: Set(sha256_hex(&token)),
        prefix: Set(prefix.clone()),
        name: Set(name.clone()),
        role: Set(role.as_str().to_owned()),
        reseller_id: Set(Some(rid)),
        created_by: Set(v.who.actor.clone()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&state.db.write)
    .await
    .map_err(|e| ApiError::database(e).message)?;
    audit(
        state,
        &v.who,
        Some(rid),
        "token.create",
        &format!("token:{}", row.id),
        Some(json!({"name": name, "role": role, "prefix": prefix, "via": "portal"})),
    )
    .await;
    Ok(format!(
        "Token <strong>{}</strong> created. Copy it now, it is not shown again:\
<p><output id=\"new-token\" class=\"secret\">{}</output></p>",
        e(&name),
        e(&token)
    ))
}

#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf_token: String,
}

/// `POST /portal/admin/tokens/{id}/revoke`.
pub async fn revoke_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
    form: web::Form<CsrfOnly>,
) -> Page {
    let v = admin_viewer(&state, &req).await?;
    v.check_csrf(&form.csrf_token)?;
    let t = api_token::Entity::find_by_id(id.into_inner())
        .one(&state.db.read)
        .await?
        .ok_or_else(|| ApiError::not_found("token"))?;
    match t.reseller_id {
        Some(rid) => v.who.administer(rid, "token")?,
        None => v.who.platform().map_err(|_| ApiError::not_found("token"))?,
    }
    api_token::ActiveModel {
        id: Set(t.id),
        revoked_at: Set(Some(t.revoked_at.unwrap_or_else(Utc::now))),
        ..Default::default()
    }
    .update(&state.db.write)
    .await?;
    audit(
        &state,
        &v.who,
        t.reseller_id,
        "token.revoke",
        &format!("token:{}", t.id),
        Some(json!({"via": "portal"})),
    )
    .await;
    render(
        &state,
        &v,
        Some(Ok(format!(
            "Token <strong>{}</strong> revoked.",
            e(&t.name)
        ))),
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct WebhookForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    reseller_id: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    min_severity: String,
}

/// `POST /portal/admin/webhooks`: the signing secret is shown once.
pub async fn create_webhook(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<WebhookForm>,
) -> Page {
    let v = admin_viewer(&state, &req).await?;
    v.check_csrf(&form.csrf_token)?;
    let outcome = create_webhook_inner(&state, &v, &form).await;
    render(&state, &v, Some(outcome)).await
}

async fn create_webhook_inner(state: &AppState, v: &Viewer, f: &WebhookForm) -> Outcome {
    let rid = target_reseller(state, v, &f.reseller_id).await?;
    let url = crate::routes::alerts::validate_webhook_url(&f.url).map_err(|e| e.message)?;
    let min: Severity = f.min_severity.parse().map_err(|e: String| e)?;
    let cursor = alert_event::Entity::find()
        .order_by_desc(alert_event::Column::Id)
        .one(&state.db.read)
        .await
        .map_err(|e| ApiError::database(e).message)?
        .map_or(0, |e| e.id);
    let secret = crate::files::random_secret(32);
    let id = webhook::Entity::insert(webhook::ActiveModel {
        reseller_id: Set(rid),
        url: Set(url.clone()),
        secret: Set(secret.clone()),
        min_severity: Set(min.as_str().to_owned()),
        active: Set(true),
        cursor: Set(cursor),
        created_at: Set(Utc::now()),
        ..Default::default()
    })
    .exec(&state.db.write)
    .await
    .map_err(|e| ApiError::database(e).message)?
    .last_insert_id;
    audit(
        state,
        &v.who,
        Some(rid),
        "webhook.create",
        &format!("webhook:{id}"),
        Some(json!({"url": url, "min_severity": min, "via": "portal"})),
    )
    .await;
    Ok(format!(
        "Webhook to <code>{}</code> added. Its signing secret, shown once:\
<p><output id=\"new-secret\" class=\"secret\">{}</output></p>",
        e(&url),
        e(&secret)
    ))
}
