"""``socialcredit ingest``, ``review list/resolve/reject`` and ``quarantine export``."""

from __future__ import annotations

import io
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import make_url

from socialcredit.cli.common import (
    DbOption,
    JsonOption,
    command,
    console,
    existing_store,
    print_json,
    program,
    store_engine,
)
from socialcredit.errors import ValidationFailed

if TYPE_CHECKING:
    from socialcredit.ingest.summary import RunSummary
from socialcredit.store.engine import make_engine, normalise_url

review_app = typer.Typer(help="The identity review queue: rows held for a missing or bad ID.")
quarantine_app = typer.Typer(help="Rows rejected by ingestion, with their reasons.")


class BarProgress:
    """Rows read, as a Rich bar on stderr (bytes of the file as the bar's measure for text)."""

    def __init__(self) -> None:
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rows]:,} rows"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self.task: TaskID | None = None
        self.rows = 0

    def start(self, file: str, total: int, unit: str) -> None:
        self.bar.start()
        self.rows = 0
        self.task = self.bar.add_task(Path(file).name, total=total or None, rows=0)

    def advance(self, position: int, rows: int) -> None:
        self.rows += rows
        if self.task is not None:
            self.bar.update(self.task, completed=position, rows=self.rows)

    def finish(self) -> None:
        self.bar.stop()


