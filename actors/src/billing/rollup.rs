//! The maintained aggregates billing is answered from.
//!
//! Every job record and every counter delta is added, in the ingest
//! transaction that stores it, to rows keyed by day and by month at four
//! levels: `x` (one printer, split by media type, print category, account
//! id and project id), `p` (one printer), `s` (one site) and `r` (one
//! reseller). Level `x` keeps day rows only: it is by far the widest (one
//! row per printer, day and combination of dimensions, ink per color on
//! top), month rows would add a third to every upload's writes, and what
//! reads it (statements of one site or printer, totals split by a job
//! dimension) reads few enough day rows. Ink per color is one column of the
//! row, `ink`, a JSON object `{"<color>": [ink_ul, non_hp_ink_ul]}` that
//! the upsert merges by color (one upsert per key, where a twin table with
//! a row per color made six; migration 000007). So a
//! year of a reseller is 12 rows at level `r`, a year by printer 12 rows
//! per printer at level `p`, and anything split by a job dimension reads
//! level `x`. All levels are sums of the same cells; the property test in
//! `actors/tests/billing_rollups.rs` checks they agree.
//!
//! Writes are upserts that add (`SET x = table.x + excluded.x`, and the ink
//! objects merged color by color), aggregated
//! in memory first so that one upload touches each key once, in key order
//! (two writers on PostgreSQL then lock rows in the same order).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use ppu_entities::job;
use sea_orm::sea_query::{Alias, Condition, Expr, ExprTrait, OnConflict, Query, SelectStatement};
use sea_orm::{ActiveValue, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, Statement};

use crate::domain::billing::{
    Basis, BucketRange, Cell, Dims, Grain, InkMeasures, Measures, job_cell, meter_cells,
    month_start,
};
use crate::domain::usage::{CategoryFacts, JobFacts, JobKind, MeterUsage};
use crate::ingest::{PrinterRef, PrinterUpdate};

/// Table names.
pub(crate) const ROLLUPS: &str = "billing_rollups";

/// Aggregation level of a rollup row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// One printer, split by the job dimensions.
    Cube,
    /// One printer.
    Printer,
    /// One site (`printer_id = 0`).
    Site,
    /// One reseller (`printer_id = site_id = 0`).
    Reseller,
}

impl Level {
    /// The stored identifier.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cube => "x",
            Self::Printer => "p",
            Self::Site => "s",
            Self::Reseller => "r",
        }
    }
}

/// A job to add: who ran it, when (print time), and its cell.
#[derive(Debug, Clone)]
pub struct RollupJob {
    /// Printer, site and reseller.
    pub printer: PrinterRef,
    /// Billing instant: print time, scan time for scans.
    pub occurred_at: DateTime<Utc>,
    /// Its usage and dimensions.
    pub cell: Cell,
}

/// A counter delta to add: whose, when read, and how much.
#[derive(Debug, Clone)]
pub struct RollupMeter {
    /// Printer, site and reseller.
    pub printer: PrinterRef,
    /// When the device was read.
    pub read_at: DateTime<Utc>,
    /// Positive deltas since the previous reading.
    pub delta: MeterUsage,
}

/// The unique key of a rollup row, in index order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Key {
    printer_id: i64,
    level: Level,
    basis: &'static str,
    grain: Grain,
    bucket: NaiveDate,
    site_id: i64,
    reseller_id: i64,
    dims: Dims,
}

/// What one key of a batch adds: its measures and its ink per color.
#[derive(Debug, Default)]
struct Acc {
    measures: Measures,
    ink: BTreeMap<String, InkMeasures>,
}

/// The rows a batch adds, accumulated by key (hashing a key once per level
/// of a cell, not comparing it once per color and tree level: the ordered
/// map this replaces spent a quarter of the writer's time in `Dims`
/// comparisons), then sorted once into key order for the upserts.
#[derive(Debug, Default)]
struct Pending {
    rows: HashMap<Key, Acc, FastHash>,
}

