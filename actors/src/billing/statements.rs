//! Statements: rating a period from the rollups, adjustments for late data,
//! closing, evidence and the digest.
//!
//! A statement is identified by its scope and period start:
//! `site-3-2026-03-01`, `printer-17-2026-04-15`. While open it is rated on
//! demand from the rollups, so late data (after the period ended, within
//! its grace window or later) lands in its true period. A period can be
//! closed once its grace window has passed and the previous period is
//! closed; closing freezes the statement (document, digest, watermarks).
//! Usage of a closed period that arrives later is re-rated into
//! *adjustment* lines on the statement of the period right after the last
//! closed one, never by changing the closed one.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use ppu_entities::{billing_statement as statement, counter_reading, job, printer};
use rust_decimal::Decimal;
use sea_orm::ActiveValue::Set;
use sea_orm::{
    AccessMode, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait,
    IsolationLevel, PaginatorTrait, QueryFilter, QueryOrder, Statement as RawStatement,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};

use super::BillingError;
use super::contracts::{self, Contract};
use super::rollup::{self, GroupCol, Level, RollupQuery, RollupRow, RowFilter};
use crate::domain::billing::{
    Basis, Cell, ContractScope, Cycle, DigestHeader, EvidenceItem, Filter, LineKind, Proration,
    Span, StatementLine, adjustments, canonical_text, cover, digest, job_cell, meter_cells,
    rate_segment,
};
use crate::domain::usage::MeterUsage;
use crate::store::{Db, facts_of_row, from_json};

/// A statement id: scope and period start, e.g. `site-3-2026-03-01`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatementId {
    /// Who it bills.
    pub scope: ContractScope,
    /// First day of its period.
    pub period_start: NaiveDate,
}

impl StatementId {
    /// Parse `site-3-2026-03-01` / `printer-17-2026-04-15`.
    pub fn parse(s: &str) -> Option<Self> {
        let (kind, rest) = s.split_once('-')?;
        let (id, date) = rest.split_once('-')?;
        let id: i64 = id.parse().ok().filter(|i| *i > 0)?;
        let period_start = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
        let scope = match kind {
            "site" => ContractScope::Site(id),
            "printer" => ContractScope::Printer(id),
            _ => return None,
        };
        Some(Self {
            scope,
            period_start,
        })
    }
}

impl std::fmt::Display for StatementId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}-{}-{}",
            self.scope.kind(),
            self.scope.id(),
            self.period_start
        )
    }
}

/// A statement's period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodView {
    /// Label: `2026-03` or `2026-Q1`.
    pub label: String,
    /// First day.
    pub start: NaiveDate,
    /// First day after (exclusive).
    pub end: NaiveDate,
}

/// A statement: its lines and total. Closed statements are stored as this document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// Statement id.
    pub id: String,
    /// `site` or `printer`.
    pub scope: String,
    /// Site or printer id.
    pub scope_id: i64,
    /// Reseller.
    pub reseller_id: i64,
    /// Site.
    pub site_id: i64,
    /// The period.
    pub period: PeriodView,
    /// ISO 4217 currency code.
    pub currency: String,
    /// `open` or `closed`.
    pub status: String,
    /// First day it may be closed (period end + grace days).
    pub closable_from: NaiveDate,
    /// When it was closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Contracts rating it.
    pub contracts: Vec<i64>,
    /// The rounding rule applied.
    pub rounding: String,
    /// Lines.
    pub lines: Vec<StatementLine>,
    /// Sum of the line amounts.
    pub total: Decimal,
    /// SHA-256 over the canonical lines and evidence (closed statements).
    pub digest: Option<String>,
    /// Highest job id behind it (closed statements: its evidence is up to it).
    pub job_watermark: i64,
    /// Highest counter reading id behind it.
    pub reading_watermark: i64,
}

/// One record behind a line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvidenceRow {
    /// The line it adds to.
    pub line_no: u32,
    /// `job:<uuid>` or `reading:<id>`.
    pub reference: String,
    /// Printer.
    pub printer_id: i64,
    /// Its serial number.
    pub serial_number: String,
    /// Print time (scan time for scans) or reading time.
    pub at: DateTime<Utc>,
    /// Quantity in the line's raw unit.
    pub quantity_raw: u64,
}

