"""`make bench`: the engine's figures, written to bench/results.json.

Everything runs on this machine as in `make run`: a private MariaDB, moto's SQS/S3, the
fake product center in its own process, and the local runtime's worker processes (one
process per concurrent Lambda instance). Each figure is the median of RUNS runs.

    copy_efficiency                N=20,000, latency 20 ms, 4 workers x 10 threads: ideal/measured
    copy_seconds_20ms              the measured seconds behind copy_efficiency
    bare_seconds_20ms              the plain urllib3 loop at 20 ms (same processes x threads)
    copy_vs_bare_20ms              bare seconds / engine seconds at 20 ms
    copy_items_per_s_zero_latency  the same at latency 0
    bare_ceiling_items_per_s       plain urllib3 loop, same processes x threads, no queue, no DB
    copy_zero_latency_ratio        engine items/s / bare items/s (each run paired)
    bare_lean_items_per_s          the bare loop on the engine's own HTTP transport (http_pool.py)
    copy_vs_lean_bare_ratio        engine items/s / that loop's items/s: the engine's own overhead
    zero_latency_others_cpu_share  per zero-latency run (engine, bare, lean): the share of the
                                   box's CPU other processes took meanwhile (bench/box.py); a
                                   pair with a high share was disturbed (the shared 2-core box)
    fairness_small_task_s          1-item task created while a 100,000-item task fills every worker
    create_100k_ms                 handler time to create a 100,000-item task
    import_10k_rows_s              10,000-row order batch submit, request to task final (bench/orders_import.py)
    api_poll_p99_ms, api_poll_errors, copy_slowdown_under_polling   200 pollers on /task/list
                                   during a 20,000-item copy (bench/api_poll.py, --only api_poll)
    export_1m_{csv,xlsx}_s, …      order export figures (bench/orders_export.py, --only orders_export)
    fairness_budgeted_s, …         time slices, station fairness, the shared budget
                                   (bench/fairness.py, --only fairness / --only budget)
    queue_lag_ms, cold_import_ms, cold_first_request_ms, task_list_p99_ms, worker_rss_mb
                                   the platform's own cost (bench/cost.py, --only cost)
"""
from __future__ import annotations

import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.box import OthersWatch

ROOT = Path(__file__).resolve().parents[1]
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
N = int(os.environ.get("BENCH_N", "20000"))
WORKERS, THREADS, LATENCY_MS = 4, 10, 20.0
BIG = 100_000


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                .splitlines() if line.startswith("model name")), platform.processor())
    return f"{os.cpu_count()} cores, {cpu}, {platform.python_implementation()} {platform.python_version()}"


