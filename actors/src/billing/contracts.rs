//! Contracts: creating them (validated, superseding the one in force) and reading them.

use chrono::{DateTime, NaiveDate, Utc};
use ppu_entities::{billing_contract as contract, billing_statement as statement, printer, site};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};

use super::BillingError;
use crate::domain::billing::{ContractScope, ContractSpec, Span, Terms};
use crate::store::Db;

/// A stored contract with its parsed terms.
#[derive(Debug, Clone)]
pub struct Contract {
    /// The row.
    pub row: contract::Model,
    /// Its terms.
    pub terms: Terms,
}

impl Contract {
    /// Parse a row's terms.
    pub fn from_row(row: contract::Model) -> Result<Self, DbErr> {
        let terms = crate::store::from_json(&row.terms)?;
        Ok(Self { row, terms })
    }

    /// Who it bills.
    pub fn scope(&self) -> ContractScope {
        match self.row.printer_id {
            Some(p) if self.row.scope == "printer" => ContractScope::Printer(p),
            _ => ContractScope::Site(self.row.site_id),
        }
    }

    /// The part of `span` it is in force.
    pub fn in_force(&self, span: &Span) -> Option<Span> {
        span.intersect_open(self.row.effective_from, self.row.effective_to)
    }
}

fn scope_filter(scope: ContractScope) -> sea_orm::Condition {
    match scope {
        ContractScope::Site(s) => sea_orm::Condition::all()
            .add(contract::Column::Scope.eq("site"))
            .add(contract::Column::SiteId.eq(s)),
        ContractScope::Printer(p) => sea_orm::Condition::all()
            .add(contract::Column::Scope.eq("printer"))
            .add(contract::Column::PrinterId.eq(p)),
    }
}

/// Every contract of a scope, oldest first.
pub async fn of_scope<C: ConnectionTrait>(
    db: &C,
    scope: ContractScope,
) -> Result<Vec<Contract>, DbErr> {
    contract::Entity::find()
        .filter(scope_filter(scope))
        .order_by_asc(contract::Column::EffectiveFrom)
        .all(db)
        .await?
        .into_iter()
        .map(Contract::from_row)
        .collect()
}

/// Printer contracts made for printers of `site_id`: their usage is carved
/// out of the site's contract while they are in force.
pub async fn printer_contracts_of_site<C: ConnectionTrait>(
    db: &C,
    site_id: i64,
) -> Result<Vec<Contract>, DbErr> {
    contract::Entity::find()
        .filter(contract::Column::Scope.eq("printer"))
        .filter(contract::Column::SiteId.eq(site_id))
        .order_by_asc(contract::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(Contract::from_row)
        .collect()
}

/// Filters of [`list`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ListFilter {
    /// Contracts of one reseller.
    pub reseller_id: Option<i64>,
    /// Contracts of one site (site and printer contracts).
    pub site_id: Option<i64>,
    /// Contracts of one printer.
    pub printer_id: Option<i64>,
}

/// Contracts matching a filter, by id.
pub async fn list<C: ConnectionTrait>(db: &C, f: ListFilter) -> Result<Vec<Contract>, DbErr> {
    let mut q = contract::Entity::find();
    if let Some(r) = f.reseller_id {
        q = q.filter(contract::Column::ResellerId.eq(r));
    }
    if let Some(s) = f.site_id {
        q = q.filter(contract::Column::SiteId.eq(s));
    }
    if let Some(p) = f.printer_id {
        q = q.filter(contract::Column::PrinterId.eq(p));
    }
    q.order_by_asc(contract::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(Contract::from_row)
        .collect()
}

/// One contract.
pub async fn get<C: ConnectionTrait>(db: &C, id: i64) -> Result<Contract, BillingError> {
    let row = contract::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| BillingError::NotFound("contract".into()))?;
    Ok(Contract::from_row(row)?)
}

/// Where a scope belongs: `(reseller_id, site_id)`.
pub async fn owner_of<C: ConnectionTrait>(
    db: &C,
    scope: ContractScope,
) -> Result<(i64, i64), BillingError> {
    let site_id = match scope {
        ContractScope::Site(s) => s,
        ContractScope::Printer(p) => {
            printer::Entity::find_by_id(p)
                .one(db)
                .await?
                .ok_or_else(|| BillingError::NotFound("printer".into()))?
                .site_id
        }
    };
    let site = site::Entity::find_by_id(site_id)
        .one(db)
        .await?
        .ok_or_else(|| BillingError::NotFound("site".into()))?;
    Ok((site.reseller_id, site.id))
}

