"""download_app on an audited DataRoom: every link request leaves its event (real servers).

uvicorn (Starlette) and aiohttp serve the DataRoom from processes of their own
(``ARTIFACT_AUDIT=true``); the test issues links and reads the trail of the same
DataRoom afterwards.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from artifactstore import LocalFilesystemArtifactStore
from artifactstore.audit import AuditEvent, link_id
from artifactstore.signing import sign

from .webserver import AppServer

SECRET = "audit-web-secret-" + "s" * 40
KEY = "DEAL-1/documents/cim/cim.pdf"


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audit-web") / "DataRoom"


@pytest.fixture(scope="module", params=["uvicorn", "aiohttp"])
def server(request: pytest.FixtureRequest, room: Path) -> Iterator[AppServer]:
    env = {
        **os.environ,
        "ARTIFACT_STORAGE_BACKEND": "local",
        "DATAROOM_ROOT": str(room),
        "ARTIFACT_STORAGE_DURABLE": "false",
        "ARTIFACT_URL_SECRET": SECRET,
        "ARTIFACT_URL_BASE": "http://127.0.0.1:1/dl",  # the links are made by the test
        "ARTIFACT_AUDIT": "true",
    }
    target = "tests.webapp:app" if request.param == "uvicorn" else "tests.aiohttp_app:make_app"
    app = AppServer.start(request.param, env, target)
    yield app
    app.stop()


async def test_each_link_request_leaves_its_event(server: AppServer, room: Path) -> None:
    base = f"{server.url}/dl"
    store = LocalFilesystemArtifactStore(room, audit=True, url_base=base, url_secret=SECRET)
    await store.put(KEY, b"%PDF cim")
    before = [e.seq async for e in store.audit_log().events()]
    link = await store.get_url(KEY, expires_in=600)
    past = int(time.time()) - 10
    expired = f"{base}/{KEY}?expires={past}&signature={sign(SECRET, KEY, past)}"
    forged = link.replace(link[-8:], "0" * 8)
    missing_key = "DEAL-1/none.pdf"
    future = int(time.time()) + 600
    missing = f"{base}/{missing_key}?expires={future}&signature={sign(SECRET, missing_key, future)}"
    async with httpx.AsyncClient() as client:
        assert (await client.get(link)).content == b"%PDF cim"
        assert (await client.get(expired)).status_code == 403
        assert (await client.get(forged)).status_code == 403
        assert (await client.get(missing)).status_code == 404
    events: list[AuditEvent] = [
        e async for e in store.audit_log().events() if e.seq > (before[-1] if before else 0)
    ]
    summary = [(e.operation, e.outcome, e.details.get("reason")) for e in events]
    assert summary == [
        ("link_issued", "ok", None),
        ("link_redeemed", "ok", None),
        ("stream", "ok", None),  # the read itself, by the link
        ("link_refused", "refused", "expired"),
        ("link_refused", "refused", "bad_signature"),
        ("link_redeemed", "not_found", None),
    ]
    issued, redeemed, read = events[0], events[1], events[2]
    assert redeemed.details["link"] == issued.details["link"]  # the same link, by its id
    assert read.actor == f"link:{issued.details['link']}"
    for event in events[1:]:
        assert event.details.get("client", event.attributes.get("client_ip")) == "127.0.0.1"
    await store.aclose()


async def test_a_link_to_a_changed_document_is_refused_as_changed(
    server: AppServer, room: Path
) -> None:
    """Issue 23, item 7: 410 Gone, recorded as ``link_refused`` with reason ``changed``."""
    key = f"DEAL-1/changed-{server.port}.pdf"
    base = f"{server.url}/dl"
    store = LocalFilesystemArtifactStore(room, audit=True, url_base=base, url_secret=SECRET)
    await store.put(key, b"%PDF signed version")
    link = await store.get_url(key, expires_in=600)
    await store.put(key, b"%PDF replaced")
    before = [e.seq async for e in store.audit_log().events()][-1]
    async with httpx.AsyncClient() as client:
        answer = await client.get(link)
        assert answer.status_code == 410
        assert b"replaced" not in answer.content
    events = [e async for e in store.audit_log().events() if e.seq > before]
    summary = [(e.operation, e.key, e.outcome, e.details.get("reason")) for e in events]
    assert summary == [("link_refused", key, "refused", "changed")]
    assert events[0].details["link"] == link_id(link)
    await store.aclose()
