"""``store_from_url``: each form of store URL, each error, and ``str(store)`` round trips."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from artifactstore import (
    LocalFilesystemArtifactStore,
    S3ArtifactStore,
    StorageConfigError,
    SyncArtifactStore,
    store_from_url,
)

from .s3server import CREDENTIALS, MotoServer, boto3_client


async def test_plain_paths_and_file_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    real = os.path.realpath(tmp_path)
    for url, root in [
        (str(tmp_path / "a"), f"{real}/a"),
        ("~/b", f"{real}/b"),
        ("./c", f"{real}/c"),
        ("d", f"{real}/d"),
        (f"file://{tmp_path}/e", f"{real}/e"),
        (f"file://localhost{tmp_path}/f", f"{real}/f"),
        (f"file:{tmp_path}/g", f"{real}/g"),
        (f"FILE://{tmp_path}/with%20space", f"{real}/with space"),
    ]:
        store = store_from_url(url)
        assert isinstance(store, LocalFilesystemArtifactStore), url
        async with store:
            assert store.root == root, url
            await store.put("DEAL-1/x.txt", b"x")
        assert (Path(root) / "DEAL-1/x.txt").read_bytes() == b"x"


async def test_local_options_from_the_query_and_keywords(tmp_path: Path) -> None:
    store = store_from_url(f"file://{tmp_path}/q?durable=false")
    assert isinstance(store, LocalFilesystemArtifactStore)
    assert store.durable is False
    store = store_from_url(str(tmp_path / "k"), durable=False)
    assert isinstance(store, LocalFilesystemArtifactStore)
    assert store.durable is False
    with pytest.raises(StorageConfigError, match="does not exist"):
        async with store_from_url(f"file://{tmp_path}/missing?create=false") as s:
            await s.put("a.txt", b"x")
    assert not (tmp_path / "missing").exists()


def test_s3_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    store = store_from_url("s3://deals")
    assert isinstance(store, S3ArtifactStore)
    assert store.bucket == "deals"
    store = store_from_url(
        "s3://deals/prod/eu/?endpoint_url=http://127.0.0.1:9000&region=eu-west-1"
        "&part_size=16777216&verify_bucket=false&read_timeout=2.5"
    )
    assert isinstance(store, S3ArtifactStore)
    assert (store.bucket, store.url.split("?")[0]) == ("deals", "s3://deals/prod/eu")
    assert "endpoint_url=http" in store.url
    assert "region=eu-west-1" in store.url
    # Keyword options win over the URL's.
    assert (
        "region=us-west-2" in store_from_url("s3://deals?region=eu-west-1", region="us-west-2").url
    )


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "non-empty"),
        ("   ", "non-empty"),
        ("ftp://host/x", "unknown store URL scheme 'ftp'"),
        ("gs://bucket", "unknown store URL scheme 'gs'"),
        ("s3://", "names no bucket"),
        ("s3:///prefix", "names no bucket"),
        ("s3:deals", "not s3://bucket/prefix"),
        ("s3://bad:9000/x", "not a bucket name"),
        ("s3://key:secret@deals", "credentials do not belong"),
        ("s3://deals?aws_secret_access_key=x", "unknown option 'aws_secret_access_key'"),
        ("s3://deals?colour=blue", "unknown option 'colour'"),
        ("s3://deals?region=", "option region is empty"),
        ("s3://deals?region=a&region=b", "given twice"),
        ("s3://deals?part_size=big", "part_size='big' must be a whole number"),
        ("s3://deals?part_size=%C2%B2", "must be a whole number"),
        ("s3://deals?part_size=1024", "part_size"),
        ("s3://deals?read_timeout=-1", "positive number"),
        ("s3://deals?verify_bucket=maybe", "not a boolean"),
        ("s3://deals?sse=rot13", "sse"),
        ("s3://deals/../x", "prefix"),
        ("s3://deals#frag", "fragment"),
        ("file://otherhost/srv/x", "another host"),
        ("file:///srv/x?durable=perhaps", "not a boolean"),
        ("file:///srv/x?region=eu", "unknown option 'region'"),
    ],
)
def test_bad_urls_name_the_problem(url: str, problem: str) -> None:
    with pytest.raises(StorageConfigError, match=problem.replace("?", r"\?")):
        store_from_url(url)


async def test_str_of_a_store_builds_the_same_store(
    tmp_path: Path, moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = store_from_url(str(tmp_path / "dr"))
    again = store_from_url(str(local))
    assert isinstance(again, LocalFilesystemArtifactStore)
    assert isinstance(local, LocalFilesystemArtifactStore)
    assert again.root == local.root
    assert str(local).startswith("file:///")
    assert repr(local).startswith("LocalFilesystemArtifactStore('file:///")
    assert str(SyncArtifactStore(local)) == str(local)

    boto3_client(moto_server.endpoint).create_bucket(Bucket="roundtrip")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CREDENTIALS["aws_secret_access_key"])
    s3 = store_from_url(f"s3://roundtrip/tenant/a?endpoint_url={moto_server.endpoint}")
    async with s3:
        await s3.put("DEAL-1/x.txt", b"via url")
    async with store_from_url(str(s3)) as same:
        assert await same.get("DEAL-1/x.txt") == b"via url"
        assert str(same) == str(s3)
    listed = boto3_client(moto_server.endpoint).list_objects_v2(Bucket="roundtrip")
    assert [o["Key"] for o in listed["Contents"]] == ["tenant/a/DEAL-1/x.txt"]


def test_no_secret_in_str_or_repr(tmp_path: Path) -> None:
    secret = "s" * 40
    local = LocalFilesystemArtifactStore(
        tmp_path / "dr", url_base="https://files.example", url_secret=secret
    )
    s3 = S3ArtifactStore(
        "deals", aws_access_key_id="AKIDSENTINEL", aws_secret_access_key="SECRETSENTINEL"
    )
    for store in (local, s3, SyncArtifactStore(local)):
        for text in (str(store), repr(store)):
            assert secret not in text
            assert "SENTINEL" not in text
