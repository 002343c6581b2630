"""How close to the Lambda deadline a worker may still start an item.

The margin must cover the worst single item, or Lambda kills the invocation mid-item (the
chunk's attempt counted, its finished outcomes unsaved). It follows from the downstream
client's own settings (attempts x (connect + read timeout) + backoffs + rate-budget wait,
ProductCenterClient.worst_call_s) plus the time to flush the last outcomes and hand the
chunk on; DEADLINE_MARGIN_MS can only raise it.
"""
from __future__ import annotations

import math

from chalicelib.config import Settings

HAND_ON_S = 2.0       # the last flush, the release and one SQS send, on a healthy DB


def deadline_margin_ms(settings: Settings, worst_item_s: float) -> int:
    derived = math.ceil((worst_item_s + HAND_ON_S) * 1000)
    return max(settings.deadline_margin_ms, derived)
