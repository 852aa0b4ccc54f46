"""What ``import artifactstore`` promises: ``__all__``, docstrings, ``py.typed``."""

from __future__ import annotations

import importlib
import inspect
import pickle
import subprocess
import sys
import typing
from datetime import datetime, timezone
from pathlib import Path

import pytest

import artifactstore

CONTRACT_NAMES = [
    "ArtifactStore",
    "ArtifactMetadata",
    "LocalFilesystemArtifactStore",
    "get_artifact_store",
    "create_artifact_store",
    "reset_artifact_store",
    "normalize_key",
    "build_key",
    # The eight errors.
    "ArtifactStoreError",
    "ArtifactNotFoundError",
    "ArtifactExistsError",
    "InvalidKeyError",
    "ArtifactIntegrityError",
    "StorageConfigError",
    "StoragePermissionError",
    "StorageBackendError",
    # The layout constants.
    "CATEGORY_EMAILS",
    "CATEGORY_DOCUMENTS",
    "CATEGORY_GENERATED",
    "CATEGORY_EXTRACTED",
    "SUBCATEGORY_CIM",
    "SUBCATEGORY_TEASERS",
    "SUBCATEGORY_FINANCIALS",
    "SUBCATEGORY_LOI",
    "SUBCATEGORY_RESPONSES",
]


def test_all_is_sorted() -> None:
    assert sorted(artifactstore.__all__) == artifactstore.__all__


def test_all_has_no_duplicates() -> None:
    assert len(set(artifactstore.__all__)) == len(artifactstore.__all__)


def test_all_names_are_strings() -> None:
    assert all(isinstance(name, str) for name in artifactstore.__all__)


@pytest.mark.parametrize("name", artifactstore.__all__)
def test_every_name_is_importable(name: str) -> None:
    module = importlib.import_module("artifactstore")
    assert hasattr(module, name)
    namespace: dict[str, object] = {}
    exec(f"from artifactstore import {name}", namespace)
    assert namespace[name] is getattr(artifactstore, name)


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from artifactstore import *", namespace)
    namespace.pop("__builtins__", None)
    assert set(namespace) == set(artifactstore.__all__)


@pytest.mark.parametrize(
    "name",
    [
        name
        for name in artifactstore.__all__
        if inspect.isclass(getattr(artifactstore, name))
        or inspect.isroutine(getattr(artifactstore, name))
    ],
)
def test_public_classes_and_functions_have_docstrings(name: str) -> None:
    obj = getattr(artifactstore, name)
    doc = inspect.getdoc(obj)
    assert doc, f"artifactstore.{name} has no docstring"
    assert doc.strip()
    # A class's docstring is its own, not inherited from a base class.
    if inspect.isclass(obj):
        assert vars(obj).get("__doc__"), f"{name} inherits its docstring"


def test_public_methods_of_the_store_have_docstrings() -> None:
    for cls in (artifactstore.ArtifactStore, artifactstore.LocalFilesystemArtifactStore):
        for name, member in inspect.getmembers(cls):
            if name.startswith("_"):
                continue
            if inspect.isroutine(member) or isinstance(member, property):
                assert inspect.getdoc(member), f"{cls.__name__}.{name} has no docstring"


def test_module_has_a_docstring_and_version() -> None:
    assert artifactstore.__doc__
    assert isinstance(artifactstore.__version__, str)


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_contract_names_are_present(name: str) -> None:
    assert name in artifactstore.__all__
    assert getattr(artifactstore, name) is not None


def test_contract_covers_every_error_and_layout_constant() -> None:
    from artifactstore import errors, keys

    for name in errors.__all__:
        assert name in artifactstore.__all__
    for name in keys.__all__:
        if name.startswith(("CATEGORY_", "SUBCATEGORY_")):
            assert name in artifactstore.__all__
    assert len([n for n in CONTRACT_NAMES if n.endswith("Error")]) == 8


def test_layout_constants_are_the_keys_constants() -> None:
    from artifactstore import keys

    for name in artifactstore.__all__:
        if name.startswith(("CATEGORY_", "SUBCATEGORY_")):
            assert getattr(artifactstore, name) == getattr(keys, name)
            assert isinstance(getattr(artifactstore, name), str)


def test_store_classes() -> None:
    assert issubclass(artifactstore.LocalFilesystemArtifactStore, artifactstore.ArtifactStore)
    # One concrete store over a backend; the backend interface is the abstract part.
    assert not inspect.isabstract(artifactstore.ArtifactStore)
    assert inspect.isabstract(artifactstore.Backend)
    assert not inspect.isabstract(artifactstore.LocalFilesystemArtifactStore)


