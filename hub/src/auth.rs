//! Accounts and access: who is calling, what they may see.
//!
//! A request is authenticated by exactly one of:
//! - `Authorization: Bearer <token>`: the bootstrap admin token (platform
//!   admin) or an API token (stored as SHA-256, scoped to a role and a reseller);
//! - the `ppu_session` cookie of a logged-in user. Cookie-authenticated
//!   requests that change anything must carry the session's CSRF token in
//!   `X-CSRF-Token` (or a `csrf_token` form field, checked by the form handler).
//!
//! Tenant isolation: a reseller role sees only its own reseller's objects;
//! anything else answers 404, so a foreign object's existence is not revealed.
//! Support staff see every reseller's printers and alerts, and no money.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{Method, StatusCode};
use actix_web::{FromRequest, HttpRequest, HttpResponse, dev::Payload, web};
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use chrono::Utc;
use dashmap::DashMap;
use ppu_entities::{api_token, audit_entry, reseller, session, user};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::state::AppState;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "ppu_session";
/// Session lifetime.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Failed logins allowed per account within [`THROTTLE_WINDOW`].
const MAX_FAILURES: u32 = 5;
/// Window of the login throttle.
const THROTTLE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Roles, most powerful first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Operates the platform: every reseller, every action.
    PlatformAdmin,
    /// Manages one reseller: users, tokens, sites, collectors, contracts, webhooks.
    ResellerAdmin,
    /// Reads and exports one reseller's data.
    ResellerUser,
    /// Reads printer information of every reseller for maintenance; no money.
    Support,
}

impl Role {
    /// The stored identifier.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PlatformAdmin => "platform_admin",
            Self::ResellerAdmin => "reseller_admin",
            Self::ResellerUser => "reseller_user",
            Self::Support => "support",
        }
    }

    /// Parse a stored identifier.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        match s {
            "platform_admin" => Ok(Self::PlatformAdmin),
            "reseller_admin" => Ok(Self::ResellerAdmin),
            "reseller_user" => Ok(Self::ResellerUser),
            "support" => Ok(Self::Support),
            other => Err(ApiError::bad_request(
                "invalid_role",
                format!(
                    "unknown role `{other}` (platform_admin, reseller_admin, reseller_user, support)"
                ),
            )),
        }
    }

    /// Whether the role belongs to one reseller.
    pub fn is_reseller_role(self) -> bool {
        matches!(self, Self::ResellerAdmin | Self::ResellerUser)
    }
}

/// How the caller authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A bearer token.
    Bearer,
    /// A session cookie, with the session's CSRF token.
    Session {
        /// The session's CSRF token.
        csrf: String,
        /// The user.
        user_id: i64,
    },
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Role.
    pub role: Role,
    /// The reseller of a reseller role.
    pub reseller_id: Option<i64>,
    /// For the audit log: `admin-token`, `token:<prefix>`, `user:<email>`.
    pub actor: String,
    /// How.
    pub via: Via,
}

impl Principal {
    /// Whether the caller may read objects of reseller `rid`.
    pub fn sees_reseller(&self, rid: i64) -> bool {
        match self.role {
            Role::PlatformAdmin | Role::Support => true,
            Role::ResellerAdmin | Role::ResellerUser => self.reseller_id == Some(rid),
        }
    }

    /// Read access to a reseller's object, or 404 (its existence stays hidden).
    pub fn read(&self, rid: i64, what: &str) -> Result<(), ApiError> {
        if self.sees_reseller(rid) {
            Ok(())
        } else {
            Err(ApiError::not_found(what))
        }
    }

    /// Administrative access to a reseller's object: 404 when foreign, 403 when
    /// visible but the role may not change it.
    pub fn administer(&self, rid: i64, what: &str) -> Result<(), ApiError> {
        self.read(rid, what)?;
        match self.role {
            Role::PlatformAdmin => Ok(()),
            Role::ResellerAdmin if self.reseller_id == Some(rid) => Ok(()),
            _ => Err(forbidden()),
        }
    }

