"""User metadata as S3 receives it: ``x-amz-meta-*`` headers, and their 2 KiB budget.

HTTP headers carry ASCII only, so a value with other characters travels as one
RFC 2047 encoded-word, ``=?UTF-8?B?{base64 of its UTF-8}?=``; so does an ASCII
value that would otherwise read back as something else (one containing an
encoded-word), so every value reads back exactly as it was given.

Reading decodes with the standard library (``email.header``), which takes what
other tools write as well: the Q form, any letter case, several encoded-words in
one value, other charsets. A value that does not decode (an unknown charset,
bytes that are not in their charset) is returned as it is stored.

Read back, a value is held to the rule ``put`` applies to values (that of keys,
``keys.has_control_characters``: C0 and C1 controls, DEL, bidirectional overrides
and marks, line and paragraph separators). Other tools can write such characters,
raw or RFC 2047-encoded (ESC, BEL, CSI sequences, U+202E): each one is shown
escaped, as a backslash, ``u`` and four hex digits (ESC: ``u001b`` after the
backslash), never passed on raw. Escaped rather than dropped, so nothing the
object carries is hidden, and the value can be put again as it is read
(``copy_artifacts`` does).

S3 limits user metadata to 2 KiB, counted on what it receives: names plus values
as sent, so an encoded value counts 4 bytes for every 3 of its UTF-8, plus 12.
``check_budget`` counts that way, before any request.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from email.errors import HeaderParseError
from email.header import decode_header, make_header

from ...keys import has_control_characters
from ...metadata import MAX_USER_METADATA_BYTES

__all__ = [
    "S3_METADATA_LIMIT",
    "SHA_FIELD",
    "check_budget",
    "decode",
    "decode_value",
    "encode",
    "encode_value",
    "escape_controls",
    "sent_size",
]

#: The store's own field: the SHA-256 of the object, 64 hex digits.
SHA_FIELD = "artifactstore-sha256"
#: S3's limit on user metadata: names plus values, as sent. The user's budget
#: (``MAX_USER_METADATA_BYTES``) and this field together stay within it.
S3_METADATA_LIMIT = 2048


def encode_value(value: str) -> str:
    """The header value S3 is sent for ``value``: itself, or one encoded-word."""
    # Plain ASCII goes as it is, unless decoding would change it, or HTTP would trim
    # it (leading and trailing whitespace of a header value is not kept).
    if value.isascii() and decode_value(value) == value and value == value.strip():
        return value
    return f"=?UTF-8?B?{base64.b64encode(value.encode()).decode('ascii')}?="


def decode_value(value: str) -> str:
    """A header value as read back: encoded-words decoded, anything else as it is."""
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (HeaderParseError, LookupError, UnicodeError, ValueError):
        return value  # not a well-formed encoded-word: someone's literal text


# Decoding imports codecs on first use (raw-unicode-escape, the charsets): do it
# at import, not on an event loop in the middle of a get_metadata.
decode_value("=?UTF-8?B?YQ==?= =?utf-8?q?a?= =?iso-8859-1?q?a?= =?us-ascii?q?a?=")


def encode(metadata: Mapping[str, str]) -> dict[str, str]:
    """The ``Metadata`` argument of a write: every value as it is sent."""
    return {name: encode_value(value) for name, value in metadata.items()}


def decode(metadata: Mapping[str, str]) -> dict[str, str]:
    """The ``Metadata`` of a HEAD or GET answer, decoded, control characters escaped."""
    return {name: escape_controls(decode_value(value)) for name, value in metadata.items()}


def escape_controls(value: str) -> str:
    """``value`` with each character the key rules refuse escaped: backslash, ``u``, 4 hex."""
    if not has_control_characters(value):
        return value
    return "".join(f"\\u{ord(c):04x}" if has_control_characters(c) else c for c in value)


def sent_size(encoded: Mapping[str, str]) -> int:
    """What S3 counts against its limit: the bytes of every name and value as sent."""
    return sum(len(name.encode()) + len(value.encode()) for name, value in encoded.items())


def check_budget(metadata: Mapping[str, str]) -> None:
    """Refuse (``ValueError``) user metadata larger than the budget once encoded."""
    size = sent_size(encode(metadata))
    if size > MAX_USER_METADATA_BYTES:
        raise ValueError(
            f"metadata is {size} bytes as sent to S3, over the {MAX_USER_METADATA_BYTES}-byte "
            "budget (S3's 2 KiB less the store's own SHA-256 field): non-ASCII values travel "
            "RFC 2047-encoded, 4 bytes for every 3 of their UTF-8 plus 12; shorten them, or "
            "store big data as an artifact"
        )
