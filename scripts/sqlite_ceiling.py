#!/usr/bin/env python3
"""What SQLite itself can write on this machine, without the hub (BENCHMARKS.md, session 7).

Not one of the issue's figures: a reference for reading them. Prints one JSON line per
figure. Uses SQLite 3.51 from `pysqlite3-binary` when installed (`pip install
pysqlite3-binary`; the hub's bundled SQLite is 3.51), else Python's own sqlite3.

  jobs_generated   rows of a copy of the hub's `jobs` table (same columns, indexes,
                   foreign keys), generated inside SQLite by one INSERT ... SELECT
  jobs_bound       the same rows bound from Python one at a time (executemany),
                   prepared beforehand, in transactions of 400, 2,000 and 20,000 rows
  rollup_twin      rollup upserts with ink per color in a twin table (before 000007)
  rollup_json      the same with ink per color merged in a JSON column (since 000007)

Settings as the hub's write connection: WAL, synchronous=FULL, foreign keys, 64 MiB cache.
"""

import json
import os
import random
import sys
import tempfile
import time
import uuid

try:
    import pysqlite3 as sqlite3
except ImportError:
    import sqlite3

JOB_COLUMNS = (
    "uuid,kind,printer_id,site_id,reseller_id,upload_id,name,sequence_number,project_id,"
    "application_id,custom_field,account_id,user_name,submitted_at,occurred_at,printed_at,"
    "scanned_at,status,source,category,quality,media_type,pages,copies,print_time_s,"
    "ink_total_ul,ink,media_area_mm2,media_length_mm,printed_area_mm2,categories,"
    "non_white_coverage_bp,color_coverage_bp,scan_status,scanned_area_mm2,received_at"
)
INK = json.dumps({c: 123 for c in ["C", "M", "Y", "K", "MK", "LG", "PK", "G"]})
CATEGORIES = json.dumps({"lines": 50, "fill": 30, "image": 20})


def connect(path):
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=wal", "synchronous=full", "foreign_keys=on",
                   "cache_size=-65536", "temp_store=memory"):
        db.execute(f"pragma {pragma}")
    return db


def emit(figure, value, unit, **extra):
    print(json.dumps({"scenario": "sqlite_ceiling", "figure": figure, "value": round(value),
                      "unit": unit, "sqlite": sqlite3.sqlite_version, **extra}), flush=True)


def jobs_table(db):
    db.execute("create table printers(id integer primary key)")
    db.execute("create table uploads(id integer primary key)")
    db.execute("""create table jobs(id integer primary key autoincrement,
        uuid blob not null unique, kind text not null,
        printer_id bigint not null references printers(id), site_id bigint not null,
        reseller_id bigint not null, upload_id bigint not null references uploads(id),
        name text not null, sequence_number bigint not null, project_id text,
        application_id text, custom_field text, account_id text, user_name text,
        submitted_at text, occurred_at text not null, printed_at text, scanned_at text,
        status text, source text, category text, quality text, media_type text,
        pages bigint not null, copies bigint not null, print_time_s bigint not null,
        ink_total_ul bigint not null, ink text, media_area_mm2 bigint not null,
        media_length_mm bigint not null, printed_area_mm2 bigint not null, categories text,
        non_white_coverage_bp integer not null, color_coverage_bp integer not null,
        scan_status text, scanned_area_mm2 bigint not null, received_at text not null)""")
    db.execute("create index ix_jobs_printer on jobs(printer_id, upload_id)")
    db.execute("create index ix_jobs_site on jobs(site_id, upload_id)")
    db.execute("create index ix_jobs_reseller_time on jobs(reseller_id, occurred_at)")
    db.executemany("insert into printers values(?)", [(i,) for i in range(1, 65)])
    db.execute("insert into uploads values(1)")


def job_row(i):
    at = "2026-11-27T10:00:00+00:00"
    return (uuid.uuid4().bytes, "print", 1 + i % 64, 1 + i % 10, 1, 1, f"job name {i}", i,
            "proj", "app", None, "acct", "user", at, f"2026-11-{1 + i % 27:02d}T10:00:00+00:00",
            at, None, "done", "usb", "cad", "normal", "bond", 1, 1, 60, 1234, INK, 1000000,
            900, 500000, CATEGORIES, 5000, 3000, None, 0, at)


