//! Ink per color moves into the rollup row it belongs to.
//!
//! Until now a rollup key had one row in `billing_rollups` and one more row
//! per ink color in `billing_rollup_ink` (5.3 colors per key in the
//! benchmark's year of a 1,000-printer fleet: 2.2 million ink rows beside
//! 0.41 million rollup rows). Every stored job touched each of them, each an
//! upsert through a twelve-column unique index, so the ink rows were most of
//! the writes billing added to ingest. The colors now live in one column of
//! the rollup row, `ink`: a JSON object `{"<color>": [ink_ul,
//! non_hp_ink_ul], ...}` (`jsonb` on PostgreSQL, text on SQLite), which the
//! upsert merges by color in SQL. One upsert per key instead of six.
//!
//! `up` adds the column, copies every ink row into its rollup row (a rollup
//! row is created, with zero measures, for an ink row that had none) and
//! drops the twin table. `down` recreates the table with its indexes from
//! the column and drops the column.

// `async_trait` signatures must match the trait exactly, hidden lifetimes included.
#![allow(elided_lifetimes_in_paths)]

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(Debug)]
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000007_rollup_ink_inline"
    }
}

/// The key of a rollup row, as in migration 000002.
const KEY: &str = "printer_id, level, basis, grain, bucket, site_id, reseller_id, \
                   media_type, category, account_id, project_id";

/// The key columns of table alias `a`, comma-separated.
fn qualified(a: &str) -> String {
    KEY.split(", ")
        .map(|c| format!("{a}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn key_match(a: &str, b: &str) -> String {
    KEY.split(", ")
        .map(|c| format!("{a}.{c} = {b}.{c}"))
        .collect::<Vec<_>>()
        .join(" AND ")
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let pg = db.get_database_backend() == DbBackend::Postgres;
        let column = if pg {
            "ink jsonb NOT NULL DEFAULT '{}'::jsonb"
        } else {
            "ink TEXT NOT NULL DEFAULT '{}'"
        };
        db.execute_unprepared(&format!("ALTER TABLE billing_rollups ADD COLUMN {column}"))
            .await?;
        // Ink rows without a rollup row (none are written so; kept all the same).
        db.execute_unprepared(&format!(
            "INSERT INTO billing_rollups ({KEY}) SELECT DISTINCT {cols} FROM billing_rollup_ink i \
             WHERE NOT EXISTS (SELECT 1 FROM billing_rollups r WHERE {on})",
            cols = qualified("i"),
            on = key_match("r", "i"),
        ))
        .await?;
        let fill = if pg {
            format!(
                "UPDATE billing_rollups r SET ink = s.ink FROM (SELECT {KEY}, \
                 jsonb_object_agg(color, jsonb_build_array(ink_ul, non_hp_ink_ul)) AS ink \
                 FROM billing_rollup_ink GROUP BY {KEY}) s WHERE {on}",
                on = key_match("r", "s"),
            )
        } else {
            format!(
                "UPDATE billing_rollups SET ink = (SELECT json_group_object(i.color, \
                 json_array(i.ink_ul, i.non_hp_ink_ul)) FROM billing_rollup_ink i WHERE {on}) \
                 WHERE EXISTS (SELECT 1 FROM billing_rollup_ink i WHERE {on})",
                on = key_match("i", "billing_rollups"),
            )
        };
        db.execute_unprepared(&fill).await?;
        db.execute_unprepared("DROP TABLE billing_rollup_ink")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let pg = db.get_database_backend() == DbBackend::Postgres;
        let id = if pg {
            "id bigserial PRIMARY KEY"
        } else {
            "id integer PRIMARY KEY AUTOINCREMENT"
        };
        db.execute_unprepared(&format!(
            "CREATE TABLE billing_rollup_ink ({id}, level varchar(1) NOT NULL, \
             basis varchar(8) NOT NULL, grain varchar(1) NOT NULL, bucket date NOT NULL, \
             reseller_id bigint NOT NULL, site_id bigint NOT NULL, printer_id bigint NOT NULL, \
             media_type varchar NOT NULL, category varchar NOT NULL, account_id varchar NOT NULL, \
             project_id varchar NOT NULL, color varchar NOT NULL, \
             ink_ul bigint NOT NULL DEFAULT 0, non_hp_ink_ul bigint NOT NULL DEFAULT 0)"
        ))
        .await?;
        for (name, cols, unique) in [
            ("ux_rollup_ink_key", format!("{KEY}, color"), "UNIQUE "),
            (
                "ix_rollup_ink_site",
                "site_id, level, basis, grain, bucket".to_owned(),
                "",
            ),
            (
                "ix_rollup_ink_reseller",
                "reseller_id, level, basis, grain, bucket".to_owned(),
                "",
            ),
        ] {
            db.execute_unprepared(&format!(
                "CREATE {unique}INDEX {name} ON billing_rollup_ink ({cols})"
            ))
            .await?;
        }
        let (each, amount) = if pg {
            (
                "CROSS JOIN LATERAL jsonb_each(r.ink) j",
                "(j.value->>0)::bigint, (j.value->>1)::bigint",
            )
        } else {
            (", json_each(r.ink) j", "j.value->>0, j.value->>1")
        };
        db.execute_unprepared(&format!(
            "INSERT INTO billing_rollup_ink ({KEY}, color, ink_ul, non_hp_ink_ul) \
             SELECT {cols}, j.key, {amount} FROM billing_rollups r {each}",
            cols = qualified("r"),
        ))
        .await?;
        if pg {
            db.execute_unprepared("ALTER TABLE billing_rollup_ink SET (fillfactor = 70)")
                .await?;
        }
        db.execute_unprepared("ALTER TABLE billing_rollups DROP COLUMN ink")
            .await?;
        Ok(())
    }
}
