"""How fast a full derivation runs, against a bare DuckDB GROUP BY floor on the same store.

    .venv/bin/python bench/derive.py --records 1000000 [--db URL] [--keep]

Builds a store with N ledger events about N/10 subjects (7 persons in 10, the rest
organisations with registrations naming legal representatives), generated set-wise by DuckDB
writing into the attached store, under the shipped national policy. Then, in the same run:

- derive: ``socialcredit.derive.run.derive(..., full=True)``, everything included (attach,
  record states, ratings, lists, decisions, writing the three derived tables). Measured twice:
  the first run, which on SQLite also copies the whole ledger into the columnar copy beside
  the store (``derive/ledger_mirror.py``) and loads the empty derived tables whole, then,
  after 1,000 new events are appended through the ledger, the next day's full run: the
  steady state of a nightly run (the copy appends only the new events, and only the derived
  rows that changed are written; see ``derive/engines/duckdb_delta.py``);
- floor: attach the store from a fresh DuckDB, ``GROUP BY subject_id`` summing amount_fen over
  the same events, one row per subject written into a table of the same store.

Ends with one JSON line: records, subjects, derive_seconds (steady state), baseline_seconds,
ratio, first_derive_seconds, first_ratio, the derived row counts and how the steady state's
results were written. With ``--reuse`` the "first" run finds the derived tables of an earlier
benchmark already in the store. Without --db the store
is a SQLite file in a temporary directory.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

from socialcredit.derive import ledger_mirror
from socialcredit.derive.engines.duckdb import STORE, DuckDBEngine
from socialcredit.derive.engines.duckdb_write import TableWrite
from socialcredit.derive.policy_tables import policy_tables
from socialcredit.derive.run import derive
from socialcredit.policy.load import load_default
from socialcredit.policy.schema import Policy
from socialcredit.settings import Settings
from socialcredit.store.engine import make_engine, normalise_url, upgrade
from socialcredit.store.ledger import append_events
from socialcredit.store.policies import save_policy
from socialcredit.store.tables import events, ingest_batches, subjects
from socialcredit.synth.rates import RATES

AS_OF = dt.date(2026, 6, 1)
SLOTS = 10_000
# Valid identifiers, computed set-wise: subject i is a person (a GB 11643 resident ID of
# Beijing Dongcheng, born 1950-01-01 + i % 18000 days) when i % 10 < 7, else an organisation
# (a GB 32100 code). ``report`` and ``check`` then work on the benchmark store.
ID_MACROS = (
    """CREATE MACRO ric(i) AS (
        WITH b AS (
          SELECT '110101'
                 || strftime(DATE '1950-01-01' + CAST(i % 18000 AS INT), '%Y%m%d')
                 || lpad(CAST(i // 18000 % 1000 AS VARCHAR), 3, '0') AS body)
        SELECT body || substr('10X98765432', 1 + CAST(list_sum(list_transform(range(17),
               k -> (ascii(substr(body, k + 1, 1)) - 48)
                    * [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2][k + 1]))
               % 11 AS INT), 1)
        FROM b)""",
    """CREATE MACRO uscc(i) AS (
        WITH b AS (SELECT '91110108' || lpad(CAST(i AS VARCHAR), 9, '0') AS body)
        SELECT body || substr('0123456789ABCDEFGHJKLMNPQRTUWXY',
               1 + (31 - CAST(list_sum(list_transform(range(17),
                   k -> (ascii(substr(body, k + 1, 1)) - 48)
                        * [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28][k + 1]))
                   % 31 AS INT)) % 31, 1)
        FROM b)""",
    "CREATE MACRO subject_id(i) AS CASE WHEN i % 10 < 7 THEN ric(i) ELSE uscc(i) END",
)
GROUNDS = ["ability_refusal", "obstruction", "evasion", "false_report", "consumption_violation"]


def _category_rows(policy: Policy) -> list[tuple[str, int, str, str]]:
    """(kind, slot, category, furnisher): SLOTS slots per kind, shared out by realistic rates.

    Rates come from the synthetic generator (``synth.rates``: originals per subject); the bulk
    of the ~9 records per subject is ``finance.loan_repaid``, as in real credit files. Slot 0 of
    organisations is their registration (each organisation's first record).
    """
    rows = [("org", 0, "registration.basic", "market")]
    furnishers = {c.code: c.furnishers[0] for c in policy.categories}
    for kind in ("person", "org"):
        weights = {
            code: getattr(rate, kind)
            for code, rate in RATES.items()
            if getattr(rate, kind) > 0 and code in furnishers
        }
        weights["finance.loan_repaid"] = max(9.0 - sum(weights.values()), 1.0)
        total = sum(weights.values())
        slots = [
            code for code, w in weights.items() for _ in range(max(1, round(SLOTS * w / total)))
        ]
        first = 1 if kind == "org" else 0
        rows += [(kind, first + i, code, furnishers[code]) for i, code in enumerate(slots[:SLOTS])]
    return rows


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> None:
    """Execute with the named parameters the statement uses (DuckDB refuses unused ones)."""
    con.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql})


def _fresh_postgres(url: str) -> None:
    parsed = make_url(normalise_url(url))
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


EVENT_COLUMNS = tuple(column.name for column in events.columns)
SUBJECT_COLUMNS = ("subject_id", "scheme", "kind", "name", "birth_date", "first_seen")


def _generate(con: duckdb.DuckDBPyConnection, policy: Policy, params: dict[str, Any]) -> None:
    """Tables ``subj`` and ``ev`` in DuckDB: the population and its ledger, set-wise."""
    cats = _category_rows(policy)
    params = {
        **params,
        "n_person": sum(1 for c in cats if c[0] == "person"),
        "n_org": sum(1 for c in cats if c[0] == "org") - 1,
    }
    for macro in ID_MACROS:
        con.execute(macro)
    con.execute("CREATE TABLE cats (kind VARCHAR, idx INT, category VARCHAR, furnisher VARCHAR)")
    con.executemany("INSERT INTO cats VALUES (?, ?, ?, ?)", cats)
    # Subject i: a person when i % 10 < 7, else an organisation.
    _run(
        con,
        """
        CREATE TABLE subj AS
        SELECT i, subject_id(i) AS subject_id,
               CASE WHEN i % 10 < 7 THEN 'cn_ric' ELSE 'cn_uscc' END AS scheme,
               CASE WHEN i % 10 < 7 THEN 'person' ELSE 'org' END AS kind,
               'subject ' || i AS name,
               CASE WHEN i % 10 < 7 THEN DATE '1950-01-01' + CAST(i % 18000 AS INT) END
                   AS birth_date,
               now() AS first_seen
        FROM range($subjects) t(i)
    """,
        params,
    )
    # Record r (the first `files` events) is about subject s(r); the rest amend, revoke or
    # fulfil an earlier record. Organisations' first record is their registration.
    _run(
        con,
        """
        CREATE TABLE recs AS
        SELECT r, s, s % 10 < 7 AS is_person,
               $as_of::DATE - CAST(hash(r * 31) % 1800 AS INT) AS decided_on,
               CAST(CASE WHEN s % 10 < 7 THEN hash(r * 17) % $n_person
                         WHEN r < $subjects THEN 0
                         ELSE 1 + hash(r * 17) % $n_org END AS INT) AS idx
        FROM (SELECT r, CASE WHEN r < $subjects THEN r
                             ELSE CAST(hash(r) % $subjects AS BIGINT) END AS s
              FROM range($files) t(r))
    """,
        params,
    )
    _run(
        con,
        """
        CREATE TABLE ev AS
        WITH gen AS (
          SELECT r AS j, r, 'file' AS action, s, decided_on FROM recs
          UNION ALL
          SELECT j, rr AS r, (['amend', 'revoke', 'fulfil'])[1 + j % 3] AS action, recs.s,
                 recs.decided_on + CAST(j % 300 AS INT) AS decided_on
          FROM (SELECT j, CAST(hash(j * 13) % $files AS BIGINT) AS rr
                FROM range($files, $records) t(j)) f
          JOIN recs ON recs.r = f.rr
        )
        SELECT g.j + 1 AS seq, encode('bench-' || lpad(g.j::VARCHAR, 12, '0')) AS event_key,
               1 AS batch_id, c.furnisher, 'R' || g.r AS record_id, g.action,
               who.subject_id,
               'subject ' || g.s AS subject_name, c.category,
               LEAST(g.decided_on, $as_of::DATE) AS decided_on, 'DOC-' || g.r AS document_no,
               CAST(hash(g.j) % 10000000 AS BIGINT) AS amount_fen,
               CASE WHEN c.category = 'court.dishonest_defaulter'
                    THEN ($grounds)[1 + g.r % 5] END AS ground,
               CASE WHEN c.category = 'court.dishonest_defaulter'
                    THEN CAST(g.r % 4 * 6 AS INT) END AS extension_months,
               CASE WHEN c.category = 'registration.basic'
                    THEN rep.subject_id END
                   AS legal_rep_id,
               NULL::VARCHAR AS note, now() AS recorded_at
        FROM gen g JOIN recs ON recs.r = g.r
        JOIN subj who ON who.i = g.s
        JOIN subj rep ON rep.i = g.s // 10 * 10 + g.s % 7
        JOIN cats c ON c.kind = CASE WHEN recs.is_person THEN 'person' ELSE 'org' END
                   AND c.idx = recs.idx
    """,
        {**params, "grounds": GROUNDS},
    )


def _load_postgres(con: duckdb.DuckDBPyConnection) -> None:
    """Bulk load with the secondary indexes (the unique record key among them) dropped, then
    rebuilt."""

    def pg(sql: str) -> None:
        con.execute("CALL postgres_execute('store', ?)", [sql])

    pg("DROP INDEX ix_events_record; DROP INDEX ix_events_subject")
    con.execute(
        f"INSERT INTO store.subjects ({', '.join(SUBJECT_COLUMNS)}) "
        f"SELECT {', '.join(SUBJECT_COLUMNS)} FROM subj"
    )
    con.execute(
        f"INSERT INTO store.events ({', '.join(EVENT_COLUMNS)}) "
        f"SELECT {', '.join(EVENT_COLUMNS)} FROM ev"
    )
    pg(
        "CREATE UNIQUE INDEX ix_events_record ON events (furnisher, record_id, event_key); "
        "CREATE INDEX ix_events_subject ON events (subject_id); ANALYZE events; ANALYZE subjects"
    )
    # Keys were given explicitly: move the sequences past them for later appends.
    for table, key in (("events", "seq"), ("ingest_batches", "batch_id")):
        pg(
            f"SELECT setval(pg_get_serial_sequence('{table}', '{key}'), "
            f"(SELECT max({key}) FROM {table}))"
        )


def _journal_mode(path: str, mode: str) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        (now,) = db.execute(f"PRAGMA journal_mode={mode}").fetchone()
        assert now.upper() == mode, f"journal mode {now}, not {mode}"
    finally:
        db.close()


def build_store(url: str, records: int, settings: Settings) -> dict[str, Any]:
    """Schema and policy, then subjects and events generated by DuckDB and bulk loaded."""
    engine = make_engine(url)
    upgrade(engine)
    policy = load_default()
    save_policy(engine, policy)
    with engine.begin() as conn:
        conn.execute(
            insert(ingest_batches).values(
                batch_id=1,
                furnisher="bench",
                source="bench",
                received_at=dt.datetime.now(dt.UTC),
                status="done",
                read=records,
                accepted=records,
                quarantined=0,
                duplicates=0,
                review=0,
            )
        )
    sqlite_path = engine.url.database if engine.dialect.name == "sqlite" else None
    engine.dispose()  # one SQLite library per process at a time: see derive/worker.py
    if sqlite_path:
        # The generated ledger is loaded with a rollback journal, not through the WAL: new
        # pages are not journaled, where the WAL would hold the whole ledger a second time
        # until its checkpoint (60 GB at 100M events).
        _journal_mode(sqlite_path, "DELETE")

    subjects = max(records // 10, 10)
    files = records * 9 // 10
    started = time.perf_counter()
    with DuckDBEngine(settings) as duck:
        con = duck.con
        _generate(
            con,
            policy.policy,
            {
                "subjects": subjects,
                "files": files,
                "records": records,
                "as_of": AS_OF,
            },
        )
        duck.attach(url)
        if make_url(normalise_url(url)).get_backend_name() == "postgresql":
            _load_postgres(con)
        else:  # the derivation's own SQLite bulk path: shadow tables filled in key order, swapped
            duck.replace_store_tables(
                [
                    TableWrite("subjects", "subj", SUBJECT_COLUMNS, order_by=("subject_id",)),
                    TableWrite("events", "ev", EVENT_COLUMNS, order_by=("seq",)),
                ],
                tag="bench",
            )
    if sqlite_path:
        _journal_mode(sqlite_path, "WAL")  # as every store is
    return {
        "records": records,
        "subjects": subjects,
        "files": files,
        "seconds": time.perf_counter() - started,
    }


def existing_store(url: str) -> dict[str, Any]:
    engine = make_engine(url)
    upgrade(engine)  # a store kept from an earlier revision
    with engine.connect() as conn:
        records = conn.execute(select(func.count()).select_from(events)).scalar_one()
        files = conn.execute(
            select(func.count()).select_from(events).where(events.c.action == "file")
        ).scalar_one()
        count = conn.execute(select(func.count()).select_from(subjects)).scalar_one()
    engine.dispose()
    return {"records": records, "subjects": count, "files": files, "seconds": 0.0}


NEW_EVENTS = 1_000  # a day's new court filings, appended between the two derives
NEXT_DAY = AS_OF + dt.timedelta(days=1)  # the steady state: the next day's full run


def append_new_events(url: str, count: int) -> int:
    """``count`` new defaulter filings about existing persons, through the ledger's own append."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            people = (
                conn.execute(
                    select(subjects.c.subject_id)
                    .where(subjects.c.kind == "person")
                    .order_by(subjects.c.subject_id)
                    .limit(count)
                )
                .scalars()
                .all()
            )
            # Record ids new to the store, also when a kept store is benchmarked again.
            batch = conn.execute(select(func.count()).select_from(events)).scalar_one()
            rows = [
                {
                    "furnisher": "court",
                    "record_id": f"NEW-{batch}-{i}",
                    "action": "file",
                    "subject_id": subject_id,
                    "subject_name": "bench",
                    "category": "court.dishonest_defaulter",
                    "decided_on": AS_OF - dt.timedelta(days=1),
                    "document_no": f"NEW-DOC-{i}",
                    "ground": "evasion",
                }
                for i, subject_id in enumerate(people)
            ]
            return append_events(conn, rows, batch_id=1).inserted
    finally:
        engine.dispose()


def floor(url: str, settings: Settings) -> float:
    """A bare DuckDB GROUP BY over the same events, one row per subject written to the store."""
    started = time.perf_counter()
    with DuckDBEngine(settings) as duck:
        duck.attach(url)
        duck.con.execute(f"DROP TABLE IF EXISTS {STORE}.bench_floor")
        duck.con.execute(
            f"CREATE TABLE {STORE}.bench_floor AS SELECT subject_id, "
            f"sum(amount_fen) AS amount_fen FROM {STORE}.events GROUP BY subject_id"
        )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--db", help="store URL (default: a SQLite file in a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary SQLite store")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="with --db: derive the store's existing events (no rebuild)",
    )
    args = parser.parse_args()
    settings = Settings()
    workdir = None if args.db else tempfile.mkdtemp(prefix="socialcredit-bench-")
    url = args.db or f"sqlite:///{Path(str(workdir)) / 'bench.db'}"
    backend = make_url(normalise_url(url)).get_backend_name()
    if args.reuse and args.db:
        built = existing_store(url)
    else:
        if backend == "postgresql":
            _fresh_postgres(url)
        elif args.db and Path(make_url(normalise_url(url)).database or "").exists():
            os.remove(make_url(normalise_url(url)).database or "")
        built = build_store(url, args.records, settings.with_db(url))
    args.records = built["records"]
    print(
        f"store: {args.records:,} events ({built['files']:,} records) about "
        f"{built['subjects']:,} subjects on {backend}, built in {built['seconds']:.1f} s"
    )

    # Module imports are process start-up, not derivation work (pyarrow pulls in pandas lazily,
    # which takes seconds where bytecode is not cached): load them before the clock starts.
    policy_tables(load_default().policy)
    stages: list[tuple[str, float]] = []
    cold_stages: list[tuple[str, float]] = []
    mark = [time.perf_counter()]

    def timer(into: list[tuple[str, float]]) -> Callable[[str], None]:
        def progress(stage: str) -> None:
            now = time.perf_counter()
            into.append((stage, now - mark[0]))
            mark[0] = now

        return progress

    # The first full derive on a SQLite store also copies the whole ledger beside it
    # (``derive/ledger_mirror.py``); every later one reads only the events added since. Both
    # are measured: the first ("cold"), then the steady state after new events ("warm").
    mirror = ledger_mirror.mirror_path(make_url(normalise_url(url)).database or "")
    if backend == "sqlite" and os.path.exists(mirror):
        os.remove(mirror)
    cold_started = mark[0] = time.perf_counter()
    derive(settings.with_db(url), as_of=AS_OF, full=True, progress=timer(cold_stages))
    cold_seconds = time.perf_counter() - cold_started
    cold_stages.append(("(end)", time.perf_counter() - mark[0]))
    added = append_new_events(url, NEW_EVENTS)
    started = mark[0] = time.perf_counter()
    result = derive(settings.with_db(url), as_of=NEXT_DAY, full=True, progress=timer(stages))
    derive_seconds = time.perf_counter() - started
    stages.append(("(end)", time.perf_counter() - mark[0]))
    base_seconds = floor(url, settings)

    for name, timed in (("first", cold_stages), ("warm", stages)):
        print(f"derive stages of the {name} run (seconds spent before each message):")
        for stage, seconds in timed:
            print(f"  {seconds:7.2f}  -> {stage}")
    copying = " (copies the ledger beside the store)" if backend == "sqlite" else ""
    print(f"derive, first run{copying}: {cold_seconds:.2f} s")
    print(
        f"derive, after {added} new events: {derive_seconds:.2f} s ({result.records:,} record "
        f"states, {result.ratings:,} ratings, {result.list_entries:,} list entries, "
        f"{result.decisions:,} decisions; written as {result.written['method']}: "
        f"{result.written['rows_deleted']:,} rows out, {result.written['rows_inserted']:,} in)"
    )
    print(
        f"floor:  {base_seconds:.2f} s (GROUP BY subject_id over the same events, "
        f"written back); ratio {derive_seconds / base_seconds:.2f}x "
        f"(first run {cold_seconds / base_seconds:.2f}x)"
    )
    if workdir and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    elif workdir:
        print(f"store kept: {url}")
    print(
        json.dumps(
            {
                "records": args.records,
                "subjects": built["subjects"],
                "backend": backend,
                "derive_seconds": round(derive_seconds, 3),
                "baseline_seconds": round(base_seconds, 3),
                "ratio": round(derive_seconds / base_seconds, 3),
                "first_derive_seconds": round(cold_seconds, 3),
                "first_ratio": round(cold_seconds / base_seconds, 3),
                "record_states": result.records,
                "ratings": result.ratings,
                "list_entries": result.list_entries,
                "decisions": result.decisions,
                "lists": result.lists,
                "written": result.written,
            }
        )
    )


if __name__ == "__main__":
    main()
