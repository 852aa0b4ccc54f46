"""``delete_prefix``: plan the walk, unlink a thousand files a job, then remove empty folders.

Jobs over a ``Room``. The plan (no index: the large lane) walks without following
any symlinked folder, the prefix's own included; the unlinks (small lane: they
stage index rows) reopen each folder from the root one segment at a time with
``O_NOFOLLOW``, so a folder swapped for a symlink after the plan is never entered.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass

from ._listing import scan_names
from ._oserrors import fail
from ._room import Room
from ._tree import Folder

__all__ = ["DELETE_BATCH", "PrefixPlan", "delete_keys", "plan_prefix", "remove_folders"]

#: Files deleted per small-lane job by ``delete_prefix``.
DELETE_BATCH = 1000


@dataclass
class PrefixPlan:
    """What ``delete_prefix`` removes: artifact keys, then folders (deepest first)."""

    keys: list[str]
    folders: list[str]


def plan_prefix(room: Room, prefix: str) -> PrefixPlan:
    """Every artifact under the folder ``prefix``, by the rules of ``list``.

    Walked without following any symlinked folder (the prefix's own included):
    ``delete_prefix`` never reaches through a link. A ``prefix`` naming a file
    plans nothing: prefixes match whole segments.
    """
    keys: list[str] = []
    folders: list[str] = []
    try:
        checked = room.tree.folder(prefix, prefix)  # a link out of the root: refused
    except NotADirectoryError:
        return PrefixPlan(keys, folders)
    if checked is None:
        return PrefixPlan(keys, folders)
    checked.close()
    try:
        top = room.tree.folder(prefix, prefix, follow=False)
    except NotADirectoryError:
        top = None
    pending: list[tuple[Folder, str]] = [] if top is None else [(top, prefix)]
    try:
        while pending:
            folder, key = pending.pop()
            try:
                folders.append(key)
                for sort_name, sub, st in scan_names(room, folder, key):
                    if st is not None:
                        keys.append(sub)
                        continue
                    child = room.tree.subfolder(folder, sort_name[:-1])
                    if child is not None:
                        pending.append((child, sub))
            finally:
                folder.close()
    finally:
        for folder, _ in pending:
            folder.close()
    folders.reverse()  # pre-order reversed: every folder after its sub-folders
    return PrefixPlan(keys, folders)


class _Folders:
    """Folders opened from the root one segment at a time, never through a symlink."""

    def __init__(self, room: Room) -> None:
        self._room = room
        self._open: dict[str, Folder | None] = {"": room.tree.folder("", "")}

    def get(self, path: str) -> Folder | None:
        """The folder at ``path`` ("" the root), or ``None`` if gone or now a link."""
        if path in self._open:
            return self._open[path]
        parent_path, _, name = path.rpartition("/")
        parent = self.get(parent_path)
        found = None if parent is None else self._room.tree.subfolder(parent, name)
        self._open[path] = found
        return found

    def close(self) -> None:
        for folder in self._open.values():
            if folder is not None:
                folder.close()
        self._open.clear()


def delete_keys(room: Room, keys: list[str]) -> int:
    """Unlink the files of ``keys`` and stage their index rows' removal; return how many."""
    count = 0
    folders = _Folders(room)
    try:
        for key in keys:
            path, _, name = key.rpartition("/")
            folder = folders.get(path)
            if folder is None:
                continue  # its folder vanished or became a symlink since the plan
            try:
                os.unlink(name, dir_fd=folder.fd)
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                continue
            except OSError as exc:
                if exc.errno in (errno.EPERM, errno.EISDIR):
                    continue  # unlink() of a folder on some systems
                fail(key, exc, "deleting")
            finally:
                room.index.stage_delete(key)  # dropped at flush if a file is there after all
            room.dirty(folder)
            count += 1
    finally:
        folders.close()
    if keys:
        room.on_staged()
    return count


def remove_folders(room: Room, prefix: str, paths: list[str]) -> None:
    """Remove the folders left empty (deepest first), and index rows of vanished files."""
    folders = _Folders(room)
    try:
        for path in paths:
            parent_path, _, name = path.rpartition("/")
            parent = folders.get(parent_path)
            if parent is None or not name:
                continue
            try:
                os.rmdir(name, dir_fd=parent.fd)
            except OSError:
                continue  # not empty (a file arrived, a non-artifact name), or gone
            room.forget_dirty(path)  # nothing left to fsync there
            room.dirty(parent)
    finally:
        folders.close()
    stale = room.index.keys_under(prefix)
    for key in stale:
        room.index.stage_delete(key)  # dropped at flush for a file still in place
    if stale:
        room.on_staged()
