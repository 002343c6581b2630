"""A client generated from the description works against the running API.

tests/client holds a frontend's script (copy_and_poll.ts) and pinned npm packages
(package.json + package-lock.json: openapi-typescript 7.13.0, typescript 5.9.3). The test
installs them (`npm ci`, once per lock file), generates api.d.ts from the served
/openapi.json, compiles the script with tsc (strict: a description that stops typing a
request or an answer fails here) and runs it with node against the app under the local
runtime with a worker: it creates a copy, polls it to its end, lists it and reads a
refusal's error envelope.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.engine_helpers import app_runtime, seed_shops

CLIENT = Path(__file__).resolve().parents[1] / "client"
NPM_TIMEOUT_S = 600


def _run(*cmd: str, timeout: float = 120) -> str:
    proc = subprocess.run(cmd, cwd=CLIENT, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout


def _npm_ci() -> None:
    """Install the lock file's packages unless this exact lock file is installed."""
    lock = hashlib.sha256((CLIENT / "package-lock.json").read_bytes()).hexdigest()
    stamp = CLIENT / "node_modules" / ".installed-lock"
    if stamp.exists() and stamp.read_text() == lock:
        return
    _run("npm", "ci", "--no-audit", "--no-fund", timeout=NPM_TIMEOUT_S)
    stamp.write_text(lock)


@pytest.fixture
def stack(db_clean, stack_env, monkeypatch):
    with app_runtime(monkeypatch, stack_env, 2) as rt:
        yield rt


@pytest.mark.skipif(shutil.which("npm") is None, reason="node/npm are not installed")
def test_generated_typescript_client_copies_and_polls(stack, station_token):
    _npm_ci()
    shops = seed_shops(20)
    _run("npx", "openapi-typescript", f"{stack.url}/openapi.json", "-o", "api.d.ts",
         "--default-non-nullable", "false")
    _run("npx", "tsc", "-p", ".")
    out = _run("node", "build/copy_and_poll.js", stack.url, station_token,
               str(shops["source"]), str(shops["target"]),
               ",".join(map(str, shops["product_ids"][:5])), timeout=180)
    print(out)
    assert "ended 3 100% succeeded=5 failed=0 total=5" in out
    assert "refused: 404 40400" in out
