"""What the OpenTelemetry instrumentation costs: the same store with ``telemetry=False``,
with the default instrumentation while no SDK is installed (present but idle: one
check per call), and with an SDK tracer and meter provider of its own, on the
memory and the local backend, awaited and through the sync facade.

Small artifacts (4 KiB) show the instrumentation's own cost best. The targets
(issue 20): with ``opentelemetry-api`` and no SDK, >= 98% of the uninstrumented
store's puts and gets per second; with the SDK and a batch exporter, >= 90%. The
three configurations alternate within each repetition (the order rotates), on
tmpfs, and each figure is the median of the repetitions.

The idle case needs a process where no global provider was ever set (they can be
set once per process and never unset): this section never sets one, and checks
before and after measuring that none is set. The SDK case gives the store an
``OpenTelemetryLayer`` with providers of its own instead, made and shut down
around each run.
"""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from . import _harness
from ._harness import Samples, rotated, same_rep, shown_rates
from ._util import (
    Check,
    Options,
    Report,
    Table,
    fmt_rate,
    fmt_ratio,
    median,
    run_concurrently,
    run_in_threads,
    version,
)

TITLE = "Telemetry: the OpenTelemetry instrumentation, idle and with an SDK, vs telemetry=False"
TARGET_IDLE = 0.98
TARGET_SDK = 0.90

#: Configuration -> what it is, in the order they are measured in repetition 0.
CONFIGS: dict[str, str] = {
    "off": "telemetry=False: not instrumented",
    "idle": "default (opentelemetry-api, no SDK): instrumented, skipped with one check a call",
    "sdk": "OpenTelemetryLayer(tracer_provider=SDK + BatchSpanProcessor, "
    "meter_provider=SDK + PeriodicExportingMetricReader), both exporters dropping",
}


#: Two more configurations of the per-call figures: the SDK for one signal only.
SDK_TRACES = "sdk, traces only"
SDK_METRICS = "sdk, metrics only"
MICRO_CONFIGS = [*CONFIGS, SDK_TRACES, SDK_METRICS]


@dataclass(frozen=True)
class Sizes(_harness.Sizes):
    """How much work one run does (the full run; ``QUICK``: what --quick changes)."""

    count: int = 5000
    size: int = 4096
    concurrency: int = 64
    threads: int = 8
    reps: int = 7
    micro_count: int = 20_000
    micro_reps: int = 5

    QUICK: ClassVar[dict[str, int]] = {
        "count": 500,
        "reps": 2,
        "micro_count": 2000,
        "micro_reps": 2,
    }


def key_of(i: int) -> str:
    # Spread as a DataRoom spreads them: 50 deals, one folder each.
    return f"DEAL-{i % 50:03d}/documents/cim/f{i}.bin"


# ---------------------------------------------------------------------- the SDK


class Sdk:
    """An SDK tracer and meter provider whose exporters drop what they are given.

    Nothing is set globally. The span exporter counts the spans it receives, so a
    run can say how many the BatchSpanProcessor exported (it drops spans when its
    queue is full) and show the SDK really recorded.
    """

    #: Seconds between two collections of the metric reader.
    METRIC_INTERVAL = 1.0

    def __init__(self) -> None:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import (
            MetricExporter,
            MetricExportResult,
            PeriodicExportingMetricReader,
        )
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )

        counts = self.counts = {"spans": 0, "metric_exports": 0}

        class DropSpans(SpanExporter):
            def export(self, spans: Sequence[Any]) -> SpanExportResult:
                counts["spans"] += len(spans)
                return SpanExportResult.SUCCESS

        class DropMetrics(MetricExporter):
            def export(
                self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any
            ) -> MetricExportResult:
                counts["metric_exports"] += 1
                return MetricExportResult.SUCCESS

            def force_flush(self, timeout_millis: float = 10_000) -> bool:
                return True

            def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
                pass

        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(BatchSpanProcessor(DropSpans()))
        reader = PeriodicExportingMetricReader(
            DropMetrics(), export_interval_millis=self.METRIC_INTERVAL * 1000
        )
        self.meter_provider = MeterProvider(metric_readers=[reader])

    def layer(self, traces: bool = True, metrics: bool = True) -> Any:
        """The store's layer; without ``traces`` (``metrics``) it uses the global
        tracer (meter) provider, a no-op proxy while none is set."""
        from artifactstore.layers import OpenTelemetryLayer

        return OpenTelemetryLayer(
            tracer_provider=self.tracer_provider if traces else None,
            meter_provider=self.meter_provider if metrics else None,
        )

    def shutdown(self) -> dict[str, int]:
        """Flush and stop both providers (untimed); what the exporters received."""
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()
        return dict(self.counts)


