//! The web portal: server-rendered HTML under `/portal`, a little vanilla
//! JavaScript for the live parts (the alert stream, acknowledge and clear).
//!
//! # Security
//! - Pages need a logged-in session (the `ppu_session` cookie set by the
//!   login form through [`crate::auth::start_session`]); anything else is
//!   redirected to the login form. Bearer tokens are for the JSON API, not
//!   for pages.
//! - Every form POST but login carries the session's CSRF token in a hidden
//!   `csrf_token` field, compared in constant time; a missing or wrong token
//!   answers 403 and changes nothing. The JavaScript sends the same token in
//!   `X-CSRF-Token` to the JSON API.
//! - Tenant isolation comes from [`Principal`]: lists are restricted to
//!   `scope()`, single objects checked with `read()` / `administer()`; a
//!   foreign object answers 404, like the API.
//! - Every response under `/portal` carries a `Content-Security-Policy` that
//!   allows only the hub's own scripts, styles and connections (no inline
//!   script, no inline style), `X-Content-Type-Options: nosniff`,
//!   `Referrer-Policy: same-origin`, `X-Frame-Options: DENY` and, for pages,
//!   `Cache-Control: no-store`.
//! - Every interpolated value goes through [`html::e`].
//!
//! Assets are embedded with `include_str!`: no build step, no network.

mod admin;
mod alerts;
mod fleet;
pub mod html;
mod site;
mod usage;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde::Deserialize;

use crate::auth::{Credentials, Principal, Role, SESSION_COOKIE, Via};
use crate::error::ApiError;
use crate::state::AppState;

use html::e;

/// The Content-Security-Policy of every portal response.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

const CSS: &str = include_str!("assets/portal.css");
const JS: &str = include_str!("assets/portal.js");

/// Register the portal's routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(to_portal)).service(
        web::scope("/portal")
            .wrap(
                DefaultHeaders::new()
                    .add((header::CONTENT_SECURITY_POLICY, CSP))
                    .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                    .add((header::REFERRER_POLICY, "same-origin"))
                    .add((header::X_FRAME_OPTIONS, "DENY"))
                    .add((header::CACHE_CONTROL, "no-store")),
            )
            .app_data(
                web::FormConfig::default()
                    .limit(64 * 1024)
                    .error_handler(|err, _| {
                        PortalError::Api(ApiError::bad_request(
                            "invalid_form",
                            format!("the form could not be read: {err}"),
                        ))
                        .into()
                    }),
            )
            .app_data(web::QueryConfig::default().error_handler(|err, _| {
                PortalError::Api(ApiError::bad_request(
                    "invalid_query",
                    format!("invalid address parameters: {err}"),
                ))
                .into()
            }))
            .route("", web::get().to(to_portal))
            .route("/", web::get().to(fleet::overview))
            .route("/assets/portal.css", web::get().to(css))
            .route("/assets/portal.js", web::get().to(js))
            .route("/login", web::get().to(login_form))
            .route("/login", web::post().to(login))
            .route("/logout", web::post().to(logout))
            .route("/printers/{serial}", web::get().to(fleet::printer))
            .route("/sites/{id}", web::get().to(site::show))
            .route(
                "/sites/{id}/collector-config",
                web::post().to(site::save_config),
            )
            .route("/alerts", web::get().to(alerts::page))
            .route("/usage", web::get().to(usage::page))
            .route("/usage/export.csv", web::get().to(usage::export))
            .route("/admin", web::get().to(admin::page))
            .route("/admin/users", web::post().to(admin::create_user))
            .route("/admin/tokens", web::post().to(admin::create_token))
            .route(
                "/admin/tokens/{id}/revoke",
                web::post().to(admin::revoke_token),
            )
            .route("/admin/webhooks", web::post().to(admin::create_webhook))
            .default_service(web::to(not_found)),
    );
}

async fn to_portal() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/portal/"))
        .finish()
}

