"""Re-cutting put data into parts (``_sources.rechunk``, ``exact_parts``): right bytes, one copy."""

from __future__ import annotations

import array
import os
import random
from collections.abc import AsyncIterator
from pathlib import Path

from artifactstore._sources import AsyncIterableSource, as_source, exact_parts, rechunk


async def collect(chunks: AsyncIterator[bytes]) -> list[bytes]:
    return [chunk async for chunk in chunks]


async def pieces(data: bytes, sizes: list[int]) -> AsyncIterator[bytes]:
    start = 0
    for size in sizes:
        yield data[start : start + size]
        start += size
    if start < len(data):
        yield data[start:]


async def test_random_pieces_are_recut_exactly() -> None:
    rng = random.Random(7)
    for _ in range(40):
        data = os.urandom(rng.randrange(0, 5000))
        sizes = [rng.choice([0, 1, 7, 64, 100, 999, 2500]) for _ in range(rng.randrange(1, 30))]
        size = rng.choice([1, 3, 64, 100, 1024])
        out = await collect(rechunk(pieces(data, sizes), size))
        assert b"".join(out) == data
        assert all(len(part) == size for part in out[:-1])
        assert not out or 0 < len(out[-1]) <= size
        assert all(type(part) is bytes for part in out)


async def test_a_chunk_of_the_right_size_is_passed_on_without_a_copy() -> None:
    first, second = os.urandom(64), os.urandom(64)

    async def source() -> AsyncIterator[bytes]:
        yield first
        yield second

    out = await collect(rechunk(source(), 64))
    assert out[0] is first
    assert out[1] is second


async def test_a_source_reusing_its_buffer_is_copied_before_it_runs_again() -> None:
    """A reader that fills one bytearray again and again (resizing it, too): each part
    holds the bytes as they were when yielded, and the reader is never refused a resize
    (BufferError) because a view of its buffer is still held."""
    data = os.urandom(10_000)

    async def reader() -> AsyncIterator[bytearray]:
        buffer = bytearray()
        for start in range(0, len(data), 300):
            buffer.clear()  # raises BufferError while any view of it exists
            buffer += data[start : start + 300]
            yield buffer

    out = await collect(rechunk(reader(), 1024))
    assert b"".join(out) == data


async def test_wide_memoryviews_count_bytes_not_items() -> None:
    numbers = array.array("I", range(1000))  # 4000 bytes

    async def source() -> AsyncIterator[memoryview]:
        yield memoryview(numbers)
        yield memoryview(numbers)[10:20]

    out = await collect(rechunk(source(), 1000))
    assert b"".join(out) == numbers.tobytes() + numbers[10:20].tobytes()
    assert [len(part) for part in out] == [1000, 1000, 1000, 1000, 40]


async def test_exact_parts_of_each_source_kind(tmp_path: Path) -> None:
    data = os.urandom(10 * 1024 + 5)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    expected = [data[i : i + 4096] for i in range(0, len(data), 4096)]

    async def iterable() -> AsyncIterator[bytes]:
        for i in range(0, len(data), 1000):
            yield data[i : i + 1000]

    with open(path, "rb") as file:
        for source in (
            as_source(data),
            as_source(memoryview(data)),
            as_source(bytearray(data)),
            as_source(file),
            as_source(path),
            AsyncIterableSource(iterable()),
        ):
            assert await collect(exact_parts(source, 4096)) == expected, source
