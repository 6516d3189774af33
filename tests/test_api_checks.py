"""Restriction checks over HTTP: records furnished over the API, derived, and seen by the decision
index within 2 s without a restart; the index agrees with the store's own check service; the
fast path answers every request, right or wrong, exactly as the FastAPI routes do; batch
validation agrees with ``ids.check``; a revoked key stops working on the fast path."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import httpx
from api_harness import (  # noqa: F401
    FAST_API,
    SUBJECT,
    Api,
    api_fixture,
    market_furnisher_key,
    org_id,
    person_id,
    publish_decisions,
    register_subjects,
    serving,
    wait_for,
)

from socialcredit import ids
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
    market_key = market_furnisher_key(run, api.db)
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
                e["list_code"] for e in expected.entries
            ), (measure, subject_id)
            via = {e["source_subject_id"] for e in result["entries"]}
            assert via == {e["source_subject_id"] for e in expected.entries}
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


# --- the fast path (socialcredit/api/hot.py) answers exactly as the FastAPI routes do ----------

LISTED = person_id(606)
X_PERSON = next(p for p in (person_id(n, born="19750505") for n in range(100)) if p[-1] == "X")
STRANGER = person_id(707)
UNREGISTERED_ORG = org_id(808)


def _stored_decisions(api: Api) -> None:
    """Decisions as a derivation writes them: a person on two lists, an organisation extended
    to its legal representative, a reward measure, an entry already ended."""
    register_subjects(
        api.engine,
        {LISTED: "王五", X_PERSON: "赵六", COMPANY: "北京某某科技有限公司", BOSS: "钱七"},
    )
    today = dt.date.today()
    ended = today - dt.timedelta(days=1)

    def row(subject: str, measure: str, list_code: str, **extra: Any) -> dict[str, Any]:
        start = dt.date.fromisoformat(DAY)
        return {
            "subject_id": subject,
            "measure": measure,
            "list_code": list_code,
            "source_subject_id": subject,
            "start_on": start,
            **extra,
        }

    reward = {"effect": "granted", "memorandum": "tax_a_grade", "basis": "A-grade taxpayer"}
    publish_decisions(
        api.engine,
        [
            row(LISTED, "flight", "court_defaulters", end_on=today + dt.timedelta(days=700)),
            row(LISTED, "flight", "tax_severe"),
            row(X_PERSON, "flight", "court_defaulters", end_on=ended),  # no longer in effect
            row(COMPANY, "public_tender", "court_defaulters"),
            row(BOSS, "flight", "court_defaulters", source_subject_id=COMPANY),
            row(COMPANY, "fast_track", "a_grade_taxpayers", **reward),
        ],
    )


def _requests() -> list[tuple[str, str, str | None, Any]]:
    """(method, path, role, JSON body): right and wrong, as integrators send them."""
    lower_x = X_PERSON.lower()
    full_width = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in STRANGER)
    dashed = f"{LISTED[:6]}-{LISTED[6:14]}-{LISTED[14:]}"
    batch = [LISTED, lower_x, COMPANY, BOSS, STRANGER, full_width, dashed, UNREGISTERED_ORG]
    gets = [
        *(f"/v1/checks/flight/{s}" for s in (*batch, "110105198001010010", "1" * 65, "%20")),
        f"/v1/checks/public_tender/{COMPANY}",
        f"/v1/checks/fast_track/{COMPANY}",
        f"/v1/checks/teleport/{LISTED}",
        f"/v1/checks/flight/{LISTED}/",
        "/v1/checks/flight",
    ]
    bodies: list[Any] = [
        {"measure": "flight", "subjects": batch},
        {"measure": "fast_track", "subjects": [COMPANY, LISTED] * 300},
        {"measure": "flight", "subjects": ["1" * 17, "\x00" + "1" * 18, LISTED]},  # misaligned
        {"measure": "flight", "subjects": [LISTED, "110105198001010010", "<script>"]},
        {"measure": "flight", "subjects": [LISTED], "extra": 1},
        {"measure": "flight", "subjects": [LISTED, 7]},
        {"measure": "flight", "subjects": [LISTED] * 1001},
        {"measure": "", "subjects": [LISTED]},
        {"measure": "teleport", "subjects": [LISTED]},
        ["not", "an", "object"],
    ]
    calls: list[tuple[str, str, str | None, Any]] = []
    for role in ("integrator", None, "furnisher"):
        calls += [("GET", path, role, None) for path in gets]
        calls += [("POST", "/v1/checks", role, body) for body in bodies]
        calls.append(("GET", "/v1/whoami", role, None))
    return calls


def _answer(response: httpx.Response) -> tuple[int, Any, str | None, str | None]:
    return (
        response.status_code,
        response.json() if response.content else None,
        response.headers.get("content-type"),
        response.headers.get("www-authenticate"),
    )


def test_fast_path_answers_exactly_as_the_fastapi_routes(api: Api) -> None:
    _stored_decisions(api)
    wait_for(lambda: restricted(api, LISTED), timeout=2.0)
    every_route = FAST_API.model_copy(update={"fast_path": False})
    with serving(api.db, every_route) as url, httpx.Client(base_url=url, timeout=30) as plain:
        wait_for(
            lambda: (
                plain.get(f"/v1/checks/flight/{LISTED}", headers=api.headers("integrator"))
                .json()
                .get("restricted")
                is True
            ),
            timeout=2.0,
        )
        for method, path, role, body in _requests():
            fast = api.call(method, path, role, json=body)
            slow = plain.request(method, path, headers=api.headers(role), json=body)
            assert _answer(fast) == _answer(slow), (method, path, role, body)
        raw = f'{{"measure": "flight", "subjects": ["{LISTED}"]}}'.encode()
        for headers in ({"Content-Type": "text/plain"}, {"Content-Type": "application/json"}, {}):
            fast = api.post("/v1/checks", "integrator", headers=headers, content=raw)
            both = {**api.headers("integrator"), **headers}
            assert _answer(fast) == _answer(plain.post("/v1/checks", headers=both, content=raw))
        broken = api.post("/v1/checks", "integrator", content=b'{"measure": "flight", "subj')
        assert broken.status_code == 422 and broken.json()["error"]["code"] == "validation_failed"

    listed = api.get(f"/v1/checks/flight/{LISTED}", "integrator").json()
    assert listed["restricted"] and listed["end_on"] is None  # one entry has no fixed term
    assert sorted(e["list_code"] for e in listed["entries"]) == ["court_defaulters", "tax_severe"]
    lower = api.get(f"/v1/checks/flight/{X_PERSON.lower()}", "integrator").json()
    assert lower["subject_id"] == X_PERSON and lower["known"] and not lower["restricted"]
    granted = api.get(f"/v1/checks/fast_track/{COMPANY}", "integrator").json()
    assert granted["granted"] and not granted["restricted"]
    nul = api.post(
        "/v1/checks",
        "integrator",
        json={"measure": "flight", "subjects": ["1" * 17, "\x00" + "1" * 18, LISTED]},
    )
    assert [d["index"] for d in nul.json()["error"]["details"]] == [0, 1]


def test_the_audit_log_names_every_subject_checked_as_normalised(api: Api) -> None:
    """However an integrator spells an identifier (lower-case x, separators, full width), and
    whether one subject is checked or a batch, the audit log names each subject by its
    normalised identifier, on the fast path and on the FastAPI routes alike."""
    _stored_decisions(api)
    full_width = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in STRANGER)
    dashed = f"{LISTED[:6]}-{LISTED[6:14]}-{LISTED[14:]}"
    every_route = FAST_API.model_copy(update={"fast_path": False})
    with serving(api.db, every_route) as url, httpx.Client(base_url=url, timeout=30) as plain:
        for client_get, client_post in (
            (
                lambda path: api.get(path, "integrator"),
                lambda body: api.post("/v1/checks", "integrator", json=body),
            ),
            (
                lambda path: plain.get(path, headers=api.headers("integrator")),
                lambda body: plain.post("/v1/checks", headers=api.headers("integrator"), json=body),
            ),
        ):
            for spelled in (X_PERSON.lower(), dashed, full_width, f" {COMPANY} "):
                assert client_get(f"/v1/checks/flight/{spelled}").status_code == 200
            batch = {"measure": "flight", "subjects": [dashed, X_PERSON.lower(), BOSS]}
            assert client_post(batch).status_code == 200

    def audited(subject_id: str) -> list[tuple[str, str]]:
        rows = api.get(
            "/v1/audit", "operator", params={"subject_id": subject_id, "limit": 1000}
        ).json()
        return sorted((r["method"], r["route"]) for r in rows if r["role"] == "integrator")

    one, batch = ("GET", "/v1/checks/{measure}/{subject_id}"), ("POST", "/v1/checks")
    wait_for(lambda: len(audited(BOSS)) == 2, timeout=2.0)
    assert audited(X_PERSON) == [one, one, batch, batch]
    assert audited(LISTED) == [one, one, batch, batch]
    assert audited(STRANGER) == [one, one]
    assert audited(COMPANY) == [one, one]
    assert audited(BOSS) == [batch, batch]

    # Refused requests too (another role's key, on the fast path and off it), and the audit
    # is searched by any spelling.
    assert api.get(f"/v1/checks/flight/{dashed}", "inquirer").status_code == 403
    with serving(api.db, every_route) as url, httpx.Client(base_url=url, timeout=30) as plain:
        off_path = plain.get(f"/v1/checks/flight/{dashed}", headers=api.headers("subject"))
        assert off_path.status_code == 403

    def refused(spelled: str) -> list[str]:
        rows = api.get("/v1/audit", "operator", params={"subject_id": spelled}).json()
        return sorted(r["role"] for r in rows if r["outcome"] == "forbidden")

    wait_for(lambda: len(refused(LISTED)) == 2, timeout=2.0)
    assert refused(dashed) == ["inquirer", "subject"]
    assert len(audited(X_PERSON.lower())) == 4


def test_batch_validation_agrees_with_the_identifier_rules(api: Api) -> None:
    """Unregistered IDs are validated all at once; the verdicts must be those of ids.check."""
    rng = random.Random(11)
    today = dt.date.today()
    edges = ["18791231", "18800101", "19000229", "20000229", "19990229", "19801301", "19800100"]
    dates = [*edges, f"{today:%Y%m%d}", f"{today + dt.timedelta(days=1):%Y%m%d}"]
    candidates = []
    for n in range(300):
        person = person_id(
            n, born=rng.choice(dates), area=rng.choice(["110105", "440106", "999999"])
        )
        candidates.append(person.lower() if n % 7 == 0 else person)
        candidates.append(org_id(rng.randrange(10**9)))
        mutated = list(rng.choice(candidates))
        mutated[rng.randrange(18)] = rng.choice("0123456789XAIO")
        candidates.append("".join(mutated))
    candidates = candidates[:1000]
    checked = [ids.check(s, today=today) for s in candidates]
    answer = api.post(
        "/v1/checks", "integrator", json={"measure": "flight", "subjects": candidates}
    )
    assert answer.status_code == 422
    expected = [i for i, c in enumerate(checked) if not c.valid]
    assert 0 < len(expected) < len(candidates)
    assert [d["index"] for d in answer.json()["error"]["details"]] == expected[:200]

    valid = [s for s, c in zip(candidates, checked, strict=True) if c.valid]
    results = api.post(
        "/v1/checks", "integrator", json={"measure": "flight", "subjects": valid}
    ).json()["results"]
    normalised = [c.normalised for c in checked if c.valid]
    assert [(r["subject_id"], r["known"]) for r in results] == [(s, False) for s in normalised]


def test_whoami_and_revocation_on_the_fast_path(api: Api, run: Any) -> None:
    for role in ("furnisher", "inquirer", "integrator", "subject", "operator"):
        assert api.get("/v1/whoami", role).json()["role"] == role
    anonymous = api.get("/v1/whoami")
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
    prefix = api.keys["integrator"].split("_")[1]
    assert api.get(f"/v1/checks/flight/{SUBJECT}", "integrator").status_code == 200

    run("keys", "revoke", prefix, "--db", api.db)  # seen by the store watcher, not the API
    wait_for(lambda: api.get("/v1/whoami", "integrator").status_code == 401, timeout=2.0)
    assert api.get(f"/v1/checks/flight/{SUBJECT}", "integrator").status_code == 401
    assert (
        api.post(
            "/v1/checks", "integrator", json={"measure": "flight", "subjects": [SUBJECT]}
        ).status_code
        == 401
    )

    def audited() -> list[dict[str, Any]]:
        rows = api.get("/v1/audit", "operator", params={"limit": 1000}).json()
        return [
            r for r in rows if r["route"] in ("/v1/whoami", "/v1/checks/{measure}/{subject_id}")
        ]

    wait_for(lambda: len(audited()) >= 9, timeout=2.0)
    outcomes = {(r["route"], r["role"], r["outcome"]) for r in audited()}
    assert ("/v1/whoami", "integrator", "ok") in outcomes
    assert ("/v1/whoami", None, "unauthenticated") in outcomes
    assert ("/v1/checks/{measure}/{subject_id}", "integrator", "ok") in outcomes
    assert ("/v1/checks/{measure}/{subject_id}", None, "unauthenticated") in outcomes
