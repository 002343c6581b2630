"""SQL for tbl_async_task. Every function takes an open cursor; the caller owns the transaction.

Reads are scoped by station: a task id of another station finds nothing.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import pymysql
from pymysql.cursors import DictCursor

from chalicelib.domain.task import Task, TaskStatus, TaskType
from chalicelib.errors import DuplicateKey

_COLUMNS = ("id, user_task_id, name, station_id, result, status, `repeat`, message_show, "
            "run_count, creat_time, modify_time, start_time, end_time, business_id, "
            "business_name, type, progress, reason, total_items, succeeded_items, failed_items, "
            "cancelled, cancelled_items, run_base_done, callback_url, notified_at, "
            "notify_attempts, notify_last_error")

# Columns a caller may set through update_fields (never station_id, id, input, and never
# status: only service/lifecycle.py moves a status, through move_status).
_UPDATABLE = {"result", "progress", "reason", "start_time", "end_time",
              "run_count", "total_items", "succeeded_items", "failed_items",
              "open_dedup_key", "message_show", "cancelled", "cancelled_items", "run_base_done",
              # a final move opens the task's notification job (service/notifications.py)
              "notify_id", "notify_seq", "notify_state", "event_state", "notify_attempts",
              "notify_last_error", "notified_at", "notify_due_at"}


def from_row(row: dict[str, Any]) -> Task:
    """A Task from a row of _COLUMNS (result still JSON text, flags 0/1)."""
    result = row["result"]
    return Task(
        id=row["id"], station_id=row["station_id"], name=row["name"],
        status=TaskStatus(row["status"]), type=TaskType(row["type"]),
        user_task_id=row["user_task_id"],
        result=json.loads(result) if isinstance(result, (str, bytes)) else result,
        repeat=bool(row["repeat"]), message_show=bool(row["message_show"]),
        run_count=row["run_count"], creat_time=row["creat_time"],
        modify_time=row["modify_time"], start_time=row["start_time"],
        end_time=row["end_time"], business_id=row["business_id"],
        business_name=row["business_name"], progress=row["progress"], reason=row["reason"],
        total_items=row["total_items"], succeeded_items=row["succeeded_items"],
        failed_items=row["failed_items"], cancelled=bool(row["cancelled"]),
        cancelled_items=row["cancelled_items"], run_base_done=row["run_base_done"],
        callback_url=row["callback_url"], notified_at=row["notified_at"],
        notify_attempts=row["notify_attempts"], notify_last_error=row["notify_last_error"])


def _decode(row: dict[str, Any] | None) -> Task | None:
    return None if row is None else from_row(row)


def insert(cur: DictCursor, *, station_id: str, name: str, input_text: str, type_: int,
           user_task_id: str | None, repeat: bool, message_show: bool, business_id: int,
           business_name: str, total_items: int = 0, callback_url: str | None = None) -> int:
    """The new task's id; DuplicateKey when an unfinished task holds its dedup key."""
    try:
        return _insert(cur, station_id, name, input_text, type_, user_task_id, repeat,
                       message_show, business_id, business_name, total_items, callback_url)
    except pymysql.err.IntegrityError as exc:
        raise DuplicateKey("an unfinished task with this user_task_id exists") from exc


def _insert(cur: DictCursor, station_id: str, name: str, input_text: str, type_: int,
            user_task_id: str | None, repeat: bool, message_show: bool, business_id: int,
            business_name: str, total_items: int, callback_url: str | None) -> int:
    cur.execute(
        "INSERT INTO tbl_async_task (user_task_id, name, station_id, input, status, `repeat`,"
        " message_show, run_count, creat_time, modify_time, business_id, business_name, type,"
        " progress, total_items, open_dedup_key, callback_url)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, 0, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3), %s, %s, %s,"
        " 0, %s, %s, %s)",
        (user_task_id, name, station_id, input_text, int(TaskStatus.SUBMITTED), int(repeat),
         int(message_show), business_id, business_name, type_, total_items,
         None if repeat or user_task_id is None else user_task_id, callback_url))
    return cur.lastrowid


