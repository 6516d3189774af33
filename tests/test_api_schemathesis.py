"""Schemathesis over the published OpenAPI document: generated requests for every operation
(valid ones, then invalid ones), each sent with a key of the role that operation is for, must
never meet a server error, and every response must match the document (status codes, content
types, bodies).

Driven through schemathesis' strategies with Hypothesis directly (its lazy pytest loader relies
on a pytest internal that pytest 9 removed)."""

from __future__ import annotations

from typing import Any

import schemathesis
from api_harness import Api, api_fixture  # noqa: F401
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

ROLE_OF_TAG = {
    "furnishers": "furnisher",
    "inquirers": "inquirer",
    "integrators": "integrator",
    "subjects": "subject",
    "operators": "operator",
}
EXAMPLES = {GenerationMode.POSITIVE: 12, GenerationMode.NEGATIVE: 6}


def exercise(api: Api, operation: Any, mode: GenerationMode) -> None:
    role = next((ROLE_OF_TAG[t] for t in operation.tags or [] if t in ROLE_OF_TAG), None)
    own_prefixes = {key.split("_")[1] for key in api.keys.values()}

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        if operation.method.upper() == "DELETE" and (
            str((case.path_parameters or {}).get("prefix")) in own_prefixes
        ):
            return  # revoking the run's own keys would end the run; other prefixes are fair
        if mode is GenerationMode.POSITIVE:
            case.call_and_validate(
                base_url=api.url,
                headers=api.headers(role),
                # Check characters, real dates and known codes cannot be said in JSON Schema:
                # such schema-valid values are refused with a 422 naming the reason.
                excluded_checks=[positive_data_acceptance],
            )
        else:  # invalid input: any 4xx will do, never a 5xx
            response = case.call(base_url=api.url, headers=api.headers(role))
            assert response.status_code < 500, (case.method, case.formatted_path, response.text)
            if response.status_code >= 400:
                assert response.json()["error"]["code"], response.text

    try:
        run()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE  # no parameters, no body: nothing can be invalid


def test_generated_requests_meet_no_server_error(api: Api) -> None:
    loaded = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    operations = [result.ok() for result in loaded.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            exercise(api, operation, mode)