def test_py_typed_marker_exists() -> None:
    package_dir = Path(artifactstore.__file__).parent
    assert (package_dir / "py.typed").is_file()


# Where each public class and function says it lives (``__module__``): the module
# users import it from, as httpx and anyio do, so that tracebacks, reprs and the API
# reference name ``artifactstore.X`` rather than a private module.
PUBLIC_MODULES = (
    "artifactstore.sync",
    "artifactstore.compat",
    "artifactstore.web",
    "artifactstore.web.aiohttp",
    "artifactstore.errors",
    "artifactstore.keys",
    "artifactstore.layout",
    "artifactstore.metadata",
    "artifactstore.transfer",
)


def _public_home(module_name: str, name: str) -> str:
    value = getattr(importlib.import_module(module_name), name)
    if name in artifactstore.__all__ and getattr(artifactstore, name) is value:
        return "artifactstore"
    return module_name


def _classes_and_functions() -> list[tuple[str, str]]:
    found = []
    for module_name in ("artifactstore", *PUBLIC_MODULES):
        module = importlib.import_module(module_name)
        for name in module.__all__:
            value = getattr(module, name)
            if not name.startswith("_") and (inspect.isclass(value) or inspect.isfunction(value)):
                found.append((module_name, name))
    return found


@pytest.mark.parametrize(("module_name", "name"), _classes_and_functions())
def test_module_is_where_users_import_it_from(module_name: str, name: str) -> None:
    value = getattr(importlib.import_module(module_name), name)
    home = _public_home(module_name, name)
    assert value.__module__ == home
    # And the name is really there: pickle finds classes and functions that way.
    assert getattr(importlib.import_module(value.__module__), value.__qualname__) is value


def test_reprs_name_the_public_path() -> None:
    from artifactstore.web import ArtifactResponse

    assert repr(artifactstore.MemoryArtifactStore) == "<class 'artifactstore.MemoryArtifactStore'>"
    assert repr(artifactstore.TransferReport) == "<class 'artifactstore.TransferReport'>"
    assert repr(ArtifactResponse) == "<class 'artifactstore.web.ArtifactResponse'>"
    store = artifactstore.LocalFilesystemArtifactStore.__new__(
        artifactstore.LocalFilesystemArtifactStore
    )
    assert object.__repr__(store).startswith("<artifactstore.LocalFilesystemArtifactStore object")


def test_a_traceback_names_the_public_path() -> None:
    code = (
        "import asyncio, artifactstore\n"
        "asyncio.run(artifactstore.MemoryArtifactStore().get('DEAL-1/missing.pdf'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("artifactstore.ArtifactNotFoundError: "), result.stderr


def test_renamed_classes_still_pickle() -> None:
    error = artifactstore.ArtifactNotFoundError("no artifact", key="DEAL-1/a.pdf")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is artifactstore.ArtifactNotFoundError
    assert copy.key == "DEAL-1/a.pdf"
    meta = artifactstore.ArtifactMetadata(
        storage_backend="memory",
        storage_key="DEAL-1/a.pdf",
        storage_uri="memory://x/DEAL-1/a.pdf",
        sha256="0" * 64,
        size_bytes=3,
        mime_type="application/pdf",
        last_modified=datetime.now(timezone.utc),
        metadata={"source": "banker"},
    )
    assert pickle.loads(pickle.dumps(meta)) == meta
    assert pickle.loads(pickle.dumps(artifactstore.build_key)) is artifactstore.build_key


@pytest.mark.parametrize(
    "name",
    [name for name in artifactstore.__all__ if inspect.isclass(getattr(artifactstore, name))],
)
def test_type_hints_of_renamed_classes_still_resolve(name: str) -> None:
    # get_type_hints evaluates string annotations in sys.modules[cls.__module__]:
    # a class renamed to "artifactstore" keeps hints that resolve.
    cls = getattr(artifactstore, name)
    hints = typing.get_type_hints(cls)
    for annotation in inspect.get_annotations(cls).values():
        assert not isinstance(annotation, str) or name == "S3ArtifactStore"
    assert set(inspect.get_annotations(cls)) <= set(hints)


def test_pydantic_reads_artifact_metadata() -> None:
    # FastAPI response models: pydantic resolves the dataclass's field types.
    import pydantic

    schema = pydantic.TypeAdapter(artifactstore.ArtifactMetadata).json_schema()
    assert schema["properties"]["last_modified"]["format"] == "date-time"
    assert schema["properties"]["metadata"]["type"] == "object"
    report = pydantic.TypeAdapter(artifactstore.TransferReport).json_schema()
    assert "copied_keys" in report["properties"]
