"""OpenTelemetry: one span per call, the metrics, the context across threads, no keys.

These tests give each store providers of its own (``OpenTelemetryLayer(...)``):
the global providers can be set once per process, and this process's other tests
must keep running uninstrumented. What needs the global providers runs in a
child process (test_otel_global.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from artifactstore import (
    ArtifactExistsError,
    ArtifactNotFoundError,
    ArtifactStore,
    LocalFilesystemArtifactStore,
    MemoryArtifactStore,
    StorageBackendError,
    SyncArtifactStore,
)
from artifactstore.backends.s3 import S3ArtifactStore
from artifactstore.layers import Layer, LayeredBackend, OpenTelemetryLayer, RetryLayer
from artifactstore.testing import Fault, FaultLayer

from .s3server import new_bucket

KEY = "DEAL-7/documents/cim/secret-target-name.pdf"


class Telemetry:
    """An SDK tracer and meter provider whose spans and metrics the test reads."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def layer(self, **options: Any) -> OpenTelemetryLayer:
        return OpenTelemetryLayer(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider, **options
        )

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def names(self) -> list[str]:
        return [span.name for span in self.finished()]

    def points(self, metric: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for m in scope.metrics:
                    if m.name == metric:
                        found.extend(m.data.data_points)
        return found


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    t = Telemetry()
    yield t
    t.meter_provider.shutdown()
    t.tracer_provider.shutdown()


@pytest.fixture(params=["memory", "local", "s3"])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., ArtifactStore]:
    if request.param == "s3":
        server = request.getfixturevalue("moto_server")
        bucket = new_bucket(server)

    def build(**options: Any) -> ArtifactStore:
        if request.param == "memory":
            return MemoryArtifactStore(**options)
        if request.param == "s3":
            return S3ArtifactStore(bucket, **server.store_options(), **options)
        return LocalFilesystemArtifactStore(tmp_path / "DataRoom", **options)

    return build


@pytest.fixture
async def store(
    make: Callable[..., ArtifactStore], telemetry: Telemetry
) -> AsyncIterator[ArtifactStore]:
    s = make(telemetry=telemetry.layer())
    yield s
    await s.aclose()


async def every_operation(store: ArtifactStore) -> list[str]:
    """Call each public operation once; return the span names they should make."""
    await store.put(KEY, b"abc")
    await store.get(KEY)
    async with store.stream(KEY, chunk_size=2) as chunks:
        assert b"".join([c async for c in chunks]) == b"abc"
    await store.get_metadata(KEY)
    assert await store.exists(KEY)
    await store.copy(KEY, "DEAL-7/documents/cim/copy.pdf")
    await store.move("DEAL-7/documents/cim/copy.pdf", "DEAL-7/documents/cim/moved.pdf")
    assert [m.storage_key async for m in store.list("DEAL-7")]
    assert [p async for p in store.list_prefixes("DEAL-7")] == ["DEAL-7/documents"]
    await store.get_url(KEY)
    assert await store.delete("DEAL-7/documents/cim/moved.pdf")
    assert await store.delete_prefix("DEAL-7") == 1
    await store.cleanup()
    return [
        "artifactstore.put",
        "artifactstore.get",
        "artifactstore.stream",
        "artifactstore.get_metadata",
        "artifactstore.exists",
        "artifactstore.copy",
        "artifactstore.move",
        "artifactstore.list",
        "artifactstore.list",
        "artifactstore.get_url",
        "artifactstore.delete",
        "artifactstore.delete_prefix",
        "artifactstore.cleanup",
    ]


