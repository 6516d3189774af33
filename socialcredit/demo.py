"""The demo: a synthetic country end to end (synthesise, init, ingest, derive) and what it shows.

The demo checks itself: every row the generator made bad on purpose (``truth.csv``) must be in
quarantine with the expected reason, and nothing else may be; every re-sent row must be counted as
a duplicate. The summary says how many matched.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, and_, func, select

from socialcredit.derive import ledger_mirror
from socialcredit.derive.run import DeriveResult, derive
from socialcredit.errors import Conflict
from socialcredit.ingest.pipeline import ingest_files
from socialcredit.ingest.summary import Counts, Progress
from socialcredit.policy.load import load_default
from socialcredit.policy.schema import Rating
from socialcredit.settings import Settings
from socialcredit.store.engine import make_engine, sqlite_file, upgrade
from socialcredit.store.policies import save_policy
from socialcredit.store.tables import (
    decisions,
    events,
    list_entries,
    quarantine,
    ratings,
    subjects,
)
from socialcredit.synth import synthesize

Step = Callable[[str], None]


@dataclass
class DemoSummary:
    manifest: dict[str, Any]
    ingest: Counts
    derive: DeriveResult
    bands: dict[str, dict[str, int]] = field(default_factory=dict)
    quarantine_by_reason: dict[str, int] = field(default_factory=dict)
    truth: dict[str, int] = field(default_factory=dict)
    examples: list[dict[str, str]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def fresh_store(settings: Settings) -> Engine:
    """An empty store for the demo: the SQLite file, its WAL and the ledger copy beside it
    (the last run's results and caches: of no use to a new store) are removed first."""
    engine = make_engine(settings.db)
    database = sqlite_file(settings.db)
    if database is not None:
        engine.dispose()
        for leftover in (f"{database}{s}" for s in ("", "-wal", "-shm")):
            Path(leftover).unlink(missing_ok=True)
        ledger_mirror.remove(ledger_mirror.mirror_path(str(database)))
        engine = make_engine(settings.db)
    upgrade(engine)
    with engine.connect() as conn:
        if conn.execute(select(func.count()).select_from(events)).scalar_one():
            engine.dispose()
            raise Conflict(
                "the demo needs an empty store and this one holds events already: "
                "name an empty database with --db (a SQLite demo store is recreated each time)"
            )
    save_policy(engine, load_default())
    return engine


def run_demo(
    settings: Settings,
    out_dir: Path,
    *,
    persons: int,
    orgs: int,
    records: int | None,
    seed: int,
    today: dt.date,
    step: Step,
    ingest_progress: Progress | None = None,
) -> DemoSummary:
    import time

    timings: dict[str, float] = {}
    started = time.perf_counter()
    step(f"synthesising {persons:,} persons and {orgs:,} organisations")
    manifest = synthesize(
        out_dir, persons=persons, orgs=orgs, records=records, seed=seed, today=today
    )
    timings["synth"] = time.perf_counter() - started

    mark = time.perf_counter()
    step("creating the store and loading the national policy")
    engine = fresh_store(settings)
    totals = Counts(file="all files")
    for entry in manifest["files"]:
        step(f"ingesting {entry['path']} as furnisher {entry['furnisher']}")
        run = ingest_files(
            engine,
            [out_dir / entry["path"]],
            furnisher=entry["furnisher"],
            chunk_rows=settings.ingest_chunk_rows,
            today=today,
            progress=ingest_progress,
        )
        totals.merge(run.totals)
    timings["ingest"] = time.perf_counter() - mark

    mark = time.perf_counter()
    step("deriving ratings, list entries and decisions")
    result = derive(settings, as_of=today, full=True)
    timings["derive"] = time.perf_counter() - mark
    timings["total"] = time.perf_counter() - started

    summary = DemoSummary(manifest=manifest, ingest=totals, derive=result, seconds=timings)
    try:
        summary.bands = band_distribution(engine)
        summary.quarantine_by_reason = quarantine_reasons(engine)
        summary.truth = compare_with_truth(engine, out_dir)
        summary.examples = examples(engine, out_dir)
    finally:
        engine.dispose()
    return summary


def bands_best_first(rating: Rating) -> list[str]:
    """A rating's bands from best to worst; a new-subject band (tax grade M) before the first
    band below its minimum score, as the tax grades rank it (A, B, M, C, D)."""
    bands = [b.band for b in rating.bands]
    new = rating.new_subject_band
    if new is not None and new.band not in bands:
        below = [i for i, b in enumerate(rating.bands) if b.min_score < new.min_score]
        bands.insert(below[0] if below else len(bands), new.band)
    return bands


def band_distribution(engine: Engine) -> dict[str, dict[str, int]]:
    """Subjects per (rating, band), each rating's bands from best to worst as the shipped
    policy (which the demo derives with) lists them."""
    query = select(ratings.c.rating, ratings.c.band, func.count()).group_by(
        ratings.c.rating, ratings.c.band
    )
    order = {r.code: bands_best_first(r) for r in load_default().policy.ratings}
    counted: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        for rating, band, count in conn.execute(query):
            counted.setdefault(rating, {})[band] = count

    def rank(rating: str, band: str) -> tuple[int, str]:
        bands = order.get(rating, [])
        return (bands.index(band) if band in bands else len(bands), band)

    return {
        rating: dict(sorted(by_band.items(), key=lambda item: rank(rating, item[0])))
        for rating, by_band in sorted(counted.items())
    }


def quarantine_reasons(engine: Engine) -> dict[str, int]:
    query = (
        select(quarantine.c.reason_code, func.count())
        .group_by(quarantine.c.reason_code)
        .order_by(func.count().desc())
    )
    with engine.connect() as conn:
        return {code: count for code, count in conn.execute(query)}


def compare_with_truth(engine: Engine, out_dir: Path) -> dict[str, int]:
    """How the quarantine agrees with the generator's list of deliberately bad rows."""
    with (out_dir / "truth.csv").open(encoding="utf-8") as fh:
        expected = {(r["file"], int(r["row_no"]), r["reason_code"]) for r in csv.DictReader(fh)}
    with engine.connect() as conn:
        rows = conn.execute(
            select(quarantine.c.source, quarantine.c.row_no, quarantine.c.reason_code)
        )
        actual = {(Path(source).name, int(row_no), code) for source, row_no, code in rows}
    expected_rows = {(f, r) for f, r, _ in expected}
    actual_rows = {(f, r) for f, r, _ in actual}
    return {
        "bad_rows": len(expected),
        "caught_with_expected_reason": len(expected & actual),
        "caught_with_other_reason": len(
            (expected_rows & actual_rows) - {(f, r) for f, r, _ in expected & actual}
        ),
        "missed": len(expected_rows - actual_rows),
        "good_rows_rejected": len(actual_rows - expected_rows),
    }


def examples(engine: Engine, out_dir: Path) -> list[dict[str, str]]:
    """Three real subjects worth asking about: a listed person, an extended restriction, a twin."""
    found: list[dict[str, str]] = []
    with engine.connect() as conn:
        listed = conn.execute(
            select(list_entries.c.subject_id)
            .join(subjects, subjects.c.subject_id == list_entries.c.subject_id)
            .where(
                and_(list_entries.c.list_code == "court_defaulters", subjects.c.kind == "person")
            )
            .order_by(list_entries.c.subject_id)
            .limit(1)
        ).scalar_one_or_none()
        if listed:
            found.append(
                {
                    "why": "a person on the court defaulter list",
                    "command": "report",
                    "subject_id": listed,
                }
            )
        extended = conn.execute(
            select(decisions.c.subject_id, decisions.c.source_subject_id)
            .where(
                and_(
                    decisions.c.measure == "flight",
                    decisions.c.subject_id != decisions.c.source_subject_id,
                )
            )
            .order_by(decisions.c.subject_id)
            .limit(1)
        ).first()
        if extended:
            found.append(
                {
                    "why": f"legal representative of listed organisation "
                    f"{extended.source_subject_id}",
                    "command": "check",
                    "subject_id": extended.subject_id,
                    "measure": "flight",
                }
            )
        twin = _clean_twin(conn, out_dir)
        if twin:
            found.append(
                {
                    "why": f"same name as a listed person ({twin[1]}), but not them",
                    "command": "check",
                    "subject_id": twin[0],
                    "measure": "g_train",
                }
            )
    return found


def _clean_twin(conn: Any, out_dir: Path) -> tuple[str, str] | None:
    pairs = out_dir / "same_name_pairs.csv"
    if not pairs.exists():
        return None
    with pairs.open(encoding="utf-8") as fh:
        candidates = [(r["id_a"], r["id_b"]) for r in csv.DictReader(fh)]
    restricted = set(
        conn.execute(
            select(decisions.c.subject_id).where(
                decisions.c.subject_id.in_([x for pair in candidates for x in pair])
            )
        ).scalars()
    )
    for a, b in candidates:
        if (a in restricted) != (b in restricted):
            return (b, a) if a in restricted else (a, b)
    return None
