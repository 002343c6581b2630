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

Connecting (docs/deploy.md): TLS follows the URL's `ssl-mode` (DISABLED, PREFERRED,
REQUIRED, VERIFY_CA, VERIFY_IDENTITY, as MySQL's client) and `ssl_ca` / `ssl_cert` /
`ssl_key` query parameters; deployed stages add VERIFY_IDENTITY when the URL names no
mode. A connect refused with 1045 (access denied: a rotated password) asks `refresh_url`
once for the current secret and connects with it.
"""
from __future__ import annotations

import os
import re
import ssl
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar
from urllib.parse import parse_qsl, unquote, urlparse

import pymysql
import pymysql.cursors

from chalicelib.errors import DatabaseUnavailable
from tenacity import retry, retry_if_exception, stop_after_delay, wait_exponential_jitter

from chalicelib.observability import logger

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


SSL_MODES = ("DISABLED", "PREFERRED", "REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY")
_SSL_FILES = {"ssl_ca": "ca", "ssl_cert": "cert", "ssl_key": "key"}
ACCESS_DENIED = 1045
# The RDS CA bundle, when the package ships one (docs/deploy.md says when that is needed);
# otherwise verification uses the system trust store (RDS Proxy's ACM certificates).
RDS_CA_BUNDLE = Path(__file__).resolve().parent.parent / "certs" / "rds-global-bundle.pem"


def storable_text(text: str) -> str:
    """Text the driver can send as UTF-8: a lone surrogate (downstream JSON may carry
    "\\ud800") becomes "?" instead of failing the whole transaction."""
    if not text or text.isascii():
        return text
    return text.encode("utf-8", "replace").decode("utf-8")


def parse_url(url: str) -> dict[str, Any]:
    """pymysql's connection parameters of a mysql:// URL, TLS aside (connect_kwargs adds
    it). A ValueError names the bad part (never the password)."""
    params = _parse(url)
    params.pop("tls")
    return params


def tls_mode(url: str) -> str | None:
    """The URL's ssl-mode, None when it names none."""
    return _parse(url)["tls"].get("mode")


def connect_kwargs(url: str) -> dict[str, Any]:
    """parse_url's parameters plus the TLS arguments of pymysql.connect: `ssl` (a context)
    for REQUIRED and VERIFY_*, `ssl_disabled` for DISABLED; nothing for PREFERRED or no
    mode, which pymysql 1.2 treats as "TLS when the server offers it, unverified"."""
    params = _parse(url)
    tls = params.pop("tls")
    mode = tls.get("mode")
    if mode == "DISABLED":
        params["ssl_disabled"] = True
    elif mode not in (None, "PREFERRED"):
        params["ssl"] = ssl_context(tls)
    return params


def _parse(url: str) -> dict[str, Any]:
    u = urlparse(url)
    if u.scheme not in ("mysql", "mysql+pymysql"):
        raise ValueError(f"unsupported database url scheme {u.scheme!r} (mysql://)")
    try:
        port = u.port or 3306
    except ValueError:
        raise ValueError("the port is not a number") from None
    params: dict[str, Any] = {
        "host": u.hostname or "127.0.0.1",
        "port": port,
        "user": unquote(u.username or "root"),
        "password": unquote(u.password or ""),
        "database": (u.path or "/").lstrip("/") or None,
    }
    tls: dict[str, str] = {}
    for key, value in parse_qsl(u.query, keep_blank_values=True):
        name = key.lower().replace("-", "_")
        if name == "ssl_mode":
            mode = value.upper().replace("-", "_")
            if mode not in SSL_MODES:
                raise ValueError(f"ssl-mode {value!r} is not one of {', '.join(SSL_MODES)}")
            tls["mode"] = mode
        elif name in _SSL_FILES:
            tls[_SSL_FILES[name]] = value
        else:
            raise ValueError(f"unknown query parameter {key!r} (ssl-mode, ssl_ca, ssl_cert, "
                             "ssl_key)")
    params["tls"] = tls
    return params


def ssl_context(tls: dict[str, str]) -> ssl.SSLContext | None:
    """The TLS context for a URL's query: None without ssl-mode or with DISABLED, else a
    context that verifies as the mode says (VERIFY_*: against ssl_ca, else the RDS bundle
    when shipped, else the system trust store). Deployed stages get VERIFY_IDENTITY when
    the URL names no mode (config.get_runtime_settings)."""
    mode = tls.get("mode") or "DISABLED"
    if mode in ("DISABLED", "PREFERRED"):
        return None
    ca = tls.get("ca")
    if ca is None and mode.startswith("VERIFY") and RDS_CA_BUNDLE.is_file():
        ca = str(RDS_CA_BUNDLE)
    ctx = ssl.create_default_context(cafile=ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = mode == "VERIFY_IDENTITY"
    if not mode.startswith("VERIFY"):
        ctx.verify_mode = ssl.CERT_NONE          # REQUIRED / PREFERRED: encrypted only
    if "cert" in tls:
        ctx.load_cert_chain(tls["cert"], tls.get("key"))
    return ctx


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
    def __init__(self, url: str, *, connect_timeout: int = 5, retry_for_s: float = 30.0,
                 read_timeout: int = 60,
                 refresh_url: Callable[[], str | None] | None = None):
        self._set_url(url)
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._retry_for_s = retry_for_s
        self._refresh_url = refresh_url
        self._local = threading.local()

    def _set_url(self, url: str) -> None:
        self._tls_mode = tls_mode(url) or "PREFERRED"
        self._params = connect_kwargs(url)

    def _open(self) -> pymysql.connections.Connection:
        conn = pymysql.connect(
            **self._params, charset="utf8mb4", autocommit=True,
            connect_timeout=self._connect_timeout, read_timeout=self._read_timeout,
            write_timeout=self._read_timeout, cursorclass=pymysql.cursors.DictCursor,
            init_command="SET SESSION time_zone='+00:00'")
        if self._tls_mode not in ("DISABLED", "PREFERRED") and not _is_tls(conn):
            conn.close()    # pymysql goes on in clear when the server offers no TLS
            raise pymysql.err.OperationalError(
                2026, f"ssl-mode {self._tls_mode}: the server does not offer TLS")
        return conn

    def _connect(self) -> pymysql.connections.Connection:
        try:
            return self._open()
        except pymysql.err.OperationalError as exc:
            if not (exc.args and exc.args[0] == ACCESS_DENIED and self._refresh_url):
                raise
            fresh = self._refresh_url()      # once: a rotated password, re-read now
            if not fresh:
                raise
            logger.warning("database refused the password (1045); connecting with the "
                           "re-read secret")
            self._set_url(fresh)
            return self._open()

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
        try:
            return attempt()
        except pymysql.err.Error as exc:
            if not (_retryable(exc) or isinstance(exc, pymysql.err.OperationalError)):
                raise
            raise DatabaseUnavailable("the database is unavailable, try again") from exc

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


def _is_tls(conn: pymysql.connections.Connection) -> bool:
    return isinstance(getattr(conn, "_sock", None), ssl.SSLSocket)
