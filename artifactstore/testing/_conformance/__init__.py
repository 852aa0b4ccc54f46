"""The ArtifactStore contract, as checks that take any store.

In the manner of object_store's conformance tests: each check is an ``async``
function taking a fresh, empty store and a scratch folder outside it (for source
files), and raising ``AssertionError`` (or the unexpected exception) when the store
breaks the contract. Checks that need an optional capability (see
:class:`~artifactstore.BackendInfo`) run only on backends that declare it.

The checks live in one module per topic; ``_TOPICS`` below sets their order, which
reports and test ids show. This package needs nothing but artifactstore: ``raises``
stands in for ``pytest.raises``. Under pytest (the plugin imports it) the asserts of
all its modules are rewritten, so a failure shows the values compared.
"""

from __future__ import annotations

from ...backend import BackendInfo
from . import _edges, _holds, _listing, _manage, _put, _read
from ._check import CheckFunction, ConformanceCheck, Raised, raises, registered

__all__ = [
    "CHECKS",
    "CheckFunction",
    "ConformanceCheck",
    "Raised",
    "conformance_checks",
    "raises",
]

# The topics in the order their checks run and are reported; within a topic, the
# order of its module. A topic module missing here is an error at import.
_TOPICS = [module.__name__ for module in (_put, _read, _listing, _edges, _manage, _holds)]

#: Every check, in a stable order.
CHECKS: tuple[ConformanceCheck, ...] = tuple(
    sorted(registered(), key=lambda c: _TOPICS.index(c.function.__module__))
)


def conformance_checks(info: BackendInfo | None = None) -> list[ConformanceCheck]:
    """The checks a backend described by ``info`` must pass, in a stable order.

    ``None`` means a backend with the default capabilities. For pytest::

        @pytest.mark.parametrize("check", conformance_checks(MyBackend.info), ids=str)
        async def test_conformance(check, store, tmp_path):
            await check(store, tmp_path)
    """
    info = BackendInfo(name="", scheme="") if info is None else info
    if not isinstance(info, BackendInfo):
        raise TypeError(f"info must be a BackendInfo, not {info!r}")
    return [c for c in CHECKS if c.applies_to(info)]
