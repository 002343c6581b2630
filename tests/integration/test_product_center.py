"""ProductCenterClient against the in-process fake product center (no sleeps, no network)."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict
from typing import Any

import pytest
import urllib3

from chalicelib.adapters.product_center import (CreateProduct, DownstreamUnavailable,
                                                 PermanentItemError, ProductCenterClient,
                                                 ProductCenterError, RateLimiter)
from infra.local.fake_decisions import FakeConfig
from infra.local.fake_product_center import FakeProductCenter

# Retries without slowing the suite down.
FAST: dict[str, Any] = {"backoff_base_s": 0.001, "backoff_max_s": 0.01}


@pytest.fixture(scope="module")
def fake():
    center = FakeProductCenter().start()
    yield center
    center.stop()


@pytest.fixture(autouse=True)
def clean(fake):
    fake.configure(**asdict(FakeConfig()))
    fake.reset()


@pytest.fixture
def client(fake):
    with ProductCenterClient(fake.url, **FAST) as c:
        yield c


def item(n: int = 1) -> CreateProduct:
    return CreateProduct(shop_id=7, source_product_id=n, name=f"商品 {n}", price_cents=990)


def test_success_returns_the_product_id(fake, client):
    product_id = client.create_product(item(), "t1-0")
    assert isinstance(product_id, int) and product_id > 0
    assert fake.stats()["creates"] == 1


def test_repeated_key_returns_the_first_result_without_creating_again(fake, client):
    first = client.create_product(item(), "t1-0")
    assert client.create_product(item(), "t1-0") == first
    stats = fake.stats()
    assert (stats["creates"], stats["replays"], stats["max_creates_per_key"]) == (1, 1, 1)


def test_rejection_is_permanent_keeps_the_msg_and_is_not_retried(fake, client):
    fake.configure(reject_every=7)
    with pytest.raises(PermanentItemError) as err:
        client.create_product(item(14), "t1-14")
    assert (err.value.status, err.value.code) == (422, 1001)
    assert err.value.msg == "product 14 rejected: invalid sku"
    assert isinstance(err.value, ProductCenterError)
    assert fake.stats()["requests"] == 1


def test_same_key_with_another_body_is_a_409(fake, client):
    client.create_product(item(1), "t1-0")
    with pytest.raises(PermanentItemError) as err:
        client.create_product(item(2), "t1-0")
    assert err.value.status == 409 and "reused" in err.value.msg


def test_missing_idempotency_key_is_a_400(fake):
    resp = urllib3.request("POST", fake.url + "/product/create", retries=False,
                           body=json.dumps(asdict(item())).encode())
    assert resp.status == 400 and resp.json()["code"] != 0
    assert fake.stats()["creates"] == 0


def test_always_503_gives_up_after_exactly_max_attempts(fake):
    fake.configure(error_rate=1.0)
    with (ProductCenterClient(fake.url, max_attempts=3, **FAST) as c,
          pytest.raises(DownstreamUnavailable) as err):
        c.create_product(item(), "t1-0")
    assert "503" in err.value.reason
    stats = fake.stats()
    assert (stats["requests"], stats["errors_5xx"], stats["creates"]) == (3, 3, 0)


def test_transient_failures_are_retried_until_success(fake):
    fake.configure(fail_first_n_per_key=2)
    retries: list[tuple[int, str]] = []
    with ProductCenterClient(fake.url, max_attempts=4, on_retry=lambda *a: retries.append(a),
                             **FAST) as c:
        product_id = c.create_product(item(), "t1-0")
    assert product_id > 0
    assert [n for n, _ in retries] == [1, 2] and all("503" in r for _, r in retries)
    stats = fake.stats()
    assert (stats["requests"], stats["errors_5xx"], stats["creates"]) == (3, 2, 1)


def test_429_retry_after_is_honoured(fake):
    fake.configure(fail_first_n_per_key=1, fail_status=429, retry_after_s=0.3)
    with ProductCenterClient(fake.url, backoff_base_s=0.001, backoff_max_s=1.0) as c:
        started = time.monotonic()
        c.create_product(item(), "t1-0")
        assert time.monotonic() - started >= 0.3
    assert fake.stats()["throttled"] == 1


def test_retry_after_is_capped_by_the_backoff_ceiling(fake):
    fake.configure(fail_first_n_per_key=1, fail_status=503, retry_after_s=600)
    with ProductCenterClient(fake.url, backoff_base_s=0.001, backoff_max_s=0.05) as c:
        started = time.monotonic()
        c.create_product(item(), "t1-0")
        assert time.monotonic() - started < 5   # far below the 600 s the server asked for


def test_refused_connection_is_transient(fake):
    closed_port = FakeProductCenter().start()
    url = closed_port.url
    closed_port.stop()   # nothing listens there any more
    with (ProductCenterClient(url, max_attempts=2, **FAST) as c,
          pytest.raises(DownstreamUnavailable) as err):
        c.create_product(item(), "t1-0")
    assert "connection error" in err.value.reason and "timeout" not in err.value.reason


def test_no_answer_within_the_read_timeout_is_transient(fake):
    fake.configure(timeout_rate=1.0, timeout_hold_s=2.0)
    with (ProductCenterClient(fake.url, timeout_s=0.2, max_attempts=2, **FAST) as c,
          pytest.raises(DownstreamUnavailable) as err):
        c.create_product(item(), "t1-0")
    assert "timeout" in err.value.reason
    stats = fake.stats()
    assert (stats["requests"], stats["timeouts"], stats["creates"]) == (2, 2, 0)


def test_every_attempt_takes_a_rate_token(fake):
    class Counting(RateLimiter):
        taken = 0

        def acquire(self) -> None:
            Counting.taken += 1

    fake.configure(fail_first_n_per_key=2)
    with ProductCenterClient(fake.url, rate_limiter=Counting(0), **FAST) as c:
        c.create_product(item(), "t1-0")
    assert Counting.taken == 3


def test_one_client_is_safe_across_threads(fake):
    fake.configure(latency_ms=1)
    ids: dict[str, int] = {}
    lock = threading.Lock()

    def work(thread: int) -> None:
        for n in range(50):
            key = f"t{thread}-{n}"
            product_id = c.create_product(item(thread * 100 + n), key)
            with lock:
                assert ids.setdefault(key, product_id) == product_id

    with ProductCenterClient(fake.url, pool_size=8, **FAST) as c:
        for _ in range(2):   # the second round replays every key
            threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    assert len(ids) == 400 and len(set(ids.values())) == 400
    stats = fake.stats()
    assert (stats["creates"], stats["replays"], stats["max_creates_per_key"]) == (400, 400, 1)


def test_max_in_flight_is_bounded_by_the_pool(fake):
    fake.configure(latency_ms=300)
    start = threading.Barrier(8)

    def work(n: int) -> None:
        start.wait()
        c.create_product(item(n), f"t1-{n}")

    with ProductCenterClient(fake.url, pool_size=4, **FAST) as c:
        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    stats = fake.stats()
    assert stats["creates"] == 8 and stats["max_in_flight"] == 4 and stats["in_flight"] == 0


def test_same_seed_gives_the_same_fault_pattern(fake):
    def pattern() -> list[int]:
        fake.configure(error_rate=0.5, seed=42)
        fake.reset()
        return [urllib3.request("POST", fake.url + "/product/create", retries=False,
                                body=json.dumps(asdict(item(n))).encode(),
                                headers={"Idempotency-Key": f"t1-{n}"}).status
                for n in range(20)]

    first = pattern()
    assert first == pattern() and {200, 503} == set(first)


def test_admin_endpoints_over_http(fake):
    resp = urllib3.request("POST", fake.url + "/_config", body=b'{"latency_ms": 2}')
    assert resp.status == 200 and resp.json()["latency_ms"] == 2.0
    assert resp.json()["error_rate"] == 0.0
    assert urllib3.request("POST", fake.url + "/_config", body=b'{"nope": 1}').status == 400
    stats = urllib3.request("GET", fake.url + "/_stats").json()
    assert set(stats) >= {"requests", "creates", "replays", "errors_5xx", "timeouts", "rejects",
                          "max_creates_per_key", "in_flight", "max_in_flight"}
    assert urllib3.request("POST", fake.url + "/_reset").json()["requests"] == 0


def test_rate_limiter_spaces_calls():
    limiter = RateLimiter(100, burst=5)
    started = time.monotonic()
    for _ in range(30):
        limiter.acquire()
    assert time.monotonic() - started >= (30 - 5) / 100


def test_rate_limiter_is_shared_fairly_across_threads():
    limiter = RateLimiter(200, burst=1)

    def work() -> None:
        for _ in range(10):
            limiter.acquire()

    started = time.monotonic()
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.monotonic() - started >= (40 - 1) / 200


def test_unlimited_rate_limiter_does_not_wait():
    limiter = RateLimiter(0)
    started = time.monotonic()
    for _ in range(10_000):
        limiter.acquire()
    assert limiter.unlimited and time.monotonic() - started < 1.0