    /// Operational access (acknowledge and clear alerts): admins and support staff.
    pub fn operate(&self, rid: i64, what: &str) -> Result<(), ApiError> {
        self.read(rid, what)?;
        match self.role {
            Role::ResellerUser => Err(forbidden()),
            _ => Ok(()),
        }
    }

    /// Only the platform admin.
    pub fn platform(&self) -> Result<(), ApiError> {
        if self.role == Role::PlatformAdmin {
            Ok(())
        } else {
            Err(forbidden())
        }
    }

    /// Money figures (billing, contracts): not for support staff.
    pub fn money(&self, rid: i64, what: &str) -> Result<(), ApiError> {
        if self.role == Role::Support {
            return Err(forbidden());
        }
        self.read(rid, what)
    }

    /// The reseller a list is restricted to (`None`: every reseller).
    pub fn scope(&self) -> Option<i64> {
        if self.role.is_reseller_role() {
            Some(self.reseller_id.unwrap_or(-1))
        } else {
            None
        }
    }
}

/// 403: the caller's role may not do this.
pub fn forbidden() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "your role may not do this",
    )
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

/// Hex SHA-256.
pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn bearer(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
}

fn safe_method(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Authenticate a request (shared by the extractors and the portal pages).
pub async fn authenticate(
    state: &AppState,
    req: &HttpRequest,
    check_csrf: bool,
) -> Result<Principal, ApiError> {
    if let Some(token) = bearer(req) {
        if state.is_admin_token(&token) {
            return Ok(Principal {
                role: Role::PlatformAdmin,
                reseller_id: None,
                actor: "admin-token".into(),
                via: Via::Bearer,
            });
        }
        let row = api_token::Entity::find()
            .filter(api_token::Column::TokenSha256.eq(sha256_hex(&token)))
            .filter(api_token::Column::RevokedAt.is_null())
            .one(&state.db.read)
            .await?
            .ok_or_else(|| unauthorized("invalid or revoked token"))?;
        let touch = api_token::ActiveModel {
            id: Set(row.id),
            last_used_at: Set(Some(Utc::now())),
            ..Default::default()
        };
        let db = state.db.write.clone();
        actix_web::rt::spawn(async move {
            let _ = touch.update(&db).await;
        });
        return Ok(Principal {
            role: Role::parse(&row.role)?,
            reseller_id: row.reseller_id,
            actor: format!("token:{}", row.prefix),
            via: Via::Bearer,
        });
    }
    let Some(cookie) = req.cookie(SESSION_COOKIE) else {
        return Err(unauthorized("log in or send a bearer token"));
    };
    let s = session::Entity::find()
        .filter(session::Column::TokenSha256.eq(sha256_hex(cookie.value())))
        .one(&state.db.read)
        .await?
        .filter(|s| s.expires_at > Utc::now())
        .ok_or_else(|| unauthorized("session expired, log in again"))?;
    let u = user::Entity::find_by_id(s.user_id)
        .one(&state.db.read)
        .await?
        .filter(|u| u.disabled_at.is_none())
        .ok_or_else(|| unauthorized("account disabled"))?;
    if check_csrf && !safe_method(req.method()) {
        let given = req
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !crate::state::constant_time_eq(given, &s.csrf_token) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf",
                "missing or wrong CSRF token",
            ));
        }
    }
    Ok(Principal {
        role: Role::parse(&u.role)?,
        reseller_id: u.reseller_id,
        actor: format!("user:{}", u.email),
        via: Via::Session {
            csrf: s.csrf_token,
            user_id: u.id,
        },
    })
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| ApiError::internal("no app state"))?
                .clone();
            authenticate(&state, &req, true).await
        })
    }
}

/// Write an audit entry (best effort: a failure is logged, not fatal).
pub async fn audit(
    state: &AppState,
    who: &Principal,
    reseller_id: Option<i64>,
    action: &str,
    object: &str,
    detail: Option<serde_json::Value>,
) {
    let row = audit_entry::ActiveModel {
        at: Set(Utc::now()),
        actor: Set(who.actor.clone()),
        reseller_id: Set(reseller_id),
        action: Set(action.to_owned()),
        object: Set(object.to_owned()),
        detail: Set(detail),
        ..Default::default()
    };
    if let Err(e) = row.insert(&state.db.write).await {
        tracing::error!(error = %e, action, object, "audit entry not written");
    }
}