async def test_every_operation_makes_exactly_one_client_span(
    store: ArtifactStore, telemetry: Telemetry
) -> None:
    expected = await every_operation(store)
    spans = telemetry.finished()
    assert [s.name for s in spans] == expected
    for span in spans:
        assert span.kind is SpanKind.CLIENT
        assert span.attributes is not None
        assert span.attributes["artifactstore.backend"] == store.backend_name
        assert span.attributes["artifactstore.operation"] == span.name.split(".", 1)[1]
        assert span.status.status_code is StatusCode.UNSET
        assert span.parent is None  # nothing of the library's own nests under another
    by_name = {s.name: s.attributes for s in spans}
    assert by_name["artifactstore.put"]["artifactstore.bytes"] == 3  # type: ignore[index]
    assert by_name["artifactstore.get"]["artifactstore.bytes"] == 3  # type: ignore[index]
    stream = by_name["artifactstore.stream"]
    assert stream["artifactstore.bytes"] == 3  # type: ignore[index]
    assert stream["artifactstore.time_to_first_byte"] > 0  # type: ignore[index,operator]


async def test_a_stream_span_covers_the_whole_read(
    store: ArtifactStore, telemetry: Telemetry
) -> None:
    await store.put(KEY, b"x" * 10)
    telemetry.spans.clear()
    async with store.stream(KEY, chunk_size=4) as chunks:
        await chunks.__anext__()
        assert telemetry.names() == []  # still open: the span is not ended yet
        assert [len(c) async for c in chunks] == [4, 2]
    (span,) = telemetry.finished()
    assert span.attributes is not None
    assert span.attributes["artifactstore.bytes"] == 10
    ttfb = span.attributes["artifactstore.time_to_first_byte"]
    assert isinstance(ttfb, float)
    assert span.end_time is not None
    assert span.start_time is not None
    assert 0 < ttfb * 1e9 <= span.end_time - span.start_time


@pytest.mark.parametrize(
    ("call", "error_type"),
    [
        (lambda s: s.get("DEAL-1/none.pdf"), "artifactstore.ArtifactNotFoundError"),
        (lambda s: s.get_metadata("DEAL-1/none.pdf"), "artifactstore.ArtifactNotFoundError"),
        (lambda s: s.put(KEY, b"again", if_not_exists=True), "artifactstore.ArtifactExistsError"),
    ],
)
async def test_a_failing_call_sets_the_error_status_and_type(
    store: ArtifactStore, telemetry: Telemetry, call: Any, error_type: str
) -> None:
    await store.put(KEY, b"abc")
    telemetry.spans.clear()
    with pytest.raises((ArtifactNotFoundError, ArtifactExistsError)):
        await call(store)
    (span,) = telemetry.finished()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description in error_type  # the class name: no key, no message
    assert span.attributes is not None
    assert span.attributes["error.type"] == error_type
    (point,) = [
        p
        for p in telemetry.points("artifactstore.operation.duration")
        if p.attributes.get("error.type") == error_type
    ]
    assert point.count == 1


async def test_a_backend_fault_is_an_error_of_its_type(
    make: Callable[..., ArtifactStore], telemetry: Telemetry
) -> None:
    faults = FaultLayer(Fault("put", calls={1}, error=StorageBackendError("disk on fire")))
    store = make(layers=[faults], telemetry=telemetry.layer())
    with pytest.raises(StorageBackendError):
        await store.put(KEY, b"abc")
    (span,) = telemetry.finished()
    assert span.attributes is not None
    assert span.attributes["error.type"] == "artifactstore.StorageBackendError"
    assert "disk on fire" not in str(span.status.description)
    await store.aclose()


async def test_retries_are_events_of_the_one_span(
    make: Callable[..., ArtifactStore], telemetry: Telemetry
) -> None:
    from artifactstore.testing import transient

    faults = FaultLayer(Fault("get", calls={1, 2}, error=transient()))
    store = make(layers=[faults, RetryLayer(initial_delay=0.001)], telemetry=telemetry.layer())
    await store.put(KEY, b"abc")
    assert await store.get(KEY) == b"abc"
    get = [s for s in telemetry.finished() if s.name == "artifactstore.get"]
    assert len(get) == 1
    events = [e for e in get[0].events if e.name == "artifactstore.retry"]
    assert [e.attributes["artifactstore.attempt"] for e in events] == [2, 3]  # type: ignore[index]
    assert get[0].status.status_code is StatusCode.UNSET
    await store.aclose()


