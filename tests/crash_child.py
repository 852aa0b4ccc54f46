"""The process the crash tests kill: puts forever, journaling each acknowledged one.

Usage: python -m tests.crash_child JOURNAL RUN  (the store comes from the environment)

Each payload starts with a header naming its key, run and counter, and the rest
is generated from that header, so a reader can tell exactly which put an
artifact's content belongs to and whether it is whole. A line is appended (and
fsynced) to JOURNAL only after ``put`` returned: the journal is the list of puts
the store acknowledged. After the first acknowledged put it prints ``ready``, so the
killer's random delay counts from there, not from a start-up whose length depends
on the machine's load.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
from collections.abc import AsyncIterator

from artifactstore import create_artifact_store

KEYS = [f"CRASH/{kind}/{n}.bin" for kind in ("small", "large", "stream") for n in range(4)]
MiB = 1024 * 1024


def payload(key: str, run: int, counter: int) -> bytes:
    header = f"{key}|{run}|{counter}|".encode().ljust(96, b".")
    kind = key.split("/")[1]
    rng = random.Random(header)
    size = {"small": rng.randrange(1, 20_000), "large": 5 * MiB + rng.randrange(1, MiB)}.get(
        kind, 6 * MiB + rng.randrange(1, MiB)
    )
    return header + rng.randbytes(size)


def parse(data: bytes) -> tuple[str, int, int] | None:
    """The (key, run, counter) a content claims to be, if it has a header."""
    try:
        key, run, counter, _ = data[:96].decode().split("|", 3)
        return key, int(run), int(counter)
    except (UnicodeDecodeError, ValueError):
        return None


async def pieces(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 256 * 1024):
        yield data[i : i + 256 * 1024]
        await asyncio.sleep(0)


async def main(journal_path: str, run: int) -> None:
    store = create_artifact_store()
    rng = random.Random(run)
    fd = os.open(journal_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    counter = 0
    while True:
        key = rng.choice(KEYS)
        counter += 1
        data = payload(key, run, counter)
        source = pieces(data) if "/stream/" in key else data
        meta = await store.put(key, source)
        os.write(fd, f"{key} {run} {counter} {meta.sha256}\n".encode())
        os.fsync(fd)
        if counter == 1:  # started up: the parent may now pick its moment to kill
            sys.stdout.write("ready\n")
            sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
