"""Upload bodies (``backends/s3/_body.Body``): sent from the caller's bytes, resent on a retry."""

from __future__ import annotations

import hashlib
import io
import os
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from artifactstore.backends.s3._body import SLICE, Body

from .faultproxy import FaultProxy
from .s3server import MotoServer, new_bucket
from .test_s3_sha import through

MiB = 1024 * 1024
SMALL_PARTS = {"part_size": 5 * MiB, "multipart_threshold": 5 * MiB, "parts_in_flight": 2}


class Writer:
    """What aiohttp's stream writer is to a payload: it keeps what it is given."""

    def __init__(self) -> None:
        self.chunks: list[Any] = []

    async def write(self, chunk: Any) -> None:
        self.chunks.append(chunk)


async def test_a_body_is_written_as_views_of_the_callers_bytes() -> None:
    data = os.urandom(3 * SLICE + 17)
    writer = Writer()
    await Body(data).write(writer)  # type: ignore[arg-type]
    assert b"".join(writer.chunks) == data
    assert all(isinstance(c, memoryview) and c.obj is data for c in writer.chunks)
    assert max(len(c) for c in writer.chunks) == SLICE
    limited = Writer()
    await Body(data).write_with_length(limited, SLICE + 5)  # type: ignore[arg-type]
    assert b"".join(limited.chunks) == data[: SLICE + 5]


def test_a_body_reads_like_a_file() -> None:
    """read/seek/tell/len against io.BytesIO, over random sequences of calls."""
    rng = random.Random(5)
    data = os.urandom(1000)
    for _ in range(200):
        body, reference = Body(data), io.BytesIO(data)
        assert len(body) == len(data)
        assert body.size == len(data)
        for _step in range(10):
            action = rng.choice(["read", "seek", "seek_cur", "seek_end"])
            if action == "read":
                n = rng.choice([-1, None, 0, 1, 10, 999, 5000])
                assert body.read(n) == reference.read(n)
            else:
                whence = {"seek": 0, "seek_cur": 1, "seek_end": 2}[action]
                offset = rng.randrange(0, 1200) if whence == 0 else rng.randrange(-500, 300)
                if (0, body.tell(), len(data))[whence] + offset < 0:
                    with pytest.raises(ValueError):
                        body.seek(offset, whence)
                    continue
                assert body.seek(offset, whence) == reference.seek(offset, whence)
            assert body.tell() == reference.tell()


def is_request(line: str, method: str, path: str, query: set[str]) -> bool:
    """Whether ``line`` ("PUT /b/k?x=1&y") is ``method`` on ``path`` with those parameters."""
    verb, _, target = line.partition(" ")
    where, _, params = target.partition("?")
    return verb == method and where == path and set(params.split("&")) - {""} == query


def refuse_once(proxy: FaultProxy, wanted: Callable[[str], bool]) -> list[str]:
    """Answer the first request ``wanted`` with a 500; the lines refused."""
    refused: list[str] = []

    def first(line: str) -> bool:
        if wanted(line) and not refused:
            refused.append(line)
            return True
        return False

    proxy.refuse.append((first, 500, "InternalError"))
    return refused


async def chunks(data: bytes, piece: int = MiB) -> AsyncIterator[bytes]:
    for i in range(0, len(data), piece):
        yield data[i : i + piece]


@pytest.mark.parametrize("multipart", [True, False], ids=["UploadPart", "PutObject"])
async def test_a_retried_body_is_sent_whole_again(
    moto_server: MotoServer, proxy: FaultProxy, multipart: bool
) -> None:
    """A part (or a PutObject) refused with a 500 is sent again by botocore's retry: the
    same body object, rewound, and the object stored is the caller's bytes exactly."""
    bucket = new_bucket(moto_server)
    key = "DEAL-1/big.bin"
    data = os.urandom(12 * MiB + 3 if multipart else 300_000)
    path = f"/{bucket}/{key}"

    def second_part(line: str) -> bool:
        query = {part for part in line.partition("?")[2].split("&") if part.startswith("part")}
        return is_request(line.split("?")[0], "PUT", path, set()) and query == {"partNumber=2"}

    wanted = second_part if multipart else lambda line: is_request(line, "PUT", path, set())
    refused = refuse_once(proxy, wanted)
    async with through(proxy, bucket, **SMALL_PARTS) as store:
        meta = await store.put(key, chunks(data) if multipart else data)
        assert refused, "the fault was not injected"
        assert meta.sha256 == hashlib.sha256(data).hexdigest()
        assert await store.get(key, verify=True) == data
    assert sum(wanted(line) for line in proxy.requests) == 1  # the retry reached the server


async def test_every_part_goes_out_through_the_body(
    moto_server: MotoServer, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """aiohttp writes the Body itself, rather than wrapping it in a payload of its own
    (which would read it through ``read``, copying): one write per request with a body."""
    written: list[int] = []
    original = Body.write_with_length

    async def counting(self: Body, writer: Any, content_length: int | None) -> None:
        written.append(len(self))
        await original(self, writer, content_length)

    read: list[int] = []
    original_read = Body.read

    def reading(self: Body, size: int | None = -1) -> bytes:
        read.append(len(self))
        return original_read(self, size)

    monkeypatch.setattr(Body, "write_with_length", counting)
    monkeypatch.setattr(Body, "read", reading)
    bucket = new_bucket(moto_server)
    data = os.urandom(11 * MiB)
    async with through(proxy, bucket, **SMALL_PARTS) as store:
        await store.put("DEAL-1/big.bin", chunks(data))
        await store.put("DEAL-1/small.bin", data[:1000])
        assert await store.get("DEAL-1/big.bin") == data
    assert sorted(written) == [1000, 1 * MiB, 5 * MiB, 5 * MiB]
    assert read == []