def find_open_duplicate(cur: DictCursor, station_id: str, name: str, user_task_id: str, *,
                        locking: bool = False) -> Task | None:
    """The unfinished task holding the dedup key. `locking` reads the newest committed row
    (a locking read), not the transaction's snapshot: after losing an insert race."""
    lock = " FOR UPDATE" if locking else ""
    cur.execute(f"SELECT {_COLUMNS} FROM tbl_async_task WHERE station_id=%s AND name=%s"
                f" AND open_dedup_key=%s{lock}", (station_id, name, user_task_id))
    return _decode(cur.fetchone())


def get(cur: DictCursor, station_id: str, task_id: int, *, for_update: bool = False
        ) -> Task | None:
    lock = " FOR UPDATE" if for_update else ""
    cur.execute(f"SELECT {_COLUMNS} FROM tbl_async_task WHERE id=%s AND station_id=%s{lock}",
                (task_id, station_id))
    return _decode(cur.fetchone())


def get_any_station(cur: DictCursor, task_id: int, *, for_update: bool = False
                    ) -> Task | None:
    """For the engine, which holds a task id from its own queue message."""
    lock = " FOR UPDATE" if for_update else ""
    cur.execute(f"SELECT {_COLUMNS} FROM tbl_async_task WHERE id=%s{lock}", (task_id,))
    return _decode(cur.fetchone())


def get_by_user_task_id(cur: DictCursor, station_id: str, user_task_id: str
                        ) -> Task | None:
    """The newest task of the station with that user_task_id (the index named: for ORDER BY
    id DESC LIMIT 1 the optimizer may otherwise walk the primary key, see list_shown)."""
    cur.execute(f"SELECT {_COLUMNS} FROM tbl_async_task FORCE INDEX (idx_station_user_task)"
                " WHERE station_id=%s AND user_task_id=%s ORDER BY id DESC LIMIT 1",
                (station_id, user_task_id))
    return _decode(cur.fetchone())


def get_input(cur: DictCursor, task_id: int) -> str:
    cur.execute("SELECT input FROM tbl_async_task WHERE id=%s", (task_id,))
    row = cur.fetchone()
    return row["input"] if row else ""


@dataclass(frozen=True)
class ListQuery:
    """What /task/list asks for: the station's shown tasks matching type, status and
    search text `q`, newest first, `limit` of them after `cursor` (a task id: the page
    holds older ids) or skipping `offset`."""
    station_id: str
    type_: int | None = None
    status: int | None = None
    q: str | None = None
    limit: int = 20
    cursor: int | None = None
    offset: int = 0


@dataclass(frozen=True)
class ListPage:
    busy: bool                  # a shown task matching the filter is unfinished
    total: int                  # shown tasks matching the filter (and search)
    rows: list[Task]            # the page, newest first
    more: bool                  # tasks older than the page's last match too


# The key each filter reads in id order (station_id, message_show, <filter>, id):
# 0001, 0012 and 0017. Named because, left alone, both servers may walk the primary key
# backwards for ORDER BY id DESC LIMIT (see list_page).
_PAGE_INDEX = {(False, False): "idx_station_shown", (False, True): "idx_station_shown_status",
               (True, False): "idx_station_shown_type",
               (True, True): "idx_station_shown_type_status"}


def like_escape(text: str) -> str:
    """`text` as a LIKE pattern matching itself ('!' escapes, as the statements say)."""
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


def _list_filter(q: ListQuery) -> tuple[str, list[Any]]:
    where, args = ["station_id=%s", "message_show=1"], [q.station_id]
    if q.type_ is not None:
        where.append("type=%s")
        args.append(q.type_)
    if q.status is not None:
        where.append("status=%s")
        args.append(q.status)
    if q.q:
        # user_task_id by prefix (ids are exact: byte-wise); the names by substring, the
        # technical name case-insensitively, business_name by its _ci collation.
        where.append("(user_task_id LIKE %s ESCAPE '!' OR LOWER(name) LIKE %s ESCAPE '!'"
                     " OR business_name LIKE %s ESCAPE '!')")
        text = like_escape(q.q)
        args += [text + "%", f"%{like_escape(q.q.lower())}%", f"%{text}%"]
    return " AND ".join(where), args


