"""No path removes or replaces what is held or retained: random operations against a model.

The audit package is imported here so that the audited run's first store does not
import it (and cryptography) on the event loop.

Each step is one random operation (put new, overwrite, delete, move, copy,
delete_prefix, hold, release, retain) through a random door (the awaited store,
the sync facade, the legacy helpers' store). A small model of the store and its
holds, written here independently of the library, says whether the operation
must be refused; after every step the test checks that the store refused exactly
what the model says, and that every artifact covered at that moment still has its
bytes and SHA-256. 2,000 steps per backend in ``make test``; ``make soak`` runs
20,000.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from artifactstore import (
    ArtifactHeldError,
    ArtifactNotFoundError,
    ArtifactStore,
    LocalFilesystemArtifactStore,
    MemoryArtifactStore,
    SyncArtifactStore,
    audit,  # noqa: F401 - see the module docstring
)
from artifactstore.backends.s3 import S3ArtifactStore
from artifactstore.compat import LegacyArtifactStore

from .s3server import MotoServer, new_bucket

KEYS = [f"DEAL-{d}/{f}/{n}.bin" for d in range(3) for f in ("a", "b") for n in ("x", "y")]
TARGETS = ["DEAL-0", "DEAL-1/a", "DEAL-2", *KEYS[::3]]
NAMES = ["smith-v-acme", "sec-inquiry", "dispute-7"]
FUTURE = datetime(2100, 1, 1, tzinfo=timezone.utc)
PAST = datetime(2000, 1, 1, tzinfo=timezone.utc)


def covers(target: str, key: str) -> bool:
    return key == target or key.startswith(target + "/")


@dataclass
class Model:
    """What the store must hold, written without the library's code."""

    data: dict[str, bytes] = field(default_factory=dict)
    holds: set[tuple[str, str]] = field(default_factory=set)
    retained: dict[str, datetime] = field(default_factory=dict)

    def protected(self, key: str) -> bool:
        now = datetime.now(timezone.utc)
        return any(covers(t, key) for t, _ in self.holds) or any(
            covers(t, key) and until > now for t, until in self.retained.items()
        )


class Doors:
    """The same store through the three ways in."""

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store
        self.sync = SyncArtifactStore(store)
        self.legacy = LegacyArtifactStore(store)

    async def call(self, rng: random.Random, name: str, *args: Any, **kwargs: Any) -> Any:
        door = rng.choice(["async", "sync", "legacy"])
        if door == "async":
            return await getattr(self.store, name)(*args, **kwargs)
        facade = self.sync if door == "sync" else self.legacy
        return await asyncio.to_thread(getattr(facade, name), *args, **kwargs)


