"""What API Gateway answers by itself, as the platform's `{code, msg}` bodies.

Production maps the same gateway responses (UNAUTHORIZED, ACCESS_DENIED, missing route)
to these bodies, so a client sees one error format whichever layer refused it.
"""
from __future__ import annotations

import json

from chalice.local import ForbiddenError, LocalGatewayException, NotAuthorizedError

BODIES = {
    401: (40100, "missing or invalid credential"),
    403: (40300, "credential not allowed for this resource"),
    404: (40400, "no such route"),
    405: (40500, "method not allowed"),
    500: (50000, "authorizer error"),
}


def error_body(status: int) -> bytes:
    code, msg = BODIES.get(status, (status * 100, "request refused"))
    return json.dumps({"code": code, "msg": msg, "data": None}).encode()


def gateway_error(exc: LocalGatewayException) -> tuple[int, bytes]:
    """Status and body for an authorizer refusal raised by chalice's LocalGateway."""
    status = exc.CODE
    # LocalGateway also raises ForbiddenError for unknown routes (as API Gateway does with
    # 403 "Missing Authentication Token"); both surface as the same 403 body here.
    if isinstance(exc, (ForbiddenError, NotAuthorizedError)):
        return status, error_body(status)
    return status, error_body(500)
