"""Settings from the environment, and the credentials: station tokens (signature, exp,
lifetime), the authorizer's cached answers, the internal auth key."""
from __future__ import annotations

import time
from types import SimpleNamespace

import jwt
import pytest

from chalicelib.api import auth
from chalicelib.api.auth import check_internal_key, issue_token, station_from_token
from chalicelib.config import Settings
from chalicelib.errors import Forbidden, Unauthenticated

SECRET = "s3cret"


def test_settings_from_env_converts_types_and_keeps_defaults():
    s = Settings.from_env({"CHUNK_SIZE": "500", "PRODUCT_CENTER_RATE": "12.5", "STAGE": "prod"})
    assert (s.chunk_size, s.product_center_rate, s.stage) == (500, 12.5, "prod")
    assert s.chunk_threads == Settings().chunk_threads


def test_token_round_trip():
    assert station_from_token("Bearer " + issue_token("st1", SECRET), SECRET) == "st1"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic abc", "Bearer not-a-jwt"])
def test_missing_or_malformed_credential(header):
    with pytest.raises(Unauthenticated):
        station_from_token(header, SECRET)


def test_forged_and_expired_tokens_are_refused():
    forged = issue_token("st1", "other-secret")
    with pytest.raises(Unauthenticated):
        station_from_token("Bearer " + forged, SECRET)
    expired = jwt.encode({"station_id": "st1", "exp": int(time.time()) - 5}, SECRET, "HS256")
    with pytest.raises(Unauthenticated, match="expired"):
        station_from_token("Bearer " + expired, SECRET)
    none_alg = jwt.encode({"station_id": "st1", "exp": int(time.time()) + 60}, None, "none")
    with pytest.raises(Unauthenticated):
        station_from_token("Bearer " + none_alg, SECRET)


def test_internal_key_check():
    check_internal_key("k" * 32, "k" * 32)
    for bad in (None, "", "k" * 31, "x" * 32):
        with pytest.raises(Forbidden):
            check_internal_key(bad, "k" * 32)


def test_a_deployed_function_refuses_the_repos_built_in_keys(monkeypatch):
    from chalicelib.config import get_runtime_settings
    for name in ("TOKEN_SECRET", "INTERNAL_AUTH_KEY", "TOKEN_SECRET_PARAMETER",
                 "INTERNAL_AUTH_KEY_PARAMETER", "DATABASE_URL_PARAMETER", "DATABASE_SECRET_ARN",
                 "PRODUCT_CENTER_URL_PARAMETER", "NOTIFY_SECRET", "NOTIFY_SECRET_PARAMETER",
                 "CALLBACK_ALLOW_LOCAL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "async-task-dev-work")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    get_runtime_settings.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="TOKEN_SECRET is not configured"):
            get_runtime_settings()
        monkeypatch.setenv("TOKEN_SECRET", "a" * 40)
        monkeypatch.setenv("INTERNAL_AUTH_KEY", "b" * 40)
        get_runtime_settings.cache_clear()
        with pytest.raises(RuntimeError, match="NOTIFY_SECRET is not configured"):
            get_runtime_settings()
        monkeypatch.setenv("NOTIFY_SECRET", "c" * 40)
        monkeypatch.setenv("PRODUCT_CENTER_URL", "https://products.internal.example.com")
        get_runtime_settings.cache_clear()
        assert get_runtime_settings().token_secret == "a" * 40
    finally:
        get_runtime_settings.cache_clear()


# -- a cached authorizer answer never outlives the token's exp; tokens without exp or living
# longer than the configured maximum are refused; a short HS256 key stops the start
KEY = "k" * 32


def _token(**claims) -> str:
    return "Bearer " + jwt.encode({"station_id": "s001", **claims}, KEY, algorithm="HS256")


def _cached(context: dict) -> SimpleNamespace:
    """A request as the view sees it when API Gateway answers from its authorizer cache:
    the context the authorizer returned minutes ago, the authorizer not run again."""
    return SimpleNamespace(context={"authorizer": context})


def test_a_cached_authorization_ends_at_the_tokens_exp():
    now = int(time.time())
    token = _token(iat=now - 100, exp=now + 60)
    allowed = auth.authorize(SimpleNamespace(token=token), KEY)
    context = allowed.context
    assert auth.station_of(_cached(context)) == "s001"        # still valid: served
    expired = {**context, "exp": now - 1}                     # the same answer, after exp
    with pytest.raises(Unauthenticated):
        auth.station_of(_cached(expired))
    with pytest.raises(Unauthenticated):                      # a context without exp
        auth.station_of(_cached({"station_id": "s001"}))


def test_a_token_without_exp_is_refused():
    with pytest.raises(Unauthenticated):
        auth.station_from_token(_token(iat=int(time.time())), KEY)


@pytest.mark.parametrize("claims", [
    lambda now: {"iat": now, "exp": now + 8 * 24 * 3600},     # lifetime over the maximum
    lambda now: {"exp": now + 8 * 24 * 3600},                 # no iat: exp too far ahead
    lambda now: {"iat": now - 30 * 24 * 3600, "exp": now + 60},  # issued long ago
])
def test_a_token_living_longer_than_the_maximum_is_refused(claims):
    now = int(time.time())
    with pytest.raises(Unauthenticated):
        auth.station_from_token(_token(**claims(now)), KEY, max_lifetime_s=7 * 24 * 3600)


def test_a_token_within_the_maximum_is_accepted():
    now = int(time.time())
    assert auth.station_from_token(_token(iat=now, exp=now + 3600), KEY,
                                   max_lifetime_s=7 * 24 * 3600) == "s001"


def test_a_short_token_key_stops_the_start(monkeypatch):
    from chalicelib.config import get_runtime_settings
    monkeypatch.setenv("TOKEN_SECRET", "x" * 31)
    get_runtime_settings.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="32 bytes"):
            get_runtime_settings()
    finally:
        get_runtime_settings.cache_clear()


def test_the_gateways_cache_ttl_is_the_configured_one():
    import app as app_module
    from chalicelib.config import get_settings
    [handler] = app_module.app.builtin_auth_handlers
    assert handler.ttl_seconds == get_settings().auth_cache_ttl_s <= 300
