//! Job rows read back exactly as `store::insert_jobs` wrote them, on SQLite
//! and PostgreSQL, every column (text, numbers, instants, UUIDs, JSON,
//! absent values) included, over more rows than one statement holds.

mod common;

use chrono::{DateTime, TimeZone, Utc};
use ppu_actors::store::{self, Db};
use ppu_entities::{job, printer, reseller, site, upload};
use ppu_migration::{Migrator, MigratorTrait};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, EntityTrait, QueryOrder, TransactionTrait};
use uuid::Uuid;

fn at(micros: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(1_795_000_000_000_000 + micros)
        .single()
        .unwrap()
}

/// Owners for the foreign keys: (printer, site, reseller, upload).
async fn owners(db: &Db) -> (i64, i64, i64, i64) {
    let r = reseller::ActiveModel {
        name: Set(format!("reseller {}", Uuid::new_v4())),
        created_at: Set(at(0)),
        ..Default::default()
    }
    .insert(&db.write)
    .await
    .unwrap();
    let s = site::ActiveModel {
        reseller_id: Set(r.id),
        account_name: Set(format!("site-{}", Uuid::new_v4())),
        name: Set("site".into()),
        collector_config: Set(None),
        config_version: Set(0),
        created_at: Set(at(0)),
        ..Default::default()
    }
    .insert(&db.write)
    .await
    .unwrap();
    let p = printer::ActiveModel {
        serial_number: Set(format!("SN-{}", Uuid::new_v4())),
        site_id: Set(s.id),
        direct: Set(true),
        expected_interval_s: Set(10_800),
        created_at: Set(at(0)),
        ..Default::default()
    }
    .insert(&db.write)
    .await
    .unwrap();
    let u = upload::ActiveModel {
        envelope_sha256: Set("00".repeat(32)),
        sender_kind: Set("printer".into()),
        sender_id: Set(p.serial_number.clone()),
        nonce: Set("11".repeat(12)),
        batch_id: Set(Uuid::new_v4().to_string()),
        sent_at: Set(at(1)),
        received_at: Set(at(2)),
        size_bytes: Set(1234),
        response: Set(serde_json::json!({"ok": true})),
        ..Default::default()
    }
    .insert(&db.write)
    .await
    .unwrap();
    (p.id, s.id, r.id, u.id)
}

/// A job row with every column set: `full` gives the optional ones values,
/// otherwise they are absent (NULL).
fn row(owners: (i64, i64, i64, i64), n: i64, full: bool) -> job::Model {
    let (printer_id, site_id, reseller_id, upload_id) = owners;
    let some = |s: &str| full.then(|| format!("{s} \"{n}\" ünïcødé"));
    job::Model {
        id: 0,
        uuid: Uuid::new_v4(),
        kind: if n % 2 == 0 { "print" } else { "scan" }.into(),
        printer_id,
        site_id,
        reseller_id,
        upload_id,
        name: format!("drawing {n}.pdf"),
        sequence_number: 1_000_000_000_000 + n,
        project_id: some("project"),
        application_id: some("app"),
        custom_field: some("custom"),
        account_id: some("account"),
        user_name: some("user"),
        submitted_at: full.then(|| at(10 + n)),
        occurred_at: at(123_456 + n),
        printed_at: full.then(|| at(20 + n)),
        scanned_at: None,
        status: some("completed"),
        source: some("usb"),
        category: some("line_drawing"),
        quality: some("best"),
        media_type: some("bond"),
        pages: n,
        copies: 2,
        print_time_s: 61,
        ink_total_ul: i64::from(i32::MAX) + n,
        ink: full.then(|| serde_json::json!({"C": 12, "M": 0, "photo black": 7})),
        media_area_mm2: 1_189_000 * n,
        media_length_mm: 1189,
        printed_area_mm2: 400_000,
        categories: full.then(|| serde_json::json!({"cad": {"area_mm2": 5}})),
        non_white_coverage_bp: 4321,
        color_coverage_bp: -1,
        scan_status: None,
        scanned_area_mm2: 0,
        received_at: at(999_999),
    }
}

#[tokio::test]
async fn job_rows_read_back_as_written_on_both_databases() {
    let dir = tempfile::tempdir().unwrap();
    for (name, db) in common::databases(dir.path()).await {
        Migrator::up(&db.write, None).await.unwrap();
        let owners = owners(&db).await;
        // More rows than one VALUES statement holds, some with every
        // optional column absent.
        let written: Vec<job::Model> = (0..450).map(|n| row(owners, n, n % 3 != 0)).collect();
        let tx = db.write.begin().await.unwrap();
        let rows: Vec<job::ActiveModel> = written
            .iter()
            .map(|m| {
                let mut am = job::ActiveModel::from(m.clone()).reset_all();
                am.id = sea_orm::ActiveValue::NotSet;
                am
            })
            .collect();
        store::insert_jobs(&tx, rows).await.unwrap();
        tx.commit().await.unwrap();

        let read: Vec<job::Model> = job::Entity::find()
            .order_by_asc(job::Column::Id)
            .all(&db.read)
            .await
            .unwrap();
        assert_eq!(read.len(), written.len(), "{name}");
        for (w, r) in written.iter().zip(&read) {
            let r = job::Model { id: 0, ..r.clone() };
            assert_eq!(&r, w, "{name}: the row reads back as written");
        }
    }
}
