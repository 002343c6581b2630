"""What API Gateway answers by itself, as the platform's `{code, msg, data}` bodies.

One table for both sides: `make deploy` puts these gateway responses on the REST API
(infra/deploy.py), and the local gateway (infra/local/gateway.py) answers the same status
and body, so the tests see what a client of the deployed API sees (docs/errors.md).

Each response carries the stage's CORS grant (`CORS_ALLOW_ORIGIN`), so a browser on the
allowed origin can read the error instead of seeing an opaque CORS failure.
"""
from __future__ import annotations

import json
from typing import Any

from chalicelib import texts

# responseType -> (status or None to keep API Gateway's own, code, msg); the texts are the
# catalogue's (chalicelib/texts.py), Chinese with the English in parentheses.
GATEWAY_RESPONSES: dict[str, tuple[int | None, int, str]] = {
    # no Authorization header, or the authorizer raised "Unauthorized" (bad/expired token)
    "UNAUTHORIZED": (401, 40100, texts.CODES[40100].text),
    # the authorizer's policy does not allow this route
    "ACCESS_DENIED": (403, 40300, texts.CODES[40300].text),
    # API Gateway's 403 "Missing Authentication Token" for a route that does not exist
    "MISSING_AUTHENTICATION_TOKEN": (404, 40400, texts.NO_SUCH_ROUTE()),
    "THROTTLED": (429, 42900, texts.CODES[42900].text),
    "INTEGRATION_TIMEOUT": (504, 50400, texts.CODES[50400].text),
    # the authorizer itself failed (its settings or secrets are unreadable)
    "AUTHORIZER_FAILURE": (503, 50300, texts.SERVICE_UNAVAILABLE()),
    "AUTHORIZER_CONFIGURATION_ERROR": (503, 50300, texts.SERVICE_UNAVAILABLE()),
    "DEFAULT_4XX": (None, 40000, texts.CODES[40000].text),
    "DEFAULT_5XX": (None, 50000, texts.INTERNAL_RETRY()),
}

# What the local gateway answers for a status it produces itself.
LOCAL_STATUS_RESPONSE = {401: "UNAUTHORIZED", 403: "ACCESS_DENIED", 404: "MISSING_AUTHENTICATION_TOKEN",
                         429: "THROTTLED", 503: "AUTHORIZER_FAILURE", 504: "INTEGRATION_TIMEOUT"}


def body(response_type: str) -> dict[str, Any]:
    _, code, msg = GATEWAY_RESPONSES[response_type]
    return {"code": code, "msg": msg, "data": None}


def cors_headers(allow_origin: str) -> dict[str, str]:
    """The CORS headers a gateway response carries ({} when the stage allows no origin)."""
    if not allow_origin:
        return {}
    return {"Access-Control-Allow-Origin": allow_origin,
            "Access-Control-Expose-Headers": "X-Correlation-Id", "Vary": "Origin"}


def put_parameters(response_type: str, allow_origin: str) -> dict[str, Any]:
    """Keyword arguments of apigateway.put_gateway_response for one response type."""
    status, _, _ = GATEWAY_RESPONSES[response_type]
    headers = {"Content-Type": "application/json", **cors_headers(allow_origin)}
    kwargs: dict[str, Any] = {
        "responseType": response_type,
        # header values are mapping expressions: a literal is quoted
        "responseParameters": {f"gatewayresponse.header.{name}": f"'{value}'"
                               for name, value in headers.items()},
        # ASCII (the Chinese as \u escapes): the same JSON, whatever encoding the gateway's
        # template store and its mapping engine assume
        "responseTemplates": {"application/json": json.dumps(body(response_type))},
    }
    if status is not None:
        kwargs["statusCode"] = str(status)
    return kwargs
