"""The process the migration tests run: a local→S3 copy, to be killed or to be measured.

Usage (from the repository root)::

    python -m tests.transfer_child copy SRC_ROOT ENDPOINT BUCKET PROGRESS_FILE [JOURNAL]
    python -m tests.transfer_child rss SRC_ROOT ENDPOINT BUCKET CONCURRENCY

``copy`` appends ``done total bytes`` to PROGRESS_FILE after each artifact (the
test SIGKILLs it mid-run), keeping a journal if one is named. ``rss`` prints one
JSON line: the resident memory after imports and store creation, the peak
(``VmHWM``) after the copy, and the report's counts.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import psutil

from artifactstore import LocalFilesystemArtifactStore, S3ArtifactStore
from artifactstore.transfer import copy_artifacts

from .s3server import CREDENTIALS


def stores(
    root: str, endpoint: str, bucket: str
) -> tuple[LocalFilesystemArtifactStore, S3ArtifactStore]:
    src = LocalFilesystemArtifactStore(root)
    dst = S3ArtifactStore(bucket, endpoint_url=endpoint, region="us-east-1", **CREDENTIALS)
    return src, dst


async def copy(
    root: str, endpoint: str, bucket: str, progress_file: str, journal: str | None = None
) -> None:
    fd = os.open(progress_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def progress(done: int, total: int | None, size: int) -> None:
        os.write(fd, f"{done} {total} {size}\n".encode())

    src, dst = stores(root, endpoint, bucket)
    async with src, dst:
        report = await copy_artifacts(src, dst, concurrency=4, progress=progress, journal=journal)
    os.write(fd, f"finished {report.copied}\n".encode())


def high_water_mark() -> int:
    """This process's peak resident memory, in bytes.

    Not ``getrusage``'s ``ru_maxrss``: across fork and exec, Linux carries the
    parent's peak into it, so a child of a large pytest process would report that.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


async def rss(root: str, endpoint: str, bucket: str, concurrency: int) -> None:
    src, dst = stores(root, endpoint, bucket)
    baseline = psutil.Process().memory_info().rss
    async with src, dst:
        report = await copy_artifacts(src, dst, concurrency=concurrency)
    peak = high_water_mark()
    print(json.dumps({"baseline": baseline, "peak": peak, **report.to_dict()}))


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "copy":
        asyncio.run(copy(*args))
    else:
        asyncio.run(rss(args[0], args[1], args[2], int(args[3])))
