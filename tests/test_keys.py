"""The key rules: ``normalize_key``, ``normalize_prefix`` and ``build_key``."""

from __future__ import annotations

import os
import pathlib
import posixpath
import unicodedata
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from artifactstore import keys
from artifactstore.errors import ArtifactStoreError, InvalidKeyError
from artifactstore.keys import (
    CATEGORY_DOCUMENTS,
    CATEGORY_EMAILS,
    CATEGORY_EXTRACTED,
    CATEGORY_GENERATED,
    MAX_KEY_LENGTH,
    MAX_SEGMENT_BYTES,
    RESERVED_PREFIX,
    SUBCATEGORY_CIM,
    SUBCATEGORY_FINANCIALS,
    SUBCATEGORY_LOI,
    SUBCATEGORY_RESPONSES,
    SUBCATEGORY_TEASERS,
    build_key,
    normalize_key,
    normalize_prefix,
)

ROOT = "/root/"


def assert_refused(key: str) -> InvalidKeyError:
    """``normalize_key(key)`` raises an ``InvalidKeyError`` that names the key."""
    with pytest.raises(InvalidKeyError) as info:
        normalize_key(key)
    error = info.value
    assert isinstance(error, ValueError)
    assert isinstance(error, ArtifactStoreError)
    assert error.key == key
    assert repr(key) in str(error)
    return error


def stays_inside_root(key: str) -> bool:
    return os.path.normpath(ROOT + key).startswith(ROOT)


# ------------------------------------------------------------------ accepted keys


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("DEAL-1/emails/msg-1.eml", "DEAL-1/emails/msg-1.eml"),
        (
            "DEAL-42/documents/cim/Project Falcon CIM.pdf",
            "DEAL-42/documents/cim/Project Falcon CIM.pdf",
        ),
        ("report.pdf", "report.pdf"),
        # Unicode: kept, NFD comes out NFC.
        ("e\u0301", "\u00e9"),
        ("DEAL-1/Re\u0301sume\u0301.pdf", "DEAL-1/R\u00e9sum\u00e9.pdf"),
        ("\u00e9", "\u00e9"),
        ("日本語/ファイル.pdf", "日本語/ファイル.pdf"),
        ("deal/😀 emoji.txt", "deal/😀 emoji.txt"),
        # Repeated slashes and '.' segments collapse.
        ("a//b/./c", "a/b/c"),
        ("a///b", "a/b"),
        ("./a", "a"),
        ("a/.", "a"),
        ("./././a/./b", "a/b"),
        # Spaces and '%' that is not traversal.
        ("name with  spaces.txt", "name with  spaces.txt"),
        (" leading and trailing ", " leading and trailing "),
        ("50% off.pdf", "50% off.pdf"),
        ("a/100%", "a/100%"),
        ("%41bc", "%41bc"),
        # Dots that are not '.' or '..' segments.
        ("a/.../b", "a/.../b"),
        ("..foo", "..foo"),
        ("foo..", "foo.."),
        (".hidden", ".hidden"),
        (".artifactstor", ".artifactstor"),
        ("a/artifactstore", "a/artifactstore"),
        # A drive letter is only refused as the first segment on its own.
        ("c:x", "c:x"),
        ("a/C:", "a/C:"),
    ],
)
def test_accepted(key: str, expected: str) -> None:
    assert normalize_key(key) == expected
    assert normalize_key(expected) == expected


def test_key_of_exactly_max_length() -> None:
    assert MAX_KEY_LENGTH == 500
    two_segments = "x" * 250 + "/" + "y" * 249
    many_segments = "abcd/" * 99 + "abcde"
    for key in (two_segments, many_segments):
        assert len(key) == 500
        assert normalize_key(key) == key


def test_length_is_counted_after_normalizing() -> None:
    # 600 characters as written, 3 once the '.' segments are gone.
    assert normalize_key("a/" + "./" * 299 + "b") == "a/b"


@pytest.mark.parametrize(
    "segment",
    [
        "x" * 255,
        "\u00e9" * 127 + "x",  # 2-byte characters
        "\u20ac" * 85,  # 3-byte characters
        "😀" * 63 + "abc",  # 4-byte characters
        "e\u0301" * 100,  # 300 bytes as NFD, 200 as NFC
    ],
)
def test_segment_of_max_bytes(segment: str) -> None:
    assert MAX_SEGMENT_BYTES == 255
    normalized = unicodedata.normalize("NFC", segment)
    assert len(normalized.encode("utf-8")) <= 255
    assert normalize_key(f"DEAL-1/{segment}") == f"DEAL-1/{normalized}"