/// A line's quantity against the sum of its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineCheck {
    /// Line number.
    pub line_no: u32,
    /// Code.
    pub code: String,
    /// The line's quantity, raw units.
    pub quantity_raw: i64,
    /// Sum of its evidence, raw units.
    pub evidence_raw: i64,
    /// Whether lines that count records re-add exactly (fixed fees and true-ups have none).
    pub reconciles: bool,
}

/// The evidence of a statement.
#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    /// Statement id.
    pub statement_id: String,
    /// `open` or `closed`.
    pub status: String,
    /// Digest over the canonical text below.
    pub digest: String,
    /// The digest stored when it was closed.
    pub stored_digest: Option<String>,
    /// Whether `digest` equals `stored_digest` (open statements: null).
    pub verified: Option<bool>,
    /// Per line: quantity against evidence.
    pub lines: Vec<LineCheck>,
    /// Records, by line then reference.
    pub items: Vec<EvidenceRow>,
    /// The canonical text the digest is computed over.
    pub canonical: String,
}

/// Highest job and counter reading ids visible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Watermarks {
    pub(crate) job: i64,
    pub(crate) reading: i64,
}

async fn watermarks<C: ConnectionTrait>(db: &C) -> Result<Watermarks, DbErr> {
    let max = |table: &str| {
        RawStatement::from_string(
            db.get_database_backend(),
            format!("SELECT COALESCE(MAX(id), 0) AS m FROM {table}"),
        )
    };
    let job = db.query_one_raw(max("jobs")).await?;
    let reading = db.query_one_raw(max("counter_readings")).await?;
    let get = |r: Option<sea_orm::QueryResult>| -> Result<i64, DbErr> {
        Ok(r.map(|r| r.try_get::<i64>("", "m"))
            .transpose()?
            .unwrap_or(0))
    };
    Ok(Watermarks {
        job: get(job)?,
        reading: get(reading)?,
    })
}

/// A read-only transaction: one snapshot for rollups and records
/// (PostgreSQL: repeatable read; SQLite: a read transaction in WAL mode).
pub(crate) async fn read_tx(db: &Db) -> Result<DatabaseTransaction, DbErr> {
    if db.backend() == DbBackend::Postgres {
        db.read
            .begin_with_config(
                Some(IsolationLevel::RepeatableRead),
                Some(AccessMode::ReadOnly),
            )
            .await
    } else {
        db.read.begin().await
    }
}

/// Everything about a scope a statement needs.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) scope: ContractScope,
    pub(crate) reseller_id: i64,
    pub(crate) site_id: i64,
    pub(crate) contracts: Vec<Contract>,
    /// Printer contracts carved out of a site's contract.
    pub(crate) carveouts: Vec<Contract>,
    /// Closed statements of the scope, by period.
    pub(crate) closed: Vec<statement::Model>,
}

impl Ctx {
    pub(crate) async fn load<C: ConnectionTrait>(
        db: &C,
        scope: ContractScope,
    ) -> Result<Self, BillingError> {
        let (reseller_id, site_id) = contracts::owner_of(db, scope).await?;
        let contracts = contracts::of_scope(db, scope).await?;
        let carveouts = match scope {
            ContractScope::Site(s) => contracts::printer_contracts_of_site(db, s).await?,
            ContractScope::Printer(_) => Vec::new(),
        };
        let q = statement::Entity::find().filter(statement::Column::Scope.eq(scope.kind()));
        let q = match scope {
            ContractScope::Site(s) => q
                .filter(statement::Column::SiteId.eq(s))
                .filter(statement::Column::PrinterId.is_null()),
            ContractScope::Printer(p) => q.filter(statement::Column::PrinterId.eq(p)),
        };
        let closed = q
            .order_by_asc(statement::Column::PeriodStart)
            .all(db)
            .await?;
        Ok(Self {
            scope,
            reseller_id,
            site_id,
            contracts,
            carveouts,
            closed,
        })
    }

