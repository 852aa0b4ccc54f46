"""The child process of test_otel_global.py: what needs OpenTelemetry's global providers.

Global providers can be set once per process, so these checks run here, apart
from the test process. Prints one JSON object of findings on stdout.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import artifactstore
from artifactstore import LocalFilesystemArtifactStore, MemoryArtifactStore, compat
from artifactstore.layers import ConcurrencyLimitLayer, RetryLayer
from artifactstore.testing import Fault, FaultLayer, transient

KEY = "DEAL-9/documents/cim/confidential-name.pdf"
found: dict[str, Any] = {}


def points(reader: InMemoryMetricReader, name: str) -> list[dict[str, Any]]:
    data = reader.get_metrics_data()
    out = []
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for m in scope.metrics:
                if m.name == name:
                    for p in m.data.data_points:
                        value = getattr(p, "value", None)
                        out.append({"attributes": dict(p.attributes), "value": value,
                                    "count": getattr(p, "count", None)})  # fmt: skip
    return out


async def before_and_after(spans: InMemorySpanExporter) -> MemoryArtifactStore:
    early = MemoryArtifactStore()  # made before any SDK, as a module-level store is
    await early.put(KEY, b"abc")
    found["spans_before_sdk"] = len(spans.get_finished_spans())
    return early


async def main() -> None:
    spans = InMemorySpanExporter()
    spans_before = InMemorySpanExporter()
    early = await before_and_after(spans_before)
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    tracer = trace.get_tracer("app")

    # A store made before the SDK is instrumented once it is there.
    await early.get(KEY)
    found["early_store_spans"] = [s.name for s in spans.get_finished_spans()]

    # The legacy helpers, inside an application span, on their process-wide store.
    room = tempfile.mkdtemp()
    os.environ["ARTIFACT_STORAGE_PATH"] = room
    artifactstore.reset_artifact_store()
    spans.clear()
    with tracer.start_as_current_span("legacy-job") as job:
        compat.store_deal_artifact("DEAL-9", "documents", "teaser.pdf", b"teaser")
        compat.get_artifact("DEAL-9/documents/teaser.pdf")
    job_id = job.get_span_context().span_id
    found["legacy"] = [
        (s.name, s.parent is not None and s.parent.span_id == job_id)
        for s in spans.get_finished_spans()
        if s.name != "legacy-job"
    ]

    # Retries and limit waits, from the layers, on the global meter.
    faults = FaultLayer(Fault("get", calls={1}, error=transient()))
    retried = MemoryArtifactStore(layers=[faults, RetryLayer(initial_delay=0.001)])
    await retried.put(KEY, b"abc")
    await retried.get(KEY)
    slow = FaultLayer(Fault("get", delay=0.05))
    limited = MemoryArtifactStore(layers=[slow, ConcurrencyLimitLayer(1)])
    await limited.put(KEY, b"abc")
    await asyncio.gather(limited.get(KEY), limited.get(KEY))

    # The local lanes.
    local = LocalFilesystemArtifactStore(Path(room) / "lanes", durable=True)
    await asyncio.gather(*(local.put(f"DEAL-9/f{i}.bin", b"x") for i in range(20)))
    await local.aclose()

    # A second store, and one closed and made again: no duplicate registration.
    for _ in range(2):
        async with MemoryArtifactStore() as again:
            await again.put(KEY, b"abc")

    found["retries"] = points(reader, "artifactstore.retries")
    found["limit_wait"] = points(reader, "artifactstore.limit.wait")
    found["batch_size"] = points(reader, "artifactstore.local.batch.size")
    found["fsync"] = points(reader, "artifactstore.local.fsync.duration")
    found["queue_depth"] = points(reader, "artifactstore.local.queue.depth")

    endpoint = os.environ.get("MOTO_ENDPOINT")
    if endpoint:
        await s3(endpoint, tracer, spans, reader)
    found["all_metrics"] = json.loads(reader.get_metrics_data().to_json())
    # The library's own spans: aiohttp's (children of them) carry the request URL,
    # key included, unless its instrumentor is given a url_filter (docs/observability.md).
    ours = [s for s in spans.get_finished_spans() if s.name.startswith("artifactstore.")]
    found["all_spans"] = [json.loads(s.to_json()) for s in ours]
    found["our_span_count"] = len(ours)


async def s3(endpoint: str, tracer: Any, spans: InMemorySpanExporter, reader: Any) -> None:
    import boto3
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor

    from artifactstore import S3ArtifactStore

    AioHttpClientInstrumentor().instrument()
    from artifactstore.testing.moto_server import CREDENTIALS as credentials

    bucket = os.environ["MOTO_BUCKET"]
    store = S3ArtifactStore(
        bucket, endpoint_url=endpoint, region="us-east-1", part_size=5 * 2**20, **credentials
    )
    spans.clear()
    with tracer.start_as_current_span("request"):
        await store.put(KEY, b"abc")

        async def chunks() -> Any:
            for _ in range(3):
                yield b"z" * (4 * 2**20)

        await store.put("DEAL-9/big.bin", chunks())
    finished = spans.get_finished_spans()
    puts = {s.context.span_id: s for s in finished if s.name == "artifactstore.put"}
    http = [s for s in finished if s.name not in {"request", "artifactstore.put"}]
    found["s3_http_spans"] = len(http)
    found["s3_http_children_of_put"] = sum(
        1 for s in http if s.parent is not None and s.parent.span_id in puts
    )
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **credentials)
    # Marked as the library marks its own (cleanup leaves other tools' uploads alone).
    client.create_multipart_upload(
        Bucket=bucket, Key="DEAL-9/left-behind.bin", ChecksumAlgorithm="SHA256"
    )
    found["s3_cleaned"] = await store.cleanup(older_than=0)
    await store.aclose()
    found["parts"] = points(reader, "artifactstore.s3.multipart.parts")
    found["aborts"] = points(reader, "artifactstore.s3.multipart.aborts")


if __name__ == "__main__":
    asyncio.run(main())
    json.dump(found, sys.stdout)
