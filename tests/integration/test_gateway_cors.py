"""Over HTTP through the local gateway: CORS for the stage's one allowed origin (preflight
answered, X-Correlation-Id exposed, no grant for any other origin), every error the
gateway answers by itself in the `{code, msg}` envelope with the CORS grant, 401 vs 403 as
docs/errors.md says, and a cold start stopped by bad settings answering 50300."""
from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from typing import Any, Iterator

import pytest

from infra.gateway_responses import GATEWAY_RESPONSES
from infra.local.runtime import LocalRuntime
from tests.conftest import CORS_ORIGIN

OTHER_ORIGIN = "https://evil.example.net"


def call(url: str, method: str = "GET", headers: dict[str, str] | None = None,
         body: bytes | None = None) -> tuple[int, dict[str, str], Any]:
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=body)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, hdrs, raw = resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        status, hdrs, raw = err.code, dict(err.headers), err.read()
    return status, hdrs, json.loads(raw) if raw else None


@pytest.fixture
def runtime(db_clean: None, stack_env: dict[str, str]) -> Iterator[LocalRuntime]:
    rt = LocalRuntime("app:app", stage="dev", port=0, env=stack_env, access_log=False,
                      worker_concurrency={"work": 0}, schedule_interval_s=3600)
    with rt:
        yield rt


def test_preflight_from_the_allowed_origin_is_answered(runtime):
    status, headers, _ = call(runtime.url + "/task/list", "OPTIONS", {
        "Origin": CORS_ORIGIN, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"})
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == CORS_ORIGIN
    assert "Authorization" in headers["Access-Control-Allow-Headers"]
    assert "GET" in headers["Access-Control-Allow-Methods"]


def test_the_allowed_origin_reads_the_answer_and_its_correlation_id(runtime, station_token):
    status, headers, body = call(runtime.url + "/task/list", headers={
        "Origin": CORS_ORIGIN, "Authorization": f"Bearer {station_token}"})
    assert status == 200 and body["code"] == 0
    assert headers["Access-Control-Allow-Origin"] == CORS_ORIGIN
    assert "X-Correlation-Id" in headers["Access-Control-Expose-Headers"]
    assert headers["X-Correlation-Id"]


def test_another_origin_gets_no_cors_grant(runtime, station_token):
    status, headers, body = call(runtime.url + "/task/list", headers={
        "Origin": OTHER_ORIGIN, "Authorization": f"Bearer {station_token}"})
    assert status == 200 and body["code"] == 0      # the server answers; the browser hides it
    assert not any(h.lower().startswith("access-control-") for h in headers)
    # the preflight names only the allowed origin (API Gateway's answer is static), so a
    # browser on another origin refuses: "... not equal to the supplied origin"
    _, pre, _ = call(runtime.url + "/task/list", "OPTIONS", {
        "Origin": OTHER_ORIGIN, "Access-Control-Request-Method": "GET"})
    assert pre.get("Access-Control-Allow-Origin") != OTHER_ORIGIN


@pytest.mark.parametrize("path,headers,status,response_type", [
    ("/task/list", {}, 401, "UNAUTHORIZED"),                              # no credential
    ("/task/list", {"Authorization": "Bearer not.a.jwt"}, 401, "UNAUTHORIZED"),   # malformed
    ("/task/list", {"Authorization": "Basic abc"}, 401, "UNAUTHORIZED"),
    ("/no/such/route", {}, 404, "MISSING_AUTHENTICATION_TOKEN"),
])
def test_gateway_errors_are_envelopes_with_the_cors_grant(runtime, path, headers, status,
                                                          response_type):
    got, hdrs, body = call(runtime.url + path, headers={"Origin": CORS_ORIGIN, **headers})
    _, code, msg = GATEWAY_RESPONSES[response_type]
    assert (got, body) == (status, {"code": code, "msg": msg, "data": None})
    assert hdrs["Access-Control-Allow-Origin"] == CORS_ORIGIN


def test_an_expired_token_is_401_and_a_wrong_internal_key_403(runtime, stack_env):
    from chalicelib.api.auth import issue_token
    expired = issue_token("s001", stack_env["TOKEN_SECRET"], ttl_s=-10)
    status, _, body = call(runtime.url + "/task/list",
                           headers={"Authorization": f"Bearer {expired}"})
    assert (status, body["code"]) == (401, 40100)
    status, _, body = call(runtime.url + "/internal/task/get", "POST",
                           {"X-Auth-Key": "x" * 40, "Content-Type": "application/json"},
                           json.dumps({"task_id": 1, "station_id": "s001"}).encode())
    assert (status, body["code"]) == (403, 40300)


@pytest.mark.parametrize("bad_env,named", [
    ({"DATABASE_URL": "postgres://app:s3cret@db.example.com/x"}, "DATABASE_URL is malformed"),
    ({"TOKEN_SECRET": "", "TOKEN_SECRET_PARAMETER": "/async-task/test/no-such-parameter"},
     "TOKEN_SECRET_PARAMETER=/async-task/test/no-such-parameter"),
])
def test_bad_settings_stop_the_cold_start_with_one_line_and_answer_50300(
        db_clean, stack_env, station_token, caplog, bad_env, named):
    from chalicelib import bootstrap
    env = {**stack_env, **bad_env}
    with LocalRuntime("app:app", stage="dev", port=0, env=env, access_log=False,
                      worker_concurrency={"work": 0}, schedule_interval_s=3600) as rt:
        bootstrap.reset()
        caplog.clear()
        with caplog.at_level(logging.INFO):
            status, _, body = call(rt.url + "/task/list",
                                   headers={"Authorization": f"Bearer {station_token}"})
            assert (status, body["code"]) == (503, 50300)          # the authorizer's start
            status, _, body = call(rt.url + "/internal/task/get", "POST",
                                   {"X-Auth-Key": "k" * 40, "Content-Type": "application/json"},
                                   json.dumps({"task_id": 1, "station_id": "s001"}).encode())
            assert (status, body["code"]) == (503, 50300) and "s3cret" not in json.dumps(body)
        stopped = [r for r in caplog.records if "cold start stopped" in r.getMessage()]
        assert stopped and all(named in r.getMessage() for r in stopped)
        assert all(r.exc_info is None and "\n" not in r.getMessage() for r in stopped)
        assert not any("s3cret" in r.getMessage() for r in caplog.records)
    bootstrap.reset()
