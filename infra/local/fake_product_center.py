"""Fake product center: a stand-in for the slow third-party "create product" API, on a
background event-loop thread (tests, benchmarks) or as its own process (`make run`).
What it answers is infra/local/fake_decisions.py; the HTTP it speaks, fake_http.py.

In-process:   `with FakeProductCenter(latency_ms=5) as fake: ... fake.url ...`
As a process: `python -m infra.local.fake_product_center --port 8100 --latency-ms 20`
"""
from __future__ import annotations

import argparse
import asyncio
import signal
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from infra.local.fake_decisions import FIELD_TYPES, Center, FakeConfig, updated
from infra.local.fake_http import Listener

T = TypeVar("T")


class FakeProductCenter:
    """The fake on a background event-loop thread, for tests and benchmarks."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1", **config: Any):
        self.host, self.port = host, port
        self._center = Center(updated(FakeConfig(), config))
        self._listener = Listener(self._center.route)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakeProductCenter:
        ready, failed = threading.Event(), list[BaseException]()

        def run() -> None:
            loop = asyncio.new_event_loop()
            try:
                self.port = loop.run_until_complete(self._listener.open(self.host, self.port))
                self._loop = loop   # before ready: configure() right after start() needs it
            except BaseException as exc:   # handed to start()'s caller
                failed.append(exc)
                return loop.close()
            finally:
                ready.set()
            loop.run_forever()
            loop.run_until_complete(self._listener.close())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-product-center", daemon=True)
        self._thread.start()
        ready.wait()
        if failed:
            raise failed[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop = self._thread = None

    def _call(self, fn: Callable[[], T]) -> T:
        """Run fn on the loop thread, where all state lives."""
        if self._loop is None:
            return fn()

        async def on_loop() -> T:
            return fn()
        return asyncio.run_coroutine_threadsafe(on_loop(), self._loop).result(timeout=10)

    def configure(self, **changes: Any) -> dict[str, Any]:
        return self._call(lambda: self._center.configure(changes))

    def stats(self) -> dict[str, int]:
        return self._call(self._center.stats)

    def reset(self) -> dict[str, int]:
        """Clear keys and counters; the config stays."""
        return self._call(self._center.reset)

    def windows(self) -> dict[str, float]:
        """Requests seen, over how long, and the busiest sliding one-second window."""
        return self._call(self._center.windows.summary)

    def __enter__(self) -> FakeProductCenter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _serve(host: str, port: int, config: FakeConfig) -> None:
    listener = Listener(Center(config).route)
    port = await listener.open(host, port)
    print(f"fake product center on http://{host}:{port}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await listener.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake product center (see module docstring).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100, help="0 picks a free port")
    for name, kind in FIELD_TYPES.items():
        parser.add_argument("--" + name.replace("_", "-"), type=kind, dest=name)
    args = vars(parser.parse_args(argv))
    host, port = args.pop("host"), args.pop("port")
    try:
        config = updated(FakeConfig(), {k: v for k, v in args.items() if v is not None})
    except ValueError as exc:
        parser.error(str(exc))
    asyncio.run(_serve(host, port, config))


if __name__ == "__main__":
    main()
