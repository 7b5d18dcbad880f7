//! Persistence through SeaORM: connecting, and the reads and writes the actors need.
//!
//! The database is the system of record; actors are its live, derived view.
//! Every function here is a plain async function over a connection, so the
//! same code runs inside the ingest writer's transactions and outside them,
//! on SQLite and on PostgreSQL.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ppu_entities::{actor_snapshot, counter_reading, job};
use ppu_protocol::model::{CopyJob, PrintDetails, PrintJob, ScanJob};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectOptions, ConnectionTrait, Database,
    DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QueryTrait, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::Watermark;
use crate::domain::usage::{CategoryFacts, JobFacts, JobKind, MeterUsage, Usage};

/// The hub's database: a write handle and a read handle.
///
/// On SQLite the write handle is a single connection, so writes never contend
/// for the file lock (no `SQLITE_BUSY` inside a transaction), while readers
/// use a small pool in WAL mode. On PostgreSQL both are the same pool.
#[derive(Debug, Clone)]
pub struct Db {
    /// Connection used for every write.
    pub write: DatabaseConnection,
    /// Connection pool used for reads.
    pub read: DatabaseConnection,
}

impl Db {
    /// Connect to `url` (`sqlite://path?mode=rwc` or `postgres://...`).
    ///
    /// SQLite is opened in WAL mode with foreign keys on and a busy timeout;
    /// the file is created when missing.
    pub async fn connect(url: &str) -> Result<Self, DbErr> {
        if url.starts_with("sqlite:") {
            let write = Database::connect(sqlite_options(url, 1, Role::Write)).await?;
            let read = Database::connect(sqlite_options(url, 4, Role::Read)).await?;
            Ok(Self { write, read })
        } else {
            let url = postgres_url(url);
            let mut opts = ConnectOptions::new(url);
            opts.max_connections(16)
                .min_connections(1)
                .connect_timeout(Duration::from_secs(5))
                .acquire_timeout(Duration::from_secs(5))
                .sqlx_logging(false);
            let pool = Database::connect(opts).await?;
            Ok(Self {
                write: pool.clone(),
                read: pool,
            })
        }
    }

    /// Which backend this is.
    pub fn backend(&self) -> DbBackend {
        self.write.get_database_backend()
    }

    /// Begin a write transaction. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads and then writes
    /// gets `SQLITE_BUSY` at once in WAL mode instead of waiting for the lock.
    pub async fn begin_write(&self) -> Result<DatabaseTransaction, DbErr> {
        let mode =
            (self.backend() == DbBackend::Sqlite).then_some(SqliteTransactionMode::Immediate);
        self.write
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: mode,
                ..TransactionOptions::default()
            })
            .await
    }

    /// SQLite: copy what the WAL holds into the database file, on a read
    /// connection, without waiting for (or blocking) the writer
    /// (`wal_checkpoint(PASSIVE)`). The write connection never checkpoints
    /// by itself (`wal_autocheckpoint=0`): a checkpoint inside its commit
    /// made that commit copy and sync the database file while every upload
    /// of the batch waited. [`crate::fleet::Fleet`] calls this every
    /// [`CHECKPOINT_EVERY`]; a WAL past [`WAL_RESTART_FRAMES`] (the passive
    /// checkpoints never caught up, say under readers that never pause) is
    /// checkpointed with `RESTART`, which waits for the writer and starts the
    /// WAL over. `None` on PostgreSQL.
    pub async fn checkpoint(&self) -> Result<Option<WalCheckpoint>, DbErr> {
        if self.backend() != DbBackend::Sqlite {
            return Ok(None);
        }
        let passive = wal_checkpoint(&self.read, "PASSIVE").await?;
        if passive.log_frames < WAL_RESTART_FRAMES {
            return Ok(Some(passive));
        }
        tracing::warn!(
            wal_frames = passive.log_frames,
            checkpointed = passive.checkpointed_frames,
            "the WAL outgrew its passive checkpoints: restarting it"
        );
        wal_checkpoint(&self.read, "RESTART").await.map(Some)
    }

    /// Whether the database answers a trivial query within [`PING_TIMEOUT`]
    /// (a load balancer's readiness probe must not hang on a dead database).
    pub async fn ping(&self) -> bool {
        let both = async { self.read.ping().await.is_ok() && self.write.ping().await.is_ok() };
        tokio::time::timeout(PING_TIMEOUT, both)
            .await
            .unwrap_or(false)
    }
}

