"""MySQL access: one connection per thread; a transaction is a unit of work.

    with db.transaction() as tx:        # nothing is kept unless tx.commit() is called:
        tx.cur.execute(...)             # leaving the block any other way (return, break,
        tx.commit()                     # exception) rolls back
    db.run(lambda cur: ...)             # the same, committed when fn returns, and run again
                                        # on a fresh connection if the server went away

A Lambda instance handles one event at a time, so in production this is one warm
connection per instance; the local runtime serves HTTP on threads, hence thread-local.

`commit()` never leaves its outcome unknown. A transaction that wrote anything inserts a
marker row (tbl_tx_marker, migration 0008) just before its COMMIT; if the COMMIT's reply is
lost (2013: the server may or may not have committed), the same marker is inserted again on
a fresh connection: a duplicate key proves the commit happened (the insert waits while the
first transaction is still open), a successful insert proves it did not (then it is rolled
back and the error raised, so `run()` re-runs the body). So `run()` re-runs a body only
when nothing of it was kept, and a lost reply never applies a transaction twice.
"""
from __future__ import annotations

import os
import re
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar
from urllib.parse import unquote, urlparse

import pymysql
import pymysql.cursors
from tenacity import retry, retry_if_exception, stop_after_delay, wait_exponential_jitter

T = TypeVar("T")

# Client-side codes meaning "the connection is gone", and server codes worth a retry:
# 2003 can't connect, 2006 gone away, 2013 lost during query, 1927 MariaDB killed,
# 1205 lock wait timeout, 1213 deadlock.
_RETRYABLE = {2003, 2006, 2013, 1927, 4031, 1205, 1213}
_DUPLICATE_KEY = 1062
# Statements that change nothing: a transaction of only these needs no marker.
_READ_ONLY = re.compile(r"\s*(SELECT|SHOW|EXPLAIN|DESCRIBE|DESC)\b", re.IGNORECASE)
MARKER_KEEP_S = 3600      # a marker is needed for seconds (one commit's resolution)


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, pymysql.err.InterfaceError):
        return True
    if isinstance(exc, (pymysql.err.OperationalError, pymysql.err.InternalError)):
        return bool(exc.args) and exc.args[0] in _RETRYABLE
    return False


def storable_text(text: str) -> str:
    """Text the driver can send as UTF-8: a lone surrogate (downstream JSON may carry
    "\\ud800") becomes "?" instead of failing the whole transaction."""
    if not text or text.isascii():
        return text
    return text.encode("utf-8", "replace").decode("utf-8")


def parse_url(url: str) -> dict[str, Any]:
    u = urlparse(url)
    if u.scheme not in ("mysql", "mysql+pymysql"):
        raise ValueError(f"unsupported database url scheme {u.scheme!r}")
    return {
        "host": u.hostname or "127.0.0.1",
        "port": u.port or 3306,
        "user": unquote(u.username or "root"),
        "password": unquote(u.password or ""),
        "database": (u.path or "/").lstrip("/") or None,
    }


def _marker_id(at_s: float | None = None, random_part: bytes | None = None) -> bytes:
    millis = int((time.time() if at_s is None else at_s) * 1000)
    return millis.to_bytes(8, "big") + (os.urandom(8) if random_part is None else random_part)


class TrackingCursor(pymysql.cursors.DictCursor):
    """A DictCursor that remembers whether the transaction ran anything but reads."""
    wrote = False

    def execute(self, query: Any, args: Any = None) -> int:
        if not self.wrote and not _READ_ONLY.match(
                query if isinstance(query, str) else query.decode("utf-8", "replace")):
            self.wrote = True
        return super().execute(query, args)

    def executemany(self, query: Any, args: Any) -> int | None:
        if not self.wrote and not _READ_ONLY.match(query):
            self.wrote = True
        return super().executemany(query, args)


