"""Shared pieces of the benchmark sections: the concurrency driver, the memory sampler,
machine information and the report format (rendered to markdown and JSON)."""

from __future__ import annotations

import asyncio
import gc
import os
import platform
import re
import statistics
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from typing import Any

MiB = 1024 * 1024
MB = 1_000_000  # throughputs are in MB/s (10^6 bytes)
_NUMBER = re.compile(r"[-+<>= ]*[\d,.]+( ?(x|%|MiB|s))?( / [\d,.]+)*( \(.*\))?|-")

# ------------------------------------------------------------------ measuring


async def run_concurrently(
    count: int, op: Callable[[int], Awaitable[object]], concurrency: int
) -> float:
    """Run ``op(0) .. op(count - 1)`` with ``concurrency`` operations in flight; return seconds.

    ``concurrency`` worker coroutines pull indices from one shared iterator, so every
    async contender is driven the same way.
    """
    indices = iter(range(count))

    async def worker() -> None:
        for i in indices:
            await op(i)

    gc.collect()
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start


def run_sequentially(count: int, op: Callable[[int], object]) -> float:
    """Run ``op(0) .. op(count - 1)`` in a plain loop; return seconds."""
    gc.collect()
    start = time.perf_counter()
    for i in range(count):
        op(i)
    return time.perf_counter() - start


def run_in_threads(items: Sequence[Any], op: Callable[[Any], object], threads: int) -> float:
    """``threads`` threads, thread ``t`` calling ``op`` on ``items[t::threads]``; return seconds.

    The threads are started untimed and released together by a barrier; the first
    error a thread met is raised once all have ended.
    """
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def worker(stripe: int) -> None:
        barrier.wait()
        try:
            for item in items[stripe::threads]:
                op(item)
        except BaseException as exc:  # raised by the calling thread
            errors.append(exc)

    workers = [
        threading.Thread(target=worker, args=(t,), name=f"bench-{t}") for t in range(threads)
    ]
    for thread in workers:
        thread.start()
    gc.collect()
    barrier.wait()
    start = time.perf_counter()
    for thread in workers:
        thread.join()
    seconds = time.perf_counter() - start
    if errors:
        raise errors[0]
    return seconds


def median(values: list[float]) -> float:
    """The median of ``values``."""
    return statistics.median(values)


class RSSSampler:
    """Sample this process's resident set size on a background thread.

    ``peak_increase`` is the highest sample minus the sample taken at ``start``.
    """

    def __init__(self, interval: float = 0.005) -> None:
        import psutil

        self._process = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.baseline = 0
        self.peak = 0
        self.samples = 0

    def _rss(self) -> int:
        return int(self._process.memory_info().rss)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, self._rss())
            self.samples += 1

    def __enter__(self) -> RSSSampler:
        gc.collect()
        self.baseline = self.peak = self._rss()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def peak_increase(self) -> int:
        """Bytes: peak RSS during the block minus RSS when it began."""
        return self.peak - self.baseline


def max_rss_bytes() -> int:
    """Peak RSS of this process so far, in bytes.

    On Linux, ``VmHWM`` of ``/proc/self/status``: ``getrusage``'s ``ru_maxrss`` is
    carried across fork and exec, so a benchmark child would start from its
    parent's peak and understate its own growth.
    """
    import resource

    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass

    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib if sys.platform == "darwin" else kib * 1024


def reset_max_rss() -> bool:
    """Lower this process's ``VmHWM`` to its current RSS; return whether that worked.

    Linux only (``5`` written to ``/proc/self/clear_refs``): afterwards
    ``max_rss_bytes()`` minus its value right after the reset is the growth of the
    block in between, not hidden by an earlier peak (imports, setup).
    """
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


@contextmanager
def scratch_dir(prefix: str, parent: str = "/dev/shm") -> Iterator[str]:
    """A fresh temporary folder (on tmpfs by default), removed afterwards."""
    import shutil
    import tempfile

    path = tempfile.mkdtemp(prefix=prefix, dir=parent if os.path.isdir(parent) else None)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def process_rss_mib(pid: int) -> float | None:
    """Another process's RSS in MiB, for information (``None`` if it cannot be read)."""
    try:
        import psutil

        rss: int = psutil.Process(pid).memory_info().rss
        return round(rss / MiB, 1)
    except Exception:  # informational only
        return None


# -------------------------------------------------------------- machine facts


def version(dist: str) -> str:
    """The installed version of distribution ``dist``, or ``not installed``."""
    try:
        return importlib_metadata.version(dist)
    except importlib_metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mount_of(path: str) -> dict[str, Any]:
    """Filesystem type and size of the mount holding ``path``."""
    info: dict[str, Any] = {"path": path}
    best = ""
    try:
        with open("/proc/mounts", encoding="utf-8") as f:
            for line in f:
                _, mountpoint, fstype, *_ = line.split()
                inside = path == mountpoint or path.startswith(mountpoint.rstrip("/") + "/")
                if inside and len(mountpoint) >= len(best):
                    best, info["fstype"] = mountpoint, fstype
    except OSError:
        pass
    try:
        st = os.statvfs(path)
        info["size_gib"] = round(st.f_blocks * st.f_frsize / 1024**3, 1)
        info["free_gib"] = round(st.f_bavail * st.f_frsize / 1024**3, 1)
    except OSError:
        pass
    return info


