"""What a task kind plugs into the engine: a processor of its items.

An ItemProcessor's `process` runs on the engine's thread pool, one item at a time (a
downstream call); a BatchProcessor's `process_batch` runs inside the transaction that
records the batch's outcomes. Both `prepare` the chunk's pending items under its claim.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence

from chalicelib.domain.chunk import DetailOutcome
from chalicelib.domain.task import Task


@dataclass(frozen=True)
class WorkItem:
    seq: int
    item_id: int
    payload: Any


class ItemProcessor(Protocol):
    def prepare(self, cur: Any, task: Task, task_input: dict[str, Any],
                items: Sequence[tuple[int, int]]) -> list[WorkItem]: ...

    def process(self, task_id: int, item: WorkItem) -> DetailOutcome | None: ...


class BatchProcessor(Protocol):
    """A processor whose work is database writes: the engine hands it a batch of items
    inside the very transaction that records their outcomes under the chunk's lease, so
    the writes and the outcomes commit together or not at all (a worker whose lease was
    taken over rolls its writes back). Runs on the worker's own thread, no pool."""
    def prepare(self, cur: Any, task: Task, task_input: dict[str, Any],
                items: Sequence[tuple[int, int]]) -> list[WorkItem]: ...

    def process_batch(self, cur: Any, task_id: int, items: Sequence[WorkItem]
                      ) -> list[DetailOutcome]: ...