    pub(crate) fn cycle(&self) -> Option<Cycle> {
        self.contracts.first().map(|c| c.terms.cycle)
    }

    /// The contracts in force in `period`, each with the part it covers.
    pub(crate) fn segments(&self, period: Span) -> Vec<(&Contract, Span)> {
        self.contracts
            .iter()
            .filter_map(|c| c.in_force(&period).map(|s| (c, s)))
            .collect()
    }

    fn filter(&self) -> RowFilter {
        match self.scope {
            ContractScope::Site(s) => RowFilter {
                site_id: Some(s),
                ..RowFilter::default()
            },
            ContractScope::Printer(p) => RowFilter {
                printer_id: Some(p),
                ..RowFilter::default()
            },
        }
    }

    /// Printer contracts in force at some point of `span`.
    fn carveouts_in(&self, span: Span) -> Vec<(i64, Span)> {
        self.carveouts
            .iter()
            .filter_map(|c| Some((c.row.printer_id?, c.in_force(&span)?)))
            .collect()
    }

    fn closed_row(&self, start: NaiveDate) -> Option<&statement::Model> {
        self.closed.iter().find(|s| s.period_start == start)
    }

    fn id(&self, period: Span) -> StatementId {
        StatementId {
            scope: self.scope,
            period_start: period.start,
        }
    }
}

/// The cells of the scope's usage in `span` on `basis`, restricted by
/// `extra`, grouped by `group`, without the usage of carved-out printers.
pub(crate) async fn cells<C: ConnectionTrait>(
    db: &C,
    ctx: &Ctx,
    basis: Basis,
    span: Span,
    extra: RowFilter,
    group: &[GroupCol],
) -> Result<Vec<(RollupRow, Cell)>, DbErr> {
    let mut filter = ctx.filter();
    filter.reseller_id = filter.reseller_id.or(extra.reseller_id);
    filter.site_id = filter.site_id.or(extra.site_id);
    filter.printer_id = filter.printer_id.or(extra.printer_id);
    let carve = ctx.carveouts_in(span);
    let cuts: Vec<NaiveDate> = carve.iter().flat_map(|(_, s)| [s.start, s.end]).collect();
    // Level `x` has day rows only.
    let buckets = cover(span, &cuts, true);
    let mut query_group: Vec<GroupCol> = group.to_vec();
    if !carve.is_empty() {
        for g in [GroupCol::Printer, GroupCol::Bucket] {
            if !query_group.contains(&g) {
                query_group.push(g);
            }
        }
    }
    let q = RollupQuery {
        level: Level::Cube,
        basis,
        filter,
        buckets: &buckets,
        group: &query_group,
    };
    let rows = rollup::query_cells(db, &q).await?;
    if carve.is_empty() {
        return Ok(rows);
    }
    // Buckets never cross a carve-out boundary (they were cut there), so a
    // bucket's first day says whether the whole bucket is carved out.
    type K = (
        i64,
        i64,
        Option<(crate::domain::billing::Grain, NaiveDate)>,
        crate::domain::billing::Dims,
    );
    let mut kept: BTreeMap<K, (RollupRow, Cell)> = BTreeMap::new();
    for (mut row, cell) in rows {
        let day = row.bucket.map(|(_, d)| d).unwrap_or(span.start);
        if carve
            .iter()
            .any(|(p, s)| *p == row.printer_id && s.contains(day))
        {
            continue;
        }
        if !group.contains(&GroupCol::Printer) {
            row.printer_id = 0;
        }
        if !group.contains(&GroupCol::Bucket) {
            row.bucket = None;
        }
        let key = (row.printer_id, row.site_id, row.bucket, row.dims.clone());
        let e = kept.entry(key).or_insert_with(|| {
            (
                row.clone(),
                Cell {
                    dims: cell.dims.clone(),
                    ..Cell::default()
                },
            )
        });
        e.1.add(&cell);
    }
    Ok(kept.into_values().collect())
}

