"""Signed, expiring download links: the local backend's answer to S3's presigned URLs.

A link is ``{base}/{key}?expires={unix time}&sha256={hex}&signature={hex}``, the
signature an HMAC-SHA256 over the artifact's SHA-256, the expiry and the exact key,
with a secret shared by whoever makes links
(``LocalFilesystemArtifactStore(url_base=..., url_secret=...)``) and whoever serves
them (``artifactstore.web.download_app``). A link for one key cannot be pointed at
another (re-targeted), extended, re-bound to other bytes, or guessed; it is checked
in constant time. Such a link names a document: ``download_app`` answers 410 Gone
once the artifact at the key has other bytes. A key-bound link (no ``sha256``:
``url_binding="key"``, and every link issued before links were bound) signs the
expiry and the key only, and serves whatever is at the key. The two kinds sign
different messages (a bound one starts with ``sha256:``), so neither can pass for
the other.

Every function here that takes a secret refuses one shorter than
``MIN_SECRET_LENGTH`` (``check_secret``: one rule for the environment, the store's
options, the web apps and direct calls).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from typing import TypeGuard
from urllib.parse import quote, urlsplit

from .errors import StorageConfigError

__all__ = [
    "MIN_SECRET_LENGTH",
    "check_link_settings",
    "check_secret",
    "is_sha256",
    "sign",
    "signed_url",
    "verify",
]

#: Shortest secret accepted, in bytes (a ``str`` counts its UTF-8 bytes): a link's
#: whole security is the secret.
MIN_SECRET_LENGTH = 32

#: What a link's parameters look like; anything else is refused before any arithmetic
#: or comparison. ``expires``: up to 12 ASCII digits (Unix time, until year 33658).
_EXPIRES = re.compile(r"[0-9]{1,12}")
#: ``signature``: a SHA-256 HMAC as ``hexdigest()`` spells it; ``sha256`` the same form.
_SIGNATURE = re.compile(r"[0-9a-f]{64}")


def check_secret(secret: object, *, setting: str = "url_secret") -> bytes:
    """``secret`` as bytes, or a ``StorageConfigError`` if it is shorter than 32 bytes.

    A ``TypeError`` if it is neither ``str`` nor bytes. ``setting`` names the option
    or variable it came from, in the error's message and ``setting``; the secret
    itself is never in a message.
    """
    if isinstance(secret, str):
        data = secret.encode("utf-8", "surrogatepass")
    elif isinstance(secret, (bytes, bytearray, memoryview)):
        data = bytes(secret)
    else:
        raise TypeError(f"{setting}: a link secret is str or bytes, not {type(secret).__name__}")
    if len(data) < MIN_SECRET_LENGTH:
        raise StorageConfigError(
            f"{setting} must be at least {MIN_SECRET_LENGTH} characters long "
            "(for example: python -c 'import secrets; print(secrets.token_urlsafe(32))')",
            setting=setting,
        )
    return data


def check_link_settings(url_base: str | None, url_secret: str | bytes | None) -> None:
    """Refuse half or weak link settings with a ``StorageConfigError``."""
    if url_base is None and url_secret is None:
        return
    if url_base is None or url_secret is None:
        raise StorageConfigError(
            "signed download links need both ARTIFACT_URL_BASE and ARTIFACT_URL_SECRET",
            setting="ARTIFACT_URL_BASE" if url_base is None else "ARTIFACT_URL_SECRET",
        )
    parts = urlsplit(url_base)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        raise StorageConfigError(
            "ARTIFACT_URL_BASE must be an http(s) URL such as https://example.com/downloads",
            setting="ARTIFACT_URL_BASE",
        )
    check_secret(url_secret, setting="ARTIFACT_URL_SECRET")


def _sign(secret: bytes, key: str, expires: int, sha256: str | None) -> str:
    message = f"{expires}\n{key}" if sha256 is None else f"sha256:{sha256}\n{expires}\n{key}"
    return hmac.new(secret, message.encode(), hashlib.sha256).hexdigest()


def is_sha256(value: object) -> TypeGuard[str]:
    """Whether ``value`` is a SHA-256 as links carry it: 64 lower-case hex digits."""
    return isinstance(value, str) and _SIGNATURE.fullmatch(value) is not None


def sign(secret: str | bytes, key: str, expires: int, *, sha256: str | None = None) -> str:
    """The signature of a link to ``key`` valid until ``expires`` (Unix time).

    With ``sha256`` (hex), the link is bound to the artifact with that SHA-256;
    without, to the key (whatever is stored there).
    """
    if sha256 is not None and not is_sha256(sha256):
        raise ValueError("sha256 must be 64 lower-case hex digits")
    return _sign(check_secret(secret, setting="secret"), key, expires, sha256)


def signed_url(
    base: str,
    secret: str | bytes,
    key: str,
    expires_in: int,
    *,
    now: float | None = None,
    sha256: str | None = None,
) -> str:
    """A link to ``key`` under ``base``, valid for ``expires_in`` seconds.

    With ``sha256``, bound to that version of the artifact (see ``sign``).
    """
    expires = int(time.time() if now is None else now) + expires_in
    path = quote(key, safe="/")
    signature = sign(secret, key, expires, sha256=sha256)
    bound = "" if sha256 is None else f"&sha256={sha256}"
    return f"{base.rstrip('/')}/{path}?expires={expires}{bound}&signature={signature}"


def verify(
    secret: str | bytes,
    key: str,
    expires: str | None,
    signature: str | None,
    *,
    now: float | None = None,
    sha256: str | None = None,
) -> bool:
    """Whether a link's ``expires``, ``signature`` (and ``sha256``) are valid for ``key``, now.

    ``sha256`` is the link's own parameter, ``None`` for a key-bound link; whether
    the artifact still has that SHA-256 is the server's to check. Never raises on
    what a request carries: parameters of the wrong form (non-ASCII digits, too many
    digits, a signature or hash that is not 64 lower-case hex digits) and keys that
    are not valid Unicode are simply not valid.
    """
    secret_bytes = check_secret(secret, setting="secret")
    if not isinstance(expires, str) or _EXPIRES.fullmatch(expires) is None:
        return False
    if not is_sha256(signature):
        return False
    if sha256 is not None and not is_sha256(sha256):
        return False
    if int(expires) < (time.time() if now is None else now):
        return False
    try:
        expected = _sign(secret_bytes, key, int(expires), sha256)
    except UnicodeEncodeError:  # a lone surrogate: no link was ever signed for it
        return False
    return hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii"))