def machine_info(scratch: str = "/dev/shm") -> dict[str, Any]:
    """Facts about this run that a reader needs to judge its figures."""
    try:
        usable_cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        usable_cpus = os.cpu_count() or 0
    try:
        import psutil

        memory_gib: float | None = round(psutil.virtual_memory().total / 1024**3, 1)
    except ImportError:
        memory_gib = None
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "nproc": usable_cpus,
        "cpu_count": os.cpu_count(),
        "memory_gib": memory_gib,
        "scratch": _mount_of(scratch),
        "versions": {
            name: version(name) for name in ("artifactstore", "obstore", "aiofiles", "psutil")
        },
    }


# --------------------------------------------------------------------- report


@dataclass
class Table:
    """A titled table; cells are already formatted strings."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    note: str = ""


@dataclass
class Check:
    """A target: ``value`` must be at least ``target`` (at most, if ``at_most``)."""

    name: str
    value: float
    target: float
    unit: str = "x"
    at_most: bool = False

    @property
    def passed(self) -> bool:
        """Whether the target is met."""
        return self.value <= self.target if self.at_most else self.value >= self.target

    @property
    def margin(self) -> float:
        """How far from failing: above 1 passes with room, below 1 fails by ``1 - margin``."""
        if self.at_most:
            return self.target / self.value if self.value > 0 else float("inf")
        return self.value / self.target if self.target else float("inf")

    @property
    def required(self) -> str:
        """The target as text, e.g. ``>= 2.00x``."""
        return f"{'<=' if self.at_most else '>='} {self.target:g}{self.unit}"


@dataclass(frozen=True)
class Options:
    """Command-line choices every section receives."""

    quick: bool = False


@dataclass
class Report:
    """What a section returns: tables for people, ``data`` for machines."""

    section: str
    title: str
    tables: list[Table] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Whether every check passed."""
        return all(check.passed for check in self.checks)


def fmt_rate(value: float) -> str:
    """An operations or MB/s figure, with thousands separators."""
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def fmt_ratio(value: float) -> str:
    """A ratio such as ``2.35x``."""
    return f"{value:.2f}x"


def _markdown_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    def numeric(column: int) -> bool:
        return all(_NUMBER.fullmatch(row[column]) for row in rows)

    align = ["---"] + ["---:" if numeric(c) else "---" for c in range(1, len(headers))]
    return [line(headers), line(align), *(line(row) for row in rows)]


def render_markdown(report: Report, machine: dict[str, Any]) -> str:
    """The report as a markdown document (also what is printed)."""
    scratch = machine["scratch"]
    out = [
        f"# {report.title}",
        "",
        f"- date: {machine['date']}",
        f"- python: {machine['python']} ({machine['platform']})",
        f"- machine: {machine['cpu']}, nproc={machine['nproc']}, "
        f"memory={machine['memory_gib']} GiB",
        f"- scratch: {scratch['path']} ({scratch.get('fstype', '?')}, "
        f"{scratch.get('size_gib', '?')} GiB)",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in machine["versions"].items()),
    ]
    if report.config:
        out.append("- config: " + ", ".join(f"{k}={v}" for k, v in report.config.items()))
    if report.checks:
        verdict = "PASS" if report.passed else "FAIL"
        out += ["", f"## Targets: {verdict}", ""]
        rows = [
            [
                check.name,
                f"{check.value:.2f}{check.unit}",
                check.required,
                "PASS" if check.passed else f"FAIL ({(1 - check.margin) * 100:.0f}% short)",
            ]
            for check in report.checks
        ]
        out += _markdown_table(["target", "measured", "required", "result"], rows)
    for table in report.tables:
        out += ["", f"## {table.title}", ""]
        out += _markdown_table(table.headers, table.rows)
        if table.note:
            out += ["", table.note]
    if report.notes:
        out += ["", "## Notes", ""]
        out += [f"- {note}" for note in report.notes]
    return "\n".join(out) + "\n"


def report_json(report: Report, machine: dict[str, Any]) -> dict[str, Any]:
    """The report as JSON-able data."""
    return {
        "section": report.section,
        "title": report.title,
        "machine": machine,
        "config": report.config,
        "passed": report.passed,
        "checks": [
            {
                **asdict(check),
                "required": check.required,
                "passed": check.passed,
                "margin": round(check.margin, 4),
            }
            for check in report.checks
        ],
        "tables": [asdict(table) for table in report.tables],
        "notes": report.notes,
        "data": report.data,
    }
