//! Usage totals of a reseller, site or printer over a date range, grouped,
//! answered from the rollups only; optionally with amounts allocated from
//! the statements of the contracts in force.
//!
//! # Which rollup level answers
//! Grouping by a job dimension (media type, print category, account id,
//! project id) reads level `x`; else grouping by printer reads `p`, by
//! site `s`; else the scope's own level (`r`, `s` or `p`): a reseller's
//! year ungrouped is 12 monthly rows. Whole months inside the range are
//! read as month buckets, the edges as day buckets (all days when grouped
//! by day, and always at level `x`, which keeps days only).
//!
//! # Amounts: allocation
//! Amounts are the statements' money shared out to the groups: each usage
//! line of a period's rating (all data received so far, so a closed period
//! includes what its adjustments added) goes to the groups in proportion to
//! their quantity of exactly what the line counts inside the range; fixed
//! fees and minimum true-ups in proportion to the groups' share of the
//! segment's usage charges. Per currency, the group amounts are rounded so
//! that they add up to the rounded total (largest remainder), so the sum
//! over printers equals the site's amount to the cent.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use ppu_entities::{printer, site};
use rust_decimal::Decimal;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use super::BillingError;
use super::contracts;
use super::rollup::{self, GroupCol, Level, RollupQuery, RollupRow, RowFilter};
use super::statements::{Ctx, cells, rate_period, read_tx};
use crate::domain::billing::{
    Basis, Cell, ContractScope, InkMeasures, LineKind, Measures, Span, cover, month_start,
    round_money,
};
use crate::store::Db;

/// Whose usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TotalsScope {
    /// A reseller: every site.
    Reseller(i64),
    /// A site: every printer.
    Site(i64),
    /// One printer.
    Printer(i64),
}

/// A grouping dimension of totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupBy {
    /// Printer.
    Printer,
    /// Site.
    Site,
    /// Media type.
    MediaType,
    /// Print category.
    PrintCategory,
    /// Ink color (answers ink only).
    InkColor,
    /// Job account id.
    AccountId,
    /// Job project id.
    ProjectId,
    /// UTC day.
    Day,
    /// UTC month.
    Month,
}

impl GroupBy {
    /// Every dimension, in output column order.
    pub const ALL: [GroupBy; 9] = [
        GroupBy::Site,
        GroupBy::Printer,
        GroupBy::Month,
        GroupBy::Day,
        GroupBy::MediaType,
        GroupBy::PrintCategory,
        GroupBy::InkColor,
        GroupBy::AccountId,
        GroupBy::ProjectId,
    ];

    /// The query parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Printer => "printer",
            Self::Site => "site",
            Self::MediaType => "media_type",
            Self::PrintCategory => "print_category",
            Self::InkColor => "ink_color",
            Self::AccountId => "account_id",
            Self::ProjectId => "project_id",
            Self::Day => "day",
            Self::Month => "month",
        }
    }

    /// Parse a query parameter value.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == s)
    }

    fn col(self) -> GroupCol {
        match self {
            Self::Printer => GroupCol::Printer,
            Self::Site => GroupCol::Site,
            Self::MediaType => GroupCol::MediaType,
            Self::PrintCategory => GroupCol::Category,
            Self::InkColor => GroupCol::Color,
            Self::AccountId => GroupCol::AccountId,
            Self::ProjectId => GroupCol::ProjectId,
            Self::Day | Self::Month => GroupCol::Bucket,
        }
    }

    fn is_job_dimension(self) -> bool {
        matches!(
            self,
            Self::MediaType | Self::PrintCategory | Self::AccountId | Self::ProjectId
        )
    }
}

/// A totals request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotalsQuery {
    /// Whose usage.
    pub scope: TotalsScope,
    /// Days `[from, to)`.
    pub span: Span,
    /// Job records or lifetime counters.
    pub basis: Basis,
    /// Grouping, in the order given.
    pub group_by: Vec<GroupBy>,
    /// Whether to allocate amounts.
    pub amounts: bool,
}

/// A group's key: the grouped dimensions are `Some` (a job dimension
/// without a value is `Some("")`).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKey {
    /// Site.
    pub site_id: Option<i64>,
    /// Printer.
    pub printer_id: Option<i64>,
    /// First day of the month.
    pub month: Option<NaiveDate>,
    /// Day.
    pub day: Option<NaiveDate>,
    /// Media type.
    pub media_type: Option<String>,
    /// Print category.
    pub print_category: Option<String>,
    /// Ink color.
    pub ink_color: Option<String>,
    /// Account id.
    pub account_id: Option<String>,
    /// Project id.
    pub project_id: Option<String>,
}