class Transaction:
    """An open unit of work on this thread's connection; see the module docstring."""

    def __init__(self, db: "Database", conn: pymysql.connections.Connection):
        self._db = db
        self.conn = conn
        self.cur: TrackingCursor = conn.cursor(TrackingCursor)
        self.committed = False

    def commit(self) -> None:
        """Keep the work. Returns only once it is committed; raises if it is not."""
        if self.committed:
            raise RuntimeError("transaction already committed")
        marker = None
        if self.cur.wrote:
            marker = _marker_id()
            self.cur.execute("INSERT INTO tbl_tx_marker (id) VALUES (%s)", (marker,))
        try:
            self.conn.commit()
        except BaseException as exc:
            if marker is None or not _retryable(exc):
                raise
            # The COMMIT was sent and its answer lost: find out what the server did.
            self._db._drop(self.conn)
            if not self._db._marker_committed(marker):
                raise
        self.committed = True


class Database:
    def __init__(self, url: str, *, connect_timeout: int = 5, retry_for_s: float = 30.0):
        self._params = parse_url(url)
        self._connect_timeout = connect_timeout
        self._retry_for_s = retry_for_s
        self._local = threading.local()

    def _connect(self) -> pymysql.connections.Connection:
        return pymysql.connect(
            **self._params, charset="utf8mb4", autocommit=True,
            connect_timeout=self._connect_timeout, read_timeout=60, write_timeout=60,
            cursorclass=pymysql.cursors.DictCursor,
            init_command="SET SESSION time_zone='+00:00'")

    def connection(self) -> pymysql.connections.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or not conn.open:
            conn = self._local.conn = self._connect()
        return conn

    def _drop(self, conn: pymysql.connections.Connection | None = None) -> None:
        """Close `conn` (default: this thread's connection); the next use reconnects."""
        current = getattr(self._local, "conn", None)
        conn = current if conn is None else conn
        if conn is current:
            self._local.conn = None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # already broken; nothing to release
                pass

    def _abort(self, conn: pymysql.connections.Connection, exc: BaseException | None) -> None:
        if exc is not None and _retryable(exc):
            self._drop(conn)   # the server rolls back a transaction whose connection is gone
            return
        try:
            conn.rollback()
        except pymysql.err.Error:
            self._drop(conn)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One unit of work: kept only by tx.commit(); any exit without it rolls back."""
        conn = self.connection()
        try:
            conn.begin()
        except BaseException as exc:
            self._abort(conn, exc)
            raise
        tx = Transaction(self, conn)
        try:
            yield tx
        except BaseException as exc:
            if not tx.committed:
                self._abort(conn, exc)
            raise
        else:
            if not tx.committed:
                self._abort(conn, None)
        finally:
            try:
                tx.cur.close()
            except Exception:   # a dropped connection's cursor
                pass

    def run(self, fn: Callable[[pymysql.cursors.DictCursor], T]) -> T:
        """Run fn(cursor) as one unit of work, committed when fn returns; run again on a
        fresh connection if the server went away before anything was kept."""
        @retry(retry=retry_if_exception(_retryable), reraise=True,
               stop=stop_after_delay(self._retry_for_s),
               wait=wait_exponential_jitter(multiplier=0.05, max=2.0))
        def attempt() -> T:
            with self.transaction() as tx:
                result = fn(tx.cur)
                tx.commit()
                return result
        return attempt()

    def _marker_committed(self, marker: bytes) -> bool:
        """Did the transaction that inserted `marker` commit? Waits while it is open."""
        @retry(retry=retry_if_exception(_retryable), reraise=True,
               stop=stop_after_delay(self._retry_for_s),
               wait=wait_exponential_jitter(multiplier=0.05, max=2.0))
        def probe() -> bool:
            with self.transaction() as tx:
                try:
                    tx.cur.execute("INSERT INTO tbl_tx_marker (id) VALUES (%s)", (marker,))
                except pymysql.err.IntegrityError as exc:
                    if exc.args and exc.args[0] == _DUPLICATE_KEY:
                        return True
                    raise
                return False       # we hold its key, so it ended without commit; roll back
        return probe()

    def prune_markers(self, older_than_s: float = MARKER_KEEP_S, batch: int = 5000) -> int:
        """Delete commit markers older than `older_than_s` (the sweeper calls this)."""
        cutoff = _marker_id(time.time() - older_than_s, b"\x00" * 8)
        total = 0
        for _ in range(20):
            n = self.run(lambda cur: cur.execute(
                "DELETE FROM tbl_tx_marker WHERE id < %s LIMIT %s", (cutoff, batch)))
            total += n
            if n < batch:
                break
        return total

    def close(self) -> None:
        self._drop()
