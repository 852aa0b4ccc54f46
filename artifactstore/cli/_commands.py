"""The commands of ``artifactstore`` that look into stores, delete, migrate and scrub.

See :mod:`artifactstore.cli` for the conventions; ``cat``, ``get`` and ``put`` are in
:mod:`artifactstore.cli._io`. Each command is ``async (context, args) -> exit
status``. Errors are raised (the caller turns them into one line and a status); a
command prints its own lines for outcomes that are not exceptions (a corrupt key,
a conflict, a key ``rm`` did not find).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

from .._config import SCHEME
from ..errors import ArtifactNotFoundError, InvalidKeyError, StorageConfigError
from ..factory import create_artifact_store, store_from_url, store_options_from_env
from ..metadata import ArtifactMetadata
from ..store import ArtifactStore
from ._manifest import check_manifest_path
from ._progress import Progress, format_bytes

if TYPE_CHECKING:
    from ..transfer import CheckReport, TransferReport, VerifyReport

__all__ = [
    "Context",
    "cmd_check",
    "cmd_copy",
    "cmd_ls",
    "cmd_rm",
    "cmd_stat",
    "cmd_url",
    "cmd_verify",
    "open_url",
]

_Report = Union["TransferReport", "CheckReport", "VerifyReport"]


@dataclass(frozen=True)
class Context:
    """What every command needs besides its arguments."""

    quiet: bool
    show_progress: bool
    error: Callable[[object], None]

    def progress(self, label: str, *, unit: str = "artifacts") -> Progress | None:
        """A progress display on stderr (drawn at once), or ``None`` when it must not draw."""
        if not self.show_progress:
            return None
        progress = Progress(sys.stderr, label, unit=unit)
        progress.update(0, None, 0)  # something shows while a long listing runs
        return progress

    def summary(self, line: str) -> None:
        """The closing human summary, on stderr (stdout stays data only)."""
        if not self.quiet:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()


def open_url(url: str | None, *, create: bool = False) -> ArtifactStore:
    """The store at ``url`` (None: the environment's).

    A local DataRoom is created only by commands that write (``put``, the
    destination of ``copy``): a mistyped path elsewhere is an error, not a new,
    empty DataRoom that makes a copy or a check look successful.
    """
    if url is None:
        backend, _ = store_options_from_env()
        options: dict[str, Any] = {"create": create} if backend == "local" else {}
        store = create_artifact_store(None, **options)
    else:
        match = SCHEME.match(url.strip())
        local = match is None or match.group(1).lower() == "file"
        # ``create`` is the local backend's option: another backend has no folder to make.
        store = store_from_url(url, create=create) if local else store_from_url(url)
    if create and not store.info.keeps_data:
        raise StorageConfigError(
            f"{store} keeps nothing once this command ends: the command line does not "
            "write to a store that dies with its process",
            setting="store",
        )
    return store


def _open_store(args: argparse.Namespace, *, create: bool = False) -> ArtifactStore:
    return open_url(getattr(args, "store", None) or None, create=create)


def printable(text: str | None) -> str:
    """``text`` for a terminal: non-printable characters and backslashes escaped.

    Human-readable output only (``--json`` stays exact): an object written by
    another tool can carry ESC, BEL or CSI in its metadata, which a terminal would
    obey. ``None`` is ``-``, the empty string ``""``.
    """
    if text is None:
        return "-"
    if text.isprintable() and "\\" not in text:
        return text or '""'
    return "".join(
        c if c.isprintable() and c != "\\" else c.encode("unicode_escape").decode("ascii")
        for c in text
    )


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")


def _row(meta: ArtifactMetadata) -> dict[str, Any]:
    """``to_db_row()``'s fields plus ``last_modified``, for ``ls --json`` and ``stat --json``."""
    try:
        row: dict[str, Any] = dict(meta.to_db_row())
    except ValueError:  # a key too long for the table's column: still list it
        row = {
            "storage_backend": meta.storage_backend,
            "storage_uri": meta.storage_uri,
            "storage_key": meta.storage_key,
            "sha256": meta.sha256,
            "file_size": meta.size_bytes,
            "mime_type": meta.mime_type,
        }
    row["last_modified"] = meta.last_modified.isoformat()
    return row


# ---------------------------------------------------------------- looking in


async def cmd_ls(ctx: Context, args: argparse.Namespace) -> int:
    """Keys under a prefix; a prefix naming one artifact lists that artifact."""

    def show(meta: ArtifactMetadata) -> None:
        if args.json:
            _out(json.dumps(_row(meta)))
        elif args.long:
            modified = meta.last_modified.isoformat(timespec="seconds")
            key = printable(meta.storage_key)
            _out(f"{meta.size_bytes:>12}  {modified}  {meta.sha256 or '-':<64}  {key}")
        else:
            _out(printable(meta.storage_key))

    async with _open_store(args) as store:
        found = False
        async for meta in store.list(args.prefix):
            found = True
            show(meta)
        if found or not args.prefix.strip("/"):
            return 0
        try:  # like ls FILE: the prefix may be a key
            show(await store.get_metadata(args.prefix))
        except (ArtifactNotFoundError, InvalidKeyError):
            raise ArtifactNotFoundError(
                f"no artifact at or under {args.prefix!r} in {store}", key=args.prefix
            ) from None
    return 0


async def cmd_stat(ctx: Context, args: argparse.Namespace) -> int:
    """One artifact's metadata, as ``name: value`` lines or one JSON object."""
    async with _open_store(args) as store:
        meta = await store.get_metadata(args.key)
    if args.json:
        _out(json.dumps({**_row(meta), "metadata": dict(meta.metadata)}))
        return 0
    fields = [
        ("key", meta.storage_key),
        ("uri", meta.storage_uri),
        ("backend", meta.storage_backend),
        ("size", f"{meta.size_bytes} ({format_bytes(meta.size_bytes)})"),
        ("modified", meta.last_modified.isoformat()),
        ("sha256", meta.sha256 or "-"),
        ("mime_type", meta.mime_type or "-"),
    ]
    fields += [(f"meta.{name}", value) for name, value in sorted(meta.metadata.items())]
    width = max(len(name) for name, _ in fields) + 1
    for name, value in fields:
        _out(f"{name + ':':<{width}} {printable(value)}")
    return 0


async def cmd_url(ctx: Context, args: argparse.Namespace) -> int:
    """A URL to read the artifact (not found is an error, not a dead link)."""
    async with _open_store(args) as store:
        if not await store.exists(args.key):
            key = store.normalize_key(args.key)
            raise ArtifactNotFoundError(f"no artifact at {key!r} in {store}", key=key)
        _out(await store.get_url(args.key, expires_in=args.expires))
    return 0


async def cmd_rm(ctx: Context, args: argparse.Namespace) -> int:
    """Delete keys (all checked before any is deleted), or a whole prefix with --yes."""
    if bool(args.keys) == (args.prefix is not None):
        ctx.error("rm takes KEY... or --prefix PREFIX --yes (one of the two)")
        return 2
    async with _open_store(args) as store:
        if args.prefix is not None:
            if not args.yes:
                count = 0
                async for _ in store.list(args.prefix):
                    count += 1
                ctx.error(
                    f"rm --prefix {args.prefix!r} would delete {count} artifacts in {store}; "
                    "add --yes to delete them"
                )
                return 2
            deleted = await store.delete_prefix(args.prefix)
            if not deleted:  # like rm KEY of a missing key: nothing was found
                ctx.error(f"no artifact under {args.prefix!r} in {store}")
                return 1
            ctx.summary(f"deleted {deleted} artifacts under {args.prefix!r}")
            return 0
        keys = [store.normalize_key(key) for key in args.keys]  # InvalidKeyError: nothing deleted
        if store.info.holds:  # a held key among them: none is deleted
            for key in keys:
                holds, until = await store.covering(key)
                if (holds or until is not None) and await store.exists(key):
                    kept = [f"{h.target}: {h.name}" for h in holds]
                    if until is not None:
                        kept.append(f"retained until {until.isoformat()}")
                    ctx.error(
                        f"delete of {key!r} refused: held ({'; '.join(kept)}); "
                        "none of the keys was deleted"
                    )
                    return 1
        status = 0
        for key in keys:
            if not await store.delete(key):
                ctx.error(f"no artifact at {key!r} in {store}")
                status = 1
    return status


# ----------------------------------------------------- scrub, migrate, compare


def _outcomes(*groups: tuple[str, Iterable[str | tuple[str, str]]]) -> list[str]:
    """``outcome<TAB>key[<TAB>message]`` lines, for ``cut``/``awk``/``grep``."""
    lines = []
    for outcome, entries in groups:
        for entry in entries:
            key, message = entry if isinstance(entry, tuple) else (entry, "")
            tail = f"\t{' '.join(message.split())}" if message else ""
            lines.append(f"{outcome}\t{key}{tail}")
    return lines


def _emit(args: argparse.Namespace, report: _Report, lines: Iterable[str]) -> None:
    # With --json stdout holds the one document and nothing else.
    if args.json:
        _out(json.dumps(report.to_dict()))
    else:
        for line in lines:
            _out(line)


def _name_invalid(report: _Report) -> None:
    """One line on stderr for each name skipped because it is not a key (even ``--quiet``)."""
    for name, why in report.skipped_invalid:
        line = f"artifactstore: skipped, not a key (never read): {printable(name)}: {why}"
        sys.stderr.write(" ".join(line.split()) + "\n")
    sys.stderr.flush()


def _status(args: argparse.Namespace, report: _Report) -> int:
    """0 if all went well (names that are not keys do not count with ``--ignore-invalid``)."""
    if args.ignore_invalid:
        report = dataclasses.replace(report, skipped_invalid=())
    return 0 if report.ok else 1


def _invalid_count(report: _Report) -> str:
    count = len(report.skipped_invalid)
    return f", skipped as not keys {count}" if count else ""


def _elapsed(started: float) -> str:
    return f"{time.monotonic() - started:.1f} s"


async def cmd_verify(ctx: Context, args: argparse.Namespace) -> int:
    """Re-hash every artifact's bytes; the corrupt keys on stdout, one per line."""
    from ..transfer import verify_artifacts

    started = time.monotonic()
    progress = ctx.progress("verify")
    async with _open_store(args) as store:
        try:
            report = await verify_artifacts(
                store,
                prefix=args.prefix,
                concurrency=args.jobs,
                progress=None if progress is None else progress.update,
            )
        finally:
            if progress is not None:
                progress.close()
        _emit(args, report, report.corrupt)
        if not args.json:  # unreadable is not corrupt: said on stderr, stdout stays keys
            for key, message in report.failures:
                ctx.error(f"could not verify {key!r}: {message}")
            for key, message in report.held_damaged:  # held, and damaged behind its back
                ctx.error(f"held artifact {key!r} damaged: {message}")
        _name_invalid(report)
        ctx.summary(
            f"verified {report.checked} artifacts ({format_bytes(report.bytes_checked)}) in "
            f"{store} in {_elapsed(started)}: {len(report.corrupt)} corrupt, "
            f"{len(report.failures)} unreadable{_invalid_count(report)}"
        )
    return _status(args, report)


async def cmd_copy(ctx: Context, args: argparse.Namespace) -> int:
    """Copy artifacts between two stores; problems on stdout as ``outcome<TAB>key<TAB>why``."""
    from ..transfer import copy_artifacts, write_manifest

    manifest = await check_manifest_path(args.manifest)  # before anything is copied
    started = time.monotonic()
    progress = ctx.progress("dry run" if args.dry_run else "copy")
    async with open_url(args.src) as src, open_url(args.dst, create=True) as dst:
        try:
            report = await copy_artifacts(
                src,
                dst,
                prefix=args.prefix,
                concurrency=args.jobs,
                overwrite=args.overwrite,
                verify="bytes" if args.verify_bytes else "metadata",
                dry_run=args.dry_run,
                progress=None if progress is None else progress.update,
                journal=args.journal,
            )
        finally:
            if progress is not None:
                progress.close()
        lines = _outcomes(
            ("conflict", report.conflict_keys),
            ("failed", report.failures),
            ("corrupt", report.corrupt_keys),
        )
        _emit(args, report, lines)
        _name_invalid(report)
        if manifest is not None:
            written = await write_manifest(src, dst, report, manifest)
            ctx.summary(f"manifest: {written} artifacts at the destination, in {manifest}")
        verb = "would copy" if report.dry_run else "copied"
        ctx.summary(
            f"{verb} {report.copied} of {report.total} ({format_bytes(report.bytes_copied)}), "
            f"skipped {report.skipped}, conflicts {report.conflicts}, failed {report.failed}, "
            f"corrupt {report.corrupt}{_invalid_count(report)}; holds {report.holds_copied}, "
            f"retentions {report.retentions_copied}; {src} -> {dst} in {_elapsed(started)}"
        )
    return _status(args, report)


async def cmd_check(ctx: Context, args: argparse.Namespace) -> int:
    """Compare two stores by SHA-256; differences on stdout as ``outcome<TAB>key``."""
    from ..transfer import check_artifacts

    async with open_url(args.src) as src, open_url(args.dst) as dst:
        report = await check_artifacts(src, dst, prefix=args.prefix)
        lines = _outcomes(
            ("missing-in-dst", report.missing_in_dst),
            ("missing-in-src", report.missing_in_src),
            ("different", report.different),
            ("failed", report.failures),
            ("hold-differs", report.holds_different),
            ("retention-differs", report.retentions_different),
        )
        _emit(args, report, lines)
        _name_invalid(report)
        ctx.summary(
            f"same {len(report.same)}, missing in {dst} {len(report.missing_in_dst)}, "
            f"missing in {src} {len(report.missing_in_src)}, different "
            f"{len(report.different)}, failed {len(report.failures)}{_invalid_count(report)}"
        )
    return _status(args, report)
