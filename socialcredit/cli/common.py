"""What every command shares: the --db option, settings, JSON output and error reporting."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from socialcredit.errors import NotFound, SocialCreditError, StoreError
from socialcredit.settings import Settings, load_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db", envvar="SOCIALCREDIT_DB", help="store URL (sqlite:///FILE or postgresql://...)"
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print machine-readable JSON")]


def calendar_date(value: str) -> date:
    """A YYYY-MM-DD option value; one that is not a real day says so."""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value.strip()):
        raise typer.BadParameter(f"{value!r} is not a date in the form YYYY-MM-DD")
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise typer.BadParameter(f"{value} is not a real date ({exc})") from exc


def as_of_option(help: str) -> Any:
    """The ``--as-of YYYY-MM-DD`` option, its help saying what the date does to the command."""
    return typer.Option("--as-of", parser=calendar_date, metavar="YYYY-MM-DD", help=help)


AsOfOption = Annotated[date | None, as_of_option("replay as of this date (YYYY-MM-DD)")]

console = Console(stderr=True)  # progress and human messages; stdout stays clean for --json


def settings_for(db: str | None) -> Settings:
    return load_settings().with_db(db)


def existing_store(db: str | None) -> Settings:
    """Settings for a command that uses a store ``init`` made: refused before anything opens it
    when a SQLite store's file does not exist (SQLite would create an empty file there)."""
    from socialcredit.store.engine import sqlite_file

    settings = settings_for(db)
    path = sqlite_file(settings.db)
    if path is not None and not path.exists():
        raise NotFound(
            f"no store at {path}: run `{program()} init --db {shlex.quote(settings.db)}` "
            "first, or name another store with --db or SOCIALCREDIT_DB"
        )
    return settings


def program() -> str:
    """This program as the user can run it from here: its name when the shell finds this very
    program by that name, else its path (relative, when it lies below the current directory,
    as ``.venv/bin/socialcredit`` does for ``scripts/demo``)."""
    invoked = Path(sys.argv[0]).resolve()
    if not invoked.is_file():  # not run as a program (``python -c``, a test runner)
        return "socialcredit"
    found = shutil.which(invoked.name)
    if found is not None and Path(found).resolve() == invoked:
        return invoked.name
    try:
        below = invoked.relative_to(Path.cwd().resolve())
    except ValueError:
        return shlex.quote(str(invoked))
    return shlex.quote(str(below) if len(below.parts) > 1 else f"./{below}")


@contextmanager
def store_errors() -> Iterator[None]:
    """A store that cannot be reached is a one-line error, not a traceback."""
    import sqlalchemy.exc

    try:
        yield
    except sqlalchemy.exc.DatabaseError as exc:  # unreachable, not a database, damaged
        raise StoreError(f"cannot use the store: {exc.orig}") from None


@contextmanager
def store_engine(db: str | None) -> Iterator[Engine]:
    """The engine of an existing store for one command, disposed when it is done."""
    from socialcredit.store.engine import make_engine  # SQLAlchemy loads when a command needs it

    engine = make_engine(existing_store(db).db)
    try:
        yield engine
    finally:
        engine.dispose()


def _default(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def whole_table(*headers: str, title: str | None = None, ids: Sequence[str] = ()) -> Table:
    """A table whose cells are never cut short (long ones fold onto more lines), and whose
    ``ids`` columns stay on one line: identifiers are copied into the next command."""
    table = Table(title=title)
    for header in headers:
        if header in ids:
            table.add_column(header, no_wrap=True, min_width=18)
        else:
            table.add_column(header, overflow="fold")
    return table


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=_default, indent=2) + "\n")


def print_json_error(code: str, message: str, details: Any) -> None:
    """The error as ``{"error": {code, message, details}}`` on one line of stdout."""
    error = {"code": code, "message": message, "details": details}
    sys.stdout.write(json.dumps({"error": error}, ensure_ascii=False, default=str) + "\n")


@contextmanager
def reported_errors(json_out: bool = False) -> Iterator[None]:
    """Turn the error tree into a one-line message and a non-zero exit; never a traceback. With
    ``json_out`` the error is also printed to stdout as ``{"error": {code, message, details}}``,
    for scripts that read the command's JSON."""
    import sqlalchemy.exc

    def report(code: str, message: str, details: Any, exit_code: int) -> typer.Exit:
        console.print(f"[bold red]error[/] ({code}): {escape(message)}", highlight=False)
        if json_out:
            print_json_error(code, message, details)
        return typer.Exit(code=exit_code)

    try:
        yield
    except SocialCreditError as exc:
        raise report(exc.code, exc.message, exc.details, 2 if exc.status < 500 else 1) from exc
    # Unreachable, bad credentials, locked; or (ProgrammingError) a PostgreSQL database that
    # ``init`` never set up.
    except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.ProgrammingError) as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise report("store_error", f"cannot use the store: {reason}", None, 1) from exc


def command(app: typer.Typer, name: str, **kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
    """``app.command`` whose body runs inside ``reported_errors``."""

    def wrap(func: Callable[..., Any]) -> Any:
        import functools

        @functools.wraps(func)
        def run(*args: Any, **kw: Any) -> Any:
            with reported_errors(json_out=bool(kw.get("json_out"))):
                return func(*args, **kw)

        return app.command(name, **kwargs)(run)

    return wrap