/// Argon2id hash of a password (PHC string).
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(ApiError::internal)
}

/// Whether `password` matches the PHC string.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Failed-login counters per account (in memory: a restart forgives).
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: DashMap<String, (u32, Instant)>,
}

impl LoginThrottle {
    /// Seconds to wait when `key` is locked out.
    pub fn locked(&self, key: &str) -> Option<u64> {
        let e = self.failures.get(key)?;
        let (n, since) = *e;
        let left = THROTTLE_WINDOW.checked_sub(since.elapsed())?;
        (n >= MAX_FAILURES).then_some(left.as_secs().max(1))
    }

    /// Count a failure.
    pub fn fail(&self, key: &str) {
        let mut e = self
            .failures
            .entry(key.to_owned())
            .or_insert((0, Instant::now()));
        if e.1.elapsed() > THROTTLE_WINDOW {
            *e = (0, Instant::now());
        }
        e.0 += 1;
    }

    /// Forget failures after a success.
    pub fn succeed(&self, key: &str) {
        self.failures.remove(key);
    }
}

// ---------------------------------------------------------------------------
// Routes: login, logout, session, users, tokens, audit log
// ---------------------------------------------------------------------------

/// Register the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/login", web::post().to(login))
        .route("/api/v1/logout", web::post().to(logout))
        .route("/api/v1/session", web::get().to(current))
        .route("/api/v1/users", web::post().to(create_user))
        .route("/api/v1/users", web::get().to(list_users))
        .route("/api/v1/tokens", web::post().to(create_token))
        .route("/api/v1/tokens", web::get().to(list_tokens))
        .route("/api/v1/tokens/{id}", web::delete().to(revoke_token))
        .route("/api/v1/audit", web::get().to(list_audit));
}

/// Login credentials.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
}

/// Check credentials, create a session; returns the cookie value and the session.
pub async fn start_session(
    state: &AppState,
    creds: &Credentials,
) -> Result<(String, session::Model, user::Model), ApiError> {
    let email = creds.email.trim().to_lowercase();
    if let Some(wait) = state.login_throttle.locked(&email) {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            "too many failed logins for this account, wait and retry",
        );
        e.retry_after = Some(u32::try_from(wait).unwrap_or(u32::MAX));
        return Err(e);
    }
    // No account has a NUL byte in its address (and PostgreSQL refuses one in
    // a query): such a login is simply wrong, not a storage error.
    let found = if email.contains('\0') {
        None
    } else {
        user::Entity::find()
            .filter(user::Column::Email.eq(&email))
            .one(&state.db.read)
            .await?
            .filter(|u| u.disabled_at.is_none())
    };
    let ok = match &found {
        Some(u) => verify_password(&creds.password, &u.password_hash),
        None => {
            // Same work for unknown accounts, so timing tells nothing.
            let _ = verify_password(&creds.password, dummy_hash());
            false
        }
    };
    let Some(u) = found.filter(|_| ok) else {
        state.login_throttle.fail(&email);
        tracing::info!(email = %email, "login refused");
        return Err(unauthorized("wrong email or password"));
    };
    state.login_throttle.succeed(&email);
    let value = crate::files::random_secret(32);
    let now = Utc::now();
    let s = session::ActiveModel {
        token_sha256: Set(sha256_hex(&value)),
        user_id: Set(u.id),
        csrf_token: Set(crate::files::random_secret(24)),
        created_at: Set(now),
        expires_at: Set(
            now + chrono::Duration::from_std(SESSION_TTL).unwrap_or(chrono::Duration::hours(12))
        ),
        ..Default::default()
    }
    .insert(&state.db.write)
    .await?;
    Ok((value, s, u))
}

/// A real Argon2id hash of a random string, verified against for unknown accounts.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password(&crate::files::random_secret(16)).unwrap_or_default())
}

