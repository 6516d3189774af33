"""Helpers of the ingestion tests: run the CLI, read its JSON and the rejection report, write
the hand-made fixtures in other formats and encodings, look at the store."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import text

from socialcredit.policy.load import load_default
from socialcredit.store.engine import alembic_config, make_engine, upgrade
from socialcredit.store.policies import save_policy

FIXTURES = Path(__file__).parent / "fixtures" / "furnisher"


def init(db_url: str) -> None:
    """A store with the shipped policy (what ``socialcredit init`` makes)."""
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        save_policy(engine, load_default())
    finally:
        engine.dispose()


def ingest(run: Any, db_url: str, *files: Path, furnisher: str) -> dict[str, Any]:
    result = run("ingest", *map(str, files), "--furnisher", furnisher, "--db", db_url, "--json")
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def ingest_fails(run: Any, db_url: str, *files: Path, furnisher: str) -> str:
    """Run an ingestion that must fail; its stderr with line folding undone."""
    result = run("ingest", *map(str, files), "--furnisher", furnisher, "--db", db_url, ok=False)
    assert result.exit_code != 0, result.stdout
    return unfolded(result.stderr)


def unfolded(output: str) -> str:
    """Rich folds long lines (even inside a path): compare without whitespace."""
    return "".join(output.split())


def rejected(run: Any, db_url: str, out: Path, batch: int | None = None) -> list[dict[str, str]]:
    args = ["quarantine", "export", "--db", db_url, "--out", str(out)]
    if batch is not None:
        args += ["--batch", str(batch)]
    run(*args)
    with open(out, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def query(db_url: str, sql: str, **params: Any) -> list[Any]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def read_fixture(name: str) -> tuple[list[str], list[list[str]]]:
    with open(FIXTURES / name, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def write_csv(
    path: Path,
    header: list[str],
    rows: list[list[str]],
    encoding: str = "utf-8",
    delimiter: str = ",",
) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def typed(header: list[str], row: list[str]) -> dict[str, Any]:
    """A fixture row with the types a spreadsheet or Parquet export would give it."""
    out: dict[str, Any] = dict(zip(header, row, strict=True))
    out["decided_on"] = dt.date.fromisoformat(row[header.index("decided_on")])
    for name, kind in (("amount", float), ("extension_months", int)):
        if name in out:
            out[name] = kind(out[name]) if out[name] else None
    return {k: (v if v != "" else None) for k, v in out.items()}


def write_xlsx(path: Path, header: list[str], rows: list[dict[str, Any]]) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(header)
    for row in rows:
        sheet.append([row.get(h) for h in header])
    book.save(path)
    return path


def write_parquet(path: Path, header: list[str], rows: list[dict[str, Any]]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"decided_on": pa.date32(), "amount": pa.float64(), "extension_months": pa.int64()}
    table = pa.table(
        {h: pa.array([r.get(h) for r in rows], type=types.get(h, pa.string())) for h in header}
    )
    pq.write_table(table, path)
    return path


def migrate(db_url: str, revision: str) -> None:
    """Upgrade the store to ``head``, or downgrade it to ``revision``."""
    engine = make_engine(db_url)
    try:
        if revision == "head":
            command.upgrade(alembic_config(engine), revision)
        else:
            command.downgrade(alembic_config(engine), revision)
    finally:
        engine.dispose()
