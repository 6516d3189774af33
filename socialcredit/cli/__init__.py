"""The ``socialcredit`` command: one Typer app, a sub-module per group of commands."""

from __future__ import annotations

import typer

from socialcredit.cli import demo, derive, ids, ingest, policy, serve, store, synth

app = typer.Typer(
    name="socialcredit",
    help="A rule-of-law social credit information system.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for module in (store, ids, ingest, derive, synth, demo, policy, serve):
    module.register(app)


def main() -> None:
    app()
