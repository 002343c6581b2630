"""Credentials: station tokens for the public API, a shared key for the internal one.

A station token is an HS256 JWT with the claim `station_id`; the Chalice authorizer
verifies it and puts the station into the request context, so no view ever takes the
station from a parameter. The internal key is compared in constant time.
"""
from __future__ import annotations

import hmac
import time
from typing import Any

import jwt

from chalicelib.errors import Forbidden, Unauthenticated

_ALGORITHM = "HS256"


def issue_token(station_id: str, secret: str, *, ttl_s: int = 12 * 3600,
                user: str = "demo") -> str:
    now = int(time.time())
    return jwt.encode({"station_id": station_id, "sub": user, "iat": now, "exp": now + ttl_s},
                      secret, algorithm=_ALGORITHM)


def station_from_token(header_value: str | None, secret: str) -> str:
    """The verified station of an `Authorization: Bearer <jwt>` value, or Unauthenticated."""
    if not header_value:
        raise Unauthenticated("missing credential: send Authorization: Bearer <token>")
    scheme, _, token = header_value.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("credential must be 'Bearer <token>'")
    try:
        claims = jwt.decode(token, secret, algorithms=[_ALGORITHM],
                            options={"require": ["exp", "station_id"]})
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("credential expired") from None
    except jwt.InvalidTokenError:
        raise Unauthenticated("invalid credential") from None
    station = claims.get("station_id")
    if not isinstance(station, str) or not 0 < len(station) <= 16:
        raise Unauthenticated("invalid credential")
    return station


class AuthorizerUnauthorized(Exception):
    """Raised by the authorizer for a bad credential: API Gateway answers 401 (its
    UNAUTHORIZED response) when a Lambda authorizer fails with exactly "Unauthorized";
    a Deny policy would be a 403, which docs/errors.md keeps for "not allowed"."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


def authorize(auth_request: Any, secret: str) -> Any:
    """Body of the Chalice built-in authorizer: allow every route for a valid token;
    a malformed, forged or expired one is a 401."""
    from chalice import AuthResponse
    try:
        station = station_from_token(auth_request.token, secret)
    except Unauthenticated:
        raise AuthorizerUnauthorized() from None
    return AuthResponse(routes=["*"], principal_id=f"station:{station}",
                        context={"station_id": station})


def station_of(request: Any) -> str:
    """The station the authorizer verified for this request."""
    station = ((request.context or {}).get("authorizer") or {}).get("station_id")
    if not station:
        raise Unauthenticated("missing credential")
    return station


def check_internal_key(given: str | None, expected: str) -> None:
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Forbidden("invalid auth_key")
