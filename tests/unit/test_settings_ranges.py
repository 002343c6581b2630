"""Settings out of range are refused when the settings are built, naming the setting."""
from __future__ import annotations

import pytest

from chalicelib.config import ConfigurationError, Settings


@pytest.mark.parametrize("env, named", [
    ({"SLICE_SECONDS": "-1"}, "SLICE_SECONDS"),
    ({"SLICE_SECONDS": "0.1"}, "SLICE_SECONDS"),
    ({"SLICE_SECONDS": "5000"}, "SLICE_SECONDS"),
    ({"PRODUCT_CENTER_RATE": "-5"}, "PRODUCT_CENTER_RATE"),
    ({"BUDGET_DECREASE": "1.5"}, "BUDGET_DECREASE"),
    ({"BUDGET_BLOCK_S": "0"}, "BUDGET_BLOCK_S"),
    ({"PRODUCT_CENTER_RATE": "10", "BUDGET_FLOOR": "20"}, "BUDGET_FLOOR"),
    ({"CHUNK_SIZE": "0"}, "CHUNK_SIZE"),
    ({"CHUNK_THREADS": "0"}, "CHUNK_THREADS"),
    ({"WORKER_CONCURRENCY": "0"}, "WORKER_CONCURRENCY"),
    ({"SLICE_SECONDS": "soon"}, "SLICE_SECONDS"),
])
def test_out_of_range_settings_are_refused_by_name(env, named):
    with pytest.raises(ConfigurationError, match=named):
        Settings.from_env(env)


def test_edges_are_accepted():
    s = Settings.from_env({"SLICE_SECONDS": "0", "PRODUCT_CENTER_RATE": "0", "BUDGET_FLOOR": "50"})
    assert (s.slice_seconds, s.product_center_rate) == (0, 0)
    assert Settings.from_env({"SLICE_SECONDS": "0.5"}).slice_seconds == 0.5
