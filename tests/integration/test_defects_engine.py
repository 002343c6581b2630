"""Engine defects of #13: a failed outcome flush must not leave the chunk's item threads
running (in Lambda they would resume in the next invocation, keep calling the product
center, and their outcomes would be thrown away)."""
from __future__ import annotations

import threading
from typing import Iterator

import pymysql
import pytest

from chalicelib.adapters.db import parse_url
from tests.integration.engine_helpers import create_copy, receive, seed_shops, services_with
from tests.mysql_fault_proxy import MySQLFaultProxy


@pytest.fixture
def proxy(database_url: str) -> Iterator[MySQLFaultProxy]:
    p = parse_url(database_url)
    fault = MySQLFaultProxy(p["host"], p["port"])
    try:
        yield fault
    finally:
        fault.close()


def pool_is_idle(pool, threads: int, timeout_s: float = 10.0) -> bool:
    """True once every pool thread is free: `threads` jobs meet at a barrier only then."""
    barrier = threading.Barrier(threads + 1)
    for _ in range(threads):
        pool.submit(barrier.wait, timeout_s)
    try:
        barrier.wait(timeout_s)
        return True
    except threading.BrokenBarrierError:
        return False


def test_failed_flush_stops_the_item_threads(db_clean, product_center, database_url, proxy):
    total, threads = 300, 3
    product_center.configure(latency_ms=20)
    shops = seed_shops(total)
    svc = services_with(database_url=proxy.url_for(database_url), chunk_size=total,
                        chunk_threads=threads, outcome_batch_size=10, outcome_flush_ms=60_000,
                        db_retry_s=0.5, chain_chunks=False)
    create_copy(svc, shops, shops["product_ids"])
    [message] = receive(svc)
    proxy.go_down_after_commit_of(b"INSERT INTO tbl_task_detail")    # after the first flush
    with pytest.raises(pymysql.err.OperationalError):
        svc.messages.handle(message["Body"], lambda: 10 ** 9)
    assert proxy.down
    # When the handler has returned, no item thread is left calling the product center.
    assert product_center.stats()["in_flight"] == 0
    calls = product_center.stats()["requests"]
    assert pool_is_idle(svc.engine._pool, threads, timeout_s=1.0), "item threads still running"
    assert product_center.stats()["requests"] == calls
    assert calls < total, "the item threads ran the whole chunk after the flush failed"
