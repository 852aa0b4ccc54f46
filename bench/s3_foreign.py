"""S3 section, scenario 3: an object written by another tool, read through artifactstore.

A ``foreign_size`` object is written with plain boto3 (no artifactstore metadata,
so no recorded SHA-256). A fresh ``S3ArtifactStore`` then reaches moto through two
loopback proxies in a row: :class:`ByteCounter` (bytes each way) and
``tests.faultproxy.FaultProxy`` (the request line of everything that reached
moto). Its client also carries a botocore hook (``RequestLog``) that sees each
operation's headers, so a GetObject without ``Range`` is counted as a full
download. The store does ``get_metadata(key)`` three times, then reads
``stream(key, start=0, end=10)`` to the end; afterwards a second fresh store does
one more ``get_metadata`` (for information: whether what was learnt was kept on
the server's side).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
from collections import Counter
from typing import Any

from .s3_common import Buckets, RequestLog, Sizes, store_options

KEY = "foreign/blob.bin"


class ByteCounter:
    """A loopback TCP proxy that passes everything through and counts the bytes each way."""

    def __init__(self, target_port: int) -> None:
        from tests.s3server import free_port

        self.port = free_port()
        self.target_port = target_port
        self.down = 0  # server -> client, headers included
        self.up = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="byte-counter", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the byte-counting proxy did not start")

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

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return

        async def pump(
            src: asyncio.StreamReader, dst: asyncio.StreamWriter, downstream: bool
        ) -> None:
            try:
                while data := await src.read(65536):
                    if downstream:
                        self.down += len(data)
                    else:
                        self.up += len(data)
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(reader, up_writer, False), pump(up_reader, writer, True))

    def stop(self) -> None:
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


def _method_counts(lines: list[str]) -> dict[str, int]:
    """Request lines ("GET /b/k?tagging") by method and sub-resource: "GET ?tagging"."""
    counts: Counter[str] = Counter()
    for line in lines:
        method, _, target = line.partition(" ")
        query = target.partition("?")[2]
        names = sorted(part.partition("=")[0] for part in query.split("&") if part)
        counts[f"{method} ?{'&'.join(names)}" if names else method] += 1
    return dict(counts)


class _Meter:
    """What one step cost: requests seen by the proxy and the hook, bytes, seconds."""

    def __init__(self, proxy: Any, counter: ByteCounter) -> None:
        self.proxy = proxy
        self.counter = counter

    async def step(self, name: str, log: RequestLog, action: Any) -> dict[str, Any]:
        lines_before = len(self.proxy.requests)
        down_before = self.counter.down
        calls, full, ranged = log.snapshot()
        start = time.perf_counter()
        await action()
        seconds = time.perf_counter() - start
        await asyncio.sleep(0.05)  # let the proxies finish relaying a closed body
        calls_after, full_after, ranged_after = log.snapshot()
        return {
            "step": name,
            "seconds": seconds,
            "requests": list(self.proxy.requests[lines_before:]),
            "by_method": _method_counts(self.proxy.requests[lines_before:]),
            "operations": dict(calls_after - calls),
            "full_downloads": full_after - full,
            "ranged_gets": ranged_after - ranged,
            "bytes_down": self.counter.down - down_before,
        }


async def _steps(
    endpoint: str, bucket: str, data: bytes, sizes: Sizes, meter: _Meter
) -> list[dict[str, Any]]:
    from artifactstore import S3ArtifactStore

    expected = hashlib.sha256(data).hexdigest()
    steps = []
    store = S3ArtifactStore(bucket, **store_options(endpoint, sizes))
    try:
        log = await RequestLog().attach(store)  # creates the client (HeadBucket) first

        async def head() -> None:
            meta = await store.get_metadata(KEY)
            assert meta.sha256 == expected, f"get_metadata().sha256 is {meta.sha256}"
            assert meta.size_bytes == len(data), f"get_metadata() size {meta.size_bytes}"

        for n in (1, 2, 3):
            steps.append(await meter.step(f"get_metadata #{n}", log, head))

        async def ranged() -> None:
            got = b""
            async for chunk in store.stream(KEY, start=0, end=10):
                got += chunk
            assert got == data[:10], f"stream(0, 10) read {len(got)} wrong bytes"

        steps.append(await meter.step("stream(start=0, end=10), read fully", log, ranged))
    finally:
        await store.aclose()

    fresh = S3ArtifactStore(bucket, **store_options(endpoint, sizes))
    try:
        fresh_log = await RequestLog().attach(fresh)

        async def fresh_head() -> None:
            meta = await fresh.get_metadata(KEY)
            assert meta.sha256 == expected, f"get_metadata().sha256 is {meta.sha256}"

        steps.append(
            await meter.step("afterwards, a fresh store: get_metadata", fresh_log, fresh_head)
        )
    finally:
        await fresh.aclose()
    return steps


def foreign_objects(moto_endpoint: str, moto_port: int, sizes: Sizes) -> dict[str, Any]:
    """Scenario 3; returns each step's requests, downloads and bytes."""
    from tests.faultproxy import FaultProxy

    buckets = Buckets(moto_endpoint)
    bucket = buckets.create("foreign")
    data = os.urandom(sizes.foreign_size)
    buckets.client.put_object(Bucket=bucket, Key=KEY, Body=data)  # plain boto3: no metadata
    proxy = FaultProxy(moto_port)
    counter = ByteCounter(proxy.port)
    try:
        steps = asyncio.run(_steps(counter.endpoint, bucket, data, sizes, _Meter(proxy, counter)))
    finally:
        counter.stop()
        proxy.stop()
        buckets.remove(bucket)
    goal = steps[:4]  # three get_metadata and the ranged stream, by the first store
    totals = {
        "requests": sum(len(step["requests"]) for step in goal),
        "operations_seen_by_hook": sum(sum(step["operations"].values()) for step in goal),
        "full_downloads": sum(step["full_downloads"] for step in goal),
        "bytes_down": sum(step["bytes_down"] for step in goal),
        "by_method": dict(sum((Counter(step["by_method"]) for step in goal), Counter())),
    }
    for step in steps:
        print(
            f"  foreign {step['step']:40} {len(step['requests'])} requests, "
            f"{step['full_downloads']} full downloads, {step['bytes_down']:,} bytes down",
            flush=True,
        )
    return {"size": sizes.foreign_size, "key": KEY, "steps": steps, "totals": totals}
