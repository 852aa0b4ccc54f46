"""Content-Disposition, and which content types are active (shared by web and S3).

An *active* type is one a browser runs or renders as a document of the origin that
serves it: HTML, XHTML, SVG, any XML (``*/xml`` and ``*+xml``: XSLT and the XHTML
namespace make scripts run), and JavaScript. A counterparty's file of such a type,
shown inline from the application's origin, would run with its cookies: the web
helpers serve them as ``attachment`` unless the application opts in, and S3
presigned URLs ask for ``attachment`` too.
"""

from __future__ import annotations

from urllib.parse import quote

__all__ = ["ACTIVE_TYPES", "content_disposition", "is_active"]

#: Active types that the ``*/xml`` and ``*+xml`` rules do not already cover.
ACTIVE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "text/ecmascript",
        "application/ecmascript",
        "text/jscript",
        "text/livescript",
        "text/x-javascript",
        "text/x-ecmascript",
    }
)


def is_active(mime_type: str | None) -> bool:
    """Whether a browser would run or render ``mime_type`` (parameters and case ignored)."""
    if not mime_type:
        return False
    essence = mime_type.split(";", 1)[0].strip().lower()
    if essence in ACTIVE_TYPES:
        return True
    return essence.endswith("/xml") or essence.endswith("+xml")


def content_disposition(filename: str, inline: bool) -> str:
    """RFC 6266: an ASCII ``filename`` fallback, and ``filename*`` for the real name."""
    kind = "inline" if inline else "attachment"
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "_" for c in filename)
    value = f'{kind}; filename="{fallback}"'
    if fallback != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value
