"""``socialcredit demo``: a synthetic country, end to end, then (unless --no-serve) the API."""

from __future__ import annotations

import datetime as dt
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from socialcredit.cli.common import (
    DbOption,
    JsonOption,
    command,
    console,
    print_json,
    program,
    settings_for,
)
from socialcredit.cli.ingest import BarProgress

if TYPE_CHECKING:
    from socialcredit.demo import DemoSummary


def demo(
    persons: Annotated[int, typer.Option(min=100, help="synthetic persons")] = 100_000,
    orgs: Annotated[int, typer.Option(min=1, help="synthetic organisations")] = 10_000,
    records: Annotated[
        int | None, typer.Option(help="furnished rows (default ~9 per subject)")
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same country)")] = 0,
    out: Annotated[Path, typer.Option("--dir", help="where the files and the store go")] = Path(
        "demo-data"
    ),
    db: DbOption = None,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="serve the API after")] = True,
    host: Annotated[str, typer.Option(help="address to serve on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to serve on")] = 8000,
    json_out: JsonOption = False,
) -> None:
    """Synthesise a country, ingest every furnisher file, derive, summarise (and serve)."""
    from socialcredit.demo import run_demo

    out.mkdir(parents=True, exist_ok=True)
    settings = settings_for(db or f"sqlite:///{out / 'socialcredit.db'}")
    summary = run_demo(
        settings,
        out,
        persons=persons,
        orgs=orgs,
        records=records,
        seed=seed,
        today=dt.date.today(),
        step=lambda text: console.print(f"[dim]…[/] {text}", highlight=False),
        ingest_progress=BarProgress(),
    )

    from sqlalchemy.engine import make_url

    from socialcredit.store.engine import normalise_url

    # A password in the URL is not printed (the line would not run as printed, then).
    shown = make_url(normalise_url(settings.db)).render_as_string(hide_password=True)
    db_option = f" --db {shlex.quote(shown)}"
    commands = [_command_line(example, db_option) for example in summary.examples]
    if json_out:
        print_json(_as_json(summary, commands))
    else:
        _print(summary, commands)
    if serve:
        _serve(settings, host, port)


def _command_line(example: dict[str, str], db_option: str) -> str:
    words = [program(), example["command"], example["subject_id"]]
    if "measure" in example:
        words.append(example["measure"])
    return " ".join(words) + db_option + f"    # {example['why']}"


def _as_json(summary: DemoSummary, commands: list[str]) -> dict[str, Any]:
    return {
        "files": summary.manifest["files"],
        "ingest": summary.ingest.figures(),
        "derive": summary.derive.to_json(),
        "bands": summary.bands,
        "quarantine_by_reason": summary.quarantine_by_reason,
        "truth": summary.truth,
        "examples": summary.examples,
        "commands": commands,
        "seconds": {k: round(v, 2) for k, v in summary.seconds.items()},
    }


def _print(summary: DemoSummary, commands: list[str]) -> None:
    from rich.console import Console

    out = Console()
    ingest = summary.ingest
    out.print(
        f"[bold]ingested[/] {ingest.read:,} rows: {ingest.accepted:,} accepted, "
        f"{ingest.quarantined:,} quarantined ({ingest.review:,} held for identity review), "
        f"{ingest.duplicates:,} duplicates"
    )
    truth = summary.truth
    out.print(
        f"[bold]quarantine vs the generator's truth file[/]: "
        f"{truth['caught_with_expected_reason']:,} of {truth['bad_rows']:,} bad rows caught with "
        f"the expected reason, {truth['missed']:,} missed, "
        f"{truth['good_rows_rejected']:,} good rows rejected"
    )
    reasons = Table("quarantine reason", "rows", title="Quarantined rows by reason")
    for code, count in summary.quarantine_by_reason.items():
        reasons.add_row(code, f"{count:,}")
    out.print(reasons)
    lists = Table("list", "entries in force", title=f"Lists as of {summary.derive.as_of}")
    for code, count in summary.derive.lists.items():
        lists.add_row(code, f"{count:,}")
    out.print(lists)
    rated = sum(sum(by_band.values()) for by_band in summary.bands.values())
    # Subjects enter the store with their first record: people never furnished about are
    # not in it, and have no rating.
    bands = Table(
        "rating",
        "band",
        "subjects",
        title=f"Rating bands, best first ({rated:,} subjects with records)",
    )
    for rating, by_band in summary.bands.items():
        for band, count in by_band.items():
            bands.add_row(rating, band, f"{count:,}")
    out.print(bands)
    seconds = summary.seconds
    out.print(
        f"[bold]done[/] in {seconds['total']:.1f} s (synthesis {seconds['synth']:.1f} s, "
        f"ingestion {seconds['ingest']:.1f} s, derivation {seconds['derive']:.1f} s); "
        f"policy {summary.derive.policy_version}, {summary.derive.decisions:,} decisions"
    )
    out.print("\n[bold]Try:[/]")
    for line in commands:
        out.print(f"  {line}", highlight=False, soft_wrap=True, markup=False)


def _serve(settings: Any, host: str, port: int) -> None:
    from socialcredit.api.server import serve as serve_api
    from socialcredit.services.keys import create_key
    from socialcredit.store.engine import make_engine

    engine = make_engine(settings.db)
    keys = {
        role: create_key(engine, role=role, name=f"demo {role}")
        for role in ("operator", "inquirer", "integrator")
    }
    keys["furnisher (court)"] = create_key(
        engine, role="furnisher", name="demo court", furnisher="court"
    )
    console.print(f"\n[bold]serving[/] http://{host}:{port}  (docs: http://{host}:{port}/docs)")
    console.print("demo credentials (Authorization: Bearer <key>), shown once:")
    for role, key in keys.items():
        console.print(f"  {role:18} {key}", highlight=False)
    engine.dispose()
    serve_api(settings, host=host, port=port)


def register(app: typer.Typer) -> None:
    command(app, "demo")(demo)
