"""Apply the versioned SQL migrations in infra/migrations with yoyo.

    python -m infra.migrate [DATABASE_URL]

The URL defaults to $DATABASE_URL. yoyo records applied versions in its own tables and
takes a lock, so two deploys running at once do not apply a migration twice.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from yoyo import get_backend, read_migrations

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def migrate(database_url: str) -> int:
    """Apply every pending migration; return how many were applied."""
    backend = get_backend(database_url)
    migrations = read_migrations(str(MIGRATIONS_DIR))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    return len(pending)


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ["DATABASE_URL"]
    print(f"applied {migrate(url)} migration(s)")