class Bench:
    """The stack for all scenarios; one runtime (4 worker processes) serves every run."""

    def __init__(self) -> None:
        from infra.local.aws import env_for, provision, start_moto
        from infra.local.mariadb import MariaDB, ensure_installed
        ensure_installed()
        port = int(os.environ.get("BENCH_DB_PORT", "3317"))
        self.db_server = MariaDB(datadir=ROOT / ".local" / f"bench-mariadb-{port}", port=port).start()
        self.db_server.drop_database("async_task_bench")
        self.db_server.create_database("async_task_bench")
        self.database_url = self.db_server.url("async_task_bench")
        for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                     "AWS_DEFAULT_REGION": "us-east-1"}.items():
            os.environ.setdefault(k, v)
        self.moto = start_moto()
        os.environ["AWS_ENDPOINT_URL"] = self.moto.endpoint_url
        aws_env = env_for(provision(self.moto.endpoint_url, "bench"))
        self.fake = subprocess.Popen([sys.executable, "-m", "infra.local.fake_product_center",
                                      "--port", "0"], cwd=ROOT, text=True, stdout=subprocess.PIPE)
        self.fake_url = self.fake.stdout.readline().strip().rsplit(" ", 1)[-1]
        from infra.migrate import migrate
        migrate(self.database_url)
        self.env = {**aws_env, "AWS_ENDPOINT_URL": self.moto.endpoint_url,
                    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_DEFAULT_REGION": "us-east-1", "DATABASE_URL": self.database_url,
                    "TOKEN_SECRET": secrets.token_hex(32), "INTERNAL_AUTH_KEY": secrets.token_hex(32),
                    "NOTIFY_SECRET": secrets.token_hex(32),
                    "PRODUCT_CENTER_URL": self.fake_url, "PRODUCT_CENTER_RATE": "0",
                    "WORKER_CONCURRENCY": str(WORKERS), "CHUNK_THREADS": str(THREADS),
                    "CHUNK_SIZE": "1000", "CHUNK_WINDOW": str(WORKERS), "STAGE": "bench",
                    "POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}
        os.environ.update(self.env)
        from chalicelib import bootstrap
        bootstrap.reset()
        self.svc = bootstrap.services()
        from infra.local.demo import ensure_products, ensure_shop
        self.src = ensure_shop(self.svc.db, "s001", "bench source")
        self.dst = ensure_shop(self.svc.db, "s001", "bench target")
        self.ids = ensure_products(self.svc.db, "s001", self.src, BIG)
        from infra.local.runtime import LocalRuntime
        self.runtime = LocalRuntime(app_ref="app:app", stage="dev", port=0, env=self.env,
                                    project_dir=str(ROOT), access_log=False)
        self.runtime.start()
        self.warm_up()

    def warm_up(self) -> None:
        """Measure warm instances, as a busy Lambda fleet is: one chunk for every worker."""
        self.fake_config(latency_ms=0)
        self.wait_final(self.create(WORKERS * 1000))

    def close(self) -> None:
        self.runtime.stop()
        self.fake.terminate()
        self.fake.wait(timeout=10)
        self.moto.stop()
        self.db_server.stop()

    # -- helpers ---------------------------------------------------------------------
    def fake_config(self, **kw: Any) -> None:
        import urllib.request
        req = urllib.request.Request(self.fake_url + "/_config", data=json.dumps(kw).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req).read()

    def create(self, n: int) -> int:
        from chalicelib.service.copy_tasks import CopyTaskRequest
        req = CopyTaskRequest(source_shop_id=self.src, target_shop_id=self.dst,
                              product_ids=self.ids[:n], repeat=True)
        return self.svc.kind("product_copy").create("s001", req).task.id

    def row(self, task_id: int) -> dict[str, Any]:
        def q(cur: Any) -> dict[str, Any]:
            cur.execute("SELECT status, creat_time, end_time, succeeded_items, failed_items"
                        " FROM tbl_async_task WHERE id=%s", (task_id,))
            return cur.fetchone()
        return self.svc.db.run(q)

    def wait_final(self, task_id: int, timeout_s: float = 600) -> float:
        """Seconds from creation to finalization, from the task's own DB timestamps."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            row = self.row(task_id)
            if row["status"] in (3, 4, 5):
                if row["status"] != 3:
                    raise RuntimeError(f"task {task_id} ended {row['status']}: {row}")
                return (row["end_time"] - row["creat_time"]).total_seconds()
            time.sleep(0.05)     # polling a benchmark's end condition
        raise TimeoutError(f"task {task_id} not final after {timeout_s}s")

    def running_chunks(self) -> int:
        def q(cur: Any) -> int:
            cur.execute("SELECT COUNT(*) AS n FROM tbl_task_chunk WHERE state=2")
            return cur.fetchone()["n"]
        return self.svc.db.run(q)

    def cancel_all(self) -> None:
        """End leftover work so the next run starts on an idle platform."""
        from chalicelib.adapters import task_repo
        from chalicelib.domain.task import TaskStatus
        from chalicelib.service import lifecycle

        def q(cur: Any) -> None:
            cur.execute("UPDATE tbl_task_chunk SET state=3 WHERE state < 3")
            for status in (TaskStatus.SUBMITTED, TaskStatus.RUNNING):
                for task in task_repo.list_any_station(cur, status=int(status), limit=10_000):
                    lifecycle.finish(cur, task_repo.get_any_station(cur, task.id, for_update=True),
                                     TaskStatus.FAILED, reason="bench: ended between runs")
        self.svc.db.run(q)
        # Workers notice at their next outcome flush (lease check) and stop taking items.
        quiet = 0
        while quiet < 3:
            quiet = quiet + 1 if self.fake_stats()["in_flight"] == 0 else 0
            time.sleep(0.1)

    def fake_stats(self) -> dict[str, int]:
        import urllib.request
        return json.loads(urllib.request.urlopen(self.fake_url + "/_stats").read())

    # -- scenarios -------------------------------------------------------------------
    def copy_seconds(self, latency_ms: float) -> float:
        self.fake_config(latency_ms=latency_ms)
        return self.wait_final(self.create(N))

    def bare(self, latency_ms: float = 0, client: str = "urllib3") -> float:
        from bench.bare_ceiling import bare_ceiling
        self.fake_config(latency_ms=latency_ms)
        return bare_ceiling(self.fake_url, processes=WORKERS, threads=THREADS, n=N, client=client)

    def fairness(self) -> float:
        self.fake_config(latency_ms=LATENCY_MS)
        big = self.create(BIG)
        deadline = time.monotonic() + 60
        while self.running_chunks() < WORKERS:
            if time.monotonic() > deadline:
                raise TimeoutError("workers never all busy")
            time.sleep(0.02)
        small = self.create(1)
        seconds = self.wait_final(small)
        self.cancel_all()
        assert self.row(big)["status"] == 5
        return seconds

    def create_100k_ms(self) -> float:
        from tests.http_client import GatewayClient
        import app as app_module
        from chalicelib.api.auth import issue_token
        client = GatewayClient(app_module.app)
        token = issue_token("s001", self.svc.settings.token_secret)
        body = {"source_shop_id": self.src, "target_shop_id": self.dst,
                "product_ids": self.ids[:BIG], "repeat": True}
        started = time.perf_counter()
        status, resp = client.post("/station/product/copy_task", body, token=token)
        elapsed = (time.perf_counter() - started) * 1000
        assert status == 200, resp
        self.cancel_all()
        return elapsed


def figure(runs: list[float], unit: str, digits: int = 3) -> dict[str, Any]:
    return {"median": round(statistics.median(runs), digits), "runs": [round(r, digits) for r in runs],
            "unit": unit}


def copy_section(bench: Bench, results: dict[str, Any]) -> None:
    """The engine's figures on the product copy task."""
    ideal = N * LATENCY_MS / 1000 / (WORKERS * THREADS)
    secs_20, bare_20 = [], []
    for _ in range(RUNS):
        secs_20.append(bench.copy_seconds(LATENCY_MS))
        bare_20.append(N / bench.bare(LATENCY_MS))
    results["copy_seconds_20ms"] = figure(secs_20, "s")
    results["copy_efficiency"] = figure([ideal / s for s in secs_20], "ideal/measured")
    # The same plain loop at 20 ms: what the fake and this machine allow at all.
    results["bare_seconds_20ms"] = figure(bare_20, "s")
    results["copy_vs_bare_20ms"] = figure([b / s for b, s in zip(bare_20, secs_20)],
                                          "bare seconds/engine seconds")
    engine, bare, lean = [], [], []
    others: dict[str, list[float]] = {"engine": [], "bare": [], "lean": []}
    for _ in range(RUNS):                       # paired, so noise hits all alike
        for name, runs, measure in (("engine", engine, lambda: N / bench.copy_seconds(0)),
                                    ("bare", bare, bench.bare),
                                    ("lean", lean, lambda: bench.bare(client="lean"))):
            with OthersWatch() as watch:        # how disturbed this run was (bench/box.py)
                runs.append(measure())
            others[name].append(watch.share)
    results["copy_items_per_s_zero_latency"] = figure(engine, "items/s", 1)
    results["bare_ceiling_items_per_s"] = figure(bare, "items/s", 1)
    results["copy_zero_latency_ratio"] = figure([e / b for e, b in zip(engine, bare)], "ratio")
    # The same bare loop on the engine's own transport (http_pool.py): the engine's overhead.
    results["bare_lean_items_per_s"] = figure(lean, "items/s", 1)
    results["copy_vs_lean_bare_ratio"] = figure([e / b for e, b in zip(engine, lean)], "ratio")
    results["zero_latency_others_cpu_share"] = {
        name: figure(shares, "share of both cores other processes used during the run")
        for name, shares in others.items()}
    results["fairness_small_task_s"] = figure([bench.fairness() for _ in range(RUNS)], "s")
    results["create_100k_ms"] = figure([bench.create_100k_ms() for _ in range(RUNS)], "ms", 1)
    results["config"] = {"N": N, "workers": WORKERS, "threads": THREADS, "latency_ms": LATENCY_MS,
                         "chunk_size": 1000, "runs": RUNS}


# name -> fn(bench, results): each section adds its figures to results.
from bench.cost import cost_section  # noqa: E402
from bench.orders_export import export_section  # noqa: E402
from bench.orders_import import import_section  # noqa: E402
from bench.api_poll import api_poll_section  # noqa: E402
from bench.fairness import budget_section, fairness_section  # noqa: E402

SECTIONS = {"copy": copy_section, "orders_export": export_section,
            "orders_import": import_section, "api_poll": api_poll_section,
            "fairness": fairness_section, "budget": budget_section, "cost": cost_section}


def main(argv: list[str] | None = None) -> int:
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=sorted(SECTIONS),
                        help="run only these sections (repeatable); default all")
    args = parser.parse_args(argv)
    out = ROOT / "bench" / "results.json"
    # a partial run (--only) updates its own figures and keeps the others
    results: dict[str, Any] = json.loads(out.read_text()) if out.exists() and args.only else {}
    bench = Bench()
    try:
        for name in args.only or SECTIONS:
            SECTIONS[name](bench, results)
    finally:
        bench.close()
    results["machine"] = machine()
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
