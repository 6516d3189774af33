"""``socialcredit synth --persons N --orgs M --out DIR [--seed S] [--records R] [--bad-share F]``
(plus ``--as-of`` and ``--json``): a synthetic country for demos, tests and benchmarks."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from socialcredit.cli.common import AsOfOption, JsonOption, command, console, print_json


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""

    @command(app, "synth")
    def synth(
        out: Annotated[Path, typer.Option("--out", help="directory to write the files into")],
        persons: Annotated[int, typer.Option("--persons", min=100, help="persons")] = 100_000,
        orgs: Annotated[int, typer.Option("--orgs", min=1, help="organisations")] = 10_000,
        seed: Annotated[int, typer.Option("--seed", help="random seed")] = 0,
        records: Annotated[
            int | None,
            typer.Option(
                "--records", min=1, help="total rows over all files (default 9 x subjects)"
            ),
        ] = None,
        bad_share: Annotated[
            float,
            typer.Option("--bad-share", min=0.0, max=0.5, help="share of deliberately bad rows"),
        ] = 0.01,
        as_of: AsOfOption = None,
        json_out: JsonOption = False,
    ) -> None:
        """Generate a synthetic country: persons, orgs and furnisher files with known defects."""
        from socialcredit.synth import synthesize

        started = time.monotonic()
        with Progress(
            TextColumn("{task.description:<9}"),
            BarColumn(),
            TextColumn("{task.completed:,}/{task.total:,}"),
            TimeElapsedColumn(),
            console=console,
            transient=json_out,
        ) as bar:
            tasks: dict[str, TaskID] = {}

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:  # stages appear as they start
                    tasks[stage] = bar.add_task(stage, total=total)
                bar.update(tasks[stage], completed=done, total=total)

            manifest = synthesize(
                out,
                persons=persons,
                orgs=orgs,
                records=records,
                seed=seed,
                bad_share=bad_share,
                today=as_of,
                progress=progress,
            )
        seconds = time.monotonic() - started
        bad = sum(manifest["per_bad_kind"].values())
        console.print(
            f"synthesised {persons:,} persons, {orgs:,} orgs and {manifest['rows']:,} rows in "
            f"{len(manifest['files'])} files ({bad:,} bad, {manifest['duplicates']:,} duplicates, "
            f"as of {manifest['as_of']}) into {out} in {seconds:.1f} s",
            highlight=False,
            soft_wrap=True,
        )
        if json_out:
            print_json(manifest)
