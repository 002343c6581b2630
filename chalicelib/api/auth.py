"""Credentials: station tokens for the public API, a shared key for the internal one.

A station token is an HS256 JWT with the claim `station_id`; the Chalice authorizer
verifies it and puts the station into the request context, so no view ever takes the
station from a parameter. The internal key is compared in constant time.
"""
from __future__ import annotations

import hmac
import time
from typing import Any

from chalicelib import texts
from chalicelib.errors import Forbidden, Unauthenticated

_ALGORITHM = "HS256"


def issue_token(station_id: str, secret: str, *, ttl_s: int = 12 * 3600,
                user: str = "demo") -> str:
    import jwt      # on first use: PyJWT (and the cryptography it probes for) is not cheap
    now = int(time.time())
    return jwt.encode({"station_id": station_id, "sub": user, "iat": now, "exp": now + ttl_s},
                      secret, algorithm=_ALGORITHM)


DEFAULT_MAX_LIFETIME_S = 7 * 24 * 3600


def station_from_token(header_value: str | None, secret: str, *,
                       max_lifetime_s: int = DEFAULT_MAX_LIFETIME_S) -> str:
    """The verified station of an `Authorization: Bearer <jwt>` value, or Unauthenticated."""
    return verify_token(header_value, secret, max_lifetime_s=max_lifetime_s)[0]


def verify_token(header_value: str | None, secret: str, *,
                 max_lifetime_s: int = DEFAULT_MAX_LIFETIME_S) -> tuple[str, int]:
    """(station, exp) of a valid token. Refused: no `exp`, or a lifetime over
    `max_lifetime_s` (exp - iat, or exp - now without iat), besides the usual checks."""
    if not header_value:
        raise Unauthenticated(texts.NO_CREDENTIAL())
    scheme, _, token = header_value.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated(texts.NOT_BEARER())
    import jwt
    try:
        claims = jwt.decode(token, secret, algorithms=[_ALGORITHM],
                            options={"require": ["exp", "station_id"]})
    except jwt.ExpiredSignatureError:
        raise Unauthenticated(texts.CREDENTIAL_EXPIRED()) from None
    except jwt.InvalidTokenError:
        raise Unauthenticated(texts.CREDENTIAL_INVALID()) from None
    station, exp, iat = claims.get("station_id"), claims.get("exp"), claims.get("iat")
    if not isinstance(station, str) or not 0 < len(station) <= 16:
        raise Unauthenticated(texts.CREDENTIAL_INVALID())
    if not isinstance(exp, int) or (iat is not None and not isinstance(iat, int)):
        raise Unauthenticated(texts.CREDENTIAL_INVALID())
    issued = iat if iat is not None else int(time.time())
    if exp - issued > max_lifetime_s or int(time.time()) - issued > max_lifetime_s:
        raise Unauthenticated(texts.CREDENTIAL_TOO_LONG())
    return station, exp


class AuthorizerUnauthorized(Exception):
    """Raised by the authorizer for a bad credential: API Gateway answers 401 (its
    UNAUTHORIZED response) when a Lambda authorizer fails with exactly "Unauthorized";
    a Deny policy would be a 403, which docs/errors.md keeps for "not allowed"."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


def authorize(auth_request: Any, secret: str, *,
              max_lifetime_s: int = DEFAULT_MAX_LIFETIME_S) -> Any:
    """Body of the Chalice built-in authorizer: allow every route for a valid token;
    a malformed, forged or expired one is a 401.

    API Gateway caches this answer per token (the authorizer's TTL), so the token's `exp`
    travels in the context and station_of() refuses the request once it has passed."""
    from chalice import AuthResponse
    try:
        station, exp = verify_token(auth_request.token, secret, max_lifetime_s=max_lifetime_s)
    except Unauthenticated:
        raise AuthorizerUnauthorized() from None
    return AuthResponse(routes=["*"], principal_id=f"station:{station}",
                        context={"station_id": station, "exp": exp})


def station_of(request: Any) -> str:
    """The station the authorizer verified for this request, while its token is valid
    (a cached authorizer answer outlives the token otherwise)."""
    context = (request.context or {}).get("authorizer") or {}
    station = context.get("station_id")
    if not station:
        raise Unauthenticated(texts.NO_CREDENTIAL())
    try:
        exp = int(context.get("exp"))
    except (TypeError, ValueError):
        raise Unauthenticated(texts.CREDENTIAL_NO_EXPIRY()) from None
    if exp <= time.time():
        raise Unauthenticated(texts.CREDENTIAL_EXPIRED())
    return station


def check_internal_key(given: str | None, expected: str) -> None:
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Forbidden(texts.AUTH_KEY_INVALID())