/// The session cookie: HttpOnly, Secure, SameSite=Strict.
pub fn session_cookie(value: &str) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, value.to_owned())
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Strict)
        .path("/")
        .max_age(actix_web::cookie::time::Duration::seconds(
            SESSION_TTL.as_secs() as i64,
        ))
        .finish()
}

/// A new session.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoggedIn {
    /// The account's email.
    pub email: String,
    /// The account's name.
    pub name: String,
    /// Its role: `platform_admin`, `reseller_admin`, `reseller_user` or `support`.
    pub role: String,
    /// Its reseller (reseller roles).
    pub reseller_id: Option<i64>,
    /// Send this as `X-CSRF-Token` with every change made with the session cookie.
    pub csrf_token: String,
}

/// Log in: sets the `ppu_session` cookie (HttpOnly, Secure, SameSite=Strict).
#[utoipa::path(
    post,
    path = "/api/v1/login",
    tag = "accounts",
    security(()),
    request_body = Credentials,
    responses(
        (status = 200, description = "Logged in; `Set-Cookie: ppu_session=...`.", body = LoggedIn),
        (status = 401, description = "`unauthorized`: wrong email or password.", body = ppu_protocol::api::ErrorBody),
        (status = 429, description = "`too_many_attempts`: too many failed logins for this account; `Retry-After`.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn login(
    state: web::Data<AppState>,
    body: web::Json<Credentials>,
) -> Result<HttpResponse, ApiError> {
    let (value, s, u) = start_session(&state, &body).await?;
    Ok(HttpResponse::Ok()
        .cookie(session_cookie(&value))
        .json(LoggedIn {
            email: u.email,
            name: u.name,
            role: u.role,
            reseller_id: u.reseller_id,
            csrf_token: s.csrf_token,
        }))
}

/// Log out: ends the cookie's session (a bearer caller changes nothing).
#[utoipa::path(
    post,
    path = "/api/v1/logout",
    tag = "accounts",
    responses((status = 204, description = "Logged out; the cookie is removed."))
)]
pub async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: Principal,
) -> Result<HttpResponse, ApiError> {
    if let (Via::Session { .. }, Some(c)) = (&who.via, req.cookie(SESSION_COOKIE)) {
        session::Entity::delete_many()
            .filter(session::Column::TokenSha256.eq(sha256_hex(c.value())))
            .exec(&state.db.write)
            .await?;
    }
    let mut gone = session_cookie("");
    gone.make_removal();
    Ok(HttpResponse::NoContent().cookie(gone).finish())
}

/// Who is calling.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionInfo {
    /// `admin-token`, `token:<prefix>` or `user:<email>`.
    pub actor: String,
    /// The role.
    #[schema(value_type = String)]
    pub role: Role,
    /// The reseller of a reseller role.
    pub reseller_id: Option<i64>,
    /// The session's CSRF token (cookie sessions; null for bearer tokens).
    pub csrf_token: Option<String>,
}

/// The caller: role, reseller and (for a cookie session) its CSRF token.
#[utoipa::path(
    get,
    path = "/api/v1/session",
    tag = "accounts",
    responses((status = 200, description = "The caller.", body = SessionInfo))
)]
pub async fn current(who: Principal) -> HttpResponse {
    let csrf = match &who.via {
        Via::Session { csrf, .. } => Some(csrf.clone()),
        Via::Bearer => None,
    };
    HttpResponse::Ok().json(SessionInfo {
        actor: who.actor,
        role: who.role,
        reseller_id: who.reseller_id,
        csrf_token: csrf,
    })
}

/// Check that `who` may grant `role` for `reseller_id`.
fn may_grant(
    who: &Principal,
    role: Role,
    reseller_id: Option<i64>,
) -> Result<Option<i64>, ApiError> {
    match (role.is_reseller_role(), reseller_id) {
        (true, None) => Err(ApiError::bad_request(
            "invalid_field",
            "reseller roles need reseller_id",
        )),
        (false, Some(_)) => Err(ApiError::bad_request(
            "invalid_field",
            "only reseller roles have a reseller_id",
        )),
        _ => Ok(()),
    }?;
    match who.role {
        Role::PlatformAdmin => Ok(reseller_id),
        Role::ResellerAdmin if role.is_reseller_role() && reseller_id == who.reseller_id => {
            Ok(reseller_id)
        }
        Role::ResellerAdmin if role.is_reseller_role() => Err(ApiError::not_found("reseller")),
        _ => Err(forbidden()),
    }
}

