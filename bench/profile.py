"""`make profile`: where a worker's and the API's time goes, saved under bench/profile/.

    python -m bench.profile [--tag before] [-n 20000]

On the bench stack (bench/run.py: private MariaDB, moto, the fake product center, the
local runtime's 4 worker processes), it samples one worker process with py-spy while a
zero-latency copy of N items runs, and profiles the API handler (cProfile, in this
process) while it creates a 100,000-item copy task. Written files, each small text:

    worker-<tag>.txt    the worker's top functions by own time and by total time
                        (py-spy samples of every thread holding the GIL)
    worker-<tag>.folded the collapsed stacks behind it (any flame graph tool reads them)
    api-<tag>.txt       pstats of the create request: top by own time and by cumulative

py-spy needs ptrace rights on the worker (root, or CAP_SYS_PTRACE in a container).
"""
from __future__ import annotations

import argparse
import collections
import cProfile
import io
import os
import pstats
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "profile"
TOP = 25


def fold_top(folded: str, top: int = TOP) -> str:
    """Top frames by own samples and by inclusive samples, from py-spy's raw output."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in folded.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        samples += n
        frames = [f for f in stack.split(";") if not f.startswith("process ")
                  and not f.startswith("thread ")]
        if not frames:
            continue
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    lines = [f"{samples} samples (threads holding the GIL)", "", "by own time:"]
    lines += [f"{100 * n / samples:6.1f}%  {f}" for f, n in own.most_common(top)]
    lines += ["", "by total time (the frame or its callees):"]
    lines += [f"{100 * n / samples:6.1f}%  {f}" for f, n in total.most_common(top)]
    return "\n".join(lines) + "\n"


def profile_worker(bench, pid: int, tag: str, n: int, rate: int) -> Path:
    folded = OUT / f"worker-{tag}.folded"
    spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record",
                            "--pid", str(pid), "--rate", str(rate), "--gil", "--nonblocking", "--function",
                            "--format", "raw", "--output", str(folded)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)     # py-spy attaches before the work starts
        bench.fake_config(latency_ms=0)
        seconds = bench.wait_final(bench.create(n))
    finally:
        spy.send_signal(signal.SIGINT)
        _, err = spy.communicate(timeout=60)
    if not folded.exists():
        raise RuntimeError(f"py-spy wrote nothing: {err}")
    text = fold_top(folded.read_text())
    out = OUT / f"worker-{tag}.txt"
    out.write_text(f"worker pid {pid} sampled at {rate}/s, zero-latency copy of {n} items in"
                   f" {seconds:.2f} s "
                   f"({n / seconds:,.0f} items/s, 4 workers x 10 threads)\n{text}")
    return out


def profile_api(bench, tag: str) -> Path:
    from tests.http_client import GatewayClient
    import app as app_module
    from chalicelib.api.auth import issue_token
    from bench.run import BIG
    client = GatewayClient(app_module.app)
    token = issue_token("s001", bench.svc.settings.token_secret)
    body = {"source_shop_id": bench.src, "target_shop_id": bench.dst,
            "product_ids": bench.ids[:BIG], "repeat": True}
    client.get("/task/list", token=token)          # a warm handler, as a busy API is
    prof = cProfile.Profile()
    started = time.perf_counter()
    prof.enable()
    status, resp = client.post("/station/product/copy_task", body, token=token)
    prof.disable()
    elapsed = (time.perf_counter() - started) * 1000
    assert status == 200, resp
    bench.cancel_all()
    buf = io.StringIO()
    buf.write(f"POST /station/product/copy_task with {BIG} product ids: {elapsed:.0f} ms "
              f"(under cProfile)\n\n")
    for key in ("tottime", "cumulative"):
        stats = pstats.Stats(prof, stream=buf)
        stats.strip_dirs().sort_stats(key).print_stats(TOP)
    out = OUT / f"api-{tag}.txt"
    out.write_text(buf.getvalue())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", default="latest")
    parser.add_argument("-n", type=int, default=int(os.environ.get("BENCH_N", "20000")))
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    from bench.run import Bench
    bench = Bench()
    try:
        workers = [i["pid"] for i in bench.runtime.instances if i["handler"] == "work"]
        for path in (profile_worker(bench, workers[0], args.tag, args.n, args.rate),
                     profile_api(bench, args.tag)):
            print(f"--- {path.relative_to(ROOT)}")
            print("\n".join(path.read_text().splitlines()[:40]))
    finally:
        bench.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
