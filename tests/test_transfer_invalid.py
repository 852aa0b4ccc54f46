"""Issue 23, item 6: copy, check and verify name what is not a key, never skip it silently.

Sources: a local folder holding an NFD "Café", a backslash in a file name and in a
folder name; an S3 bucket whose objects boto3 wrote under such names (and a
console's empty folder marker, which is no document). Every report names them
(``skipped_invalid``) and is not ok; the command prints them on stderr and exits
1, or 0 with ``--ignore-invalid``; nothing is ever written for them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from pathlib import Path

from artifactstore import LocalFilesystemArtifactStore, S3ArtifactStore
from artifactstore.transfer import check_artifacts, copy_artifacts, verify_artifacts

from .s3server import CREDENTIALS, MotoServer, boto3_client, new_bucket

NFD = unicodedata.normalize("NFD", "DEAL-1/Café.txt")
BACKSLASH = "DEAL-1/a\\b.txt"
GOOD = {"DEAL-1/ok.txt": b"a key", "DEAL-2/notes.txt": b"another key"}


def names(report_field: tuple[tuple[str, str], ...]) -> list[str]:
    return [name for name, _ in report_field]


def local_source(root: Path) -> list[str]:
    """A folder with GOOD and three names no key spells; returns those, sorted."""
    for key, data in GOOD.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)
    (root / NFD).write_bytes(b"decomposed")
    (root / BACKSLASH).write_bytes(b"backslash")
    (root / "DEAL-3\\old").mkdir()
    (root / "DEAL-3\\old/inside.txt").write_bytes(b"in a folder no key reaches")
    return sorted([NFD, BACKSLASH, "DEAL-3\\old/"])


def all_names(root: Path) -> list[str]:
    return sorted(
        str(Path(folder, name).relative_to(root))
        for folder, _, files in os.walk(root)
        for name in files
        if ".artifactstore" not in Path(folder, name).relative_to(root).parts
    )


async def test_library_reports_name_what_is_not_a_key_local(tmp_path: Path) -> None:
    invalid = local_source(tmp_path / "src")
    async with (
        LocalFilesystemArtifactStore(tmp_path / "src") as src,
        LocalFilesystemArtifactStore(tmp_path / "dst") as dst,
    ):
        copied = await copy_artifacts(src, dst)
        assert names(copied.skipped_invalid) == invalid
        assert copied.copied == copied.total == len(GOOD)
        assert not copied.ok, "a copy that never looked at three documents said ok"
        assert "backslash" in dict(copied.skipped_invalid)[BACKSLASH]
        assert "NFC" in dict(copied.skipped_invalid)[NFD]
        assert copied.to_dict()["skipped_invalid"][0]["key"] == invalid[0]

        checked = await check_artifacts(src, dst)
        assert names(checked.skipped_invalid) == invalid
        assert all(why.startswith("in the source") for _, why in checked.skipped_invalid)
        assert checked.same == tuple(sorted(GOOD))
        assert not checked.ok

        verified = await verify_artifacts(src)
        assert names(verified.skipped_invalid) == invalid
        assert verified.checked == len(GOOD)
        assert not verified.ok

        clean = await verify_artifacts(dst)
        assert clean.skipped_invalid == ()
        assert clean.ok
    assert all_names(tmp_path / "dst") == sorted(GOOD)  # nothing written for them


async def test_library_reports_name_what_is_not_a_key_s3(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    bucket = new_bucket(moto_server)
    client = boto3_client(moto_server.endpoint)
    for key, data in GOOD.items():
        client.put_object(Bucket=bucket, Key=key, Body=data)
    odd = sorted([NFD, BACKSLASH, "DEAL-1//double.txt", "DEAL-4/tab\there.txt"])
    for key in odd:
        client.put_object(Bucket=bucket, Key=key, Body=b"written by another tool")
    client.put_object(Bucket=bucket, Key="DEAL-5/", Body=b"")  # a console's folder marker
    async with (
        S3ArtifactStore(bucket, **moto_server.store_options()) as src,
        LocalFilesystemArtifactStore(tmp_path / "dst") as dst,
    ):
        copied = await copy_artifacts(src, dst)
        assert names(copied.skipped_invalid) == odd
        assert copied.copied == len(GOOD)
        assert not copied.ok
        checked = await check_artifacts(dst, src)
        assert names(checked.skipped_invalid) == odd
        assert all(why.startswith("in the destination") for _, why in checked.skipped_invalid)
        verified = await verify_artifacts(src)
        assert names(verified.skipped_invalid) == odd
        assert not verified.ok
    assert all_names(tmp_path / "dst") == sorted(GOOD)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ARTIFACT_", "AWS_"))}
    environ["AWS_ACCESS_KEY_ID"] = CREDENTIALS["aws_access_key_id"]
    environ["AWS_SECRET_ACCESS_KEY"] = CREDENTIALS["aws_secret_access_key"]
    return subprocess.run(
        [sys.executable, "-m", "artifactstore", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=environ,
    )


def skipped(result: subprocess.CompletedProcess[str], invalid: list[str]) -> None:
    """Each name on a line of its own on stderr, in order, and no traceback."""
    assert "Traceback" not in result.stderr
    lines = [s for s in result.stderr.splitlines() if s.startswith("artifactstore: skipped")]
    assert len(lines) == len(invalid), result.stderr
    for name, line in zip(invalid, lines, strict=True):
        assert f": {name.replace(chr(92), chr(92) * 2)}: " in line, line  # backslashes escaped


def test_copy_check_and_verify_name_them_and_fail_unless_told(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    invalid = local_source(tmp_path / "src")
    src = str(tmp_path / "src")
    bucket = new_bucket(moto_server)
    s3 = f"s3://{bucket}/mirror?endpoint_url={moto_server.endpoint}&region=us-east-1"

    copied = cli("copy", src, s3)
    assert copied.returncode == 1, copied.stderr
    skipped(copied, invalid)
    again = cli("copy", "--ignore-invalid", src, s3, "--json")
    assert again.returncode == 0, again.stderr
    skipped(again, invalid)  # still named
    report = json.loads(again.stdout)  # stdout: the report alone
    assert [e["key"] for e in report["skipped_invalid"]] == invalid
    assert report["ok"] is False
    assert report["skipped"] == len(GOOD)
    listed = boto3_client(moto_server.endpoint).list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted(f"mirror/{k}" for k in GOOD)

    checked = cli("check", src, s3)
    assert checked.returncode == 1, checked.stderr
    skipped(checked, invalid)
    assert cli("check", "--ignore-invalid", src, s3).returncode == 0

    verified = cli("--store", src, "verify", "--json")
    assert verified.returncode == 1, verified.stderr
    skipped(verified, invalid)
    assert [e["key"] for e in json.loads(verified.stdout)["skipped_invalid"]] == invalid
    assert cli("--store", src, "verify", "--ignore-invalid").returncode == 0
    assert cli("--store", s3, "verify").returncode == 0  # the copy holds keys only