def list_page(cur: DictCursor, q: ListQuery) -> ListPage:
    """One page of the station's shown tasks, the filter's total and its busy flag.

    One statement: the flag and the total are uncorrelated scalar subqueries (each
    evaluated once) on every row of the page, which is read in index order (no sort, no
    temporary table) and one row longer than the page to learn whether more follow. Only
    an empty page past the first needs a second statement for the flag and total (an empty
    first page means no task matches at all). The flag reads the unfinished range of a
    key with status; the total counts the filter's key range, index only (with search
    text, the rows of the station's range). Plans: docs/api-load.md (bench.api_explain).
    """
    where, args = _list_filter(q)
    page_index = _PAGE_INDEX[(q.type_ is not None, q.status is not None)]
    busy_index = "idx_station_shown_type_status" if q.type_ is not None \
        else "idx_station_shown_status"
    flags_sql = (f"(SELECT EXISTS(SELECT 1 FROM tbl_async_task FORCE INDEX ({busy_index})"
                 f" WHERE {where} AND status IN (%s, %s))) AS busy,"
                 f" (SELECT COUNT(*) FROM tbl_async_task FORCE INDEX ({page_index})"
                 f" WHERE {where}) AS total")
    flags_args = (*args, int(TaskStatus.SUBMITTED), int(TaskStatus.RUNNING), *args)
    page_where, page_args = where, list(args)
    if q.cursor is not None:
        page_where += " AND id < %s"
        page_args.append(q.cursor)
    cur.execute(f"SELECT {_COLUMNS}, {flags_sql} FROM tbl_async_task"
                f" FORCE INDEX ({page_index}) WHERE {page_where}"
                " ORDER BY id DESC LIMIT %s OFFSET %s",
                (*flags_args, *page_args, q.limit + 1, q.offset))
    rows = list(cur.fetchall())
    if rows:
        busy, total = bool(rows[0]["busy"]), int(rows[0]["total"])
    elif q.offset or q.cursor is not None:
        cur.execute(f"SELECT {flags_sql}", flags_args)
        flags = cur.fetchone()
        busy, total = bool(flags["busy"]), int(flags["total"])
    else:
        busy, total = False, 0
    more = len(rows) > q.limit
    return ListPage(busy=busy, total=total, rows=[from_row(row) for row in rows[:q.limit]],
                    more=more)


def list_any_station(cur: DictCursor, *, station_id: str | None = None, status: int | None = None,
                     type_: int | None = None, name: str | None = None,
                     limit: int = 50) -> list[Task]:
    """Operators' view: tasks of every station (or one), newest first, hidden ones too."""
    where, args = ["1=1"], []
    for column, value in (("station_id", station_id), ("status", status), ("type", type_),
                          ("name", name)):
        if value is not None:
            where.append(f"{column}=%s")
            args.append(value)
    cur.execute(f"SELECT {_COLUMNS} FROM tbl_async_task WHERE {' AND '.join(where)}"
                " ORDER BY id DESC LIMIT %s", (*args, limit))
    return [from_row(r) for r in cur.fetchall()]


def _id_filter(task_ids: Sequence[int], user_task_ids: Sequence[str]) -> tuple[str, list[Any]]:
    column, values = ("id", list(task_ids)) if task_ids else ("user_task_id", list(user_task_ids))
    return f"{column} IN ({', '.join(['%s'] * len(values))})", values


def count_distinct_matching(cur: DictCursor, station_id: str, *, task_ids: Sequence[int] = (),
                            user_task_ids: Sequence[str] = ()) -> int:
    """How many of the given ids exist for the station (each id counted once)."""
    cond, values = _id_filter(task_ids, user_task_ids)
    column = "id" if task_ids else "user_task_id"
    cur.execute(f"SELECT COUNT(DISTINCT {column}) AS n FROM tbl_async_task"
                f" WHERE station_id=%s AND {cond}", (station_id, *values))
    return cur.fetchone()["n"]


def matching_for_update(cur: DictCursor, station_id: str, *, task_ids: Sequence[int] = (),
                        user_task_ids: Sequence[str] = ()) -> list[Task]:
    """The station's tasks with the given ids, locked, in id order."""
    cond, values = _id_filter(task_ids, user_task_ids)
    cur.execute(f"SELECT {_COLUMNS} FROM tbl_async_task WHERE station_id=%s AND {cond}"
                " ORDER BY id FOR UPDATE", (station_id, *values))
    return [from_row(row) for row in cur.fetchall()]


