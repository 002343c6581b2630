"""Only service/lifecycle.py writes a task's status: a guard over the tree."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from chalicelib.adapters import task_repo

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [p for d in ("chalicelib", "tests", "bench", "infra") for p in (ROOT / d).rglob("*.py")
           if ".venv" not in p.parts and p.name != "test_status_writers.py"] + [ROOT / "app.py"]
RAW_STATUS_UPDATE = re.compile(r"UPDATE\s+tbl_async_task\s+(\w+\s+)?SET\b[^\"']*\bstatus\s*=",
                               re.IGNORECASE)


def test_move_status_is_called_from_the_lifecycle_module_only():
    callers = {p.relative_to(ROOT).as_posix() for p in SOURCES
               if "move_status(" in p.read_text(encoding="utf-8")}
    assert callers == {"chalicelib/adapters/task_repo.py", "chalicelib/service/lifecycle.py"}


def test_no_raw_sql_writes_a_task_status():
    offenders = [p.relative_to(ROOT).as_posix() for p in SOURCES
                 if RAW_STATUS_UPDATE.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_update_fields_refuses_status():
    with pytest.raises(ValueError):
        task_repo.update_fields(None, 1, {"status": 3})