async def test_the_duration_and_byte_metrics_move_by_the_right_amounts(
    store: ArtifactStore, telemetry: Telemetry
) -> None:
    await store.put(KEY, b"a" * 100)
    await store.put("DEAL-7/b.bin", b"b" * 50)
    await store.get(KEY)
    async with store.stream("DEAL-7/b.bin") as chunks:
        async for _ in chunks:
            pass
    durations = {
        p.attributes["artifactstore.operation"]: p
        for p in telemetry.points("artifactstore.operation.duration")
    }
    assert durations["put"].count == 2
    assert durations["get"].count == 1
    assert durations["stream"].count == 1
    assert durations["put"].sum > 0
    assert durations["put"].attributes["artifactstore.backend"] == store.backend_name
    io = {
        (
            p.attributes["artifactstore.operation"],
            p.attributes["artifactstore.io.direction"],
        ): p.value
        for p in telemetry.points("artifactstore.io")
    }
    assert io == {("put", "write"): 150, ("get", "read"): 100, ("stream", "read"): 50}
    active = telemetry.points("artifactstore.operations.active")
    assert active
    assert all(p.value == 0 for p in active)
    (ttfb,) = telemetry.points("artifactstore.stream.time_to_first_byte")
    assert ttfb.count == 1


async def test_a_listing_is_one_span_with_its_item_count(
    store: ArtifactStore, telemetry: Telemetry
) -> None:
    for i in range(5):
        await store.put(f"DEAL-7/f{i}.bin", b"x")
    telemetry.spans.clear()
    assert len([m async for m in store.list("DEAL-7")]) == 5
    (span,) = telemetry.finished()
    assert span.name == "artifactstore.list"
    assert span.attributes is not None
    assert span.attributes["artifactstore.items"] == 5


async def test_spans_inside_a_call_are_its_children_and_it_is_the_callers_child(
    make: Callable[..., ArtifactStore], telemetry: Telemetry
) -> None:
    tracer = telemetry.tracer_provider.get_tracer("test")

    class Inside(Layer):
        """Stands for HTTP/AWS SDK instrumentation: a span made inside the backend."""

        name = "inside"

        def wrap(self, backend: Any) -> Any:
            class Backend(LayeredBackend):
                async def around(self, operation: Any, key: Any, call: Any) -> Any:
                    with tracer.start_as_current_span("http"):
                        return await call()

            return Backend(backend, self)

    store = make(layers=[Inside()], telemetry=telemetry.layer())
    with tracer.start_as_current_span("request") as request:
        await store.put(KEY, b"abc")
        assert trace.get_current_span() is request  # restored after the call
    spans = {s.name: s for s in telemetry.finished()}
    put, http = spans["artifactstore.put"], spans["http"]
    assert put.parent is not None
    assert put.parent.span_id == request.get_span_context().span_id
    assert http.parent is not None
    assert http.parent.span_id == put.context.span_id
    await store.aclose()


class _NeedsLoop(Layer):
    """A layer that gives up the sync fast path: facade calls go to the loop thread."""

    name = "needs_loop"
    keeps_sync_fast_path = False

    def wrap(self, backend: Any) -> Any:
        return LayeredBackend(backend, self)


