"""HTTP semantics of serving an artifact, independent of any web framework.

``plan_response`` decides, from an artifact's metadata and the request's method
and headers, what to answer: 200, 206 with one byte range, 304, 412 or 416, with
which headers, and which bytes to send. Preconditions are evaluated in RFC 9110's
order (13.2.2): If-Match, else If-Unmodified-Since (412 when they fail); then
If-None-Match, else If-Modified-Since (304); then Range with If-Range.
``artifactstore.web`` (Starlette) and ``artifactstore.web.aiohttp`` only carry
the plan out.

Validators: the ETag is the artifact's SHA-256 (a strong validator: same bytes,
same tag, on every backend); Last-Modified its modification time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime

from .._disposition import content_disposition, is_active
from ..metadata import DEFAULT_MIME_TYPE, ArtifactMetadata

__all__ = ["ResponsePlan", "plan_response"]


@dataclass(frozen=True)
class ResponsePlan:
    """What to answer: status, headers, and the bytes ``[start, end)`` to send, if any."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    start: int = 0
    end: int = 0
    send_body: bool = False


def _etag(meta: ArtifactMetadata) -> str | None:
    return f'"{meta.sha256}"' if meta.sha256 else None


def _http_date(meta: ArtifactMetadata) -> str:
    moment = meta.last_modified.astimezone(timezone.utc).replace(microsecond=0)
    return format_datetime(moment, usegmt=True)


def _date(value: str) -> datetime | None:
    """An HTTP date, or ``None`` if it is not one (RFC 9110: then the header is ignored)."""
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):  # a year or offset too big for C
        return None
    return when if when.tzinfo is not None else None


def _precondition_failed(
    meta: ArtifactMetadata, headers: Mapping[str, str], etag: str | None
) -> bool:
    """If-Match (strong comparison) or, without it, If-Unmodified-Since does not hold."""
    if_match = headers.get("if-match")
    if if_match is not None:
        if if_match.strip() == "*":
            return False  # the artifact exists
        tags = [t.strip() for t in if_match.split(",")]  # a weak tag (W/...) never matches
        return etag is None or etag not in tags
    since = headers.get("if-unmodified-since")
    when = _date(since) if since is not None else None
    return when is not None and meta.last_modified.replace(microsecond=0) > when


def _not_modified(meta: ArtifactMetadata, headers: Mapping[str, str], etag: str | None) -> bool:
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:  # when present, If-Modified-Since is ignored (RFC 9110)
        if if_none_match.strip() == "*":
            return True
        tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
        return etag is not None and etag in tags
    since = headers.get("if-modified-since")
    when = _date(since) if since is not None else None
    return when is not None and meta.last_modified.replace(microsecond=0) <= when


def _if_range_holds(value: str, etag: str | None, last_modified: str) -> bool:
    value = value.strip()
    if value.startswith("W/"):  # weak validators never satisfy If-Range
        return False
    if etag is not None:
        # A date is weak (two versions may share a second, RFC 9110 8.8.2.2): with
        # an ETag to compare, only the ETag may resume a download.
        return value == etag
    return value == last_modified


class _Unsatisfiable(Exception):
    pass


#: One ``first-pos "-" last-pos`` (either may be empty), with optional spaces or tabs
#: around the parts. Digits are ASCII only: ``str.isdigit()`` also accepts ``²`` (which
#: ``int()`` refuses) and ``int()`` also accepts ``٣``; neither is an HTTP digit.
_BYTE_RANGE = re.compile(r"[ \t]*([0-9]*)[ \t]*-[ \t]*([0-9]*)[ \t]*")
#: Positions with more significant digits than this are past the end of any artifact.
_MAX_DIGITS = 18
_FAR: int = 10**_MAX_DIGITS


def _position(digits: str) -> int:
    """ASCII ``digits`` (already matched) as a position, saturating at ``_FAR``.

    RFC 9110 sets no limit on the digits, but ``int()`` refuses more than 4,300 and
    no artifact is ``10**18`` bytes long: a longer number means "beyond the end".
    """
    significant = digits.lstrip("0")
    if len(significant) > _MAX_DIGITS:
        return _FAR
    return int(significant or "0")


def _single_range(header: str, size: int) -> tuple[int, int] | None:
    """``[start, end)`` of a one-range ``bytes=`` header; ``None`` to ignore it.

    Malformed headers and several ranges are ignored (answered with the whole
    artifact, as RFC 9110 allows); a range starting past the end is unsatisfiable.
    """
    unit, _, spec = header.partition("=")
    if unit.strip(" \t").lower() != "bytes":
        return None
    match = _BYTE_RANGE.fullmatch(spec)  # several ranges (a comma) do not match
    if match is None:
        return None
    first, last = match.groups()
    if first == "":
        if last == "":
            return None
        suffix = _position(last)
        if size == 0:
            return None  # nothing to select from: the whole (empty) artifact, 200
        if suffix == 0:
            raise _Unsatisfiable
        return max(size - suffix, 0), size
    start = _position(first)
    if last != "" and _position(last) < start:
        return None  # last-pos before first-pos: invalid, ignored
    if start >= size:
        raise _Unsatisfiable
    end = size if last == "" else _position(last) + 1
    return start, min(end, size)


def plan_response(
    meta: ArtifactMetadata,
    *,
    method: str,
    headers: Mapping[str, str] | None,
    filename: str | None = None,
    inline: bool = False,
    allow_active: bool = False,
) -> ResponsePlan:
    """Plan the answer to ``method`` with request ``headers`` (lower-case names).

    ``headers=None`` ignores conditional and range requests: always the whole artifact.
    ``inline`` is honoured for active types (HTML, SVG, XML, JavaScript) only with
    ``allow_active``; every answer with the artifact's headers carries
    ``Content-Security-Policy: sandbox``.
    """
    etag = _etag(meta)
    last_modified = _http_date(meta)
    name = filename if filename is not None else meta.storage_key.rsplit("/", 1)[-1]
    mime_type = meta.mime_type or DEFAULT_MIME_TYPE
    shown = inline and (allow_active or not is_active(mime_type))
    base = {
        "content-type": mime_type,
        "last-modified": last_modified,
        "accept-ranges": "bytes",
        "content-disposition": content_disposition(name, shown),
        "x-content-type-options": "nosniff",
        "content-security-policy": "sandbox",
    }
    if etag is not None:
        base["etag"] = etag
    head = method.upper() == "HEAD"
    size = meta.size_bytes
    request = headers or {}
    if headers is not None and _precondition_failed(meta, request, etag):
        return ResponsePlan(412, {"content-length": "0"})
    if headers is not None and _not_modified(meta, request, etag):
        kept = {k: v for k, v in base.items() if k in ("etag", "last-modified")}
        return ResponsePlan(304, kept)
    span: tuple[int, int] | None = None
    range_header = request.get("range")
    if range_header is not None:
        if_range = request.get("if-range")
        if if_range is None or _if_range_holds(if_range, etag, last_modified):
            try:
                span = _single_range(range_header, size)
            except _Unsatisfiable:
                return ResponsePlan(
                    416, {"content-range": f"bytes */{size}", "content-length": "0"}
                )
    if span is not None:
        start, end = span
        headers_206 = {
            **base,
            "content-range": f"bytes {start}-{end - 1}/{size}",
            "content-length": str(end - start),
        }
        return ResponsePlan(206, headers_206, start, end, send_body=not head)
    return ResponsePlan(200, {**base, "content-length": str(size)}, 0, size, send_body=not head)
