"""A small service whose store calls are traced and measured with OpenTelemetry.

Usage: python examples/observability.py

Spans and metrics go to the console (standard output), or to an OTLP collector
when OTEL_EXPORTER_OTLP_ENDPOINT is set (OTEL_EXPORTER_OTLP_PROTOCOL picks grpc
or http/protobuf, the default). The store needs nothing: it instruments itself
once the application has installed the SDK's providers (docs/observability.md).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import tempfile

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricExporter,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

from artifactstore import ArtifactNotFoundError, ArtifactStore, LocalFilesystemArtifactStore

DEAL = "DEAL-2026-007"


def exporters() -> tuple[SpanExporter, MetricExporter]:
    """OTLP exporters when a collector is configured and they are installed; else the console."""
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        # opentelemetry.exporter.otlp.proto.{http,grpc}.{trace,metric}_exporter, imported
        # only now; they read the endpoint (and headers, timeouts) from the environment.
        grpc = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") == "grpc"
        package = f"opentelemetry.exporter.otlp.proto.{'grpc' if grpc else 'http'}"
        try:
            traces = importlib.import_module(f"{package}.trace_exporter")
            measures = importlib.import_module(f"{package}.metric_exporter")
        except ImportError:
            print("OTLP exporter not installed (pip install opentelemetry-exporter-otlp); console")
        else:
            return traces.OTLPSpanExporter(), measures.OTLPMetricExporter()
    return ConsoleSpanExporter(), ConsoleMetricExporter()


def install_sdk() -> tuple[TracerProvider, MeterProvider]:
    """Install the SDK's global providers, once per process, before the first store call."""
    spans, measurements = exporters()
    resource = Resource.create({SERVICE_NAME: "deal-archive"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(spans))
    reader = PeriodicExportingMetricReader(measurements, export_interval_millis=60_000)
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    return tracer_provider, meter_provider


async def archive_deal(store: ArtifactStore) -> None:
    """What the service does: one application span, the store's spans its children."""
    tracer = trace.get_tracer("deal-archive")
    with tracer.start_as_current_span("archive-deal"):
        await store.put(f"{DEAL}/emails/teaser.eml", b"Subject: Project Heron\r\n\r\nTeaser.\r\n")
        await store.put(f"{DEAL}/documents/cim/heron-cim.pdf", b"%PDF-1.4\n" + b"0" * 64_000)
        await store.put(f"{DEAL}/generated/loi/heron-loi.txt", b"LETTER OF INTENT\n")
        assert (await store.get(f"{DEAL}/generated/loi/heron-loi.txt")).startswith(b"LETTER")
        async with store.stream(f"{DEAL}/documents/cim/heron-cim.pdf") as stream:
            read = sum([len(chunk) async for chunk in stream])
        listed = [item.storage_key async for item in store.list(DEAL)]
        try:  # a failed call: its span has status ERROR and error.type
            await store.get(f"{DEAL}/documents/nda.pdf")
        except ArtifactNotFoundError:
            pass
    print(f"stored {len(listed)} artifacts of {DEAL}; streamed {read} bytes of the CIM")


async def main() -> None:
    with tempfile.TemporaryDirectory() as dataroom:
        async with LocalFilesystemArtifactStore(dataroom) as store:
            await archive_deal(store)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)  # retries and aborts are WARNINGs
    tracer_provider, meter_provider = install_sdk()
    try:
        asyncio.run(main())
    finally:
        # Flush what is still batched: the spans, then one last collection of the metrics.
        tracer_provider.shutdown()
        meter_provider.shutdown()
