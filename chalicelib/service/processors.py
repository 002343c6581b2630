"""What a task kind plugs into the engine: a processor of its items.

An ItemProcessor's `process` runs on the engine's thread pool, one item at a time (a
downstream call); a BatchProcessor's `process_batch` runs inside the transaction that
records the batch's outcomes; a StreamProcessor's `stream` is one long piece of work (an
export's file) under a lease the engine keeps. All `prepare` the chunk's pending items
under its claim.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, Sequence

from chalicelib.domain.chunk import DetailOutcome
from chalicelib.domain.task import Task

if TYPE_CHECKING:
    from chalicelib.service.lease import LeaseKeeper


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


@dataclass(frozen=True)
class StreamDone:
    outcome: DetailOutcome
    result: dict[str, Any] | None = None    # merged into the task's final result


class StreamProcessor(Protocol):
    """One item whose work takes minutes (a file of a million rows): `stream` runs on the
    worker's own thread and calls `lease.tick(n)` as it goes. The engine's LeaseKeeper
    renews the chunk's lease (from the database's clock), writes progress and reads the
    cancel flag; tick() raises LeaseLost or TaskCancelled to stop the work (the engine
    records nothing, or the cancellation) and DeadlineReached near the Lambda deadline
    (the processor turns it into the item's failed outcome, or lets it propagate and the
    chunk is re-queued). Its outcome and `result` are recorded under the lease."""
    def prepare(self, cur: Any, task: Task, task_input: dict[str, Any],
                items: Sequence[tuple[int, int]]) -> list[WorkItem]: ...

    def stream(self, task_id: int, item: WorkItem, lease: "LeaseKeeper") -> StreamDone: ...