# ------------------------------------------------------------------ refused keys


@pytest.mark.parametrize(
    "key",
    [
        # Empty, absolute, folder-like.
        "",
        "/",
        "//",
        ".",
        "./",
        "./.",
        "a/",
        "a/./",
        "/abs/path",
        "//abs",
        # Traversal.
        "..",
        "../a",
        "a/../b",
        "a/..",
        "a/./../b",
        # Backslashes.
        "a\\b",
        "\\",
        "..\\x",
        "\\\\server\\share",
        # Control characters: NUL, newline, tab, CR, US, DEL, C1.
        "a\x00b",
        "\x00",
        "a\nb",
        "a/b\n",
        "a\tb",
        "a\rb",
        "a\x1fb",
        "a\x7fb",
        "a\x85b",
        "a\x9f",
        # Windows drives.
        "C:/x",
        "c:/x",
        "C:",
        "./C:/x",
        # Traversal in disguise.
        "%2e%2e/x",
        "%2E%2E/x",
        "%2E./x",
        ".%2e/x",
        "a/%2e%2e/b",
        "%2e",
        "a/%2F",
        "a%2fb",
        "a/%5c",
        "a/%00",
        "..%2f",
        "\uff0e\uff0e",
        "\uff0e\uff0e/x",
        "a/\uff0e",
        "a/\u2025",  # TWO DOT LEADER, NFKC '..'
        "a/\uff0fb",  # FULLWIDTH SOLIDUS, NFKC '/'
        "a/\uff3cb",  # FULLWIDTH REVERSE SOLIDUS, NFKC '\'
        # Too long: a segment over 255 UTF-8 bytes, a key over 500 characters.
        "x" * 256,
        "a/" + "x" * 256,
        "\u00e9" * 128,
        "\u20ac" * 85 + "x",
        "😀" * 64,
        "x" * 250 + "/" + "y" * 250,
        "abcd/" * 100 + "e",
        # The store's bookkeeping.
        RESERVED_PREFIX,
        ".artifactstore/x",
        "a/.artifactstore",
        "a/.artifactstore.tmp",
        "a/.artifactstore-index/b",
        # Not valid Unicode.
        "\ud800",
        "a/\udc80b",
        "\ud83d\ude00",  # a surrogate pair spelled as two code points
    ],
)
def test_refused(key: str) -> None:
    assert_refused(key)


@pytest.mark.parametrize("key", [None, b"x", 1, 1.5, bytearray(b"x"), pathlib.PurePosixPath("a")])
def test_non_str_keys_are_a_type_error(key: object) -> None:
    with pytest.raises(TypeError):
        normalize_key(key)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        normalize_prefix(key)  # type: ignore[arg-type]


def test_type_error_is_not_an_invalid_key_error() -> None:
    with pytest.raises(TypeError) as info:
        normalize_key(b"a/b")  # type: ignore[arg-type]
    assert not isinstance(info.value, InvalidKeyError)


# ----------------------------------------------------------------- properties

_SPECIAL_CHARS = [
    "/",
    ".",
    "\\",
    "%",
    ":",
    "~",
    " ",
    "2",
    "e",
    "E",
    "f",
    "F",
    "C",
    "\x00",
    "\n",
    "\t",
    "\x1f",
    "\x7f",
    "\x85",
    "\x9f",
    "\u00a0",
    "\u0301",
    "\u0338",
    "\u2025",
    "\u2028",
    "\u202e",
    "\ufe52",
    "\uff05",
    "\uff0e",
    "\uff0f",
    "\uff3c",
    "\ud800",
    "\udfff",
    "\U0001f600",
]
_CHARS = st.one_of(
    st.sampled_from(_SPECIAL_CHARS),
    st.characters(),
    st.characters(max_codepoint=0x7F),
)
_PROPERTY_SETTINGS = settings(
    max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def check_accepted_key(key: str) -> None:
    """Every invariant of a key ``normalize_key`` returned."""
    assert normalize_key(key) == key
    assert key
    assert not key.startswith("/")
    assert not key.endswith("/")
    assert len(key) <= MAX_KEY_LENGTH
    assert unicodedata.is_normalized("NFC", key)
    assert "\\" not in key
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in key)
    for segment in key.split("/"):
        assert segment not in ("", ".", "..")
        assert len(segment.encode("utf-8")) <= MAX_SEGMENT_BYTES
        assert not segment.startswith(RESERVED_PREFIX)
    assert stays_inside_root(key)
    assert posixpath.normpath(key) == key
    # A single later decoding layer (URL decoding, NFKC folding) keeps it inside too.
    for decoded in (unquote(key), unicodedata.normalize("NFKC", key)):
        assert stays_inside_root(decoded)
        assert "\\" not in decoded
        assert "\x00" not in decoded