/// The end of the last closed period of a scope, if any.
pub async fn closed_until<C: ConnectionTrait>(
    db: &C,
    scope: ContractScope,
) -> Result<Option<NaiveDate>, DbErr> {
    let q = statement::Entity::find().filter(statement::Column::Scope.eq(scope.kind()));
    let q = match scope {
        ContractScope::Site(s) => q
            .filter(statement::Column::SiteId.eq(s))
            .filter(statement::Column::PrinterId.is_null()),
        ContractScope::Printer(p) => q.filter(statement::Column::PrinterId.eq(p)),
    };
    Ok(q.order_by_desc(statement::Column::PeriodStart)
        .one(db)
        .await?
        .map(|s| s.period_end))
}

/// Store a validated contract.
///
/// A contract for a scope that has an open-ended contract starting earlier
/// supersedes it: the earlier one ends where the new one begins (a change
/// mid-period is prorated by the statement). Any other overlap is refused,
/// as is a start inside a closed period (a closed statement never changes)
/// and a change of currency or billing cycle (one statement, one currency,
/// one period grid).
pub async fn create(
    db: &Db,
    spec: ContractSpec,
    now: DateTime<Utc>,
) -> Result<Contract, BillingError> {
    let tx = db.begin_write().await?;
    let (reseller_id, site_id) = owner_of(&tx, spec.scope).await?;
    // A printer contract carves the printer out of its site's statements, so
    // it may not reach into the site's closed periods either.
    let mut until = closed_until(&tx, spec.scope).await?;
    if let ContractScope::Printer(_) = spec.scope {
        until = until.max(closed_until(&tx, ContractScope::Site(site_id)).await?);
    }
    if let Some(until) = until
        && spec.effective_from < until
    {
        return Err(BillingError::conflict(
            "period_closed",
            format!(
                "periods up to {until} are closed; a new contract may start on {until} or later"
            ),
        ));
    }
    let existing = of_scope(&tx, spec.scope).await?;
    let mut superseded = None;
    for c in &existing {
        if c.terms.currency != spec.terms.currency || c.terms.cycle != spec.terms.cycle {
            return Err(BillingError::conflict(
                "incompatible_contract",
                format!(
                    "contract {} of this {} bills in {} with {} periods from day {}; later contracts must keep currency and period",
                    c.row.id,
                    spec.scope.kind(),
                    c.terms.currency.code,
                    c.terms.cycle.kind.as_str(),
                    c.terms.cycle.anchor_day
                ),
            ));
        }
        let overlaps = c.row.effective_to.is_none_or(|t| spec.effective_from < t)
            && spec.effective_to.is_none_or(|t| c.row.effective_from < t);
        if !overlaps {
            continue;
        }
        if c.row.effective_to.is_none() && c.row.effective_from < spec.effective_from {
            superseded = Some(c.row.clone());
            continue;
        }
        return Err(BillingError::conflict(
            "contract_overlap",
            format!(
                "contract {} is in force from {} to {}; contracts of one {} may not overlap",
                c.row.id,
                c.row.effective_from,
                c.row
                    .effective_to
                    .map_or("open end".to_owned(), |t| t.to_string()),
                spec.scope.kind()
            ),
        ));
    }
    if let Some(old) = superseded {
        contract::ActiveModel {
            id: Set(old.id),
            effective_to: Set(Some(spec.effective_from)),
            ..Default::default()
        }
        .update(&tx)
        .await?;
    }
    let row = contract::ActiveModel {
        scope: Set(spec.scope.kind().to_owned()),
        reseller_id: Set(reseller_id),
        site_id: Set(site_id),
        printer_id: Set(match spec.scope {
            ContractScope::Printer(p) => Some(p),
            ContractScope::Site(_) => None,
        }),
        name: Set(spec.name),
        currency: Set(spec.terms.currency.code.clone()),
        period: Set(spec.terms.cycle.kind.as_str().to_owned()),
        anchor_day: Set(i32::try_from(spec.terms.cycle.anchor_day).unwrap_or(1)),
        basis: Set(spec.terms.basis.as_str().to_owned()),
        effective_from: Set(spec.effective_from),
        effective_to: Set(spec.effective_to),
        grace_days: Set(i32::try_from(spec.terms.grace_days).unwrap_or(0)),
        terms: Set(crate::store::to_json(&spec.terms)),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&tx)
    .await?;
    tx.commit().await?;
    tracing::info!(
        contract_id = row.id,
        scope = row.scope,
        site_id,
        "contract created"
    );
    Ok(Contract::from_row(row)?)
}