/// A PostgreSQL URL as the hub connects with it: a server on the loopback
/// interface with no `sslmode` given is reached without TLS
/// (`sslmode=disable`). TLS there protects nothing, and on loopback (a
/// 64 KiB segment size) a statement larger than the server's receive window
/// stalls about 40 ms per window while the server's window update waits:
/// measured, it halved ingest on PostgreSQL (BENCHMARKS.md). An explicit
/// `sslmode` is kept as written.
pub fn postgres_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return url.to_owned();
    };
    let loopback = match parsed.host() {
        // `postgres:` is not a special scheme: an IPv4 host stays a domain.
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost")
                || d.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    };
    let has_sslmode = parsed.query_pairs().any(|(k, _)| k == "sslmode");
    if !loopback || has_sslmode {
        return url.to_owned();
    }
    parsed.query_pairs_mut().append_pair("sslmode", "disable");
    parsed.into()
}

/// What a WAL checkpoint reported (SQLite's `PRAGMA wal_checkpoint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalCheckpoint {
    /// The checkpoint could not finish: a reader or the writer held it back.
    pub busy: bool,
    /// Frames in the WAL.
    pub log_frames: i64,
    /// Frames of the WAL now in the database file.
    pub checkpointed_frames: i64,
}

/// How often the fleet checkpoints a SQLite WAL ([`Db::checkpoint`]).
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// A WAL of more frames (pages; 256 MiB of 4 KiB pages) is checkpointed
/// with `RESTART` instead of `PASSIVE` ([`Db::checkpoint`]).
pub const WAL_RESTART_FRAMES: i64 = 65_536;

async fn wal_checkpoint(db: &DatabaseConnection, mode: &str) -> Result<WalCheckpoint, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            format!("PRAGMA wal_checkpoint({mode})"),
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("wal_checkpoint returned no row".into()))?;
    Ok(WalCheckpoint {
        busy: row.try_get_by_index::<i64>(0)? != 0,
        log_frames: row.try_get_by_index(1)?,
        checkpointed_frames: row.try_get_by_index(2)?,
    })
}

/// How long [`Db::ping`] waits for the database.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Page cache of the one SQLite write connection: a group commit of
/// thousands of rows and their index entries fits, so no dirty page is
/// spilled to the WAL before the commit (SQLite's default is 2 MiB).
const WRITE_CACHE_KIB: i64 = 64 * 1024;
/// Page cache of each read connection: SQLite's default.
const READ_CACHE_KIB: i64 = 2 * 1024;
/// A WAL file left larger than this after the log starts over is truncated
/// to it.
const WAL_SIZE_LIMIT_BYTES: i64 = 64 * 1024 * 1024;

/// Which of [`Db`]'s handles a SQLite pool is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Write,
    Read,
}

fn sqlite_options(url: &str, connections: u32, role: Role) -> ConnectOptions {
    let cache_kib = match role {
        Role::Write => WRITE_CACHE_KIB,
        Role::Read => READ_CACHE_KIB,
    };
    let mut opts = ConnectOptions::new(url);
    opts.max_connections(connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(move |o| {
            use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
            let o = o
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // FULL: a commit is on disk before the hub acknowledges an upload.
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                .pragma("cache_size", format!("-{cache_kib}"))
                // Statement journals of multi-row statements stay in memory.
                .pragma("temp_store", "MEMORY")
                .pragma("journal_size_limit", WAL_SIZE_LIMIT_BYTES.to_string());
            match role {
                // The writer's commits never checkpoint (`Db::checkpoint`).
                Role::Write => o.pragma("wal_autocheckpoint", "0"),
                Role::Read => o,
            }
        });
    opts
}

/// Serialize to a JSON column value.
pub fn to_json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// Deserialize a JSON column value.
pub fn from_json<T: DeserializeOwned>(v: &serde_json::Value) -> Result<T, DbErr> {
    serde_json::from_value(v.clone()).map_err(|e| DbErr::Json(e.to_string()))
}

// ---------------------------------------------------------------------------
// Job rows
// ---------------------------------------------------------------------------

/// Where a job row belongs.
#[derive(Debug, Clone, Copy)]
pub struct RowOwner {
    /// Printer id.
    pub printer_id: i64,
    /// Site id.
    pub site_id: i64,
    /// Reseller id.
    pub reseller_id: i64,
    /// Upload id.
    pub upload_id: i64,
    /// Receipt time.
    pub received_at: DateTime<Utc>,
}

fn opt_str<T: Serialize>(v: &T) -> Option<String> {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) if s != "unknown" => Some(s),
        _ => None,
    }
}

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn base_row(
    owner: &RowOwner,
    kind: JobKind,
    ident: &ppu_protocol::model::JobIdentity,
    occurred_at: DateTime<Utc>,
    facts: &JobFacts,
) -> job::ActiveModel {
    job::ActiveModel {
        id: sea_orm::ActiveValue::NotSet,
        uuid: Set(ident.uuid),
        kind: Set(kind.as_str().to_owned()),
        printer_id: Set(owner.printer_id),
        site_id: Set(owner.site_id),
        reseller_id: Set(owner.reseller_id),
        upload_id: Set(owner.upload_id),
        name: Set(ident.name.clone()),
        sequence_number: Set(i(ident.sequence_number)),
        project_id: Set(ident.project_id.clone()),
        application_id: Set(ident.application_id.clone()),
        custom_field: Set(ident.custom_field.clone()),
        account_id: Set(ident.account_id.clone()),
        user_name: Set(ident.user_name.clone()),
        submitted_at: Set(ident.submitted_at),
        occurred_at: Set(occurred_at),
        printed_at: Set(None),
        scanned_at: Set(None),
        status: Set(None),
        source: Set(None),
        category: Set(facts.category.clone()),
        quality: Set(None),
        media_type: Set(facts.media_type.clone()),
        pages: Set(i(facts.pages)),
        copies: Set(i(facts.copies)),
        print_time_s: Set(i(facts.print_time_s)),
        ink_total_ul: Set(i(facts.ink_total_ul())),
        ink: Set((!facts.ink_ul.is_empty()).then(|| to_json(&facts.ink_ul))),
        media_area_mm2: Set(i(facts.media_area_mm2)),
        media_length_mm: Set(i(facts.media_length_mm)),
        printed_area_mm2: Set(i(facts.printed_area_mm2)),
        categories: Set((!facts.app_categories.is_empty()).then(|| to_json(&facts.app_categories))),
        non_white_coverage_bp: Set(0),
        color_coverage_bp: Set(0),
        scan_status: Set(None),
        scanned_area_mm2: Set(i(facts.scanned_area_mm2)),
        received_at: Set(owner.received_at),
    }
}

