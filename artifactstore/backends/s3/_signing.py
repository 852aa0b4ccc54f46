"""Signing uploads with a payload SHA-256 computed before the request, off the event loop.

SigV4 signs a hash of the body (``x-amz-content-sha256``) whenever payload
signing is on, which botocore does for every upload over plain HTTP and, with
checksums ``when_required``, over HTTPS too. botocore hashes the body itself,
while signing, on the event loop: 8 MiB of SHA-256 per part, during which no
other part's bytes move (a 256 MiB put spent about 0.2 s of its loop there).

The store knows that hash already, or can compute it on a worker thread: a
PutObject's payload is the artifact, whose SHA-256 it computed anyway; a part's
is hashed on a thread beside the upload. It passes the hex digest as the extra
call parameter ``ArtifactstorePayloadSHA256``; a ``provide-client-params``
handler moves it into the request context, and for those requests a
``choose-signer`` handler picks a signer that is botocore's S3 SigV4 signer in
every way but one: it takes the payload hash from the context instead of
computing it. The signature is the same as botocore's own (tested against a
moto server that checks signatures); requests without the parameter, and
requests botocore would not payload-sign, are signed exactly as before.
"""

from __future__ import annotations

from typing import Any

from botocore.auth import AUTH_TYPE_MAPS, S3SigV4Auth

__all__ = ["PAYLOAD_SHA256", "install"]

#: The extra parameter of ``put_object`` and ``upload_part``: the body's SHA-256, hex.
PAYLOAD_SHA256 = "ArtifactstorePayloadSHA256"
_CONTEXT_KEY = "artifactstore_payload_sha256"
_SIGNER = "artifactstore-s3v4"
_OPERATIONS = ("PutObject", "UploadPart")


class _PrehashedS3SigV4Auth(S3SigV4Auth):  # type: ignore[misc]  # botocore is untyped
    """botocore's S3 SigV4 signer, with the payload hash given rather than computed."""

    def payload(self, request: Any) -> str:
        known = request.context.get(_CONTEXT_KEY)
        streaming = getattr(self, "_is_streaming_checksum_payload", None)
        if (
            known is None
            or (streaming is not None and streaming(request))
            or not self._should_sha256_sign_payload(request)
        ):
            result: str = super().payload(request)
            return result
        return str(known)


def _take_payload_hash(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    sha256 = params.pop(PAYLOAD_SHA256, None)
    if sha256 is not None:
        context[_CONTEXT_KEY] = sha256


def _choose_signer(context: dict[str, Any], signature_version: str, **_: Any) -> str | None:
    if _CONTEXT_KEY in context and signature_version == "s3v4":
        return _SIGNER
    return None  # botocore's own choice


def install(events: Any) -> None:
    """Let ``put_object`` and ``upload_part`` calls of a client take ``PAYLOAD_SHA256``."""
    AUTH_TYPE_MAPS.setdefault(_SIGNER, _PrehashedS3SigV4Auth)
    for operation in _OPERATIONS:
        events.register(f"provide-client-params.s3.{operation}", _take_payload_hash)
        # First: botocore's own handler answers "s3v4" for every S3 operation.
        events.register_first(f"choose-signer.s3.{operation}", _choose_signer)