async fn not_found() -> Page {
    Err(PortalError::Api(ApiError::not_found("page")))
}

async fn css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "private, max-age=300"))
        .body(CSS)
}

async fn js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "private, max-age=300"))
        .body(JS)
}

// ---------------------------------------------------------------------------
// The viewer and errors
// ---------------------------------------------------------------------------

/// A logged-in portal user.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// Role and scope.
    pub who: Principal,
    /// The session's CSRF token.
    pub csrf: String,
    /// The user's email (for display and as the alert operator name).
    pub email: String,
}

impl Viewer {
    /// Reseller admins and platform admins manage users, tokens, webhooks.
    pub fn is_admin(&self) -> bool {
        matches!(self.who.role, Role::PlatformAdmin | Role::ResellerAdmin)
    }

    /// Whether the viewer may see money figures.
    pub fn sees_money(&self) -> bool {
        self.who.role != Role::Support
    }

    /// Whether the viewer may acknowledge and clear alerts.
    pub fn operates(&self) -> bool {
        self.who.role != Role::ResellerUser
    }

    /// Check a form's CSRF token (constant time).
    pub fn check_csrf(&self, given: &str) -> Result<(), PortalError> {
        if !given.is_empty() && crate::state::constant_time_eq(given, &self.csrf) {
            Ok(())
        } else {
            Err(PortalError::Api(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf",
                "missing or wrong CSRF token: reload the page and try again",
            )))
        }
    }
}

/// The logged-in viewer of a request, or a redirect to the login form.
pub async fn viewer(state: &AppState, req: &HttpRequest) -> Result<Viewer, PortalError> {
    let login = || {
        let next = req
            .uri()
            .path_and_query()
            .map_or("/portal/", |p| p.as_str());
        PortalError::Redirect(format!("/portal/login?next={}", html::url_part(next)))
    };
    if req.cookie(SESSION_COOKIE).is_none() {
        return Err(login());
    }
    match crate::auth::authenticate(state, req, false).await {
        Ok(who) => match &who.via {
            Via::Session { csrf, .. } => Ok(Viewer {
                csrf: csrf.clone(),
                email: who
                    .actor
                    .strip_prefix("user:")
                    .unwrap_or(&who.actor)
                    .to_owned(),
                who,
            }),
            Via::Bearer => Err(login()),
        },
        Err(err) if err.status == StatusCode::UNAUTHORIZED => Err(login()),
        Err(err) => Err(PortalError::Api(err)),
    }
}

/// What a portal handler fails with: a redirect, or an error page.
#[derive(Debug)]
pub enum PortalError {
    /// 303 to this location.
    Redirect(String),
    /// An error page with the API error's status and message.
    Api(ApiError),
}

impl std::fmt::Display for PortalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Redirect(to) => write!(f, "redirect to {to}"),
            Self::Api(e) => write!(f, "{e}"),
        }
    }
}

impl From<ApiError> for PortalError {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl From<sea_orm::DbErr> for PortalError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Api(ApiError::database(e))
    }
}

impl ResponseError for PortalError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Redirect(_) => StatusCode::SEE_OTHER,
            Self::Api(e) => e.status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Redirect(to) => HttpResponse::SeeOther()
                .insert_header((header::LOCATION, to.as_str()))
                .finish(),
            Self::Api(err) => {
                let title = match err.status {
                    StatusCode::NOT_FOUND => "Not found",
                    StatusCode::FORBIDDEN => "Not allowed",
                    StatusCode::BAD_REQUEST => "Invalid request",
                    StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
                    s if s.is_server_error() => "Temporarily unavailable",
                    _ => "Error",
                };
                let body = format!(
                    "<p class=\"error\" role=\"alert\">{}</p><p><a href=\"/portal/\">Back to the fleet</a></p>",
                    e(&capitalize(&err.message))
                );
                let mut resp = HttpResponse::build(err.status);
                if let Some(secs) = err.retry_after {
                    resp.insert_header((header::RETRY_AFTER, header::HeaderValue::from(secs)));
                }
                resp.content_type(ContentType::html())
                    .body(html::bare_page(title, &body))
            }
        }
    }
}

