"""Checks of legal holds and retention (``BackendInfo.holds``): nothing covered can go."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ...errors import ArtifactHeldError
from ...store import ArtifactStore
from ._check import check, keys_of, raises


@check(holds=True)
async def a_hold_keeps_what_it_covers(store: ArtifactStore, scratch: Path) -> None:
    """A hold on a prefix refuses delete, overwrite, move away, copy onto and delete_prefix."""
    await store.put("DEAL-1/cim.pdf", b"cim")
    await store.put("DEAL-2/teaser.pdf", b"teaser")
    hold = await store.hold("DEAL-1", "smith-v-acme", reason="litigation")
    assert (hold.target, hold.name, hold.reason) == ("DEAL-1", "smith-v-acme", "litigation")
    refused: list[Callable[[], Awaitable[object]]] = [
        lambda: store.delete("DEAL-1/cim.pdf"),
        lambda: store.put("DEAL-1/cim.pdf", b"replaced"),
        lambda: store.move("DEAL-1/cim.pdf", "DEAL-3/cim.pdf"),
        lambda: store.copy("DEAL-2/teaser.pdf", "DEAL-1/cim.pdf"),
        lambda: store.delete_prefix("DEAL-1"),
    ]
    for attempt in refused:
        with raises(ArtifactHeldError) as error:
            await attempt()
        assert "DEAL-1: smith-v-acme" in error.value.holds
        assert isinstance(error.value, PermissionError)
    assert await store.get("DEAL-1/cim.pdf") == b"cim"
    await store.put("DEAL-1/new.pdf", b"new")  # new artifacts under a held prefix
    with raises(ArtifactHeldError):
        await store.delete("DEAL-1/new.pdf")  # ... are held too
    assert [h.name async for h in store.holds()] == ["smith-v-acme"]
    assert [h.name async for h in store.holds("DEAL-2")] == []
    await store.hold("DEAL-1/cim.pdf", "sec-inquiry")  # a second matter
    assert await store.release("DEAL-1", "smith-v-acme")
    assert not await store.release("DEAL-1", "smith-v-acme")
    with raises(ArtifactHeldError):
        await store.delete("DEAL-1/cim.pdf")  # still under the other hold
    assert await store.delete("DEAL-1/new.pdf")
    assert await store.release("DEAL-1/cim.pdf", "sec-inquiry")
    assert await store.delete_prefix("DEAL-1") == 1
    assert await keys_of(store) == ["DEAL-2/teaser.pdf"]


@check(holds=True)
async def a_retention_keeps_until_its_date(store: ArtifactStore, scratch: Path) -> None:
    """A retention refuses deletion until its date; it can be extended, never shortened."""
    await store.put("DEAL-1/loi.pdf", b"loi")
    until = datetime.now(timezone.utc) + timedelta(days=30)
    retention = await store.retain("DEAL-1/loi.pdf", until=until)
    assert retention.until == until
    with raises(ArtifactHeldError) as error:
        await store.delete("DEAL-1/loi.pdf")
    assert error.value.retained_until == until
    with raises(ValueError):
        await store.retain("DEAL-1/loi.pdf", until=until - timedelta(days=1))
    later = await store.retain("DEAL-1/loi.pdf", until=until + timedelta(days=1))
    assert [r.until async for r in store.retentions()] == [later.until]
    past = await store.retain(
        "DEAL-1/old", until=datetime.now(timezone.utc) + timedelta(seconds=0.2)
    )
    await store.put("DEAL-1/old/memo.txt", b"memo")
    with raises(ArtifactHeldError):
        await store.delete("DEAL-1/old/memo.txt")
    await asyncio.sleep(max(0.0, (past.until - datetime.now(timezone.utc)).total_seconds()) + 0.05)
    assert await store.delete("DEAL-1/old/memo.txt")  # its retention ended