/// Whether any charge of `c` splits usage by a job dimension.
fn needs_dims(c: &Contract) -> bool {
    c.terms.charges.iter().any(|ch| {
        matches!(
            ch.selector.filter,
            Filter::MediaType(_) | Filter::PrintCategory(_)
        )
    })
}

/// Rate every segment of `period` on the data visible now.
pub(crate) async fn rate_period<C: ConnectionTrait>(
    db: &C,
    ctx: &Ctx,
    period: Span,
) -> Result<Vec<StatementLine>, BillingError> {
    let mut lines = Vec::new();
    for (c, seg) in ctx.segments(period) {
        let group: &[GroupCol] = if needs_dims(c) { &GroupCol::DIMS } else { &[] };
        let basis = c.terms.basis;
        let used: Vec<Cell> = cells(db, ctx, basis, seg, RowFilter::default(), group)
            .await?
            .into_iter()
            .map(|(_, c)| c)
            .collect();
        let metered: Vec<Cell> = if basis == Basis::Meter {
            used.clone()
        } else {
            cells(db, ctx, Basis::Meter, seg, RowFilter::default(), &[])
                .await?
                .into_iter()
                .map(|(_, c)| c)
                .collect()
        };
        let q = |s: &crate::domain::billing::Selector| -> u64 {
            let from = if s.always_metered() { &metered } else { &used };
            from.iter().map(|c| s.raw(c)).sum()
        };
        let p = Proration::of_span(seg, period);
        lines.extend(
            rate_segment(&c.terms, p, &q)
                .into_iter()
                .map(|r| StatementLine::from_rated(r, c.row.id, seg)),
        );
    }
    Ok(lines)
}

fn day_start(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
}

/// Whether records of the scope in `span` were stored after `wm`.
async fn late_records<C: ConnectionTrait>(
    db: &C,
    ctx: &Ctx,
    span: Span,
    wm: Watermarks,
) -> Result<bool, DbErr> {
    let (from, to) = (day_start(span.start), day_start(span.end));
    let jobs = job::Entity::find()
        .filter(job::Column::OccurredAt.gte(from))
        .filter(job::Column::OccurredAt.lt(to))
        .filter(job::Column::Id.gt(wm.job));
    let jobs = match ctx.scope {
        ContractScope::Site(s) => jobs.filter(job::Column::SiteId.eq(s)),
        ContractScope::Printer(p) => jobs.filter(job::Column::PrinterId.eq(p)),
    };
    if jobs.count(db).await? > 0 {
        return Ok(true);
    }
    let readings = counter_reading::Entity::find()
        .filter(counter_reading::Column::ReadAt.gte(from))
        .filter(counter_reading::Column::ReadAt.lt(to))
        .filter(counter_reading::Column::Id.gt(wm.reading));
    let readings = match ctx.scope {
        ContractScope::Site(s) => readings.filter(counter_reading::Column::SiteId.eq(s)),
        ContractScope::Printer(p) => readings.filter(counter_reading::Column::PrinterId.eq(p)),
    };
    Ok(readings.count(db).await? > 0)
}

fn document(row: &statement::Model) -> Result<Statement, DbErr> {
    from_json(&row.document)
}

/// Lines and total of `period`, with adjustments for closed periods when it
/// is the period right after the last closed one.
async fn build<C: ConnectionTrait>(
    db: &C,
    ctx: &Ctx,
    period: Span,
) -> Result<(Vec<StatementLine>, Option<Watermarks>), BillingError> {
    let cycle = ctx.cycle().expect("a scope with segments has contracts");
    let mut lines = rate_period(db, ctx, period).await?;
    let mut prev_wm = None;
    if let Some(last) = ctx.closed.last()
        && last.period_end == period.start
    {
        let wm = Watermarks {
            job: last.job_watermark,
            reading: last.reading_watermark,
        };
        prev_wm = Some(wm);
        for (i, c) in ctx.closed.iter().enumerate() {
            let span = Span {
                start: c.period_start,
                end: c.period_end,
            };
            if !late_records(db, ctx, span, wm).await? {
                continue;
            }
            let label = cycle.label(span);
            let current = rate_period(db, ctx, span).await?;
            let own = document(c)?;
            let later: Vec<Statement> = ctx.closed[i + 1..]
                .iter()
                .map(document)
                .collect::<Result<_, _>>()?;
            let billed: Vec<&StatementLine> = own
                .lines
                .iter()
                .filter(|l| l.kind != LineKind::Adjustment)
                .chain(later.iter().flat_map(|s| {
                    s.lines.iter().filter(|l| {
                        l.kind == LineKind::Adjustment && l.adjusts.as_deref() == Some(&label)
                    })
                }))
                .collect();
            lines.extend(adjustments(&label, &billed, &current));
        }
    }
    for (n, l) in lines.iter_mut().enumerate() {
        l.no = u32::try_from(n + 1).unwrap_or(u32::MAX);
    }
    Ok((lines, prev_wm))
}

