"""Chunk states and detail outcomes, each with its one table of legal moves.

A chunk (tbl_task_chunk.state): 0 pending (no message out), 1 queued (a message is out),
2 running (leased by one worker until lease_until), 3 done, 4 failed.
A detail (one item of a task, tbl_task_detail.outcome): pending is the absence of a row;
a worker records 1 succeeded, 2 failed or 3 cancelled exactly once, and only a retry
(failed or cancelled -> pending: the row is deleted) moves it again.

The SQL in adapters/chunk_repo.py makes each UPDATE conditional on the states this
table allows as sources, so two writers racing cannot both win an illegal move.
"""
from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple, Optional


class ChunkState(IntEnum):
    PENDING = 0
    QUEUED = 1
    RUNNING = 2
    DONE = 3
    FAILED = 4

    @property
    def is_final(self) -> bool:
        return self in (ChunkState.DONE, ChunkState.FAILED)


_CHUNK_MOVES: dict[ChunkState, frozenset[ChunkState]] = {
    # queued by the creation window, a hand-on or the sweeper; or claimed directly
    ChunkState.PENDING: frozenset({ChunkState.QUEUED, ChunkState.RUNNING}),
    # claimed; or re-queued (its message re-sent) by the sweeper
    ChunkState.QUEUED: frozenset({ChunkState.RUNNING, ChunkState.QUEUED}),
    # released (deadline, slice, downstream away), lease taken over after expiry, done, failed
    ChunkState.RUNNING: frozenset({ChunkState.QUEUED, ChunkState.RUNNING, ChunkState.DONE,
                                   ChunkState.FAILED}),
    # retry: a chunk with failed or cancelled items runs again over just those
    ChunkState.DONE: frozenset({ChunkState.PENDING}),
    ChunkState.FAILED: frozenset({ChunkState.PENDING}),
}


def chunk_can_move(current: ChunkState, target: ChunkState) -> bool:
    return target in _CHUNK_MOVES[ChunkState(current)]


def chunk_sources(target: ChunkState) -> tuple[int, ...]:
    """States from which a chunk may reach `target` (for conditional UPDATEs)."""
    return tuple(int(s) for s, targets in _CHUNK_MOVES.items() if target in targets)


class Outcome(IntEnum):
    """A detail's outcome (tbl_task_detail.outcome); a pending detail has no row."""
    SUCCEEDED = 1
    FAILED = 2
    CANCELLED = 3       # not run: the task was cancelled first


# None stands for pending (no detail row).
_OUTCOME_MOVES: dict[Optional[Outcome], frozenset[Optional[Outcome]]] = {
    None: frozenset({Outcome.SUCCEEDED, Outcome.FAILED, Outcome.CANCELLED}),
    Outcome.SUCCEEDED: frozenset(),             # never run twice
    Outcome.FAILED: frozenset({None}),          # retry
    Outcome.CANCELLED: frozenset({None}),       # retry
}

# What a retry reopens.
REOPENED_OUTCOMES = tuple(o for o in Outcome if None in _OUTCOME_MOVES[o])


def outcome_can_move(current: Optional[Outcome], target: Optional[Outcome]) -> bool:
    return target in _OUTCOME_MOVES[None if current is None else Outcome(current)]


class DetailOutcome(NamedTuple):
    """One item's recorded outcome (a row of tbl_task_detail). Immutable; a NamedTuple
    rather than a frozen dataclass because a copy makes one per item, on the item threads,
    and a frozen dataclass's __init__ (object.__setattr__ per field) cost about 3% of a
    zero-latency copy worker's GIL time (bench/profile/)."""
    seq: int
    item_id: int
    outcome: Outcome
    target_id: int | None = None
    reason: str = ""