fn with_print(mut row: job::ActiveModel, p: &PrintDetails) -> job::ActiveModel {
    row.printed_at = Set(Some(p.printed_at));
    row.status = Set(opt_str(&p.status));
    row.source = Set(opt_str(&p.source));
    row.quality = Set(opt_str(&p.quality));
    row.non_white_coverage_bp = Set(i32::from(p.non_white_coverage_bp));
    row.color_coverage_bp = Set(i32::from(p.color_coverage_bp));
    row
}

/// The row of a print job.
pub fn print_job_row(owner: &RowOwner, job: &PrintJob, facts: &JobFacts) -> job::ActiveModel {
    let row = base_row(owner, JobKind::Print, &job.job, job.print.printed_at, facts);
    with_print(row, &job.print)
}

/// The row of a scan job.
pub fn scan_job_row(owner: &RowOwner, job: &ScanJob, facts: &JobFacts) -> job::ActiveModel {
    let mut row = base_row(owner, JobKind::Scan, &job.job, job.scan.scanned_at, facts);
    row.scanned_at = Set(Some(job.scan.scanned_at));
    row.scan_status = Set(opt_str(&job.scan.status));
    row
}

/// The row of a copy job.
pub fn copy_job_row(owner: &RowOwner, job: &CopyJob, facts: &JobFacts) -> job::ActiveModel {
    let mut row = base_row(owner, JobKind::Copy, &job.job, job.print.printed_at, facts);
    row.scanned_at = Set(Some(job.scan.scanned_at));
    row.scan_status = Set(opt_str(&job.scan.status));
    with_print(row, &job.print)
}

/// The billable facts of a stored job row (the inverse of the `*_job_row` functions).
pub fn facts_of_row(row: &job::Model) -> Result<JobFacts, DbErr> {
    let kind = JobKind::parse(&row.kind)
        .ok_or_else(|| DbErr::Custom(format!("job {} has unknown kind {}", row.id, row.kind)))?;
    let ink_ul: BTreeMap<String, u64> = match &row.ink {
        Some(v) => from_json(v)?,
        None => BTreeMap::new(),
    };
    let app_categories: BTreeMap<String, CategoryFacts> = match &row.categories {
        Some(v) => from_json(v)?,
        None => BTreeMap::new(),
    };
    Ok(JobFacts {
        kind,
        pages: u(row.pages),
        copies: u(row.copies),
        print_time_s: u(row.print_time_s),
        ink_ul,
        media_type: row.media_type.clone(),
        category: row.category.clone(),
        media_area_mm2: u(row.media_area_mm2),
        media_length_mm: u(row.media_length_mm),
        printed_area_mm2: u(row.printed_area_mm2),
        app_categories,
        scanned_area_mm2: u(row.scanned_area_mm2),
    })
}