async fn open_statement<C: ConnectionTrait>(
    db: &C,
    ctx: &Ctx,
    period: Span,
) -> Result<(Statement, Option<Watermarks>), BillingError> {
    let segments = ctx.segments(period);
    let Some((last, _)) = segments.last() else {
        return Err(BillingError::NotFound(
            "contract in force in this period".into(),
        ));
    };
    let cycle = last.terms.cycle;
    let closable_from = period.end + chrono::Days::new(u64::from(last.terms.grace_days));
    let currency = last.terms.currency.clone();
    let contracts_ids = segments.iter().map(|(c, _)| c.row.id).collect();
    let wm = watermarks(db).await?;
    let (lines, prev_wm) = build(db, ctx, period).await?;
    let total = lines.iter().map(|l| l.amount).sum::<Decimal>();
    let mut total = total;
    total.rescale(currency.minor_units);
    Ok((
        Statement {
            id: ctx.id(period).to_string(),
            scope: ctx.scope.kind().into(),
            scope_id: ctx.scope.id(),
            reseller_id: ctx.reseller_id,
            site_id: ctx.site_id,
            period: PeriodView {
                label: cycle.label(period),
                start: period.start,
                end: period.end,
            },
            currency: currency.code,
            status: "open".into(),
            closable_from,
            closed_at: None,
            contracts: contracts_ids,
            rounding: format!(
                "each line rounded to {} decimals, half away from zero; total is the sum of lines",
                currency.minor_units
            ),
            lines,
            total,
            digest: None,
            job_watermark: wm.job,
            reading_watermark: wm.reading,
        },
        prev_wm,
    ))
}

fn parse_period(ctx: &Ctx, period: &str) -> Result<Span, BillingError> {
    let cycle = ctx
        .cycle()
        .ok_or_else(|| BillingError::NotFound(format!("contract of this {}", ctx.scope.kind())))?;
    cycle
        .parse_period(period)
        .map_err(|m| BillingError::invalid("invalid_period", m))
}

fn period_of_id(ctx: &Ctx, id: &StatementId) -> Result<Span, BillingError> {
    let cycle = ctx
        .cycle()
        .ok_or_else(|| BillingError::NotFound("statement".into()))?;
    let span = cycle.period_containing(id.period_start);
    if span.start != id.period_start {
        return Err(BillingError::NotFound("statement".into()));
    }
    Ok(span)
}

async fn show<C: ConnectionTrait>(
    db: &C,
    ctx: &Ctx,
    period: Span,
) -> Result<Statement, BillingError> {
    if let Some(row) = ctx.closed_row(period.start) {
        return Ok(document(row)?);
    }
    Ok(open_statement(db, ctx, period).await?.0)
}

/// The statement of a scope for a period (`2026-03`, `2026-Q1` or a day inside it).
pub async fn statement(
    db: &Db,
    scope: ContractScope,
    period: &str,
) -> Result<Statement, BillingError> {
    let tx = read_tx(db).await?;
    let ctx = Ctx::load(&tx, scope).await?;
    let span = parse_period(&ctx, period)?;
    let st = show(&tx, &ctx, span).await?;
    tx.commit().await?;
    Ok(st)
}

