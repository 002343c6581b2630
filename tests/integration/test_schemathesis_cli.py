"""The description is the contract: `st run <api>/openapi.json --checks all` reports nothing.

What a frontend developer would run, as they would run it: schemathesis' own CLI (the
pinned 4.32.5), every check it has (server errors, status codes and content types the
description does not list, responses that do not match their schema, schema-valid requests
refused, schema-invalid ones accepted, undeclared methods, ignored auth, ...), positive and
negative data, against the app served by the local runtime over HTTP with a queue worker,
demo shops/products and operation cycles. The repository's schemathesis.toml is read as it
would be from a checkout (its hooks: the two between-field rules JSON Schema cannot state).

At least MIN_CASES cases and 0 failures; ST_MAX_EXAMPLES (default 20 per operation and
mode, on top of the coverage phase) scales it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chalicelib.adapters.db import Database
from infra.local.demo import seed_demo
from infra.local.seed_orders import ensure_time_configs
from tests.conftest import served_app

ROOT = Path(__file__).resolve().parents[2]
MIN_CASES = 1000
MAX_EXAMPLES = os.environ.get("ST_MAX_EXAMPLES", "20")


@pytest.fixture
def served_api(db_clean: None, stack_env: dict[str, str]):
    db = Database(stack_env["DATABASE_URL"])
    seed_demo(db, products_per_shop=50)
    ensure_time_configs(db, "s001")
    with served_app(stack_env, workers=1) as url:
        yield url


def test_st_run_all_checks_reports_no_failure(served_api: str, station_token: str,
                                              internal_key: str, tmp_path: Path):
    report = tmp_path / "st.json"
    st = Path(sys.executable).with_name("st")
    began = time.monotonic()
    proc = subprocess.run(
        [str(st), "run", f"{served_api}/openapi.json", "--checks", "all", "--mode", "all",
         "--max-examples", MAX_EXAMPLES, "--workers", "1", "--no-color",
         "-H", f"Authorization: Bearer {station_token}", "-H", f"X-Auth-Key: {internal_key}",
         "--report", "json", "--report-json-path", str(report)],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    seconds = time.monotonic() - began
    assert report.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(report.read_text())
    cases = result["test_cases"]
    print(f"schemathesis: {cases['generated']} cases, {cases['with_failures']} with failures,"
          f" {len(result['errors'])} errors in {seconds:.0f} s; "
          f"operations {result['operations']['tested']}/{result['operations']['total']}")
    assert proc.returncode == 0 and not result["failures"] and not result["errors"], \
        proc.stdout[-6000:]
    assert result["operations"]["tested"] == result["operations"]["total"]
    assert cases["generated"] >= MIN_CASES, cases
