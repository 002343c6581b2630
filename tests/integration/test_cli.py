"""The operator CLI against the real service layer (MariaDB, moto, the fake product center),
called in this process and as the installed `async-task` command."""
from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from chalicelib import cli, texts
from chalicelib.bootstrap import services
from chalicelib.domain.task import TaskStatus, TaskType
from tests.conftest import ROOT
from tests.factories import make_task, raw_row
from tests.integration.engine_helpers import create_copy, drain, seed_shops, services_with


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def copy_task(svc, n: int, **kw):
    shops = seed_shops(n)
    return create_copy(svc, shops, shops["product_ids"], **kw)


def test_tasks_lists_every_station_with_filters(db_clean):
    mine = make_task(station_id="s001", name="alpha")
    theirs = make_task(station_id="s002", name="beta", status=TaskStatus.FINISHED)
    code, out, _ = run("tasks")
    assert code == 0 and f"{theirs.id:>8}  s002" in out and f"{mine.id:>8}  s001" in out
    assert out.index(str(theirs.id)) < out.index(f"{mine.id:>8}")      # newest first
    code, out, _ = run("--json", "tasks", "--station", "s002", "--status", "3")
    assert code == 0 and [t["id"] for t in json.loads(out)] == [theirs.id]
    code, out, _ = run("tasks", "--name", "nobody")
    assert (code, out.strip()) == (0, "no tasks")


def test_show_lists_chunks_and_failures(db_clean, product_center):
    product_center.configure(reject_every=4)
    svc = services_with(chunk_size=5)
    task = copy_task(svc, 12)
    drain(svc)
    code, out, _ = run("show", str(task.id), "--failures", "2")
    assert code == 0
    assert "partial 部分成功" in out and "chunks 3: done 3" in out
    assert "first 2 failures:" in out and out.count("rejected") >= 2
    code, out, _ = run("--json", "show", str(task.id))
    doc = json.loads(out)
    assert len(doc["chunks"]) == 3 and len(doc["failures"]) == raw_row(task.id).failed_items


def test_watch_follows_a_running_task_to_its_end(db_clean, product_center):
    product_center.configure(latency_ms=5)
    svc = services_with(chunk_size=20, chunk_window=1)
    task = copy_task(svc, 100)
    worker = threading.Thread(target=drain, args=(svc,))
    worker.start()
    code, out, _ = run("watch", str(task.id), "--interval", "0.05", "--timeout", "60")
    worker.join(60)
    assert code == 0
    frames = out.splitlines()                       # not a terminal: a line per change
    assert len(frames) == len(set(frames)) >= 2
    assert frames[-1].startswith("[##############################] 100% 100/100 ok 100")
    assert "done" in frames[-1]


def test_watch_exit_code_says_how_the_task_ended(db_clean):
    assert run("watch", str(make_task(status=TaskStatus.FAILED).id))[0] == 5
    assert run("watch", str(make_task(status=TaskStatus.PARTIAL).id))[0] == 4
    code, _, err = run("watch", str(make_task(status=TaskStatus.RUNNING).id),
                       "--interval", "0.01", "--timeout", "0.05")
    assert code == 1 and "still running" in err


def test_cancel_and_retry_by_task_id(db_clean, product_center):
    svc = services_with(chunk_size=4)
    task = copy_task(svc, 8)
    code, out, _ = run("cancel", str(task.id))
    assert code == 0 and f"cancelled: [{task.id}]" in out
    drain(svc)
    assert raw_row(task.id).status == TaskStatus.FAILED
    code, out, _ = run("retry", str(task.id))
    assert code == 0 and "submitted again (run 2)" in out
    drain(svc)
    assert raw_row(task.id).status == TaskStatus.FINISHED
    code, _, err = run("retry", str(task.id))
    assert code == 1 and err == f"error: {texts.RETRY_NOT_ENDED(status=3)}\n"


def test_dlq_depth_redrive_and_sweep(db_clean):
    svc = services()
    dlq = svc.dead_letters.dlq
    dlq.send_raw('{"kind": "chunk", "task_id": 1, "chunk": 0}')
    dlq.send_raw("not json")
    code, out, _ = run("dlq", "depth")
    assert (code, out.strip()) == (0, "2 message(s) in the dead-letter queue")
    code, out, _ = run("--json", "dlq", "redrive", "--limit", "1")
    assert code == 0 and json.loads(out)["moved"] == 1 and json.loads(out)["left"] == 1
    assert run("dlq", "redrive")[1].startswith("moved 1 back")
    assert len(svc.queue.receive(10)) == 2
    code, out, _ = run("sweep")
    assert code == 0 and "expired_leases 0" in out


