"""The S3 backend (opt-in: ``pip install 'artifactstore[s3]'``), one module per responsibility.

- ``store``: :class:`S3ArtifactStore`, the store; ``backend``: :class:`S3Backend`, its
  backend (the async face of everything below);
- ``_settings``: :class:`S3Settings`, the options, validated;
- ``_client``: the aioboto3 client of each event loop; ``_redact``: credentials kept
  out of the SDK's logs;
- ``_errors``: botocore/aiohttp exceptions translated to the library's errors;
- ``_objects``: keys, HEAD, hashing and PutObject, shared by the store and ``_manage``;
- ``_upload``: multipart uploads and server-side copies; ``_body``: upload bodies sent
  without copies; ``_read``: GetObject bodies;
- ``_metadata``: user metadata as ``x-amz-meta-*`` headers;
- ``_manage``: server-side copy, batch delete under a prefix, ``cleanup``, the store's URL;
- ``_record``: recording a completed upload's SHA-256 (tag or stamping copy);
- ``_proof``: what proves a copy copied the version whose SHA-256 it records;
- ``_sha``: where SHA-256s are kept, and the HMAC that makes a tag trusted.
"""

from ._settings import S3Settings as S3Settings
from .backend import S3Backend
from .store import S3ArtifactStore

__all__ = ["S3ArtifactStore", "S3Backend", "S3Settings"]
