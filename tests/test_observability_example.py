"""examples/observability.py runs, and what it exports names the store's spans and metrics."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "observability.py"


def otlp_installed() -> bool:
    try:
        return importlib.util.find_spec("opentelemetry.exporter.otlp.proto.http") is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def run_example(**environ: str) -> subprocess.CompletedProcess[str]:
    # The console exporters unless the test says otherwise, whatever the caller's shell set.
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("OTEL_") and name != "ARTIFACT_OTEL"
    }
    return subprocess.run(
        [sys.executable, str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env={**env, **environ},
    )


def test_the_example_exports_spans_and_metrics_to_the_console() -> None:
    done = run_example()
    assert done.returncode == 0, done.stderr
    assert '"name": "artifactstore.put"' in done.stdout  # spans, one per put
    assert done.stdout.count('"name": "artifactstore.put"') == 3
    assert '"name": "artifactstore.operation.duration"' in done.stdout  # the metric
    assert "stored 3 artifacts" in done.stdout
    # The keys are confidential: no span or metric names them (include_keys is off).
    assert "heron" not in done.stdout
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(
    otlp_installed(),
    reason="the OTLP exporter is installed: the example would send to the endpoint",
)
def test_without_the_otlp_exporter_the_example_says_so_and_uses_the_console() -> None:
    done = run_example(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9")
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith("OTLP exporter not installed"), first
    assert '"name": "artifactstore.put"' in done.stdout
    assert '"name": "artifactstore.operation.duration"' in done.stdout
