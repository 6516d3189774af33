"""``socialcredit ids check VALUE... [--json]``."""

from __future__ import annotations

from typing import Annotated

import typer

from socialcredit import ids as identifiers
from socialcredit.cli.common import JsonOption, command, print_json, whole_table

ids_app = typer.Typer(help="Identifier schemes: GB 11643 resident IDs, GB 32100 USCCs.")


@command(ids_app, "check")
def check(
    values: Annotated[list[str], typer.Argument(help="identifiers to check")],
    json_out: JsonOption = False,
) -> None:
    """Validate and normalise identifiers; exit 1 when any is invalid."""
    results = [identifiers.check(v) for v in values]
    if json_out:
        print_json([r.to_json() for r in results])  # what the table shows, kind to sex
    else:
        from rich.console import Console
        from rich.text import Text

        table = whole_table("input", "valid", "scheme", "normalised", "detail", ids=("normalised",))
        for r in results:
            detail = r.error or " ".join(
                x
                for x in (r.kind, r.birth_date.isoformat() if r.birth_date else "", r.sex or "")
                if x
            )
            table.add_row(  # the input as given, never read as markup
                Text(r.input),
                "yes" if r.valid else "no",
                r.scheme or "-",
                r.normalised or "-",
                Text(detail),
            )
        Console().print(table)
    if not all(r.valid for r in results):
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    app.add_typer(ids_app, name="ids")