/// A fresh, empty PostgreSQL database for a test or benchmark run, on the
/// server of `base` (a URL with a database path), named `<prefix>_<unix
/// time>_<uuid>`. Databases of the same prefix older than an hour (left by
/// interrupted runs) are dropped first. Returns its URL and its name.
pub async fn scratch_postgres_database(
    base: &str,
    prefix: &str,
) -> Result<(String, String), DbErr> {
    let admin = Database::connect(base).await?;
    let now = Utc::now().timestamp();
    let rows = admin
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT datname FROM pg_database WHERE datname LIKE '{prefix}\\_%'"),
        ))
        .await?;
    for row in rows {
        let Ok(name) = row.try_get::<String>("", "datname") else {
            continue;
        };
        let created = name
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('_').nth(1))
            .and_then(|t| t.parse::<i64>().ok());
        if created.is_some_and(|t| now - t > 3600) {
            // Best effort: another run may be dropping it at the same time.
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        }
    }
    let name = format!("{prefix}_{now}_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await?;
    // The same server and options (`?sslmode=...`), the new database.
    let mut url =
        url::Url::parse(base).map_err(|e| DbErr::Custom(format!("database URL {base}: {e}")))?;
    url.set_path(&name);
    Ok((url.into(), name))
}

/// Reserve `n` ids of `table`'s auto-increment primary key `id` for rows
/// inserted later in the same transaction with their ids given, ascending.
///
/// PostgreSQL draws them from the column's sequence (safe beside other
/// writers; unused ids are gaps, as after any rollback). SQLite has one
/// writer and the transaction holds its write lock (`Db::begin_write`), so
/// the ids after the highest one ever given are free until it commits.
pub async fn reserve_ids<C: ConnectionTrait>(
    tx: &C,
    table: &str,
    n: usize,
) -> Result<std::collections::VecDeque<i64>, DbErr> {
    let backend = tx.get_database_backend();
    if n == 0 {
        return Ok(Default::default());
    }
    let ids = match backend {
        DbBackend::Postgres => {
            let rows = tx
                .query_all_raw(Statement::from_sql_and_values(
                    backend,
                    format!(
                        "SELECT nextval(pg_get_serial_sequence('{table}', 'id')) AS id \
                         FROM generate_series(1, $1)"
                    ),
                    [i64::try_from(n).unwrap_or(i64::MAX).into()],
                ))
                .await?;
            let mut ids = rows
                .iter()
                .map(|r| r.try_get::<i64>("", "id"))
                .collect::<Result<Vec<_>, _>>()?;
            ids.sort_unstable();
            ids
        }
        _ => {
            let row = tx
                .query_one_raw(Statement::from_string(
                    backend,
                    format!(
                        "SELECT MAX(COALESCE((SELECT MAX(id) FROM {table}), 0), \
                         COALESCE((SELECT seq FROM sqlite_sequence WHERE name = '{table}'), 0)) AS last"
                    ),
                ))
                .await?
                .ok_or_else(|| DbErr::RecordNotFound(format!("the last id of {table}")))?;
            let last: i64 = row.try_get("", "last")?;
            (1..=i64::try_from(n).unwrap_or(i64::MAX))
                .map(|k| last + k)
                .collect()
        }
    };
    Ok(ids.into())
}

/// Ids of one table handed out one at a time inside one write transaction,
/// reserved in blocks of [`IdBlock::SIZE`] with [`reserve_ids`]. On SQLite
/// the ids after the first block are counted on in memory: the rows of the
/// first are not inserted yet, so the table would give the same ids again.
/// On PostgreSQL every block comes from the sequence, and ids a batch did
/// not use are left as a gap, as a rolled-back insert leaves one.
#[derive(Debug, Default)]
pub struct IdBlock {
    ids: std::collections::VecDeque<i64>,
    last: Option<i64>,
}

impl IdBlock {
    /// Ids per reservation.
    pub const SIZE: usize = 32;

    /// The next id of `table`.
    pub async fn next<C: ConnectionTrait>(&mut self, tx: &C, table: &str) -> Result<i64, DbErr> {
        if self.ids.is_empty() {
            self.ids = match (tx.get_database_backend(), self.last) {
                (DbBackend::Sqlite, Some(last)) => {
                    (1..=Self::SIZE as i64).map(|k| last + k).collect()
                }
                _ => reserve_ids(tx, table, Self::SIZE).await?,
            };
        }
        let id = self
            .ids
            .pop_front()
            .ok_or_else(|| DbErr::Custom(format!("no id reserved for {table}")))?;
        self.last = Some(id);
        Ok(id)
    }
}

/// Update many rows of `table` by id in a few statements:
/// `WITH v(cols) AS (VALUES ...) UPDATE table SET col = expr FROM v WHERE
/// table.id = v.id`. `cols` are (name, PostgreSQL type, the value to set, or
/// `None` for the key, which comes first); each row of `rows` holds a value
/// per column, in that order. An empty `rows` writes nothing.
pub async fn update_from_values<C: ConnectionTrait>(
    tx: &C,
    table: &str,
    cols: &[(&str, &str, Option<&str>)],
    rows: Vec<Vec<sea_orm::Value>>,
) -> Result<(), DbErr> {
    for stmt in update_from_values_statements(tx.get_database_backend(), table, cols, rows) {
        tx.execute_raw(stmt).await?;
    }
    Ok(())
}