/// A statement by id.
pub async fn statement_by_id(db: &Db, id: &StatementId) -> Result<Statement, BillingError> {
    let tx = read_tx(db).await?;
    let ctx = Ctx::load(&tx, id.scope).await?;
    let span = period_of_id(&ctx, id)?;
    let st = show(&tx, &ctx, span).await?;
    tx.commit().await?;
    Ok(st)
}

/// Every statement of a scope: closed ones, then the open ones up to the period of `today`.
pub async fn list(
    db: &Db,
    scope: ContractScope,
    today: NaiveDate,
) -> Result<Vec<String>, BillingError> {
    let tx = read_tx(db).await?;
    let ctx = Ctx::load(&tx, scope).await?;
    tx.commit().await?;
    let Some(cycle) = ctx.cycle() else {
        return Ok(Vec::new());
    };
    let first = ctx.contracts[0].row.effective_from;
    let mut out = Vec::new();
    let mut p = cycle.period_containing(first);
    while p.start <= today {
        if !ctx.segments(p).is_empty() {
            out.push(ctx.id(p).to_string());
        }
        p = cycle.next(p);
    }
    Ok(out)
}

/// Close a statement's period: freeze its lines, evidence digest and watermarks.
///
/// Refused while its grace window is open, while the previous period (if
/// it had a contract) is open, and when it is already closed.
pub async fn close(
    db: &Db,
    id: &StatementId,
    now: DateTime<Utc>,
) -> Result<Statement, BillingError> {
    let tx = db.begin_write().await?;
    if db.backend() == DbBackend::Postgres {
        // Wait for ingest transactions that store billing records, keep new ones out.
        tx.execute_raw(RawStatement::from_string(
            DbBackend::Postgres,
            format!("SELECT pg_advisory_xact_lock({})", super::CLOSE_LOCK_KEY),
        ))
        .await?;
    }
    let ctx = Ctx::load(&tx, id.scope).await?;
    let period = period_of_id(&ctx, id)?;
    if ctx.closed_row(period.start).is_some() {
        return Err(BillingError::conflict(
            "already_closed",
            format!("statement {id} is closed; a closed statement never changes"),
        ));
    }
    let (mut st, prev_wm) = open_statement(&tx, &ctx, period).await?;
    if now.date_naive() < st.closable_from {
        return Err(BillingError::conflict(
            "grace_window_open",
            format!(
                "late data may still arrive for {}: it can be closed from {}",
                st.period.label, st.closable_from
            ),
        ));
    }
    let cycle = ctx.cycle().expect("a statement has contracts");
    let prev = cycle.previous(period);
    if !ctx.segments(prev).is_empty() && ctx.closed_row(prev.start).is_none() {
        return Err(BillingError::conflict(
            "previous_period_open",
            format!(
                "close {} ({}) first: periods close in order",
                cycle.label(prev),
                ctx.id(prev)
            ),
        ));
    }
    let wm = Watermarks {
        job: st.job_watermark,
        reading: st.reading_watermark,
    };
    let (items, _) = evidence_items(&tx, &ctx, &st, wm, prev_wm).await?;
    st.status = "closed".into();
    st.closed_at = Some(now);
    let text = canonical(&st, &items);
    st.digest = Some(digest(&text));
    statement::Entity::insert(statement::ActiveModel {
        key: Set(st.id.clone()),
        scope: Set(st.scope.clone()),
        reseller_id: Set(st.reseller_id),
        site_id: Set(st.site_id),
        printer_id: Set(match id.scope {
            ContractScope::Printer(p) => Some(p),
            ContractScope::Site(_) => None,
        }),
        period_start: Set(st.period.start),
        period_end: Set(st.period.end),
        currency: Set(st.currency.clone()),
        total: Set(st.total.to_string()),
        document: Set(crate::store::to_json(&st)),
        digest: Set(st.digest.clone().unwrap_or_default()),
        job_watermark: Set(wm.job),
        reading_watermark: Set(wm.reading),
        closed_at: Set(now),
        ..Default::default()
    })
    .exec_without_returning(&tx)
    .await?;
    tx.commit().await?;
    tracing::info!(statement = %st.id, total = %st.total, "statement closed");
    Ok(st)
}

