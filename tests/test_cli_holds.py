"""``artifactstore hold/release/holds/retain``, run as a subprocess against a local DataRoom.

The holds live in the DataRoom's index database, so each command (a process of its
own) sees what the one before placed, and so does a store opened in this process.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from artifactstore import LocalFilesystemArtifactStore

ARTIFACTS = {
    "DEAL-1/documents/cim.pdf": b"%PDF-1.7 cim",
    "DEAL-1/emails/a.eml": b"From: a",
    "DEAL-10/documents/other.txt": b"another deal",
}

Result = subprocess.CompletedProcess[bytes]
Run = Callable[..., Result]


@pytest.fixture
def room(tmp_path: Path) -> Path:
    root = tmp_path / "dataroom"

    async def fill() -> None:
        async with LocalFilesystemArtifactStore(root) as store:
            for key, data in ARTIFACTS.items():
                await store.put(key, data)

    asyncio.run(fill())
    return root


@pytest.fixture
def run(tmp_path: Path, room: Path) -> Run:
    """The command against ``room`` (the environment's store, as the CLI reads it)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ARTIFACT_", "AWS_", "DATAROOM_", "ALLOW_CLOUD"))
    }
    env["DATAROOM_ROOT"] = str(room)
    cwd = tmp_path / "cwd"
    cwd.mkdir()

    def call(*args: str | Path, input: bytes | None = None) -> Result:
        return subprocess.run(
            [sys.executable, "-m", "artifactstore", *map(str, args)],
            input=input,
            capture_output=True,
            env=env,
            cwd=cwd,
            timeout=60,
        )

    return call


def error_line(result: Result) -> str:
    """The one ``artifactstore: error:`` line on stderr, and nothing else, no traceback."""
    text = result.stderr.decode()
    assert "Traceback" not in text
    lines = text.splitlines()
    assert len(lines) == 1, text
    assert lines[0].startswith("artifactstore: error: "), text
    return lines[0]


def ok(result: Result) -> Result:
    assert result.returncode == 0, result.stderr.decode()
    return result


def jsonl(result: Result) -> list[dict[str, object]]:
    return [json.loads(line) for line in ok(result).stdout.decode().splitlines()]


def table(result: Result) -> list[list[str]]:
    return [line.split() for line in ok(result).stdout.decode().splitlines()]


HEADER = ["KIND", "TARGET", "NAME", "UNTIL", "SINCE", "BY", "REASON"]


# ---------------------------------------------------------------- hold, release


def test_hold_release_holds_round_trip(run: Run) -> None:
    placed = ok(run("hold", "DEAL-1", "matter-1", "--reason", "SEC request"))
    assert placed.stdout == b""  # stdout is data only: the summary is on stderr
    assert placed.stderr.decode().startswith("placed hold 'matter-1' on 'DEAL-1'")
    ok(run("hold", "DEAL-1/documents/", "matter-2"))  # a prefix is normalized

    header, *rows = table(run("holds"))
    assert header == HEADER
    assert [row[:3] for row in rows] == [
        ["hold", "DEAL-1", "matter-1"],
        ["hold", "DEAL-1/documents", "matter-2"],
    ]
    assert rows[0][-2:] == ["SEC", "request"]
    assert rows[1][-1] == "-"
    assert rows[0][3] == "-"
    assert rows[0][5] == "-"

    first, second = jsonl(run("holds", "--json"))
    assert set(first) == {
        "kind",
        "target",
        "name",
        "reason",
        "created_at",
        "created_by",
        "in_force",
    }
    assert first["kind"] == "hold"
    assert first["reason"] == "SEC request"
    assert first["created_by"] is None
    assert first["in_force"] is True
    placed_at = datetime.fromisoformat(str(first["created_at"]))
    assert abs(placed_at - datetime.now(timezone.utc)) < timedelta(minutes=5)
    assert second["target"] == "DEAL-1/documents"
    assert second["reason"] == ""

    # Placing it again is not an error; the hold stays as it was, and says so.
    again = ok(run("hold", "DEAL-1", "matter-1", "--reason", "another"))
    assert "already placed" in again.stderr.decode()
    assert "'SEC request' is kept" in again.stderr.decode()
    assert jsonl(run("holds", "DEAL-1", "--json"))[0]["reason"] == "SEC request"

    released = ok(run("release", "DEAL-1", "matter-1"))
    assert released.stderr.decode().startswith("released hold 'matter-1' on 'DEAL-1'")
    again = run("release", "DEAL-1", "matter-1")
    assert again.returncode == 1
    assert "no hold 'matter-1' on 'DEAL-1'" in error_line(again)
    assert ok(run("-q", "release", "DEAL-1/documents", "matter-2")).stderr == b""
    assert table(run("holds")) == [HEADER]  # the header alone
    assert jsonl(run("holds", "--json")) == []


