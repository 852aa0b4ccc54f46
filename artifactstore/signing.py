"""Signed, expiring download links: the local backend's answer to S3's presigned URLs.

A link is ``{base}/{key}?expires={unix time}&signature={hex}``, the signature an
HMAC-SHA256 over the expiry and the exact key, with a secret shared by whoever
makes links (``LocalFilesystemArtifactStore(url_base=..., url_secret=...)``) and
whoever serves them (``artifactstore.web.download_app``). A link for one key
cannot be pointed at another (re-targeted), extended, or guessed; it is checked
in constant time.

Every function here that takes a secret refuses one shorter than
``MIN_SECRET_LENGTH`` (``check_secret``: one rule for the environment, the store's
options, the web apps and direct calls).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from urllib.parse import quote, urlsplit

from .errors import StorageConfigError

__all__ = [
    "MIN_SECRET_LENGTH",
    "check_link_settings",
    "check_secret",
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
#: ``signature``: a SHA-256 HMAC as ``hexdigest()`` spells it.
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


def _sign(secret: bytes, key: str, expires: int) -> str:
    message = f"{expires}\n{key}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, key: str, expires: int) -> str:
    """The signature of a link to ``key`` valid until ``expires`` (Unix time)."""
    return _sign(check_secret(secret, setting="secret"), key, expires)


def signed_url(
    base: str, secret: str | bytes, key: str, expires_in: int, *, now: float | None = None
) -> str:
    """A link to ``key`` under ``base``, valid for ``expires_in`` seconds."""
    expires = int(time.time() if now is None else now) + expires_in
    path = quote(key, safe="/")
    return f"{base.rstrip('/')}/{path}?expires={expires}&signature={sign(secret, key, expires)}"


def verify(
    secret: str | bytes,
    key: str,
    expires: str | None,
    signature: str | None,
    *,
    now: float | None = None,
) -> bool:
    """Whether a link's ``expires`` and ``signature`` are valid for ``key``, now.

    Never raises on what a request carries: parameters of the wrong form (non-ASCII
    digits, too many digits, a signature that is not 64 lower-case hex digits) and
    keys that are not valid Unicode are simply not valid.
    """
    secret_bytes = check_secret(secret, setting="secret")
    if not isinstance(expires, str) or _EXPIRES.fullmatch(expires) is None:
        return False
    if not isinstance(signature, str) or _SIGNATURE.fullmatch(signature) is None:
        return False
    if int(expires) < (time.time() if now is None else now):
        return False
    try:
        expected = _sign(secret_bytes, key, int(expires))
    except UnicodeEncodeError:  # a lone surrogate: no link was ever signed for it
        return False
    return hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii"))
