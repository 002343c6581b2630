"""A private MariaDB server for local runs and tests: its own data directory and port.

    db = MariaDB(Path(".local/mariadb"), port=3307)
    db.start()                       # installs the apt packages if missing, inits, starts
    db.create_database("async_task")
    db.url("async_task")             # mysql://root@127.0.0.1:3307/async_task
    db.restart(); db.stop()

    python -m infra.local.mariadb start|stop|status [--datadir .local/mariadb] [--port 3307]

The server is detached from its starter (own session), so `start` from the CLI leaves it
running and `stop` finds it again through the pid file. root has no password and listens on
127.0.0.1 only: this is a throwaway development database, never a shared one.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pymysql

APT_PACKAGES = ("mariadb-server-core", "mariadb-client-core")
DEFAULT_DATADIR = Path(".local/mariadb")
DEFAULT_PORT = 3307
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 60.0
_SOCKET_PATH_MAX = 100          # sun_path is 108 bytes on Linux
_DB_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
# Shared by mariadb-install-db and mariadbd: a redo log created at one size and opened at
# another is rebuilt on start, which would cost the first start a second or more.
_INNODB_LOG_FILE_SIZE = "--innodb-log-file-size=64M"


class MariaDBError(RuntimeError):
    """The server could not be installed, initialised, started or stopped."""


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"):
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def ensure_apt_packages(packages: tuple[str, ...], binaries: tuple[str, ...],
                        error: type[Exception] = RuntimeError,
                        files: tuple[str, ...] = ()) -> None:
    """Install Debian `packages` with apt-get when any of `binaries` (or `files`) is
    missing (shared by the MariaDB server here and the browser tests' chromium). Needs
    root (or sudo) and Debian/Ubuntu; raises `error` with the reason otherwise."""
    if all(_binary(name) for name in binaries) and all(Path(f).exists() for f in files):
        return
    prefix: list[str] = []
    if os.geteuid() != 0:
        if not shutil.which("sudo"):
            raise error(f"{binaries[0]} is missing and installing it needs root: "
                        f"apt-get install {' '.join(packages)}")
        prefix = ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-q"],
                ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]):
        print(f"apt: running {' '.join(prefix + cmd)}", file=sys.stderr, flush=True)
        done = subprocess.run(prefix + cmd, env=env, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise error(f"{' '.join(cmd)} failed with exit code {done.returncode}")
    missing = [name for name in binaries if not _binary(name)]
    if missing:
        raise error(f"{' '.join(packages)} installed but {', '.join(missing)} not found")


def ensure_installed() -> None:
    """Install mariadb-server-core and mariadb-client-core with apt-get when mariadbd or
    mariadb-install-db is missing."""
    ensure_apt_packages(APT_PACKAGES, ("mariadbd", "mariadb-install-db"), MariaDBError)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:   # a zombie is dead for our purposes
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return True


class MariaDB:
    """One mariadbd on `datadir` listening on 127.0.0.1:`port`."""

    def __init__(self, datadir: Path | str, port: int = DEFAULT_PORT, *,
                 server_args: tuple[str, ...] = (), client_ssl: Any = None) -> None:
        """server_args: extra mariadbd options (e.g. TLS: --ssl-cert ... and
        --require-secure-transport=ON); client_ssl: the `ssl` argument of this handle's
        own connections (an SSLContext) when the server requires TLS."""
        self.datadir = Path(datadir).resolve()
        self.port = int(port)
        self.server_args, self.client_ssl = tuple(server_args), client_ssl
        self.pid: int | None = None
        self._proc: subprocess.Popen | None = None
        self.last_start_s: float | None = None     # wall time of the last start(), for reports
        self.last_start_initialised = False        # whether that start ran mariadb-install-db

    # -- paths ----------------------------------------------------------------------------
    @property
    def pid_file(self) -> Path:
        return self.datadir / "mysqld.pid"

    @property
    def tmpdir(self) -> Path:
        """Its own temp dir: /tmp is shared by every server on the machine, and servers in
        other PID namespaces name their temporary tables alike (#sql-temptable-<pid>-...)."""
        path = self.datadir.parent / f".{self.datadir.name}.tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def error_log(self) -> Path:
        return self.datadir / "error.log"

    @property
    def socket(self) -> Path:
        path = self.datadir / "mysqld.sock"
        if len(str(path)) <= _SOCKET_PATH_MAX:
            return path
        digest = hashlib.sha1(str(self.datadir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"mariadb-{digest}.sock"

    def url(self, database: str = "") -> str:
        return f"mysql://root@127.0.0.1:{self.port}/{database}"

    # -- lifecycle ------------------------------------------------------------------------
    def start(self, timeout_s: float = START_TIMEOUT_S) -> "MariaDB":
        """Start the server, or adopt the one already running on this datadir and port.
        Returns once root can log in over TCP; raises MariaDBError with the error log's
        tail otherwise."""
        started = time.monotonic()
        running = self._running_pid()
        if running is not None:
            if self._answers():
                self.pid = running
                self.last_start_s, self.last_start_initialised = time.monotonic() - started, False
                return self
            raise MariaDBError(f"mariadbd pid {running} owns {self.datadir} but does not "
                               f"answer on port {self.port} (another port?)")
        ensure_installed()
        self.last_start_initialised = self._initialise()
        self._assert_port_free()
        self.pid_file.unlink(missing_ok=True)
        self.error_log.touch()
        log_offset = self.error_log.stat().st_size
        self._proc = subprocess.Popen(
            self._server_command(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)   # outlives a CLI `start`
        self.pid = self._proc.pid
        self._wait_until_ready(time.monotonic() + timeout_s, log_offset)
        self.last_start_s = time.monotonic() - started
        return self

    def stop(self, timeout_s: float = STOP_TIMEOUT_S, *, hard: bool = False) -> None:
        """SIGTERM (a clean InnoDB shutdown) by PID and wait for the process to exit;
        SIGKILL if it has not exited by the deadline. hard=True sends SIGKILL at once, a
        crash that the next start() recovers from. No-op when nothing runs."""
        pid = self.pid or self._running_pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGKILL if hard else signal.SIGTERM)
        except ProcessLookupError:
            pass
        if not self._wait_exit(pid, time.monotonic() + timeout_s):
            os.kill(pid, signal.SIGKILL)
            self._wait_exit(pid, time.monotonic() + 10)
        self.pid, self._proc = None, None
        self.pid_file.unlink(missing_ok=True)

    def restart(self, *, hard: bool = False) -> "MariaDB":
        """Stop (hard=True: SIGKILL, as a crash) and start again on the same datadir/port."""
        self.stop(hard=hard)
        return self.start()

    def status(self) -> dict:
        pid = self._running_pid()
        return {"running": pid is not None and self._answers(), "pid": pid,
                "port": self.port, "datadir": str(self.datadir), "url": self.url()}

    def __enter__(self) -> "MariaDB":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- SQL helpers ----------------------------------------------------------------------
    def connect(self, database: str | None = None, **kwargs) -> pymysql.Connection:
        if self.client_ssl is not None:
            kwargs.setdefault("ssl", self.client_ssl)
        return pymysql.connect(host="127.0.0.1", port=self.port, user="root", password="",
                               database=database, charset="utf8mb4", autocommit=True,
                               **kwargs)

    def create_database(self, name: str) -> str:
        """CREATE DATABASE IF NOT EXISTS, utf8mb4. Returns the database's URL."""
        if not _DB_NAME.match(name):
            raise ValueError(f"database name {name!r} must match {_DB_NAME.pattern}")
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{name}` "
                        "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        return self.url(name)

    def drop_database(self, name: str) -> None:
        if not _DB_NAME.match(name):
            raise ValueError(f"database name {name!r} must match {_DB_NAME.pattern}")
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")

    # -- internals ------------------------------------------------------------------------
    def _server_command(self) -> list[str]:
        return [
            _binary("mariadbd") or "mariadbd", "--no-defaults",
            f"--datadir={self.datadir}", f"--port={self.port}", "--bind-address=127.0.0.1",
            f"--socket={self.socket}", f"--pid-file={self.pid_file}",
            f"--log-error={self.error_log}", "--skip-name-resolve", "--user=root",
            "--innodb-buffer-pool-size=256M", "--max-connections=500",
            "--innodb-flush-log-at-trx-commit=2", _INNODB_LOG_FILE_SIZE,
            "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci",
            "--max-allowed-packet=64M",
            # durability a throwaway database does not need, bought back as speed
            "--innodb-doublewrite=0", "--sync-binlog=0", "--skip-log-bin",
            "--skip-performance-schema",
            "--loose-innodb-buffer-pool-load-at-startup=0",
            "--loose-innodb-buffer-pool-dump-at-shutdown=0",
            f"--tmpdir={self.tmpdir}",
            *self.server_args,
        ]

    def _initialise(self) -> bool:
        """mariadb-install-db into a scratch dir renamed into place, so an interrupted
        init never leaves a half-made datadir that looks complete. False = already done."""
        if (self.datadir / "mysql").is_dir():
            return False
        if self.datadir.exists() and any(p.name != "error.log" for p in self.datadir.iterdir()):
            raise MariaDBError(f"{self.datadir} is neither empty nor a MariaDB datadir")
        self.datadir.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{self.datadir.name}.init-",
                                        dir=self.datadir.parent))
        cmd = [_binary("mariadb-install-db") or "mariadb-install-db", "--no-defaults",
               "--auth-root-authentication-method=normal", f"--datadir={scratch}",
               "--skip-test-db", "--skip-name-resolve", "--user=root", _INNODB_LOG_FILE_SIZE,
               f"--tmpdir={self.tmpdir}"]
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if done.returncode != 0:
            shutil.rmtree(scratch, ignore_errors=True)
            raise MariaDBError(f"mariadb-install-db failed ({done.returncode}):\n"
                               f"{(done.stdout + done.stderr)[-3000:]}")
        if self.datadir.exists():
            shutil.rmtree(self.datadir)
        scratch.rename(self.datadir)
        return True

    def _running_pid(self) -> int | None:
        """PID from the pid file if that process is a live mariadbd on this datadir."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if not _pid_alive(pid):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        if f"--datadir={self.datadir}".encode() not in cmdline:
            return None     # the pid was reused by something else
        return pid

    def _answers(self) -> bool:
        try:
            self.connect(connect_timeout=2).close()
            return True
        except pymysql.MySQLError:
            return False

    def _assert_port_free(self) -> None:
        import socket
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", self.port))
            except OSError as err:
                raise MariaDBError(f"port {self.port} is taken by another process ({err})")

    def _log_tail(self, offset: int = 0, lines: int = 30) -> str:
        try:
            with self.error_log.open("rb") as fh:
                fh.seek(offset)
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            return "(no error log)"
        return "\n".join(text.splitlines()[-lines:])

    def _wait_until_ready(self, deadline: float, log_offset: int) -> None:
        delay, last_error = 0.01, None
        while True:
            if self._proc is not None and self._proc.poll() is not None:
                raise MariaDBError(f"mariadbd exited with {self._proc.returncode} while "
                                   f"starting; {self.error_log}:\n{self._log_tail(log_offset)}")
            try:
                self.connect(connect_timeout=2).close()
                return
            except pymysql.err.OperationalError as err:
                last_error = err
                if err.args and err.args[0] == 1045:    # up, but root@127.0.0.1 refused
                    self._grant_root_over_tcp()
            if time.monotonic() > deadline:
                self.stop()
                raise MariaDBError(f"mariadbd not ready on port {self.port} ({last_error});"
                                   f" {self.error_log}:\n{self._log_tail(log_offset)}")
            time.sleep(delay)   # poll interval of a readiness check with a deadline
            delay = min(delay * 1.5, 0.2)

    def _grant_root_over_tcp(self) -> None:
        """A datadir made by another install method may lack a password-less root for
        TCP: create it through the unix socket, where root@localhost can log in."""
        conn = pymysql.connect(unix_socket=str(self.socket), user="root", password="",
                               autocommit=True)
        with conn, conn.cursor() as cur:
            for host in ("127.0.0.1", "localhost"):
                cur.execute(f"CREATE USER IF NOT EXISTS 'root'@'{host}' IDENTIFIED BY ''")
                cur.execute(f"GRANT ALL PRIVILEGES ON *.* TO 'root'@'{host}' WITH GRANT OPTION")

    def _wait_exit(self, pid: int, deadline: float) -> bool:
        delay = 0.01
        while True:
            if self._proc is not None and self._proc.pid == pid:
                if self._proc.poll() is not None:      # reaps our own child
                    return True
            elif not _pid_alive(pid):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(delay)   # poll interval of an exit check with a deadline
            delay = min(delay * 1.5, 0.2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.mariadb",
                                     description="A private MariaDB server.")
    parser.add_argument("command", choices=("start", "stop", "status"))
    parser.add_argument("--datadir", type=Path, default=DEFAULT_DATADIR)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--database", action="append", default=[],
                        help="with start: create this database too (repeatable)")
    args = parser.parse_args(argv)
    server = MariaDB(args.datadir, args.port)
    if args.command == "start":
        server.start()
        for name in args.database:
            server.create_database(name)
        how = "initialised and started" if server.last_start_initialised else "started"
        if server._proc is None:
            how = "already running"
        print(f"mariadb {how} in {server.last_start_s:.2f}s: pid {server.pid}, "
              f"{server.url()}")
        return 0
    if args.command == "stop":
        server.stop()
        print(f"mariadb on {server.datadir} stopped")
        return 0
    info = server.status()
    print(("running" if info["running"] else "stopped") +
          f": pid {info['pid']}, port {info['port']}, datadir {info['datadir']}")
    return 0 if info["running"] else 3


if __name__ == "__main__":
    sys.exit(main())
