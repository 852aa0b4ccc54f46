"""The machinery the sections share: contenders of small puts and gets, repetitions
interleaved in a rotating order, samples and their medians, ratios and the tables
built from them.

A section's results keep one shape throughout: ``{name: {metric: [run, ...],
"median_<metric>": median}}`` (``Samples.summary``), which the ratio helpers and
the tables read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from ._util import Options, fmt_rate, fmt_ratio, median, run_concurrently, run_sequentially

T = TypeVar("T")
S = TypeVar("S", bound="Sizes")


class Sizes:
    """Base of a section's ``Sizes``: a frozen dataclass whose field defaults are the
    full run, and whose ``QUICK`` holds what ``--quick`` changes."""

    QUICK: ClassVar[dict[str, int]] = {}

    @classmethod
    def for_options(cls: type[S], options: Options) -> S:
        """The sizes of a run with these options."""
        return cls(**cls.QUICK) if options.quick else cls()


# ------------------------------------------------------------------ repetitions


def rotated(items: Sequence[T], rep: int) -> list[T]:
    """``items`` in repetition ``rep``'s order: rotated by ``rep`` places."""
    shift = rep % len(items)
    return [*items[shift:], *items[:shift]]


def rounds(items: Sequence[T], reps: int) -> Iterator[tuple[int, T]]:
    """``(rep, item)`` for ``reps`` repetitions of every item, in a rotating order."""
    for rep in range(reps):
        for item in rotated(items, rep):
            yield rep, item


class Samples:
    """Every run's figures, by name then metric, in the order they were measured."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self.runs: dict[str, dict[str, list[float]]] = {name: {} for name in names}

    def add(self, name: str, result: Mapping[str, float]) -> None:
        """Append one run's ``{metric: value}``."""
        for metric, value in result.items():
            self.runs.setdefault(name, {}).setdefault(metric, []).append(value)

    def summary(self) -> dict[str, dict[str, Any]]:
        """``{name: {metric: runs, ..., "median_<metric>": median, ...}}``."""
        return {
            name: {**runs, **{f"median_{metric}": median(runs[metric]) for metric in runs}}
            for name, runs in self.runs.items()
        }


def shown_rates(result: Mapping[str, float]) -> str:
    """A run's ``{"puts_per_s": ..}`` as ``puts/s  12,345`` for the progress lines."""
    return "  ".join(f"{m.split('_')[0]}/s {v:9,.0f}" for m, v in result.items())


# -------------------------------------------------------------------- ratios


def ratio(results: Mapping[str, Any], a: str, b: str, metric: str) -> float:
    """The median of ``a``'s ``metric`` over ``b``'s."""
    value: float = results[a][f"median_{metric}"] / results[b][f"median_{metric}"]
    return value


def same_rep(results: Mapping[str, Any], a: str, b: str, metric: str) -> str:
    """``a``'s run over ``b``'s run of each repetition, as ``1.02x / 0.98x``."""
    pairs = zip(results[a][metric], results[b][metric], strict=True)
    return " / ".join(fmt_ratio(x / y) for x, y in pairs)


def runs_text(values: Iterable[float], digits: int = 0) -> str:
    """Every run's figure, as ``12,345 / 12,001``."""
    return " / ".join(f"{v:,.{digits}f}" for v in values)


def verdict(value: float, target: float) -> str:
    """``PASS`` or ``FAIL`` of a ratio that must be at least ``target``."""
    return "PASS" if value >= target else "FAIL"


#: Columns of a table of small puts and gets, one row per contender.
RATE_HEADERS = ["contender", "puts/s", "gets/s", "puts/s runs", "gets/s runs", "what it does"]


def rate_rows(results: Mapping[str, Any], contenders: Iterable[Any]) -> list[list[str]]:
    """Rows under ``RATE_HEADERS``; each contender has ``name`` and ``description``.

    A contender that measured no gets shows ``-`` there.
    """
    rows = []
    for contender in contenders:
        res = results[contender.name]
        gets = "gets_per_s" in res
        rows.append(
            [
                contender.name,
                fmt_rate(res["median_puts_per_s"]),
                fmt_rate(res["median_gets_per_s"]) if gets else "-",
                runs_text(res["puts_per_s"]),
                runs_text(res["gets_per_s"]) if gets else "-",
                contender.description,
            ]
        )
    return rows


# ---------------------------------------------------------------- contenders


class Contender:
    """One way of putting and getting small payloads ``0 .. n - 1``.

    Async contenders are driven by ``run_concurrently``; one with
    ``asynchronous = False`` by a plain loop over ``put_sync`` and ``get_sync``.
    ``get`` stores what it read in ``got[i]``, checked afterwards by ``verify``.
    """

    name = ""
    description = ""
    asynchronous = True

    def __init__(self, payloads: list[bytes]) -> None:
        self.payloads = payloads
        self.got: list[Any] = [None] * len(payloads)

    async def open(self) -> None:
        """Set up, untimed."""

    async def close(self) -> None:
        """Tear down, untimed."""

    async def put(self, i: int) -> None:
        raise NotImplementedError

    async def get(self, i: int) -> None:
        raise NotImplementedError

    def put_sync(self, i: int) -> None:
        raise NotImplementedError

    def get_sync(self, i: int) -> None:
        raise NotImplementedError

    def verify(self, count: int) -> None:
        """Check, untimed, that every get returned what was put."""
        bad = [i for i in range(count) if bytes(self.got[i]) != self.payloads[i]]
        if bad:
            raise AssertionError(
                f"{self.name}: {len(bad)} gets returned wrong bytes, e.g. #{bad[0]}"
            )


async def put_get_rates(contender: Contender, concurrency: int) -> dict[str, float]:
    """Open, put then get every payload, close, verify; ``{"puts_per_s", "gets_per_s"}``."""
    count = len(contender.payloads)
    await contender.open()
    try:
        if contender.asynchronous:
            put_s = await run_concurrently(count, contender.put, concurrency)
            get_s = await run_concurrently(count, contender.get, concurrency)
        else:
            put_s = run_sequentially(count, contender.put_sync)
            get_s = run_sequentially(count, contender.get_sync)
    finally:
        await contender.close()
    contender.verify(count)
    return {"puts_per_s": count / put_s, "gets_per_s": count / get_s}


async def chunks(block: bytes, count: int) -> AsyncIterator[bytes]:
    """``block``, ``count`` times: a streamed source that costs no I/O."""
    for _ in range(count):
        yield block
