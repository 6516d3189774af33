"""``socialcredit derive``, ``report ID`` and ``check ID MEASURE``."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer
from rich.console import Console

from socialcredit.cli.common import (
    AsOfOption,
    DbOption,
    JsonOption,
    as_of_option,
    command,
    console,
    existing_store,
    print_json,
    store_engine,
    store_errors,
    whole_table,
)

FullOption = Annotated[
    bool, typer.Option("--full", help="recompute everything (default: incremental when possible)")
]
DeriveAsOfOption = Annotated[
    date | None,
    as_of_option(
        "derive as of this date (default: today); the results become the stored state that "
        "check and report give. To look back without changing it: report ID --as-of"
    ),
]


def derive(
    db: DbOption = None,
    as_of: DeriveAsOfOption = None,
    full: FullOption = False,
    json_out: JsonOption = False,
) -> None:
    """Compute record states, ratings, list entries and decisions into the store."""
    from socialcredit.derive.run import derive as run_derive

    settings = existing_store(db)
    with store_errors():
        result = run_derive(
            settings,
            as_of=as_of,
            full=full,
            progress=lambda stage: console.print(f"[dim]derive:[/] {stage}", highlight=False),
        )
    if result.previous_as_of is not None and result.as_of < result.previous_as_of:
        console.print(
            f"[yellow]note:[/] derived as of {result.as_of}, before the last run's "
            f"{result.previous_as_of}: check, report and the API now give the state of "
            f"{result.as_of} until the next run (report ID --as-of DATE looks back without "
            "changing it)",
            highlight=False,
        )
    if json_out:
        print_json(result.to_json())
        return
    if result.mode == "incremental" and result.subjects == 0:
        console.print(
            f"nothing changed since the last run: incremental run {result.run_id} as of "
            f"{result.as_of} with policy {result.policy_version} found no new events "
            f"({result.seconds:.2f} s)",
            highlight=False,
        )
        return
    lists = ", ".join(f"{code} {n}" for code, n in result.lists.items()) or "none"
    console.print(
        f"derived as of {result.as_of} with policy {result.policy_version} "
        f"({result.mode} run {result.run_id}): {result.subjects} subjects, "
        f"{result.records} records, {result.ratings} ratings, "
        f"{result.list_entries} list entries ({lists}), {result.decisions} decisions "
        f"in {result.seconds:.2f} s",
        highlight=False,
    )


def _text(value: Any) -> str:
    return "-" if value is None else str(value)


def _print_report(data: dict[str, Any]) -> None:
    out = Console()
    subject, source = data["subject"], data["source"]
    out.print(f"[bold]{_text(subject['name'])}[/] {subject['subject_id']} ({subject['kind']})")
    if source["mode"] == "stored":
        out.print(
            f"stored state of run {_text(source['run_id'])}, as of {_text(source['as_of'])}, "
            f"policy {source['policy_version']}"
        )
    else:
        out.print(f"replayed as of {source['as_of']}, policy {source['policy_version']}")
    for status, records in data["records"].items():
        if not records:
            continue
        table = whole_table(
            "furnisher",
            "record",
            "category",
            "decided",
            "document",
            "amount",
            "restorable from",
            "publish until",
            title=f"{status} records",
        )
        for r in records:
            table.add_row(
                r["furnisher"],
                r["record_id"],
                r["category"],
                _text(r["decided_on"]),
                r["document_no"],
                _text(r["amount"]),
                _text(r.get("restorable_from")),
                _text(r.get("publish_until")),
            )
        out.print(table)
    for rating in data["ratings"]:
        out.print(f"rating {rating['rating']}: score {rating['score']}, band {rating['band']}")
        for reason in rating["reasons"]:
            points = f" {reason['points']:+d}" if "points" in reason else ""
            band = f" band {reason['band']}" if "band" in reason else ""
            out.print(f"  {reason['code']}{points}{band}: {', '.join(reason['records'])}")
    if data["list_entries"]:
        # ``end_on`` is the first day out of force: "lifted on", not "until".
        table = whole_table(
            "list", "record", "start", "lifted on", "document", "basis", title="list entries"
        )
        for e in data["list_entries"]:
            table.add_row(
                e["list"],
                f"{e['furnisher']}:{e['record_id']}",
                _text(e["start_on"]),
                _text(e["end_on"]) if e["end_on"] else "no fixed term",
                e["document_no"],
                e["basis"],
            )
        out.print(table)
    if data["measures"]:
        table = whole_table(
            "measure", "effect", "list", "start", "lifted on", "via", title="measures in force"
        )
        for m in data["measures"]:
            via = m["via"]
            table.add_row(
                m["measure"],
                m["effect"],
                m["list"],
                _text(m["start_on"]),
                _text(m["end_on"]) if m["end_on"] else "no fixed term",
                f"{_text(via['name'])} {via['subject_id']}" if via else "-",
            )
        out.print(table)
    else:
        out.print("no measures in force")


def report(
    subject_id: Annotated[str, typer.Argument(help="resident ID or unified social credit code")],
    db: DbOption = None,
    as_of: AsOfOption = None,
    json_out: JsonOption = False,
) -> None:
    """A subject's records, ratings, list entries and measures (stored, or replayed --as-of)."""
    with store_errors():
        from socialcredit.services import report as report_service

        data = report_service.report(existing_store(db), subject_id, as_of=as_of)
    if json_out:
        print_json(data)
    else:
        _print_report(data)


def check(
    subject_id: Annotated[str, typer.Argument(help="resident ID or unified social credit code")],
    measure: Annotated[str, typer.Argument(help="measure code, e.g. flight")],
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """Is the subject restricted from (or granted) the measure today?"""
    from socialcredit.services import check as check_service

    with store_engine(db) as engine, store_errors():
        result = check_service.check(engine, subject_id, measure)
    if json_out:
        print_json(result.to_json())
        return
    verdict = (
        "restricted"
        if result.restricted
        else "granted"
        if result.effect == "granted"
        else "not restricted"
    )
    Console().print(
        f"{result.subject_id} {measure}: {verdict}"
        + ("" if result.known else " (unknown subject)"),
        highlight=False,
    )
    for e in result.entries:
        via = f" via {e['source_subject_id']}" if e["source_subject_id"] else ""
        Console().print(
            f"  {e['list_code']} from {e['start_on']}, "
            + (f"lifted on {e['end_on']}" if e["end_on"] else "no fixed term")
            + f"{via}: {e['document_no']}; {e['basis']}",
            highlight=False,
        )


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    command(app, "derive")(derive)
    command(app, "report")(report)
    command(app, "check")(check)