async def step(doors: Doors, model: Model, rng: random.Random) -> str:
    """One random operation; return what it was (for the failure message)."""
    op = rng.choice(
        ["put", "put", "overwrite", "delete", "move", "copy", "delete_prefix",
         "hold", "hold", "release", "retain"]
    )  # fmt: skip
    key = rng.choice(KEYS)
    other = rng.choice(KEYS)
    data = rng.randbytes(rng.randrange(1, 64))
    expect_refused = False
    try:
        if op in ("put", "overwrite"):
            expect_refused = key in model.data and model.protected(key)
            await doors.call(rng, "put", key, data)
            model.data[key] = data
        elif op == "delete":
            expect_refused = key in model.data and model.protected(key)
            await doors.call(rng, "delete", key)
            model.data.pop(key, None)
        elif op in ("move", "copy"):
            if key == other or key not in model.data:
                return f"{op} (skipped)"
            if op == "move":
                expect_refused = model.protected(key)
            expect_refused |= other in model.data and model.protected(other)
            await doors.call(rng, op, key, other)
            model.data[other] = model.data[key]
            if op == "move":
                del model.data[key]
        elif op == "delete_prefix":
            prefix = rng.choice(["DEAL-0", "DEAL-1", "DEAL-2", "DEAL-1/a", "DEAL-2/b"])
            under = [k for k in model.data if covers(prefix, k)]
            expect_refused = any(model.protected(k) for k in under)
            await doors.call(rng, "delete_prefix", prefix)
            for k in under:
                del model.data[k]
        elif op == "hold":
            target, name = rng.choice(TARGETS), rng.choice(NAMES)
            await doors.call(rng, "hold", target, name, reason="case")
            model.holds.add((target, name))
        elif op == "release":
            if not model.holds or rng.random() < 0.2:
                target, name = rng.choice(TARGETS), rng.choice(NAMES)
            else:
                target, name = rng.choice(sorted(model.holds))
            await doors.call(rng, "release", target, name)
            model.holds.discard((target, name))
        else:  # retain: mostly in the past (no protection), sometimes for good
            target = rng.choice(TARGETS)
            until = FUTURE if rng.random() < 0.15 else PAST + timedelta(days=rng.randrange(9))
            if target in model.retained and until < model.retained[target]:
                with pytest.raises(ValueError):
                    await doors.call(rng, "retain", target, until=until)
                return "retain (shorter: refused)"
            await doors.call(rng, "retain", target, until=until)
            model.retained[target] = until
    except ArtifactHeldError:
        assert expect_refused, f"{op} {key} -> {other} was refused, but nothing covers it"
        return f"{op} (refused)"
    assert not expect_refused, f"{op} {key} -> {other} went through a hold"
    return op


async def check(store: ArtifactStore, model: Model) -> None:
    """Every covered artifact has its bytes, and they hash to its recorded SHA-256."""
    for key, data in model.data.items():
        if model.protected(key):
            assert await store.get(key, verify=True) == data, key  # verify: the SHA-256
            if store.info.sha256_in_listings or not isinstance(store, S3ArtifactStore):
                meta = await store.get_metadata(key)
                assert meta.sha256 == hashlib.sha256(data).hexdigest(), key


async def run(store: ArtifactStore, steps: int, seed: int, *, every: int = 1) -> None:
    """``steps`` random steps, the whole store checked after every ``every`` (1: each)."""
    rng = random.Random(seed)
    model = Model()
    doors = Doors(store)
    done: list[str] = []
    try:
        for number in range(steps):
            done.append(await step(doors, model, rng))
            if number % every and number != steps - 1:
                continue
            await check(store, model)
            stored = sorted([m.storage_key async for m in store.list()])
            assert stored == sorted(model.data), done[-5:]
    except (AssertionError, ArtifactNotFoundError) as exc:
        raise AssertionError(f"after {len(done)} steps ({done[-8:]}): {exc}") from exc
    assert sum(op.endswith("(refused)") for op in done) > steps // 50  # holds did bite
    await store.aclose()


def steps(request: pytest.FixtureRequest) -> int:
    return 20_000 if request.config.getoption("--run-soak") else 2_000


async def test_memory(request: pytest.FixtureRequest) -> None:
    await run(MemoryArtifactStore(), steps(request), seed=22)


async def test_local(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    await run(
        LocalFilesystemArtifactStore(tmp_path / "DataRoom", durable=False), steps(request), 23
    )


async def test_s3(request: pytest.FixtureRequest, moto_server: MotoServer) -> None:
    # Over HTTP a whole check is a request per covered artifact: every 10th step
    # (every refusal is still checked against the model at its own step).
    store = S3ArtifactStore(new_bucket(moto_server), **moto_server.store_options())
    await run(store, steps(request), seed=24, every=10)


async def test_audited_local(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    # The trail records every refusal, and still verifies.
    store = LocalFilesystemArtifactStore(tmp_path / "DataRoom", durable=False, audit=True)
    await run(store, steps(request) // 4, seed=25)
    store = LocalFilesystemArtifactStore(tmp_path / "DataRoom", durable=False, audit=True)
    refused = [e async for e in store.audit_log().events() if e.outcome == "refused"]
    assert refused
    assert all("holds" in e.details or "retained_until" in e.details for e in refused)
    await store.aclose()
