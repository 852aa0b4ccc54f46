"""``ArtifactMetadata``, its database row, ``guess_mime_type`` and ``validate_user_metadata``."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

import pytest

from artifactstore.metadata import ArtifactMetadata, guess_mime_type, validate_user_metadata

WHEN = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
SHA = "ab" * 32
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DB_COLUMNS = {"storage_backend", "storage_uri", "storage_key", "sha256", "file_size", "mime_type"}


def make(**overrides: Any) -> ArtifactMetadata:
    fields: dict[str, Any] = {
        "storage_backend": "local",
        "storage_key": "DEAL-1/emails/msg-1.eml",
        "storage_uri": "file:///srv/DataRoom/DEAL-1/emails/msg-1.eml",
        "sha256": SHA,
        "size_bytes": 1234,
        "mime_type": "message/rfc822",
        "last_modified": WHEN,
        "metadata": {"source": "imap"},
    }
    fields.update(overrides)
    return ArtifactMetadata(**fields)


# ------------------------------------------------------------ ArtifactMetadata


def test_fields() -> None:
    meta = make()
    assert meta.storage_backend == "local"
    assert meta.storage_key == "DEAL-1/emails/msg-1.eml"
    assert meta.storage_uri == "file:///srv/DataRoom/DEAL-1/emails/msg-1.eml"
    assert meta.sha256 == SHA
    assert meta.size_bytes == 1234
    assert meta.mime_type == "message/rfc822"
    assert meta.last_modified == WHEN
    assert dict(meta.metadata) == {"source": "imap"}


def test_metadata_defaults_to_empty() -> None:
    meta = ArtifactMetadata(
        storage_backend="local",
        storage_key="k",
        storage_uri="file:///srv/DataRoom/k",
        sha256=None,
        size_bytes=0,
        mime_type=None,
        last_modified=WHEN,
    )
    assert dict(meta.metadata) == {}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("storage_key", "other"),
        ("size_bytes", 1),
        ("sha256", None),
        ("metadata", {}),
        ("last_modified", WHEN),
    ],
)
def test_frozen(name: str, value: object) -> None:
    meta = make()
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(meta, name, value)
    with pytest.raises(dataclasses.FrozenInstanceError):
        delattr(meta, name)


def test_metadata_mapping_is_read_only() -> None:
    meta = make()
    with pytest.raises(TypeError):
        meta.metadata["source"] = "other"  # type: ignore[index]
    with pytest.raises(TypeError):
        meta.metadata["new"] = "x"  # type: ignore[index]
    with pytest.raises(TypeError):
        del meta.metadata["source"]  # type: ignore[attr-defined]
    assert dict(meta.metadata) == {"source": "imap"}


def test_metadata_mapping_is_a_copy() -> None:
    given = {"source": "imap"}
    meta = make(metadata=given)
    given["source"] = "changed"
    given["extra"] = "x"
    assert dict(meta.metadata) == {"source": "imap"}


def test_naive_last_modified_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        make(last_modified=datetime(2024, 1, 2, 3, 4, 5))


def test_any_timezone_accepted() -> None:
    tz = timezone(timedelta(hours=2))
    meta = make(last_modified=WHEN.astimezone(tz))
    assert meta.last_modified == WHEN


def test_equality() -> None:
    assert make() == make()
    assert make(metadata={"source": "imap"}) == make(metadata=MappingProxyType({"source": "imap"}))
    assert make() != make(size_bytes=1)
    assert make() != make(sha256=None)
    assert make() != make(metadata={"source": "other"})
    assert make() != make(storage_backend="s3")


def test_hashable() -> None:
    assert hash(make()) == hash(make())
    assert len({make(), make(), make(size_bytes=1)}) == 2


def test_copy_and_replace() -> None:
    meta = make()
    assert copy.copy(meta) == meta
    changed = dataclasses.replace(meta, size_bytes=1)
    assert changed.size_bytes == 1
    assert changed.metadata == meta.metadata
    with pytest.raises(TypeError):
        changed.metadata["source"] = "x"  # type: ignore[index]


@pytest.mark.parametrize("protocol", [0, pickle.HIGHEST_PROTOCOL])
def test_pickle_round_trip(protocol: int) -> None:
    meta = make()
    again = pickle.loads(pickle.dumps(meta, protocol=protocol))
    assert again == meta
    with pytest.raises(TypeError):
        again.metadata["source"] = "x"


def test_deepcopy() -> None:
    meta = make()
    assert copy.deepcopy(meta) == meta


def test_asdict() -> None:
    assert dataclasses.asdict(make())["metadata"] == {"source": "imap"}


def test_to_db_row() -> None:
    row = make().to_db_row()
    assert isinstance(row, dict)
    assert set(row) == DB_COLUMNS
    assert row == {
        "storage_backend": "local",
        "storage_uri": "file:///srv/DataRoom/DEAL-1/emails/msg-1.eml",
        "storage_key": "DEAL-1/emails/msg-1.eml",
        "sha256": SHA,
        "file_size": 1234,
        "mime_type": "message/rfc822",
    }


def test_to_db_row_with_unknowns() -> None:
    row = make(sha256=None, mime_type=None, size_bytes=0).to_db_row()
    assert row["sha256"] is None
    assert row["mime_type"] is None
    assert row["file_size"] == 0


@pytest.mark.parametrize(
    ("column", "limit"),
    [("storage_uri", 1024), ("storage_key", 500), ("storage_backend", 50)],
)
def test_to_db_row_column_limits(column: str, limit: int) -> None:
    fits = make(**{column: "x" * limit}).to_db_row()
    assert fits[column] == "x" * limit  # type: ignore[literal-required]
    too_long = make(**{column: "x" * (limit + 1)})
    with pytest.raises(ValueError, match=column):
        too_long.to_db_row()


# ---------------------------------------------------------------- guess_mime_type


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("DEAL-1/emails/msg-1.eml", "message/rfc822"),
        ("a.pdf", "application/pdf"),
        ("DEAL-1/documents/financials/model.xlsx", XLSX),
        (
            "DEAL-1/documents/cim/deck.pptx",
            ("application/vnd.openxmlformats-officedocument.presentationml.presentation"),
        ),
        ("letter.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("notes.md", "text/markdown"),
        ("data.json", "application/json"),
        ("data.csv", "text/csv"),
        ("image.png", "image/png"),
        # Case-insensitive extensions.
        ("MSG-1.EML", "message/rfc822"),
        ("A.PDF", "application/pdf"),
        ("Model.XlSx", XLSX),
        ("IMAGE.PNG", "image/png"),
        # Unknown or missing extensions.
        ("file.unknownext", "application/octet-stream"),
        ("README", "application/octet-stream"),
        ("DEAL-1/extracted/noext", "application/octet-stream"),
        # Only the last segment's extension counts.
        ("folder.pdf/file", "application/octet-stream"),
    ],
)
def test_guess_mime_type(key: str, expected: str) -> None:
    assert guess_mime_type(key) == expected


# ------------------------------------------------------------ validate_user_metadata


def test_validate_none_and_empty() -> None:
    assert validate_user_metadata(None) == {}
    assert validate_user_metadata({}) == {}


def test_validate_copies_and_lower_cases_names() -> None:
    given = {"Source": "IMAP", "X-Deal-Id": "DEAL-1", "a_b.c-d": "Mixed Case Value"}
    result = validate_user_metadata(given)
    assert result == {"source": "IMAP", "x-deal-id": "DEAL-1", "a_b.c-d": "Mixed Case Value"}
    assert result is not given
    assert type(result) is dict
    assert validate_user_metadata(MappingProxyType({"k": "v"})) == {"k": "v"}


def test_validate_allows_empty_and_unicode_values() -> None:
    assert validate_user_metadata({"k": "", "name": "Résumé ✓"}) == {"k": "", "name": "Résumé ✓"}


@pytest.mark.parametrize(
    "metadata",
    [
        {"k": 1},
        {"k": None},
        {"k": b"v"},
        {"k": ["v"]},
        {1: "v"},
        {b"k": "v"},
    ],
)
def test_validate_non_str_refused(metadata: Any) -> None:
    with pytest.raises(TypeError):
        validate_user_metadata(metadata)


@pytest.mark.parametrize("metadata", [[("k", "v")], "k=v", 1, {"k"}, (("k", "v"),)])
def test_validate_non_mapping_refused(metadata: Any) -> None:
    with pytest.raises(TypeError):
        validate_user_metadata(metadata)


@pytest.mark.parametrize(
    "name", ["", "has space", "a:b", "a/b", "é", "name\n", "x\x00", "a=b", "k\t", "ünicode"]
)
def test_validate_bad_names_refused(name: str) -> None:
    with pytest.raises(ValueError, match="name"):
        validate_user_metadata({name: "v"})


def test_validate_non_ascii_name_that_lowers_to_ascii_refused() -> None:
    # U+212A KELVIN SIGN lower-cases to ASCII 'k': the check runs on the lowered name.
    with pytest.raises(ValueError, match="name"):
        validate_user_metadata({"\u212a": "v"})


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "\x00", "a\x7f", "tab\there", "\x1f"])
def test_validate_control_chars_in_values_refused(value: str) -> None:
    with pytest.raises(ValueError, match="control"):
        validate_user_metadata({"k": value})


@pytest.mark.parametrize(
    "metadata", [{"Key": "1", "key": "2"}, {"a": "1", "A": "1"}, {"X-ID": "1", "x-id": "2"}]
)
def test_validate_duplicate_names_refused(metadata: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="twice"):
        validate_user_metadata(metadata)


def test_validate_size_limit() -> None:
    # 1900 bytes of names and UTF-8 values: S3's 2 KB less the store's SHA-256 field.
    assert validate_user_metadata({"k": "v" * 1899}) == {"k": "v" * 1899}
    assert len(validate_user_metadata({f"k{i:03d}": "v" * 10 for i in range(130)})) == 130
    with pytest.raises(ValueError, match="1900 bytes"):
        validate_user_metadata({"k": "v" * 1900})
    with pytest.raises(ValueError, match="1900 bytes"):
        validate_user_metadata({"a": "v" * 1000, "b": "v" * 899})
    # Values count in UTF-8 bytes, not characters.
    with pytest.raises(ValueError, match="1900 bytes"):
        validate_user_metadata({"k": "\u00e9" * 950})
