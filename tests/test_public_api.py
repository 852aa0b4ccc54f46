"""What ``import artifactstore`` promises: ``__all__``, docstrings, ``py.typed``."""

from __future__ import annotations

import importlib
import inspect
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
    assert inspect.isabstract(artifactstore.ArtifactStore)
    assert not inspect.isabstract(artifactstore.LocalFilesystemArtifactStore)


def test_py_typed_marker_exists() -> None:
    package_dir = Path(artifactstore.__file__).parent
    assert (package_dir / "py.typed").is_file()
