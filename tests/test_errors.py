"""The error tree of ``artifactstore.errors``."""

from __future__ import annotations

import copy
import inspect
import pickle
import sys

import pytest

from artifactstore import errors
from artifactstore.errors import (
    ArtifactExistsError,
    ArtifactIntegrityError,
    ArtifactNotFoundError,
    ArtifactStoreError,
    InvalidKeyError,
    StorageBackendError,
    StorageConfigError,
    StoragePermissionError,
)

ALL_CLASSES = [getattr(errors, name) for name in errors.__all__]
KEYED_CLASSES = [
    ArtifactStoreError,
    ArtifactNotFoundError,
    ArtifactExistsError,
    InvalidKeyError,
    StoragePermissionError,
    StorageBackendError,
]
PROTOCOLS = list(range(pickle.HIGHEST_PROTOCOL + 1))


def make(cls: type[ArtifactStoreError]) -> ArtifactStoreError:
    """One instance of ``cls`` with every field set."""
    if cls is ArtifactIntegrityError:
        return ArtifactIntegrityError(
            "artifact 'DEAL-1/a.pdf' is corrupt", key="DEAL-1/a.pdf", expected="aa", actual="bb"
        )
    if cls is StorageConfigError:
        return StorageConfigError("DATAROOM_ROOT is bad", setting="DATAROOM_ROOT")
    return cls(f"{cls.__name__} about 'DEAL-1/a.pdf'", key="DEAL-1/a.pdf")


def test_all_lists_the_thirteen_classes() -> None:
    assert sorted(errors.__all__) == [
        "ArtifactExistsError",
        "ArtifactHeldError",
        "ArtifactIntegrityError",
        "ArtifactNotFoundError",
        "ArtifactStoreError",
        "AuditError",
        "InvalidKeyError",
        "ReadOnlyStoreError",
        "StorageBackendError",
        "StorageConfigError",
        "StoragePermissionError",
        "StorageTimeoutError",
        "StoreClosedError",
    ]


def test_all_lists_every_error_class_of_the_module() -> None:
    defined = {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value)
        and issubclass(value, BaseException)
        and value.__module__ in (errors.__name__, "artifactstore")
    }
    assert defined == set(errors.__all__)


@pytest.mark.parametrize("cls", ALL_CLASSES)
def test_every_error_is_an_artifact_store_error(cls: type[ArtifactStoreError]) -> None:
    assert issubclass(cls, ArtifactStoreError)
    assert issubclass(cls, Exception)
    assert isinstance(make(cls), ArtifactStoreError)
    assert cls.__doc__


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (ArtifactNotFoundError, FileNotFoundError),
        (ArtifactExistsError, FileExistsError),
        (InvalidKeyError, ValueError),
        (StoragePermissionError, PermissionError),
    ],
)
def test_builtin_bases(cls: type[ArtifactStoreError], builtin: type[Exception]) -> None:
    assert issubclass(cls, builtin)
    with pytest.raises(builtin):
        raise make(cls)
    with pytest.raises(ArtifactStoreError):
        raise make(cls)


@pytest.mark.parametrize(
    "cls", [ArtifactStoreError, ArtifactIntegrityError, StorageConfigError, StorageBackendError]
)
def test_no_builtin_bases_for_the_others(cls: type[ArtifactStoreError]) -> None:
    assert not issubclass(cls, (OSError, ValueError))


@pytest.mark.parametrize("cls", KEYED_CLASSES)
def test_message_and_key(cls: type[ArtifactStoreError]) -> None:
    error = cls("no artifact at 'DEAL-1/a.pdf'", key="DEAL-1/a.pdf")
    assert str(error) == "no artifact at 'DEAL-1/a.pdf'"
    assert error.message == "no artifact at 'DEAL-1/a.pdf'"
    assert error.key == "DEAL-1/a.pdf"
    assert error.args == ("no artifact at 'DEAL-1/a.pdf'",)


@pytest.mark.parametrize("cls", KEYED_CLASSES)
def test_key_defaults_to_none(cls: type[ArtifactStoreError]) -> None:
    error = cls("something failed")
    assert error.key is None
    assert str(error) == "something failed"


def test_integrity_error_fields() -> None:
    error = make(ArtifactIntegrityError)
    assert isinstance(error, ArtifactIntegrityError)
    assert str(error) == "artifact 'DEAL-1/a.pdf' is corrupt"
    assert error.key == "DEAL-1/a.pdf"
    assert error.expected == "aa"
    assert error.actual == "bb"


def test_config_error_fields() -> None:
    error = make(StorageConfigError)
    assert isinstance(error, StorageConfigError)
    assert str(error) == "DATAROOM_ROOT is bad"
    assert error.setting == "DATAROOM_ROOT"
    assert error.key is None
    assert StorageConfigError("no setting").setting is None


def _same(error: ArtifactStoreError, again: ArtifactStoreError) -> None:
    assert type(again) is type(error)
    assert str(again) == str(error)
    assert again.message == error.message
    assert again.key == error.key
    assert again.args == error.args
    for field in ("expected", "actual", "setting"):
        assert getattr(again, field, None) == getattr(error, field, None)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("cls", ALL_CLASSES)
def test_pickle_round_trip(cls: type[ArtifactStoreError], protocol: int) -> None:
    error = make(cls)
    again = pickle.loads(pickle.dumps(error, protocol=protocol))
    _same(error, again)
    if isinstance(error, ArtifactIntegrityError):
        assert (again.expected, again.actual) == ("aa", "bb")
    if isinstance(error, StorageConfigError):
        assert again.setting == "DATAROOM_ROOT"


@pytest.mark.parametrize("cls", KEYED_CLASSES)
def test_pickle_without_key(cls: type[ArtifactStoreError]) -> None:
    again = pickle.loads(pickle.dumps(cls("plain")))
    assert type(again) is cls
    assert again.key is None
    assert str(again) == "plain"


@pytest.mark.parametrize("cls", ALL_CLASSES)
def test_copy(cls: type[ArtifactStoreError]) -> None:
    error = make(cls)
    _same(error, copy.copy(error))
    _same(error, copy.deepcopy(error))


@pytest.mark.skipif(sys.version_info < (3, 11), reason="add_note is Python 3.11+")
def test_pickle_keeps_notes() -> None:
    error = make(ArtifactNotFoundError)
    error.add_note("while syncing DEAL-1")
    again = pickle.loads(pickle.dumps(error))
    assert again.__notes__ == ["while syncing DEAL-1"]


def test_docstring_draws_every_class() -> None:
    doc = errors.__doc__
    assert doc
    for name in errors.__all__:
        assert name in doc, f"{name} is missing from the tree in artifactstore.errors' docstring"