@_PROPERTY_SETTINGS
@given(st.text(alphabet=_CHARS, max_size=40))
def test_property_arbitrary_text(text: str) -> None:
    try:
        key = normalize_key(text)
    except InvalidKeyError as error:
        refused = error
    else:
        check_accepted_key(key)
        return
    assert refused.key == text


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(["a", "é", "/", ".", "😀", "\u0301"]), max_size=700))
def test_property_long_text(text: str) -> None:
    try:
        key = normalize_key(text)
    except InvalidKeyError:
        return
    check_accepted_key(key)


_TRAVERSAL_PIECES = [
    "..",
    ".",
    "%2e%2e",
    "%2E.",
    ".%2e",
    "%2e",
    "．．",
    "．",
    "‥",
    "/",
    "//",
    "\\",
    "./",
    "../",
    "..%2f",
    "%2f",
    "%2F..",
    "%5c",
    "%00",
    "C:",
    "~",
    RESERVED_PREFIX,
]
_NAMES = st.text(alphabet="abcXYZ019-_ .é%", min_size=1, max_size=6)
_TRAVERSAL_KEYS = st.lists(
    st.one_of(st.sampled_from(_TRAVERSAL_PIECES), _NAMES), min_size=1, max_size=12
).map("".join)


@_PROPERTY_SETTINGS
@given(_TRAVERSAL_KEYS)
def test_property_traversal_never_escapes(text: str) -> None:
    try:
        key = normalize_key(text)
    except InvalidKeyError:
        return
    check_accepted_key(key)
    # What was written, not only what came out, names a place inside the root.
    assert stays_inside_root(text)


@_PROPERTY_SETTINGS
@given(st.text(alphabet=_CHARS, max_size=30))
def test_property_prefix(text: str) -> None:
    try:
        prefix = normalize_prefix(text)
    except InvalidKeyError:
        return
    if prefix:
        check_accepted_key(prefix)
        assert normalize_prefix(prefix) == prefix
        assert normalize_prefix(prefix + "/") == prefix
    else:
        assert text == ""


_PARTS = st.one_of(
    st.sampled_from(["DEAL-1", "emails", "a.pdf", ".", "..", "", "%2e%2e", "．．", "C:"]),
    st.text(alphabet=_CHARS, max_size=12),
)


@_PROPERTY_SETTINGS
@given(_PARTS, _PARTS, _PARTS, st.one_of(st.none(), _PARTS))
def test_property_build_key_parts_are_single_segments(
    deal_id: str, category: str, filename: str, subcategory: str | None
) -> None:
    parts = [deal_id, category] + ([] if subcategory is None else [subcategory]) + [filename]
    try:
        key = build_key(deal_id, category, filename, subcategory)
    except InvalidKeyError:
        return
    check_accepted_key(key)
    assert key.split("/") == [unicodedata.normalize("NFC", p) for p in parts]


# -------------------------------------------------------------- normalize_prefix


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("", ""),
        ("DEAL-1", "DEAL-1"),
        ("DEAL-1/", "DEAL-1"),
        ("DEAL-1//", "DEAL-1"),
        ("DEAL-1/emails/", "DEAL-1/emails"),
        ("./DEAL-1/./emails/", "DEAL-1/emails"),
        ("Re\u0301sume\u0301/", "R\u00e9sum\u00e9"),
    ],
)
def test_normalize_prefix(prefix: str, expected: str) -> None:
    assert normalize_prefix(prefix) == expected