def check_no_global_provider() -> None:
    """Raise unless the default store's instrumentation is idle in this process."""
    from artifactstore import _telemetry

    if not _telemetry.AVAILABLE:
        raise RuntimeError("the otel section needs opentelemetry-api (the otel extra)")
    if _telemetry.disabled_by_env():
        raise RuntimeError("ARTIFACT_OTEL or OTEL_PYTHON_DISABLED_INSTRUMENTATIONS is set")
    if _telemetry.listening():
        raise RuntimeError(
            "a global tracer or meter provider is set (or artifactstore.telemetry logs "
            "at DEBUG): the idle case cannot be measured in this process"
        )


# ------------------------------------------------------------------- the store


def make_store(backend: str, root: str, config: str, sdk: Sdk | None) -> Any:
    from artifactstore import LocalFilesystemArtifactStore, MemoryArtifactStore

    telemetry: Any = {"off": False, "idle": None}.get(config)
    if config.startswith("sdk"):
        assert sdk is not None
        telemetry = sdk.layer(traces=config != SDK_METRICS, metrics=config != SDK_TRACES)
    store: Any
    if backend == "memory":
        store = MemoryArtifactStore(telemetry=telemetry)
    else:
        store = LocalFilesystemArtifactStore(root, telemetry=telemetry)
    # What each configuration is meant to be (private attributes, read once).
    instrumented = store._backend is not store._inner
    idle = store._traced is not None
    if (instrumented, idle) != {"off": (False, False), "idle": (False, True)}.get(
        config, (True, False)
    ):
        raise AssertionError(f"{config}: the store is not configured as intended")
    return store


def awaited(backend: str, root: str, config: str, sizes: Sizes, data: bytes) -> dict[str, float]:
    """``concurrency`` coroutines putting (then getting) from one shared iterator."""
    keys = [key_of(i) for i in range(sizes.count)]
    sdk = Sdk() if config == "sdk" else None

    async def main() -> dict[str, float]:
        store = make_store(backend, root, config, sdk)
        try:
            await store.put("warm/up.bin", data)
            put_s = await run_concurrently(
                sizes.count, lambda i: store.put(keys[i], data), sizes.concurrency
            )
            got: list[bytes] = [b""] * sizes.count

            async def get(i: int) -> None:
                got[i] = await store.get(keys[i])

            get_s = await run_concurrently(sizes.count, get, sizes.concurrency)
        finally:
            await store.aclose()
        if any(g != data for g in got):
            raise AssertionError("wrong bytes read back")
        return {"puts_per_s": sizes.count / put_s, "gets_per_s": sizes.count / get_s}

    result = asyncio.run(main())
    return _with_exported(result, sdk, sizes)


def facade(backend: str, root: str, config: str, sizes: Sizes, data: bytes) -> dict[str, float]:
    """``threads`` threads calling one ``SyncArtifactStore``, every n-th key each."""
    from artifactstore import SyncArtifactStore

    keys = [key_of(i) for i in range(sizes.count)]
    sdk = Sdk() if config == "sdk" else None
    sync = SyncArtifactStore(make_store(backend, root, config, sdk))

    try:
        sync.put("warm/up.bin", data)
        put_s = run_in_threads(keys, lambda key: sync.put(key, data), sizes.threads)

        def get(key: str) -> None:
            if sync.get(key) != data:
                raise AssertionError(f"wrong bytes read back for {key}")

        get_s = run_in_threads(keys, get, sizes.threads)
    finally:
        sync.close()
    result = {"puts_per_s": sizes.count / put_s, "gets_per_s": sizes.count / get_s}
    return _with_exported(result, sdk, sizes)


