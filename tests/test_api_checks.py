"""Restriction checks over HTTP: records furnished over the API, derived, and seen by the decision
index within 2 s without a restart; the index agrees with the store's own check service."""

from __future__ import annotations

import datetime as dt
from typing import Any

from api_harness import Api, api_fixture, org_id, person_id, wait_for  # noqa: F401

from socialcredit.services.check import check as service_check

DAY = (dt.date.today() - dt.timedelta(days=10)).isoformat()
DEBTOR = person_id(101)
COMPANY = org_id(202)
BOSS = person_id(303)


def defaulter(record_id: str, subject_id: str, name: str, **extra: str) -> dict[str, str]:
    return {
        "record_id": record_id,
        "subject_id": subject_id,
        "subject_name": name,
        "category": "court.dishonest_defaulter",
        "decided_on": DAY,
        "document_no": f"(2026)京0105执{record_id}号",
        **extra,
    }


def furnish(api: Api, role: str, *rows: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/v1/records", role, json={"records": list(rows)})
    assert response.status_code == 200, response.text
    return response.json()


def restricted(api: Api, subject_id: str, measure: str = "flight") -> bool:
    response = api.get(f"/v1/checks/{measure}/{subject_id}", "integrator")
    assert response.status_code == 200, response.text
    return bool(response.json()["restricted"])


def test_a_record_furnished_over_the_api_changes_the_check_within_2s(api: Api, run: Any) -> None:
    run("derive", "--db", api.db)  # a first, full run; the next one is incremental
    assert not restricted(api, DEBTOR)
    answer = furnish(api, "furnisher", defaulter("D-1", DEBTOR, "李四"))
    assert [r["row"] for r in answer["accepted"]] == [1] and not answer["rejected"]

    derived = run("derive", "--db", api.db, "--json")
    assert '"incremental"' in derived.stdout
    took = wait_for(lambda: restricted(api, DEBTOR), timeout=2.0)
    print(f"check changed {took:.2f} s after the derivation")
    body = api.get(f"/v1/checks/flight/{DEBTOR}", "integrator").json()
    assert body["known"] is True
    assert [e["list_code"] for e in body["entries"]] == ["court_defaulters"]
    assert body["entries"][0]["start_on"] == DAY and body["policy_version"] == "CN-2026.1"

    # The furnisher revokes its record: the restriction ends within 2 s of the next derivation.
    revoke = defaulter(
        "D-1", DEBTOR, "李四", action="revoke", decided_on=dt.date.today().isoformat()
    )
    assert [r["row"] for r in furnish(api, "furnisher", revoke)["accepted"]] == [1]
    run("derive", "--db", api.db)
    wait_for(lambda: not restricted(api, DEBTOR), timeout=2.0)


def test_index_agrees_with_the_check_service_including_legal_representatives(
    api: Api, run: Any
) -> None:
    market_key = run(
        "keys",
        "create",
        "--role",
        "furnisher",
        "--name",
        "SAMR",
        "--furnisher",
        "market",
        "--db",
        api.db,
    ).stdout.strip()
    api.keys["market"] = market_key
    registration = {
        "record_id": "REG-1",
        "subject_id": COMPANY,
        "subject_name": "北京某某科技有限公司",
        "category": "registration.basic",
        "decided_on": "2020-01-02",
        "document_no": "京市监登字2020第1号",
        "legal_rep_id": BOSS,
    }
    furnish(api, "market", registration)
    furnish(
        api,
        "furnisher",
        defaulter("D-2", COMPANY, "北京某某科技有限公司"),
        defaulter("D-3", DEBTOR, "李四"),
    )
    run("derive", "--db", api.db)
    stranger = person_id(404)
    wait_for(lambda: restricted(api, BOSS), timeout=2.0)  # extended through the memorandum

    measures = [m["code"] for m in api.get("/v1/policy").json()["measures"]]
    for measure in measures:
        subjects = [DEBTOR, COMPANY, BOSS, stranger]
        batch = api.post(
            "/v1/checks", "integrator", json={"measure": measure, "subjects": subjects}
        ).json()
        for subject_id, result in zip(subjects, batch["results"], strict=True):
            expected = service_check(api.engine, subject_id, measure)
            assert result["subject_id"] == subject_id
            assert result["restricted"] == expected.restricted, (measure, subject_id)
            assert result["known"] == expected.known, (measure, subject_id)
            assert sorted(e["list_code"] for e in result["entries"]) == sorted(
                e["list"] for e in expected.entries
            ), (measure, subject_id)
            via = {e["source_subject_id"] for e in result["entries"]}
            assert via == {e["via_subject"] for e in expected.entries}
    flight = api.get(f"/v1/checks/flight/{BOSS}", "integrator").json()
    assert flight["entries"][0]["source_subject_id"] == COMPANY


def test_batch_limits_and_identifier_errors(api: Api) -> None:
    unknown = person_id(505)
    full_width = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in unknown)
    body = api.post(
        "/v1/checks", "integrator", json={"measure": "flight", "subjects": [full_width]}
    ).json()
    assert body["results"][0] == {
        "subject_id": unknown,
        "known": False,
        "restricted": False,
        "granted": False,
        "end_on": None,
        "policy_version": "CN-2026.1",
        "entries": [],
    }
    too_many = api.post(
        "/v1/checks", "integrator", json={"measure": "flight", "subjects": [unknown] * 1001}
    )
    assert too_many.status_code == 422
    assert too_many.json()["error"]["code"] == "validation_failed"
    none = api.post("/v1/checks", "integrator", json={"measure": "flight", "subjects": []})
    assert none.status_code == 422

    bad = api.post(
        "/v1/checks",
        "integrator",
        json={"measure": "flight", "subjects": [unknown, "110105198001010010", "<script>"]},
    )
    assert bad.status_code == 422
    error = bad.json()["error"]
    assert "'110105198001010010'" in error["message"] and "'<script>'" in error["message"]
    assert [d["index"] for d in error["details"]] == [1, 2]

    one = api.get("/v1/checks/flight/110105198001010010", "integrator")
    assert one.status_code == 422
    assert one.json()["error"]["details"]["value"] == "110105198001010010"
    assert api.get(f"/v1/checks/teleport/{unknown}", "integrator").status_code == 404
    wrong_measure = api.post(
        "/v1/checks", "integrator", json={"measure": "teleport", "subjects": [unknown]}
    )
    assert wrong_measure.status_code == 422
    assert "flight" in wrong_measure.json()["error"]["details"]["known"]
