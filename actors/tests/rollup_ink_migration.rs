//! Migration 000007 moves ink per color from the `billing_rollup_ink` twin
//! table into the `ink` column of the rollup row: nothing is lost on the way
//! up or back down, the ingest upsert merges colors into what was migrated,
//! and the totals read the same ink per color before and after.

mod common;

use std::collections::BTreeMap;

use chrono::{NaiveDate, TimeZone, Utc};
use ppu_actors::billing::rollup::{
    GroupCol, Level, RollupJob, RollupQuery, RowFilter, add_to_rollups, query_ink,
};
use ppu_actors::domain::billing::{Basis, BucketRange, Cell, Grain, InkMeasures, Measures};
use ppu_actors::ingest::PrinterRef;
use ppu_actors::store::Db;
use ppu_migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};

const DAY: &str = "2026-03-04";

fn day() -> NaiveDate {
    NaiveDate::parse_from_str(DAY, "%Y-%m-%d").unwrap()
}

async fn exec(db: &Db, sql: &str) {
    db.write
        .execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Ink per color of the printer-level day row of printer `printer`, read
/// through the billing query.
async fn ink_of(db: &Db, printer: i64) -> BTreeMap<String, (u64, u64)> {
    let buckets = [BucketRange {
        grain: Grain::Day,
        from: day(),
        to: day().succ_opt().unwrap(),
    }];
    let q = RollupQuery {
        level: Level::Printer,
        basis: Basis::Jobs,
        filter: RowFilter {
            printer_id: Some(printer),
            ..RowFilter::default()
        },
        buckets: &buckets,
        group: &[GroupCol::Color],
    };
    query_ink(&db.read, &q)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.color, (r.ink.ink_ul, r.ink.non_hp_ink_ul)))
        .collect()
}

/// Printer-level day rows of the recreated twin table: (printer, color) → amounts.
async fn twin_rows(db: &Db) -> BTreeMap<(i64, String), (i64, i64)> {
    let rows = db
        .read
        .query_all_raw(Statement::from_string(
            db.backend(),
            "SELECT printer_id, color, ink_ul, non_hp_ink_ul FROM billing_rollup_ink WHERE level = 'p' AND grain = 'd'"
                .to_owned(),
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            (
                (
                    r.try_get::<i64>("", "printer_id").unwrap(),
                    r.try_get::<String>("", "color").unwrap(),
                ),
                (
                    r.try_get::<i64>("", "ink_ul").unwrap(),
                    r.try_get::<i64>("", "non_hp_ink_ul").unwrap(),
                ),
            )
        })
        .collect()
}

fn key_values(printer: i64) -> String {
    format!("{printer}, 'p', 'jobs', 'd', '{DAY}', 1, 1, '', '', '', ''")
}

const KEY: &str = "printer_id, level, basis, grain, bucket, site_id, reseller_id, \
                   media_type, category, account_id, project_id";

async fn check(label: &str, db: &Db) {
    Migrator::up(&db.write, Some(6)).await.unwrap();
    // Printer 1: a rollup row with two colors. Printer 2: a rollup row
    // without ink. Printer 3: an ink row whose rollup row is missing.
    for printer in [1, 2] {
        exec(
            db,
            &format!(
                "INSERT INTO billing_rollups ({KEY}, jobs, ink_ul) VALUES ({}, 4, 30)",
                key_values(printer)
            ),
        )
        .await;
    }
    for (printer, color, ink, non_hp) in [
        (1, "cyan", 10, 0),
        (1, "matte_black", 20, 5),
        (3, "yellow", 7, 0),
    ] {
        exec(
            db,
            &format!(
                "INSERT INTO billing_rollup_ink ({KEY}, color, ink_ul, non_hp_ink_ul) \
                 VALUES ({}, '{color}', {ink}, {non_hp})",
                key_values(printer)
            ),
        )
        .await;
    }

    Migrator::up(&db.write, None).await.unwrap();
    let tables = db
        .read
        .query_all_raw(Statement::from_string(
            db.backend(),
            match db.backend() {
                DbBackend::Postgres => {
                    "SELECT tablename AS name FROM pg_tables WHERE tablename = 'billing_rollup_ink'"
                }
                _ => "SELECT name FROM sqlite_master WHERE name = 'billing_rollup_ink'",
            }
            .to_owned(),
        ))
        .await
        .unwrap();
    assert!(tables.is_empty(), "{label}: the twin table is dropped");
    assert_eq!(
        ink_of(db, 1).await,
        BTreeMap::from([("cyan".into(), (10, 0)), ("matte_black".into(), (20, 5))]),
        "{label}: ink moved into the row"
    );
    assert!(ink_of(db, 2).await.is_empty(), "{label}: no ink stays none");
    assert_eq!(
        ink_of(db, 3).await,
        BTreeMap::from([("yellow".into(), (7, 0))]),
        "{label}: an ink row without its rollup row keeps its ink"
    );

    // The ingest upsert merges new colors into migrated ones, twice in a row
    // (the second time both sides are non-empty).
    let job = |ink: &[(&str, u64)]| RollupJob {
        printer: PrinterRef {
            id: 1,
            site_id: 1,
            reseller_id: 1,
        },
        occurred_at: Utc.from_utc_datetime(&day().and_hms_opt(10, 0, 0).unwrap()),
        cell: Cell {
            measures: Measures {
                jobs: 1,
                ..Measures::default()
            },
            ink: ink
                .iter()
                .map(|(c, v)| {
                    (
                        (*c).to_owned(),
                        InkMeasures {
                            ink_ul: *v,
                            non_hp_ink_ul: 0,
                        },
                    )
                })
                .collect(),
            ..Cell::default()
        },
    };
    for ink in [&[("cyan", 1), ("yellow", 2)][..], &[("yellow", 3)][..]] {
        let tx = db.write.begin().await.unwrap();
        add_to_rollups(&tx, &[job(ink)], &[]).await.unwrap();
        tx.commit().await.unwrap();
    }
    let merged = BTreeMap::from([
        ("cyan".into(), (11, 0)),
        ("matte_black".into(), (20, 5)),
        ("yellow".into(), (5, 0)),
    ]);
    assert_eq!(ink_of(db, 1).await, merged, "{label}: colors merged");

    // Down again: the twin table comes back with every color.
    Migrator::down(&db.write, Some(1)).await.unwrap();
    assert_eq!(
        twin_rows(db).await,
        BTreeMap::from([
            ((1, "cyan".into()), (11, 0)),
            ((1, "matte_black".into()), (20, 5)),
            ((1, "yellow".into()), (5, 0)),
            ((3, "yellow".into()), (7, 0)),
        ]),
        "{label}: down restores the ink rows"
    );
}

#[test]
fn ink_moves_into_the_rollup_row_and_back() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        for (label, db) in common::databases(dir.path()).await {
            check(label, &db).await;
        }
    });
}
