"""MySQL access: one connection per thread, transactions as `with db.transaction()`.

A Lambda instance handles one event at a time, so in production this is one warm
connection per instance; the local runtime serves HTTP on threads, hence thread-local.
A transaction that fails because the server went away (restart, failover, idle kill)
is rolled back and run again on a fresh connection: transaction bodies are written to
be re-runnable, which is what makes a DB restart survivable.

Connecting (docs/deploy.md): TLS follows the URL's `ssl-mode` (DISABLED, PREFERRED,
REQUIRED, VERIFY_CA, VERIFY_IDENTITY, as MySQL's client) and `ssl_ca` / `ssl_cert` /
`ssl_key` query parameters; without `ssl-mode` the process default applies (deployed:
VERIFY_IDENTITY). A connect refused with 1045 (access denied: a rotated password) asks
`refresh_url` once for the current secret and connects with it.
"""
from __future__ import annotations

import logging
import ssl
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar
from urllib.parse import parse_qsl, unquote, urlparse

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


SSL_MODES = ("DISABLED", "PREFERRED", "REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY")
_SSL_FILES = {"ssl_ca": "ca", "ssl_cert": "cert", "ssl_key": "key"}
ACCESS_DENIED = 1045
# The RDS CA bundle, when the package ships one (docs/deploy.md says when that is needed);
# otherwise verification uses the system trust store (RDS Proxy's ACM certificates).
RDS_CA_BUNDLE = Path(__file__).resolve().parent.parent / "certs" / "rds-global-bundle.pem"
log = logging.getLogger(__name__)


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
    """parse_url's parameters plus `ssl` (a context, or None for DISABLED)."""
    params = _parse(url)
    params["ssl"] = ssl_context(params.pop("tls"))
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
    if mode == "DISABLED":
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
        self._tls_mode = tls_mode(url) or "DISABLED"
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
            log.warning("database refused the password (1045); connecting with the "
                        "re-read secret")
            self._set_url(fresh)
            return self._open()

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


def _is_tls(conn: pymysql.connections.Connection) -> bool:
    return isinstance(getattr(conn, "_sock", None), ssl.SSLSocket)