/// A fast hasher for the in-memory folds of one batch: foldhash, seeded per
/// process (a batch holds at most a few thousand keys, so even a sender
/// choosing its dimension strings cannot make a long probe chain matter;
/// SipHash took about a tenth of the writer's time here).
type FastHash = foldhash::fast::RandomState;

impl Pending {
    /// The rows in key order, ink colors in name order: the order the
    /// upserts write (and so lock) them in.
    fn sorted(self) -> Vec<(Key, Acc)> {
        let mut rows: Vec<(Key, Acc)> = self.rows.into_iter().collect();
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        rows
    }
}

/// Cells summed per printer, basis, day and dimensions, before they are
/// spread over the levels: the jobs of one batch share few such cells, so
/// the seven level keys (with their dimension strings) are built per cell,
/// not per job.
#[derive(Debug, Default)]
struct Fold {
    cells: HashMap<(PrinterRef, Basis, NaiveDate, Dims), Cell, FastHash>,
}

impl Fold {
    fn add(&mut self, basis: Basis, p: PrinterRef, at: DateTime<Utc>, cell: &Cell) {
        self.cells
            .entry((p, basis, at.date_naive(), cell.dims.clone()))
            .and_modify(|sum| sum.add(cell))
            .or_insert_with(|| Cell {
                dims: Dims::default(),
                measures: cell.measures,
                ink: cell.ink.clone(),
            });
    }

    fn spread(self) -> Pending {
        let mut pending = Pending::default();
        for ((p, basis, day, dims), cell) in self.cells {
            pending.add(basis, p, day, &dims, &cell);
        }
        pending
    }
}

impl Pending {
    fn add(&mut self, basis: Basis, p: PrinterRef, day: NaiveDate, dims: &Dims, cell: &Cell) {
        for grain in [Grain::Day, Grain::Month] {
            let bucket = match grain {
                Grain::Day => day,
                Grain::Month => month_start(day),
            };
            for level in [Level::Cube, Level::Printer, Level::Site, Level::Reseller] {
                if level == Level::Cube && grain == Grain::Month {
                    // The cube is the widest level: it keeps days only (see module docs).
                    continue;
                }
                let key = Key {
                    printer_id: if matches!(level, Level::Cube | Level::Printer) {
                        p.id
                    } else {
                        0
                    },
                    level,
                    basis: basis.as_str(),
                    grain,
                    bucket,
                    site_id: if level == Level::Reseller {
                        0
                    } else {
                        p.site_id
                    },
                    reseller_id: p.reseller_id,
                    dims: if level == Level::Cube {
                        dims.clone()
                    } else {
                        Dims::default()
                    },
                };
                let acc = self.rows.entry(key).or_default();
                acc.measures.add(&cell.measures);
                for (color, m) in &cell.ink {
                    match acc.ink.get_mut(color) {
                        Some(sum) => sum.add(m),
                        None => {
                            let mut sum = InkMeasures::default();
                            sum.add(m);
                            acc.ink.insert(color.clone(), sum);
                        }
                    }
                }
            }
        }
    }
}

fn set<'a, T>(field: &str, v: &'a ActiveValue<T>) -> Result<&'a T, DbErr>
where
    T: Into<sea_orm::Value>,
{
    v.try_as_ref()
        .ok_or_else(|| DbErr::Custom(format!("job row without {field}")))
}

fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// The rollup facts of a job row about to be inserted.
fn job_of_row(row: &job::ActiveModel) -> Result<RollupJob, DbErr> {
    let kind = JobKind::parse(set("kind", &row.kind)?)
        .ok_or_else(|| DbErr::Custom("job row with an unknown kind".into()))?;
    let ink_ul: BTreeMap<String, u64> = match set("ink", &row.ink)? {
        Some(v) => crate::store::from_json(v)?,
        None => BTreeMap::new(),
    };
    let facts = JobFacts {
        kind,
        pages: u(*set("pages", &row.pages)?),
        copies: u(*set("copies", &row.copies)?),
        print_time_s: u(*set("print_time_s", &row.print_time_s)?),
        ink_ul,
        media_type: set("media_type", &row.media_type)?.clone(),
        category: set("category", &row.category)?.clone(),
        media_area_mm2: u(*set("media_area_mm2", &row.media_area_mm2)?),
        media_length_mm: u(*set("media_length_mm", &row.media_length_mm)?),
        printed_area_mm2: u(*set("printed_area_mm2", &row.printed_area_mm2)?),
        app_categories: BTreeMap::<String, CategoryFacts>::new(),
        scanned_area_mm2: u(*set("scanned_area_mm2", &row.scanned_area_mm2)?),
    };
    Ok(RollupJob {
        printer: PrinterRef {
            id: *set("printer_id", &row.printer_id)?,
            site_id: *set("site_id", &row.site_id)?,
            reseller_id: *set("reseller_id", &row.reseller_id)?,
        },
        occurred_at: *set("occurred_at", &row.occurred_at)?,
        cell: job_cell(
            &facts,
            set("account_id", &row.account_id)?.as_deref(),
            set("project_id", &row.project_id)?.as_deref(),
        ),
    })
}

/// Add the new job rows and counter deltas of one batch of uploads to the rollups.
///
/// Called by the ingest writer inside the transaction that inserts those
/// rows, so a rollup never counts a record that is not stored, nor misses
/// one that is. `job_rows` are only the *new* jobs (duplicates were already
/// filtered out), so a duplicate never changes a total.
pub async fn add_jobs_to_rollups(
    tx: &DatabaseTransaction,
    job_rows: &[job::ActiveModel],
    updates: &[&PrinterUpdate],
) -> Result<(), DbErr> {
    add_to_rollups(tx, &rollup_jobs_of(job_rows)?, &meters_of(updates)).await
}

/// The counter deltas of a batch's printer updates, as the rollups take them.
pub fn meters_of(updates: &[&PrinterUpdate]) -> Vec<RollupMeter> {
    updates
        .iter()
        .filter(|u| u.counters.is_some() && !u.usage.meter.is_zero())
        .map(|u| RollupMeter {
            printer: u.printer,
            read_at: u.collected_at,
            delta: u.usage.meter.clone(),
        })
        .collect()
}

/// What the rollups take of job rows.
pub fn rollup_jobs_of(job_rows: &[job::ActiveModel]) -> Result<Vec<RollupJob>, DbErr> {
    job_rows.iter().map(job_of_row).collect()
}

/// Add jobs and counter deltas to the rollups (see [`add_jobs_to_rollups`]).
pub async fn add_to_rollups<C: ConnectionTrait>(
    db: &C,
    jobs: &[RollupJob],
    meters: &[RollupMeter],
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let upserts = statements(backend, jobs, meters);
    if upserts.is_empty() {
        return Ok(());
    }
    for stmt in close_lock(backend).into_iter().chain(upserts) {
        db.execute_raw(stmt).await?;
    }
    Ok(())
}

/// On PostgreSQL, the shared lock that makes closing a billing period wait
/// until this transaction commits (see billing docs): a transaction takes it
/// before it inserts a job or counter reading, so no record with an id below
/// a closed period's watermarks commits after the close.
pub fn close_lock(backend: DbBackend) -> Option<Statement> {
    (backend == DbBackend::Postgres).then(|| {
        Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT pg_advisory_xact_lock_shared({})",
                super::CLOSE_LOCK_KEY
            ),
        )
    })
}

