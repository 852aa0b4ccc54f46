"""``HoldLayer``: refuse what a legal hold or a retention forbids, before the backend is asked.

Every store puts it above the user's layers and the audit trail (see
``artifactstore._assembly``), so no path around it reaches the backend: the
public API, the sync facade, the legacy helpers, the command line and the
migration all go through a store. Guarded: ``put`` over an existing covered
key, ``delete``, ``move`` (its source, and a covered existing destination),
``copy`` onto a covered existing destination, and ``delete_prefix``, which
refuses as a whole when any artifact under the prefix is covered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from .._sources import Source
from ..backend import Backend
from ..errors import ArtifactHeldError
from ..holds import HoldRegistry
from ..metadata import ArtifactMetadata
from ..options import PutOptions
from ._base import Layer, LayeredBackend

__all__ = ["HoldLayer", "HeldBackend"]

#: Called with (operation, key, error) before a refusal is raised (the audit trail's).
OnRefused = Callable[[str, str, ArtifactHeldError], Awaitable[None]]


class HoldLayer(Layer):
    """Enforce the backend's holds and retentions (``Backend.hold_registry``).

    :param on_refused: awaited before each refusal is raised (the store records it
        in the audit trail when it keeps one).
    """

    name = "holds"

    def __init__(self, *, on_refused: OnRefused | None = None) -> None:
        self.on_refused = on_refused

    def wrap(self, backend: Backend) -> Backend:
        """Return ``backend`` behind this layer."""
        return HeldBackend(backend, self)


def _refusal(
    operation: str, key: str, names: list[str], until: datetime | None
) -> ArtifactHeldError:
    why = []
    if names:
        why.append("held (" + ", ".join(names) + ")")
    if until is not None:
        why.append(f"retained until {until.isoformat()}")
    return ArtifactHeldError(
        f"{operation} of {key!r} refused: the artifact is {' and '.join(why)}; it can go "
        "once every hold covering it is released and its retention has ended",
        key=key,
        holds=tuple(names),
        retained_until=until,
    )


class HeldBackend(LayeredBackend):
    """A backend whose writes are checked against its registry's holds."""

    def __init__(self, inner: Backend, layer: HoldLayer) -> None:
        super().__init__(inner, layer)
        # Part of every store, not a layer of the user's: its record is the one below.
        self.info = inner.info
        self.registry: HoldRegistry | None = inner.hold_registry()
        self._on_refused = layer.on_refused

    async def _refuse(self, operation: str, key: str, error: ArtifactHeldError) -> None:
        if self._on_refused is not None:
            await self._on_refused(operation, key, error)
        raise error

    async def guard(self, operation: str, key: str, *, if_exists: bool = True) -> None:
        """Raise ``ArtifactHeldError`` if ``key`` is covered (and, with ``if_exists``, exists)."""
        if self.registry is None:
            return
        held = await self.registry.current()
        if not held:
            return
        found, until = held.covering(key)
        if not found and until is None:
            return
        if if_exists and not await self.inner.exists(key):
            return
        names = [f"{hold.target}: {hold.name}" for hold in found]
        await self._refuse(operation, key, _refusal(operation, key, names, until))

    async def put(self, key: str, source: Source, options: PutOptions) -> ArtifactMetadata:
        await self.guard("put", key)
        return await self.inner.put(key, source, options)

    async def delete(self, key: str) -> bool:
        await self.guard("delete", key)
        return await self.inner.delete(key)

    async def copy(self, src: str, dst: str, *, if_not_exists: bool) -> ArtifactMetadata:
        if not if_not_exists:  # with it, an existing destination is refused anyway
            await self.guard("copy", dst)
        return await self.inner.copy(src, dst, if_not_exists=if_not_exists)

    async def move(self, src: str, dst: str, *, if_not_exists: bool) -> ArtifactMetadata:
        await self.guard("move", src)
        if not if_not_exists:
            await self.guard("move", dst)
        return await self.inner.move(src, dst, if_not_exists=if_not_exists)

    async def delete_prefix(self, prefix: str) -> int:
        if self.registry is not None:
            held = await self.registry.current()
            if held and held.touches(prefix):
                async for page in self.inner.list_dir(prefix, recursive=True):
                    for item in page.artifacts:
                        found, until = held.covering(item.storage_key)
                        if found or until is not None:
                            names = [f"{h.target}: {h.name}" for h in found]
                            error = _refusal("delete_prefix", item.storage_key, names, until)
                            await self._refuse("delete_prefix", prefix, error)
        return await self.inner.delete_prefix(prefix)
