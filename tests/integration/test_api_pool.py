"""The local runtime's API instance pool and its front server (infra/local/api_pool.py,
api_front.py), driving tests/integration/sample_app.py: one request per instance at a time,
warm reuse, scaling up to the API concurrency, throttling beyond it, timeouts, and slow
clients that tie up no instance.

Requests held inside the app block on a FIFO the test opens when it lets them go; every
wait polls a real condition under a deadline.
"""
from __future__ import annotations

import json
import os
import socket
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

from infra.local.runtime import LocalRuntime

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_APP = "tests.integration.sample_app:app"
STAGE = "itest-pool"
LIMIT = 3
READ_TIMEOUT_S = 1.0


def wait_for(condition, timeout_s: float = 20.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.02)    # poll interval, not a synchronisation
    return value


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pool-out")


@pytest.fixture(scope="module")
def runtime(out_dir: Path) -> Iterator[LocalRuntime]:
    env = {"SAMPLE_OUT_DIR": str(out_dir), "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    chalice_config = {"stages": {STAGE: {"lambda_functions": {
        "api_handler": {"lambda_timeout": 2, "reserved_concurrency": LIMIT}}}}}
    with LocalRuntime(SAMPLE_APP, stage=STAGE, port=0, env=env, project_dir=ROOT,
                      worker_concurrency={"consume": 0}, schedule_interval_s=3600,
                      chalice_config=chalice_config, access_log=False, stop_grace_s=1.0,
                      api_read_timeout_s=READ_TIMEOUT_S) as rt:
        yield rt


def get(rt: LocalRuntime, path: str, timeout_s: float = 20) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(rt.url + path, timeout=timeout_s) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@contextmanager
def held(rt: LocalRuntime, out_dir: Path, names: list[str]) -> Iterator[list]:
    """Requests /hold/<name> that stay inside their instances until the block ends."""
    for name in names:
        os.mkfifo(out_dir / f"{name}.fifo")
    log = out_dir / "held.log"
    pool = ThreadPoolExecutor(len(names))
    futures = [pool.submit(get, rt, f"/hold/{name}") for name in names]
    try:
        wait_for(lambda: log.exists() and all(
            any(line.startswith(f"{n} ") for line in log.read_text().splitlines())
            for n in names), what=f"{names} inside their instances")
        yield futures
    finally:
        for name in names:     # opening and closing the write end lets each reader go
            os.close(os.open(out_dir / f"{name}.fifo", os.O_WRONLY))
        pool.shutdown(wait=True)


def test_warm_instance_serves_requests_one_after_another(runtime: LocalRuntime) -> None:
    assert get(runtime, "/hello")[0] == 401     # the authorizer runs in front of the pool
    pids = set()
    for i in range(5):
        req = urllib.request.Request(runtime.url + "/hello", headers={"Authorization": "good"})
        with urllib.request.urlopen(req, timeout=20) as resp:
            pids.add(json.loads(resp.read())["pid"])
    assert len(pids) == 1                        # sequential requests: one warm instance
    assert pids <= set(runtime.api_pids) and os.getpid() not in pids


def test_scales_to_the_limit_then_throttles_in_the_envelope(runtime: LocalRuntime,
                                                            out_dir: Path) -> None:
    names = [f"t{i}" for i in range(LIMIT)]
    with held(runtime, out_dir, names) as futures:
        assert len(runtime.api_pids) == LIMIT
        began = time.monotonic()
        burst = ThreadPoolExecutor(10)
        answers = list(burst.map(lambda _: get(runtime, "/open/burst"), range(10)))
        assert time.monotonic() - began < 5            # answered at once, no hang
        assert answers == [(429, {"code": 42900, "data": None, "msg": answers[0][1]["msg"]})
                           ] * 10
        assert "concurrency" in answers[0][1]["msg"]
    results = [f.result() for f in futures]
    assert [status for status, _ in results] == [200] * LIMIT
    assert len({body["pid"] for _, body in results}) == LIMIT   # one request per instance
    assert get(runtime, "/open/after")[0] == 200


def test_timed_out_invocation_ends_its_instance(runtime: LocalRuntime) -> None:
    status, body = get(runtime, "/sleep/5")
    assert status == 504 and body["code"] == 50400
    assert get(runtime, "/open/fresh")[0] == 200                  # a new instance serves


def _connect(rt: LocalRuntime) -> socket.socket:
    return socket.create_connection(("127.0.0.1", rt.port), timeout=10)


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_silent_and_trickling_clients_tie_up_no_instance(runtime: LocalRuntime,
                                                         out_dir: Path) -> None:
    # LIMIT - 1 instances held: one left. Slow clients must not take it.
    names = [f"s{i}" for i in range(LIMIT - 1)]
    with held(runtime, out_dir, names):
        silent = [_connect(runtime) for _ in range(5)]
        trickle = _connect(runtime)
        trickle.sendall(b"POST /open/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
        headers_only = _connect(runtime)
        headers_only.sendall(b"GET /open/slow HTTP/1.1\r\nHost: x\r\n")
        # meanwhile the one free instance serves a normal client
        assert get(runtime, "/open/normal")[0] == 200
        began = time.monotonic()
        reply = _read_all(trickle)
        assert time.monotonic() - began < READ_TIMEOUT_S + 3
        status_line, _, rest = reply.partition(b"\r\n")
        assert status_line.startswith(b"HTTP/1.1 408")
        assert json.loads(rest.partition(b"\r\n\r\n")[2])["code"] == 40800
        assert _read_all(headers_only).startswith(b"HTTP/1.1 408")
        for sock in silent:              # never sent a byte: closed after the timeout
            assert _read_all(sock) == b""
            sock.close()
        trickle.close()
        headers_only.close()
        assert get(runtime, "/open/normal")[0] == 200
        assert len(runtime.api_pids) <= LIMIT


def test_runtime_refuses_a_stage_over_its_connection_budget(out_dir: Path) -> None:
    from chalicelib.connection_budget import ConnectionBudgetExceeded
    env = {"SAMPLE_OUT_DIR": str(out_dir), "DB_CONNECTION_BUDGET": "6"}
    chalice_config = {"stages": {STAGE: {"lambda_functions": {
        "api_handler": {"reserved_concurrency": LIMIT}}}}}   # 3 x 2 + sweeper 1 = 7
    rt = LocalRuntime(SAMPLE_APP, stage=STAGE, port=0, env=env, project_dir=ROOT,
                      worker_concurrency={"consume": 0}, chalice_config=chalice_config,
                      access_log=False)
    with pytest.raises(ConnectionBudgetExceeded, match="exceeds DB_CONNECTION_BUDGET=6"):
        rt.start()
    assert rt.api_pids == [] and rt.instances == []
