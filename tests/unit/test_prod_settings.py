"""Deployed-stage settings: what a function refuses to start with, DATABASE_URL's TLS
options, the CORS grant only the allowed origin gets, and the deadline margin the
production settings need."""
from __future__ import annotations

import ssl

import pytest

from chalicelib.adapters.db import connect_kwargs, parse_url, tls_mode
from chalicelib.config import (ConfigurationError, Settings, database_url_for,
                               deployed_setting_problems, get_runtime_settings, is_loopback_url)
from chalicelib.observability import _refuse_other_origins

GOOD = dict(token_secret="t" * 40, internal_auth_key="k" * 40, notify_secret="n" * 40,
            product_center_url="https://products.internal.example.com")


@pytest.mark.parametrize("url", ["", "http://127.0.0.1:8100", "http://localhost/x",
                                 "http://[::1]:80", "http://127.8.0.1", "ftp://products.example"])
def test_a_deployed_function_refuses_a_missing_or_loopback_product_center(url):
    problems = deployed_setting_problems(Settings(**{**GOOD, "product_center_url": url}))
    assert len(problems) == 1 and "PRODUCT_CENTER_URL" in problems[0]


def test_a_deployed_function_accepts_a_real_product_center():
    assert deployed_setting_problems(Settings(**GOOD)) == []
    assert not is_loopback_url("https://10.0.3.4:8443") and is_loopback_url("http://localhost")


def test_a_malformed_database_url_is_one_clear_error_without_the_password(monkeypatch):
    for bad, says in (("postgres://u:s3cret@db/x", "scheme"), ("mysql://u:s3cret@db:port/x", "port"),
                      ("mysql://u:s3cret@db/x?ssl-mode=SOMETIMES", "ssl-mode"),
                      ("mysql://u:s3cret@db/x?sslmode=on", "unknown query parameter")):
        monkeypatch.setenv("DATABASE_URL", bad)
        get_runtime_settings.cache_clear()
        try:
            with pytest.raises(ConfigurationError) as err:
                get_runtime_settings()
        finally:
            get_runtime_settings.cache_clear()
        assert "DATABASE_URL is malformed" in str(err.value) and says in str(err.value)
        assert "s3cret" not in str(err.value)


def test_database_url_tls_options():
    url = "mysql://app:pw@db.example.com:3306/a?ssl-mode=VERIFY_CA&ssl_ca=/etc/ca.pem"
    assert parse_url(url) == {"host": "db.example.com", "port": 3306, "user": "app",
                              "password": "pw", "database": "a"}
    assert tls_mode(url) == "VERIFY_CA" and tls_mode("mysql://db/a") is None
    assert connect_kwargs("mysql://db/a?ssl_mode=disabled")["ssl_disabled"] is True
    assert "ssl" not in connect_kwargs("mysql://db/a")      # pymysql's own PREFERRED
    required = connect_kwargs("mysql://db/a?ssl-mode=REQUIRED")["ssl"]
    assert required.verify_mode == ssl.CERT_NONE and not required.check_hostname
    identity = connect_kwargs("mysql://db/a?ssl-mode=verify-identity")["ssl"]
    assert identity.verify_mode == ssl.CERT_REQUIRED and identity.check_hostname


def test_deployed_stages_default_to_verified_tls():
    assert database_url_for("mysql://db/a", deployed=True) == "mysql://db/a?ssl-mode=VERIFY_IDENTITY"
    assert database_url_for("mysql://db/a?ssl-mode=REQUIRED", deployed=True).endswith("REQUIRED")
    assert database_url_for("mysql://db/a", deployed=False) == "mysql://db/a"


def test_a_disallowed_origin_gets_no_cors_grant():
    grant = {"Access-Control-Allow-Origin": "https://app.example.com",
             "Access-Control-Expose-Headers": "X-Correlation-Id", "X-Correlation-Id": "c"}
    allowed = dict(grant)
    _refuse_other_origins("https://app.example.com", allowed)
    assert allowed["Access-Control-Allow-Origin"] == "https://app.example.com"
    refused = dict(grant)
    _refuse_other_origins("https://evil.example.net", refused)
    assert not any(h.startswith("Access-Control-") for h in refused)
    assert refused["X-Correlation-Id"] == "c" and refused["Vary"] == "Origin"


def test_only_a_function_on_aws_gets_the_deployed_rules():
    from chalicelib.config import on_aws
    assert on_aws({"AWS_LAMBDA_FUNCTION_NAME": "async-task-prod-work"})
    assert not on_aws({})                                   # make run, tests
    assert not on_aws({"AWS_LAMBDA_FUNCTION_NAME": "f",      # LocalStack runs it
                       "AWS_ENDPOINT_URL": "http://localhost.localstack.cloud:4566"})


def test_the_worst_item_with_prod_settings_exceeds_the_old_margin_and_sets_the_new_one():
    from chalicelib.adapters.product_center import ProductCenterClient, RateLimiter
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
