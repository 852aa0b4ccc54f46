"""Signed, expiring download links: the local backend's answer to S3's presigned URLs.

A link is ``{base}/{key}?expires={unix time}&signature={hex}``, the signature an
HMAC-SHA256 over the expiry and the exact key, with a secret shared by whoever
makes links (``LocalFilesystemArtifactStore(url_base=..., url_secret=...)``) and
whoever serves them (``artifactstore.web.download_app``). A link for one key
cannot be pointed at another (re-targeted), extended, or guessed; it is checked
in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote, urlsplit

from .errors import StorageConfigError

__all__ = ["check_link_settings", "sign", "signed_url", "verify"]

#: Shortest secret accepted: a link's whole security is the secret.
MIN_SECRET_LENGTH = 32


def _secret_bytes(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)


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
    if len(_secret_bytes(url_secret)) < MIN_SECRET_LENGTH:
        raise StorageConfigError(
            f"ARTIFACT_URL_SECRET must be at least {MIN_SECRET_LENGTH} characters long "
            "(for example: python -c 'import secrets; print(secrets.token_urlsafe(32))')",
            setting="ARTIFACT_URL_SECRET",
        )


def sign(secret: str | bytes, key: str, expires: int) -> str:
    """The signature of a link to ``key`` valid until ``expires`` (Unix time)."""
    message = f"{expires}\n{key}".encode()
    return hmac.new(_secret_bytes(secret), message, hashlib.sha256).hexdigest()


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
    """Whether a link's ``expires`` and ``signature`` are valid for ``key``, now."""
    if not expires or not signature or not expires.isdigit() or len(expires) > 12:
        return False
    if int(expires) < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(sign(secret, key, int(expires)), signature)
