"""``create_artifact_store``, ``get_artifact_store`` and the environment they read."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from artifactstore import (
    LocalFilesystemArtifactStore,
    StorageConfigError,
    create_artifact_store,
    get_artifact_store,
    reset_artifact_store,
)
from artifactstore.factory import dataroom_root, store_options_from_env

ENV_VARS = [
    "ARTIFACT_STORAGE_BACKEND",
    "DATAROOM_ROOT",
    "ARTIFACT_STORAGE_PATH",
    "ARTIFACT_STORAGE_DURABLE",
    "ALLOW_CLOUD_DEFAULT",
    "AWS_S3_BUCKET",
    "AWS_S3_ENDPOINT_URL",
    "AWS_REGION",
]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, home: Path) -> Iterator[None]:
    """No configuration from the outside world, a fake HOME, and no leftover singleton."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    reset_artifact_store()
    yield
    reset_artifact_store()


def realpath(path: Path | str) -> str:
    return os.path.realpath(path)


# --------------------------------------------------------------- local, roots


def test_default_backend_is_local_with_dataroom_root(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    root = tmp_path / "dataroom"
    monkeypatch.setenv("DATAROOM_ROOT", str(root))
    store = get_artifact_store()
    assert isinstance(store, LocalFilesystemArtifactStore)
    assert store.backend_name == "local"
    assert store.root == realpath(root)
    assert store.durable is True


def test_artifact_storage_path_is_an_alternative(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    root = tmp_path / "alternative"
    monkeypatch.setenv("ARTIFACT_STORAGE_PATH", str(root))
    store = get_artifact_store()
    assert isinstance(store, LocalFilesystemArtifactStore)
    assert store.root == realpath(root)


def test_both_roots_different_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATAROOM_ROOT", str(tmp_path / "one"))
    monkeypatch.setenv("ARTIFACT_STORAGE_PATH", str(tmp_path / "two"))
    for build in (get_artifact_store, create_artifact_store, dataroom_root):
        with pytest.raises(StorageConfigError) as info:
            build()
        assert info.value.setting == "ARTIFACT_STORAGE_PATH"
        assert "ARTIFACT_STORAGE_PATH" in str(info.value)
        assert "DATAROOM_ROOT" in str(info.value)
    assert not (tmp_path / "one").exists()
    assert not (tmp_path / "two").exists()


def test_both_roots_equal_is_fine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    root = tmp_path / "same"
    monkeypatch.setenv("DATAROOM_ROOT", str(root))
    monkeypatch.setenv("ARTIFACT_STORAGE_PATH", str(root))
    store = get_artifact_store()
    assert isinstance(store, LocalFilesystemArtifactStore)
    assert store.root == realpath(root)


def test_both_roots_equal_after_expanding_home(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("DATAROOM_ROOT", "~/Deals")
    monkeypatch.setenv("ARTIFACT_STORAGE_PATH", str(home / "Deals"))
    assert dataroom_root() == str(home / "Deals")


@pytest.mark.parametrize("spelling", ["{root}/", "{parent}/./same", "{parent}/other/../same"])
def test_both_roots_same_folder_spelled_differently(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, spelling: str
) -> None:
    root = tmp_path / "same"
    monkeypatch.setenv("DATAROOM_ROOT", str(root))
    monkeypatch.setenv("ARTIFACT_STORAGE_PATH", spelling.format(root=root, parent=tmp_path))
    assert dataroom_root() == str(root)


def test_blank_root_counts_as_unset(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATAROOM_ROOT", "   ")
    monkeypatch.setenv("ARTIFACT_STORAGE_PATH", str(tmp_path / "r"))
    assert dataroom_root() == str(tmp_path / "r")


def test_relative_root_is_made_absolute(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATAROOM_ROOT", "relative/dr")
    assert dataroom_root() == str(tmp_path / "relative" / "dr")


def test_default_root_is_dataroom_in_home(home: Path) -> None:
    assert dataroom_root() == str(home / "DataRoom")
    store = get_artifact_store()
    assert isinstance(store, LocalFilesystemArtifactStore)
    assert store.root == realpath(home / "DataRoom")
    # Building the store creates nothing: the folder appears on first use only.
    assert not (home / "DataRoom").exists()
    assert not home.exists()


def test_store_options_from_env_local(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATAROOM_ROOT", str(tmp_path / "dr"))
    no_links = {"url_base": None, "url_secret": None}
    assert store_options_from_env() == (
        "local",
        {"root": str(tmp_path / "dr"), "durable": True, **no_links},
    )
    assert store_options_from_env({"ARTIFACT_STORAGE_DURABLE": "no", "DATAROOM_ROOT": "/x"}) == (
        "local",
        {"root": "/x", "durable": False, **no_links},
    )


def test_signed_link_settings_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATAROOM_ROOT", str(tmp_path / "dr"))
    monkeypatch.setenv("ARTIFACT_URL_BASE", "https://deals.example.com/dl")
    with pytest.raises(StorageConfigError) as raised:
        create_artifact_store()
    assert raised.value.setting == "ARTIFACT_URL_SECRET"
    monkeypatch.setenv("ARTIFACT_URL_SECRET", "too-short")
    with pytest.raises(StorageConfigError, match="32") as raised:
        create_artifact_store()
    assert "too-short" not in str(raised.value)
    monkeypatch.setenv("ARTIFACT_URL_SECRET", "s" * 40)
    monkeypatch.setenv("ARTIFACT_URL_BASE", "ftp://deals.example.com/dl")
    with pytest.raises(StorageConfigError) as raised:
        create_artifact_store()
    assert raised.value.setting == "ARTIFACT_URL_BASE"
    monkeypatch.setenv("ARTIFACT_URL_BASE", "https://deals.example.com/dl")
    store = create_artifact_store()
    assert "s" * 40 not in repr(store)


async def test_link_binding_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Issue 23, item 7: ARTIFACT_URL_BINDING picks the kind of link (sha256 by default)."""
    monkeypatch.setenv("DATAROOM_ROOT", str(tmp_path / "dr"))
    monkeypatch.setenv("ARTIFACT_URL_BASE", "https://deals.example.com/dl")
    monkeypatch.setenv("ARTIFACT_URL_SECRET", "s" * 40)
    for binding, bound in [(None, True), ("sha256", True), ("KEY", False), ("key", False)]:
        if binding is None:
            monkeypatch.delenv("ARTIFACT_URL_BINDING", raising=False)
        else:
            monkeypatch.setenv("ARTIFACT_URL_BINDING", binding)
        async with create_artifact_store() as store:
            await store.put("DEAL-1/a.txt", b"a")
            assert ("&sha256=" in await store.get_url("DEAL-1/a.txt")) is bound, binding
    monkeypatch.setenv("ARTIFACT_URL_BINDING", "content")
    with pytest.raises(StorageConfigError) as raised:
        create_artifact_store()
    assert raised.value.setting == "ARTIFACT_URL_BINDING"


# ------------------------------------------------------------- backend choice


@pytest.mark.parametrize("value", ["ftp", "gcs", "nope", "local2"])
def test_unknown_backend(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("ARTIFACT_STORAGE_BACKEND", value)
    with pytest.raises(StorageConfigError) as info:
        get_artifact_store()
    assert info.value.setting == "ARTIFACT_STORAGE_BACKEND"
    assert "ARTIFACT_STORAGE_BACKEND" in str(info.value)
    assert value in str(info.value)


@pytest.mark.parametrize("value", ["local", "LOCAL", " Local "])
def test_backend_name_is_case_insensitive(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str
) -> None:
    monkeypatch.setenv("ARTIFACT_STORAGE_BACKEND", value)
    monkeypatch.setenv("DATAROOM_ROOT", str(tmp_path / "dr"))
    assert isinstance(get_artifact_store(), LocalFilesystemArtifactStore)


@pytest.mark.parametrize("allow", [None, "", "false", "0", "no", "off"])
def test_s3_needs_allow_cloud_default(monkeypatch: pytest.MonkeyPatch, allow: str | None) -> None:
    monkeypatch.setenv("ARTIFACT_STORAGE_BACKEND", "s3")
    monkeypatch.setenv("AWS_S3_BUCKET", "deal-artifacts")
    if allow is not None:
        monkeypatch.setenv("ALLOW_CLOUD_DEFAULT", allow)
    with pytest.raises(StorageConfigError) as info:
        get_artifact_store()
    assert info.value.setting == "ALLOW_CLOUD_DEFAULT"
    assert "ALLOW_CLOUD_DEFAULT" in str(info.value)


@pytest.mark.parametrize("allow", ["maybe", "2", "tru", "enabled"])
def test_allow_cloud_default_not_a_boolean(monkeypatch: pytest.MonkeyPatch, allow: str) -> None:
    monkeypatch.setenv("ARTIFACT_STORAGE_BACKEND", "s3")
    monkeypatch.setenv("AWS_S3_BUCKET", "deal-artifacts")
    monkeypatch.setenv("ALLOW_CLOUD_DEFAULT", allow)
    with pytest.raises(StorageConfigError) as info:
        get_artifact_store()
    assert info.value.setting == "ALLOW_CLOUD_DEFAULT"
    assert "ALLOW_CLOUD_DEFAULT" in str(info.value)
    assert allow in str(info.value)


@pytest.mark.parametrize("allow", ["true", "TRUE", "1", "yes", "on"])
def test_s3_allowed_needs_bucket(monkeypatch: pytest.MonkeyPatch, allow: str) -> None:
    monkeypatch.setenv("ARTIFACT_STORAGE_BACKEND", "s3")
    monkeypatch.setenv("ALLOW_CLOUD_DEFAULT", allow)
    with pytest.raises(StorageConfigError) as info:
        get_artifact_store()
    assert info.value.setting == "AWS_S3_BUCKET"
    assert "AWS_S3_BUCKET" in str(info.value)


def test_s3_options_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARTIFACT_STORAGE_BACKEND", "s3")
    monkeypatch.setenv("ALLOW_CLOUD_DEFAULT", "true")
    monkeypatch.setenv("AWS_S3_BUCKET", "deal-artifacts")
    assert store_options_from_env() == (
        "s3",
        {"bucket": "deal-artifacts", "endpoint_url": None, "region": "us-east-1", "prefix": ""},
    )
    monkeypatch.setenv("AWS_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert store_options_from_env() == (
        "s3",
        {
            "bucket": "deal-artifacts",
            "endpoint_url": "http://127.0.0.1:9000",
            "region": "eu-west-1",
            "prefix": "",
        },
    )
    monkeypatch.setenv("ARTIFACT_S3_PREFIX", "deals")
    monkeypatch.setenv("ARTIFACT_S3_SSE", "aws:kms")
    monkeypatch.setenv("ARTIFACT_S3_SSE_KMS_KEY_ID", "key-1")
    monkeypatch.setenv("ARTIFACT_S3_MAX_ATTEMPTS", "3")
    _, options = store_options_from_env()
    assert options["prefix"] == "deals"
    assert options["sse"] == "aws:kms"
    assert options["sse_kms_key_id"] == "key-1"
    assert options["max_attempts"] == 3


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ARTIFACT_S3_SSE", "rot13"),
        ("ARTIFACT_S3_MAX_ATTEMPTS", "many"),
        ("ARTIFACT_S3_MAX_ATTEMPTS", "0"),
        ("ARTIFACT_S3_SSE_KMS_KEY_ID", "key-without-kms"),
    ],
)
def test_bad_s3_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv("ARTIFACT_STORAGE_BACKEND", "s3")
    monkeypatch.setenv("ALLOW_CLOUD_DEFAULT", "true")
    monkeypatch.setenv("AWS_S3_BUCKET", "deal-artifacts")
    monkeypatch.setenv(name, value)
    with pytest.raises(StorageConfigError) as raised:
        store_options_from_env()
    assert raised.value.setting == name
    assert name in str(raised.value)


# ------------------------------------------------------------------ durability


@pytest.mark.parametrize("value", ["false", "False", "0", "no", "off"])
def test_durable_false(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str) -> None:
    monkeypatch.setenv("DATAROOM_ROOT", str(tmp_path / "dr"))
    monkeypatch.setenv("ARTIFACT_STORAGE_DURABLE", value)
    store = get_artifact_store()
    assert isinstance(store, LocalFilesystemArtifactStore)
    assert store.durable is False


@pytest.mark.parametrize("value", ["true", "1", "yes", "on", ""])
def test_durable_true(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str) -> None:
    monkeypatch.setenv("DATAROOM_ROOT", str(tmp_path / "dr"))
    monkeypatch.setenv("ARTIFACT_STORAGE_DURABLE", value)
    store = get_artifact_store()
    assert isinstance(store, LocalFilesystemArtifactStore)
    assert store.durable is True


@pytest.mark.parametrize("value", ["sometimes", "2", "fsync"])
def test_durable_bad_value(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str) -> None:
    monkeypatch.setenv("DATAROOM_ROOT", str(tmp_path / "dr"))
    monkeypatch.setenv("ARTIFACT_STORAGE_DURABLE", value)
    with pytest.raises(StorageConfigError) as info:
        get_artifact_store()
    assert info.value.setting == "ARTIFACT_STORAGE_DURABLE"
    assert "ARTIFACT_STORAGE_DURABLE" in str(info.value)


# ------------------------------------------------------------------ singleton


def test_singleton_is_one_object(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATAROOM_ROOT", str(tmp_path / "dr"))
    assert get_artifact_store() is get_artifact_store()


def test_singleton_from_many_threads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATAROOM_ROOT", str(tmp_path / "dr"))
    built: list[object] = []
    original_init = LocalFilesystemArtifactStore.__init__

    def counting_init(self: LocalFilesystemArtifactStore, *args: object, **kwargs: object) -> None:
        built.append(self)
        original_init(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(LocalFilesystemArtifactStore, "__init__", counting_init)
    threads_count = 16
    barrier = threading.Barrier(threads_count)
    results: list[object] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            barrier.wait(timeout=10)
            store = get_artifact_store()
        except BaseException as exc:  # pragma: no cover - reported below
            with lock:
                failures.append(exc)
            return
        with lock:
            results.append(store)

    threads = [threading.Thread(target=worker) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not failures
    assert len(results) == threads_count
    assert len({id(store) for store in results}) == 1
    assert len(built) == 1
    assert results[0] is get_artifact_store()


def test_reset_gives_a_new_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATAROOM_ROOT", str(tmp_path / "one"))
    first = get_artifact_store()
    reset_artifact_store()
    second = get_artifact_store()
    assert second is not first
    assert get_artifact_store() is second


def test_reset_picks_up_a_changed_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATAROOM_ROOT", str(tmp_path / "one"))
    first = get_artifact_store()
    monkeypatch.setenv("DATAROOM_ROOT", str(tmp_path / "two"))
    assert get_artifact_store() is first  # built once, the environment read then
    reset_artifact_store()
    second = get_artifact_store()
    assert isinstance(second, LocalFilesystemArtifactStore)
    assert second.root == realpath(tmp_path / "two")


def test_reset_twice_is_fine() -> None:
    reset_artifact_store()
    reset_artifact_store()


def test_failed_build_leaves_no_singleton(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ARTIFACT_STORAGE_BACKEND", "nope")
    with pytest.raises(StorageConfigError):
        get_artifact_store()
    monkeypatch.setenv("ARTIFACT_STORAGE_BACKEND", "local")
    monkeypatch.setenv("DATAROOM_ROOT", str(tmp_path / "dr"))
    assert isinstance(get_artifact_store(), LocalFilesystemArtifactStore)


# ------------------------------------------------------------ create_artifact_store


def test_create_returns_a_new_store_each_time(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATAROOM_ROOT", str(tmp_path / "dr"))
    first = create_artifact_store()
    second = create_artifact_store()
    assert first is not second
    assert first is not get_artifact_store()
    assert isinstance(first, LocalFilesystemArtifactStore)
    assert isinstance(second, LocalFilesystemArtifactStore)
    assert first.root == second.root == realpath(tmp_path / "dr")


def test_create_local_with_root(tmp_path: Path) -> None:
    store = create_artifact_store("local", root=tmp_path / "explicit")
    assert isinstance(store, LocalFilesystemArtifactStore)
    assert store.root == realpath(tmp_path / "explicit")
    assert store.durable is True


def test_create_local_options(tmp_path: Path) -> None:
    store = create_artifact_store("LOCAL", root=str(tmp_path / "explicit"), durable=False)
    assert isinstance(store, LocalFilesystemArtifactStore)
    assert store.durable is False


def test_create_local_root_defaults_to_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATAROOM_ROOT", str(tmp_path / "from-env"))
    store = create_artifact_store("local")
    assert isinstance(store, LocalFilesystemArtifactStore)
    assert store.root == realpath(tmp_path / "from-env")


def test_create_options_override_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATAROOM_ROOT", str(tmp_path / "from-env"))
    store = create_artifact_store(root=tmp_path / "override", durable=False)
    assert isinstance(store, LocalFilesystemArtifactStore)
    assert store.root == realpath(tmp_path / "override")
    assert store.durable is False


@pytest.mark.parametrize("backend", ["nope", "ftp", ""])
def test_create_unknown_backend(backend: str) -> None:
    with pytest.raises(StorageConfigError) as info:
        create_artifact_store(backend)
    assert info.value.setting == "backend"
    assert repr(backend) in str(info.value)


def test_named_backend_ignores_environment_backend(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Naming the backend in code is the whole choice; a bad env backend is not read.
    monkeypatch.setenv("ARTIFACT_STORAGE_BACKEND", "nope")
    store = create_artifact_store("local", root=tmp_path / "dr")
    assert isinstance(store, LocalFilesystemArtifactStore)


# ----------------------------------------------------------------- a real store


async def test_singleton_stores_and_reads_back(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    root = tmp_path / "dataroom"
    monkeypatch.setenv("DATAROOM_ROOT", str(root))
    store = get_artifact_store()
    try:
        key = "DEAL-1/emails/msg-1.eml"
        data = b"From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n"
        meta = await store.put(key, data)
        assert meta.storage_key == key
        assert meta.size_bytes == len(data)
        assert meta.mime_type == "message/rfc822"
        assert await store.get(key) == data
        assert (root / "DEAL-1" / "emails" / "msg-1.eml").read_bytes() == data
        assert get_artifact_store() is store
        assert await get_artifact_store().exists(key)
    finally:
        await store.aclose()
