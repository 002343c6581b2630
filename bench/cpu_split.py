"""Where the machine's CPU goes during the zero-latency copy and the bare loop (same run).

    python -m bench.cpu_split [-r 3]

Per item: CPU of the worker processes, the fake, MariaDB, this process (moto + bench),
the bare loops' processes (urllib3, and the engine's own transport "lean"; their start-up
included), and how busy the cores were (from /proc; other load on the machine shows there).
"""
from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(f[11]) + int(f[12])) / TICK


def machine_busy() -> tuple[float, float]:
    f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = f[3] + f[4]
    return (sum(f) - idle) / TICK, sum(f) / TICK


def snapshot(bench) -> dict[str, float]:
    workers = [i["pid"] for i in bench.runtime.instances if i["handler"] == "work"]
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy, total = machine_busy()
    return {"workers": sum(cpu_s(p) for p in workers), "fake": cpu_s(bench.fake.pid),
            "mariadb": cpu_s(bench.db_server.pid), "bench+moto": cpu_s(os.getpid()),
            "bare_children": ch.ru_utime + ch.ru_stime, "machine_busy": busy,
            "machine_total": total, "wall": time.monotonic()}


def delta(a, b):
    return {k: b[k] - a[k] for k in a}


def show(name: str, n: int, d: dict[str, float]) -> None:
    per = {k: 1e6 * v / n for k, v in d.items() if k not in ("wall", "machine_total")}
    idle = 1 - d["machine_busy"] / d["machine_total"] if d["machine_total"] else 0
    print(f"{name:7s} {n / d['wall']:7.0f} items/s wall {d['wall']:.2f}s  idle {100 * idle:4.1f}%  µs/item: "
          + "  ".join(f"{k} {v:.0f}" for k, v in per.items()), flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("-r", type=int, default=3)
    p.add_argument("-n", type=int, default=20000)
    a = p.parse_args()
    import bench.run as br
    br.N = a.n
    bench = br.Bench()
    try:
        for _ in range(a.r):
            s = snapshot(bench)
            bench.copy_seconds(0)
            show("engine", a.n, delta(s, snapshot(bench)))
            for client in ("urllib3", "lean"):
                s = snapshot(bench)
                bench.bare(0, client=client)
                show(client, a.n, delta(s, snapshot(bench)))
    finally:
        bench.close()


if __name__ == "__main__":
    main()
