"""adapters/db.py as a unit of work: a commit is kept only when asked for, and its outcome
is never left unknown (a lost COMMIT reply is resolved by the transaction's marker row)."""
from __future__ import annotations

from typing import Any

import pymysql
import pytest

from chalicelib.adapters.db import Database
from tests.integration.engine_helpers import create_copy, drain, seed_shops, services_with, sweeper


def _count(db: Database, sql: str, args: tuple = ()) -> int:
    def q(cur: Any) -> int:
        cur.execute(sql, args)
        return cur.fetchone()["n"]
    return db.run(q)


def test_lost_commit_reply_creates_one_task_and_n_downstream_creates(
        db_clean, product_center, database_url, proxy):
    shops = seed_shops(6)
    svc = services_with(database_url=proxy.url_for(database_url), chunk_size=2,
                        sweep_stale_queued_s=0)
    proxy.lose_commit_reply_after(b"INSERT INTO tbl_async_task")
    task = create_copy(svc, shops, shops["product_ids"])     # no user_task_id, like the UI
    assert proxy.commits_lost == 1, "the fault did not fire"

    drain(svc)
    sweeper(svc, stale_queued_s=0).sweep()            # re-sends anything left queued
    drain(svc)
    assert _count(svc.db, "SELECT COUNT(*) AS n FROM tbl_async_task") == 1
    assert _count(svc.db, "SELECT COUNT(*) AS n FROM tbl_task_chunk WHERE task_id=%s",
                  (task.id,)) == 3
    stats = product_center.stats()
    assert stats["creates"] == 6 and stats["max_creates_per_key"] == 1


def test_lost_commit_reply_on_an_update_is_not_a_conflict(db_clean, database_url, proxy):
    """A retry of a status change whose commit landed must not answer 409."""
    from tests.factories import make_task
    svc = services_with(database_url=proxy.url_for(database_url))
    task = make_task(status=2)
    proxy.lose_commit_reply_after(b"UPDATE tbl_async_task SET status")
    finished = svc.tasks.finish("s001", task.id, status=3)
    assert proxy.commits_lost == 1
    assert finished.status == 3


def test_transaction_without_commit_keeps_nothing(db_clean, database_url):
    db = Database(database_url)
    with db.transaction() as tx:
        tx.cur.execute("INSERT INTO tbl_shop (station_id, name) VALUES ('s001', 'kept?')")
        # leaves the block without tx.commit(): a return, a break or an early exit
    with pytest.raises(RuntimeError):
        with db.transaction() as tx:
            tx.cur.execute("INSERT INTO tbl_shop (station_id, name) VALUES ('s001', 'kept?')")
            raise RuntimeError("boom")
    with db.transaction() as tx:
        tx.cur.execute("INSERT INTO tbl_shop (station_id, name) VALUES ('s001', 'kept')")
        tx.commit()
    assert _count(db, "SELECT COUNT(*) AS n FROM tbl_shop WHERE name LIKE 'kept%%'") == 1


def test_reads_write_no_marker_and_markers_are_pruned(db_clean, database_url):
    db = Database(database_url)
    before = _count(db, "SELECT COUNT(*) AS n FROM tbl_tx_marker")
    db.run(lambda cur: cur.execute("SELECT 1"))
    assert _count(db, "SELECT COUNT(*) AS n FROM tbl_tx_marker") == before
    db.run(lambda cur: cur.execute(
        "INSERT INTO tbl_shop (station_id, name) VALUES ('s001', 'marked')"))
    assert _count(db, "SELECT COUNT(*) AS n FROM tbl_tx_marker") == before + 1
    assert db.prune_markers(older_than_s=-60) >= 1                # all, but its own
    assert _count(db, "SELECT COUNT(*) AS n FROM tbl_tx_marker") == 1


def test_non_retryable_error_rolls_back_and_is_raised(db_clean, database_url):
    db = Database(database_url)

    def tx(cur: Any) -> None:
        cur.execute("INSERT INTO tbl_shop (station_id, name) VALUES ('s001', 'half')")
        cur.execute("INSERT INTO no_such_table VALUES (1)")
    with pytest.raises(pymysql.err.ProgrammingError):
        db.run(tx)
    assert _count(db, "SELECT COUNT(*) AS n FROM tbl_shop WHERE name='half'") == 0
