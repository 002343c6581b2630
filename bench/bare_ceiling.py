"""The bare ceiling: how many creates/s this machine can push through the fake at all.

No retries, no rate limiter, no database: just processes x threads posting create requests
through plain urllib3 pools. Any platform figure is to be read against this number.

`client="lean"` posts through the engine's own transport instead
(chalicelib/adapters/http_pool.py, the same headers as the product center client): the
ceiling of that transport, against which the engine's own overhead shows (bench/run.py
copy_vs_lean_bare_ratio).

    python bench/bare_ceiling.py [--processes 4] [--threads 10] [-n 20000]

starts the fake product center in a subprocess (latency 0), measures, prints items/s.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import urllib3

ROOT = Path(__file__).resolve().parents[1]
_BODY = json.dumps({"shop_id": 1, "source_product_id": 1, "name": "bench",
                    "price_cents": 100}).encode()


def _post_all(pool: urllib3.HTTPConnectionPool, prefix: str, count: int) -> int:
    """Post `count` creates with unique keys; returns how many were answered 200."""
    ok = 0
    for n in range(count):
        resp = pool.urlopen("POST", "/product/create", body=_BODY, retries=False,
                            headers={"Idempotency-Key": f"{prefix}-{n}"})
        ok += resp.status == 200
    return ok


def _post_all_lean(pool, prefix: str, count: int) -> int:
    """_post_all through the engine's transport, with the product center client's headers."""
    ok = 0
    for n in range(count):
        resp = pool.post("/product/create", _BODY, {"Content-Type": "application/json",
                                                    "Idempotency-Key": f"{prefix}-{n}"})
        ok += resp.status == 200
    return ok


def _process(url: str, counts: list[int], barrier, results, client: str = "urllib3") -> None:
    """One benchmark process: len(counts) threads sharing one pool, released by the barrier."""
    if client == "lean":
        from chalicelib.adapters.http_pool import HttpPool
        pool = HttpPool(url, maxsize=len(counts), connect_timeout_s=2, read_timeout_s=5)
        post_all = _post_all_lean
    else:
        pool = urllib3.connection_from_url(url, maxsize=len(counts), block=True, retries=False)
        post_all = _post_all
    run = uuid.uuid4().hex[:8]   # keys stay unique across runs against a long-lived fake
    marks: list[tuple[float, float, int]] = []

    def thread(t: int) -> None:
        barrier.wait()
        started = time.monotonic()
        ok = post_all(pool, f"bench-{run}-{os.getpid()}-{t}", counts[t])
        marks.append((started, time.monotonic(), ok))   # list.append is atomic

    threads = [threading.Thread(target=thread, args=(t,)) for t in range(len(counts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put(marks)


def bare_ceiling(url: str, processes: int = 4, threads: int = 10, n: int = 20000,
                 client: str = "urllib3") -> float:
    """Items/s from the start barrier to the last response (CLOCK_MONOTONIC is system-wide);
    client "urllib3" (plain pools) or "lean" (the engine's transport)."""
    ctx = mp.get_context("spawn")
    workers = processes * threads
    counts = [n // workers + (w < n % workers) for w in range(workers)]
    barrier, results = ctx.Barrier(workers), ctx.Queue()
    procs = [ctx.Process(target=_process, args=(url, counts[p * threads:(p + 1) * threads],
                                                barrier, results, client))
             for p in range(processes)]
    for p in procs:
        p.start()
    marks: list[tuple[float, float, int]] = []
    try:
        for _ in procs:
            marks += _next_result(results, procs)
    except BaseException:   # a crashed sibling leaves the others stuck at the barrier
        for p in procs:
            p.terminate()
        raise
    finally:
        for p in procs:
            p.join()
    ok = sum(m[2] for m in marks)
    if ok != n:
        raise RuntimeError(f"only {ok} of {n} creates were answered 200")
    return n / (max(m[1] for m in marks) - min(m[0] for m in marks))


def _next_result(results, procs: list) -> list[tuple[float, float, int]]:
    """The next process's marks; fails fast instead of waiting on a process that died."""
    while True:
        try:
            return results.get(timeout=1.0)
        except queue.Empty:
            if any(p.exitcode not in (None, 0) for p in procs):
                raise RuntimeError("a benchmark process died; see its traceback above") from None


def single_loop(url: str, n: int = 5000) -> float:
    """One thread, one keep-alive connection: the plain urllib3 loop rate, requests/s."""
    pool = urllib3.connection_from_url(url, maxsize=1, retries=False)
    _post_all(pool, f"warm-{uuid.uuid4().hex[:8]}", 100)
    started = time.monotonic()
    ok = _post_all(pool, f"loop-{uuid.uuid4().hex[:8]}", n)
    elapsed = time.monotonic() - started
    if ok != n:
        raise RuntimeError(f"only {ok} of {n} creates were answered 200")
    return n / elapsed


def start_fake() -> tuple[subprocess.Popen[str], str]:
    """The fake in its own process on a free port; returns it and its URL."""
    proc = subprocess.Popen([sys.executable, "-m", "infra.local.fake_product_center",
                             "--port", "0", "--latency-ms", "0"],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    if "http://" not in line:
        proc.kill()
        raise RuntimeError(f"fake product center did not start: {line!r}")
    return proc, line[line.index("http://"):].strip()


def main() -> None:
    parser = argparse.ArgumentParser(description="Bare create-product ceiling of this machine.")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--threads", type=int, default=10)
    parser.add_argument("-n", type=int, default=20000)
    parser.add_argument("--url", help="use a running fake instead of starting one")
    args = parser.parse_args()
    proc, url = (None, args.url) if args.url else start_fake()
    try:
        loop_rate = single_loop(url)
        rate = bare_ceiling(url, args.processes, args.threads, args.n)
        stats = json.loads(urllib3.request("GET", url + "/_stats").data)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
    host = urlsplit(url).netloc
    print(f"fake at {host}: single urllib3 loop {loop_rate:,.0f} req/s")
    print(f"bare ceiling ({args.processes} processes x {args.threads} threads, n={args.n}): "
          f"{rate:,.0f} items/s  [fake: creates={stats['creates']} "
          f"max_in_flight={stats['max_in_flight']}]")


if __name__ == "__main__":
    main()
