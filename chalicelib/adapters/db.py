"""MySQL access: one connection per thread, transactions as `with db.transaction()`.

A Lambda instance handles one event at a time, so in production this is one warm
connection per instance; the local runtime serves HTTP on threads, hence thread-local.
A transaction that fails because the server went away (restart, failover, idle kill)
is rolled back and run again on a fresh connection: transaction bodies are written to
be re-runnable, which is what makes a DB restart survivable.
"""
from __future__ import annotations

import threading
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


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, pymysql.err.InterfaceError):
        return True
    if isinstance(exc, (pymysql.err.OperationalError, pymysql.err.InternalError)):
        return bool(exc.args) and exc.args[0] in _RETRYABLE
    return False


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

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # already broken; nothing to release
                pass

    @contextmanager
    def transaction(self) -> Iterator[pymysql.cursors.DictCursor]:
        """One transaction; commits on success, rolls back on any error."""
        conn = self.connection()
        conn.begin()
        try:
            with conn.cursor() as cur:
                yield cur
            conn.commit()
        except BaseException as exc:
            if _retryable(exc):
                self._drop()
            else:
                try:
                    conn.rollback()
                except pymysql.err.Error:
                    self._drop()
            raise

    def run(self, fn: Callable[[pymysql.cursors.DictCursor], T]) -> T:
        """Run fn(cursor) in a transaction, again on a fresh connection if the server went away."""
        @retry(retry=retry_if_exception(_retryable), reraise=True,
               stop=stop_after_delay(self._retry_for_s),
               wait=wait_exponential_jitter(multiplier=0.05, max=2.0))
        def attempt() -> T:
            with self.transaction() as cur:
                return fn(cur)
        return attempt()

    def close(self) -> None:
        self._drop()
