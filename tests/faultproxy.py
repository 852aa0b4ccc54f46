"""A loopback TCP proxy that breaks connections on purpose, for the S3 fault tests.

Each accepted connection (moto answers one request per connection) is, at
random with the given weights: passed through, dropped (closed at once), stalled
(held open, never answered), or answered with an HTTP 500 or 503 error itself.
It runs its own event loop in a daemon thread; counts of each fault are kept.

It also logs every request line it passes through (``requests``: "GET /b/k?x"),
which is how tests count what reached the server, and can answer chosen
requests itself (``refuse``: a request-line predicate and the status and S3
error code to answer with), which is how a test plays a server that lacks a
feature. moto's server speaks HTTP/1.0, closing each connection after one
answer, so the first request line of a connection is its only one.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter
from collections.abc import Callable

from .s3server import free_port

_ERROR = (
    "HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\nContent-Length: {length}\r\n"
    "Connection: close\r\n\r\n{body}"
)


def _error_response(status: int, code: str | None = None) -> bytes:
    default, reason = ("SlowDown", "Slow Down") if status == 503 else ("InternalError", "Error")
    body = f"<Error><Code>{code or default}</Code><Message>injected</Message></Error>"
    return _ERROR.format(status=status, reason=reason, length=len(body), body=body).encode()


def _header(head: bytes, wanted: bytes) -> str:
    for header in head.split(b"\r\n")[1:]:
        name, _, value = header.partition(b":")
        if name.strip().lower() == wanted:
            return value.strip().decode("latin-1")
    return ""


def _content_length(head: bytes) -> int:
    return int(_header(head, b"content-length") or 0)


class FaultProxy:
    """``weights``: relative chances of pass, drop, stall, 500 and 503 per connection."""

    def __init__(self, target_port: int, seed: int = 3) -> None:
        self.port = free_port()
        self.target_port = target_port
        self.weights = {"pass": 1.0}
        self.counts: Counter[str] = Counter()
        #: Request lines passed through ("GET /bucket/key?query"), in arrival order.
        self.requests: list[str] = []
        #: The Range header of each of those requests ("" when it had none).
        self.ranges: list[str] = []
        #: The x-amz-content-sha256 header of each of those requests ("" when none).
        self.payload_hashes: list[str] = []
        #: Requests answered here instead: (predicate on the request line, status, code).
        self.refuse: list[tuple[Callable[[str], bool], int, str]] = []
        self._rng = random.Random(seed)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self.port)
        )
        self._ready.set()
        self._loop.run_forever()

    def _choose(self) -> str:
        kinds = list(self.weights)
        return self._rng.choices(kinds, [self.weights[k] for k in kinds])[0]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        kind = self._choose()
        self.counts[kind] += 1
        try:
            if kind == "drop":
                return
            if kind == "stall":
                await asyncio.sleep(30)
                return
            if kind in ("500", "503"):
                await reader.readuntil(b"\r\n\r\n")
                writer.write(_error_response(int(kind)))
                await writer.drain()
                return
            head = await reader.readuntil(b"\r\n\r\n")
            line = head.split(b"\r\n", 1)[0].decode("latin-1").rsplit(" ", 1)[0]
            for matches, status, code in self.refuse:
                if matches(line):
                    self.counts["refused"] += 1
                    if _header(head, b"expect").lower() != "100-continue":
                        await reader.readexactly(_content_length(head))  # the client sends it all
                    # else: a final answer instead of "100 Continue", as servers do; the
                    # client sends no body
                    writer.write(_error_response(status, code))
                    await writer.drain()
                    return
            self.requests.append(line)
            self.ranges.append(_header(head, b"range"))
            self.payload_hashes.append(_header(head, b"x-amz-content-sha256"))
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            up_writer.write(head)

            async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
                try:
                    while data := await src.read(65536):
                        dst.write(data)
                        await dst.drain()
                finally:
                    dst.close()

            await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    def stop(self) -> None:
        """Close the listener, cancel every connection's task, then stop the loop."""

        async def shutdown() -> None:
            self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
