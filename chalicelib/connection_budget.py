"""The database connections a stage opens at its configured concurrency, against its budget.

Each process keeps one connection per thread that touches the database (adapters/db.py is
thread-local), and in every function only the invocation's own thread does: an instance
holds one warm connection, plus one more while it streams an order export (a server-side
cursor needs a connection of its own, order_repo.streaming_connection; the API does that for
a synchronous export, a worker for an asynchronous one). Lambda runs at most the reserved
concurrency of a function, so the stage opens at most

    API        API_CONCURRENCY     x 2   (= api_handler's reserved_concurrency)
    worker     WORKER_CONCURRENCY  x 2   (= work's reserved_concurrency)
    sweeper    1                   x 1   (rate(1 minute); a sweep takes seconds)
    authorizer                       0   (verifies a JWT, no database)

DB_CONNECTION_BUDGET is what the stage may use: the server's max_connections (or, behind
RDS Proxy, its MaxConnectionsPercent share of them) less what operators, migrations and
the CLI need. The count assumes no multiplexing (every client connection pinned), the
worst case behind a proxy. A configuration above the budget is refused at start-up: by the
local runtime, by `make package-check`, and by a Lambda's cold start.
"""
from __future__ import annotations

from dataclasses import dataclass

from chalicelib.config import ConfigurationError

PER_API_INSTANCE = 2
PER_WORKER_INSTANCE = 2
SWEEPER = 1


class ConnectionBudgetExceeded(ConfigurationError):
    """The stage's configured concurrency could open more connections than it may."""


@dataclass(frozen=True)
class Demand:
    api_concurrency: int
    worker_concurrency: int

    @property
    def api(self) -> int:
        return self.api_concurrency * PER_API_INSTANCE

    @property
    def workers(self) -> int:
        return self.worker_concurrency * PER_WORKER_INSTANCE

    @property
    def total(self) -> int:
        return self.api + self.workers + SWEEPER

    def describe(self) -> str:
        return (f"API_CONCURRENCY={self.api_concurrency} x {PER_API_INSTANCE} + "
                f"WORKER_CONCURRENCY={self.worker_concurrency} x {PER_WORKER_INSTANCE} + "
                f"sweeper {SWEEPER} = {self.total}")


def check(api_concurrency: int, worker_concurrency: int, budget: int) -> Demand:
    """The demand of that concurrency; raises when it is over `budget` (0: no budget)."""
    demand = Demand(int(api_concurrency), int(worker_concurrency))
    if budget and demand.total > budget:
        raise ConnectionBudgetExceeded(
            f"database connections: {demand.describe()} exceeds DB_CONNECTION_BUDGET="
            f"{budget}. Lower API_CONCURRENCY (with api_handler's reserved_concurrency) or "
            "WORKER_CONCURRENCY (with work's reserved_concurrency), or raise "
            "DB_CONNECTION_BUDGET once the database (or RDS Proxy) allows that many "
            "(docs/deploy.md, Connection budget).")
    return demand


def check_settings(settings: object) -> Demand:
    """check() on a Settings object (api_concurrency, worker_concurrency,
    db_connection_budget)."""
    return check(getattr(settings, "api_concurrency"), getattr(settings, "worker_concurrency"),
                 getattr(settings, "db_connection_budget"))