def _with_exported(result: dict[str, float], sdk: Sdk | None, sizes: Sizes) -> dict[str, float]:
    if sdk is None:
        return result
    counts = sdk.shutdown()
    calls = 2 * sizes.count + 1  # puts, gets and the warm-up put
    if counts["spans"] == 0:
        raise AssertionError("the SDK exported no span: the store was not traced")
    return {**result, "spans_exported": counts["spans"] / calls}


MODES: dict[str, Callable[..., dict[str, float]]] = {"awaited": awaited, "sync facade": facade}
BACKENDS = ("memory", "local")


def measure(sizes: Sizes, workdir: str) -> dict[str, dict[str, list[float]]]:
    """Every (backend, mode, config) case ``reps`` times, the configurations alternating."""
    data = os.urandom(sizes.size)
    samples = Samples()
    for rep in range(sizes.reps):
        for backend in BACKENDS:
            for mode, run in MODES.items():
                for config in rotated(list(CONFIGS), rep):
                    root = tempfile.mkdtemp(dir=workdir)
                    result = run(backend, root, config, sizes, data)
                    shutil.rmtree(root)
                    name = f"{backend}|{mode}|{config}"
                    samples.add(name, result)
                    rates = {k: v for k, v in result.items() if k.endswith("_per_s")}
                    print(f"  #{rep + 1} {name:30} {shown_rates(rates)}", flush=True)
    return samples.runs


# ------------------------------------------------------------- per-call figures


def micro(sizes: Sizes, data: bytes) -> dict[str, dict[str, list[float]]]:
    """µs per ``get`` of 4 KiB from the memory backend, one call at a time.

    ``micro_count`` gets of one key per run, awaited in a plain loop and through
    the facade from one thread; the configurations alternate; every run's figure
    is kept (the report shows the minimum).
    """
    from artifactstore import SyncArtifactStore

    count = sizes.micro_count
    runs: dict[str, dict[str, list[float]]] = {
        c: {"awaited": [], "facade": []} for c in MICRO_CONFIGS
    }
    for rep in range(sizes.micro_reps):
        for config in rotated(MICRO_CONFIGS, rep):
            sdk = Sdk() if config.startswith("sdk") else None

            async def loop(store: Any) -> float:
                await store.put("warm/up.bin", data)
                get = store.get
                gc.collect()
                start = time.perf_counter()
                for _ in range(count):
                    await get("warm/up.bin")
                return time.perf_counter() - start

            store = make_store("memory", "", config, sdk)
            seconds = asyncio.run(loop(store))
            runs[config]["awaited"].append(seconds / count * 1e6)

            sync = SyncArtifactStore(make_store("memory", "", config, sdk))
            try:
                sync.put("warm/up.bin", data)
                get_sync = sync.get
                gc.collect()
                start = time.perf_counter()
                for _ in range(count):
                    get_sync("warm/up.bin")
                seconds = time.perf_counter() - start
            finally:
                sync.close()
            runs[config]["facade"].append(seconds / count * 1e6)
            if sdk is not None:
                sdk.shutdown()
            shown = "  ".join(f"{m} {v[-1]:.2f} µs" for m, v in runs[config].items())
            print(f"  micro #{rep + 1} {config:17} {shown}", flush=True)
    return runs


def _best_us(call: Callable[[], object], count: int, reps: int) -> float:
    """µs per ``call()``: the fastest of ``reps`` loops of ``count`` calls."""
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(count):
            call()
        best = min(best, time.perf_counter() - start)
    return best / count * 1e6


#: The pieces of one call: ``(label, times per put or get, traced)``, in ``pieces``' order.
#: ``traced``: a piece of a traced call (the others are the idle store's check).
PIECES: list[tuple[str, int, bool]] = [
    ("idle: `_telemetry.listening()`, the one check", 1, False),
    ("of which `artifactstore.telemetry` logger `isEnabledFor(DEBUG)`", 1, False),
    ("SDK: `start_span` (CLIENT, 2 attributes), `set_attribute`, `end`; batch processor", 1, True),
    ("SDK: `context.attach(set_span_in_context(span))` + `detach`", 1, True),
    ("SDK: `operation.duration.record` (histogram)", 1, True),
    ("in process: `operations.active` tally add (observable up-down counter)", 2, True),
    ("in process: `io` tally add (observable counter)", 1, True),
]


