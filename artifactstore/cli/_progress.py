"""A one-line progress display for the command line, redrawn in place (carriage return).

Written here rather than taken from ``rich`` or ``tqdm`` to keep the package free
of dependencies. It draws only on a terminal: the command line decides whether
to make one (stderr is a TTY and ``--quiet`` was not given) and otherwise passes
``None`` around, so pipes and logs never see a carriage return.
"""

from __future__ import annotations

import time
from typing import TextIO

__all__ = ["Progress", "format_bytes"]

#: Shortest interval between two redraws, so a fast loop does not flood the terminal.
_REDRAW_INTERVAL = 0.1
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def format_bytes(count: float) -> str:
    """``1536`` -> ``'1.5 KiB'``: binary units, one decimal above bytes."""
    value = float(count)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


class Progress:
    """A status line: ``label: done/total artifacts, bytes, rate``, redrawn at most 10x/s.

    ``update`` has the signature of the ``progress`` callbacks of
    :mod:`artifactstore.transfer`: ``(done, total or None, bytes_done)``. With
    ``unit="bytes"`` the line counts bytes only (``get``, ``put``, ``cat``) and
    ``total`` is a byte count.
    """

    def __init__(self, stream: TextIO, label: str, *, unit: str = "artifacts") -> None:
        self._stream = stream
        self._label = label
        self._unit = unit
        self._started = time.monotonic()
        self._last_draw = float("-inf")
        self._done = 0
        self._total: int | None = None
        self._bytes = 0
        self._width = 0
        self._closed = False

    def update(self, done: int, total: int | None, bytes_done: int) -> None:
        """Record the latest counts; redraw if the last redraw is old enough."""
        self._done, self._total, self._bytes = done, total, bytes_done
        now = time.monotonic()
        if now - self._last_draw >= _REDRAW_INTERVAL:
            self._last_draw = now
            self._draw(now)

    def add_bytes(self, count: int, total: int | None = None) -> None:
        """Count ``count`` more bytes (byte-unit displays)."""
        self.update(self._done, total if total is not None else self._total, self._bytes + count)

    def _line(self, now: float) -> str:
        elapsed = max(now - self._started, 1e-6)
        rate = format_bytes(self._bytes / elapsed) + "/s"
        if self._unit == "bytes":
            of = f" of {format_bytes(self._total)}" if self._total is not None else ""
            return f"{self._label}: {format_bytes(self._bytes)}{of}, {rate}"
        of = f"/{self._total}" if self._total is not None else ""
        per_second = self._done / elapsed
        return (
            f"{self._label}: {self._done}{of} {self._unit}, {format_bytes(self._bytes)}, "
            f"{per_second:.0f} {self._unit}/s, {rate}"
        )

    def _draw(self, now: float) -> None:
        line = self._line(now)
        # Pad over the tail of a longer previous line instead of relying on an
        # escape sequence, so that any terminal shows it cleanly.
        padding = " " * max(self._width - len(line), 0)
        self._width = len(line)
        try:
            self._stream.write(f"\r{line}{padding}")
            self._stream.flush()
        except (OSError, ValueError):
            self._closed = True  # the terminal went away: stop drawing, do not fail the command

    def close(self) -> None:
        """Draw the final counts and end the line; idempotent."""
        if self._closed:
            return
        self._draw(time.monotonic())
        self._closed = True
        try:
            self._stream.write("\n")
            self._stream.flush()
        except (OSError, ValueError):
            pass
