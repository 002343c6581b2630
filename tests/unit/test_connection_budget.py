"""The connection budget: each stage's demand at its configured concurrency fits its stated
budget, the settings the check reads equal the limits Lambda enforces, and a configuration
over budget is refused with a message naming the settings."""
from __future__ import annotations

import copy

import pytest

from chalicelib import config
from chalicelib.connection_budget import ConnectionBudgetExceeded, check
from infra.budget import STAGES, stage_budget
from infra.local.runtime import read_chalice_config
from infra.budget import ROOT


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_fits_its_budget(stage: str) -> None:
    demand, budget, problems = stage_budget(stage)
    assert problems == [] and 0 < demand.total <= budget


def test_dev_and_prod_figures() -> None:
    assert [(stage_budget(s)[0].total, stage_budget(s)[1]) for s in STAGES] == [(49, 100),
                                                                                (117, 200)]


def test_over_budget_names_the_settings() -> None:
    with pytest.raises(ConnectionBudgetExceeded) as err:
        check(api_concurrency=50, worker_concurrency=8, budget=100)
    msg = str(err.value)
    for name in ("API_CONCURRENCY=50", "WORKER_CONCURRENCY=8", "DB_CONNECTION_BUDGET=100",
                 "= 117", "reserved_concurrency"):
        assert name in msg
    assert check(50, 8, 0).total == 117          # 0: no budget stated, nothing refused


def test_a_stage_whose_setting_and_reserved_concurrency_differ_is_flagged() -> None:
    cfg = copy.deepcopy(read_chalice_config(ROOT))
    cfg["stages"]["prod"]["lambda_functions"]["api_handler"]["reserved_concurrency"] = 80
    cfg["stages"]["prod"]["environment_variables"]["DB_CONNECTION_BUDGET"] = "100"
    _, _, problems = stage_budget("prod", cfg)
    assert any("API_CONCURRENCY=50 but api_handler's reserved_concurrency is 80" in p
               for p in problems)
    assert any("exceeds DB_CONNECTION_BUDGET=100" in p for p in problems)


def test_cold_start_refuses_a_configuration_over_budget(monkeypatch) -> None:
    monkeypatch.setenv("API_CONCURRENCY", "100")
    monkeypatch.setenv("WORKER_CONCURRENCY", "8")
    monkeypatch.setenv("DB_CONNECTION_BUDGET", "150")
    config.get_runtime_settings.cache_clear()
    try:
        with pytest.raises(ConnectionBudgetExceeded, match="API_CONCURRENCY=100"):
            config.get_runtime_settings()
    finally:
        config.get_runtime_settings.cache_clear()
