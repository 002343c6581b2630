"""Property-based fuzzing of the running HTTP API from its own OpenAPI spec (schemathesis).

The real app is served by LocalRuntime on a free port against the test stack (MariaDB,
moto, fake product center). Every operation gets valid (positive) and invalid (negative)
requests with a valid bearer token and internal key, so the happy paths reach the
database. Whatever is sent, the API must never answer 5xx, and every error must be the
platform's `{code, msg}` body.
"""
from __future__ import annotations

import os
from collections import Counter

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.generation import GenerationMode

from chalicelib.api.openapi import build_spec
from tests.integration.conftest import check_error_body as _check

EXAMPLES_PER_MODE = int(os.environ.get("FUZZ_EXAMPLES", "50"))
MIN_REQUESTS = 1000


def test_fuzz_every_operation(running_api: str, station_token: str, internal_key: str):
    spec = build_spec()
    schema = schemathesis.openapi.from_dict(spec)
    headers = {"Authorization": f"Bearer {station_token}", "X-Auth-Key": internal_key}
    statuses: Counter[int] = Counter()
    session = requests.Session()

    for result in schema.get_all_operations():
        operation = result.ok()
        raw = spec["paths"][operation.path][operation.method.lower()]
        # An operation that takes no input has no invalid form to generate.
        takes_input = "parameters" in raw or "requestBody" in raw
        modes = [GenerationMode.POSITIVE] + [GenerationMode.NEGATIVE] * takes_input
        for mode in modes:
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES_PER_MODE, deadline=None, database=None,
                      phases=[Phase.explicit, Phase.generate],
                      suppress_health_check=list(HealthCheck))
            def fuzz(case):
                response = case.call(base_url=running_api, headers=headers, session=session,
                                     timeout=30)
                statuses[response.status_code] += 1
                _check(response, f"{case.method} {case.formatted_path} ({mode.value}) "
                                 f"query={case.query!r} body={case.body!r}")
            fuzz()

    total = sum(statuses.values())
    print(f"fuzz: {total} requests, by status {dict(sorted(statuses.items()))}")
    assert total >= MIN_REQUESTS, f"only {total} requests were generated"
    # The token and key are valid, so generated requests must also reach the happy paths
    # and the validation errors, not only the authorizer.
    assert statuses[200] > 0 and statuses[400] > 0, statuses
