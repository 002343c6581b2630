"""Chunk planning: split a task's items into contiguous chunks of at most `size`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class ChunkPlan:
    seq: int
    first_item: int   # detail seq of the chunk's first item (0-based over the task)
    item_ids: Sequence[int]

    @property
    def item_count(self) -> int:
        return len(self.item_ids)


def plan_chunks(item_ids: Sequence[int], size: int) -> list[ChunkPlan]:
    if size <= 0:
        raise ValueError("chunk size must be positive")
    return [ChunkPlan(seq=n, first_item=start, item_ids=item_ids[start:start + size])
            for n, start in enumerate(range(0, len(item_ids), size))]
