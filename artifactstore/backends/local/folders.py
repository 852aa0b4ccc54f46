"""Folders of a DataRoom created by the local backend's own rules, for code outside a store.

``ensure_folder`` is what the legacy helper ``resolve_action_artifact_dir`` uses: the
folder is walked from a descriptor of the root one segment at a time (``_tree``),
so every missing level gets ``dir_mode`` whatever the umask, and a symlink on the
way is followed only by the symlink rule (inside the root, never into
``.artifactstore``). Nothing is created outside the root.
"""

from __future__ import annotations

import os

from ...keys import normalize_prefix
from ._tree import Folder, Tree

__all__ = ["ensure_folder"]


def _ignore(_parent: Folder) -> None:
    """Nothing to fsync: a folder made for legacy code is not a durable put."""


def ensure_folder(root: str | os.PathLike[str], path: str, *, dir_mode: int = 0o750) -> str:
    """Create (if missing) the folder ``path`` of the DataRoom ``root``; return its path.

    ``path`` follows the key rules (``normalize_prefix``: ``"DEAL-1/actions"``; ``""``
    is the root). The root and its missing parents, and each missing folder below
    the root, are created with ``dir_mode`` whatever the process umask. A symlink
    on the way is followed only when it stays inside the root and does not lead to
    a reserved name (``.artifactstore*``); any other raises ``InvalidKeyError``, and
    nothing is created outside the root (levels made before the link, inside it,
    stay). A file where a folder should be raises ``NotADirectoryError``.

    The result is ``root`` (absolute, as given) joined with the folder's real path
    below it: links inside the DataRoom resolved, so the path names the folder
    itself and does not pass through a link that could later be swapped. Blocking.
    """
    given = os.path.abspath(os.path.expanduser(os.fspath(root)))
    relative = normalize_prefix(path)
    tree = Tree(
        os.path.realpath(given),
        given_root=given,
        dir_mode=dir_mode,
        create=True,
        on_created=_ignore,
    )
    # A folder for legacy code leaves no store folder (.artifactstore) behind.
    tree.open_root()
    try:
        folder = tree.folder(relative, relative, create=True)
        assert folder is not None  # create=True: missing folders are made
        real = folder.path
        folder.close()
    finally:
        tree.close()
    return os.path.join(given, real) if real else given
