"""The API under the frontend's polling while a big copy runs (`make bench SECTIONS=api_poll`).

    api_poll_p99_ms              200 clients each GET /task/list once a second (200 req/s
                                 offered, open loop: a request goes at its time whether or
                                 not the previous one answered; latency counted from that
                                 time), over HTTP against the local runtime's API pool,
                                 while a 20,000-item copy runs. Target <= 100 ms.
    api_poll_errors              requests not answered 200 with code 0 within 10 s. Target 0.
    copy_slowdown_under_polling  that copy's seconds / the same copy's seconds without
                                 pollers (runs paired). Target <= 1.10.
    api_list_handler_ms          a warm /task/list in the bench process (authorizer, handler,
                                 its one query), no HTTP: median and p99 of 300.

The load comes from its own process (`python -m bench.api_poll URL TOKEN`), so the
clients take no CPU time from the runtime's front server in the bench process. Before each
measured copy the pollers run WARM_S seconds so the pool has scaled to the load, as a
Lambda fleet under steady polling has; those requests are not counted.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any
from urllib.parse import urlparse

CLIENTS = int(os.environ.get("BENCH_POLL_CLIENTS", "200"))
PERIOD_S = 1.0
WARM_S = 3.0
REQUEST_TIMEOUT_S = 10.0
CONNECTIONS_PER_CLIENT = 6        # as a browser holds per host; a request beyond waits
MAX_POLL_S = 90.0                 # the generator stops by itself after this, whatever happens


# -- the load generator (its own process) -------------------------------------------------
class Stats:
    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.errors: dict[str, int] = {}
        self.counting = False

    def record(self, ok: bool, ms: float, what: str = "") -> None:
        if not self.counting:
            return
        if ok:
            self.latencies_ms.append(ms)
        else:
            self.errors[what] = self.errors.get(what, 0) + 1


async def _one(conns: list, host: str, port: int, request: bytes) -> tuple[bool, str]:
    """One GET on an idle kept-alive connection of this client (or a new one)."""
    reader, writer = conns.pop() if conns else await asyncio.open_connection(host, port)
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    body = json.loads(await reader.readexactly(length))
    if b"connection: close" in head.lower():
        writer.close()
    else:
        conns.append((reader, writer))
    if status != 200 or body.get("code") != 0:
        return False, f"{status}/{body.get('code')}"
    return True, ""


async def _client(index: int, url: str, token: str, stats: Stats, stop: asyncio.Event) -> None:
    u = urlparse(url)
    request = (f"GET /task/list HTTP/1.1\r\nHost: {u.netloc}\r\n"
               f"Authorization: Bearer {token}\r\n\r\n").encode()
    conns: list = []
    slots = asyncio.Semaphore(CONNECTIONS_PER_CLIENT)
    loop = asyncio.get_running_loop()
    next_at = loop.time() + PERIOD_S * index / CLIENTS       # phases spread over a second
    pending: set[asyncio.Task] = set()

    async def send() -> tuple[bool, str]:
        async with slots:
            return await _one(conns, u.hostname, u.port, request)

    async def fire(scheduled: float) -> None:
        try:      # the timeout counts from the request's time, waiting for a slot included
            ok, what = await asyncio.wait_for(send(), REQUEST_TIMEOUT_S)
        except asyncio.TimeoutError:
            ok, what = False, "timeout"
        except (OSError, asyncio.IncompleteReadError, ValueError, StopIteration) as exc:
            ok, what = False, type(exc).__name__
        stats.record(ok, (loop.time() - scheduled) * 1000, what)

    while not stop.is_set():
        delay = next_at - loop.time()
        if delay > 0:
            try:
                await asyncio.wait_for(stop.wait(), delay)
                break
            except asyncio.TimeoutError:
                pass
        task = asyncio.create_task(fire(next_at))       # open loop: never waits for answers
        pending.add(task)
        task.add_done_callback(pending.discard)
        next_at += PERIOD_S
    if pending:       # each ends within REQUEST_TIMEOUT_S; more means the loop itself lagged
        _, late = await asyncio.wait(pending, timeout=REQUEST_TIMEOUT_S + 2)
        for task in late:
            task.cancel()
            stats.record(False, REQUEST_TIMEOUT_S * 1000, "unanswered")
    for _, writer in conns:
        writer.close()


async def _generate(url: str, token: str) -> dict[str, Any]:
    stats, stop = Stats(), asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, stop.set)
    clients = [asyncio.create_task(_client(i, url, token, stats, stop)) for i in range(CLIENTS)]
    await asyncio.sleep(WARM_S)                # warm-up: the pool scales to the load
    stats.counting = True
    began = loop.time()
    print("measuring", flush=True)
    try:
        await asyncio.wait_for(stop.wait(), MAX_POLL_S)
    except asyncio.TimeoutError:
        pass
    measured_s = loop.time() - began
    stop.set()
    await asyncio.gather(*clients)
    lat = sorted(stats.latencies_ms)
    return {"ok": len(lat), "errors": stats.errors, "seconds": measured_s,
            "p50_ms": _pct(lat, 50), "p99_ms": _pct(lat, 99), "max_ms": lat[-1] if lat else None}


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, int(len(values) * p / 100))]


# -- the bench section --------------------------------------------------------------------
def polled_copy_seconds(bench: Any, token: str) -> tuple[float, dict[str, Any]]:
    from bench.run import LATENCY_MS, N, ROOT
    bench.fake_config(latency_ms=LATENCY_MS)
    gen = subprocess.Popen([sys.executable, "-m", "bench.api_poll", bench.runtime.url, token],
                           cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        if gen.stdout.readline().strip() != "measuring":
            raise RuntimeError("the poll generator did not start")
        seconds = bench.wait_final(bench.create(N))
        gen.send_signal(signal.SIGUSR1)
        out, _ = gen.communicate(timeout=REQUEST_TIMEOUT_S + 60)
    finally:
        if gen.poll() is None:
            gen.kill()
            gen.wait()
    return seconds, json.loads(out)


def handler_ms(bench: Any, token: str, calls: int = 300) -> tuple[list[float], int]:
    """A warm /task/list in this process (authorizer + handler + one query), no HTTP."""
    import app as app_module
    from tests.http_client import GatewayClient
    client = GatewayClient(app_module.app)
    status, body = client.get("/task/list", token=token)
    assert status == 200, body
    times = []
    for _ in range(calls):
        began = time.perf_counter()
        client.get("/task/list", token=token)
        times.append((time.perf_counter() - began) * 1000)
    return sorted(times), len(body["data"]["tasks"])


def api_poll_section(bench: Any, results: dict[str, Any]) -> None:
    from bench.run import LATENCY_MS, N, RUNS, figure
    from chalicelib.api.auth import issue_token
    token = issue_token("s001", bench.svc.settings.token_secret)
    runs = max(1, min(RUNS, 3))
    plain, polled, polls = [], [], []
    for _ in range(runs):                        # paired: noise hits both copies alike
        plain.append(bench.copy_seconds(LATENCY_MS))
        seconds, poll = polled_copy_seconds(bench, token)
        polled.append(seconds)
        polls.append(poll)
    results["api_poll_p99_ms"] = figure([p["p99_ms"] for p in polls], "ms", 1)
    results["api_poll_p50_ms"] = figure([p["p50_ms"] for p in polls], "ms", 1)
    results["api_poll_errors"] = figure([sum(p["errors"].values()) for p in polls], "requests", 0)
    results["api_poll_requests"] = figure([p["ok"] + sum(p["errors"].values()) for p in polls],
                                          "requests", 0)
    results["copy_seconds_polled"] = figure(polled, "s")
    results["copy_seconds_unpolled"] = figure(plain, "s")
    results["copy_slowdown_under_polling"] = figure([b / a for a, b in zip(plain, polled)],
                                                    "polled/unpolled")
    times, page = handler_ms(bench, token)
    results["api_list_handler_ms"] = {"median": round(times[len(times) // 2], 2),
                                      "p99": round(_pct(times, 99), 2), "unit": "ms",
                                      "page_tasks": page}
    results["api_poll_config"] = {
        "clients": CLIENTS, "period_s": PERIOD_S, "warm_s": WARM_S, "N": N,
        "latency_ms": LATENCY_MS, "api_concurrency": bench.runtime.api_concurrency,
        "api_instances_after": len(bench.runtime.api_pids),
        "errors_by_kind": [p["errors"] for p in polls], "runs": runs}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_generate(sys.argv[1], sys.argv[2]))), flush=True)
