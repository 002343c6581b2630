"""The ETA of a running task, from the rate measured in its current run.

    items:    rate = (done - run_base_done) / (now - start_time)
              eta  = (total - done) / rate
    progress: eta  = elapsed × (100 - progress) / progress      (a task whose one item is
              long, such as an export's file, reports only its progress percentage)

`done` is succeeded + failed + cancelled items; `run_base_done` what was done when the run
started (a retry keeps the items that succeeded before, which the run's rate must not count),
and `start_time` that run's first claim. The rate is the run's average: chunks, slices and
the product center's shared budget make the instantaneous rate jumpy, and the average is what
the next minutes are most likely to look like. None (unknown) unless the task is running, not
being cancelled, has run for MIN_ELAPSED_S and has done something in this run.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Optional

from chalicelib.domain.task import Task, TaskStatus

MIN_ELAPSED_S = 1.0           # below this a rate is mostly noise


def eta_seconds(task: Task, now: dt.datetime) -> Optional[int]:
    """Seconds until the task is likely done, or None; `now` naive UTC like the row's times."""
    start = task.start_time
    if task.status != TaskStatus.RUNNING or start is None or task.cancelled:
        return None
    elapsed = (now - start).total_seconds()
    if elapsed < MIN_ELAPSED_S:
        return None
    done = task.done_items
    run_done = done - task.run_base_done
    if run_done > 0:
        remaining = max(0, task.total_items - done)
        return math.ceil(remaining * elapsed / run_done)
    progress = task.progress
    if done == 0 and 0 < progress < 100:
        return math.ceil(elapsed * (100 - progress) / progress)
    return None
