"""Oversized, malformed and hostile input: a 4xx with a clear error in the uniform body, and the
store exactly as it was."""

from __future__ import annotations

from typing import Any

from api_harness import SUBJECT, Api, api_fixture, person_id, wait_for  # noqa: F401
from sqlalchemy import func, select

from socialcredit.store.tables import (
    api_keys,
    consents,
    events,
    ingest_batches,
    inquiries,
    quarantine,
    subjects,
)

GOOD = {
    "record_id": "H-1",
    "subject_id": SUBJECT,
    "subject_name": "张三",
    "category": "court.enforcement_case",
    "decided_on": "2026-05-01",
    "document_no": "(2026)京0105执9号",
}
SQL = "Robert'); DROP TABLE events;--"
SCRIPT = "<script>alert(document.cookie)</script>"


def snapshot(api: Api) -> dict[str, int]:
    tables = (events, ingest_batches, quarantine, subjects, api_keys, consents, inquiries)
    with api.engine.connect() as conn:
        return {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in tables
        }


def refused(response: Any, status: int, code: str, *fragments: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code, error
    for fragment in fragments:
        assert fragment in error["message"], (fragment, error["message"])
    return dict(error)


def test_hostile_input_is_refused_and_changes_nothing(api: Api) -> None:
    before = snapshot(api)
    headers = {"Content-Type": "application/json"}

    bad_json = api.post(
        "/v1/records", "furnisher", content=b'{"records": [{"record_id": ', headers=headers
    )
    refused(bad_json, 422, "validation_failed", "JSON")
    # A body that is not JSON at all is the caller's second problem: no key is 401 and another
    # role's key 403, as for a body that parses (FastAPI reads the body first).
    for path in ("/v1/records", "/v1/me/consents", "/v1/keys", "/v1/review/1/reject"):
        refused(api.post(path, None, content=b"garbage", headers=headers), 401, "unauthenticated")
        refused(api.post(path, "integrator", content=b"garbage", headers=headers), 403, "forbidden")
        not_utf8 = b'{"records": "\xff\xfe"}'
        refused(api.post(path, None, content=not_utf8, headers=headers), 401, "unauthenticated")
    not_json = api.post("/v1/records", "furnisher", content="records=1", headers=headers)
    refused(not_json, 422, "validation_failed")
    wrong_shape = api.post("/v1/records", "furnisher", json={"records": {"record_id": "x"}})
    refused(wrong_shape, 422, "validation_failed", "records")
    unknown_field = api.post(
        "/v1/records", "furnisher", json={"records": [{**GOOD, "owner": "me"}]}
    )
    refused(unknown_field, 422, "validation_failed", "owner")

    # A check of an identifier with a NUL is refused, and audited without it: PostgreSQL text
    # cannot hold one, and one such row would make every audit flush fail.
    refused(api.get("/v1/checks/flight/%00" + "1" * 17, "integrator"), 422, "invalid_identifier")
    assert api.get(f"/v1/checks/flight/{SUBJECT}", "integrator").status_code == 200

    def audited() -> list[str]:
        rows = api.get("/v1/audit", "operator", params={"limit": 1000}).json()
        return [r["subject_id"] for r in rows if r["route"].startswith("/v1/checks/")]

    wait_for(lambda: SUBJECT in audited(), timeout=3.0)
    assert "1" * 17 in audited()

    # A NUL is in no identifier (and PostgreSQL text cannot hold one): 422, not a server error.
    for spelled in ("\x00", "|\x0e\x00"):
        searched = api.get("/v1/audit", "operator", params={"subject_id": spelled})
        refused(searched, 422, "validation_failed", "control characters")

    # Key references that only look numeric ("³" passes str.isdigit(); 25 digits overflow a key
    # id), or hold a NUL (which PostgreSQL text cannot).
    for ref in ("%C2%B3", "9" * 25, "ab%00cd"):
        refused(api.call("DELETE", f"/v1/keys/{ref}", "operator"), 404, "not_found")

    too_many = api.post("/v1/records", "furnisher", json={"records": [GOOD] * 10_001})
    refused(too_many, 422, "validation_failed", "10000")
    huge = api.post(
        "/v1/records", "furnisher", content=b"[" + b" " * (17 * 1024 * 1024) + b"]", headers=headers
    )
    refused(huge, 413, "payload_too_large")

    def chunks() -> Any:  # no Content-Length: sent chunked, over the limit only as it is read
        yield b"["
        for _ in range(17):
            yield b" " * (1024 * 1024)
        yield b"]"

    for path, role in (("/v1/records", "furnisher"), ("/v1/me/consents", "subject")):
        refused(api.post(path, role, content=chunks(), headers=headers), 413, "payload_too_large")
    other_purpose = {"inquirer": "Acme Bank", "action": "grant", "purpose": "tenancy"}
    error = refused(
        api.post("/v1/me/consents", "subject", json=other_purpose), 422, "validation_failed"
    )
    assert "'employment'" in error["message"] and "Purpose." not in error["message"]

    for name in (SQL, SCRIPT):
        rows = {"records": [GOOD, {**GOOD, "record_id": "H-2", "subject_name": name}]}
        error = refused(api.post("/v1/records", "furnisher", json=rows), 422, "validation_failed")
        assert error["details"][0]["location"] == ["body", "records", "1", "subject_name"]
        consent = api.post("/v1/me/consents", "subject", json={"inquirer": name, "action": "grant"})
        refused(consent, 422, "validation_failed", "inquirer")
        key = api.post("/v1/keys", "operator", json={"role": "inquirer", "name": name})
        refused(key, 422, "validation_failed", "name")
        search = api.get("/v1/lists/court_defaulters/entries", params={"q": name})
        refused(search, 422, "validation_failed", "q")

    invalid = "110105198001010010"
    refused(
        api.get(f"/v1/subjects/{invalid}/report", "inquirer", params={"purpose": "tenancy"}),
        422,
        "invalid_identifier",
        invalid,
    )
    refused(
        api.get("/v1/checks/flight/<img src=x onerror=alert(1)>", "integrator"),
        422,
        "invalid_identifier",
    )
    refused(api.get("/v1/checks/flight/' OR 1=1 --", "integrator"), 422, "invalid_identifier")
    refused(
        api.post(
            "/v1/keys", "operator", json={"role": "subject", "name": "x", "subject_id": invalid}
        ),
        422,
        "invalid_identifier",
        invalid,
    )
    refused(api.get("/v1/batches/1 OR 1=1", "furnisher"), 422, "validation_failed")
    refused(
        api.get("/v1/lists/court_defaulters/entries", params={"page": "0"}),
        422,
        "validation_failed",
    )
    refused(api.get("/v1/lists/x';--/entries"), 422, "validation_failed")
    refused(api.call("PUT", "/v1/records", "furnisher", json={}), 405, "method_not_allowed")
    refused(api.get("/v1/nowhere"), 404, "not_found")

    assert snapshot(api) == before


def test_names_from_real_registers_pass(api: Api) -> None:
    """The name rule does not refuse ordinary names: CJK with middle dots, Latin, brackets."""
    names = ["阿卜杜拉·买买提", "O'Brien & Sons (Beijing) Co., Ltd.", "北京某某（集团）有限公司"]
    rows = [
        {**GOOD, "record_id": f"N-{i}", "subject_id": person_id(600 + i), "subject_name": n}
        for i, n in enumerate(names)
    ]
    answer = api.post("/v1/records", "furnisher", json={"records": rows})
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["accepted"]) == 3