impl GroupKey {
    fn of(row: &RollupRow, group_by: &[GroupBy]) -> Self {
        let mut k = Self::default();
        for g in group_by {
            match g {
                GroupBy::Printer => k.printer_id = Some(row.printer_id),
                GroupBy::Site => k.site_id = Some(row.site_id),
                GroupBy::MediaType => k.media_type = Some(row.dims.media_type.clone()),
                GroupBy::PrintCategory => k.print_category = Some(row.dims.category.clone()),
                GroupBy::InkColor => k.ink_color = Some(row.color.clone()),
                GroupBy::AccountId => k.account_id = Some(row.dims.account_id.clone()),
                GroupBy::ProjectId => k.project_id = Some(row.dims.project_id.clone()),
                GroupBy::Day => k.day = row.bucket.map(|(_, d)| d),
                GroupBy::Month => k.month = row.bucket.map(|(_, d)| month_start(d)),
            }
        }
        k
    }
}

/// One group's usage and (allocated) amounts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Group {
    /// Key.
    pub key: GroupKey,
    /// Usage.
    pub measures: Measures,
    /// Ink per color.
    pub ink: BTreeMap<String, InkMeasures>,
    /// Allocated amounts per currency, rounded to its minor unit.
    pub amounts: BTreeMap<String, Decimal>,
}

/// Allocated money of one currency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CurrencyAmounts {
    /// Sum of the groups' amounts.
    pub allocated: Decimal,
    /// Fixed fees and true-ups of segments without usage charges to share them by.
    pub unallocated: Decimal,
}

/// Totals.
#[derive(Debug, Clone)]
pub struct Totals {
    /// The request.
    pub query: TotalsQuery,
    /// Groups, by key.
    pub groups: Vec<Group>,
    /// Everything.
    pub total: Group,
    /// Amounts per currency (when requested).
    pub amounts: Option<BTreeMap<String, CurrencyAmounts>>,
    /// Statements whose lines were allocated.
    pub statements: Vec<String>,
    /// Serial numbers of the printers in the groups.
    pub serials: HashMap<i64, String>,
    /// Account names of the sites in the groups.
    pub site_names: HashMap<i64, String>,
    /// Grouped by ink color: groups carry ink only.
    pub ink_only: bool,
}

fn check(q: &TotalsQuery) -> Result<(), BillingError> {
    let mut seen = Vec::new();
    for g in &q.group_by {
        if seen.contains(g) {
            return Err(BillingError::invalid(
                "invalid_group_by",
                format!("group_by names {} twice", g.as_str()),
            ));
        }
        seen.push(*g);
    }
    if seen.contains(&GroupBy::Day) && seen.contains(&GroupBy::Month) {
        return Err(BillingError::invalid(
            "invalid_group_by",
            "group by day or by month, not both",
        ));
    }
    if q.span.days() > 3 * 366 + 1 {
        return Err(BillingError::invalid(
            "invalid_range",
            "from..to may span at most three years",
        ));
    }
    if q.amounts && seen.contains(&GroupBy::InkColor) {
        return Err(BillingError::invalid(
            "invalid_group_by",
            "amounts cannot be allocated by ink color; ask with amounts=false",
        ));
    }
    Ok(())
}

fn level_of(q: &TotalsQuery) -> Level {
    let g = &q.group_by;
    if g.iter().any(|g| g.is_job_dimension()) {
        Level::Cube
    } else if g.contains(&GroupBy::Printer) || matches!(q.scope, TotalsScope::Printer(_)) {
        Level::Printer
    } else if g.contains(&GroupBy::Site) || matches!(q.scope, TotalsScope::Site(_)) {
        Level::Site
    } else {
        Level::Reseller
    }
}

fn filter_of(scope: TotalsScope) -> RowFilter {
    match scope {
        TotalsScope::Reseller(r) => RowFilter {
            reseller_id: Some(r),
            ..RowFilter::default()
        },
        TotalsScope::Site(s) => RowFilter {
            site_id: Some(s),
            ..RowFilter::default()
        },
        TotalsScope::Printer(p) => RowFilter {
            printer_id: Some(p),
            ..RowFilter::default()
        },
    }
}

