"""``socialcredit init``: create or upgrade a store and load a policy version into it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from socialcredit.cli.common import DbOption, JsonOption, command, console, print_json, settings_for
from socialcredit.policy.load import load_default, load_policy
from socialcredit.store.engine import make_engine, upgrade
from socialcredit.store.policies import save_policy


def init(
    db: DbOption = None,
    policy: Annotated[
        Path | None,
        typer.Option("--policy", help="policy TOML (default: the shipped national policy)"),
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Create (or upgrade) the store and load the policy version; safe to run again."""
    settings = settings_for(db)
    loaded = load_policy(policy) if policy else load_default()  # a bad file fails before the store
    engine = make_engine(settings.db)
    try:
        upgrade(engine)
        added = save_policy(engine, loaded)
    finally:
        engine.dispose()
    header = loaded.policy.policy
    summary = {
        "db": engine.url.render_as_string(hide_password=True),
        "policy_version": header.version,
        "effective_from": header.effective_from,
        "policy_added": added,
    }
    if json_out:
        print_json(summary)
    else:
        state = "loaded" if added else "already loaded"
        console.print(
            f"store ready at {summary['db']}; policy {header.version} "
            f"(in force from {header.effective_from}) {state}"
        )


def register(app: typer.Typer) -> None:
    command(app, "init")(init)