/// What portal handlers return.
pub type Page = Result<HttpResponse, PortalError>;

/// A 200 HTML page.
pub fn ok_html(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .body(body)
}

/// A 303 redirect after a successful form post.
pub fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

// ---------------------------------------------------------------------------
// Login and logout
// ---------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct NextParam {
    next: Option<String>,
}

/// Only local portal paths are followed after login (no open redirect).
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with("/portal/")
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control) =>
        {
            n
        }
        _ => "/portal/",
    }
}

fn login_body(next: &str, email: &str, error: Option<&str>) -> String {
    let err = error
        .map(|m| {
            format!(
                "<p class=\"error\" role=\"alert\" id=\"login-error\">{}</p>",
                e(m)
            )
        })
        .unwrap_or_default();
    format!(
        "{err}<form method=\"post\" action=\"/portal/login\" class=\"card stack\">\
<input type=\"hidden\" name=\"next\" value=\"{next}\">\
<label for=\"email\">Email</label><input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required value=\"{email}\">\
<label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
<button type=\"submit\">Log in</button></form>",
        next = e(next),
        email = e(email),
    )
}

async fn login_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<NextParam>,
) -> Page {
    let next = safe_next(q.next.as_deref());
    if req.cookie(SESSION_COOKIE).is_some() && viewer(&state, &req).await.is_ok() {
        return Ok(see_other(next));
    }
    Ok(ok_html(html::bare_page(
        "Log in to ppu-hub",
        &login_body(next, "", None),
    )))
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

async fn login(state: web::Data<AppState>, form: web::Form<LoginForm>) -> Page {
    let form = form.into_inner();
    let next = safe_next(form.next.as_deref()).to_owned();
    let creds = Credentials {
        email: form.email.clone(),
        password: form.password,
    };
    match crate::auth::start_session(&state, &creds).await {
        Ok((value, _, _)) => Ok(HttpResponse::SeeOther()
            .cookie(crate::auth::session_cookie(&value))
            .insert_header((header::LOCATION, next))
            .finish()),
        Err(err)
            if matches!(
                err.status,
                StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS
            ) =>
        {
            let mut resp = HttpResponse::build(err.status);
            if let Some(secs) = err.retry_after {
                resp.insert_header((header::RETRY_AFTER, header::HeaderValue::from(secs)));
            }
            Ok(resp.content_type(ContentType::html()).body(html::bare_page(
                "Log in to ppu-hub",
                &login_body(&next, &form.email, Some(&capitalize(&err.message))),
            )))
        }
        Err(err) => Err(err.into()),
    }
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf_token: String,
}

async fn logout(state: web::Data<AppState>, req: HttpRequest, form: web::Form<CsrfForm>) -> Page {
    let v = viewer(&state, &req).await?;
    v.check_csrf(&form.csrf_token)?;
    if let Some(c) = req.cookie(SESSION_COOKIE) {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        ppu_entities::session::Entity::delete_many()
            .filter(
                ppu_entities::session::Column::TokenSha256.eq(crate::auth::sha256_hex(c.value())),
            )
            .exec(&state.db.write)
            .await?;
    }
    let mut gone = crate::auth::session_cookie("");
    gone.make_removal();
    Ok(HttpResponse::SeeOther()
        .cookie(gone)
        .insert_header((header::LOCATION, "/portal/login"))
        .finish())
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_portal_paths_are_followed_after_login() {
        assert_eq!(safe_next(Some("/portal/alerts")), "/portal/alerts");
        assert_eq!(safe_next(Some("https://evil.example/")), "/portal/");
        assert_eq!(safe_next(Some("//evil.example/portal/")), "/portal/");
        assert_eq!(safe_next(Some("/portal/\\evil")), "/portal/");
        assert_eq!(safe_next(None), "/portal/");
    }
}
