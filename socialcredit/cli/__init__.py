"""The ``socialcredit`` command: one Typer app, a sub-module per group of commands."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Sequence

import typer
from rich.markup import escape

from socialcredit.cli import demo, derive, ids, ingest, policy, serve, store, synth
from socialcredit.cli.common import console, print_json_error

app = typer.Typer(
    name="socialcredit",
    help="A rule-of-law social credit information system.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for module in (store, ids, ingest, derive, synth, demo, policy, serve):
    module.register(app)


def _usage_details(exc: typer.TyperException, argv: Sequence[str]) -> dict[str, str | None]:
    """Which command and option a usage error is about, as far as Click knows (else the
    command words before the first option)."""
    context = getattr(exc, "ctx", None)
    param = getattr(exc, "param", None)
    named = getattr(exc, "option_name", None)  # an unknown option, as typed
    if named is None and param is not None:  # an option as the user types it, or an argument
        named = param.opts[0] if param.opts else param.name
    if context is not None:
        path = context.command_path
    else:
        words = list(itertools.takewhile(lambda w: not w.startswith("-"), argv))
        path = " ".join([app.info.name or "socialcredit", *words])
    return {"command": path, "parameter": named}


def main(args: Sequence[str] | None = None) -> None:
    """Run the command line. A script that asked for ``--json`` reads every failure as JSON on
    stdout, usage errors (an unknown option, a value that does not parse) included: Click
    reports those before any command runs, so they are caught here."""
    argv = list(sys.argv[1:] if args is None else args)
    if "--json" not in argv:
        app(args=argv)
        return
    try:
        result = app(args=argv, standalone_mode=False)
    except typer.TyperException as exc:  # Click's usage errors, as Typer raises them
        # One line: Click lays some messages out over several (choices, one per line).
        message, details = " ".join(exc.format_message().split()), _usage_details(exc, argv)
        console.print(f"[bold red]error[/] (usage_error): {escape(message)}", highlight=False)
        if details["command"]:
            console.print(f"Try '{details['command']} --help' for help.", highlight=False)
        print_json_error("usage_error", message, details)
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    # An int is an exit code (``typer.Exit``); no command returns a value of its own.
    sys.exit(result if type(result) is int else 0)