fn canonical(st: &Statement, items: &[EvidenceRow]) -> String {
    let header = DigestHeader {
        id: &st.id,
        scope: &st.scope,
        scope_id: st.scope_id,
        period: Span {
            start: st.period.start,
            end: st.period.end,
        },
        currency: &st.currency,
        total: st.total,
    };
    let ev: Vec<EvidenceItem> = items
        .iter()
        .map(|e| EvidenceItem {
            line_no: e.line_no,
            reference: e.reference.clone(),
            quantity_raw: e.quantity_raw,
        })
        .collect();
    canonical_text(&header, &st.lines, &ev)
}

/// A stored record as cells: a job (one cell) or a reading (its delta's cells).
#[derive(Debug, Clone)]
struct Record {
    reference: String,
    printer_id: i64,
    at: DateTime<Utc>,
    cells: Vec<Cell>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Source {
    Jobs,
    Readings,
}

async fn records<C: ConnectionTrait>(
    db: &C,
    ctx: &Ctx,
    source: Source,
    span: Span,
    ids: (i64, i64),
) -> Result<Vec<Record>, DbErr> {
    let (from, to) = (day_start(span.start), day_start(span.end));
    let carve = ctx.carveouts_in(span);
    let carved = |printer: i64, at: DateTime<Utc>| {
        carve
            .iter()
            .any(|(p, s)| *p == printer && s.contains(at.date_naive()))
    };
    let mut out = Vec::new();
    match source {
        Source::Jobs => {
            let q = job::Entity::find()
                .filter(job::Column::OccurredAt.gte(from))
                .filter(job::Column::OccurredAt.lt(to))
                .filter(job::Column::Id.gt(ids.0))
                .filter(job::Column::Id.lte(ids.1));
            let q = match ctx.scope {
                ContractScope::Site(s) => q.filter(job::Column::SiteId.eq(s)),
                ContractScope::Printer(p) => q.filter(job::Column::PrinterId.eq(p)),
            };
            for row in q.order_by_asc(job::Column::Id).all(db).await? {
                if carved(row.printer_id, row.occurred_at) {
                    continue;
                }
                let facts = facts_of_row(&row)?;
                out.push(Record {
                    reference: format!("job:{}", row.uuid),
                    printer_id: row.printer_id,
                    at: row.occurred_at,
                    cells: vec![job_cell(
                        &facts,
                        row.account_id.as_deref(),
                        row.project_id.as_deref(),
                    )],
                });
            }
        }
        Source::Readings => {
            use counter_reading::Column as R;
            let q = counter_reading::Entity::find()
                .filter(R::ReadAt.gte(from))
                .filter(R::ReadAt.lt(to))
                .filter(R::Id.gt(ids.0))
                .filter(R::Id.lte(ids.1));
            let q = match ctx.scope {
                ContractScope::Site(s) => q.filter(R::SiteId.eq(s)),
                ContractScope::Printer(p) => q.filter(R::PrinterId.eq(p)),
            };
            for row in q.order_by_asc(R::Id).all(db).await? {
                if carved(row.printer_id, row.read_at) {
                    continue;
                }
                let delta: MeterUsage = from_json(&row.delta)?;
                out.push(Record {
                    reference: format!("reading:{}", row.id),
                    printer_id: row.printer_id,
                    at: row.read_at,
                    cells: meter_cells(&delta),
                });
            }
        }
    }
    Ok(out)
}

/// The records behind every line that counts records, and the line checks.
async fn evidence_items<C: ConnectionTrait>(
    db: &C,
    ctx: &Ctx,
    st: &Statement,
    wm: Watermarks,
    prev_wm: Option<Watermarks>,
) -> Result<(Vec<EvidenceRow>, Vec<LineCheck>), BillingError> {
    let basis_of: HashMap<i64, Basis> = ctx
        .contracts
        .iter()
        .map(|c| (c.row.id, c.terms.basis))
        .collect();
    let mut cache: HashMap<(Source, Span, (i64, i64)), Vec<Record>> = HashMap::new();
    let mut rows = Vec::new();
    let mut checks = Vec::new();
    for line in &st.lines {
        let Some(sel) = &line.selector else {
            checks.push(LineCheck {
                line_no: line.no,
                code: line.code.clone(),
                quantity_raw: line.quantity_raw,
                evidence_raw: 0,
                reconciles: true,
            });
            continue;
        };
        let metered =
            sel.always_metered() || basis_of.get(&line.contract_id).copied() == Some(Basis::Meter);
        let source = if metered {
            Source::Readings
        } else {
            Source::Jobs
        };
        let span = Span {
            start: line.from,
            end: line.to,
        };
        let ids = match (line.kind, prev_wm) {
            (LineKind::Adjustment, Some(p)) => match source {
                Source::Jobs => (p.job, wm.job),
                Source::Readings => (p.reading, wm.reading),
            },
            _ => match source {
                Source::Jobs => (0, wm.job),
                Source::Readings => (0, wm.reading),
            },
        };
        let key = (source, span, ids);
        if let std::collections::hash_map::Entry::Vacant(e) = cache.entry(key) {
            e.insert(records(db, ctx, source, span, ids).await?);
        }
        let mut sum: i64 = 0;
        for r in &cache[&key] {
            let q: u64 = r.cells.iter().map(|c| sel.raw(c)).sum();
            if q == 0 {
                continue;
            }
            sum += i64::try_from(q).unwrap_or(i64::MAX);
            rows.push(EvidenceRow {
                line_no: line.no,
                reference: r.reference.clone(),
                printer_id: r.printer_id,
                serial_number: String::new(),
                at: r.at,
                quantity_raw: q,
            });
        }
        checks.push(LineCheck {
            line_no: line.no,
            code: line.code.clone(),
            quantity_raw: line.quantity_raw,
            evidence_raw: sum,
            reconciles: sum == line.quantity_raw,
        });
    }
    rows.sort_by(|a, b| (a.line_no, &a.reference).cmp(&(b.line_no, &b.reference)));
    Ok((rows, checks))
}

/// The records behind a statement's lines, its canonical text and digest.
///
/// For a closed statement the records are those up to its watermarks
/// (records are never changed or deleted), and the recomputed digest is
/// compared with the one stored when it was closed.
pub async fn evidence(db: &Db, id: &StatementId) -> Result<Evidence, BillingError> {
    let tx = read_tx(db).await?;
    let ctx = Ctx::load(&tx, id.scope).await?;
    let period = period_of_id(&ctx, id)?;
    let (st, wm, prev_wm) = match ctx.closed_row(period.start) {
        Some(row) => {
            let st = document(row)?;
            let prev = ctx
                .closed
                .iter()
                .rev()
                .find(|c| c.period_end == period.start)
                .map(|c| Watermarks {
                    job: c.job_watermark,
                    reading: c.reading_watermark,
                });
            let wm = Watermarks {
                job: row.job_watermark,
                reading: row.reading_watermark,
            };
            (st, wm, prev)
        }
        None => {
            let (st, prev) = open_statement(&tx, &ctx, period).await?;
            let wm = Watermarks {
                job: st.job_watermark,
                reading: st.reading_watermark,
            };
            (st, wm, prev)
        }
    };
    let (mut items, lines) = evidence_items(&tx, &ctx, &st, wm, prev_wm).await?;
    let ids: Vec<i64> = {
        let mut v: Vec<i64> = items.iter().map(|i| i.printer_id).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let serials: HashMap<i64, String> = printer::Entity::find()
        .filter(printer::Column::Id.is_in(ids))
        .all(&tx)
        .await?
        .into_iter()
        .map(|p| (p.id, p.serial_number))
        .collect();
    for i in &mut items {
        i.serial_number = serials.get(&i.printer_id).cloned().unwrap_or_default();
    }
    tx.commit().await?;
    let text = canonical(&st, &items);
    let d = digest(&text);
    Ok(Evidence {
        statement_id: st.id.clone(),
        status: st.status.clone(),
        verified: st.digest.as_ref().map(|s| *s == d),
        stored_digest: st.digest.clone(),
        digest: d,
        lines,
        items,
        canonical: text,
    })
}