async fn reseller_exists(state: &AppState, rid: Option<i64>) -> Result<(), ApiError> {
    if let Some(rid) = rid {
        reseller::Entity::find_by_id(rid)
            .one(&state.db.read)
            .await?
            .ok_or_else(|| ApiError::not_found("reseller"))?;
    }
    Ok(())
}

/// A new account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Email (login), unique.
    email: String,
    /// Display name, 1 to 200 printable characters.
    name: String,
    /// At least 12 characters; stored as an Argon2id hash.
    password: String,
    /// `platform_admin`, `reseller_admin`, `reseller_user` or `support`.
    role: String,
    /// The reseller of a reseller role (required for those, refused for the others).
    reseller_id: Option<i64>,
}

/// An account.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// User id.
    pub id: i64,
    /// Email.
    pub email: String,
    /// Name.
    pub name: String,
    /// Role.
    pub role: String,
    /// The reseller of a reseller role.
    pub reseller_id: Option<i64>,
    /// Whether the account is disabled.
    pub disabled: bool,
}

impl From<user::Model> for UserView {
    fn from(u: user::Model) -> Self {
        Self {
            id: u.id,
            email: u.email,
            name: u.name,
            role: u.role,
            reseller_id: u.reseller_id,
            disabled: u.disabled_at.is_some(),
        }
    }
}

/// Accounts.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    /// By id.
    pub users: Vec<UserView>,
}

/// Create an account (platform admins; reseller admins for their reseller's roles).
#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "accounts",
    request_body = NewUser,
    responses(
        (status = 201, description = "Created.", body = UserView),
        (status = 400, description = "`invalid_role`, `invalid_field`, `weak_password`.", body = ppu_protocol::api::ErrorBody),
        (status = 403, description = "`forbidden`: your role may not grant this role.", body = ppu_protocol::api::ErrorBody),
        (status = 404, description = "`not_found`: no such reseller, or another tenant's.", body = ppu_protocol::api::ErrorBody),
        (status = 409, description = "`already_exists`: the email is taken.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn create_user(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<NewUser>,
) -> Result<HttpResponse, ApiError> {
    let role = Role::parse(&body.role)?;
    let rid = may_grant(&who, role, body.reseller_id)?;
    reseller_exists(&state, rid).await?;
    let email = body.email.trim().to_lowercase();
    if email.len() > 200
        || !email.contains('@')
        || email.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ApiError::bad_request(
            "invalid_field",
            "email must be an address like name@example.com",
        ));
    }
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_field",
            "name must have 1 to 200 printable characters",
        ));
    }
    if body.password.chars().count() < 12 || body.password.len() > 1024 {
        return Err(ApiError::bad_request(
            "weak_password",
            "password must have at least 12 characters",
        ));
    }
    let hash = hash_password(&body.password)?;
    let row = user::ActiveModel {
        email: Set(email.clone()),
        name: Set(name.to_owned()),
        password_hash: Set(hash),
        role: Set(role.as_str().to_owned()),
        reseller_id: Set(rid),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&state.db.write)
    .await
    .map_err(|e| match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
            ApiError::conflict("already_exists", "a user with this email exists")
        }
        _ => ApiError::database(e),
    })?;
    audit(
        &state,
        &who,
        rid,
        "user.create",
        &format!("user:{}", row.id),
        Some(serde_json::json!({"email": email, "role": role})),
    )
    .await;
    Ok(HttpResponse::Created().json(UserView::from(row)))
}

