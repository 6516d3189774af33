"""``socialcredit serve`` (the HTTP service) and ``socialcredit keys create|revoke|list``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from sqlalchemy import Engine

from socialcredit.cli.common import (
    DbOption,
    JsonOption,
    command,
    console,
    existing_store,
    print_json,
    store_engine,
)
from socialcredit.errors import NotFound
from socialcredit.services import keys as key_service
from socialcredit.services.inquiries import Purpose
from socialcredit.store.policies import policy_in_force


def serve(
    db: DbOption = None,
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="server processes")] = 1,
) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json, docs at /docs) until interrupted."""
    from socialcredit.api.server import serve as run_server

    settings = existing_store(db)
    console.print(
        f"serving on http://{host}:{port} (docs: http://{host}:{port}/docs); Ctrl-C stops"
    )
    run_server(settings, host=host, port=port, workers=workers)


def _known_furnishers(engine: Engine) -> frozenset[str] | None:
    try:
        policy = policy_in_force(engine, dt.date.today()).policy
    except NotFound:
        return None
    return frozenset(f.code for f in policy.furnishers)


def create(
    role: Annotated[key_service.Role, typer.Option("--role", help="the key's role")],
    name: Annotated[str, typer.Option("--name", help="who holds it (subjects see this name)")],
    furnisher: Annotated[
        str | None, typer.Option("--furnisher", help="furnisher code (role furnisher)")
    ] = None,
    subject: Annotated[
        str | None, typer.Option("--subject", help="subject ID (role subject)")
    ] = None,
    rate: Annotated[
        int | None, typer.Option("--rate", min=1, help="requests per minute (default by role)")
    ] = None,
    purpose: Annotated[
        list[Purpose] | None,
        typer.Option(
            "--purpose",
            help="a purpose the key may state (role inquirer; repeat for several; default: "
            "all but court_enforcement)",
        ),
    ] = None,
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """Issue an API key and print it once; only its hash is stored."""
    with store_engine(db) as engine:
        key = key_service.create_key(
            engine,
            role=role,
            name=name,
            furnisher=furnisher,
            subject_id=subject,
            rate_per_minute=rate,
            known_furnishers=_known_furnishers(engine),
            purposes=purpose,
        )
        issued = key_service.describe_key(engine, key.split("_")[1])
    if json_out:
        print_json(
            {
                "key": key,
                "prefix": issued["prefix"],
                "role": role.value,
                "name": issued["name"],
                "purposes": issued["purposes"],
            }
        )
        return
    typer.echo(key)
    console.print(f"{role.value} key for {name!r} issued; it is shown only this once", markup=False)


def revoke(
    key: Annotated[str, typer.Argument(help="the key's prefix, key id, or the key itself")],
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """Revoke an API key; running servers stop accepting it within a second."""
    with store_engine(db) as engine:
        revoked = key_service.revoke_key(engine, key)
    if json_out:
        print_json(revoked)
    else:
        key_named = f"key {revoked['prefix']} ({revoked['name']}, {revoked['role']})"
        if revoked["already_revoked"]:
            console.print(
                f"{key_named} was already revoked at {revoked['revoked_at']:%Y-%m-%d %H:%M:%S} UTC",
                markup=False,
            )
        else:
            console.print(f"{key_named} revoked", markup=False)


def list_keys(db: DbOption = None, json_out: JsonOption = False) -> None:
    """List API keys (prefix, role, binding; never the secret)."""
    with store_engine(db) as engine:
        rows = key_service.list_keys(engine)
    if json_out:
        print_json(rows)
        return
    for row in rows:
        bound = row["furnisher"] or row["subject_id"] or ""
        purposes = f"  purposes: {', '.join(row['purposes'])}" if row["purposes"] else ""
        state = "revoked" if row["revoked"] else "active"
        typer.echo(
            f"{row['key_id']:>5}  {row['prefix']}  {row['role']:<10} {state:<8} "
            f"{bound:<18} {row['name']}{purposes}"
        )


def register(app: typer.Typer) -> None:
    command(app, "serve")(serve)
    keys = typer.Typer(name="keys", help="Issue, list and revoke API keys.", no_args_is_help=True)
    command(keys, "create")(create)
    command(keys, "revoke")(revoke)
    command(keys, "list")(list_keys)
    app.add_typer(keys)
