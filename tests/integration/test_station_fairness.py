"""Station fairness: a bound on the chunks one station has queued or running, slots shared
by the station's tasks, other stations unaffected; MessageGroupId = station."""
from __future__ import annotations

import json
from typing import Any

from chalicelib.bootstrap import services
from chalicelib.domain.task import TaskStatus
from infra.local.demo import ensure_products, ensure_shop
from tests.factories import raw_row
from tests.integration.engine_helpers import (create_copy, details, queue_bodies, seed_shops,
                                              services_with, sweeper)


def active_by_station() -> dict[str, int]:
    def q(cur: Any) -> dict[str, int]:
        cur.execute("SELECT t.station_id, COUNT(*) AS n FROM tbl_task_chunk c JOIN tbl_async_task t"
                    " ON t.id=c.task_id WHERE c.state IN (1, 2) GROUP BY t.station_id")
        return {r["station_id"]: r["n"] for r in cur.fetchall()}
    return services().db.run(q)


def copy_for_s002(svc: Any, n: int) -> Any:
    from chalicelib.service.copy_tasks import CopyTaskRequest
    db = services().db
    src, dst = ensure_shop(db, "s002", "b source"), ensure_shop(db, "s002", "b target")
    ids = ensure_products(db, "s002", src, n)
    return svc.kind("product_copy").create("s002", CopyTaskRequest(
        source_shop_id=src, target_shop_id=dst, product_ids=ids)).task


def test_the_station_bound_holds_with_many_tasks_and_others_are_not_held(db_clean,
                                                                         product_center):
    shops = seed_shops(20)
    svc = services_with(chunk_size=5, chunk_window=3, station_max_chunks=4)
    noisy = [create_copy(svc, shops, shops["product_ids"], repeat=True).id for _ in range(5)]
    assert active_by_station() == {"s001": 4}           # 3 for the first task, 1 for the next
    quiet = copy_for_s002(svc, 5)
    assert active_by_station() == {"s001": 4, "s002": 1}
    groups: dict[int, str] = {}
    order: list[int] = []
    for _ in range(500):
        got = svc.queue.sqs.receive_message(QueueUrl=svc.queue.url, MaxNumberOfMessages=1,
                                            MessageSystemAttributeNames=["MessageGroupId"],
                                            WaitTimeSeconds=0).get("Messages", [])
        if not got:
            break
        m = got[0]
        body = json.loads(m["Body"])
        groups[body["task_id"]] = m.get("Attributes", {}).get("MessageGroupId", "")
        order.append(body["task_id"])
        svc.messages.handle(m["Body"], lambda: 10 ** 9)
        svc.queue.sqs.delete_message(QueueUrl=svc.queue.url, ReceiptHandle=m["ReceiptHandle"])
        assert active_by_station().get("s001", 0) <= 4
    for task_id in noisy + [quiet.id]:
        assert raw_row(task_id).status == TaskStatus.FINISHED
        assert [d["seq"] for d in details(task_id)] == list(range(len(details(task_id))))
    assert sum(len(details(t)) for t in noisy) == 5 * 20
    assert {groups[t] for t in noisy} == {"s001"} and groups[quiet.id] == "s002"
    # the quiet station's task ran among the first, not after the noisy backlog
    assert order.index(quiet.id) < 6
    # the last noisy task did not wait for the first four to end (their 16 chunks): the
    # station's slots were shared among its tasks
    assert len(order) == 5 * 4 + 1 and order.index(noisy[4]) < 12, order


def test_a_stranded_station_is_released_by_the_sweeper_within_its_bound(db_clean,
                                                                         product_center):
    shops = seed_shops(20)
    svc = services_with(chunk_size=5, chunk_window=2, station_max_chunks=2)
    task = create_copy(svc, shops, shops["product_ids"])

    def strand(cur: Any) -> None:        # a worker died between its chunk and the release
        cur.execute("UPDATE tbl_task_chunk SET state=0, queued_at=NULL WHERE task_id=%s",
                    (task.id,))
    svc.db.run(strand)
    queue_bodies(svc)                     # (their messages are gone too)
    report = sweeper(svc).sweep()
    assert report.stalled_tasks == 1 and active_by_station() == {"s001": 2}
