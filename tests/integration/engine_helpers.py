"""Drive the engine in this process from the real (emulated) queue, like one worker would."""
from __future__ import annotations

import json
from dataclasses import replace
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from chalicelib.bootstrap import Services, services
from chalicelib.config import get_settings
from chalicelib.domain.chunk import ChunkState
from chalicelib.domain.task import Task
from chalicelib.service.sweeper import Sweeper
from infra.local.demo import ensure_products, ensure_shop


def services_with(**overrides: Any) -> Services:
    """A separate composition root with changed settings (same DB, queue and bucket)."""
    return Services(replace(get_settings(), **overrides))


def seed_shops(n_products: int = 50) -> dict[str, Any]:
    db = services().db
    src = ensure_shop(db, "s001", "source")
    dst = ensure_shop(db, "s001", "target")
    foreign = ensure_shop(db, "s002", "foreign")
    ids = ensure_products(db, "s001", src, n_products)
    return {"source": src, "target": dst, "foreign": foreign, "product_ids": ids}


def create_copy(svc: Services, shops: dict[str, Any], ids: Any, **kw: Any) -> Task:
    """A product copy of `ids` from the seeded source shop to the target, for station s001."""
    from chalicelib.service.copy_tasks import CopyTaskRequest
    req = CopyTaskRequest(source_shop_id=shops["source"], target_shop_id=shops["target"],
                          product_ids=list(ids), **kw)
    return svc.kind("product_copy").create("s001", req).task


def receive(svc: Services, max_messages: int = 10) -> list[dict[str, Any]]:
    resp = svc.queue.sqs.receive_message(QueueUrl=svc.queue.url, MaxNumberOfMessages=max_messages,
                                         WaitTimeSeconds=0, VisibilityTimeout=30)
    return resp.get("Messages", [])


def acknowledge(svc: Services, message: dict[str, Any]) -> None:
    """Delete a received message, as the runtime does when its handler returned."""
    svc.queue.sqs.delete_message(QueueUrl=svc.queue.url, ReceiptHandle=message["ReceiptHandle"])


def receive_current(svc: Services) -> list[dict[str, Any]]:
    """receive(), less (and deleting) the messages of tasks that no longer exist: delayed
    re-queues of earlier tests (see queue_bodies)."""
    current = []
    for m in receive(svc):
        if _is_stale(m["Body"]):
            acknowledge(svc, m)
        else:
            current.append(m)
    return current


def drain(svc: Services, remaining_ms: Callable[[], int] = lambda: 10 ** 9,
          max_rounds: int = 1000) -> list[str]:
    """Process messages until the queue is empty; returns each run_chunk outcome.

    A message naming a task that no longer exists (a delayed re-queue of an earlier test, see
    queue_bodies) is deleted unhandled and left out of the outcomes."""
    outcomes = []
    for _ in range(max_rounds):
        messages = receive(svc, 1)
        if not messages:
            return outcomes
        for m in messages:
            if not _is_stale(m["Body"]):
                outcomes.append(svc.messages.handle(m["Body"], remaining_ms))
            acknowledge(svc, m)
    raise AssertionError("queue did not drain")


def queue_bodies(svc: Services) -> list[dict[str, Any]]:
    """Read (and delete) every message now in the queue.

    A message naming a task that no longer exists is dropped: it is a delayed re-queue left
    by an earlier test (db_clean empties the tables, but a delayed message only becomes
    visible, and can be drained, when its delay ends)."""
    bodies = []
    while True:
        messages = receive(svc)
        if not messages:
            live = _existing_task_ids({b.get("task_id") for b in bodies})
            return [b for b in bodies if b.get("task_id") in live]
        for m in messages:
            bodies.append(json.loads(m["Body"]))
            svc.queue.sqs.delete_message(QueueUrl=svc.queue.url, ReceiptHandle=m["ReceiptHandle"])


def _is_stale(body: str) -> bool:
    try:
        task_id = json.loads(body).get("task_id")
    except (ValueError, AttributeError):
        return False
    return isinstance(task_id, int) and not _existing_task_ids({task_id})


def _existing_task_ids(ids: set[Any]) -> set[int]:
    ids = {i for i in ids if isinstance(i, int)}
    if not ids:
        return set()

    def q(cur: Any) -> set[int]:
        cur.execute(f"SELECT id FROM tbl_async_task WHERE id IN ({', '.join(['%s'] * len(ids))})",
                    tuple(ids))
        return {r["id"] for r in cur.fetchall()}
    return services().db.run(q)


def details(task_id: int) -> list[dict[str, Any]]:
    def q(cur: Any) -> list[dict[str, Any]]:
        cur.execute("SELECT seq, item_id, outcome, target_id, reason FROM tbl_task_detail"
                    " WHERE task_id=%s ORDER BY seq", (task_id,))
        return list(cur.fetchall())
    return services().db.run(q)


def chunks(task_id: int) -> list[dict[str, Any]]:
    def q(cur: Any) -> list[dict[str, Any]]:
        cur.execute("SELECT seq, state, attempts, succeeded, failed, lease_token FROM tbl_task_chunk"
                    " WHERE task_id=%s ORDER BY seq", (task_id,))
        return list(cur.fetchall())
    return services().db.run(q)


def count(table: str) -> int:
    def q(cur: Any) -> int:
        cur.execute(f"SELECT COUNT(*) AS n FROM {table}")
        return cur.fetchone()["n"]
    return services().db.run(q)


DONE = int(ChunkState.DONE)


@contextmanager
def app_runtime(monkeypatch: Any, stack_env: dict[str, str], workers: int,
                **settings: str) -> Iterator[Any]:
    """The real app under LocalRuntime, with `settings` (env names) for both halves:
    the API half in this process, the worker and sweeper instances in theirs."""
    from chalicelib import bootstrap
    from infra.local.runtime import LocalRuntime
    env = {**stack_env, "WORKER_CONCURRENCY": str(workers), **settings}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    bootstrap.reset()
    with LocalRuntime(app_ref="app:app", stage="dev", port=0, env=env, schedule_interval_s=1.0,
                      worker_concurrency={"work": workers}, access_log=False) as rt:
        yield rt
    bootstrap.reset()


def sweeper(svc: Services, **kw: Any) -> Sweeper:
    """A sweeper of the engine's repairs only (no dead letters, no kind repairs)."""
    return Sweeper(svc.db, svc.files, svc.engine,
                   max_chunk_attempts=svc.settings.max_chunk_attempts, **kw)
