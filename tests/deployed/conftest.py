"""The deployed shape on LocalStack: `make test-deployed` (infra/localstack_deployed.py)
starts LocalStack with the `process` Lambda runtime executor and sets LOCALSTACK_ENDPOINT
and DEPLOYED_SUITE=1. Without them nothing here is collected, so `make test` neither runs
nor skips these tests.
"""
from __future__ import annotations

import os
from typing import Any

import pytest

ENDPOINT = os.environ.get("LOCALSTACK_ENDPOINT", "").rstrip("/")

if not (ENDPOINT and os.environ.get("DEPLOYED_SUITE")):
    collect_ignore_glob = ["test_*.py"]


def pytest_collection_modifyitems(items: list[Any]) -> None:
    for item in items:
        if "tests/deployed/" in str(item.fspath):
            item.add_marker(pytest.mark.deployed)


@pytest.fixture(scope="session")
def boto() -> Any:
    """boto3 clients for LocalStack (dummy credentials, us-east-1)."""
    import boto3

    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=ENDPOINT, region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test")
    return client
