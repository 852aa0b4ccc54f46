"""artifactstore.testing: the conformance suite as a public API, and the pytest plugin.

- the memory backend held to the suite through the plugin's fixture;
- ``run_conformance`` passes a good store and fails a broken one, clearly;
- capability flags decide which checks run, and a wrongly declared flag fails;
- the plugin's fixtures, and the example service's tests run by pytester in a
  fresh pytest process (as a user's project would run them).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import shutil
from pathlib import Path
from typing import Any

import pytest

import artifactstore.testing
from artifactstore import (
    ArtifactMetadata,
    ArtifactStore,
    BackendInfo,
    InvalidKeyError,
    LocalFilesystemArtifactStore,
    MemoryArtifactStore,
    S3ArtifactStore,
    SyncArtifactStore,
)
from artifactstore.backends.local import LocalBackend
from artifactstore.testing import (
    CHECKS,
    ConformanceCheck,
    ConformanceError,
    conformance_checks,
    raises,
    run_conformance,
)
from artifactstore.testing.moto_server import MotoServer, boto3_client

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent


def Info(**flags: bool) -> BackendInfo:
    """A backend record with these capability flags (and the defaults for the others)."""
    return BackendInfo(name="test", scheme="test", **flags)


def names(checks: list[ConformanceCheck]) -> set[str]:
    return {c.name for c in checks}


# ------------------------------------------------------------ memory, via the plugin


@pytest.mark.parametrize("check", conformance_checks(MemoryArtifactStore().info), ids=str)
async def test_conformance_memory(
    check: ConformanceCheck, memory_artifact_store: ArtifactStore, scratch: Path
) -> None:
    await check(memory_artifact_store, scratch)


# ------------------------------------------------------------------ run_conformance


class WrongBytesStore(LocalFilesystemArtifactStore):
    """A store that stores faithfully but whose ``get`` answers other bytes."""

    async def get(self, key: str, *, verify: bool = False) -> bytes:
        data = await super().get(key, verify=verify)
        return data[:-1] + bytes([data[-1] ^ 1]) if data else data


def store_factory(tmp_path: Path, store_class: type[LocalFilesystemArtifactStore]) -> Any:
    counter = itertools.count()
    return lambda: store_class(tmp_path / f"store-{next(counter)}", durable=False)


async def test_run_conformance_passes_a_good_store(tmp_path: Path) -> None:
    make = store_factory(tmp_path, LocalFilesystemArtifactStore)

    async def make_async() -> ArtifactStore:  # an awaitable of a store will do too
        store: ArtifactStore = make()
        return store

    report = await run_conformance(make_async)
    assert report.backend == "local"
    assert report.info == LocalBackend.info
    assert report.passed == tuple(c.name for c in conformance_checks(report.info))
    assert set(report.skipped) == {c.name for c in CHECKS} - set(report.passed)
    assert "file_and_folder_at_same_key" in report.skipped
    assert "file_and_folder_at_same_key_refused" in report.passed
    assert "drives_without_an_event_loop" in report.passed


async def test_run_conformance_fails_a_store_that_returns_wrong_bytes(tmp_path: Path) -> None:
    with pytest.raises(ConformanceError) as raised:
        await run_conformance(store_factory(tmp_path, WrongBytesStore))
    error = raised.value
    failed = {f.check for f in error.failures}
    assert {"put_bytes_like_and_get", "put_path", "large_multi_chunk_artifact"} <= failed
    assert "stream_ranges" not in failed  # it reads with stream(), which is not broken
    assert "missing_artifacts" not in failed  # get() of nothing is still ArtifactNotFoundError
    message = str(error)
    assert message.startswith(f"{len(error.failures)} of ")
    assert "conformance checks failed on backend 'local':" in message
    # Each failure names its check, the exception and the line of the check.
    assert "put_bytes_like_and_get: AssertionError" in message
    assert "at _conformance/_put.py:" in message
    assert "assert await store.get(key) == data" in message
    # Under pytest the checks' asserts are rewritten: the message shows the bytes.
    first = error.failures[0].describe()
    assert "At index 28 diff" in first, first
    assert isinstance(error, AssertionError)
    assert error.__cause__ is error.failures[0].error


class AwaitsTheLoop(LocalFilesystemArtifactStore):
    """Claims (by inheritance) to run without an event loop, but its put needs one."""

    async def put(self, *args: Any, **kwargs: Any) -> ArtifactMetadata:
        await asyncio.sleep(0)
        return await super().put(*args, **kwargs)


def check_named(name: str) -> ConformanceCheck:
    return next(c for c in CHECKS if c.name == name)


async def test_a_wrongly_declared_capability_fails(tmp_path: Path, scratch: Path) -> None:
    # The local backend cannot have a file and a folder at one key.
    async with LocalFilesystemArtifactStore(tmp_path / "a") as store:
        with pytest.raises(InvalidKeyError, match="folder and a file"):
            await check_named("file_and_folder_at_same_key")(store, scratch)
    # A store whose operations await the loop cannot be driven without one.
    assert AwaitsTheLoop(tmp_path / "c").info.runs_without_event_loop
    async with AwaitsTheLoop(tmp_path / "b") as store:
        with pytest.raises(RuntimeError, match="cannot wait"):
            await check_named("drives_without_an_event_loop")(store, scratch)
    async with MemoryArtifactStore() as store:  # memory:// URLs are names, not readable
        with pytest.raises(AssertionError, match="memory:"):
            await check_named("urls_read_the_artifact")(store, scratch)


async def test_make_store_must_make_stores(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="ArtifactStore"):
        await run_conformance(lambda: tmp_path)  # type: ignore[arg-type,return-value]


# ------------------------------------------------------------------ capabilities


def test_capability_flags_choose_the_checks() -> None:
    everything = names(list(CHECKS))
    default = names(conformance_checks())
    assert default == names(conformance_checks(Info()))
    assert {"if_not_exists_is_atomic", "copy_and_move_if_not_exists"} <= default
    assert {"cancelled_put_leaves_nothing", "stream_cancelled_midway"} <= default
    assert "file_and_folder_at_same_key" in default
    assert "file_and_folder_at_same_key_refused" not in default
    assert not default & {"urls_read_the_artifact", "listings_carry_sha256"}
    assert "drives_without_an_event_loop" not in default

    no_conditional = names(conformance_checks(Info(conditional_writes=False)))
    assert default - no_conditional == {"if_not_exists_is_atomic", "copy_and_move_if_not_exists"}
    no_cancel = names(conformance_checks(Info(cancellation=False)))
    assert default - no_cancel == {"cancelled_put_leaves_nothing", "stream_cancelled_midway"}
    filesystem = names(conformance_checks(Info(file_and_folder_at_same_key=False)))
    assert default - filesystem == {"file_and_folder_at_same_key"}
    assert filesystem - default == {"file_and_folder_at_same_key_refused"}
    extra = Info(
        readable_urls=True,
        sha256_in_listings=True,
        runs_without_event_loop=True,
        staged_puts=True,
        holds=True,
    )
    assert names(conformance_checks(extra)) - default == {
        "a_hold_keeps_what_it_covers",
        "a_retention_keeps_until_its_date",
        "urls_read_the_artifact",
        "listings_carry_sha256",
        "drives_without_an_event_loop",
        "before_commit_runs_before_the_bytes_are_visible",
        "before_commit_that_raises_leaves_nothing",
    }
    # Every check runs for some backend; the common core runs for all.
    assert names(conformance_checks(extra)) | filesystem == everything
    assert len(default) >= 25
    with pytest.raises(TypeError):
        conformance_checks("everything")  # type: ignore[arg-type]


async def test_capabilities_come_from_the_backend(tmp_path: Path) -> None:
    local = LocalFilesystemArtifactStore(tmp_path / "dr")
    assert local.info is LocalBackend.info
    assert local.info.file_and_folder_at_same_key is False
    assert local.info.runs_without_event_loop is True
    s3 = S3ArtifactStore("bucket", verify_bucket=False)
    assert s3.info.file_and_folder_at_same_key is True
    assert s3.info.sha256_in_listings is False

    class ThirdParty(LocalBackend):
        info = dataclasses.replace(
            LocalBackend.info,
            name="vendor",
            file_and_folder_at_same_key=True,
            conditional_writes=False,
            sha256_in_listings=False,
            runs_without_event_loop=False,
        )

    store = ArtifactStore(ThirdParty(tmp_path / "vendor"))
    assert store.info == BackendInfo(
        file_and_folder_at_same_key=True,
        conditional_writes=False,
        readable_urls=True,  # kept from the local backend's record
        staged_puts=True,
        holds=True,
        name="vendor",
        scheme="file",
    )
    assert store.backend_name == "vendor"
    await store.aclose()
    await local.aclose()
    assert MemoryArtifactStore().info.file_and_folder_at_same_key is True


def test_checks_are_documented_and_named() -> None:
    assert len({c.name for c in CHECKS}) == len(CHECKS)
    for check in CHECKS:
        assert str(check) == check.name == check.function.__name__
        assert check.description, check.name
        assert set(check.requires) <= set(BackendInfo.capability_names())
    assert repr(CHECKS[0]) == "<ConformanceCheck put_bytes_like_and_get>"
    page = (ROOT / "docs/testing.md").read_text()
    for check in CHECKS:
        assert f"| `{check.name}` |" in page, f"docs/testing.md does not list {check.name}"
    for flag in BackendInfo.capability_names():
        assert f"| `{flag}` |" in page, f"docs/testing.md does not explain {flag}"
    for name in artifactstore.testing.__all__:
        value = getattr(artifactstore.testing, name)
        if isinstance(value, type) or callable(value):
            assert value.__module__ == "artifactstore.testing", name


def test_raises_is_pytest_raises_without_pytest() -> None:
    with raises(ValueError, match="b+") as caught:
        raise ValueError("abbbc")
    assert str(caught.value) == "abbbc"
    with pytest.raises(AssertionError, match="DID NOT RAISE KeyError"), raises(KeyError):
        pass
    with pytest.raises(AssertionError, match="does not match"), raises(ValueError, match="^x"):
        raise ValueError("y")
    with pytest.raises(TypeError), raises(ValueError):  # another type goes through
        raise TypeError("t")


# ----------------------------------------------------------------------- fixtures


async def test_local_fixture(
    local_artifact_store: LocalFilesystemArtifactStore, tmp_path: Path
) -> None:
    assert Path(local_artifact_store.root) == tmp_path / "artifactstore"
    assert [m async for m in local_artifact_store.list()] == []
    await local_artifact_store.put("DEAL-1/a.txt", b"a")
    assert (tmp_path / "artifactstore/DEAL-1/a.txt").read_bytes() == b"a"


@pytest.mark.parametrize("attempt", [1, 2])
async def test_s3_fixture_gives_each_test_an_empty_bucket(
    s3_artifact_store: S3ArtifactStore,
    artifactstore_moto_server: MotoServer,
    moto_server: MotoServer,
    attempt: int,
) -> None:
    assert moto_server is artifactstore_moto_server  # one server for the session
    assert [m async for m in s3_artifact_store.list()] == []
    await s3_artifact_store.put("DEAL-1/a.txt", b"a")
    listed = boto3_client(moto_server.endpoint).list_objects_v2(Bucket=s3_artifact_store.bucket)
    assert [o["Key"] for o in listed["Contents"]] == ["DEAL-1/a.txt"]


@pytest.mark.parametrize("kind", ["local", "s3", "memory"])
def test_sync_fixtures(kind: str, request: pytest.FixtureRequest) -> None:
    facade: SyncArtifactStore = request.getfixturevalue(f"sync_{kind}_artifact_store")
    assert facade.async_store.backend_name == kind
    assert list(facade.list()) == []
    facade.put("DEAL-1/a.txt", b"a")
    assert facade.get("DEAL-1/a.txt", verify=True) == b"a"


# ------------------------------------------------------------ pytester, a user's run


def copy_example(pytester: pytest.Pytester) -> None:
    for name in ["upload_service.py", "test_upload_service.py"]:
        shutil.copy(ROOT / "examples" / name, pytester.path / name)


def test_the_example_service_tests_pass_with_the_memory_fixture(
    pytester: pytest.Pytester,
) -> None:
    copy_example(pytester)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


def test_the_example_service_tests_pass_on_the_local_fixture(pytester: pytest.Pytester) -> None:
    # The same tests with memory_artifact_store overridden by the local store: the
    # example and the plugin work whether or not the memory backend exists.
    copy_example(pytester)
    pytester.makeconftest(
        """
        import pytest_asyncio

        @pytest_asyncio.fixture
        async def memory_artifact_store(local_artifact_store):
            yield local_artifact_store
        """
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


def test_the_example_tests_fail_when_the_handler_is_wrong(pytester: pytest.Pytester) -> None:
    copy_example(pytester)
    service = pytester.path / "upload_service.py"
    source = service.read_text()
    assert "if_not_exists=True" in source
    service.write_text(source.replace("if_not_exists=True", "if_not_exists=False"))
    pytester.makeconftest(
        """
        import pytest_asyncio

        @pytest_asyncio.fixture
        async def memory_artifact_store(local_artifact_store):
            yield local_artifact_store
        """
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*test_a_second_upload_is_refused_and_the_first_kept*"])


def test_the_plugin_costs_nothing_unless_asked(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import sys

        import psutil

        def test_nothing_started():
            assert "artifactstore.testing.plugin" in sys.modules  # loaded by its entry point
            for heavy in ["moto", "aioboto3", "boto3", "artifactstore.backends.s3"]:
                assert heavy not in sys.modules, heavy
            assert psutil.Process().children(recursive=True) == []
        """
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    fixtures = pytester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider")
    fixtures.stdout.fnmatch_lines(
        [
            "*fixtures defined from artifactstore.testing.plugin*",
            "memory_artifact_store*",
            "*local_artifact_store*",
            "*s3_artifact_store*",
            "*artifactstore_moto_server*",
        ]
    )
    disabled = pytester.runpytest_subprocess(
        "-q", "-p", "no:artifactstore", "-p", "no:cacheprovider"
    )
    disabled.assert_outcomes(failed=1)  # the plugin is what the test saw