/// The statements of [`update_from_values`], built without a connection.
pub fn update_from_values_statements(
    backend: DbBackend,
    table: &str,
    cols: &[(&str, &str, Option<&str>)],
    rows: Vec<Vec<sea_orm::Value>>,
) -> Vec<Statement> {
    let names: Vec<&str> = cols.iter().map(|c| c.0).collect();
    let key = names[0];
    let set: Vec<String> = cols
        .iter()
        .filter_map(|(name, _, expr)| expr.map(|e| format!("{name} = {e}")))
        .collect();
    // Well inside SQLite's 32,766 bound values and PostgreSQL's 65,535.
    let per_statement = (30_000 / cols.len()).max(1);
    let mut out = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<sea_orm::Value>> = rows.by_ref().take(per_statement).collect();
        let mut values = Vec::with_capacity(chunk.len() * cols.len());
        let mut tuples = Vec::with_capacity(chunk.len());
        for (r, row) in chunk.into_iter().enumerate() {
            let params: Vec<String> = cols
                .iter()
                .enumerate()
                .map(|(c, (_, ty, _))| match backend {
                    // The first row's casts type the VALUES columns.
                    DbBackend::Postgres if r == 0 => format!("${}::{ty}", values.len() + c + 1),
                    DbBackend::Postgres => format!("${}", values.len() + c + 1),
                    _ => "?".to_owned(),
                })
                .collect();
            tuples.push(format!("({})", params.join(", ")));
            values.extend(row);
        }
        let sql = format!(
            "WITH v({cols}) AS (VALUES {tuples}) UPDATE {table} SET {set} FROM v \
             WHERE {table}.{key} = v.{key}",
            cols = names.join(", "),
            tuples = tuples.join(", "),
            set = set.join(", "),
        );
        out.push(json_as_text(Statement::from_sql_and_values(
            backend, sql, values,
        )));
    }
    out
}

/// Insert job rows in chunks that stay under SQLite's bound-parameter limit.
pub async fn insert_jobs<C: ConnectionTrait>(
    db: &C,
    rows: Vec<job::ActiveModel>,
) -> Result<(), DbErr> {
    for stmt in insert_statements(db.get_database_backend(), rows, JOB_INSERT_CHUNK) {
        db.execute_raw(stmt).await?;
    }
    Ok(())
}

/// Job rows per multi-row insert ([`insert_jobs`]).
pub const JOB_INSERT_CHUNK: usize = 400;

/// Multi-row inserts of `rows`, `chunk` rows per statement, built without a
/// connection (JSON values already text on SQLite: [`json_as_text`]).
pub fn insert_statements<A>(backend: DbBackend, rows: Vec<A>, chunk: usize) -> Vec<Statement>
where
    A: sea_orm::ActiveModelTrait,
{
    let mut out = Vec::with_capacity(rows.len().div_ceil(chunk.max(1)));
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let part: Vec<A> = rows.by_ref().take(chunk.max(1)).collect();
        out.push(json_as_text(A::Entity::insert_many(part).build(backend)));
    }
    out
}

/// On SQLite, a statement's JSON values bound as the text SQLite stores for
/// them anyway. Executing a statement clones its values and then serializes
/// each JSON tree; a string is cloned with one copy. Serializing here, where
/// the statement is built (on the ingest writer's builder thread), takes that
/// work off the path every statement waits on. PostgreSQL is left as built:
/// a `jsonb` column does not take a text parameter.
pub fn json_as_text(mut stmt: Statement) -> Statement {
    if stmt.db_backend != DbBackend::Sqlite {
        return stmt;
    }
    if let Some(values) = stmt.values.as_mut() {
        for v in &mut values.0 {
            if let sea_orm::Value::Json(json) = v {
                *v = sea_orm::Value::String(json.as_deref().map(serde_json::Value::to_string));
            }
        }
    }
    stmt
}

// ---------------------------------------------------------------------------
// Hydration
// ---------------------------------------------------------------------------

/// Which rows a hydration reads: those of one printer, site or reseller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One printer.
    Printer(i64),
    /// One site.
    Site(i64),
    /// One reseller.
    Reseller(i64),
}

impl Scope {
    /// The snapshot kind.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Printer(_) => "printer",
            Self::Site(_) => "site",
            Self::Reseller(_) => "reseller",
        }
    }

    /// The id.
    pub fn id(self) -> i64 {
        match self {
            Self::Printer(id) | Self::Site(id) | Self::Reseller(id) => id,
        }
    }
}

