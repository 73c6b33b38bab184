"""schemathesis against the API's own OpenAPI document, in-process over ASGI: every operation,
a bounded number of generated requests each (valid and invalid), 0 server errors and every
response valid for its documented schema, status code and content type."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import positive_data_acceptance

from api.main import create_app
from indexer.store.db import Store

EXAMPLES = int(os.environ.get("MINERFLOW_SCHEMA_EXAMPLES", "60"))  # per operation and mode
# A 422 names the parameter at fault first. Requests the schema calls valid may still be refused
# for what OpenAPI cannot express (derived series with interval=block, a day past 9999), so
# schemathesis's positive_data_acceptance is replaced by this check.
PARAMETERS = {"entity", "level", "interval", "since", "until", "format", "derived", "window",
              "cursor", "limit", "ref", "slug", "pool", "blocks", "max_lag", "shape", "field",
              "unit", "kind"}


@pytest.fixture(scope="module")
def api_schema(story_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    copy = tmp_path_factory.mktemp("schema") / "index"
    shutil.copytree(story_index, copy)
    store = Store(copy)
    yield schemathesis.openapi.from_asgi("/openapi.json", create_app(store))
    store.close()


def operations(api_schema: Any) -> list[Any]:
    return [result.ok() for result in api_schema.get_all_operations()]


def test_every_operation_answers_as_documented(api_schema: Any) -> None:
    ops = operations(api_schema)
    assert len(ops) >= 8
    calls = 0
    for operation in ops:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            def check(case: Any) -> None:
                nonlocal calls
                calls += 1
                response = case.call_and_validate(excluded_checks=[positive_data_acceptance])
                if response.status_code == 422:  # what the schema cannot say: a bad combination
                    detail = response.json()["detail"]
                    assert "\n" not in detail and detail.split(":", 1)[0] in PARAMETERS

            try:
                check()
            except Unsatisfiable:  # no parameter that could be made invalid (a plain string)
                assert mode == schemathesis.GenerationMode.NEGATIVE
    assert calls >= len(ops) * EXAMPLES
    print(f"schemathesis: {len(ops)} operations, {calls} requests, all as documented")