@pytest.mark.parametrize(
    "prefix", ["/", "//", "/DEAL-1/", "a/../b", "../", "..", "a\\b/", "%2e%2e/", ".artifactstore/"]
)
def test_normalize_prefix_refused(prefix: str) -> None:
    with pytest.raises(InvalidKeyError) as info:
        normalize_prefix(prefix)
    assert isinstance(info.value, ValueError)
    assert info.value.key is not None


# --------------------------------------------------------------------- build_key


def test_category_constants() -> None:
    assert CATEGORY_EMAILS == "emails"
    assert CATEGORY_DOCUMENTS == "documents"
    assert CATEGORY_GENERATED == "generated"
    assert CATEGORY_EXTRACTED == "extracted"
    assert SUBCATEGORY_CIM == "cim"
    assert SUBCATEGORY_TEASERS == "teasers"
    assert SUBCATEGORY_FINANCIALS == "financials"
    assert SUBCATEGORY_LOI == "loi"
    assert SUBCATEGORY_RESPONSES == "responses"


def test_subcategories_layout() -> None:
    assert keys.SUBCATEGORIES == {
        "emails": (),
        "documents": ("cim", "teasers", "financials"),
        "generated": ("loi", "responses"),
        "extracted": (),
    }
    assert keys.CATEGORIES == ("emails", "documents", "generated", "extracted")


def test_build_key() -> None:
    assert build_key("DEAL-1", CATEGORY_EMAILS, "msg-1.eml") == "DEAL-1/emails/msg-1.eml"
    assert (
        build_key("DEAL-42", CATEGORY_DOCUMENTS, "Project Falcon CIM.pdf", SUBCATEGORY_CIM)
        == "DEAL-42/documents/cim/Project Falcon CIM.pdf"
    )
    assert (
        build_key("DEAL-1", CATEGORY_GENERATED, "loi.docx", subcategory=SUBCATEGORY_LOI)
        == "DEAL-1/generated/loi/loi.docx"
    )
    assert build_key("DEAL-1", CATEGORY_EXTRACTED, "t.json") == "DEAL-1/extracted/t.json"


def test_build_key_custom_category_and_nfc() -> None:
    expected = "DEAL-1/notes/R\u00e9sum\u00e9.md"
    assert build_key("DEAL-1", "notes", "Re\u0301sume\u0301.md") == expected
    assert build_key("DEAL 1", "emails", "50% off.pdf") == "DEAL 1/emails/50% off.pdf"


def test_build_key_is_accepted_by_normalize_key() -> None:
    key = build_key("DEAL-1", CATEGORY_DOCUMENTS, "a.pdf", SUBCATEGORY_TEASERS)
    assert normalize_key(key) == key


@pytest.mark.parametrize(
    ("deal_id", "category", "filename", "subcategory"),
    [
        # '/' in a part.
        ("DEAL-1/x", "emails", "a.eml", None),
        ("DEAL-1", "emails/x", "a.eml", None),
        ("DEAL-1", "emails", "sub/a.eml", None),
        ("DEAL-1", "documents", "a.pdf", "cim/x"),
        ("DEAL-1", "emails", "/a.eml", None),
        ("DEAL-1", "emails", "a.eml/", None),
        # Traversal.
        ("..", "emails", "a.eml", None),
        ("DEAL-1", "..", "a.eml", None),
        ("DEAL-1", "emails", "..", None),
        ("DEAL-1", "documents", "a.pdf", ".."),
        ("DEAL-1", "emails", "%2e%2e", None),
        ("DEAL-1", "emails", "\uff0e\uff0e", None),
        # Empty and '.' parts.
        ("", "emails", "a.eml", None),
        ("DEAL-1", "", "a.eml", None),
        ("DEAL-1", "emails", "", None),
        ("DEAL-1", "documents", "a.pdf", ""),
        (".", "emails", "a.eml", None),
        ("DEAL-1", "emails", ".", None),
        # Reserved names.
        (".artifactstore", "emails", "a.eml", None),
        ("DEAL-1", ".artifactstore", "a.eml", None),
        ("DEAL-1", "emails", ".artifactstore.tmp", None),
        ("DEAL-1", "documents", "a.pdf", ".artifactstore"),
        # Other key rules.
        ("DEAL-1", "emails", "a\\b.eml", None),
        ("DEAL-1", "emails", "a\x00.eml", None),
        ("DEAL-1", "emails", "x" * 256, None),
        ("C:", "emails", "a.eml", None),
    ],
)
def test_build_key_refused(
    deal_id: str, category: str, filename: str, subcategory: str | None
) -> None:
    with pytest.raises(InvalidKeyError) as info:
        build_key(deal_id, category, filename, subcategory)
    assert isinstance(info.value, ValueError)
    assert info.value.key is not None


