"""How fast validated ingestion runs, against a raw ``executemany`` of the same rows.

    .venv/bin/python bench/ingest.py --records 1000000 [--db URL] [--baseline-db URL] [--keep]
                                     [--workdir DIR] [--cache-area-codes]

Writes an N-row court furnisher CSV about N/10 persons with valid resident IDs (generated with
numpy: area codes that exist, real birth dates, GB 11643 check characters), then in the same run:

- validated: ``socialcredit.ingest.pipeline.ingest_files`` into a fresh store: reading the CSV,
  every check, the ledger rules, the subject registry, the events and the batch row, committed
  (from 16 MiB of CSV, about 110,000 rows, with the reading worker process beside the writer,
  its start-up included);
- raw: the very events the validated run stored, read back and inserted by one ``executemany``
  of tuples on the DB-API connection (one transaction) into the ``events`` table of another
  fresh store with the same schema and connection settings (including the bulk page cache).

Prints both and ends with one JSON line: records, seconds, records_per_s, baseline_seconds,
baseline_records_per_s, ratio (validated / raw), whether the reading worker was used, and the
machine's load average (1 min) before and after, since the two halves share whatever else the
machine is running. Without --db both
stores are SQLite files in a temporary directory; with --db (an empty database, e.g. PostgreSQL)
the baseline stays SQLite unless --baseline-db is given.

``--cache-area-codes`` memoises ``socialcredit.ids.area_code_exists`` for the run: python-stdnum's
area-code table look-up takes 30-150 us per call, most of the cost of checking a new resident
ID; the JSON line says whether it was on.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
from numpy.typing import NDArray
from sqlalchemy import Engine, insert, select

from socialcredit import ids
from socialcredit.ingest.pipeline import PIPELINE_MIN_BYTES, ingest_files
from socialcredit.policy.load import load_default
from socialcredit.settings import Settings
from socialcredit.store.engine import make_engine, upgrade
from socialcredit.store.ledger import INSERT_COLUMNS, bulk_session
from socialcredit.store.policies import save_policy
from socialcredit.store.tables import events, ingest_batches

AREAS = [
    "110101",
    "110105",
    "120101",
    "130102",
    "210102",
    "220183",
    "220524",
    "310104",
    "320102",
    "330106",
    "350102",
    "370102",
    "420106",
    "430102",
    "440303",
    "440305",
    "500103",
    "510107",
    "530102",
    "610113",
]
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘")
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国玉梅红飞斌鹏")
CATEGORIES = [
    "court.enforcement_case",
    "court.dishonest_defaulter",
    "court.consumption_restriction",
    "court.fraud_conviction",
]
GROUNDS = ["ability_refusal", "obstruction", "evasion", "false_report"]
WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
CHECK = np.array(list("10X98765432"))


def person_ids(count: int, rng: np.random.Generator) -> NDArray[np.str_]:
    """``count`` distinct valid resident IDs of adults (born 1950-1999)."""
    areas = np.array([a for a in AREAS if ids.area_code_exists(a)])
    found: NDArray[np.str_] = np.array([], dtype="U18")
    while len(found) < count:
        n = 2 * count
        born = np.datetime64("1950-01-01") + rng.integers(0, 50 * 365, n).astype("timedelta64[D]")
        body = np.char.add(
            np.char.add(
                areas[rng.integers(0, len(areas), n)], np.char.replace(born.astype("U10"), "-", "")
            ),
            np.char.zfill(rng.integers(0, 1000, n).astype("U3"), 3),
        )
        digits = body.view("U1").reshape(n, 17).astype(np.int64)
        full = np.char.add(body, CHECK[(digits * WEIGHTS).sum(axis=1) % 11])
        found = np.unique(np.concatenate([found, full]))
    return rng.permutation(found)[:count]


def furnisher_csv(path: Path, records: int, rng: np.random.Generator) -> None:
    people = max(records // 10, 1)
    subject_ids = person_ids(people, rng)
    names = np.char.add(
        np.array(SURNAMES)[rng.integers(0, len(SURNAMES), people)],
        np.array(GIVEN)[rng.integers(0, len(GIVEN), people)],
    )
    two = rng.random(people) < 0.6
    names[two] = np.char.add(names[two], np.array(GIVEN)[rng.integers(0, len(GIVEN), two.sum())])
    who = rng.integers(0, people, records)
    category = np.array(CATEGORIES)[rng.integers(0, len(CATEGORIES), records)]
    defaulter = category == "court.dishonest_defaulter"
    decided = np.datetime64("2019-01-01") + rng.integers(0, 6 * 365, records).astype(
        "timedelta64[D]"
    )
    yuan = rng.integers(100, 10_000_000, records)
    fen = rng.integers(0, 100, records)
    amount = np.char.add(np.char.add(yuan.astype("U12"), "."), np.char.zfill(fen.astype("U2"), 2))
    serial = np.arange(records)
    table = pa.table(
        {
            "record_id": np.char.add("B", np.char.zfill(serial.astype("U10"), 10)),
            "subject_id": subject_ids[who],
            "subject_name": names[who],
            "category": category,
            "decided_on": decided.astype("U10"),
            "document_no": np.char.add(np.char.add("(2024)京0101执", serial.astype("U10")), "号"),
            "amount": np.where(rng.random(records) < 0.7, amount, ""),
            "action": np.full(records, "file"),
            "note": np.full(records, ""),
            "ground": np.where(defaulter, np.array(GROUNDS)[rng.integers(0, 4, records)], ""),
            "extension_months": np.where(
                defaulter & (rng.random(records) < 0.2),
                rng.integers(0, 37, records).astype("U2"),
                "",
            ),
        }
    )
    pa_csv.write_csv(table, path)


def fresh_store(url: str) -> Engine:
    engine = make_engine(url)
    upgrade(engine)
    save_policy(engine, load_default())
    return engine


def raw_executemany(source: Engine, target: Engine) -> tuple[int, float]:
    """Insert the events stored in ``source`` into ``target`` with one executemany; seconds."""
    with source.connect() as conn:
        rows = [
            tuple(r)
            for r in conn.execute(
                select(*(events.c[name] for name in INSERT_COLUMNS)).order_by(events.c.seq)
            )
        ]
        batch = dict(conn.execute(select(ingest_batches)).mappings().one())
    columns = ", ".join(INSERT_COLUMNS)
    marks = ", ".join("?" * len(INSERT_COLUMNS))
    sql = f"INSERT INTO events ({columns}) VALUES ({marks})"
    # Values as SQLite stores them (text dates and timestamps), as the validated path writes.
    rows = [
        tuple(
            v.isoformat()
            if isinstance(v, dt.date) and not isinstance(v, dt.datetime)
            else v.strftime("%Y-%m-%d %H:%M:%S.%f")
            if isinstance(v, dt.datetime)
            else v
            for v in row
        )
        for row in rows
    ]
    with target.begin() as conn:
        conn.execute(insert(ingest_batches).values(batch))
    started = time.perf_counter()
    with target.begin() as conn, bulk_session(conn):  # the same page cache as ingestion uses
        driver = conn.connection.driver_connection
        assert driver is not None
        driver.executemany(sql, rows)
    return len(rows), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--db", help="store for the validated run (empty); default: SQLite file")
    parser.add_argument("--baseline-db", help="store for the raw insert; default: SQLite file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--workdir", help="where the CSV and SQLite stores go (default: system temp)"
    )
    parser.add_argument(
        "--cache-area-codes",
        action="store_true",
        help="memoise ids.area_code_exists for this run (what a one-line cache in ids.py gives)",
    )
    args = parser.parse_args()
    if args.cache_area_codes:
        # _check_ric looks the function up at call time, so the memoised one is used.
        ids.area_code_exists = functools.lru_cache(maxsize=None)(ids.area_code_exists)
    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-", dir=args.workdir))
    rng = np.random.default_rng(20261126)

    started = time.perf_counter()
    csv_path = work / "court.csv"
    furnisher_csv(csv_path, args.records, rng)
    size = csv_path.stat().st_size
    print(
        f"wrote {args.records:,} rows ({size / 1e6:.1f} MB) in "
        f"{time.perf_counter() - started:.1f} s: {csv_path}"
    )

    validated_store = fresh_store(args.db or f"sqlite:///{work / 'validated.db'}")
    baseline_store = fresh_store(args.baseline_db or f"sqlite:///{work / 'raw.db'}")
    if baseline_store.dialect.name != "sqlite":
        raise SystemExit("the raw executemany baseline runs on SQLite")
    settings = Settings()
    summary = ingest_files(
        validated_store, [csv_path], furnisher="court", chunk_rows=settings.ingest_chunk_rows
    )
    seconds = summary.seconds
    totals = summary.totals
    assert totals.accepted == args.records, totals.figures()
    rate = args.records / seconds
    print(
        f"validated ingestion ({validated_store.dialect.name}): {seconds:.2f} s, "
        f"{rate:,.0f} records/s; accepted {totals.accepted:,}, quarantined "
        f"{totals.quarantined:,}, duplicates {totals.duplicates:,}"
    )

    inserted, baseline_seconds = raw_executemany(validated_store, baseline_store)
    baseline_rate = inserted / baseline_seconds
    print(
        f"raw executemany ({baseline_store.dialect.name}): {baseline_seconds:.2f} s, "
        f"{baseline_rate:,.0f} records/s"
    )
    ratio = rate / baseline_rate
    print(f"ratio validated / raw: {ratio:.2f}")
    validated_store.dispose()
    baseline_store.dispose()
    if not args.keep:
        for path in work.iterdir():
            path.unlink()
        work.rmdir()
    print(
        json.dumps(
            {
                "records": args.records,
                "subjects": max(args.records // 10, 1),
                "backend": validated_store.dialect.name,
                "seconds": round(seconds, 3),
                "records_per_s": round(rate),
                "baseline_seconds": round(baseline_seconds, 3),
                "baseline_records_per_s": round(baseline_rate),
                "ratio": round(ratio, 3),
                "area_codes_cached": args.cache_area_codes,
                "reading_worker": size >= PIPELINE_MIN_BYTES,
                "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            }
        )
    )


if __name__ == "__main__":
    main()
