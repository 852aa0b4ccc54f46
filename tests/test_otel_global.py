"""OpenTelemetry with the application's global providers, checked in a child process.

tests/otel_global_child.py sets the global tracer and meter providers (once per
process, hence a child), then: a store made before the SDK, the legacy helpers
inside an application span, retries and limit waits, the local lanes, two stores
and a store made again, and S3 over moto with aiohttp's instrumentation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .s3server import MotoServer, new_bucket

CHILD = Path(__file__).with_name("otel_global_child.py")


@pytest.fixture(scope="module")
def found(moto_server: MotoServer) -> dict[str, Any]:
    env = {
        **os.environ,
        "MOTO_ENDPOINT": moto_server.endpoint,
        "MOTO_BUCKET": new_bucket(moto_server),
        "PYTHONPATH": str(CHILD.parent.parent),
    }
    env.pop("ARTIFACT_OTEL", None)
    done = subprocess.run(
        [sys.executable, str(CHILD)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert "already" not in done.stderr.lower(), done.stderr[-3000:]  # registered twice
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_a_store_made_before_the_sdk_is_traced_once_it_is_there(found: dict[str, Any]) -> None:
    assert found["spans_before_sdk"] == 0
    assert found["early_store_spans"] == ["artifactstore.get"]


def test_legacy_helper_calls_are_children_of_the_callers_span(found: dict[str, Any]) -> None:
    assert found["legacy"] == [["artifactstore.put", True], ["artifactstore.get", True]]


def test_retries_and_limit_waits_are_measured(found: dict[str, Any]) -> None:
    (retry,) = found["retries"]
    assert retry["value"] == 1
    assert retry["attributes"] == {
        "artifactstore.operation": "get",
        "artifactstore.backend": "memory",
        "error.type": "artifactstore.StorageBackendError",
    }
    (wait,) = found["limit_wait"]
    assert wait["count"] == 1  # the second get waited; the first took a free permit


def test_the_local_lanes_are_measured(found: dict[str, Any]) -> None:
    lanes = {p["attributes"]["artifactstore.lane"]: p for p in found["batch_size"]}
    assert lanes["small"]["count"] >= 1
    (fsync,) = found["fsync"]
    assert fsync["count"] >= 1
    depths = {p["attributes"]["artifactstore.lane"] for p in found["queue_depth"]}
    assert depths == {"small", "large"}


def test_s3_http_spans_are_children_of_the_put_span(found: dict[str, Any]) -> None:
    assert found["s3_http_spans"] >= 5  # PutObject; Create, 3 x UploadPart, Complete; ...
    assert found["s3_http_children_of_put"] == found["s3_http_spans"]


def test_s3_parts_and_aborts_are_counted(found: dict[str, Any]) -> None:
    assert sum(p["value"] for p in found["parts"]) >= 2
    assert found["s3_cleaned"] == 1
    (aborts,) = found["aborts"]
    assert aborts["value"] == 1
    assert aborts["attributes"]["artifactstore.reason"] == "cleanup"


def test_no_key_and_no_credential_anywhere(found: dict[str, Any]) -> None:
    assert found["our_span_count"] >= 2
    exported = json.dumps([found["all_metrics"], found["all_spans"]])
    assert "confidential-name" not in exported
    assert "teaser.pdf" not in exported
    assert "testing-secret" not in exported
    assert "testing-key-id" not in exported
