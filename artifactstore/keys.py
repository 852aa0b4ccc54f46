"""Artifact keys: the rules every key obeys, and their normalization.

A key is a ``/``-separated path of segments, the same on every backend
(``DEAL-42/documents/cim/Project Falcon CIM.pdf``). The deal-team layout
convention (``build_key``, ``CATEGORY_*``, ``SUBCATEGORY_*``) is in
:mod:`artifactstore.layout`, and re-exported here, where it was first defined.

:func:`normalize_key` turns what a caller wrote into the canonical key, or raises
:class:`~artifactstore.errors.InvalidKeyError`. In the spirit of object_store's
``Path``:

* repeated ``/`` and ``.`` segments are collapsed, the result is NFC-normalized;
* refused: empty keys, a leading ``/`` (absolute paths are a store's business, see
  ``ArtifactStore.normalize_key``), a trailing ``/``, ``..`` segments, backslashes,
  NUL and other control characters, a Windows drive (``C:``), segments that are
  traversal in disguise (``%2e%2e``, fullwidth ``．．``, an encoded ``/``),
  segments over 255 UTF-8 bytes, keys over 500 characters (the ``storage_key``
  column), and segments starting with ``.artifactstore`` (the store's bookkeeping).

``normalize_key(normalize_key(k)) == normalize_key(k)`` for every accepted key.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING
from urllib.parse import unquote

from .errors import InvalidKeyError

if TYPE_CHECKING:  # re-exported: imported from .layout on first use, below
    from .layout import (
        CATEGORIES,
        CATEGORY_DOCUMENTS,
        CATEGORY_EMAILS,
        CATEGORY_EXTRACTED,
        CATEGORY_GENERATED,
        SUBCATEGORIES,
        SUBCATEGORY_CIM,
        SUBCATEGORY_FINANCIALS,
        SUBCATEGORY_LOI,
        SUBCATEGORY_RESPONSES,
        SUBCATEGORY_TEASERS,
        build_key,
    )

__all__ = [
    "CATEGORIES",
    "CATEGORY_DOCUMENTS",
    "CATEGORY_EMAILS",
    "CATEGORY_EXTRACTED",
    "CATEGORY_GENERATED",
    "MAX_KEY_LENGTH",
    "MAX_SEGMENT_BYTES",
    "RESERVED_PREFIX",
    "SUBCATEGORIES",
    "SUBCATEGORY_CIM",
    "SUBCATEGORY_FINANCIALS",
    "SUBCATEGORY_LOI",
    "SUBCATEGORY_RESPONSES",
    "SUBCATEGORY_TEASERS",
    "build_key",
    "check_new_key",
    "has_control_characters",
    "is_plain_name",
    "normalize_key",
    "normalize_prefix",
]

#: Longest key accepted, in characters: the ``storage_key VARCHAR(500)`` column.
MAX_KEY_LENGTH = 500
#: Longest segment accepted, in UTF-8 bytes: the usual filesystem name limit.
MAX_SEGMENT_BYTES = 255
#: Segments starting with this, in any case, are the store's own (index, temporary files).
RESERVED_PREFIX = ".artifactstore"

# C0 controls, DEL, C1 controls, bidirectional overrides and line separators. Refused
# outright: they break terminals, logs and HTTP headers, or disguise a name
# ("invoice\u202efdp.exe"), and no artifact name needs them.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_DRIVE = re.compile(r"^[A-Za-z]:$")
# Keys that are already canonical and need none of the checks below: plain ASCII
# segments that do not start with '.', cannot spell a drive, an escape or traversal.
_PLAIN_SEGMENT = r"[A-Za-z0-9_~-][A-Za-z0-9_~. ()+,=@-]{0,254}"
_PLAIN_KEY = re.compile(rf"{_PLAIN_SEGMENT}(?:/{_PLAIN_SEGMENT})*")
_PLAIN_NAME = re.compile(_PLAIN_SEGMENT)


# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt): drawn as
# nothing, so two keys that differ only by them look the same in a listing.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    "\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)


def check_new_key(key: str) -> str:
    """Refuse a normalized key that a new artifact may not take; return it.

    Beyond the rules every key follows (:func:`normalize_key`), a new key may not
    hold default-ignorable code points (zero-width characters, U+061C, variation
    selectors...): they make two keys look the same. Artifacts stored under such
    keys before stay readable, movable and deletable under them.
    """
    found = _INVISIBLE.search(key)
    if found is not None:
        raise _refuse(
            key,
            f"U+{ord(found.group()):04X} is drawn as nothing: a key holding it looks "
            "like another; new artifacts cannot take it",
        )
    return key


def has_control_characters(text: str) -> bool:
    """Whether ``text`` has a character the key rules refuse.

    C0 and C1 controls, DEL, bidirectional overrides and marks, line and paragraph
    separators: the one rule for keys and for metadata values.
    """
    return _CONTROL.search(text) is not None


def is_plain_name(name: str) -> bool:
    """Whether ``name`` is a segment that needs no check: plain ASCII, not reserved.

    A fast path for listings; ``False`` means "check the whole key", not "invalid".
    """
    return _PLAIN_NAME.fullmatch(name) is not None


def _refuse(key: str, why: str) -> InvalidKeyError:
    return InvalidKeyError(f"invalid artifact key {key!r}: {why}", key=key)


def _check_segment(key: str, segment: str) -> None:
    if segment == "..":
        raise _refuse(key, "'..' segments are not allowed (path traversal)")
    if segment[: len(RESERVED_PREFIX)].lower() == RESERVED_PREFIX:  # case-folding file systems
        raise _refuse(key, f"segments starting with {RESERVED_PREFIX!r} are reserved by the store")
    if len(segment.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES:
        raise _refuse(key, f"a segment is longer than {MAX_SEGMENT_BYTES} UTF-8 bytes")
    # Traversal in disguise: what later layers (URL decoders, NFKC-folding file
    # systems or clients), applied once or twice in any order, would turn into '.',
    # '..' or a separator.
    if segment.isascii() and "%" not in segment:
        return
    spellings = {segment}
    for _round in range(3):
        spellings |= {unquote(s) for s in spellings} | {
            unicodedata.normalize("NFKC", s) for s in spellings
        }
    for spelling in spellings - {segment}:
        if spelling in (".", "..") or "/" in spelling or "\\" in spelling or "\x00" in spelling:
            raise _refuse(key, "a segment decodes to a path separator or traversal")
        # A case-insensitive file system folds more than lower() does ("ſ" is "s").
        if spelling.casefold().startswith(RESERVED_PREFIX):
            raise _refuse(key, f"segments spelling {RESERVED_PREFIX!r} are reserved by the store")
    if unicodedata.normalize("NFKC", segment).casefold().startswith(RESERVED_PREFIX):
        raise _refuse(key, f"segments spelling {RESERVED_PREFIX!r} are reserved by the store")


def _is_reserved(name: str) -> bool:
    """Whether a segment of ``name`` is the store's own (``.artifactstore*``, any spelling)."""
    for segment in name.split("/"):
        if segment[: len(RESERVED_PREFIX)].lower() == RESERVED_PREFIX:
            return True
        if not segment.isascii() and (
            unicodedata.normalize("NFKC", segment).casefold().startswith(RESERVED_PREFIX)
        ):
            return True
    return False


