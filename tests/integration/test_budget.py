"""The product center budget shared by workers: one row in MariaDB, the fake counting calls."""
from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from chalicelib.adapters import budget_repo
from chalicelib.adapters.db import Database
from chalicelib.adapters.product_center import (CreateProduct, ProductCenterClient,
                                                ProductCenterError)
from chalicelib.domain.aimd import AimdConfig
from chalicelib.service import budget as budget_service
from chalicelib.service.budget import SharedBudget


def worker_budget(database_url: str, rate: float, workers: int = 2, **kw: Any) -> SharedBudget:
    """What one worker process builds: its own database connection, the shared row."""
    cfg = AimdConfig(ceiling=rate, **kw)
    return SharedBudget(Database(database_url, retry_for_s=1), cfg, worker_share=rate / workers,
                        threads=10)


def hammer(fake_url: str, limiter: SharedBudget, seconds: float, threads: int = 10) -> int:
    """`threads` threads creating products as fast as the budget lets them."""
    client = ProductCenterClient(fake_url, rate_limiter=limiter, pool_size=threads,
                                 max_attempts=1)
    stop = time.monotonic() + seconds
    done = [0] * threads

    def run(n: int) -> None:
        i = 0
        while time.monotonic() < stop:
            try:
                client.create_product(CreateProduct(1, i, "p", 1), f"w{id(limiter)}-{n}-{i}")
            except ProductCenterError:      # throttled: the budget is told, go on
                pass
            i += 1
        done[n] = i
    pool = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    client.close()
    return sum(done)


def test_two_workers_together_keep_one_budget(db_clean, database_url, product_center):
    product_center.configure(latency_ms=5)
    a, b = worker_budget(database_url, 100), worker_budget(database_url, 100)
    a.acquire(), b.acquire()                            # connected, as warm workers are
    results: list[int] = []
    threads = [threading.Thread(target=lambda lim=lim: results.append(
        hammer(product_center.url, lim, 3.0))) for lim in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    windows = product_center.windows()
    assert windows["busiest_1s"] <= 100 * 1.05 + 2, windows
    assert sum(results) >= 0.8 * 100 * 3.0, results           # and they use it (noisy machine)
    assert min(results) > 0.25 * sum(results), results          # both got a share
    # a few reservations per second, not one per call
    assert a.reservations + b.reservations < sum(results) / 5


def test_one_busy_worker_may_use_the_whole_budget(db_clean, database_url, product_center):
    product_center.configure(latency_ms=5)
    alone = worker_budget(database_url, 100, workers=4)
    alone.acquire()
    calls = hammer(product_center.url, alone, 3.0)
    assert calls >= 0.75 * 100 * 3.0, calls    # not 1/4 of it (bench: single_task_budget_use)
    assert product_center.windows()["busiest_1s"] <= 107


def row(database_url: str) -> dict[str, Any] | None:
    return budget_service.current(Database(database_url), budget_service.NAME)


@pytest.mark.parametrize("damage", [
    "DELETE FROM tbl_rate_budget",
    "UPDATE tbl_rate_budget SET rate=-3",
    "UPDATE tbl_rate_budget SET tat_s=tat_s + 86400",           # would block for a day
])
def test_a_missing_or_corrupt_row_is_rewritten_and_never_blocks(db_clean, database_url,
                                                                 product_center, damage):
    limiter = worker_budget(database_url, 50)
    limiter.acquire()
    assert row(database_url)["rate"] == 50
    Database(database_url).run(lambda cur: cur.execute(damage))
    limiter._grant = None                               # its next call reserves again
    started = time.monotonic()
    for _ in range(5):
        limiter.acquire()
    assert time.monotonic() - started < 1.0
    fixed = row(database_url)
    assert fixed is not None and fixed["rate"] == 50 and fixed["tat_s"] < time.time() + 5


def test_an_unreachable_budget_row_falls_back_to_the_workers_share(db_clean, product_center):
    dead = Database("mysql://root@127.0.0.1:9/none", retry_for_s=0.1)
    limiter = SharedBudget(dead, AimdConfig(ceiling=100), worker_share=25)
    started = time.monotonic()
    for _ in range(10):
        limiter.acquire()
    assert 0.3 <= time.monotonic() - started < 3.0            # 25/s, not blocked


def test_throttling_backs_the_shared_rate_off_and_health_brings_it_back(
        db_clean, database_url, product_center):
    limiter = worker_budget(database_url, 200, increase_per_s=100, decrease=0.5)
    product_center.configure(latency_ms=2, capacity_per_s=60, capacity_queue_s=0.05)
    hammer(product_center.url, limiter, 2.0)
    backed_off = row(database_url)["rate"]
    assert backed_off < 120, backed_off
    product_center.configure(capacity_per_s=0)
    hammer(product_center.url, limiter, 2.0)
    assert row(database_url)["rate"] > backed_off + 50


def test_the_fake_serves_its_capacity_then_queues_then_refuses_with_retry_after(
        db_clean, product_center):
    import urllib3
    product_center.configure(latency_ms=1, capacity_per_s=50, capacity_queue_s=0.1)
    pool = urllib3.PoolManager(maxsize=20)
    answers, latencies = [], []

    def one(i: int) -> None:                            # 20 at once: 0.4 s of its capacity
        started = time.monotonic()
        r = pool.request("POST", product_center.url + "/product/create",
                         body=b'{"shop_id":1,"source_product_id":%d,"name":"p","price_cents":1}' % i,
                         headers={"Idempotency-Key": f"cap-{i}"})
        latencies.append(time.monotonic() - started)
        answers.append((r.status, r.headers.get("Retry-After")))
    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    served = [a for a in answers if a[0] == 200]
    refused = [a for a in answers if a[0] == 429]
    assert served and refused and len(served) + len(refused) == 20
    assert all(after is not None and int(after) >= 1 for _, after in refused)
    assert max(latencies) > 0.015                        # queued beyond 1/capacity
    assert product_center.stats()["throttled"] == len(refused)
    product_center.configure(capacity_per_s=0)


def test_the_budget_rate_is_published_as_a_metric(db_clean, database_url, product_center):
    from chalicelib.observability import metrics, timings
    timings.publish()
    metrics.clear_metrics()
    seen: list[float] = []
    limiter = SharedBudget(Database(database_url), AimdConfig(ceiling=80), worker_share=20,
                           on_rate=lambda rate: (seen.append(rate),
                                                 timings.gauge("ProductCenterBudget", rate)))
    limiter.acquire()
    published = timings.publish()
    metrics.clear_metrics()
    assert seen == [80] and published["ProductCenterBudget"] == 80
