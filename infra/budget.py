"""`python -m infra.budget`: each stage's database connections at its configured concurrency.

Reads .chalice/config.json as Chalice does (stage, then top level) and prints, per stage,
the connections its functions can open (chalicelib/connection_budget.py) against its
DB_CONNECTION_BUDGET; exits 1 when a stage is over its budget or when API_CONCURRENCY /
WORKER_CONCURRENCY differ from the reserved concurrency of api_handler / work (the
settings the check reads must be the limits Lambda enforces). `make package-check` runs
the same check.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from chalicelib.config import Settings
from chalicelib.connection_budget import ConnectionBudgetExceeded, Demand, check
from infra.local.runtime import function_config, read_chalice_config

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("dev", "prod")


def stage_budget(stage: str, chalice_config: dict[str, Any] | None = None
                 ) -> tuple[Demand, int, list[str]]:
    """(demand, budget, problems) of one stage."""
    config = read_chalice_config(ROOT) if chalice_config is None else chalice_config
    api_cfg = function_config(config, stage, "api_handler")
    work_cfg = function_config(config, stage, "work")
    settings = Settings.from_env({k: str(v) for k, v in api_cfg.environment_variables.items()})
    problems = []
    for setting, value, function, reserved in (
            ("API_CONCURRENCY", settings.api_concurrency, "api_handler",
             api_cfg.reserved_concurrency),
            ("WORKER_CONCURRENCY", settings.worker_concurrency, "work",
             work_cfg.reserved_concurrency)):
        if reserved is None:
            problems.append(f"{function}: no reserved_concurrency, so {setting}={value} "
                            "bounds nothing")
        elif int(reserved) != value:
            problems.append(f"{setting}={value} but {function}'s reserved_concurrency is "
                            f"{reserved}")
    try:
        demand = check(settings.api_concurrency, settings.worker_concurrency,
                       settings.db_connection_budget)
    except ConnectionBudgetExceeded as exc:
        demand = Demand(settings.api_concurrency, settings.worker_concurrency)
        problems.append(str(exc))
    if not settings.db_connection_budget:
        problems.append("DB_CONNECTION_BUDGET is not set")
    return demand, settings.db_connection_budget, problems


def main(argv: list[str] | None = None) -> int:
    failed = False
    for stage in argv or STAGES:
        demand, budget, problems = stage_budget(stage)
        print(f"{stage}: API {demand.api} + workers {demand.workers} + sweeper "
              f"{demand.total - demand.api - demand.workers} = {demand.total} connections;"
              f" budget {budget}{'' if not problems else ' — ' + '; '.join(problems)}")
        failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