/// The upserts of [`add_to_rollups`], built without a connection (the
/// ingest writer builds them on another thread). They must run after
/// [`close_lock`], which the caller takes.
pub fn statements(
    backend: DbBackend,
    jobs: &[RollupJob],
    meters: &[RollupMeter],
) -> Vec<Statement> {
    if jobs.is_empty() && meters.is_empty() {
        return Vec::new();
    }
    let mut fold = Fold::default();
    for j in jobs {
        fold.add(Basis::Jobs, j.printer, j.occurred_at, &j.cell);
    }
    for m in meters {
        for cell in meter_cells(&m.delta) {
            fold.add(Basis::Meter, m.printer, m.read_at, &cell);
        }
    }
    upsert_statements(backend, &fold.spread().sorted())
}

/// Columns of the key, in insert order.
const KEY_COLUMNS: [&str; 11] = [
    "printer_id",
    "level",
    "basis",
    "grain",
    "bucket",
    "site_id",
    "reseller_id",
    "media_type",
    "category",
    "account_id",
    "project_id",
];

fn key_values(k: &Key) -> Vec<Expr> {
    vec![
        Expr::val(k.printer_id),
        Expr::val(k.level.as_str()),
        Expr::val(k.basis),
        Expr::val(k.grain.as_str()),
        Expr::val(k.bucket),
        Expr::val(k.site_id),
        Expr::val(k.reseller_id),
        Expr::val(k.dims.media_type.as_str()),
        Expr::val(k.dims.category.as_str()),
        Expr::val(k.dims.account_id.as_str()),
        Expr::val(k.dims.project_id.as_str()),
    ]
}

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Rows per statement: far below SQLite's bound-parameter limit.
const CHUNK: usize = 200;

fn adding(cols: &[&'static str], pg: bool) -> OnConflict {
    OnConflict::columns(KEY_COLUMNS.iter().map(|c| Alias::new(*c)))
        .values(
            cols.iter()
                .map(|c| {
                    (
                        Alias::new(*c),
                        Expr::cust(format!("{ROLLUPS}.{c} + excluded.{c}")),
                    )
                })
                .chain([(Alias::new("ink"), Expr::cust(ink_merge(pg)))]),
        )
        .to_owned()
}

/// The upsert's `SET` for the ink column: the stored colors and the new
/// ones merged, amounts of the same color added (`{"<color>": [ink_ul,
/// non_hp_ink_ul], ...}`; either side empty is the common case and skips
/// the merge).
fn ink_merge(pg: bool) -> String {
    let (each, empty, agg, array, num) = if pg {
        (
            "jsonb_each",
            "'{}'::jsonb",
            "jsonb_object_agg",
            "jsonb_build_array",
            "::bigint",
        )
    } else {
        ("json_each", "'{}'", "json_group_object", "json_array", "")
    };
    format!(
        "CASE WHEN {ROLLUPS}.ink = {empty} THEN excluded.ink \
         WHEN excluded.ink = {empty} THEN {ROLLUPS}.ink \
         ELSE (SELECT {agg}(k, {array}(a, b)) FROM (\
         SELECT key AS k, SUM((value->>0){num}) AS a, SUM((value->>1){num}) AS b FROM (\
         SELECT key, value FROM {each}({ROLLUPS}.ink) \
         UNION ALL SELECT key, value FROM {each}(excluded.ink)) AS u GROUP BY key) AS s) END"
    )
}

/// A key's ink per color as stored in the `ink` column.
fn ink_json(acc: &Acc) -> serde_json::Value {
    serde_json::Value::Object(
        acc.ink
            .iter()
            .map(|(color, m)| {
                (
                    color.clone(),
                    serde_json::json!([i(m.ink_ul), i(m.non_hp_ink_ul)]),
                )
            })
            .collect(),
    )
}

/// Upsert a batch's rows: each key once, its measures added and its ink
/// merged by color.
fn upsert_statements(backend: DbBackend, rows: &[(Key, Acc)]) -> Vec<Statement> {
    let measure_cols: Vec<&'static str> = Measures::default()
        .columns()
        .iter()
        .map(|(c, _)| *c)
        .collect();
    // Multi-row VALUES on both databases: on PostgreSQL it was faster than
    // the single-parameter `jsonb_to_recordset` form once the connection
    // stopped stalling on large statements (BENCHMARKS.md, session 8).
    let pg = backend == DbBackend::Postgres;
    let mut out = Vec::with_capacity(rows.len().div_ceil(CHUNK));
    for chunk in rows.chunks(CHUNK) {
        let mut q = Query::insert();
        q.into_table(Alias::new(ROLLUPS)).columns(
            KEY_COLUMNS
                .iter()
                .chain(measure_cols.iter())
                .chain(["ink"].iter())
                .map(|c| Alias::new(*c)),
        );
        for (k, acc) in chunk {
            let mut values = key_values(k);
            values.extend(acc.measures.columns().iter().map(|(_, v)| Expr::val(i(*v))));
            values.push(Expr::val(ink_json(acc)));
            q.values_panic(values);
        }
        q.on_conflict(adding(&measure_cols, pg));
        out.push(crate::store::json_as_text(backend.build(&q)));
    }
    out
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

/// Which rows: every condition given must hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowFilter {
    /// Reseller.
    pub reseller_id: Option<i64>,
    /// Site.
    pub site_id: Option<i64>,
    /// Printer.
    pub printer_id: Option<i64>,
}

/// A column to group rollup rows by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GroupCol {
    /// Printer.
    Printer,
    /// Site.
    Site,
    /// Grain and bucket (day or month start).
    Bucket,
    /// Media type.
    MediaType,
    /// Print category.
    Category,
    /// Account id.
    AccountId,
    /// Project id.
    ProjectId,
    /// Ink color (a key of the `ink` column).
    Color,
}

