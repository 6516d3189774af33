"""Every route with every role: 401 without a key or with a bad one, 403 for a wrong role, and
served (neither 401 nor 403, never 5xx) for the roles the design allows. The table below is the
design; a route the app serves that is not in it fails the test."""

from __future__ import annotations

from typing import Any

from api_harness import SUBJECT, Api, api_fixture  # noqa: F401

PUBLIC = frozenset({"public"})
ROLES = ("furnisher", "inquirer", "integrator", "subject", "operator")
RECORD = {
    "record_id": "R-1",
    "subject_id": SUBJECT,
    "subject_name": "张三",
    "category": "court.enforcement_case",
    "decided_on": "2026-05-01",
    "document_no": "(2026)京0105执1号",
}

# (method, route template) -> (concrete path, JSON body or None, roles allowed)
DESIGN: dict[tuple[str, str], tuple[str, Any, frozenset[str]]] = {
    ("GET", "/healthz"): ("/healthz", None, PUBLIC),
    ("GET", "/v1/policy"): ("/v1/policy", None, PUBLIC),
    ("GET", "/v1/lists"): ("/v1/lists", None, PUBLIC),
    ("GET", "/v1/lists/{code}/entries"): ("/v1/lists/court_defaulters/entries", None, PUBLIC),
    ("POST", "/v1/records"): ("/v1/records", {"records": [RECORD]}, frozenset({"furnisher"})),
    ("GET", "/v1/subjects/{subject_id}/report"): (
        f"/v1/subjects/{SUBJECT}/report?purpose=tenancy",
        None,
        frozenset({"inquirer"}),
    ),
    ("GET", "/v1/me/report"): ("/v1/me/report", None, frozenset({"subject"})),
    ("GET", "/v1/review"): ("/v1/review", None, frozenset({"operator"})),
    ("POST", "/v1/review/{review_id}/resolve"): (
        "/v1/review/1/resolve",
        {"subject_id": SUBJECT},
        frozenset({"operator"}),
    ),
    ("POST", "/v1/review/{review_id}/reject"): (
        "/v1/review/1/reject",
        {"reason": "not ours"},
        frozenset({"operator"}),
    ),
    ("GET", "/v1/batches/{batch_id}"): ("/v1/batches/1", None, frozenset({"furnisher"})),
    ("POST", "/v1/checks"): (
        "/v1/checks",
        {"measure": "flight", "subjects": [SUBJECT]},
        frozenset({"integrator"}),
    ),
    ("GET", "/v1/checks/{measure}/{subject_id}"): (
        f"/v1/checks/flight/{SUBJECT}",
        None,
        frozenset({"integrator"}),
    ),
    ("GET", "/v1/me/inquiries"): ("/v1/me/inquiries", None, frozenset({"subject"})),
    ("GET", "/v1/me/consents"): ("/v1/me/consents", None, frozenset({"subject"})),
    ("POST", "/v1/me/consents"): (
        "/v1/me/consents",
        {"inquirer": "Acme Bank", "action": "grant"},
        frozenset({"subject"}),
    ),
    ("GET", "/v1/keys"): ("/v1/keys", None, frozenset({"operator"})),
    ("POST", "/v1/keys"): (
        "/v1/keys",
        {"role": "integrator", "name": "matrix"},
        frozenset({"operator"}),
    ),
    ("DELETE", "/v1/keys/{prefix}"): ("/v1/keys/nosuchkey", None, frozenset({"operator"})),
    ("GET", "/v1/audit"): ("/v1/audit", None, frozenset({"operator"})),
}


def served_routes(api: Api) -> set[tuple[str, str]]:
    spec = api.get("/openapi.json").json()
    return {(method.upper(), path) for path, item in spec["paths"].items() for method in item}


def test_the_design_covers_every_route(api: Api) -> None:
    assert served_routes(api) == set(DESIGN)


def test_every_route_with_every_role(api: Api) -> None:
    bogus = {"Authorization": "Bearer sc_000000000000_notarealsecret"}
    malformed = {"Authorization": "Bearer letmein"}
    outcomes: dict[tuple[str, str, str], int] = {}
    for (method, _route), (path, body, allowed) in DESIGN.items():
        anonymous = api.call(method, path, json=body).status_code
        outcomes[(method, path, "none")] = anonymous
        for headers in (bogus, malformed):
            status = api.call(method, path, json=body, headers=headers).status_code
            outcomes[(method, path, "bogus")] = status
            if allowed is not PUBLIC:
                assert status == 401, (method, path, headers)
        if allowed is PUBLIC:
            assert anonymous < 400, (method, path, anonymous)
            continue
        assert anonymous == 401, (method, path)
        for role in ROLES:
            response = api.call(method, path, role, json=body)
            outcomes[(method, path, role)] = response.status_code
            assert response.status_code < 500, (method, path, role, response.text)
            if role in allowed:
                assert response.status_code not in (401, 403), (method, path, role, response.text)
            else:
                assert response.status_code == 403, (method, path, role, response.text)
                assert response.json()["error"]["code"] == "forbidden"


def test_401_body_is_the_uniform_error(api: Api) -> None:
    response = api.get("/v1/keys")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {
        "error": {
            "code": "unauthenticated",
            "message": "an API key is required: send 'Authorization: Bearer <key>'",
            "details": None,
        }
    }
