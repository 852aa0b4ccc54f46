"""Credentials kept out of the logs of the AWS SDK and the HTTP clients.

Their DEBUG logs print signed requests; :data:`REDACTOR` filters those loggers,
scrubbing the signed parts of requests and every credential it was told about.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any
from urllib.parse import quote

__all__ = ["REDACTOR", "scrub"]

_REDACTED = "[redacted]"
# What a signed request carries as credentials, whatever they are, in the forms
# botocore's and aiohttp's DEBUG lines print it: headers in a dict repr
# ('Authorization': b'...'), header lines (a canonical request's
# "x-amz-security-token:..."), a presigned URL's query parameters, the
# Credential=/Signature= parts of an Authorization value, and the signature
# botocore logs on a line of its own ("Signature:\n<hex>").
_SIGNED_PARTS = (
    (
        re.compile(
            r"""(?i)(['"](?:authorization|x-amz-security-token|x-amz-sso_bearer_token)['"]"""
            r"""\s*:\s*b?)(['"])[^'"]*"""
        ),
        rf"\1\2{_REDACTED}",
    ),
    (
        re.compile(
            r"""(?i)(?<!['"\w-])(authorization|x-amz-security-token|x-amz-sso_bearer_token)(\s*:)"""
            r"""(?!\s*b?['"])[^\r\n]*"""
        ),
        rf"\1\2 {_REDACTED}",
    ),
    (
        re.compile(
            r"(?i)\b(x-amz-security-token|x-amz-credential|x-amz-signature|awsaccesskeyid)"
            r"=[^&\s'\"<>]*"
        ),
        rf"\1={_REDACTED}",
    ),
    (re.compile(r"""(?i)\b(credential|signature)=[^,\s&'"<>]*"""), rf"\1={_REDACTED}"),
    (re.compile(r"(?i)\b(signature:)\s*[0-9a-f]{64}\b"), rf"\1 {_REDACTED}"),
    # Credentials in the answers that produce them, logged before anyone knows their
    # values: STS (AssumeRole*, XML), SSO GetRoleCredentials (JSON), and the web
    # identity token an AssumeRoleWithWebIdentity request carries.
    (
        re.compile(r"(?is)(<(SecretAccessKey|SessionToken|AccessKeyId)>).*?(</\2>)"),
        rf"\1{_REDACTED}\3",
    ),
    (
        re.compile(
            r"""(?i)(['"]?(?:secretAccessKey|sessionToken|accessKeyId|accessToken|"""
            r"""refreshToken|clientSecret|WebIdentityToken)['"]?\s*[:=]\s*b?['"]?)"""
            r"""[^'"&,\s}]+"""
        ),
        rf"\1{_REDACTED}",
    ),
)
# The loggers that may print requests: the AWS SDK's and the HTTP clients'.
_LOGGER_ROOTS = (
    "botocore",
    "aiobotocore",
    "aioboto3",
    "boto3",
    "s3transfer",
    "aiohttp",
    "urllib3",
)


def scrub(message: str, literal: re.Pattern[str] | None = None) -> str:
    """``message`` without signed parts of requests, nor any string ``literal`` matches."""
    if literal is not None:
        message = literal.sub(_REDACTED, message)
    for pattern, replacement in _SIGNED_PARTS:
        message = pattern.sub(replacement, message)
    return message


class _Redactor(logging.Filter):
    """Scrubs credentials from the records of the AWS SDK's and the HTTP clients' loggers.

    Their DEBUG logs print requests: the Authorization header with the access key
    id, the session token, canonical requests, presigned URLs. Signed parts are
    scrubbed whatever the credentials; the credentials themselves, raw or
    percent-encoded, are scrubbed anywhere once known (:meth:`guard`): those
    given as options or in ``AWS_*`` variables, and those botocore resolved (a
    profile, a role, SSO), again each time it refreshes them.
    """

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()
        self._literal: re.Pattern[str] | None = None  # replaced whole, never mutated
        self._loggers_seen = -1

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: logging reports it as such
            return True
        cleaned = scrub(message, self._literal)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True

    def guard(self, *secrets: str | None) -> None:
        """Scrub these values (and their percent-encoded forms) from now on.

        Also filters every logger of the SDK and the HTTP clients that exists by
        now (a logger's filter does not apply to its children's records).
        """
        self._add(secrets, rescan=True)

    def _add(self, secrets: tuple[str | None, ...], *, rescan: bool) -> None:
        new = {
            form
            for secret in secrets
            if secret and len(secret) >= 8
            for form in (secret, quote(secret, safe=""), quote(secret, safe="/"))
        }
        loggers = logging.root.manager.loggerDict
        if not rescan and new <= self._secrets and len(loggers) == self._loggers_seen:
            return  # the common case, once per request: nothing new
        with self._lock:
            if not new <= self._secrets:
                self._secrets |= new
                ordered = sorted(self._secrets, key=len, reverse=True)  # longest first
                self._literal = re.compile("|".join(map(re.escape, ordered)))
            self._loggers_seen = len(loggers)
            for name in list(loggers):
                if name.split(".")[0] in _LOGGER_ROOTS:
                    logger = logging.getLogger(name)  # a placeholder becomes a logger
                    if self not in logger.filters:
                        logger.addFilter(self)

    def watch(self, client: Any, credentials: Any) -> None:
        """Guard what ``credentials`` hold before each request ``client`` signs.

        Refreshable credentials (a role, SSO) change over time; reading the frozen
        set refreshes them if due, which the signer does next anyway. Loggers
        created since the last look are filtered too.
        """

        async def before_sign(**_kwargs: Any) -> None:
            frozen = await credentials.get_frozen_credentials()
            self._add((frozen.access_key, frozen.secret_key, frozen.token), rescan=False)

        client.meta.events.register("before-sign.s3", before_sign)


REDACTOR = _Redactor()