impl GroupCol {
    fn columns(self) -> &'static [&'static str] {
        match self {
            Self::Printer => &["printer_id"],
            Self::Site => &["site_id"],
            Self::Bucket => &["grain", "bucket"],
            Self::MediaType => &["media_type"],
            Self::Category => &["category"],
            Self::AccountId => &["account_id"],
            Self::ProjectId => &["project_id"],
            Self::Color => &["color"],
        }
    }

    /// The job dimensions, which only level `x` splits by.
    pub const DIMS: [GroupCol; 4] = [
        GroupCol::MediaType,
        GroupCol::Category,
        GroupCol::AccountId,
        GroupCol::ProjectId,
    ];
}

/// A rollup query: one level and basis, a filter, bucket ranges, grouping.
#[derive(Debug, Clone)]
pub struct RollupQuery<'a> {
    /// Level to read.
    pub level: Level,
    /// Basis to read.
    pub basis: Basis,
    /// Which rows.
    pub filter: RowFilter,
    /// Which buckets.
    pub buckets: &'a [BucketRange],
    /// Grouping columns (in any order).
    pub group: &'a [GroupCol],
}

/// One grouped row: the grouped columns are set, the others default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RollupRow {
    /// Printer (grouped by printer).
    pub printer_id: i64,
    /// Site (grouped by site).
    pub site_id: i64,
    /// Grain and bucket (grouped by bucket).
    pub bucket: Option<(Grain, NaiveDate)>,
    /// Dimensions (grouped by them).
    pub dims: Dims,
    /// Ink color (ink rows grouped by color).
    pub color: String,
    /// Measures (measure rows).
    pub measures: Measures,
    /// Ink (ink rows).
    pub ink: InkMeasures,
}

impl RollupRow {
    /// Its grouped columns, as a map key.
    fn key(&self) -> RowKey {
        (
            self.printer_id,
            self.site_id,
            self.bucket,
            self.dims.clone(),
        )
    }

    /// The rows' usage as a cell (ink rows contribute their color).
    pub fn to_cell(&self) -> Cell {
        let mut cell = Cell {
            dims: self.dims.clone(),
            measures: self.measures,
            ink: BTreeMap::new(),
        };
        if !self.color.is_empty() {
            cell.ink.insert(self.color.clone(), self.ink);
        }
        cell
    }
}