def test_build_key_too_long() -> None:
    with pytest.raises(InvalidKeyError):
        build_key("d" * 200, "c" * 200, "f" * 200)


@pytest.mark.parametrize(
    ("deal_id", "category", "filename", "subcategory"),
    [
        (None, "emails", "a.eml", None),
        (1, "emails", "a.eml", None),
        ("DEAL-1", b"emails", "a.eml", None),
        ("DEAL-1", "emails", b"a.eml", None),
        ("DEAL-1", "emails", pathlib.PurePosixPath("a.eml"), None),
        ("DEAL-1", "documents", "a.pdf", 3),
        ("DEAL-1", "documents", "a.pdf", b"cim"),
    ],
)
def test_build_key_non_str_parts(
    deal_id: object, category: object, filename: object, subcategory: object
) -> None:
    with pytest.raises(TypeError):
        build_key(deal_id, category, filename, subcategory)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "key",
    [
        "\uff052e\uff052e/x",  # fullwidth '%': NFKC, then URL-decoding, gives '..'
        "%EF%BC%8E%EF%BC%8E/x",  # URL-decoding, then NFKC, gives '..'
        "%252e%252e/x",  # encoded twice
        "a/%255c/b",  # a backslash, encoded twice
        "invoice\u202efdp.exe",  # a right-to-left override disguising the extension
        "line\u2028separator",
        "mark\u200fhere",
    ],
)
def test_layered_disguises_and_invisible_controls_refused(key: str) -> None:
    with pytest.raises(InvalidKeyError):
        normalize_key(key)


def test_emoji_sequences_with_joiners_accepted() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467.png"
    assert normalize_key(f"DEAL-1/{family}") == f"DEAL-1/{family}"


@pytest.mark.parametrize("key", [".ARTIFACTSTORE/index.sqlite3", "a/.ArtifactStore.x.tmp"])
def test_reserved_names_in_any_case_refused(key: str) -> None:
    with pytest.raises(InvalidKeyError, match="reserved"):
        normalize_key(key)


@pytest.mark.parametrize(
    "key",
    [
        ".artifact\u017ftore/index.sqlite3",  # long s: "s" once a file system folds case
        "DEAL-1/.artifact\u017ftore.0badc0de-1-0.tmp",
        "\uff0eartifactstore/index.sqlite3",  # fullwidth full stop: "." under NFKC
        ".ARTIFACT\u017fTORE",
    ],
)
def test_reserved_names_in_any_folded_spelling_are_refused(key: str) -> None:
    with pytest.raises(InvalidKeyError, match="reserved"):
        normalize_key(key)


@pytest.mark.parametrize("invisible", ["\u200b", "\u200d", "\u061c", "\ufeff", "\u00ad", "\ufe0f"])
async def test_new_keys_refuse_what_is_drawn_as_nothing(
    tmp_path: pathlib.Path, invisible: str
) -> None:
    # Issue 23, item 9: "cim.pdf" and "ci\u200bm.pdf" look the same in ls.
    from artifactstore import LocalFilesystemArtifactStore

    key = f"DEAL-1/ci{invisible}m.pdf"
    async with LocalFilesystemArtifactStore(tmp_path / "room") as store:
        with pytest.raises(InvalidKeyError, match="drawn as nothing"):
            await store.put(key, b"x")
        await store.put("DEAL-1/cim.pdf", b"cim")
        with pytest.raises(InvalidKeyError):
            await store.copy("DEAL-1/cim.pdf", key)
        assert [m.storage_key async for m in store.list()] == ["DEAL-1/cim.pdf"]
        # One stored before (here: by another tool) stays readable, movable, deletable.
        (tmp_path / "room" / key).write_bytes(b"old")
        assert await store.get(key) == b"old"
        await store.move(key, "DEAL-1/renamed.pdf")
        assert await store.get("DEAL-1/renamed.pdf") == b"old"
