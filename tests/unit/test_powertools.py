"""Powertools as documented (Chalice's ConvertToMiddleware): a fresh process, as a cold
Lambda, with service name and namespace taken from POWERTOOLS_* only."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
from chalice.config import Config
from chalice.local import LocalGateway
import app
gw = LocalGateway(app.app, Config(chalice_stage="dev", function_name="api_handler"))
for _ in range(2):
    r = gw.handle_request("GET", "/openapi.json", {"host": "localhost"}, b"")
    assert r["statusCode"] == 200, r
"""


def test_http_handlers_log_the_lambda_context_and_flush_a_cold_start_metric():
    env = {k: v for k, v in os.environ.items() if not k.startswith("POWERTOOLS_")}
    env.update(POWERTOOLS_SERVICE_NAME="svc-from-env", POWERTOOLS_METRICS_NAMESPACE="NsFromEnv",
               PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    emf = [line for line in lines if "_aws" in line]
    cold = [m for m in emf if any(d["Name"] == "ColdStart" for d in
                                 m["_aws"]["CloudWatchMetrics"][0]["Metrics"])]
    assert len(cold) == 1                                  # once per process, not per request
    assert cold[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "NsFromEnv"
    assert cold[0]["service"] == "svc-from-env" and cold[0]["function_name"] == "api_handler"
    requests = [line for line in lines if line.get("message") == "request"]
    assert len(requests) == 2
    assert all(r["service"] == "svc-from-env" and r["function_name"] == "api_handler"
               and "function_request_id" in r for r in requests)
    assert [r["cold_start"] for r in requests] == [True, False]