/// The rows of a query: its level, basis, filter and buckets, the grouped
/// columns selected.
fn rows_of(q: &RollupQuery<'_>) -> (SelectStatement, Vec<&'static str>) {
    let mut s = Query::select();
    s.from(Alias::new(ROLLUPS));
    let mut cols: Vec<&'static str> = Vec::new();
    for g in q.group {
        cols.extend(g.columns());
    }
    for c in &cols {
        s.column(Alias::new(*c));
    }
    s.and_where(Expr::col(Alias::new("level")).eq(q.level.as_str()));
    s.and_where(Expr::col(Alias::new("basis")).eq(q.basis.as_str()));
    if let Some(id) = q.filter.reseller_id {
        s.and_where(Expr::col(Alias::new("reseller_id")).eq(id));
    }
    if let Some(id) = q.filter.site_id {
        s.and_where(Expr::col(Alias::new("site_id")).eq(id));
    }
    if let Some(id) = q.filter.printer_id {
        s.and_where(Expr::col(Alias::new("printer_id")).eq(id));
    }
    let mut any = Condition::any();
    for b in q.buckets {
        any = any.add(
            Condition::all()
                .add(Expr::col(Alias::new("grain")).eq(b.grain.as_str()))
                .add(Expr::col(Alias::new("bucket")).gte(b.from))
                .add(Expr::col(Alias::new("bucket")).lt(b.to)),
        );
    }
    s.cond_where(any);
    (s, cols)
}

/// The sums of `sums` over the rows of a query, grouped.
fn select(q: &RollupQuery<'_>, sums: &[&str]) -> SelectStatement {
    let (mut s, cols) = rows_of(q);
    for c in sums {
        s.expr_as(
            Expr::cust(format!("CAST(SUM({c}) AS BIGINT)")),
            Alias::new(*c),
        );
    }
    if !cols.is_empty() {
        s.group_by_columns(cols.iter().map(|c| Alias::new(*c)));
    }
    s
}

fn grain_of(s: &str) -> Result<Grain, DbErr> {
    match s {
        "d" => Ok(Grain::Day),
        "m" => Ok(Grain::Month),
        other => Err(DbErr::Custom(format!("rollup row with grain {other:?}"))),
    }
}

fn nonneg(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn read_group(
    row: &sea_orm::QueryResult,
    group: &[GroupCol],
    out: &mut RollupRow,
) -> Result<(), DbErr> {
    for g in group {
        match g {
            GroupCol::Printer => out.printer_id = row.try_get("", "printer_id")?,
            GroupCol::Site => out.site_id = row.try_get("", "site_id")?,
            GroupCol::Bucket => {
                let grain: String = row.try_get("", "grain")?;
                out.bucket = Some((grain_of(&grain)?, row.try_get("", "bucket")?));
            }
            GroupCol::MediaType => out.dims.media_type = row.try_get("", "media_type")?,
            GroupCol::Category => out.dims.category = row.try_get("", "category")?,
            GroupCol::AccountId => out.dims.account_id = row.try_get("", "account_id")?,
            GroupCol::ProjectId => out.dims.project_id = row.try_get("", "project_id")?,
            GroupCol::Color => out.color = row.try_get("", "color")?,
        }
    }
    Ok(())
}

/// The grouping columns that are columns of the table: ink colors are
/// keys inside each row's `ink` object, not a column.
fn stored_columns(group: &[GroupCol]) -> Vec<GroupCol> {
    group
        .iter()
        .copied()
        .filter(|g| *g != GroupCol::Color)
        .collect()
}

/// Sum the measure rows of a query, grouped.
pub async fn query_measures<C: ConnectionTrait>(
    db: &C,
    q: &RollupQuery<'_>,
) -> Result<Vec<RollupRow>, DbErr> {
    if q.buckets.is_empty() {
        return Ok(Vec::new());
    }
    let group = stored_columns(q.group);
    let q = RollupQuery {
        group: &group,
        ..q.clone()
    };
    let cols: Vec<&'static str> = Measures::default()
        .columns()
        .iter()
        .map(|(c, _)| *c)
        .collect();
    let rows = db.query_all(&select(&q, &cols)).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut r = RollupRow::default();
        read_group(&row, &group, &mut r)?;
        let mut v = [0u64; 13];
        for (slot, c) in v.iter_mut().zip(&cols) {
            // SUM over no rows is NULL (a query that matched nothing).
            *slot = nonneg(row.try_get::<Option<i64>>("", c)?.unwrap_or(0));
        }
        r.measures = Measures::from_columns(v);
        if group.is_empty() && r.measures.is_zero() {
            continue;
        }
        out.push(r);
    }
    Ok(out)
}

