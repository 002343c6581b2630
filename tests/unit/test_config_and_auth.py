import time

import jwt
import pytest

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