def pieces(sizes: Sizes) -> list[float]:
    """µs of each of ``PIECES``, alone, through the library's own tracer and instruments."""
    import functools
    import logging

    from opentelemetry import context, trace

    from artifactstore import _telemetry

    count, reps = sizes.micro_count, sizes.micro_reps
    sdk = Sdk()
    tracer = _telemetry.tracer(sdk.tracer_provider)
    meters = _telemetry.instruments(sdk.meter_provider)
    tally = (("artifactstore.operation", "get"), ("artifactstore.backend", "memory"))
    io_tally = (*tally, ("artifactstore.io.direction", "read"))
    attributes = dict(tally)
    span = tracer.start_span("artifactstore.get")

    def span_once() -> None:
        one = tracer.start_span(
            "artifactstore.get", kind=trace.SpanKind.CLIENT, attributes=dict(attributes)
        )
        one.set_attribute("artifactstore.bytes", 4096)
        one.end()

    def attach_once() -> None:
        context.detach(context.attach(trace.set_span_in_context(span)))

    try:
        return [
            _best_us(_telemetry.listening, count * 10, reps),
            _best_us(
                functools.partial(_telemetry.OPERATIONS_LOG.isEnabledFor, logging.DEBUG),
                count * 10,
                reps,
            ),
            _best_us(span_once, count, reps),
            _best_us(attach_once, count, reps),
            _best_us(lambda: meters.duration.record(0.001, attributes), count, reps),
            _best_us(lambda: meters.active.add(1, tally), count, reps),
            _best_us(lambda: meters.io.add(4096, io_tally), count, reps),
        ]
    finally:
        span.end()
        sdk.shutdown()


# -------------------------------------------------------------------- report


