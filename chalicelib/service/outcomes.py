"""Recording outcomes under a chunk's lease: detail rows, the chunk's and the task's
counters and the task's progress, in the caller's transaction (the engine's batches, its
settling of a chunk's rest, and the sweeper's failing of a poison chunk)."""
from __future__ import annotations

from typing import Any, Sequence

from chalicelib.adapters import chunk_repo, task_repo
from chalicelib.domain.chunk import DetailOutcome, Outcome
from chalicelib.domain.task import progress_percent
from chalicelib.observability import metrics


def record(cur: Any, task_id: int, seq: int, token: str, lease_s: int,
           outcomes: Sequence[DetailOutcome]) -> dict[str, Any] | None:
    """Write outcomes under the chunk's lease and advance the task's counters and progress.

    Returns the task's counters (with its `cancelled` flag), or None if the lease is lost.
    """
    if not chunk_repo.record_outcomes(cur, task_id, seq, token, lease_s, outcomes):
        return None
    by_kind = {kind: sum(1 for o in outcomes if o.outcome == kind) for kind in Outcome}
    counts = task_repo.add_outcomes(cur, task_id, by_kind[Outcome.SUCCEEDED],
                                    by_kind[Outcome.FAILED], by_kind[Outcome.CANCELLED])
    task_repo.set_progress(cur, task_id, progress_percent(
        counts["total_items"], counts["succeeded_items"], counts["failed_items"],
        counts["cancelled_items"]))
    return counts


def item_metrics(outcomes: Sequence[DetailOutcome]) -> None:
    ok = sum(1 for o in outcomes if o.outcome == Outcome.SUCCEEDED)
    metrics.add_metric(name="ItemsSucceeded", unit="Count", value=ok)
    metrics.add_metric(name="ItemsFailed", unit="Count", value=len(outcomes) - ok)


def settle_rest(cur: Any, task_id: int, seq: int, token: str, lease_s: int,
                outcome: Outcome, reason: str) -> int:
    """Give every item of a leased chunk that has no outcome yet `outcome` with `reason`."""
    items = chunk_repo.chunk_items(cur, task_id, seq)
    done = chunk_repo.finished_seqs(cur, task_id, items[0][0], len(items)) if items else set()
    rest = [DetailOutcome(s, item_id, outcome, reason=reason)
            for s, item_id in items if s not in done]
    record(cur, task_id, seq, token, lease_s, rest)
    return len(rest)