def normalize_key(key: str) -> str:
    """Return the canonical form of ``key`` or raise ``InvalidKeyError``.

    Raises ``TypeError`` when ``key`` is not a ``str``.
    """
    if not isinstance(key, str):
        raise TypeError(f"artifact keys are str, not {type(key).__name__}")
    if len(key) <= MAX_KEY_LENGTH and _PLAIN_KEY.fullmatch(key):
        return key  # the common case, on every call: keep it cheap
    if not key:
        raise _refuse(key, "the key is empty")
    if _CONTROL.search(key):
        raise _refuse(key, "control characters (NUL, newline, ...) are not allowed")
    if "\\" in key:
        raise _refuse(key, "backslashes are not allowed; use '/' between segments")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise _refuse(key, "the key is not valid Unicode (lone surrogate)") from None
    if key.startswith("/"):
        raise _refuse(key, "absolute paths are not keys; give the path relative to the store")
    if key.endswith("/"):
        raise _refuse(key, "a key names an artifact, not a folder: remove the trailing '/'")
    normalized = unicodedata.normalize("NFC", key)
    segments = [s for s in normalized.split("/") if s not in ("", ".")]
    if not segments:
        raise _refuse(key, "the key has no name in it")
    if _DRIVE.match(segments[0]):
        raise _refuse(key, "Windows drive paths are not keys")
    for segment in segments:
        _check_segment(key, segment)
    result = "/".join(segments)
    if len(result) > MAX_KEY_LENGTH:
        raise _refuse(key, f"the key is longer than {MAX_KEY_LENGTH} characters")
    return result


def normalize_prefix(prefix: str) -> str:
    """Return the canonical form of a listing prefix (``""`` lists everything).

    A prefix follows the key rules but may be empty and may end with ``/``; it
    always matches whole segments (``DEAL-1`` never matches ``DEAL-10/...``).
    """
    if not isinstance(prefix, str):
        raise TypeError(f"prefixes are str, not {type(prefix).__name__}")
    stripped = prefix.rstrip("/")
    if not stripped:
        if prefix:
            raise _refuse(prefix, "a prefix is relative to the store; '/' alone is not one")
        return ""
    return normalize_key(stripped)


def __getattr__(name: str) -> object:
    # The layout imports normalize_key from here: its names are fetched on first use
    # rather than imported at the top, so that neither module imports the other
    # while it loads.
    from . import layout

    if name in layout.__all__:
        globals().update({exported: getattr(layout, exported) for exported in layout.__all__})
        return getattr(layout, name)
    raise AttributeError(f"module 'artifactstore.keys' has no attribute {name!r}")


def __dir__() -> list[str]:
    from . import layout

    return sorted({*globals(), *layout.__all__})