def test_holds_prefix_lists_what_covers_it_and_what_is_under_it(run: Run) -> None:
    ok(run("hold", "DEAL-1", "deal"))
    ok(run("hold", "DEAL-1/documents", "docs"))
    ok(run("hold", "DEAL-10", "other"))
    ok(run("retain", "DEAL-1/emails/a.eml", "--until", "2099-01-01"))

    def listed(prefix: str) -> list[tuple[object, object]]:
        return [(r["target"], r["kind"]) for r in jsonl(run("holds", prefix, "--json"))]

    # DEAL-1 never matches DEAL-10 (whole segments); a key is shown what covers it.
    assert listed("DEAL-1") == [
        ("DEAL-1", "hold"),
        ("DEAL-1/documents", "hold"),
        ("DEAL-1/emails/a.eml", "retention"),
    ]
    assert listed("DEAL-1/documents/cim.pdf") == [("DEAL-1", "hold"), ("DEAL-1/documents", "hold")]
    assert listed("DEAL-10") == [("DEAL-10", "hold")]
    assert listed("DEAL-2") == []


def test_the_table_escapes_control_characters_and_json_keeps_them(run: Run) -> None:
    reason = "see \x1b[2J\nroot \\ \u202e"
    ok(run("hold", "DEAL-1", "matter-1", "--reason", reason))
    out = ok(run("holds")).stdout.decode()
    assert "\x1b" not in out
    assert "\u202e" not in out
    _header, row = out.splitlines()
    assert row.endswith("see \\x1b[2J\\nroot \\\\ \\u202e")
    assert jsonl(run("holds", "--json"))[0]["reason"] == reason


# ----------------------------------------------------- refused deletes and puts


def test_rm_put_and_a_prefix_delete_of_held_artifacts_are_refused(run: Run, room: Path) -> None:
    ok(run("hold", "DEAL-1/documents", "matter-1"))
    ok(run("hold", "DEAL-1", "matter-2"))

    refused = run("rm", "DEAL-1/documents/cim.pdf")
    assert refused.returncode == 1
    assert refused.stdout == b""
    line = error_line(refused)
    assert "delete of 'DEAL-1/documents/cim.pdf' refused" in line
    assert "DEAL-1: matter-2" in line
    assert "DEAL-1/documents: matter-1" in line
    assert (room / "DEAL-1/documents/cim.pdf").read_bytes() == ARTIFACTS["DEAL-1/documents/cim.pdf"]

    refused = run("rm", "--prefix", "DEAL-1", "--yes")  # refuses as a whole: nothing deleted
    assert refused.returncode == 1
    assert "refused" in error_line(refused)
    assert (room / "DEAL-1/emails/a.eml").exists()

    refused = run("put", "-", "DEAL-1/emails/a.eml", input=b"replaced")
    assert refused.returncode == 1
    assert "put of 'DEAL-1/emails/a.eml' refused" in error_line(refused)
    assert (room / "DEAL-1/emails/a.eml").read_bytes() == ARTIFACTS["DEAL-1/emails/a.eml"]
    ok(run("put", "-", "DEAL-1/emails/new.eml", input=b"new"))  # new artifacts still go in

    ok(run("rm", "DEAL-10/documents/other.txt"))  # not held
    ok(run("release", "DEAL-1", "matter-2"))
    ok(run("rm", "DEAL-1/emails/a.eml"))  # only matter-1 is left, on DEAL-1/documents
    refused = run("rm", "DEAL-1/documents/cim.pdf")
    assert refused.returncode == 1
    assert "DEAL-1/documents: matter-1" in error_line(refused)
    assert "matter-2" not in refused.stderr.decode()


# -------------------------------------------------------------------- retain