@pytest.mark.parametrize("on_loop_thread", [False, True], ids=["driven", "loop-thread"])
def test_a_sync_facade_call_is_a_child_of_the_callers_span(
    telemetry: Telemetry, on_loop_thread: bool
) -> None:
    layers = [_NeedsLoop()] if on_loop_thread else []
    sync = SyncArtifactStore(MemoryArtifactStore(layers=layers, telemetry=telemetry.layer()))
    tracer = telemetry.tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("job") as job:
        sync.put(KEY, b"abc")
        assert sync.get(KEY) == b"abc"
        assert [m.storage_key for m in sync.list("DEAL-7")] == [KEY]
    for span in telemetry.finished():
        if span.name.startswith("artifactstore."):
            assert span.parent is not None, span.name
            assert span.parent.span_id == job.get_span_context().span_id, span.name
    assert telemetry.names().count("artifactstore.put") == 1
    sync.close()


async def test_keys_appear_in_spans_only_when_asked_and_never_in_metrics(
    make: Callable[..., ArtifactStore], telemetry: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="artifactstore")
    hidden = make(telemetry=telemetry.layer())
    await every_operation(hidden)
    with pytest.raises(ArtifactNotFoundError):
        await hidden.get(KEY)  # a failure: its message names the key
    shown = [s for s in telemetry.finished() if "secret-target" in repr(s.to_json())]
    assert shown == []
    records = [r for r in caplog.records if r.name == "artifactstore.telemetry"]
    assert len(records) == len(telemetry.finished())  # one DEBUG record per call
    for record in caplog.records:
        assert "secret-target" not in record.getMessage()
        assert "secret-target" not in repr(vars(record))
    telemetry.spans.clear()
    keyed = make(telemetry=telemetry.layer(include_keys=True))
    await keyed.put(KEY, b"abc")
    (span,) = telemetry.finished()
    assert span.attributes is not None
    assert span.attributes["artifactstore.key"] == KEY
    assert "secret-target" not in repr(telemetry.reader.get_metrics_data().to_json())
    await hidden.aclose()
    await keyed.aclose()


async def test_without_an_sdk_a_store_steps_around_its_instrumentation() -> None:
    # This process installs no global provider (see the module docstring).
    store = MemoryArtifactStore()
    assert store._traced is not None  # instrumented: the API is importable
    assert store._now() is store.backend  # ... and idle, with no SDK listening
    assert "otel" not in store.info.layers
    assert MemoryArtifactStore(telemetry=False)._traced is None
    await store.put(KEY, b"abc")
    assert await store.get(KEY) == b"abc"


def test_the_environment_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARTIFACT_OTEL", "false")
    assert MemoryArtifactStore()._traced is None
    assert MemoryArtifactStore(telemetry=True)._traced is not None  # the store's word wins
    monkeypatch.setenv("ARTIFACT_OTEL", "true")
    monkeypatch.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "redis, artifactstore")
    assert MemoryArtifactStore()._traced is None


def test_telemetry_takes_a_bool_or_a_layer() -> None:
    with pytest.raises(TypeError):
        MemoryArtifactStore(telemetry="yes")  # type: ignore[arg-type]


async def test_stores_made_again_and_again_register_nothing_twice(
    telemetry: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    for _ in range(3):
        async with MemoryArtifactStore(telemetry=telemetry.layer()) as store:
            await store.put(KEY, b"abc")
    telemetry.reader.collect()
    (point,) = [
        p
        for p in telemetry.points("artifactstore.operation.duration")
        if p.attributes["artifactstore.operation"] == "put"
    ]
    assert point.count == 3
    assert [r.getMessage() for r in caplog.records if r.name.startswith("opentelemetry")] == []


async def test_a_cancelled_call_ends_its_span(telemetry: Telemetry) -> None:
    slow = FaultLayer(Fault("get", delay=5.0))
    store = MemoryArtifactStore(layers=[slow], telemetry=telemetry.layer())
    await store.put(KEY, b"abc")
    task = asyncio.ensure_future(store.get(KEY))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    get = [s for s in telemetry.finished() if s.name == "artifactstore.get"]
    assert len(get) == 1
    assert get[0].status.status_code is StatusCode.ERROR
    active = telemetry.points("artifactstore.operations.active")
    assert all(p.value == 0 for p in active)