def _report(
    sizes: Sizes,
    samples: dict[str, dict[str, list[float]]],
    per_call: dict[str, dict[str, list[float]]],
    piece_us: list[float],
) -> Report:
    report = Report(section="otel", title=TITLE)
    report.config = {
        "artifacts": sizes.count,
        "size": sizes.size,
        "in flight (awaited)": sizes.concurrency,
        "threads (sync facade)": sizes.threads,
        "repetitions": sizes.reps,
        "local": "durable, on tmpfs; keys over 50 deals",
        "opentelemetry": f"api {version('opentelemetry-api')}, sdk {version('opentelemetry-sdk')}",
    }
    rows = []
    noise = []
    for backend in BACKENDS:
        for mode in MODES:
            names = {config: f"{backend}|{mode}|{config}" for config in CONFIGS}
            for op in ("puts", "gets"):
                metric = f"{op}_per_s"
                rate = {config: median(samples[name][metric]) for config, name in names.items()}
                idle = rate["idle"] / rate["off"]
                sdk = rate["sdk"] / rate["off"]
                rows.append(
                    [
                        backend,
                        mode,
                        op,
                        fmt_rate(rate["off"]),
                        fmt_rate(rate["idle"]),
                        fmt_rate(rate["sdk"]),
                        fmt_ratio(idle),
                        fmt_ratio(sdk),
                    ]
                )
                noise.append(
                    [
                        backend,
                        mode,
                        op,
                        same_rep(samples, names["idle"], names["off"], metric),
                        same_rep(samples, names["sdk"], names["off"], metric),
                    ]
                )
                report.checks.append(
                    Check(f"{backend}, {mode}: {op} idle / off", idle, TARGET_IDLE)
                )
                report.checks.append(Check(f"{backend}, {mode}: {op} SDK / off", sdk, TARGET_SDK))
    report.tables.append(
        Table(
            "Operations per second: telemetry=False (off), default with no SDK (idle), "
            "SDK providers given to the store (SDK); medians",
            ["backend", "mode", "op", "off /s", "idle /s", "SDK /s", "idle / off", "SDK / off"],
            rows,
            note="off: `telemetry=False`. idle: the default store (`telemetry=None`) in a "
            "process where no global provider is set, so every call pays "
            "`_telemetry.listening()` and goes to the uninstrumented backend. SDK: "
            "`telemetry=OpenTelemetryLayer(tracer_provider=tp, meter_provider=mp)`, tp an SDK "
            "`TracerProvider` with a `BatchSpanProcessor` (default queue 2048, batch 512, "
            "delay 5 s) over a `SpanExporter` subclass whose `export` returns SUCCESS and "
            "drops the spans; mp an SDK `MeterProvider` with a "
            f"`PeriodicExportingMetricReader` (every {Sdk.METRIC_INTERVAL:g} s) over a "
            "`MetricExporter` subclass that drops; both made before and shut down after "
            "each run, untimed. No global provider is ever set.",
        )
    )
    report.tables.append(
        Table(
            "Same-repetition ratios (run-to-run noise)",
            ["backend", "mode", "op", "idle / off, each repetition", "SDK / off, each repetition"],
            noise,
        )
    )

    micro_rows = []
    base = {mode: min(per_call["off"][mode]) for mode in ("awaited", "facade")}
    for config in MICRO_CONFIGS:
        cells = [config]
        for mode in ("awaited", "facade"):
            best = min(per_call[config][mode])
            cells += [f"{best:.2f}", f"{best - base[mode]:+.2f}", fmt_ratio(base[mode] / best)]
        micro_rows.append(cells)
    report.tables.append(
        Table(
            f"Per call: µs of one memory get of 4 KiB, one at a time "
            f"(min of {sizes.micro_reps} runs of {sizes.micro_count:,})",
            [
                "config",
                "awaited µs",
                "awaited vs off µs",
                "awaited off / config",
                "facade µs",
                "facade vs off µs",
                "facade off / config",
            ],
            micro_rows,
            note="`off / config` is the throughput ratio that one call at a time would give. "
            "`sdk, traces only` gives the layer the SDK tracer provider only (its metrics "
            "go to the global meter provider, a no-op proxy here), `sdk, metrics only` the "
            "SDK meter provider only: the two signals' shares of the SDK's cost.",
        )
    )
    sdk_sum = sum(
        us * int(times) for (_, times, traced), us in zip(PIECES, piece_us, strict=True) if traced
    )
    sdk_call = min(per_call["sdk"]["awaited"]) - base["awaited"]
    piece_rows = [
        [label, f"{us:.3f}" if us < 1 else f"{us:.2f}", str(times)]
        for (label, times, _), us in zip(PIECES, piece_us, strict=True)
    ]
    report.tables.append(
        Table(
            f"What the instrumentation is made of: µs of each piece alone "
            f"(min of {sizes.micro_reps} runs of {sizes.micro_count:,}; the two idle "
            f"pieces of {sizes.micro_count * 10:,})",
            ["piece", "µs", "times per put or get"],
            piece_rows,
            note="The library's own tracer and instruments, on SDK providers made as for "
            "the SDK runs; each figure includes its loop (about 0.02 µs). The pieces of "
            f"a traced call, times their count, add up to {sdk_sum:.1f} µs of the "
            f"{sdk_call:.1f} µs a traced get adds one at a time (table above): the rest "
            "is the layer's own code around them (attribute dictionaries, imports, timing) "
            "and whatever the pieces cost more in sequence than alone in a loop; it is not "
            "broken down here.",
        )
    )

    exported = [
        v for name, runs in samples.items() if name.endswith("|sdk") for v in runs["spans_exported"]
    ]
    if exported:
        report.notes.append(
            f"Spans the BatchSpanProcessor handed to the exporter, per call made: "
            f"{min(exported):.2f} to {max(exported):.2f} over the SDK runs (below 1.00: its "
            "queue of 2048 was full and it dropped spans, which then cost less than "
            "exported ones)."
        )
    report.data = {
        "samples": samples,
        "per_call_us": per_call,
        "pieces_us": {label: us for (label, _, _), us in zip(PIECES, piece_us, strict=True)},
    }
    return report


def run(options: Options) -> Report:
    """Measure and report."""
    sizes = Sizes.for_options(options)
    check_no_global_provider()
    with tempfile.TemporaryDirectory(prefix="bench-otel-", dir="/dev/shm") as workdir:
        samples = measure(sizes, workdir)
    data = os.urandom(sizes.size)
    per_call = micro(sizes, data)
    piece_us = pieces(sizes)
    check_no_global_provider()  # still idle at the end: nothing set one meanwhile
    return _report(sizes, samples, per_call, piece_us)