def hide(cur: DictCursor, station_id: str, *, task_ids: Sequence[int] = (),
         user_task_ids: Sequence[str] = ()) -> int:
    """Hide tasks (clear_show); returns how many rows changed."""
    cond, values = _id_filter(task_ids, user_task_ids)
    cur.execute(f"UPDATE tbl_async_task SET message_show=0, modify_time=UTC_TIMESTAMP(3)"
                f" WHERE station_id=%s AND {cond}", (station_id, *values))
    return cur.rowcount


def update_fields(cur: DictCursor, task_id: int, fields: dict[str, Any],
                  *, only_if_status: Iterable[int] | None = None) -> int:
    """Set columns of one task (not its status); with only_if_status, only while its
    status is one of them. Returns the row count."""
    unknown = set(fields) - _UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    return _update(cur, task_id, fields, only_if_status)


def move_status(cur: DictCursor, task_id: int, target: int, fields: dict[str, Any],
                sources: Iterable[int]) -> int:
    """Set the status (and `fields`) while the status is one of `sources`; the row count.
    For service/lifecycle.py only. A unique key refusing the row is DuplicateKey."""
    unknown = set(fields) - _UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    try:
        return _update(cur, task_id, {"status": int(target), **fields}, sources)
    except pymysql.err.IntegrityError as exc:
        raise DuplicateKey("another unfinished task has the same key") from exc


def _update(cur: DictCursor, task_id: int, fields: dict[str, Any],
            only_if_status: Iterable[int] | None) -> int:
    sets, args = [], []
    for column, value in fields.items():
        if column in ("start_time", "end_time", "notify_due_at") and value == "now":
            sets.append(f"{column}=UTC_TIMESTAMP(3)")
            continue
        sets.append(f"{column}=%s")
        args.append(json.dumps(value, ensure_ascii=False) if column == "result" else value)
    sql = f"UPDATE tbl_async_task SET {', '.join(sets)}, modify_time=UTC_TIMESTAMP(3) WHERE id=%s"
    args.append(task_id)
    if only_if_status is not None:
        statuses = list(only_if_status)
        sql += f" AND status IN ({', '.join(['%s'] * len(statuses))})"
        args.extend(statuses)
    cur.execute(sql, args)
    return cur.rowcount


def add_outcomes(cur: DictCursor, task_id: int, succeeded: int, failed: int,
                 cancelled: int = 0) -> dict[str, Any]:
    """Add finished-item counts; returns the task's new counters and its cancel flag
    (the row stays locked until commit)."""
    cur.execute("UPDATE tbl_async_task SET succeeded_items=succeeded_items+%s,"
                " failed_items=failed_items+%s, cancelled_items=cancelled_items+%s,"
                " modify_time=UTC_TIMESTAMP(3) WHERE id=%s",
                (succeeded, failed, cancelled, task_id))
    cur.execute("SELECT total_items, succeeded_items, failed_items, cancelled_items, cancelled"
                " FROM tbl_async_task WHERE id=%s", (task_id,))
    return cur.fetchone()


def set_progress(cur: DictCursor, task_id: int, progress: int) -> None:
    cur.execute("UPDATE tbl_async_task SET progress=%s WHERE id=%s", (progress, task_id))


def is_cancelled(cur: DictCursor, task_id: int) -> bool:
    cur.execute("SELECT cancelled FROM tbl_async_task WHERE id=%s", (task_id,))
    row = cur.fetchone()
    return bool(row and row["cancelled"])


def running_ids_with_all_chunks_done(cur: DictCursor, limit: int) -> list[int]:
    """Running engine tasks whose chunks are all done or failed, but not finalized."""
    cur.execute("SELECT t.id FROM tbl_async_task t WHERE t.status=%s AND EXISTS"
                " (SELECT 1 FROM tbl_task_chunk c WHERE c.task_id=t.id) AND NOT EXISTS"
                " (SELECT 1 FROM tbl_task_chunk c WHERE c.task_id=t.id AND c.state < 3)"
                " LIMIT %s", (int(TaskStatus.RUNNING), limit))
    return [r["id"] for r in cur.fetchall()]
