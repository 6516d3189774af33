"""``GET /v1/whoami``: the caller's key (any role), for integrators checking their setup.

It does nothing but authenticate, rate-limit and audit, so it is also the baseline the check
benchmark compares with (it takes the same fast path as the checks, ``hot.py``). It is left out
of the OpenAPI document, whose route table is fixed by the role matrix test.
"""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Response

from socialcredit.api.auth import require_roles
from socialcredit.services.keys import ApiKey, Role

router = APIRouter(tags=["keys"])


@router.get("/v1/whoami", include_in_schema=False)
async def whoami(key: Annotated[ApiKey, Depends(require_roles(*Role))]) -> Response:
    return Response(orjson.dumps(key.public()), media_type="application/json")