def test_retain_extends_never_shortens(run: Run, room: Path) -> None:
    kept = ok(run("retain", "DEAL-1", "--until", "2099-12-31"))
    assert kept.stdout == b""
    assert "retained until 2099-12-31T23:59:59.999999+00:00" in kept.stderr.decode()
    (row,) = jsonl(run("holds", "--json"))
    assert row["kind"] == "retention"
    assert row["target"] == "DEAL-1"
    assert row["until"] == "2099-12-31T23:59:59.999999+00:00"  # a date: to its end, UTC
    assert row["in_force"] is True
    assert row["set_by"] is None
    assert set(row) == {"kind", "target", "until", "set_at", "set_by", "in_force"}
    _header, cells = table(run("holds"))
    assert cells[:4] == ["retention", "DEAL-1", "-", "2099-12-31T23:59:59Z"]

    refused = run("rm", "DEAL-1/emails/a.eml")
    assert refused.returncode == 1
    assert "retained until 2099-12-31T23:59:59.999999+00:00" in error_line(refused)
    assert (room / "DEAL-1/emails/a.eml").exists()

    shorter = run("retain", "DEAL-1", "--until", "2099-06-01T00:00:00Z")
    assert shorter.returncode == 1
    line = error_line(shorter)
    assert "'DEAL-1' is retained until 2099-12-31T23:59:59.999999+00:00" in line
    assert "never shortened" in line
    assert jsonl(run("holds", "--json"))[0]["until"] == "2099-12-31T23:59:59.999999+00:00"

    ok(run("retain", "DEAL-1", "--until", "2099-12-31"))  # the same date: nothing changes
    ok(run("retain", "DEAL-1", "--until", "2100-01-01T12:00"))  # no zone: UTC
    assert jsonl(run("holds", "--json"))[0]["until"] == "2100-01-01T12:00:00+00:00"
    ok(run("retain", "DEAL-1", "--until", "2100-01-01T16:00:00+02:00"))  # stored in UTC
    assert jsonl(run("holds", "--json"))[0]["until"] == "2100-01-01T14:00:00+00:00"


@pytest.mark.parametrize(
    "until", ["nope", "2099-13-01", "31/12/2099", "", "2099-12-31T25:00"], ids=repr
)
def test_a_bad_date_is_a_usage_error(run: Run, until: str) -> None:
    result = run("retain", "DEAL-1", "--until", until)
    assert result.returncode == 2
    assert "not an ISO 8601 date or date-time" in result.stderr.decode()
    assert "Traceback" not in result.stderr.decode()
    assert jsonl(run("holds", "--json")) == []


@pytest.mark.parametrize("until", ["2001-01-01", "2001-01-01T00:00:00Z", "YESTERDAY"])
def test_a_date_in_the_past_is_a_usage_error(run: Run, until: str) -> None:
    if until == "YESTERDAY":  # a bare date ends with its day: yesterday's has ended
        until = (datetime.now(timezone.utc) - timedelta(days=1)).date().isoformat()
    result = run("retain", "DEAL-1", "--until", until)
    assert result.returncode == 2
    assert "is in the past" in error_line(result)
    assert jsonl(run("holds", "--json")) == []


def test_a_bare_date_of_today_runs_to_the_end_of_the_day(run: Run) -> None:
    today = datetime.now(timezone.utc).date().isoformat()
    ok(run("retain", "DEAL-1", "--until", today))
    assert jsonl(run("holds", "--json"))[0]["until"] == f"{today}T23:59:59.999999+00:00"


def test_an_ended_retention_is_listed_and_no_longer_protects(run: Run, room: Path) -> None:
    async def retain_briefly() -> None:  # the library takes any date; the CLI refuses a past one
        async with LocalFilesystemArtifactStore(room) as store:
            until = datetime.now(timezone.utc) + timedelta(milliseconds=300)
            await store.retain("DEAL-1/emails", until=until)
            await asyncio.sleep(0.4)

    asyncio.run(retain_briefly())
    (row,) = jsonl(run("holds", "--json"))
    assert row["kind"] == "retention"
    assert row["in_force"] is False
    assert " (ended)" in ok(run("holds")).stdout.decode()
    ok(run("rm", "DEAL-1/emails/a.eml"))


# ---------------------------------------------------------------- usage errors


@pytest.mark.parametrize(
    "args",
    [
        ["hold", "", "matter-1"],  # '' would be every key
        ["hold", "DEAL-1", ""],
        ["hold", "DEAL-1", "bad\x1bname"],
        ["hold", "../etc", "matter-1"],
        ["release", "", "matter-1"],
        ["retain", "", "--until", "2099-01-01"],
        ["holds", "../etc"],
        ["--store", "/nonexistent/dataroom", "hold", "DEAL-1", "matter-1"],
    ],
    ids=repr,
)
def test_bad_arguments_exit_2_with_one_line(run: Run, args: list[str]) -> None:
    result = run(*args)
    assert result.returncode == 2, result.stderr
    error_line(result)
    assert result.stdout == b""


@pytest.mark.parametrize(
    "args", [["hold", "DEAL-1"], ["release", "DEAL-1"], ["retain", "DEAL-1"], ["holds", "--csv"]]
)
def test_missing_or_unknown_options_exit_2(run: Run, args: list[str]) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert "usage: artifactstore" in result.stderr.decode()


def test_rm_of_several_keys_deletes_none_when_one_is_held(run: Run, room: Path) -> None:
    ok(run("hold", "DEAL-1/documents", "matter-1"))
    refused = run("rm", "DEAL-10/documents/other.txt", "DEAL-1/documents/cim.pdf")
    assert refused.returncode == 1
    assert "none of the keys was deleted" in error_line(refused)
    assert (room / "DEAL-10/documents/other.txt").exists()  # listed first, still there
