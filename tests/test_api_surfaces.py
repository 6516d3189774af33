"""Each surface over HTTP: furnishers, inquirers and subjects, the public lists, operators."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from api_harness import (  # noqa: F401
    INQUIRER_NAME,
    SUBJECT,
    Api,
    api_fixture,
    market_furnisher_key,
    org_id,
    person_id,
    register_subjects,
    wait_for,
)
from ingest_support import unfolded
from sqlalchemy import func, select

from socialcredit import ids
from socialcredit.store.tables import api_keys, events

DAY = (dt.date.today() - dt.timedelta(days=30)).isoformat()


def row(record_id: str, subject_id: str, category: str, **extra: Any) -> dict[str, Any]:
    return {
        "record_id": record_id,
        "subject_id": subject_id,
        "subject_name": extra.pop("subject_name", "张三"),
        "category": category,
        "decided_on": DAY,
        "document_no": f"DOC-{record_id}",
        **extra,
    }


def test_furnisher_rows_are_accepted_duplicate_or_rejected_with_reasons(api: Api) -> None:
    rows = [
        row("R-1", SUBJECT, "court.enforcement_case", amount="1200.50"),
        row("R-2", SUBJECT, "tax.arrears"),  # court may not furnish tax records
        row("R-3", "110105198001010010", "court.enforcement_case"),  # bad check character
        row("R-4", SUBJECT, "court.enforcement_case", decided_on="2026-02-30"),
    ]
    first = api.post("/v1/records", "furnisher", json={"records": rows})
    assert first.status_code == 200, first.text
    answer = first.json()
    assert [r["row"] for r in answer["accepted"]] == [1]
    assert answer["read"] == 4 and answer["duplicates"] == []
    reasons = {r["row"]: r["reason_code"] for r in answer["rejected"]}
    assert reasons == {2: "furnisher_not_authorised", 3: "id_invalid", 4: "date_invalid"}
    assert next(r for r in answer["rejected"] if r["row"] == 3)["review_id"] is not None

    again = api.post("/v1/records", "furnisher", json={"records": rows[:1]}).json()
    assert again["accepted"] == [] and [r["record_id"] for r in again["duplicates"]] == ["R-1"]

    status = api.get(f"/v1/batches/{answer['batch_id']}", "furnisher").json()
    assert (status["read"], status["accepted"], status["quarantined"]) == (4, 1, 3)
    assert [r["row"] for r in status["rejected"]] == [2, 3, 4]


def test_a_furnisher_changes_only_its_own_records(api: Api, run: Any) -> None:
    api.post(
        "/v1/records",
        "furnisher",
        json={"records": [row("R-9", SUBJECT, "court.enforcement_case")]},
    )
    tax_key = run(
        "keys",
        "create",
        "--role",
        "furnisher",
        "--name",
        "Tax",
        "--furnisher",
        "tax",
        "--db",
        api.db,
    ).stdout.strip()
    revoke = row("R-9", SUBJECT, "court.enforcement_case", action="revoke")
    answer = api.post(
        "/v1/records", json={"records": [revoke]}, headers={"Authorization": f"Bearer {tax_key}"}
    ).json()
    assert [r["reason_code"] for r in answer["rejected"]] == ["furnisher_not_authorised"]
    tax_revoke = row("R-9", SUBJECT, "tax.arrears", action="revoke")
    answer = api.post(
        "/v1/records",
        json={"records": [tax_revoke]},
        headers={"Authorization": f"Bearer {tax_key}"},
    ).json()
    assert [r["reason_code"] for r in answer["rejected"]] == ["record_unknown"]
    # Nor can it read the court's batch.
    other = api.get("/v1/batches/1", headers={"Authorization": f"Bearer {tax_key}"})
    assert other.status_code == 404


def test_rating_reasons_name_only_what_the_purpose_may_see(api: Api, run: Any) -> None:
    """A rating's reasons name records and categories: an inquirer is shown only those its
    purpose allows (an unpublished bank record only to court enforcement)."""
    bank_key = run(
        "keys",
        "create",
        "--role",
        "furnisher",
        "--name",
        "Bank",
        "--furnisher",
        "bank",
        "--db",
        api.db,
    ).stdout.strip()
    court = api.post(
        "/v1/records",
        "furnisher",
        json={"records": [row("R-7", SUBJECT, "court.enforcement_case")]},
    )
    bank = api.post(
        "/v1/records",
        json={"records": [row("L-8", SUBJECT, "finance.loan_default", amount="1000.00")]},
        headers={"Authorization": f"Bearer {bank_key}"},
    )
    assert len(court.json()["accepted"]) == len(bank.json()["accepted"]) == 1, bank.text
    run("derive", "--db", api.db)
    path = f"/v1/subjects/{SUBJECT}/report"

    def reasons(purpose: str) -> list[tuple[str, list[str]]]:
        answer = api.get(path, "inquirer", params={"purpose": purpose})
        assert answer.status_code == 200, answer.text
        (rating,) = answer.json()["ratings"]
        return sorted((r["code"], r["records"]) for r in rating["reasons"])

    refused = api.get(path, "inquirer", params={"purpose": "court_enforcement"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "purpose_not_allowed"
    court_inquirer = run(
        "keys",
        "create",
        "--role",
        "inquirer",
        "--name",
        "Enforcement Bureau",
        "--purpose",
        "court_enforcement",
        "--db",
        api.db,
    ).stdout.strip()
    court_report = api.get(
        path,
        params={"purpose": "court_enforcement"},
        headers={"Authorization": f"Bearer {court_inquirer}"},
    )
    (rating,) = court_report.json()["ratings"]
    assert sorted((r["code"], r["records"]) for r in rating["reasons"]) == [
        ("court.enforcement_case", ["court:R-7"]),
        ("finance.loan_default", ["bank:L-8"]),
    ]
    other = api.get(
        path,
        params={"purpose": "credit_decision"},
        headers={"Authorization": f"Bearer {court_inquirer}"},
    )
    assert other.status_code == 403 and other.json()["error"]["details"]["allowed"] == [
        "court_enforcement"
    ]
    assert reasons("credit_decision") == [
        ("court.enforcement_case", ["court:R-7"]),
        ("undisclosed", []),
    ]
    assert reasons("tenancy") == [("court.enforcement_case", []), ("undisclosed", [])]


def test_an_inquirer_name_is_held_by_one_active_key(api: Api, run: Any) -> None:
    """Consents name the inquirer: a second active inquirer key of the same name (whatever its
    case or spacing) is refused, through the CLI and the API, until the first is revoked."""
    same = run(
        "keys",
        "create",
        "--role",
        "inquirer",
        "--name",
        f" {INQUIRER_NAME.upper()} ",
        "--db",
        api.db,
        ok=False,
    )
    assert same.exit_code != 0 and "alreadynamed" in unfolded(same.stderr + same.stdout)
    taken = api.post("/v1/keys", "operator", json={"role": "inquirer", "name": INQUIRER_NAME})
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "conflict"
    narrow = api.post(
        "/v1/keys",
        "operator",
        json={"role": "inquirer", "name": "Tenancy Agent", "purposes": ["tenancy"]},
    )
    assert narrow.status_code == 201, narrow.text
    assert narrow.json()["purposes"] == ["tenancy"] and narrow.json()["created_at"]
    none = api.post(
        "/v1/keys", "operator", json={"role": "inquirer", "name": "Shy Bank", "purposes": []}
    )
    assert none.status_code == 422 and "at least one purpose" in none.json()["error"]["message"]
    wrong = api.post(
        "/v1/keys", "operator", json={"role": "integrator", "name": "Rail", "purposes": ["tenancy"]}
    )
    assert wrong.status_code == 422 and "only inquirer keys" in wrong.json()["error"]["message"]

    prefix = api.keys["inquirer"].split("_")[1]
    run("keys", "revoke", prefix, "--db", api.db)
    again = api.post("/v1/keys", "operator", json={"role": "inquirer", "name": INQUIRER_NAME})
    assert again.status_code == 201
    assert again.json()["purposes"] == [
        "credit_decision",
        "tenancy",
        "employment",
        "business_partner",
        "procurement",
    ]


def test_inquiry_by_purpose_is_recorded_and_shown_to_the_subject(api: Api, run: Any) -> None:
    api.post(
        "/v1/records",
        "furnisher",
        json={"records": [row("R-5", SUBJECT, "court.enforcement_case")]},
    )
    run("derive", "--db", api.db)
    path = f"/v1/subjects/{SUBJECT}/report"

    tenancy = api.get(path, "inquirer", params={"purpose": "tenancy"})
    assert tenancy.status_code == 200, tenancy.text
    assert tenancy.json()["records"] is None and tenancy.json()["ratings"]
    credit = api.get(path, "inquirer", params={"purpose": "credit_decision"}).json()
    assert [r["record_id"] for r in credit["records"]] == ["R-5"]

    assert api.get(path, "inquirer", params={"purpose": "curiosity"}).status_code == 422
    assert api.get(path, "inquirer").status_code == 422
    refused = api.get(path, "inquirer", params={"purpose": "employment"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "consent_required"

    nobody = api.post(
        "/v1/me/consents", "subject", json={"inquirer": "Nobody Corp", "action": "grant"}
    )
    assert nobody.status_code == 404 and "no inquirer named" in nobody.json()["error"]["message"]
    spelled = f"  {INQUIRER_NAME.lower()} "  # the name as a subject may type it
    grant = api.post("/v1/me/consents", "subject", json={"inquirer": spelled, "action": "grant"})
    assert grant.status_code == 200 and grant.json()["withdrawn_at"] is None
    assert grant.json()["inquirer"] == INQUIRER_NAME  # kept as the key names it
    assert api.get(path, "inquirer", params={"purpose": "employment"}).status_code == 200
    api.post("/v1/me/consents", "subject", json={"inquirer": INQUIRER_NAME, "action": "withdraw"})
    assert api.get(path, "inquirer", params={"purpose": "employment"}).status_code == 403

    seen = api.get("/v1/me/inquiries", "subject").json()
    assert [(i["inquirer"], i["purpose"]) for i in seen] == [
        (INQUIRER_NAME, "employment"),
        (INQUIRER_NAME, "credit_decision"),
        (INQUIRER_NAME, "tenancy"),
    ]
    assert seen[1]["shown"]["records"] == 1 and "records" not in seen[2]["shown"]["sections"]

    mine = api.get("/v1/me/report", "subject").json()
    assert mine["subject"]["subject_id"] == SUBJECT
    assert [r["record_id"] for r in mine["records"]["active"]] == ["R-5"]
    assert mine["rating_models"][0]["code"] == "person_score"
    assert mine["restoration"][0]["record_id"] == "R-5"


def test_public_lists_show_masked_persons_and_named_organisations(api: Api, run: Any) -> None:
    person, company, boss = person_id(11), org_id(12), person_id(13)
    market = market_furnisher_key(run, api.db)
    registration = row(
        "REG",
        company,
        "registration.basic",
        subject_name="某某有限公司",
        legal_rep_id=boss,
        decided_on="2020-01-01",
    )
    api.post(
        "/v1/records",
        json={"records": [registration]},
        headers={"Authorization": f"Bearer {market}"},
    )
    api.post(
        "/v1/records",
        "furnisher",
        json={
            "records": [
                row("D-1", person, "court.dishonest_defaulter", subject_name="王五"),
                row("D-2", company, "court.dishonest_defaulter", subject_name="某某有限公司"),
            ]
        },
    )
    # the legal representative's name comes from the registry
    register_subjects(api.engine, {boss: "赵六"})
    run("derive", "--db", api.db)

    lists = {entry["code"]: entry for entry in api.get("/v1/lists").json()}
    assert lists["court_defaulters"]["entries"] == 2
    page = api.get("/v1/lists/court_defaulters/entries").json()
    by_kind = {e["kind"]: e for e in page["entries"]}
    assert by_kind["person"]["name"] == "王五"
    assert by_kind["person"]["masked_id"] == ids.mask(person)
    assert "subject_id" not in by_kind["person"] and person not in str(page)
    assert by_kind["org"]["subject_id"] == company
    assert by_kind["org"]["legal_rep_name"] == "赵六"
    found = api.get("/v1/lists/court_defaulters/entries", params={"q": "王"}).json()
    assert [e["name"] for e in found["entries"]] == ["王五"]
    later = api.get("/v1/lists/court_defaulters/entries", params={"changed_since": "2099-01-01"})
    assert later.json()["entries"] == []
    assert api.get("/v1/lists/no_such_list/entries").status_code == 404
    policy = api.get("/v1/policy").json()
    assert policy["policy"]["version"] == "CN-2026.1" and policy["ratings"]


def test_operator_keys_audit_and_revocation(api: Api) -> None:
    issued = api.post(
        "/v1/keys", "operator", json={"role": "integrator", "name": "Airline", "rate_per_minute": 2}
    )
    assert issued.status_code == 201
    key = issued.json()["key"]
    with api.engine.connect() as conn:
        stored = conn.execute(select(api_keys.c.prefix, api_keys.c.key_hash)).all()
    assert all(key not in (p, h) and key.split("_")[2] not in (p, h) for p, h in stored)

    headers = {"Authorization": f"Bearer {key}"}
    path = f"/v1/checks/flight/{SUBJECT}"
    statuses = [api.get(path, headers=headers).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]

    prefix = issued.json()["prefix"]
    revoked = api.call("DELETE", f"/v1/keys/{prefix}", "operator").json()
    assert revoked["revoked"] is True and revoked["already_revoked"] is False
    assert revoked["revoked_at"].endswith(("Z", "+00:00"))
    assert api.get(path, headers=headers).status_code == 401
    again = api.call("DELETE", f"/v1/keys/{prefix}", "operator").json()
    assert again["already_revoked"] is True and again["revoked_at"] == revoked["revoked_at"]

    audit = api.get("/v1/audit", "operator", params={"limit": 1000}).json()
    mine = [a for a in audit if a["key_id"] == issued.json()["key_id"]]
    assert [a["outcome"] for a in reversed(mine)] == ["ok", "ok", "rate_limited"]
    assert all(
        a["subject_id"] == SUBJECT and a["route"] == "/v1/checks/{measure}/{subject_id}"
        for a in mine
    )
    assert any(a["outcome"] == "unauthenticated" for a in audit)


def test_keys_cli_binds_and_revokes(api: Api, run: Any) -> None:
    refused = run("keys", "create", "--role", "subject", "--name", "x", "--db", api.db, ok=False)
    assert refused.exit_code == 2 and "--subject" in refused.stderr
    wrong = run(
        "keys",
        "create",
        "--role",
        "furnisher",
        "--name",
        "x",
        "--furnisher",
        "police",
        "--db",
        api.db,
        ok=False,
    )
    assert wrong.exit_code == 2 and "unknown furnisher 'police'" in wrong.stderr
    key = api.keys["integrator"]
    run("keys", "revoke", key.split("_")[1], "--db", api.db)
    wait_for(lambda: api.get(f"/v1/checks/flight/{SUBJECT}", "integrator").status_code == 401)
    listed = run("keys", "list", "--db", api.db).stdout
    assert "revoked" in listed and key not in listed
    with api.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(events)).scalar_one() == 0


def test_a_subject_nothing_was_furnished_about_sees_an_empty_report_of_the_last_run(
    api: Api, run: Any
) -> None:
    derived = json.loads(run("derive", "--db", api.db, "--json").stdout)
    stranger = person_id(999)
    key = run(
        "keys",
        "create",
        "--role",
        "subject",
        "--name",
        "Stranger",
        "--subject",
        stranger,
        "--db",
        api.db,
    ).stdout.strip()
    mine = api.get("/v1/me/report", headers={"Authorization": f"Bearer {key}"})
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert body["subject"]["subject_id"] == stranger and body["ratings"] == []
    assert body["source"]["run_id"] == derived["run_id"]
    assert body["source"]["as_of"] == derived["as_of"]
