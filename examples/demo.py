"""Store and read a sample deal's artifacts in a local DataRoom (what `make demo` runs).

Usage: python examples/demo.py [--dataroom PATH]

The DataRoom defaults to ./demo-dataroom, never your real ~/DataRoom unless you
point --dataroom at it.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from artifactstore import (
    CATEGORY_DOCUMENTS,
    CATEGORY_EMAILS,
    CATEGORY_GENERATED,
    SUBCATEGORY_CIM,
    SUBCATEGORY_FINANCIALS,
    SUBCATEGORY_LOI,
    ArtifactMetadata,
    LocalFilesystemArtifactStore,
    build_key,
)

DEAL = "DEAL-2026-001"

EMAIL = b"""From: banker@example.com\r
To: deals@example.com\r
Subject: Project Falcon - CIM attached\r
Message-ID: <falcon-001@example.com>\r
\r
Please find the confidential information memorandum attached.\r
"""

# A minimal, valid one-page PDF.
CIM_PDF = b"""%PDF-1.4
1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj
2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj
3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >> endobj
trailer << /Root 1 0 R >>
%%EOF
"""

FINANCIALS_CSV = b"""year,revenue,ebitda
2024,41.2,8.3
2025,47.9,10.1
2026,55.0,12.4
"""

LOI = """LETTER OF INTENT
Project Falcon: we propose to acquire 100% of the shares for EUR 120m,
subject to due diligence. Non-binding.
"""


async def loi_body() -> AsyncIterator[bytes]:
    """A generated document arriving in pieces, as from a template engine or a web upload."""
    for line in LOI.splitlines(keepends=True):
        yield line.encode()


def show(meta: ArtifactMetadata) -> None:
    print(f"  {meta.storage_key}")
    print(f"      {meta.size_bytes:>5} bytes  {meta.mime_type}  sha256={meta.sha256}")


async def main(dataroom: Path) -> int:
    print(f"DataRoom: {dataroom}\n")
    async with LocalFilesystemArtifactStore(dataroom) as store:
        print("Storing the sample deal's artifacts:")
        puts = [
            (build_key(DEAL, CATEGORY_EMAILS, "falcon-001.eml"), EMAIL),
            (build_key(DEAL, CATEGORY_DOCUMENTS, "Falcon CIM.pdf", SUBCATEGORY_CIM), CIM_PDF),
            (
                build_key(DEAL, CATEGORY_DOCUMENTS, "financials.csv", SUBCATEGORY_FINANCIALS),
                FINANCIALS_CSV,
            ),
        ]
        for key, data in puts:
            show(await store.put(key, data, metadata={"source": "demo"}))
        loi_key = build_key(DEAL, CATEGORY_GENERATED, "falcon-loi.txt", SUBCATEGORY_LOI)
        loi = await store.put(loi_key, loi_body(), metadata={"generated-by": "demo"})
        show(loi)

        print(f"\nListing {DEAL}/ (key order):")
        async for meta in store.list(DEAL):
            print(f"  {meta.storage_key}  ({meta.size_bytes} bytes)")
        print("Folders:", ", ".join([p async for p in store.list_prefixes(DEAL)]))

        print("\nReading the LOI back and verifying it:")
        data = await store.get(loi_key, verify=True)
        digest = hashlib.sha256(data).hexdigest()
        assert digest == loi.sha256, "the LOI does not match its SHA-256"
        print(f"  {len(data)} bytes, sha256 {digest} matches")
        print(f"  first line: {data.decode().splitlines()[0]!r}")
        print(f"  database row: {(await store.get_metadata(loi_key)).to_db_row()}")
        print(f"  url: {await store.get_url(loi_key)}")
    print("\nDone. Browse the files under", dataroom)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataroom", type=Path, default=Path("demo-dataroom"))
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.dataroom.resolve())))