/// Accounts (platform admins: all; reseller admins: their reseller's).
#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "accounts",
    responses(
        (status = 200, description = "The accounts.", body = UserList),
        (status = 403, description = "`forbidden`: admins only.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn list_users(
    state: web::Data<AppState>,
    who: Principal,
) -> Result<HttpResponse, ApiError> {
    if !matches!(who.role, Role::PlatformAdmin | Role::ResellerAdmin) {
        return Err(forbidden());
    }
    let mut q = user::Entity::find();
    if let Some(rid) = who.scope() {
        q = q.filter(user::Column::ResellerId.eq(rid));
    }
    let rows = q.order_by_asc(user::Column::Id).all(&state.db.read).await?;
    Ok(HttpResponse::Ok().json(UserList {
        users: rows.into_iter().map(UserView::from).collect(),
    }))
}

/// A new API token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What it is for, 1 to 200 printable characters.
    name: String,
    /// `platform_admin`, `reseller_admin`, `reseller_user` or `support`.
    role: String,
    /// The reseller of a reseller role.
    reseller_id: Option<i64>,
}

/// A new API token: the token itself is shown only here.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    /// Token id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Role.
    pub role: String,
    /// Reseller of a reseller role.
    pub reseller_id: Option<i64>,
    /// Its first characters, to recognise it.
    pub prefix: String,
    /// The bearer token (`ppu_...`). Shown once; the hub stores its SHA-256.
    pub token: String,
}

/// An API token (never the token itself).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    /// Token id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Role.
    pub role: String,
    /// Reseller of a reseller role.
    pub reseller_id: Option<i64>,
    /// Its first characters.
    pub prefix: String,
    /// Who created it.
    pub created_by: String,
    /// Created.
    pub created_at: chrono::DateTime<Utc>,
    /// Last request made with it.
    pub last_used_at: Option<chrono::DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<chrono::DateTime<Utc>>,
}

/// API tokens.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    /// By id.
    pub tokens: Vec<TokenView>,
}

/// Create an API token for REST clients (shown once, stored hashed).
#[utoipa::path(
    post,
    path = "/api/v1/tokens",
    tag = "accounts",
    request_body = NewToken,
    responses(
        (status = 201, description = "Created; the token is shown only here.", body = CreatedToken),
        (status = 400, description = "`invalid_role`, `invalid_field`.", body = ppu_protocol::api::ErrorBody),
        (status = 403, description = "`forbidden`: your role may not grant this role.", body = ppu_protocol::api::ErrorBody),
        (status = 404, description = "`not_found`: no such reseller, or another tenant's.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn create_token(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<NewToken>,
) -> Result<HttpResponse, ApiError> {
    let role = Role::parse(&body.role)?;
    let rid = may_grant(&who, role, body.reseller_id)?;
    reseller_exists(&state, rid).await?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_field",
            "name must have 1 to 200 printable characters",
        ));
    }
    let token = format!("ppu_{}", crate::files::random_secret(32));
    let prefix: String = token.chars().take(10).collect();
    let row = api_token::ActiveModel {
        token_sha256: Set(sha256_hex(&token)),
        prefix: Set(prefix.clone()),
        name: Set(name.to_owned()),
        role: Set(role.as_str().to_owned()),
        reseller_id: Set(rid),
        created_by: Set(who.actor.clone()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&state.db.write)
    .await?;
    audit(
        &state,
        &who,
        rid,
        "token.create",
        &format!("token:{}", row.id),
        Some(serde_json::json!({"name": name, "role": role, "prefix": prefix})),
    )
    .await;
    Ok(HttpResponse::Created().json(CreatedToken {
        id: row.id,
        name: row.name,
        role: row.role,
        reseller_id: row.reseller_id,
        prefix: row.prefix,
        token,
    }))
}

