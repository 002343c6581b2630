"""The platform's own cost (`make bench SECTIONS=cost`, issue #18): lag, cold start, list, memory.

    queue_lag_ms           a 1-item copy created while every worker idles in its long poll:
                           the chunk's queued_at (set just before the SQS send) to the task's
                           start_time (set by the worker's claim), so an upper bound of send ->
                           receive on the local runtime (moto). Runs 1.5 s apart.
    cold_import_ms         a fresh interpreter with the API function's environment: `import app`
                           (wall; cold_import_cpu_ms the same in CPU time, less hit by a busy box)
    cold_first_request_ms  a fresh interpreter: `import app`, then the first GET /task/list as API
                           Gateway makes it (the authorizer handler, then the API handler with
                           the authorizer's context), DB connection included
    task_list_p99_ms       GET /task/list?limit=50 on a station with 50 shown tasks, a warm
                           handler called in-process as API Gateway calls it (the authorizer,
                           uncached, then the API handler; no socket but the DB's), 300 calls
    worker_rss_mb          VmRSS of a warm worker instance after its 1,000-item chunks, and in
                           worker_rss_contributors_mb what each import adds in a fresh process

The copy ratios (copy_zero_latency_ratio, copy_vs_bare_20ms) are the copy section's.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LIST_STATION = "s0bench50"

# Run in a fresh interpreter: the first /task/list as API Gateway invokes it.
_COLD_REQUEST = r"""
import json, sys, time
from bench import lambda_events
started = time.perf_counter()
import app
from chalicelib.api.auth import issue_token
resp = lambda_events.get(app, "/task/list", {"limit": "50"}, issue_token(sys.argv[1], sys.argv[2]))
done = time.perf_counter()
assert resp["statusCode"] == 200, resp
print(json.dumps({"total_ms": (done - started) * 1000,
                  "tasks": len(json.loads(resp["body"])["data"]["tasks"])}))
"""

_COLD_IMPORT = r"""
import json, time
started, cpu = time.perf_counter(), time.process_time()
import app
print(json.dumps({"ms": (time.perf_counter() - started) * 1000,
                  "cpu_ms": (time.process_time() - cpu) * 1000}))
"""

# What each import adds to a fresh process's RSS, in the order a worker loads them.
_RSS_STEPS = r"""
import json
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
steps, last = {}, rss()
for name, stmt in [("python", "pass"), ("chalice", "import chalice"),
                   ("pydantic", "import pydantic"), ("powertools", "import aws_lambda_powertools"),
                   ("pymysql", "import pymysql"), ("urllib3", "import urllib3"),
                   ("app (the rest of chalicelib)", "import app"),
                   ("boto3 + SQS/S3 clients", "from chalicelib.adapters import aws; aws.client('sqs'); aws.client('s3')")]:
    exec(stmt)
    now = rss()
    steps[name] = round(now - last if name != "python" else now, 1)
    last = now
print(json.dumps(steps))
"""


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _fig(runs: list[float], unit: str, digits: int = 1) -> dict[str, Any]:
    return {"median": round(_median(runs), digits), "runs": [round(r, digits) for r in runs],
            "unit": unit}


def _api_env(bench: Any) -> dict[str, str]:
    """The API function's environment, as the local runtime gives it."""
    env = {**os.environ, **bench.runtime._function_env("api_handler"), "PYTHONPATH": str(ROOT)}
    return env


def _fresh(code: str, env: dict[str, str], *args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"fresh process failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def queue_lag_ms(bench: Any, runs: int) -> list[float]:
    bench.fake_config(latency_ms=0)
    lags = []
    for _ in range(runs):
        time.sleep(1.5)        # every worker back in its long poll on an idle queue
        task_id = bench.create(1)
        bench.wait_final(task_id)

        def q(cur: Any) -> dict[str, Any]:
            cur.execute("SELECT c.queued_at, t.start_time FROM tbl_task_chunk c"
                        " JOIN tbl_async_task t ON t.id = c.task_id WHERE t.id=%s", (task_id,))
            return cur.fetchone()
        row = bench.svc.db.run(q)
        lags.append((row["start_time"] - row["queued_at"]).total_seconds() * 1000)
    return lags


def seed_list_station(bench: Any, n: int = 50) -> None:
    from chalicelib.service.tasks import NewTask

    def shown(cur: Any) -> int:
        cur.execute("SELECT COUNT(*) AS n FROM tbl_async_task WHERE station_id=%s"
                    " AND message_show=1", (LIST_STATION,))
        return cur.fetchone()["n"]
    for i in range(bench.svc.db.run(shown), n):
        bench.svc.tasks.create(NewTask(station_id=LIST_STATION, name="bench_list", type=2,
                                       input={"n": i}, repeat=True, business_name="基准"))


def task_list_ms(bench: Any, calls: int = 300) -> list[float]:
    """Warm handlers called as API Gateway calls them (authorizer, then the API handler)."""
    import app as app_module
    from bench import lambda_events
    from chalicelib.api.auth import issue_token
    token = issue_token(LIST_STATION, bench.svc.settings.token_secret)
    resp = lambda_events.get(app_module, "/task/list", {"limit": "50"}, token)
    assert resp["statusCode"] == 200 and len(json.loads(resp["body"])["data"]["tasks"]) == 50
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        lambda_events.get(app_module, "/task/list", {"limit": "50"}, token)
        times.append((time.perf_counter() - started) * 1000)
    return times


def worker_rss_mb(bench: Any) -> list[float]:
    out = []
    for inst in bench.runtime.instances:
        if inst["handler"] == "work":
            for line in Path(f"/proc/{inst['pid']}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out.append(int(line.split()[1]) / 1024)
    return out


def cost_section(bench: Any, results: dict[str, Any]) -> None:
    from bench.run import RUNS
    runs = max(RUNS, 5)
    results["queue_lag_ms"] = _fig(queue_lag_ms(bench, runs), "ms (send->claim, idle queue)")
    env = _api_env(bench)
    cold = [_fresh(_COLD_IMPORT, env) for _ in range(runs)]
    results["cold_import_ms"] = _fig([c["ms"] for c in cold], "ms")
    results["cold_import_cpu_ms"] = _fig([c["cpu_ms"] for c in cold], "ms CPU")
    seed_list_station(bench)
    first = [_fresh(_COLD_REQUEST, env, LIST_STATION, bench.svc.settings.token_secret)
             for _ in range(runs)]
    assert all(f["tasks"] == 50 for f in first), first
    results["cold_first_request_ms"] = _fig([f["total_ms"] for f in first], "ms")
    p99s = []
    for _ in range(3):
        times = sorted(task_list_ms(bench))
        p99s.append(times[int(len(times) * 0.99) - 1])
    results["task_list_p99_ms"] = _fig(p99s, "ms", 2)
    rss = worker_rss_mb(bench)          # the workers ran 1,000-item chunks in the warm-up
    results["worker_rss_mb"] = _fig(rss, "MB (each warm worker)")
    results["worker_rss_contributors_mb"] = _fresh(_RSS_STEPS, {**env, **bench.env})
