"""Migration between stores, their comparison, and the scrub: verified by SHA-256 end to end.

* :func:`copy_artifacts` copies every artifact under a prefix from one store to
  another (local→S3, S3→local, local→local, S3→S3), streamed. Each side is listed
  once; an artifact the destination already has with the same SHA-256 is skipped,
  so a killed run is resumed by running it again; with a ``journal`` (a local
  file noting what was verified on both sides, with the ETags of both versions),
  a rerun to S3 skips without a HEAD per artifact. Bytes are hashed as they are
  read and the put is aborted (nothing lands, puts are atomic) when they do not
  match the SHA-256 recorded for the source artifact: a source corrupt at rest is
  reported, never copied. The destination's SHA-256, computed from the bytes it
  received, must equal the source's; ``verify="bytes"`` also reads it back.
* :func:`write_manifest` writes, after a copy, where each artifact lives now: one
  JSON line per artifact with both sides' ``to_db_row()``, for the database.
* :func:`check_artifacts` compares two stores by SHA-256 without copying.
* :func:`verify_artifacts` re-hashes every artifact's bytes (never trusting a
  recorded value for them) and compares with the SHA-256 recorded when it was stored.
* Holds and retentions go first: a migration places the source's at the
  destination before any artifact (never replacing what one covers there), the
  check compares them, and the scrub names held artifacts changed or removed
  behind the library's back.

One artifact failing does not stop a run: it is reported (see the reports below)
and the run goes on. Cancellation propagates.

Memory: at most ``concurrency`` artifacts are in flight, and the data they may
hold is budgeted at ``concurrency × 8 MiB`` (S3's default part size). An artifact
up to 8 MiB costs three times its size (read, then copied by the put and by the
HTTP client); a larger one is streamed a part at a time, and its upload to S3
holds up to ``parts_in_flight`` (4) parts, each copied into its request body, plus
the part being read: it costs 96 MiB, or the whole budget when that is less. So
a migration stays under ``concurrency × 8 MiB + 64 MiB``
whatever the artifacts' sizes.
"""

from __future__ import annotations

from ._manifest import write_manifest
from ._operations import check_artifacts, copy_artifacts, verify_artifacts
from ._reports import CheckReport, Progress, TransferReport, VerifyReport

__all__ = [
    "CheckReport",
    "Progress",
    "TransferReport",
    "VerifyReport",
    "check_artifacts",
    "copy_artifacts",
    "verify_artifacts",
    "write_manifest",
]
