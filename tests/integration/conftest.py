"""Fixtures and helpers shared by the integration tests (the session's servers are in
tests/conftest.py). Test modules never import each other: what two of them share is here,
in engine_helpers.py (engine and runtime helpers) or in export_helpers.py (export files).
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any, Iterator

import pytest

from tests.refusals import bilingual, problem_fields

from chalicelib.bootstrap import services


def http(method: str, url: str, token: str, body: Any = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def wait_for(predicate, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)          # polling a condition with a deadline
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def empty_exports(db_clean: None) -> None:
    """The bucket outlives tests: start each one without export files or open uploads."""
    from tests.integration.export_helpers import exported_keys
    files = services().files
    for key in exported_keys():
        files.s3.delete_object(Bucket=files.bucket, Key=key)
    for up in files.s3.list_multipart_uploads(Bucket=files.bucket).get("Uploads", []):
        files.s3.abort_multipart_upload(Bucket=files.bucket, Key=up["Key"], UploadId=up["UploadId"])


@pytest.fixture
def proxy(database_url: str) -> Iterator[Any]:
    """A TCP proxy in front of the test MariaDB that can lose a COMMIT's reply or go down
    (tests/mysql_fault_proxy.py); build services on `proxy.url_for(database_url)`."""
    from chalicelib.adapters.db import parse_url
    from tests.mysql_fault_proxy import MySQLFaultProxy
    p = parse_url(database_url)
    fault = MySQLFaultProxy(p["host"], p["port"])
    try:
        yield fault
    finally:
        fault.close()


def check_error_body(response: Any, what: str) -> None:
    """Never a 5xx; every error a `{code, msg}` body whose msg is Chinese with the English
    in parentheses, and whose data is null or the problems of the request (the fuzzers'
    property)."""
    assert response.status_code < 500, f"{what}: {response.status_code} {response.text[:300]}"
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body, dict) and isinstance(body.get("code"), int) \
            and body["code"] != 0 and bilingual(body.get("msg")), \
            f"{what}: error body is not {{code, msg}}: {response.text[:300]}"
        problem_fields(body)