/// Usage totals (and amounts) of a scope over `[from, to)`, grouped.
pub async fn totals(db: &Db, q: TotalsQuery) -> Result<Totals, BillingError> {
    check(&q)?;
    let tx = read_tx(db).await?;
    let exists = match q.scope {
        TotalsScope::Reseller(r) => ppu_entities::reseller::Entity::find_by_id(r)
            .one(&tx)
            .await?
            .is_some(),
        TotalsScope::Site(s) => site::Entity::find_by_id(s).one(&tx).await?.is_some(),
        TotalsScope::Printer(p) => printer::Entity::find_by_id(p).one(&tx).await?.is_some(),
    };
    if !exists {
        let what = match q.scope {
            TotalsScope::Reseller(_) => "reseller",
            TotalsScope::Site(_) => "site",
            TotalsScope::Printer(_) => "printer",
        };
        return Err(BillingError::NotFound(what.into()));
    }
    let ink_only = q.group_by.contains(&GroupBy::InkColor);
    let group: Vec<GroupCol> = {
        let mut g: Vec<GroupCol> = q.group_by.iter().map(|g| g.col()).collect();
        g.dedup();
        g
    };
    let level = level_of(&q);
    // Level `x` has day rows only.
    let days_only = q.group_by.contains(&GroupBy::Day) || level == Level::Cube;
    let buckets = cover(q.span, &[], days_only);
    let rq = RollupQuery {
        level,
        basis: q.basis,
        filter: filter_of(q.scope),
        buckets: &buckets,
        group: &group,
    };
    let mut groups: BTreeMap<GroupKey, Group> = BTreeMap::new();
    if !ink_only {
        for row in rollup::query_measures(&tx, &rq).await? {
            let key = GroupKey::of(&row, &q.group_by);
            let g = groups.entry(key.clone()).or_insert_with(|| Group {
                key,
                ..Group::default()
            });
            g.measures.add(&row.measures);
        }
    }
    for row in rollup::query_ink(&tx, &rq).await? {
        let key = GroupKey::of(&row, &q.group_by);
        let g = groups.entry(key.clone()).or_insert_with(|| Group {
            key,
            ..Group::default()
        });
        g.ink.entry(row.color.clone()).or_default().add(&row.ink);
        if ink_only {
            g.measures.ink_ul += row.ink.ink_ul;
            g.measures.non_hp_ink_ul += row.ink.non_hp_ink_ul;
        }
    }
    let mut amounts = None;
    let mut statements = Vec::new();
    if q.amounts {
        let (per_group, summary, sts) = allocate(&tx, &q).await?;
        for (key, by_cur) in per_group {
            let g = groups.entry(key.clone()).or_insert_with(|| Group {
                key,
                ..Group::default()
            });
            g.amounts = by_cur;
        }
        amounts = Some(summary);
        statements = sts;
    }
    let mut total = Group::default();
    for g in groups.values() {
        total.measures.add(&g.measures);
        for (c, m) in &g.ink {
            total.ink.entry(c.clone()).or_default().add(m);
        }
        for (cur, a) in &g.amounts {
            *total.amounts.entry(cur.clone()).or_default() += a;
        }
    }
    let printer_ids: Vec<i64> = groups.keys().filter_map(|k| k.printer_id).collect();
    let serials = if printer_ids.is_empty() {
        HashMap::new()
    } else {
        printer::Entity::find()
            .filter(printer::Column::Id.is_in(printer_ids))
            .all(&tx)
            .await?
            .into_iter()
            .map(|p| (p.id, p.serial_number))
            .collect()
    };
    let site_ids: Vec<i64> = groups.keys().filter_map(|k| k.site_id).collect();
    let site_names = if site_ids.is_empty() {
        HashMap::new()
    } else {
        site::Entity::find()
            .filter(site::Column::Id.is_in(site_ids))
            .all(&tx)
            .await?
            .into_iter()
            .map(|s| (s.id, s.account_name))
            .collect()
    };
    tx.commit().await?;
    Ok(Totals {
        query: q,
        groups: groups.into_values().collect(),
        total,
        amounts,
        statements,
        serials,
        site_names,
        ink_only,
    })
}

