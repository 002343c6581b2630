"""Operator CLI: see and steer tasks of every station without SQL.

    async-task tasks [--station S] [--status NAME|N] [--type NAME|N] [--name KIND] [--limit N]
    async-task show TASK_ID [--failures N]
    async-task watch TASK_ID [--interval S] [--timeout S]
    async-task cancel TASK_ID [TASK_ID ...]
    async-task retry TASK_ID
    async-task dlq depth | dlq redrive [--limit N]
    async-task sweep
    async-task budget

`async-task` is the command `make deps` installs (pyproject.toml [project.scripts]);
`python -m chalicelib.cli` is the same. --status takes submitted, running, finished (or
done), partial, failed, --type import, export, process (any case), or their numbers;
--type also takes a task kind's name (product_copy ...), the same filter as --name.

It reads the same settings as the app (DATABASE_URL, WORK_QUEUE_NAME, AWS_* ...; `make cli`
takes them from the running `make run` stack) and calls the service layer (Operator).
Add --json (before or after the command) for machine-readable output; every command and
option has --help. Exit codes: 0 ok; 1 a one-line error (unknown task, refused operation,
unreachable database); 2 bad usage (an unknown status or type name says the valid ones);
`watch` exits 0 when the task ends 3, 4 when it ends 4, 5 when it ends 5.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import sys
import time
from enum import IntEnum
from pathlib import Path
from typing import Any, Callable, Sequence, TextIO

from chalicelib.domain.task import Task, TaskStatus, TaskType

STATUS_LABELS = {1: "submitted 已经提交", 2: "running 正在执行", 3: "done 已经完成",
                 4: "partial 部分成功", 5: "failed 执行失败"}
CHUNK_STATES = {0: "pending", 1: "queued", 2: "running", 3: "done", 4: "failed"}


class CliError(Exception):
    """A one-line reason for the operator; exit code 1."""


def _when(value: Any) -> str:
    # stored times are UTC; operators see them marked as such
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if isinstance(value, dt.datetime) else "-"


def _task_line(t: Task) -> str:
    done = t.done_items
    return (f"{t.id:>8}  {t.station_id:<8} {t.name:<20.20} {t.type.name.lower():<7}"
            f" {STATUS_LABELS[t.status]:<18} {t.progress:>3}%  {done:>7}/{t.total_items:<7}"
            f" {_when(t.creat_time)}  {t.reason[:60]}")


def progress_bar(task: Task, rate_per_s: float | None, width: int = 30) -> str:
    total = task.total_items
    done = task.done_items
    filled = int(width * task.progress / 100)
    eta = "-"
    if rate_per_s and rate_per_s > 0 and total > done:
        eta = str(dt.timedelta(seconds=int((total - done) / rate_per_s)))
    return (f"[{'#' * filled}{'.' * (width - filled)}] {task.progress:>3}% {done}/{total}"
            f" ok {task.succeeded_items} failed {task.failed_items}"
            f" {STATUS_LABELS[task.status].split()[0]} ETA {eta}")


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):      # stored UTC: ISO 8601 with its offset
        return (value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


class Cli:
    def __init__(self, operator_factory: Callable[[], Any], out: TextIO, *, as_json: bool):
        self._factory = operator_factory
        self._operator: Any = None
        self.out = out
        self.as_json = as_json

    @property
    def ops(self) -> Any:
        if self._operator is None:
            self._operator = self._factory()
        return self._operator

    def emit(self, data: Any, text: str) -> None:
        if self.as_json:
            print(json.dumps(data, default=_json_default, ensure_ascii=False), file=self.out)
        else:
            print(text, file=self.out)

    # -- commands ------------------------------------------------------------------------
    def tasks(self, a: argparse.Namespace) -> int:
        type_, name = a.type, a.name
        if isinstance(type_, str):                  # a kind's name: the --name filter
            if name not in (None, type_):
                raise CliError(f"--type {type_} and --name {name} name different kinds")
            type_, name = None, type_
        rows = self.ops.tasks(station_id=a.station, limit=a.limit, name=name,
                              status=None if a.status is None else int(a.status),
                              type_=None if type_ is None else int(type_))
        header = (f"{'task':>8}  {'station':<8} {'name':<20} {'type':<7} {'status':<18}"
                  f" prog  {'items':>15} {'created':<19}  reason")
        self.emit([t.as_row() for t in rows], "\n".join([header, *map(_task_line, rows)]) if rows else "no tasks")
        return 0

    def show(self, a: argparse.Namespace) -> int:
        task = self.ops.task(a.task_id)
        chunks = self.ops.chunks(a.task_id)
        failures = self.ops.failures(a.task_id, a.failures)
        lines = [_task_line(task),
                 f"run_count {task.run_count}  cancelled {task.cancelled}"
                 f"  started {_when(task.start_time)}  ended {_when(task.end_time)}",
                 f"result {json.dumps(task.result, ensure_ascii=False)}"]
        by_state: dict[str, int] = {}
        for c in chunks:
            by_state[CHUNK_STATES[c["state"]]] = by_state.get(CHUNK_STATES[c["state"]], 0) + 1
        lines.append(f"chunks {len(chunks)}: " + ", ".join(f"{k} {v}" for k, v in by_state.items()))
        for c in chunks:
            if c["state"] != 3 or c["attempts"] > 1:       # the interesting ones
                lines.append(f"  chunk {c['seq']:>4} {CHUNK_STATES[c['state']]:<8} attempts"
                             f" {c['attempts']} ok {c['succeeded']} failed {c['failed']}"
                             f" lease_until {_when(c['lease_until'])}")
        if failures:
            lines.append(f"first {len(failures)} failures:")
            lines += [f"  #{f['seq']} item {f['item_id']}: {f['reason']}" for f in failures]
        self.emit({"task": task.as_row(), "chunks": chunks, "failures": failures}, "\n".join(lines))
        return 0

    def watch(self, a: argparse.Namespace) -> int:
        started = time.monotonic()
        first = last = self.ops.task(a.task_id)
        first_at = started
        shown = ""
        while True:
            elapsed = time.monotonic() - first_at
            rate = (last.done_items - first.done_items) / elapsed if elapsed > 0 else None
            line = progress_bar(last, rate)
            if self.as_json:
                self.emit({"task_id": last.id, "status": int(last.status),
                           "progress": last.progress}, "")
            elif self.out.isatty():
                end = "\n" if last.is_final else ""
                print(f"\r{line}", end=end, file=self.out, flush=True)
            elif line != shown:                 # a log or a pipe: a line per change
                print(line, file=self.out, flush=True)
            shown = line
            if last.is_final:
                if last.reason and not self.as_json:
                    print(last.reason, file=self.out)
                return 0 if last.status == TaskStatus.FINISHED else int(last.status)
            if a.timeout and time.monotonic() - started > a.timeout:
                raise CliError(f"task {a.task_id} still {STATUS_LABELS[last.status]}"
                               f" after {a.timeout:g}s")
            time.sleep(a.interval)          # the polling interval of a watch, by design
            last = self.ops.task(a.task_id)

    def cancel(self, a: argparse.Namespace) -> int:
        report = self.ops.cancel(a.task_ids)
        self.emit(report.__dict__, f"cancelled: {report.cancelled or '-'}"
                                   f"  already ended: {report.already_final or '-'}")
        return 0

    def retry(self, a: argparse.Namespace) -> int:
        task = self.ops.retry(a.task_id)
        self.emit({"task_id": task.id, "status": int(task.status)},
                  f"task {task.id} submitted again (run {task.run_count + 1})")
        return 0

    def dlq(self, a: argparse.Namespace) -> int:
        if a.action == "depth":
            depth = self.ops.dlq_depth()
            self.emit({"depth": depth}, f"{depth} message(s) in the dead-letter queue")
            return 0
        report = self.ops.redrive(a.limit)
        self.emit(report.__dict__, f"moved {report.moved} back to the work queue,"
                                   f" {report.left} left in the dead-letter queue")
        if report.errors:
            raise CliError(f"redrive stopped: {report.errors[0]}")
        return 0

    def budget(self, a: argparse.Namespace) -> int:
        b = self.ops.budget()
        if not b["ceiling"]:
            text = "product center budget: unlimited (PRODUCT_CENTER_RATE=0)"
        elif b["rate"] is None:
            text = f"product center budget: {b['ceiling']:g} calls/s ceiling, not used yet"
        else:
            text = (f"product center budget: {b['rate']:.1f} of {b['ceiling']:g} calls/s"
                    f" ({100 * b['rate'] / b['ceiling']:.0f} % of the ceiling),"
                    f" {b['reservations']} reservations, changed {_when(b['modify_time'])}")
        self.emit(b, text)
        return 0

    def sweep(self, a: argparse.Namespace) -> int:
        report = self.ops.sweep()
        self.emit(report.__dict__, ", ".join(f"{k} {v}" for k, v in report.__dict__.items()))
        return 1 if report.errors else 0


def _enum_arg(enum: type[IntEnum], what: str, aliases: dict[str, IntEnum] | None = None,
              kinds: bool = False) -> Callable[[str], IntEnum | str]:
    """An argparse type: a member of `enum` by name (any case) or by number; with `kinds`,
    also a task kind's name (chalicelib/kinds), returned as that name."""
    names = {m.name.lower(): m for m in enum} | (aliases or {})

    def parse(text: str) -> IntEnum | str:
        key = text.strip().lower()
        if key in names:
            return names[key]
        if kinds and key in _kind_names():
            return key
        try:
            return enum(int(key))
        except ValueError:
            pass
        choices = ", ".join(f"{m.name.lower()} ({int(m)})" for m in enum)
        if kinds:
            choices += ", or a task kind: " + ", ".join(sorted(_kind_names()))
        raise argparse.ArgumentTypeError(f"unknown {what} {text!r}: one of {choices}")
    parse.__name__ = what             # argparse names the type in its own messages
    return parse


