"""EXPLAIN of the task reads (/task/list, /task/get) on a filled task table.

    python -m bench.api_explain            # private MariaDB, or DATABASE_URL=mysql://...

Fills tbl_async_task with 100 stations x 2,000 tasks (station s001: 20,000, of which 5
unfinished and the rest finished) and prints the plan of each statement the two routes run,
with the rows the server reads for it (ANALYZE on MariaDB).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def fill(db: Any) -> None:
    def tx(cur: Any) -> None:
        cur.execute("SELECT COUNT(*) AS n FROM tbl_async_task")
        if cur.fetchone()["n"]:
            return
        rows = []
        for s in range(100):
            station = f"s{s + 1:03d}"
            for i in range(20_000 if s == 0 else 2_000):
                status = 2 if (s == 0 and i >= 19_995) else 3
                rows.append((f"u{i}", "product_copy", station, "{}", status, int(i % 50 != 0),
                             2))
        cur.executemany(
            "INSERT INTO tbl_async_task (user_task_id, name, station_id, input, status,"
            " message_show, creat_time, modify_time, type)"
            " VALUES (%s, %s, %s, %s, %s, %s, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3), %s)", rows)
        cur.execute("ANALYZE TABLE tbl_async_task")
        cur.fetchall()
    db.run(tx)


class Recorder:
    """A cursor wrapper that keeps the statements a repository function runs."""

    def __init__(self, cur: Any) -> None:
        self.cur, self.statements = cur, []

    def execute(self, sql: str, args: Any = None) -> int:
        self.statements.append((sql, args))
        return self.cur.execute(sql, args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cur, name)


def plans(db: Any) -> dict[str, Any]:
    from chalicelib.adapters import task_repo
    calls = {
        "list": lambda c: task_repo.list_shown(c, "s001", type_=None, status=None, limit=20,
                                               offset=0),
        "list_status_3": lambda c: task_repo.list_shown(c, "s001", type_=None, status=3,
                                                        limit=20, offset=0),
        "list_type_2": lambda c: task_repo.list_shown(c, "s001", type_=2, status=None,
                                                      limit=20, offset=0),
        "get": lambda c: task_repo.get(c, "s001", 19_000),
        "get_by_user_task_id": lambda c: task_repo.get_by_user_task_id(c, "s001", "u19000"),
    }
    out: dict[str, Any] = {}

    def tx(cur: Any) -> None:
        cur.execute("SELECT VERSION() AS v")
        out["server"] = cur.fetchone()["v"]
        for name, call in calls.items():
            rec = Recorder(cur)
            call(rec)
            (sql, args), = rec.statements
            cur.execute("EXPLAIN " + sql, args)
            out[name] = {"sql": sql, "plan": cur.fetchall()}
            if "MariaDB" in out["server"]:
                cur.execute("ANALYZE FORMAT=JSON " + sql, args)
                out[name]["analyze"] = json.loads(next(iter(cur.fetchone().values())))
    db.run(tx)
    return out


def main() -> int:
    url = os.environ.get("DATABASE_URL")
    server = None
    if not url:
        from infra.local.mariadb import MariaDB, ensure_installed
        ensure_installed()
        server = MariaDB(datadir=ROOT / ".local" / "explain-mariadb", port=3327).start()
        server.create_database("async_task_explain")
        url = server.url("async_task_explain")
    try:
        from chalicelib.adapters.db import Database
        from infra.migrate import migrate
        migrate(url)
        db = Database(url)
        fill(db)
        result = plans(db)
        print(f"server {result.pop('server')}")
        for name, item in result.items():
            print(f"\n== {name}\n{item['sql']}")
            for row in item["plan"]:
                print("  ", {k: row[k] for k in ("id", "select_type", "table", "type", "key",
                                                  "key_len", "ref", "rows", "Extra") if k in row})
            if "analyze" in item:
                print("   rows read (r_rows):", _r_rows(item["analyze"]))
    finally:
        if server is not None:
            server.stop()
    return 0


def _r_rows(node: Any) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    if isinstance(node, dict):
        if "table_name" in node and "r_rows" in node:
            found.append((node["table_name"], node["r_rows"]))
        for value in node.values():
            found += _r_rows(value)
    elif isinstance(node, list):
        for value in node:
            found += _r_rows(value)
    return found


if __name__ == "__main__":
    sys.exit(main())
