"""Listing: one folder at a time, read through its descriptor, sorted, in key order.

``scan`` is one small-lane job per folder (it reads the index). The store walks
folders depth-first, so memory holds one folder listing per level, never the
whole tree; each folder's entries are sorted, so keys come out in key order.
"""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime, timezone

from ...errors import InvalidKeyError
from ...keys import MAX_KEY_LENGTH, is_plain_name, normalize_key
from ...metadata import ArtifactMetadata, guess_mime_type, listed_metadata
from ._index import RawRow
from ._oserrors import fail
from ._room import Room
from ._tree import Folder, is_reserved

__all__ = ["Entry", "is_key", "scan", "scan_names"]

#: ``(sort name, key, stat)``; stat is ``None`` for a folder (sorted as "name/").
Entry = tuple[str, str, "os.stat_result | None"]


def is_key(key: str) -> bool:
    """Whether ``key`` is the normalized spelling of a key (not reserved, not odd)."""
    try:
        return normalize_key(key) == key
    except InvalidKeyError:
        return False


def scan_names(
    room: Room, folder: Folder, prefix: str, invalid: list[str] | None = None
) -> list[Entry]:
    """The artifacts (with their stat) and sub-folders directly in ``folder``, sorted.

    ``prefix`` is the folder's key ("" for the root). Names no key can spell (and
    the store's own) are skipped, the former added to ``invalid`` (a folder's with
    a trailing ``/``); a symlink counts only if the tree's rule follows it to a
    regular file; symlinked folders are not descended (no cycles, no duplicates).
    """
    found: list[Entry] = []
    lead = f"{prefix}/" if prefix else ""
    try:
        with os.scandir(folder.fd) as it:
            entries = list(it)
    except OSError as exc:
        fail(prefix, exc, "listing")
    plain, longest = is_plain_name, MAX_KEY_LENGTH
    for entry in entries:
        name = entry.name
        key = lead + name
        if not (plain(name) and len(key) <= longest) and not is_key(key):
            if invalid is not None and not is_reserved(name):  # ours are skipped silently
                invalid.append(f"{key}/" if _is_folder(entry) else key)
            continue
        try:
            if entry.is_file(follow_symlinks=False):  # the common case: no extra system call
                found.append((name, key, entry.stat(follow_symlinks=False)))
                continue
            if entry.is_symlink():
                st = _linked_file(room, folder, name, key)
                if st is not None:
                    found.append((name, key, st))
            elif entry.is_dir(follow_symlinks=False):
                found.append((name + "/", key, None))
        except OSError:
            continue  # vanished while we looked
    found.sort()  # code point order is UTF-8 byte order; folders sort as "name/"
    return found


def _is_folder(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _linked_file(room: Room, folder: Folder, name: str, key: str) -> os.stat_result | None:
    """The stat of what the link ``name`` leads to by the tree's rule, if a regular file."""
    parent = room.tree.folder(folder.path, key)  # a descriptor of its own, for follow
    if parent is None:
        return None
    try:
        target = room.tree.follow(parent, name, key)
    except (InvalidKeyError, OSError):
        return None
    if target is None:
        return None
    where, final = target
    try:
        st = os.stat(final, dir_fd=where.fd, follow_symlinks=False)
    finally:
        where.close()
    return st if stat.S_ISREG(st.st_mode) else None


def scan(
    room: Room, prefix: str, with_folders: bool, invalid: list[str] | None = None
) -> list[tuple[str, ArtifactMetadata | None]]:
    """The artifacts and sub-folders directly in the folder ``prefix``, in key order.

    Each item is ``(key, metadata)`` for an artifact and ``(key, None)`` for a
    folder (with ``with_folders``, only folders that hold an artifact somewhere).
    Names that are not keys are added to ``invalid`` (``scan_names``).
    """
    try:
        folder = room.tree.folder(prefix, prefix)
    except NotADirectoryError:
        return []
    except OSError as exc:
        fail(prefix, exc, "listing")
    if folder is None:
        return []
    try:
        found = scan_names(room, folder, prefix, invalid)
        if with_folders:
            found = [e for e in found if e[2] is not None or _holds_artifacts(room, folder, e)]
    finally:
        folder.close()
    files = [key for _, key, st in found if st is not None]
    leaf = prefix if len(files) == len(found) else None  # no sub-folders
    rows = room.index.get_many(files, leaf) if files else {}
    return _described(room, prefix, found, rows)


def _described(
    room: Room, prefix: str, found: list[Entry], rows: dict[str, RawRow]
) -> list[tuple[str, ArtifactMetadata | None]]:
    """Each file's metadata, from its row if the row describes this very version.

    Written out for speed: a listing's speed is this loop's speed.
    """
    uri, made, when, utc = (
        room.uri_maker(prefix),
        listed_metadata,
        datetime.fromtimestamp,
        timezone.utc,
    )
    loads = json.loads
    described: list[tuple[str, ArtifactMetadata | None]] = []
    for name, key, st in found:
        if st is None:
            described.append((key, None))
            continue
        row = rows.get(key)
        size, mtime_ns = st.st_size, st.st_mtime_ns
        if row is not None and row[3] == mtime_ns and row[1] == st.st_ino and row[2] == size:
            sha256, mime = row[4], row[5]
            meta = {} if row[6] == "{}" else loads(row[6])
        else:  # unknown or stale: hashed on first read
            sha256, mime, meta = None, guess_mime_type(key), {}
        modified = when(mtime_ns / 1e9, utc)
        described.append(
            (key, made("local", key, uri(name, key), sha256, size, mime, modified, meta))
        )
    return described


def _any_artifact(
    room: Room, folder: Folder, prefix: str, pending: list[tuple[Folder | None, str]]
) -> bool:
    """Whether ``folder`` directly holds an artifact; queues its sub-folders otherwise.

    Cheap on purpose (no ``stat`` per file, stops at the first artifact): it runs for
    every sub-folder of a non-recursive listing, in one small-lane job.
    """
    lead = f"{prefix}/" if prefix else ""
    links, folders = [], []
    try:
        with os.scandir(folder.fd) as it:
            for entry in it:
                key = lead + entry.name
                if not is_key(key):
                    continue
                if entry.is_file(follow_symlinks=False):
                    return True
                if entry.is_symlink():
                    links.append((entry.name, key))
                elif entry.is_dir(follow_symlinks=False):
                    folders.append((entry.name, key))
    except OSError:
        return False
    for name, key in links:
        try:
            if _linked_file(room, folder, name, key) is not None:
                return True
        except OSError:
            continue
    pending.extend((room.tree.subfolder(folder, name), key) for name, key in folders)
    return False


def _holds_artifacts(room: Room, parent: Folder, entry: Entry) -> bool:
    """Whether listing the sub-folder ``entry`` would yield anything (the rule of ``scan``)."""
    name, key = entry[0][:-1], entry[1]
    pending: list[tuple[Folder | None, str]] = [(room.tree.subfolder(parent, name), key)]
    try:
        while pending:
            folder, prefix = pending.pop()
            if folder is None:
                continue
            try:
                if _any_artifact(room, folder, prefix, pending):
                    return True
            finally:
                folder.close()
        return False
    finally:
        for folder, _ in pending:
            if folder is not None:
                folder.close()
