"""#13 item 10: a cached authorizer answer never outlives the token's exp; tokens without
exp or living longer than the configured maximum are refused; a short HS256 key stops the
start."""
from __future__ import annotations

import time
from types import SimpleNamespace

import jwt
import pytest

from chalicelib.api import auth
from chalicelib.errors import Unauthenticated

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


# -- suspected 1 (#13): the prod margin was shorter than the worst single item ---------------
def test_the_worst_item_with_prod_settings_exceeds_the_old_margin_and_sets_the_new_one():
    from chalicelib.adapters.product_center import ProductCenterClient, RateLimiter
    from chalicelib.config import Settings
    from chalicelib.service.deadline import deadline_margin_ms
    prod = Settings(product_center_rate=100, worker_concurrency=8, deadline_margin_ms=30_000)
    client = ProductCenterClient("http://127.0.0.1:9", timeout_s=prod.product_center_timeout_s,
                                 max_attempts=prod.product_center_max_attempts,
                                 rate_limiter=RateLimiter(100 / 8))
    worst = client.worst_call_s(prod.chunk_threads)
    assert worst > 30          # 4 x (2 + 5) s + 3 x 2 s backoff + 4 x 10/12.5 s budget wait
    assert worst == 4 * (2 + 5 + 10 / 12.5) + 3 * 2
    assert deadline_margin_ms(prod, worst) >= worst * 1000
    client.close()