def jobs(dirname):
    db = connect(os.path.join(dirname, "jobs.db"))
    jobs_table(db)
    one = "(" + ",".join("?" * len(JOB_COLUMNS.split(","))) + ")"
    rows = [job_row(i) for i in range(180_000)]
    for per in (400, 2_000, 20_000):
        chunk, rows = rows[:60_000], rows[60_000:]
        spent = 0.0
        for k in range(0, len(chunk), per):
            started = time.perf_counter()
            db.execute("begin")
            db.executemany(f"insert into jobs({JOB_COLUMNS}) values {one}", chunk[k:k + per])
            db.execute("commit")
            spent += time.perf_counter() - started
        emit("jobs_bound", len(chunk) / spent, "rows/s", rows_per_transaction=per)
    generated = 100_000
    started = time.perf_counter()
    db.execute("begin")
    db.execute(f"""with recursive s(i) as (select 1 union all select i + 1 from s where i < {generated})
        insert into jobs({JOB_COLUMNS}) select randomblob(16), 'print', 1 + i % 64, 1 + i % 10,
        1, 1, 'job name ' || i, i, 'proj', 'app', null, 'acct', 'user',
        '2026-11-27T10:00:00+00:00', '2026-11-' || (10 + i % 18) || 'T10:00:00+00:00',
        '2026-11-27T10:00:00+00:00', null, 'done', 'usb', 'cad', 'normal', 'bond', 1, 1, 60,
        1234, '{INK}', 1000000, 900, 500000, '{CATEGORIES}', 5000, 3000, null, 0,
        '2026-11-27T10:00:00+00:00' from s""")
    db.execute("commit")
    emit("jobs_generated", generated / (time.perf_counter() - started), "rows/s",
         rows_per_transaction=generated)


KEY = ("printer_id, level, basis, grain, bucket, site_id, reseller_id, media_type, category, "
       "account_id, project_id")
INK_MERGE = """case when r.ink = '{}' then excluded.ink when excluded.ink = '{}' then r.ink
    else (select json_group_object(k, json_array(a, b)) from (select key k,
    sum(value->>0) a, sum(value->>1) b from (select key, value from json_each(r.ink)
    union all select key, value from json_each(excluded.ink)) group by key)) end"""


def rollups(dirname, mode):
    db = connect(os.path.join(dirname, f"rollup_{mode}.db"))
    measures = [f"m{i}" for i in range(13)]
    db.execute(f"create table r(id integer primary key, printer_id int, level text, basis text, "
               f"grain text, bucket text, site_id int, reseller_id int, media_type text, "
               f"category text, account_id text, project_id text, "
               f"{', '.join(m + ' int' for m in measures)}, ink text not null default '{{}}')")
    db.execute(f"create unique index ur on r({KEY})")
    db.execute(f"create table i(id integer primary key, printer_id int, level text, basis text, "
               f"grain text, bucket text, site_id int, reseller_id int, media_type text, "
               f"category text, account_id text, project_id text, color text, ink_ul int, nh int)")
    db.execute(f"create unique index ui on i({KEY}, color)")
    colors = ["C", "M", "Y", "K", "MK", "LG"]
    adds = ", ".join(f"{m} = r.{m} + excluded.{m}" for m in measures)
    params = ",".join("?" * 24)
    spent, keys = 0.0, 0
    for batch in range(300):
        rnd = random.Random(batch)
        batch_keys = sorted({(rnd.randrange(1000), rnd.choice("xpsr"), "jobs", "d",
                              f"2026-{rnd.randrange(1, 13):02d}-{rnd.randrange(1, 28):02d}", 1, 1,
                              rnd.choice(["bond", "photo", "film"]), rnd.choice(["cad", "gis"]),
                              f"acct{rnd.randrange(5)}", "") for _ in range(1000)})
        started = time.perf_counter()
        db.execute("begin")
        if mode == "twin":
            db.executemany(f"insert into r({KEY}, {', '.join(measures)}) values({params}) "
                           f"on conflict({KEY}) do update set {adds}",
                           [k + tuple(range(13)) for k in batch_keys])
            db.executemany(f"insert into i({KEY}, color, ink_ul, nh) values({','.join('?' * 14)}) "
                           f"on conflict({KEY}, color) do update set ink_ul = i.ink_ul + "
                           f"excluded.ink_ul, nh = i.nh + excluded.nh",
                           [k + (c, 10, 0) for k in batch_keys for c in colors])
        else:
            ink = json.dumps({c: [10, 0] for c in colors}, separators=(",", ":"))
            db.executemany(f"insert into r({KEY}, {', '.join(measures)}, ink) values({params}, ?) "
                           f"on conflict({KEY}) do update set {adds}, ink = {INK_MERGE}",
                           [k + tuple(range(13)) + (ink,) for k in batch_keys])
        db.execute("commit")
        spent += time.perf_counter() - started
        keys += len(batch_keys)
    emit(f"rollup_{mode}", keys / spent, "keys/s", colors_per_key=len(colors))


def main():
    if len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as dirname:
        jobs(dirname)
        rollups(dirname, "twin")
        rollups(dirname, "json")


if __name__ == "__main__":
    main()