/// A contract unit inside the totals scope, and the filter narrowing it to that scope.
async fn units<C: ConnectionTrait>(
    db: &C,
    scope: TotalsScope,
) -> Result<Vec<(ContractScope, RowFilter)>, DbErr> {
    let site_units = |s: i64, carve: Vec<contracts::Contract>, extra: RowFilter| {
        let mut out = vec![(ContractScope::Site(s), extra)];
        let mut printers: Vec<i64> = carve.iter().filter_map(|c| c.row.printer_id).collect();
        printers.sort_unstable();
        printers.dedup();
        for p in printers {
            out.push((
                ContractScope::Printer(p),
                RowFilter {
                    site_id: Some(s),
                    ..extra
                },
            ));
        }
        out
    };
    Ok(match scope {
        TotalsScope::Printer(p) => {
            let Some(pr) = printer::Entity::find_by_id(p).one(db).await? else {
                return Ok(Vec::new());
            };
            let extra = RowFilter {
                printer_id: Some(p),
                ..RowFilter::default()
            };
            vec![
                (ContractScope::Printer(p), RowFilter::default()),
                (ContractScope::Site(pr.site_id), extra),
            ]
        }
        TotalsScope::Site(s) => {
            let carve = contracts::printer_contracts_of_site(db, s).await?;
            site_units(s, carve, RowFilter::default())
        }
        TotalsScope::Reseller(r) => {
            let mut out = Vec::new();
            let sites = site::Entity::find()
                .filter(site::Column::ResellerId.eq(r))
                .all(db)
                .await?;
            for s in sites {
                let carve = contracts::printer_contracts_of_site(db, s.id).await?;
                out.extend(site_units(s.id, carve, RowFilter::default()));
            }
            out
        }
    })
}

type Allocation = (
    BTreeMap<GroupKey, BTreeMap<String, Decimal>>,
    BTreeMap<String, CurrencyAmounts>,
    Vec<String>,
);

/// Allocate the rated periods overlapping the range to the groups (see module docs).
async fn allocate<C: ConnectionTrait>(db: &C, q: &TotalsQuery) -> Result<Allocation, BillingError> {
    // Exact amounts per currency and group.
    let mut exact: BTreeMap<String, BTreeMap<GroupKey, Decimal>> = BTreeMap::new();
    let mut unallocated: BTreeMap<String, Decimal> = BTreeMap::new();
    let mut minor: HashMap<String, u32> = HashMap::new();
    let mut statements = Vec::new();
    let mut group: Vec<GroupCol> = q.group_by.iter().map(|g| g.col()).collect();
    for d in GroupCol::DIMS {
        if !group.contains(&d) {
            group.push(d);
        }
    }
    group.dedup();
    for (unit, extra) in units(db, q.scope).await? {
        let ctx = match Ctx::load(db, unit).await {
            Ok(c) => c,
            Err(BillingError::NotFound(_)) => continue,
            Err(e) => return Err(e),
        };
        let Some(cycle) = ctx.cycle() else { continue };
        let whole_unit = extra == RowFilter::default();
        let mut period = cycle.period_containing(q.span.start);
        while period.start < q.span.end {
            let segments = ctx.segments(period);
            if segments.is_empty() {
                period = cycle.next(period);
                continue;
            }
            let lines = rate_period(db, &ctx, period).await?;
            statements.push(format!("{}-{}-{}", unit.kind(), unit.id(), period.start));
            for (c, seg) in segments {
                let Some(w) = seg.intersect(&q.span) else {
                    continue;
                };
                let cur = c.terms.currency.code.clone();
                minor.insert(cur.clone(), c.terms.currency.minor_units);
                let seg_lines: Vec<_> = lines
                    .iter()
                    .filter(|l| l.contract_id == c.row.id && l.from == seg.start)
                    .collect();
                let basis = c.terms.basis;
                let used = cells(db, &ctx, basis, w, extra, &group).await?;
                let metered = if basis == Basis::Meter {
                    used.clone()
                } else {
                    cells(db, &ctx, Basis::Meter, w, extra, &group).await?
                };
                let fold = |rows: Vec<(RollupRow, Cell)>| {
                    let mut m: BTreeMap<GroupKey, Vec<Cell>> = BTreeMap::new();
                    for (row, cell) in rows {
                        m.entry(GroupKey::of(&row, &q.group_by))
                            .or_default()
                            .push(cell);
                    }
                    m
                };
                let used = fold(used);
                let metered = fold(metered);
                let mut usage_alloc: BTreeMap<GroupKey, Decimal> = BTreeMap::new();
                let mut usage_total = Decimal::ZERO;
                let mut fixed = Decimal::ZERO;
                for l in &seg_lines {
                    match l.kind {
                        LineKind::FixedFee | LineKind::MinimumTrueUp => fixed += l.amount,
                        LineKind::Usage | LineKind::Reported => {
                            if l.kind == LineKind::Usage {
                                usage_total += l.amount;
                            }
                            let Some(sel) = &l.selector else { continue };
                            if l.amount.is_zero() || l.quantity_raw <= 0 {
                                continue;
                            }
                            let from = if sel.always_metered() {
                                &metered
                            } else {
                                &used
                            };
                            let whole = Decimal::from(l.quantity_raw);
                            for (key, cells) in from {
                                let part: u64 = cells.iter().map(|c| sel.raw(c)).sum();
                                if part == 0 {
                                    continue;
                                }
                                let a = l.amount * Decimal::from(part) / whole;
                                *exact
                                    .entry(cur.clone())
                                    .or_default()
                                    .entry(key.clone())
                                    .or_default() += a;
                                if l.kind == LineKind::Usage {
                                    *usage_alloc.entry(key.clone()).or_default() += a;
                                }
                            }
                        }
                        LineKind::Adjustment => {}
                    }
                }
                if fixed.is_zero() {
                    continue;
                }
                if usage_total.is_zero() {
                    if whole_unit {
                        *unallocated.entry(cur.clone()).or_default() +=
                            fixed * Decimal::from(w.days()) / Decimal::from(seg.days());
                    }
                    continue;
                }
                for (key, a) in usage_alloc {
                    *exact
                        .entry(cur.clone())
                        .or_default()
                        .entry(key)
                        .or_default() += fixed * a / usage_total;
                }
            }
            period = cycle.next(period);
        }
    }
    let mut per_group: BTreeMap<GroupKey, BTreeMap<String, Decimal>> = BTreeMap::new();
    let mut summary = BTreeMap::new();
    for (cur, groups) in exact {
        let m = minor.get(&cur).copied().unwrap_or(2);
        let rounded = largest_remainder(&groups, m);
        let mut allocated = Decimal::ZERO;
        for (k, a) in rounded {
            allocated += a;
            per_group.entry(k).or_default().insert(cur.clone(), a);
        }
        summary.insert(
            cur.clone(),
            CurrencyAmounts {
                allocated,
                unallocated: round_money(unallocated.remove(&cur).unwrap_or_default(), m),
            },
        );
    }
    for (cur, u) in unallocated {
        let m = minor.get(&cur).copied().unwrap_or(2);
        summary.insert(
            cur,
            CurrencyAmounts {
                allocated: round_money(Decimal::ZERO, m),
                unallocated: round_money(u, m),
            },
        );
    }
    Ok((per_group, summary, statements))
}