/// Sum the ink of a query's rows per color, grouped (by color too).
///
/// The colors are in each row's `ink` column, so the rows are read as they
/// are and summed here: the same rows the measures are summed over, a few
/// per month and printer at most.
pub async fn query_ink<C: ConnectionTrait>(
    db: &C,
    q: &RollupQuery<'_>,
) -> Result<Vec<RollupRow>, DbErr> {
    if q.buckets.is_empty() {
        return Ok(Vec::new());
    }
    let group = stored_columns(q.group);
    let q = RollupQuery {
        group: &group,
        ..q.clone()
    };
    let (mut s, _) = rows_of(&q);
    s.expr_as(Expr::cust("CAST(ink AS TEXT)"), Alias::new("ink"));
    s.and_where(Expr::cust(
        if db.get_database_backend() == DbBackend::Postgres {
            "ink <> '{}'::jsonb"
        } else {
            "ink <> '{}'"
        },
    ));
    let mut sums: HashMap<(RowKey, String), InkMeasures> = HashMap::new();
    for row in db.query_all(&s).await? {
        let mut r = RollupRow::default();
        read_group(&row, &group, &mut r)?;
        let ink: String = row.try_get("", "ink")?;
        let ink: BTreeMap<String, (u64, u64)> = serde_json::from_str(&ink)
            .map_err(|e| DbErr::Custom(format!("rollup row with unreadable ink {ink:?}: {e}")))?;
        for (color, (ink_ul, non_hp_ink_ul)) in ink {
            sums.entry((r.key(), color)).or_default().add(&InkMeasures {
                ink_ul,
                non_hp_ink_ul,
            });
        }
    }
    Ok(sums
        .into_iter()
        .map(
            |(((printer_id, site_id, bucket, dims), color), ink)| RollupRow {
                printer_id,
                site_id,
                bucket,
                dims,
                color,
                ink,
                ..RollupRow::default()
            },
        )
        .collect())
}

/// A grouped row's key: its grouped columns (the others at their defaults).
type RowKey = (i64, i64, Option<(Grain, NaiveDate)>, Dims);

/// Cells of a query: measure rows and ink rows merged by their group key.
///
/// Keys are the grouped columns; rows of the same key (one measure row,
/// its ink rows) become one cell.
pub async fn query_cells<C: ConnectionTrait>(
    db: &C,
    q: &RollupQuery<'_>,
) -> Result<Vec<(RollupRow, Cell)>, DbErr> {
    let mut cells: HashMap<RowKey, (RollupRow, Cell)> = HashMap::new();
    for r in query_measures(db, q).await? {
        let cell = r.to_cell();
        cells.insert(r.key(), (r, cell));
    }
    for r in query_ink(db, q).await? {
        let entry = cells.entry(r.key()).or_insert_with(|| {
            let mut base = r.clone();
            base.color.clear();
            base.ink = InkMeasures::default();
            let cell = Cell {
                dims: r.dims.clone(),
                ..Cell::default()
            };
            (base, cell)
        });
        entry.1.add(&r.to_cell());
    }
    let mut out: Vec<_> = cells.into_values().collect();
    out.sort_by_key(|a| a.0.key());
    Ok(out)
}
