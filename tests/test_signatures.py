"""The async, sync and legacy faces take the same arguments; options live in one place;
a third-party backend joins through the entry point."""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from artifactstore import ArtifactStore, PutOptions, ReadOptions, SyncArtifactStore
from artifactstore.compat import LegacyArtifactStore

#: Async methods whose sync twin has another name, or that have none (and why).
RENAMED = {"aclose": "close"}
ASYNC_ONLY = {"layer"}  # builds another async store: wrap that one in a facade


def public_methods(cls: type) -> dict[str, Any]:
    return {
        name: value
        for name, value in inspect.getmembers(cls)
        if not name.startswith("_") and inspect.isfunction(value)
    }


def parameters(function: Any) -> list[tuple[str, Any, Any]]:
    """(name, kind, default) of each parameter but ``self``."""
    signature = inspect.signature(function)
    return [(p.name, p.kind, p.default) for p in signature.parameters.values() if p.name != "self"]


def names_and_defaults(function: Any) -> list[tuple[str, Any]]:
    return [(name, default) for name, _, default in parameters(function)]


def sync_mismatches(sync_class: type) -> tuple[int, list[str]]:
    """(methods compared, those whose sync twin is missing or takes other parameters)."""
    sync = public_methods(sync_class)
    compared, wrong = 0, []
    for name, method in public_methods(ArtifactStore).items():
        if name in ASYNC_ONLY:
            continue
        twin = sync.get(RENAMED.get(name, name))
        if twin is None or parameters(twin) != parameters(method):
            wrong.append(name)
        compared += 1
    return compared, wrong


def test_every_async_method_has_a_sync_twin_with_the_same_parameters() -> None:
    compared, wrong = sync_mismatches(SyncArtifactStore)
    assert wrong == []
    assert compared >= 14


def test_the_legacy_facade_takes_the_same_arguments_positional_too() -> None:
    sync = public_methods(SyncArtifactStore)
    legacy = public_methods(LegacyArtifactStore)
    overridden = [n for n in legacy if legacy[n] is not sync.get(n)]
    assert {"put", "get", "stream", "copy", "move", "list"} <= set(overridden)
    for name in overridden:
        assert names_and_defaults(legacy[name]) == names_and_defaults(sync[name]), name


def test_a_new_keyword_on_one_face_is_caught() -> None:
    """The comparison above fails when one face gains or loses an argument."""

    class Drifted(SyncArtifactStore):
        def put(self, key: str, data: Any, *, mime_type: str | None = None) -> Any:  # type: ignore[override]
            raise NotImplementedError

        def get(self, key: str, *, verify: bool = False, fast: bool = True) -> bytes:
            raise NotImplementedError

    assert sync_mismatches(Drifted)[1] == ["get", "put"]


def test_option_objects_match_the_public_keywords() -> None:
    put = {
        name
        for name, kind, _ in parameters(ArtifactStore.put)
        if kind is inspect.Parameter.KEYWORD_ONLY
    }
    # before_commit is the layers' (the audit trail's), not a keyword of put.
    backend_only = {"before_commit"}
    assert {f.name for f in dataclasses.fields(PutOptions)} - backend_only == put
    stream = {
        name
        for name, kind, _ in parameters(ArtifactStore.stream)
        if kind is inspect.Parameter.KEYWORD_ONLY
    }
    assert {f.name for f in dataclasses.fields(ReadOptions)} == stream
    # The defaults agree too.
    defaults = {name: default for name, _, default in parameters(ArtifactStore.stream)}
    assert defaults["chunk_size"] == ReadOptions().chunk_size


VENDOR = """
import dataclasses

from artifactstore import ArtifactStore
from artifactstore.backends.memory import MemoryBackend
from artifactstore.factory import BackendEntry


class VendorBackend(MemoryBackend):
    info = dataclasses.replace(MemoryBackend.info, name="vendor", scheme="vendor")

    def url(self):
        return "vendor://" + self.name


def parse(url):
    return {"name": url.split("://", 1)[1]}


BACKEND = BackendEntry(
    name="vendor",
    schemes=("vendor",),
    create=lambda **options: ArtifactStore(VendorBackend(**options)),
    options_from_env=lambda environ: {"name": environ.get("VENDOR_NAME", "env")},
    options_from_url=parse,
)
"""

CHECK = """
import asyncio, os
from artifactstore import create_artifact_store, store_from_url
from artifactstore.testing import run_conformance

async def main():
    store = store_from_url("vendor://deals")
    assert store.info.name == "vendor", store.info
    assert str(store) == "vendor://deals"
    meta = await store.put("DEAL-1/a.txt", b"hello")
    assert meta.storage_backend == "vendor"
    assert await store.get("DEAL-1/a.txt") == b"hello"
    os.environ["ARTIFACT_STORAGE_BACKEND"] = "vendor"
    assert str(create_artifact_store()) == "vendor://env"
    report = await run_conformance(lambda: store_from_url("vendor://c"))
    print("ok", len(report.passed))

asyncio.run(main())
"""


def test_a_third_party_backend_registered_through_the_entry_point(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "vendorstore").mkdir(parents=True)
    (site / "vendorstore" / "__init__.py").write_text(textwrap.dedent(VENDOR))
    info = site / "vendorstore-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: vendorstore\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[artifactstore.backends]\nvendor = vendorstore:BACKEND\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", CHECK],
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok ")
    assert int(done.stdout.split()[1]) >= 25  # the whole contract, through store_from_url


def test_a_backend_name_or_scheme_is_never_replaced() -> None:
    from artifactstore.factory import BackendEntry, register_backend

    clash = BackendEntry("s3x", ("s3",), ArtifactStore, lambda e: {}, lambda u: {})
    with pytest.raises(ValueError, match="already registered"):
        register_backend(clash)