/// Round each share to `minor` decimals so that the shares add up to the
/// rounded sum: truncate all, then give the missing minor units to the
/// largest remainders (ties: group order).
pub fn largest_remainder<K: Clone + Ord>(
    shares: &BTreeMap<K, Decimal>,
    minor: u32,
) -> BTreeMap<K, Decimal> {
    let sum: Decimal = shares.values().copied().sum();
    let target = round_money(sum, minor);
    if shares.values().any(|v| v.is_sign_negative()) {
        return shares
            .iter()
            .map(|(k, v)| (k.clone(), round_money(*v, minor)))
            .collect();
    }
    let unit = Decimal::new(1, minor);
    let mut out: BTreeMap<K, Decimal> = BTreeMap::new();
    let mut rest: Vec<(Decimal, K)> = Vec::new();
    let mut assigned = Decimal::ZERO;
    for (k, v) in shares {
        let mut t = v.trunc_with_scale(minor);
        t.rescale(minor);
        assigned += t;
        rest.push((*v - t, k.clone()));
        out.insert(k.clone(), t);
    }
    // Largest remainder first; equal remainders in key order.
    rest.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut missing = target - assigned;
    for (_, k) in rest {
        if missing < unit {
            break;
        }
        if let Some(v) = out.get_mut(&k) {
            *v += unit;
            missing -= unit;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn largest_remainder_adds_up_to_the_rounded_total() {
        // Three equal thirds of 1.00: 0.34 + 0.33 + 0.33 = 1.00.
        let third = Decimal::ONE / Decimal::from(3);
        let shares: BTreeMap<&str, Decimal> = [("a", third), ("b", third), ("c", third)]
            .into_iter()
            .collect();
        let r = largest_remainder(&shares, 2);
        assert_eq!(r["a"].to_string(), "0.34");
        assert_eq!(r["b"].to_string(), "0.33");
        assert_eq!(r.values().copied().sum::<Decimal>().to_string(), "1.00");
        // 2.675 and 0.005: exact sum 2.68; rounded alone they would give 2.68 + 0.01.
        let shares: BTreeMap<&str, Decimal> =
            [("a", Decimal::new(2675, 3)), ("b", Decimal::new(5, 3))]
                .into_iter()
                .collect();
        let r = largest_remainder(&shares, 2);
        assert_eq!(r.values().copied().sum::<Decimal>().to_string(), "2.68");
    }
}