impl From<api_token::Model> for TokenView {
    fn from(t: api_token::Model) -> Self {
        Self {
            id: t.id,
            name: t.name,
            role: t.role,
            reseller_id: t.reseller_id,
            prefix: t.prefix,
            created_by: t.created_by,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// API tokens (platform admins: all; reseller admins: their reseller's).
#[utoipa::path(
    get,
    path = "/api/v1/tokens",
    tag = "accounts",
    responses(
        (status = 200, description = "The tokens.", body = TokenList),
        (status = 403, description = "`forbidden`: admins only.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn list_tokens(
    state: web::Data<AppState>,
    who: Principal,
) -> Result<HttpResponse, ApiError> {
    if !matches!(who.role, Role::PlatformAdmin | Role::ResellerAdmin) {
        return Err(forbidden());
    }
    let mut q = api_token::Entity::find();
    if let Some(rid) = who.scope() {
        q = q.filter(api_token::Column::ResellerId.eq(rid));
    }
    let rows = q
        .order_by_asc(api_token::Column::Id)
        .all(&state.db.read)
        .await?;
    Ok(HttpResponse::Ok().json(TokenList {
        tokens: rows.into_iter().map(TokenView::from).collect(),
    }))
}

/// Revoke an API token (idempotent: the first revocation time stays).
#[utoipa::path(
    delete,
    path = "/api/v1/tokens/{id}",
    tag = "accounts",
    params(("id" = i64, Path, description = "Token id.")),
    responses(
        (status = 200, description = "Revoked.", body = TokenView),
        (status = 403, description = "`forbidden`: your role may not revoke tokens.", body = ppu_protocol::api::ErrorBody),
        (status = 404, description = "`not_found`: no such token, or another tenant's.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn revoke_token(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let t = api_token::Entity::find_by_id(id.into_inner())
        .one(&state.db.read)
        .await?
        .ok_or_else(|| ApiError::not_found("token"))?;
    match t.reseller_id {
        Some(rid) => who.administer(rid, "token")?,
        None => who.platform().map_err(|_| ApiError::not_found("token"))?,
    }
    let row = api_token::ActiveModel {
        id: Set(t.id),
        revoked_at: Set(Some(t.revoked_at.unwrap_or_else(Utc::now))),
        ..Default::default()
    }
    .update(&state.db.write)
    .await?;
    audit(
        &state,
        &who,
        t.reseller_id,
        "token.revoke",
        &format!("token:{}", t.id),
        None,
    )
    .await;
    Ok(HttpResponse::Ok().json(TokenView::from(row)))
}

/// An audit entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    /// Entry id.
    pub id: i64,
    /// When.
    pub at: chrono::DateTime<Utc>,
    /// Who: `admin-token`, `token:<prefix>`, `user:<email>`.
    pub actor: String,
    /// The reseller concerned.
    pub reseller_id: Option<i64>,
    /// What, e.g. `token.create`, `user.create`, `export.csv`.
    pub action: String,
    /// On what, e.g. `token:3`.
    pub object: String,
    /// Details.
    #[schema(value_type = Option<Object>)]
    pub detail: Option<serde_json::Value>,
}

/// The latest audit entries.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditList {
    /// Newest first, at most 500.
    pub entries: Vec<AuditEntry>,
}

/// The audit log: who created tokens and users, changed configurations, exported data.
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "accounts",
    responses(
        (status = 200, description = "The latest 500 entries.", body = AuditList),
        (status = 403, description = "`forbidden`: admins only.", body = ppu_protocol::api::ErrorBody),
    )
)]
pub async fn list_audit(
    state: web::Data<AppState>,
    who: Principal,
) -> Result<HttpResponse, ApiError> {
    if !matches!(who.role, Role::PlatformAdmin | Role::ResellerAdmin) {
        return Err(forbidden());
    }
    let mut q = audit_entry::Entity::find();
    if let Some(rid) = who.scope() {
        q = q.filter(audit_entry::Column::ResellerId.eq(rid));
    }
    let rows = q
        .order_by_desc(audit_entry::Column::Id)
        .limit(500)
        .all(&state.db.read)
        .await?;
    Ok(HttpResponse::Ok().json(AuditList {
        entries: rows
            .into_iter()
            .map(|a| AuditEntry {
                id: a.id,
                at: a.at,
                actor: a.actor,
                reseller_id: a.reseller_id,
                action: a.action,
                object: a.object,
                detail: a.detail,
            })
            .collect(),
    }))
}
