"""The local filesystem backend: artifacts as plain files in a DataRoom folder.

Artifacts are ordinary files at ``{root}/{key}``, so the DataRoom stays browsable
by a person; the store's own bookkeeping (an index of SHA-256, mime type and user
metadata) lives in ``{root}/.artifactstore/``.

Guarantees:

* Atomic puts: bytes go to a temporary file beside the destination, are hashed as
  they are written, fsynced (``durable=True``), then renamed into place; the folder
  is fsynced before ``put`` returns. Readers never see partial content; a failed or
  cancelled put leaves the key as it was and no temporary file.
* Descriptor-relative paths: every key is walked from a descriptor of the root, one
  segment at a time, so a folder swapped for a symlink cannot redirect a lookup;
  symlinks are followed only inside the root and never into ``.artifactstore``.
* No head-of-line blocking: small work and large work run on separate lanes, and
  the caller's own sources are read off both (see ``store``).
* New files get ``file_mode`` (0o640) and folders ``dir_mode`` (0o750), whatever
  the process umask: deal documents are confidential.
* Files written by other means (legacy code) are artifacts too; their SHA-256 is
  computed on demand, and a file changed outside the library is re-hashed.

Modules: ``store`` (the store class), ``backend`` (the backend: its async face and
lanes), ``config`` (environment and URLs), ``_room`` (one DataRoom's state and group
commit), ``_tree`` (descriptor walking and the symlink rule), ``_write``,
``_read``, ``_listing``, ``_manage`` (copy, move), ``_prune``
(delete_prefix), ``_temps`` (temporary names and their sweep),
``_index`` (the SQLite index), ``_oserrors`` (OS errors into the library's), and
``folders`` (``ensure_folder``: a DataRoom folder made by these rules outside a store).
"""

from .backend import LocalBackend
from .folders import ensure_folder
from .store import LocalFilesystemArtifactStore

__all__ = ["LocalBackend", "LocalFilesystemArtifactStore", "ensure_folder"]
