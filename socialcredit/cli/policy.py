"""``socialcredit policy check FILE`` and ``socialcredit policy show``: validate, read policies."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from socialcredit.cli.common import (
    JsonOption,
    as_of_option,
    command,
    console,
    print_json,
    store_engine,
    store_errors,
)
from socialcredit.errors import PolicyError
from socialcredit.policy.load import LoadedPolicy, load_configured
from socialcredit.policy.markdown import policy_tables

policy_app = typer.Typer(
    help="The policy: catalogue, ratings, lists, measures and memoranda.", no_args_is_help=True
)


def summary(loaded: LoadedPolicy) -> dict[str, Any]:
    policy = loaded.policy
    return {
        "file": loaded.file,
        "version": policy.version,
        "name": policy.policy.name,
        "effective_from": policy.policy.effective_from,
        "sha256": loaded.sha256,
        "counts": {
            "furnishers": len(policy.furnishers),
            "categories": len(policy.categories),
            "ratings": len(policy.ratings),
            "lists": len(policy.lists),
            "measures": len(policy.measures),
            "memoranda": len(policy.memoranda),
        },
    }


def _load_or_exit(file: Path | None, json_out: bool) -> LoadedPolicy:
    """Load, or print every problem (not only the first) and exit 2."""
    try:
        return load_configured(file)
    except PolicyError as exc:
        problems: list[dict[str, str]] = exc.details.get("errors") or [
            {"location": exc.location, "message": exc.message}
        ]
        if json_out:
            print_json(
                {"valid": False, "file": exc.file, "message": exc.message, "errors": problems}
            )
        console.print(
            f"error ({exc.code}): {exc.message}", markup=False, highlight=False, soft_wrap=True
        )
        if len(problems) > 1:
            for problem in problems:
                console.print(
                    f"  {exc.file}:{problem['location']}: {problem['message']}",
                    markup=False,
                    highlight=False,
                    soft_wrap=True,
                )
        raise typer.Exit(code=2) from exc


@command(policy_app, "check")
def check(
    file: Annotated[Path, typer.Argument(help="policy TOML file to validate")],
    json_out: JsonOption = False,
) -> None:
    """Validate a policy file; exit 2 naming the file, table and key of every problem."""
    loaded = _load_or_exit(file, json_out)
    result = summary(loaded)
    if json_out:
        print_json({"valid": True, **result})
        return
    out = Console(soft_wrap=True)
    out.print(
        f"{file}: valid policy {result['version']} ({result['name']}), in force from "
        f"{result['effective_from']}",
        markup=False,
        highlight=False,
    )
    table = Table("section", "count")
    for section, count in result["counts"].items():
        table.add_row(section, str(count))
    out.print(table)
    out.print(f"sha256 {result['sha256']}", markup=False, highlight=False)


def _in_force(db: str, as_of: date | None) -> LoadedPolicy:
    """The version a store holds in force on ``as_of`` (default today): what ``derive`` uses."""
    from socialcredit.store.policies import policy_in_force

    with store_engine(db) as engine, store_errors():
        return policy_in_force(engine, as_of or date.today())


@command(policy_app, "show")
def show(
    file: Annotated[
        Path | None,
        typer.Option("--file", help="policy TOML (default: the shipped national policy)"),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="show the version in force in this store instead (sqlite:///FILE or "
            "postgresql://...): the one `derive` uses",
        ),
    ] = None,
    as_of: Annotated[
        date | None, as_of_option("with --db: the version in force on this date (default today)")
    ] = None,
    json_out: JsonOption = False,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="print the reference tables of docs/policy.md")
    ] = False,
) -> None:
    """Show a policy (the shipped default unless --file, or the one in force in a store with
    --db): summary tables, JSON or Markdown."""
    if db is not None and file is not None:
        raise typer.BadParameter("--file and --db name two policies: give one", param_hint="--db")
    if as_of is not None and db is None:
        raise typer.BadParameter(
            "dates pick a version a store holds: give --db", param_hint="--as-of"
        )
    loaded = _in_force(db, as_of) if db is not None else _load_or_exit(file, json_out)
    if json_out:
        print_json({**summary(loaded), "policy": loaded.policy.model_dump(mode="json")})
    elif markdown:
        typer.echo(policy_tables(loaded), nl=False)
    else:
        _print_tables(loaded)


def _print_tables(loaded: LoadedPolicy) -> None:
    policy = loaded.policy
    out = Console()
    out.print(
        f"[bold]{policy.version}[/] {policy.policy.name}, in force from "
        f"{policy.policy.effective_from}  ({loaded.file})",
        highlight=False,
    )
    out.print(
        _table(
            "Catalogue (publication in days)",
            ("category", "subjects", "tier", "published", "furnishers"),
            [
                (
                    c.code,
                    _kinds(c.subject_kinds),
                    c.severity if c.polarity == "negative" else c.polarity,
                    f"{c.publication_min_days}-{c.publication_max_days}" if c.publish else "no",
                    ", ".join(c.furnishers),
                )
                for c in policy.categories
            ],
        )
    )
    out.print(
        _table(
            "Lists",
            ("list", "kind", "term", "categories"),
            [
                (
                    r.code,
                    r.kind,
                    "until removed" if r.term_days is None else f"{r.term_days} days",
                    ", ".join(r.categories),
                )
                for r in policy.lists
            ],
        )
    )
    out.print(
        _table(
            "Measures",
            ("measure", "kind", "agency"),
            [(m.code, m.kind, m.agency) for m in policy.measures],
        )
    )
    out.print(
        _table(
            "Memoranda",
            ("memorandum", "lists", "measures", "legal rep."),
            [
                (
                    memo.code,
                    ", ".join(memo.lists),
                    ", ".join(memo.measures),
                    "yes" if memo.extends_to_legal_representative else "no",
                )
                for memo in policy.memoranda
            ],
        )
    )
    out.print(
        _table(
            "Ratings (advisory)",
            ("rating", "subjects", "base", "range", "bands"),
            [
                (
                    rating.code,
                    rating.subject_kind,
                    str(rating.base),
                    f"{rating.min_score}-{rating.max_score}",
                    " ".join(f"{b.band}>={b.min_score}" for b in rating.bands),
                )
                for rating in policy.ratings
            ],
        )
    )


def _table(title: str, headers: Sequence[str], rows: Iterable[Sequence[str]]) -> Table:
    """A compact table that wraps text at spaces and never cuts a word or a code."""
    table = Table(*headers, title=title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    longest = [max(len(w) for w in h.split()) for h in headers]
    for row in rows:
        table.add_row(*row)
        longest = [
            max(n, *(len(w) for w in cell.split())) for n, cell in zip(longest, row, strict=True)
        ]
    for column, width in zip(table.columns, longest, strict=True):
        column.min_width = width
    table.columns[0].no_wrap = True
    return table


def _kinds(kinds: tuple[str, ...]) -> str:
    return "both" if set(kinds) == {"person", "org"} else ", ".join(kinds)


def register(app: typer.Typer) -> None:
    app.add_typer(policy_app, name="policy")
