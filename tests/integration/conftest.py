"""Fixtures and helpers shared by the integration tests (the session's servers are in
tests/conftest.py). Test modules never import each other: what two of them share is here,
in engine_helpers.py (engine and runtime helpers) or in export_helpers.py (export files).
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

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