def ingest(
    files: Annotated[
        list[Path], typer.Argument(help="furnisher files: .csv .txt .jsonl .ndjson .parquet .xlsx")
    ],
    furnisher: Annotated[str, typer.Option("--furnisher", help="furnisher code, e.g. court")],
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """Validate furnisher files and append their records to the ledger (one batch per run)."""
    settings = existing_store(db)
    engine = make_engine(settings.db)
    progress = BarProgress()
    try:
        from socialcredit.ingest.pipeline import ingest_files

        summary = ingest_files(
            engine,
            files,
            furnisher=furnisher,
            chunk_rows=settings.ingest_chunk_rows,
            progress=progress,
        )
    finally:
        progress.finish()
        engine.dispose()
    if json_out:
        print_json(summary.to_json())
    else:
        _print_summary(summary, settings.db)


def _print_summary(summary: RunSummary, db: str) -> None:
    table = Table(
        "file",
        "read",
        "accepted",
        "quarantined",
        "duplicates",
        "review",
        title=f"batch {summary.batch_id} ({summary.furnisher})",
    )
    for f in summary.files:
        table.add_row(
            Text(f.file),
            *(f"{v:,}" for v in (f.read, f.accepted, f.quarantined, f.duplicates, f.review)),
        )
    t = summary.totals
    if len(summary.files) > 1:
        table.add_row(
            "total",
            *(f"{v:,}" for v in (t.read, t.accepted, t.quarantined, t.duplicates, t.review)),
        )
    console.print(table)
    for code, count in sorted(t.reasons.items()):
        console.print(f"  {code}: {count:,}")
    for warning in t.warnings:
        console.print(f"[yellow]warning[/]: {escape(warning)}", highlight=False)
    console.print(
        f"batch {summary.batch_id}: read {t.read:,} = accepted {t.accepted:,} + "
        f"quarantined {t.quarantined:,} + duplicates {t.duplicates:,}; "
        f"{t.review:,} held for review ({summary.seconds:.1f} s)",
        highlight=False,
    )
    # The store as the user can name it again, never with its password.
    shown = make_url(normalise_url(db)).render_as_string(hide_password=True)
    store = f"--db {shlex.quote(shown)}"
    hints = (
        (t.quarantined, "the rejected rows", f"quarantine export --batch {summary.batch_id}"),
        (t.review, "the rows held for review", "review list"),
    )
    for count, what, command_line in hints:
        if count:  # one line each, to paste as it is
            console.print(
                f"{what}: {program()} {command_line} {store}",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )


@command(review_app, "list")
def review_list(
    status: Annotated[
        str | None, typer.Option("--status", help="open, resolved or rejected; empty for all")
    ] = "open",
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """Rows held for their identifier, with same-name candidate subjects."""
    with store_engine(db) as engine:
        from socialcredit.ingest import review

        rows = review.list_reviews(engine, status or None)
    if json_out:
        print_json(rows)
        return
    out = Console()  # the answer: on stdout, as report and check print theirs
    for r in rows:
        # One block per review, not a table: the identifiers a clerk copies into
        # ``review resolve`` stay whole on one line however narrow the terminal.
        block = Table.grid(padding=(0, 2))
        block.add_column(no_wrap=True, style="dim")
        block.add_column(overflow="fold")
        # Furnished text is shown as it is, never read as markup.
        block.add_row("name", Text(r["subject_name"] or "-"))
        block.add_row("given ID", Text(r["subject_id_given"] or "-"))
        block.add_row("record", Text(f"{r['source']} row {r['row_no']}"))
        for n, c in enumerate(r["candidates"]):
            born = f" {c['birth_date']}" if c["birth_date"] else ""
            label = "candidates" if n == 0 else ""
            block.add_row(label, Text(f"{c['subject_id']} {c['kind']}{born} ({c['match']})"))
        if not r["candidates"]:
            block.add_row("candidates", "-")
        out.print(
            f"[bold]review {r['review_id']}[/] {escape(r['status'])} {escape(r['reason_code'])}",
            highlight=False,
        )
        out.print(block)
    if not rows:
        out.print(f"no {status} reviews" if status else "no reviews", highlight=False)


@command(review_app, "resolve")
def review_resolve(
    review_id: Annotated[int, typer.Argument(help="the review's number")],
    subject: Annotated[str, typer.Option("--subject", help="the subject's valid ID")],
    by: Annotated[str, typer.Option("--by", help="who decided")],
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """Append the held row as an event about SUBJECT (re-validated; refused if it would fail)."""
    with store_engine(db) as engine:
        from socialcredit.ingest import review

        result = review.resolve(engine, review_id, subject, by=by)
    _print_result(
        result,
        json_out,
        f"review {review_id} resolved: record {result['record_id']} appended about "
        f"{result['subject_id']} (batch {result['batch_id']})",
    )


@command(review_app, "reject")
def review_reject(
    review_id: Annotated[int, typer.Argument(help="the review's number")],
    by: Annotated[str, typer.Option("--by", help="who decided")],
    reason: Annotated[str, typer.Option("--reason", help="why the row is rejected")],
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """Close a review without an event; the row stays in the quarantine."""
    with store_engine(db) as engine:
        from socialcredit.ingest import review

        result = review.reject(engine, review_id, by=by, reason=reason)
    _print_result(result, json_out, f"review {review_id} rejected")


def _print_result(result: dict[str, Any], json_out: bool, line: str) -> None:
    if json_out:
        print_json(result)
        return
    console.print(line, highlight=False)
    for warning in result.get("warnings", []):
        console.print(f"[yellow]warning[/]: {escape(warning)}", highlight=False)


@command(quarantine_app, "export")
def quarantine_export(
    out: Annotated[
        str, typer.Option("--out", help="CSV file to write; - for standard output")
    ] = "-",
    batch: Annotated[int | None, typer.Option("--batch", help="only this batch")] = None,
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """Write the rejection report: file, row, record_id, field, value, reason_code, reason."""
    if out == "-" and json_out:
        raise ValidationFailed("--json describes a report written to a file: give --out FILE")
    with store_engine(db) as engine:
        from socialcredit.ingest import quarantine

        if out == "-":
            count = _export_to_stdout(engine, batch)
        else:
            count = quarantine.export_csv(engine, Path(out), batch_id=batch)
    if json_out:
        print_json({"out": out, "rows": count, "batch_id": batch})
    else:
        written = "standard output" if out == "-" else out
        console.print(f"wrote {count:,} rejected rows to {written}", highlight=False, markup=False)


def _export_to_stdout(engine: Any, batch: int | None) -> int:
    """The report on stdout in UTF-8 whatever the locale (the csv module ends its own lines);
    through stdout itself when it has no byte buffer under it."""
    from socialcredit.ingest import quarantine

    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        return quarantine.export_csv(engine, sys.stdout, batch_id=batch)
    sys.stdout.flush()
    stream = io.TextIOWrapper(buffer, encoding="utf-8", newline="")
    try:
        return quarantine.export_csv(engine, stream, batch_id=batch)
    finally:
        try:
            stream.flush()
        finally:
            stream.detach()  # sys.stdout keeps its buffer, even when the flush failed


def register(app: typer.Typer) -> None:
    command(app, "ingest")(ingest)
    app.add_typer(review_app, name="review")
    app.add_typer(quarantine_app, name="quarantine")