/// Usage of the records of `scope` past `watermark`, and the watermark after them.
pub async fn usage_since<C: ConnectionTrait>(
    db: &C,
    scope: Scope,
    watermark: Watermark,
) -> Result<(Usage, Watermark), DbErr> {
    let mut usage = Usage::default();
    let mut last = watermark;
    let past = |upload: job::Column, printer: job::Column| {
        Condition::any().add(upload.gt(watermark.upload_id)).add(
            Condition::all()
                .add(upload.eq(watermark.upload_id))
                .add(printer.gt(watermark.printer_id)),
        )
    };
    let jobs = job::Entity::find().filter(past(job::Column::UploadId, job::Column::PrinterId));
    let jobs = match scope {
        Scope::Printer(id) => jobs.filter(job::Column::PrinterId.eq(id)),
        Scope::Site(id) => jobs.filter(job::Column::SiteId.eq(id)),
        Scope::Reseller(id) => jobs.filter(job::Column::ResellerId.eq(id)),
    };
    for row in jobs.order_by_asc(job::Column::Id).all(db).await? {
        usage.jobs.add_job(&facts_of_row(&row)?);
        last = last.max(Watermark::new(row.upload_id, row.printer_id));
    }
    use counter_reading::Column as R;
    let readings = counter_reading::Entity::find().filter(
        Condition::any()
            .add(R::UploadId.gt(watermark.upload_id))
            .add(
                Condition::all()
                    .add(R::UploadId.eq(watermark.upload_id))
                    .add(R::PrinterId.gt(watermark.printer_id)),
            ),
    );
    let readings = match scope {
        Scope::Printer(id) => readings.filter(R::PrinterId.eq(id)),
        Scope::Site(id) => readings.filter(R::SiteId.eq(id)),
        Scope::Reseller(id) => readings.filter(R::ResellerId.eq(id)),
    };
    for row in readings.order_by_asc(R::Id).all(db).await? {
        let delta: MeterUsage = from_json(&row.delta)?;
        usage.meter.merge(&delta);
        last = last.max(Watermark::new(row.upload_id, row.printer_id));
    }
    Ok((usage, last))
}

/// Version of the snapshots' binary form. A hub finding a snapshot of another
/// version ignores it: the actor rebuilds from the records, which are the
/// system of record. Raise it when a change of a snapshot type (or of a packed
/// document's type) changes what is written; keep reading the earlier forms
/// this version still understands ([`READABLE_FORMS`]).
///
/// Form 2: the status is a pair of packed byte strings (the status without
/// its media catalog, and the shared catalog: `domain::status_doc`); form 1
/// had one packed whole status.
pub const SNAPSHOT_FORM: i64 = 2;

/// The snapshot forms this version reads.
pub const READABLE_FORMS: std::ops::RangeInclusive<i64> = 1..=SNAPSHOT_FORM;

/// The `state` and `packed` columns of a snapshot: the state in MessagePack
/// (packed documents as they are), and its form in `state`.
fn encode_snapshot<T: Serialize>(state: &T) -> Result<(serde_json::Value, Vec<u8>), DbErr> {
    let packed = rmp_serde::to_vec_named(state).map_err(|e| DbErr::Custom(e.to_string()))?;
    let form = serde_json::json!({ "form": "msgpack", "version": SNAPSHOT_FORM });
    Ok((form, packed))
}

/// The state of a stored snapshot; `None` (with a warning) when it cannot be
/// used: of another version of the binary form (see [`SNAPSHOT_FORM`]) or
/// unreadable. A snapshot is a cache of the records, never the only copy, so
/// the actor then rebuilds from its records instead of failing (and one bad
/// row does not fail a whole preload page).
pub(crate) fn decode_snapshot<T: DeserializeOwned>(row: &actor_snapshot::Model) -> Option<T> {
    let decoded = match &row.packed {
        // Saved before the binary form: the JSON state.
        None => from_json(&row.state).map_err(|e| e.to_string()),
        Some(packed) => {
            let version = row.state.get("version").and_then(serde_json::Value::as_i64);
            if !version.is_some_and(|v| READABLE_FORMS.contains(&v)) {
                tracing::warn!(
                    kind = %row.kind,
                    key = %row.key,
                    version,
                    expected = SNAPSHOT_FORM,
                    "snapshot of another form ignored; the actor rebuilds from records"
                );
                return None;
            }
            rmp_serde::from_slice(packed).map_err(|e| e.to_string())
        }
    };
    decoded
        .inspect_err(|error| {
            tracing::warn!(
                kind = %row.kind,
                key = %row.key,
                %error,
                "unreadable snapshot ignored; the actor rebuilds from records"
            );
        })
        .ok()
}

/// Load an actor snapshot (`None` when there is none or it cannot be used).
pub async fn load_snapshot<C: ConnectionTrait, T: DeserializeOwned>(
    db: &C,
    scope: Scope,
) -> Result<Option<T>, DbErr> {
    let row = actor_snapshot::Entity::find_by_id((scope.kind().to_owned(), scope.id().to_string()))
        .one(db)
        .await?;
    Ok(row.and_then(|r| decode_snapshot(&r)))
}

