"""The task-kind registry: every kind of task the platform runs, one line each.

To add a kind: write its module beside these (a `KIND = TaskKind(...)`, see base.py and
docs/architecture.md) and add it to KINDS.
"""
from __future__ import annotations

from chalicelib.kinds import order_export, order_import, product_copy
from chalicelib.kinds.base import TaskKind

KINDS: tuple[TaskKind, ...] = (
    product_copy.KIND,
    order_import.KIND,
    order_export.KIND,
)


def kind_named(name: str) -> TaskKind:
    for kind in KINDS:
        if kind.name == name:
            return kind
    raise KeyError(f"no task kind {name!r}")