def _kind_names() -> list[str]:
    from chalicelib.kinds import KINDS
    return [kind.name for kind in KINDS]


def _choices_help(enum: type[IntEnum], aliases: dict[str, IntEnum] | None = None) -> str:
    alias_of = {m: a for a, m in (aliases or {}).items()}
    return ", ".join(f"{m.name.lower()}{f' ({alias_of[m]})' if m in alias_of else ''}={int(m)}"
                     for m in enum)


# The CLI prints 3 as "done": an operator may type what they read.
STATUS_ALIASES: dict[str, IntEnum] = {"done": TaskStatus.FINISHED}
JSON_HELP = "machine-readable output: one JSON document (watch: one line per poll)"


def parser(prog: str = "python -m chalicelib.cli") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Operator CLI of the async task platform:"
                                " tasks of every station, the dead-letter queue, the sweeper.")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    # --json after the subcommand too; SUPPRESS keeps a leading --json from being reset
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=JSON_HELP)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                           help="one of these; COMMAND --help lists its options")

    def command(name: str, help_: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_, description=help_, parents=[common])
    t = command("tasks", "list tasks of every station, newest first")
    t.add_argument("--station", metavar="STATION_ID", help="only this station's tasks")
    t.add_argument("--status", type=_enum_arg(TaskStatus, "status", STATUS_ALIASES),
                   help="only tasks in this status, by name (any case) or number: "
                        + _choices_help(TaskStatus, STATUS_ALIASES))
    t.add_argument("--type", type=_enum_arg(TaskType, "type", kinds=True),
                   help="only tasks of this type, by name (any case) or number: "
                        + _choices_help(TaskType) + "; or of one task kind, as --name")
    t.add_argument("--name", metavar="KIND",
                   help="only tasks of this name (the task kind, e.g. product_copy)")
    t.add_argument("--limit", type=int, default=50, metavar="N",
                   help="at most N tasks (default %(default)s)")
    s = command("show", "a task, its chunks and first failures")
    s.add_argument("task_id", type=int, help="the task's id (any station)")
    s.add_argument("--failures", type=int, default=20, metavar="N",
                   help="list the first N failed items (default %(default)s)")
    w = command("watch", "progress bar and ETA until the task ends"
                         " (exit 0 done, 4 partial, 5 failed)")
    w.add_argument("task_id", type=int, help="the task's id (any station)")
    w.add_argument("--interval", type=float, default=1.0, metavar="S",
                   help="seconds between polls (default %(default)s)")
    w.add_argument("--timeout", type=float, default=0, metavar="S",
                   help="give up after S seconds, exit 1 (default 0: never)")
    c = command("cancel", "cancel tasks (workers stop at their next batch)")
    c.add_argument("task_ids", type=int, nargs="+", metavar="TASK_ID",
                   help="ids of the tasks to cancel (any stations)")
    r = command("retry", "re-run a task's failed and cancelled items")
    r.add_argument("task_id", type=int, help="a task that ended partial (4) or failed (5)")
    d = command("dlq", "dead-letter queue: depth, or redrive after a fix")
    d.add_argument("action", choices=["depth", "redrive"],
                   help="depth: messages waiting; redrive: move them back to the work queue")
    d.add_argument("--limit", type=int, default=None, metavar="N",
                   help="redrive: move at most N messages (default: all)")
    command("sweep", "run the sweeper once now")
    command("budget", "the product center budget: current adaptive rate, ceiling")
    return p


def _prog() -> str:
    """How the operator ran it: the installed command, or `python -m`."""
    return "async-task" if Path(sys.argv[0] if sys.argv else "").name == "async-task" \
        else "python -m chalicelib.cli"


def _default_operator() -> Any:
    from chalicelib.bootstrap import services
    return services().operator


def main(argv: Sequence[str] | None = None, *, out: TextIO = sys.stdout, err: TextIO = sys.stderr,
         operator_factory: Callable[[], Any] = _default_operator) -> int:
    try:        # usage errors and --help on the given streams, as an exit code
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            args = parser(_prog()).parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    cli = Cli(operator_factory, out, as_json=args.json)
    from chalicelib.errors import PlatformError
    try:
        return getattr(cli, args.command)(args)
    except (CliError, PlatformError) as exc:
        print(f"error: {getattr(exc, 'msg', None) or exc}", file=err)
        return 1
    except KeyboardInterrupt:
        print(file=err)
        return 130
    except Exception as exc:        # e.g. database unreachable: one line, not a traceback
        print(f"error: {exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
              file=err)
        return 1


if __name__ == "__main__":
    sys.exit(main())