/// Save (insert or replace) an actor snapshot.
pub async fn save_snapshot<C: ConnectionTrait, T: Serialize>(
    db: &C,
    scope: Scope,
    state: &T,
) -> Result<(), DbErr> {
    snapshot_upsert(vec![snapshot_row(scope, state, Utc::now())?])
        .exec_without_returning(db)
        .await?;
    Ok(())
}

fn snapshot_row<T: Serialize>(
    scope: Scope,
    state: &T,
    now: DateTime<Utc>,
) -> Result<actor_snapshot::ActiveModel, DbErr> {
    let (form, packed) = encode_snapshot(state)?;
    Ok(actor_snapshot::ActiveModel {
        kind: Set(scope.kind().to_owned()),
        key: Set(scope.id().to_string()),
        state: Set(form),
        packed: Set(Some(packed)),
        saved_at: Set(now),
    })
}

fn snapshot_upsert(
    rows: Vec<actor_snapshot::ActiveModel>,
) -> sea_orm::InsertMany<actor_snapshot::ActiveModel> {
    actor_snapshot::Entity::insert_many(rows).on_conflict(
        OnConflict::columns([actor_snapshot::Column::Kind, actor_snapshot::Column::Key])
            .update_columns([
                actor_snapshot::Column::State,
                actor_snapshot::Column::Packed,
                actor_snapshot::Column::SavedAt,
            ])
            .to_owned(),
    )
}

/// Snapshots written per statement and transaction by [`save_snapshots`].
pub const SNAPSHOT_BATCH: usize = 500;

/// Save (insert or replace) many actor snapshots: one multi-row upsert and one
/// write transaction per [`SNAPSHOT_BATCH`] snapshots. Returns how many were saved.
pub async fn save_snapshots<T: Serialize>(db: &Db, items: &[(Scope, T)]) -> Result<usize, DbErr> {
    let mut saved = 0;
    for chunk in items.chunks(SNAPSHOT_BATCH) {
        let now = Utc::now();
        let rows = chunk
            .iter()
            .map(|(scope, state)| snapshot_row(*scope, state, now))
            .collect::<Result<Vec<_>, _>>()?;
        let tx = db.begin_write().await?;
        snapshot_upsert(rows).exec_without_returning(&tx).await?;
        tx.commit().await?;
        saved += chunk.len();
    }
    Ok(saved)
}

