"""One of several processes sharing a bucket through ``S3ArtifactStore``.

Usage: python -m tests.s3_shared_child ENDPOINT BUCKET SEED OPERATIONS

Puts (bytes, async iterables crossing the multipart threshold, conditional), reads
with ``get(verify=True)``, listings, deletes and server-side copies on a few shared
keys, in a random order. Prints one JSON line: how many of each operation ran,
and every error other than not-found and exists (``{"errors": [...]}``).
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from collections import Counter
from collections.abc import AsyncIterator

from artifactstore import ArtifactExistsError, ArtifactNotFoundError, S3ArtifactStore

KEYS = [f"SHARED/{n}.bin" for n in range(6)]
MiB = 1024 * 1024
SECRET = "the-shared-children-secret-0123"


async def pieces(data: bytes, piece: int = 1 << 20) -> AsyncIterator[bytes]:
    for i in range(0, len(data), piece):
        yield data[i : i + piece]


async def main(endpoint: str, bucket: str, seed: int, operations: int) -> None:
    rng = random.Random(seed)
    done: Counter[str] = Counter()
    errors: list[str] = []
    store = S3ArtifactStore(
        bucket,
        endpoint_url=endpoint,
        region="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        part_size=5 * MiB,
        multipart_threshold=5 * MiB,
        parts_in_flight=2,
        sha256_key=SECRET,
    )
    async with store:
        for _ in range(operations):
            op = rng.choice(["put", "put", "stream", "ifnew", "get", "get", "list", "delete",
                             "copy", "copy"])  # fmt: skip
            key, other = rng.sample(KEYS, 2)
            try:
                if op == "put":
                    await store.put(key, rng.randbytes(rng.randrange(1, 200_000)))
                elif op == "stream":
                    data = rng.randbytes(5 * MiB + rng.randrange(1, 300_000))
                    await store.put(key, pieces(data))
                elif op == "ifnew":
                    await store.put(key, rng.randbytes(1000), if_not_exists=True)
                elif op == "get":
                    await store.get(key, verify=True)
                elif op == "list":
                    [item async for item in store.list("SHARED")]
                elif op == "delete":
                    await store.delete(key)
                else:
                    await store.copy(key, other)
                done[op] += 1
            except (ArtifactNotFoundError, ArtifactExistsError):
                done[f"{op} (not found or exists)"] += 1
            except Exception as exc:
                errors.append(f"{op} {key}: {type(exc).__name__}: {exc}")
    print(json.dumps({"done": done, "errors": errors}))


if __name__ == "__main__":
    endpoint, bucket, seed, operations = sys.argv[1:5]
    asyncio.run(main(endpoint, bucket, int(seed), int(operations)))