def test_errors_are_one_line_and_nonzero(db_clean, stack_env):
    code, _, err = run("show", "999999999")
    assert code == 1 and err == f"error: {texts.TASK_ID_NOT_FOUND(task_id=999999999)}\n"
    env = {**os.environ, **stack_env, "DATABASE_URL": "mysql://root@127.0.0.1:1/nothing",
           "DB_RETRY_S": "0.5"}
    proc = subprocess.run([sys.executable, "-m", "chalicelib.cli", "tasks"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stderr.startswith("error: ")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "chalicelib.cli", "watch", "abc"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "invalid int value" in proc.stderr


def test_budget_shows_the_shared_adaptive_rate(db_clean, monkeypatch):
    code, out, _ = run("budget")
    assert (code, out.strip()) == (0, "product center budget: unlimited (PRODUCT_CENTER_RATE=0)")
    monkeypatch.setenv("PRODUCT_CENTER_RATE", "200")
    from chalicelib import bootstrap
    bootstrap.reset()
    svc = bootstrap.services()
    assert "not used yet" in run("budget")[1]
    svc.budget.acquire()                                # a worker reserves from the row
    svc.db.run(lambda cur: cur.execute("UPDATE tbl_rate_budget SET rate=150"))
    code, out, _ = run("budget")
    assert code == 0 and "150.0 of 200 calls/s (75 % of the ceiling)" in out
    code, out, _ = run("--json", "budget")
    assert json.loads(out)["rate"] == 150 and json.loads(out)["ceiling"] == 200


def test_the_operator_cli_marks_its_times_as_utc(db_clean):
    task = make_task()
    created = raw_row(task.id).creat_time
    assert cli._when(created).endswith("Z")
    assert dt.datetime.fromisoformat(cli._json_default(created)).utcoffset() == dt.timedelta(0)


# -- --json anywhere, names for status and type, help everywhere, the installed command -----
def test_json_is_accepted_before_and_after_the_command(db_clean):
    task = make_task(station_id="s002", status=TaskStatus.FAILED)
    before = run("--json", "tasks", "--station", "s002")
    after = run("tasks", "--station", "s002", "--json")
    assert before[0] == after[0] == 0 and before[1] == after[1]
    assert [t["id"] for t in json.loads(after[1])] == [task.id]
    code, out, _ = run("show", str(task.id), "--json")
    assert code == 0 and json.loads(out)["task"]["id"] == task.id
    code, out, _ = run("dlq", "depth", "--json")
    assert code == 0 and set(json.loads(out)) == {"depth"}
    code, out, _ = run("budget", "--json")
    assert code == 0 and "ceiling" in json.loads(out)
    code, out, _ = run("tasks", "--station", "s002")              # without: the table
    assert code == 0 and out.startswith(f"{'task':>8}  station")


def test_status_and_type_by_name_in_any_case_or_by_number(db_clean):
    failed = make_task(status=TaskStatus.FAILED, type_=TaskType.EXPORT)
    done = make_task(status=TaskStatus.FINISHED, type_=TaskType.IMPORT)

    def ids(*argv: str) -> list[int]:
        code, out, err = run("--json", "tasks", *argv)
        assert code == 0, err
        return [t["id"] for t in json.loads(out)]
    for status in ("failed", "FAILED", "Failed", str(int(TaskStatus.FAILED))):
        assert ids("--status", status) == [failed.id]
    for status in ("finished", "done", "DONE"):          # the word the table shows, too
        assert ids("--status", status) == [done.id]
    for type_ in ("import", "IMPORT", str(int(TaskType.IMPORT))):
        assert ids("--type", type_) == [done.id]
    assert ids("--type", "export", "--status", "failed") == [failed.id]
    assert ids("--type", "process") == []


def test_type_takes_a_task_kind_as_the_name_filter(db_clean):
    copy = make_task(name="product_copy", type_=TaskType.PROCESS)
    make_task(name="order_import", type_=TaskType.IMPORT)
    code, out, _ = run("--json", "tasks", "--type", "Product_Copy")
    assert code == 0 and [t["id"] for t in json.loads(out)] == [copy.id]
    code, _, err = run("tasks", "--type", "product_copy", "--name", "order_import")
    assert code == 1 and "different kinds" in err


@pytest.mark.parametrize("argv,what,valid", [
    (("tasks", "--status", "finsihed"), "status", "submitted (1), running (2), finished (3)"),
    (("tasks", "--status", "9"), "status", "partial (4), failed (5)"),
    (("tasks", "--type", "copy"), "type", "import (0), export (1), process (2)"),
])
def test_an_unknown_status_or_type_is_a_usage_error_naming_the_valid_ones(db_clean, argv, what,
                                                                          valid):
    code, out, err = run(*argv)
    assert code == 2 and out == ""
    assert f"argument --{what}: unknown {what} {argv[-1]!r}" in err and valid in err


def _subcommands(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    [sub] = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_every_command_and_option_has_help():
    top = cli.parser()
    commands = _subcommands(top)
    assert set(commands) == {"tasks", "show", "watch", "cancel", "retry", "dlq", "sweep",
                             "budget"}
    for name, p in [("", top), *commands.items()]:
        assert p.description, f"{name or 'the CLI'} has no description"
        for action in p._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            assert action.help and action.help != argparse.SUPPRESS, \
                f"{name} {action.option_strings or action.dest} has no help"
    code, out, _ = run("tasks", "--help")
    assert code == 0 and "--status STATUS" in out and "failed=5" in out


def test_the_installed_command_runs_the_cli(db_clean, stack_env, tmp_path):
    command = Path(sys.executable).parent / "async-task"
    assert command.exists(), "the async-task command is installed by `make deps`"
    task = make_task(status=TaskStatus.PARTIAL)
    env = {**os.environ, **stack_env}
    proc = subprocess.run([str(command), "tasks", "--status", "partial", "--json"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert [t["id"] for t in json.loads(proc.stdout)] == [task.id]
    proc = subprocess.run([str(command), "tasks", "--status", "nope"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.startswith("usage: async-task tasks")