/// Highest upload id stored so far (0 when none).
pub async fn max_upload_id<C: ConnectionTrait>(db: &C) -> Result<i64, DbErr> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT COALESCE(MAX(id), 0) AS m FROM uploads".to_owned(),
        ))
        .await?;
    Ok(row
        .map(|r| r.try_get::<i64>("", "m"))
        .transpose()?
        .unwrap_or(0))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::printer::PrinterState;
    use ppu_protocol::model::{LifetimeCounters, PrinterStatus};

    #[test]
    fn loopback_postgres_goes_without_tls_unless_told() {
        for (given, used) in [
            (
                "postgres://postgres@127.0.0.1:5432/test",
                "postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
            ),
            (
                "postgres://u:p@localhost/db?application_name=hub",
                "postgres://u:p@localhost/db?application_name=hub&sslmode=disable",
            ),
            (
                "postgres://u@[::1]:5433/db",
                "postgres://u@[::1]:5433/db?sslmode=disable",
            ),
            // As written: an explicit mode, a remote server, no host at all.
            (
                "postgres://u@127.0.0.1/db?sslmode=require",
                "postgres://u@127.0.0.1/db?sslmode=require",
            ),
            (
                "postgres://u@db.example.net/db",
                "postgres://u@db.example.net/db",
            ),
            ("postgres://u@10.0.0.5/db", "postgres://u@10.0.0.5/db"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(postgres_url(given), used, "{given}");
        }
    }

    /// A fresh SQLite database in a temporary directory (kept while the
    /// directory lives), opened as the hub opens it.
    pub(crate) async fn scratch_sqlite() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let db = Db::connect(&url).await.unwrap();
        (dir, db)
    }

    /// The write connection leaves the WAL to `Db::checkpoint`: a commit
    /// never checkpoints, and a passive checkpoint then copies everything and
    /// lets the next write start the WAL over.
    #[tokio::test]
    async fn the_wal_is_checkpointed_off_the_writer() {
        let (_dir, db) = scratch_sqlite().await;
        let sql = |s: &str| Statement::from_string(DbBackend::Sqlite, s.to_owned());
        db.write
            .execute_raw(sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
            .await
            .unwrap();
        // About 3,000 pages in 30 commits: SQLite's own checkpoint would have
        // run after 1,000 pages and started the WAL over.
        for _ in 0..30 {
            db.write
                .execute_raw(sql(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400) \
                     INSERT INTO t (v) SELECT hex(randomblob(1000)) FROM n",
                ))
                .await
                .unwrap();
        }
        let first = db.checkpoint().await.unwrap().expect("SQLite checkpoints");
        assert!(first.log_frames > 2_000, "{first:?}");
        assert_eq!(first.checkpointed_frames, first.log_frames, "{first:?}");
        assert!(!first.busy, "{first:?}");
        // Everything was copied, so the next commit writes the WAL from its start.
        db.write
            .execute_raw(sql("INSERT INTO t (v) VALUES ('after')"))
            .await
            .unwrap();
        let second = db.checkpoint().await.unwrap().unwrap();
        assert!(second.log_frames < 10, "{second:?}");
        let rows: Option<i64> = db
            .read
            .query_one_raw(sql("SELECT count(*) FROM t"))
            .await
            .unwrap()
            .map(|r| r.try_get_by_index(0).unwrap());
        assert_eq!(rows, Some(12_001));
    }

    /// Inside one transaction an `IdBlock` never hands out an id twice, also
    /// past its first block on SQLite, where the table cannot tell.
    #[tokio::test]
    async fn id_blocks_hand_out_each_id_once() {
        let (_dir, db) = scratch_sqlite().await;
        let sql = |s: &str| Statement::from_string(DbBackend::Sqlite, s.to_owned());
        db.write
            .execute_raw(sql(
                "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT)",
            ))
            .await
            .unwrap();
        db.write
            .execute_raw(sql("INSERT INTO t (v) VALUES ('a'), ('b'), ('c')"))
            .await
            .unwrap();
        let tx = db.begin_write().await.unwrap();
        let mut block = IdBlock::default();
        let mut ids = Vec::new();
        for _ in 0..(IdBlock::SIZE * 2 + 5) {
            ids.push(block.next(&tx, "t").await.unwrap());
        }
        let expected: Vec<i64> = (4..4 + ids.len() as i64).collect();
        assert_eq!(ids, expected);
        for id in &ids {
            tx.execute_raw(sql(&format!("INSERT INTO t (id, v) VALUES ({id}, 'x')")))
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        // The next transaction starts after what the last one inserted.
        let tx = db.begin_write().await.unwrap();
        let next = IdBlock::default().next(&tx, "t").await.unwrap();
        assert_eq!(next, 4 + ids.len() as i64);
    }

    fn row(state: serde_json::Value, packed: Option<Vec<u8>>) -> actor_snapshot::Model {
        actor_snapshot::Model {
            kind: "printer".into(),
            key: "7".into(),
            state,
            packed,
            saved_at: Utc::now(),
        }
    }

    fn printer_state() -> PrinterState {
        let mut s = PrinterState {
            watermark: Watermark::new(42, 7),
            status: Some(PrinterStatus::default().into()),
            counters: Some(LifetimeCounters::default().into()),
            anomalies: 2,
            ..PrinterState::default()
        };
        s.last_upload_at = Some(Utc::now());
        s
    }

    #[test]
    fn snapshots_round_trip_in_their_binary_form() {
        let state = printer_state();
        let (form, packed) = encode_snapshot(&state).unwrap();
        assert_eq!(form["version"], SNAPSHOT_FORM);
        let back: PrinterState = decode_snapshot(&row(form, Some(packed))).unwrap();
        assert_eq!(back, state);
    }

    #[test]
    fn snapshots_of_another_form_are_ignored_and_json_ones_still_read() {
        let state = printer_state();
        let (_, packed) = encode_snapshot(&state).unwrap();
        let other = serde_json::json!({ "form": "msgpack", "version": SNAPSHOT_FORM + 1 });
        let ignored: Option<PrinterState> = decode_snapshot(&row(other, Some(packed.clone())));
        assert_eq!(ignored, None);
        // Earlier forms this version still reads (form 1: the status packed
        // whole, read by `StatusDoc`'s binary form).
        let earlier = serde_json::json!({ "form": "msgpack", "version": 1 });
        let read: Option<PrinterState> = decode_snapshot(&row(earlier, Some(packed)));
        assert_eq!(read, Some(state.clone()));
        // Saved before migration 000005: the JSON state, no packed column.
        let legacy: PrinterState = decode_snapshot(&row(to_json(&state), None)).unwrap();
        assert_eq!(legacy, state);
        // Damaged bytes or JSON are skipped (the actor rebuilds from its
        // records), never read as a silently empty state.
        let form = serde_json::json!({ "form": "msgpack", "version": SNAPSHOT_FORM });
        assert_eq!(
            decode_snapshot::<PrinterState>(&row(form, Some(vec![0x93, 1]))),
            None
        );
        let damaged = serde_json::json!({ "watermark": "not a watermark" });
        assert_eq!(decode_snapshot::<PrinterState>(&row(damaged, None)), None);
    }
}
