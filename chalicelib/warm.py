"""A warm instance's heap: its long-lived objects kept out of the garbage collector's walks.

A worker process holds some 50,000-300,000 long-lived objects (modules, boto3's service
models, pydantic schemas, its clients and connection). CPython's full collection walks all
of them with the GIL held, so every item thread of a chunk stops meanwhile: measured with
gc.callbacks during a 20,000-item zero-latency copy, each worker paused 0.25-0.6 s in such
collections, 10 % of the run. After an instance's first unit of work everything alive is its
warm state; `settle()` moves it into the collector's permanent generation (gc.freeze(), as
pre-fork servers do after start-up), so later full collections walk only what was created
since. Young collections, and cycle collection of new objects, go on as before.
"""
from __future__ import annotations

import gc
import threading

_lock = threading.Lock()
_settled = False


def settle() -> bool:
    """Freeze what is alive now, once per process; True on the call that did it."""
    global _settled
    if _settled:
        return False
    with _lock:
        if _settled:
            return False
        gc.freeze()
        _settled = True
        return True
