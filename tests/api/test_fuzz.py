"""Property-based requests against the real API, generated from its own OpenAPI document.

schemathesis builds requests for every operation, ones the schema allows and ones that break
it, and sends them over HTTP to the session's `pitstop serve`; every answer must be below 500
and match what the document declares for it (status, content type, body schema). The number of
examples per operation and mode is bounded (FUZZ_EXAMPLES: about 1,100 requests in all, some
20 s), so `make test` stays short, and at least 1,000 (issue 20's target); the reliability
trial of issue 20 ran 65,166 cases with 0 answers >= 500. (schemathesis' own pytest
plugin does not run on this pytest; its operations are driven through Hypothesis directly.)
"""

from __future__ import annotations

from collections import Counter

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

FUZZ_EXAMPLES = 80


def test_no_request_breaks_the_api(api_url: str) -> None:
    schema = schemathesis.openapi.from_url(f"{api_url}/openapi.json")
    statuses: Counter[int] = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=FUZZ_EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: schemathesis.Case) -> None:
                # Left out: positive_data_acceptance (the schema cannot say "features or
                # feature_service" nor "a known service", so a schema-valid request may rightly
                # be refused) and ignored_auth (this server runs without PITSTOP_API_KEY; the
                # key's routes are tested in test_operations.py)
                response = case.call_and_validate(
                    excluded_checks=[positive_data_acceptance, ignored_auth]
                )
                statuses[response.status_code] += 1

            try:
                run()
            except Unsatisfiable:
                # nothing of it can break its schema (a GET without parameters)
                assert mode is GenerationMode.NEGATIVE, operation.label
    assert sum(statuses.values()) >= 1000, statuses  # issue 20: at least 1,000 requests
    assert not [status for status in statuses if status >= 500]
