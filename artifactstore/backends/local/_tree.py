"""Walking keys from a descriptor of the DataRoom's root, one segment at a time.

No path string is looked up twice: every folder on a key's way is opened relative
to the descriptor of the one before it with ``O_NOFOLLOW | O_DIRECTORY``, and every
later operation (``open``, ``rename``, ``link``, ``unlink``, ``stat``, ``mkdir``)
takes the final folder's descriptor as ``dir_fd``. A folder swapped for a symlink
after it was checked therefore cannot redirect anything: the swap is either seen
(and judged by the rule below) or too late to matter.

The symlink rule, applied on every lookup by this module and nowhere else:

* a symlink inside the DataRoom is followed only when its target stays inside the
  root (a relative target climbing above it, or an absolute one elsewhere, is
  refused) and never reaches a reserved name (``.artifactstore*``: the index and
  temporary files);
* the walk follows links itself (``readlink`` then onward from the link's real
  folder), so the kernel never resolves a link on the library's behalf;
* at most 40 links per lookup, as the kernel allows (a loop is an error, not a hang).

The folder a walk ends at is kept open (``_folder_cache``) and checked again on
every later use, so the walk is paid once per folder, not once per operation.
"""

from __future__ import annotations

import errno
import os
import stat
import unicodedata
from collections import deque
from collections.abc import Callable

from ...errors import InvalidKeyError, StorageConfigError, StoreClosedError
from ...keys import RESERVED_PREFIX
from ._folder_cache import CACHED_DEPTH, Folder, FolderCache

__all__ = ["DIR_FLAGS", "Folder", "Tree", "is_reserved"]

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
#: How a folder on a key's way is opened: never through a symlink.
DIR_FLAGS = os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC
_MAX_LINKS = 40
_RESERVED = RESERVED_PREFIX.lower()


def is_reserved(name: str) -> bool:
    """Whether a file name is the store's own (the index folder, temporary files).

    Folded as a case-insensitive file system might fold it ("ſ" is an "s" there).
    """
    if name[: len(_RESERVED)].lower() == _RESERVED:
        return True
    return not name.isascii() and (
        unicodedata.normalize("NFKC", name).casefold().startswith(_RESERVED)
    )


def _fsync_folder(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Tree:
    """The descriptors of one DataRoom and the walks from them (see the module docstring).

    ``on_created(folder)`` is called with the parent of each folder a walk creates
    (its entries changed: the store fsyncs it at the end of the batch).
    """

    def __init__(
        self,
        root: str,
        *,
        given_root: str,
        dir_mode: int,
        create: bool,
        on_created: Callable[[Folder], None],
        durable: bool = False,
    ) -> None:
        self.root = root
        self._roots = {root, given_root}
        self._dir_mode = dir_mode
        self._create = create
        self._durable = durable
        self._on_created = on_created
        self.fd = -1
        #: The descriptor of ``{root}/.artifactstore`` (the index lives there).
        self.reserved_fd = -1
        self._closed = False
        #: Folders walked to, by path: the next walk to one of them is one check.
        self.cache = FolderCache()

    # ------------------------------------------------------------------ the root

    @property
    def ready(self) -> bool:
        """Whether ``open_root`` has run (in this process or before a fork)."""
        return self.fd >= 0

    def open_root(self) -> None:
        """Open (creating, if allowed) the root; ``.artifactstore`` waits for ``bookkeeping``."""
        if self.fd >= 0:
            return
        if self._closed:  # never reopened (by name) behind a closing store's back
            raise StoreClosedError()
        try:
            fd = os.open(self.root, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
        except FileNotFoundError:
            if not self._create:
                raise StorageConfigError(
                    f"the DataRoom folder {self.root} does not exist; create it or pass "
                    "create=True",
                    setting="root",
                ) from None
            self._make_root()
            fd = os.open(self.root, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
        self.fd = fd
        self.cache.start(fd)

    def bookkeeping(self, *, create: bool) -> bool:
        """Whether ``.artifactstore`` is there, opening it (``reserved_fd``); ``create``: make it.

        Only a write creates it: reads of a folder that is not a DataRoom yet leave
        it untouched (issue 23).
        """
        if self.reserved_fd < 0:
            self.open_root()
            found = self._subfolder(Folder(self.fd, "", False), RESERVED_PREFIX, create=create)
            if found is None:
                return False
            self.reserved_fd = found.fd
        return True

    def _make_root(self) -> None:
        # The root's own ancestors are the operator's, not the DataRoom's: path-based,
        # like makedirs, but every created level gets dir_mode whatever the umask.
        missing = []
        current = self.root
        while not os.path.isdir(current):
            missing.append(current)
            parent = os.path.dirname(current)
            if parent == current:
                break
            current = parent
        for path in reversed(missing):
            try:
                os.mkdir(path, self._dir_mode)
            except FileExistsError:
                continue
            os.chmod(path, self._dir_mode)
            if self._durable:  # the new entry is in its parent once the parent is synced
                _fsync_folder(os.path.dirname(path))

    def close(self) -> None:
        """Close the root's descriptors and the cached ones (the store is closing)."""
        self.cache.close()
        for fd in (self.reserved_fd, self.fd):
            if fd >= 0:
                os.close(fd)
        self.fd = self.reserved_fd = -1
        self._closed = True

    def index_path(self, name: str, *, create: bool = True) -> str | None:
        """A path to ``.artifactstore/name`` through the open descriptor (``bookkeeping``)."""
        if not self.bookkeeping(create=create):
            return None
        if os.path.isdir(f"/proc/self/fd/{self.reserved_fd}"):
            return f"/proc/self/fd/{self.reserved_fd}/{name}"
        return os.path.join(self.root, RESERVED_PREFIX, name)  # no /proc: by name

    # ------------------------------------------------------------------- walking

    def folder(
        self, path: str, key: str, *, create: bool = False, follow: bool = True
    ) -> Folder | None:
        """Open the folder ``path`` (a key's folder part, "" for the root).

        ``None`` if a folder on the way does not exist (and ``create`` is false), or,
        with ``follow=False``, is a symlink. Raises ``InvalidKeyError`` for a link the
        rule refuses, ``NotADirectoryError`` when a file stands where a folder should.
        """
        self.open_root()
        if not path:
            return Folder(self.fd, "", False)
        if not follow:
            return self._walk_plain(path)
        deep = path.count("/") >= CACHED_DEPTH - 1
        if deep:
            cached = self.cache.get(path)
            if cached >= 0:
                return Folder(cached, path, True)
        found = self._walk_fast(path)
        if found is None:
            found = self._walk(deque(path.split("/")), key, create, [0])
        if deep and found is not None and found.path == path:  # reached without a link
            self.cache.put(path, found.fd)
        return found

    def _walk_fast(self, path: str) -> Folder | None:
        """The common case, every segment an existing real folder; ``None`` otherwise.

        Keys hold no reserved or traversal segments (``normalize_key``), so this is
        the rule's own outcome when it succeeds; anything unusual (a missing folder,
        a link, a file) falls back to the full walk.
        """
        fd = self.fd
        for segment in path.split("/"):
            try:
                opened = os.open(segment, DIR_FLAGS, dir_fd=fd)
            except OSError:
                opened = -1
            if fd != self.fd:
                os.close(fd)
            if opened < 0:
                return None
            fd = opened
        return Folder(fd, path, True)

    def _walk_plain(self, path: str) -> Folder | None:
        current = Folder(self.fd, "", False)
        for segment in path.split("/"):
            try:
                found = self.subfolder(current, segment)
            finally:
                current.close()
            if found is None:
                return None
            current = found
        return current

    def subfolder(self, parent: Folder, name: str) -> Folder | None:
        """Open ``name`` in ``parent`` as a folder; ``None`` if missing, a link or a file."""
        if is_reserved(name):
            return None
        try:
            return Folder(os.open(name, DIR_FLAGS, dir_fd=parent.fd), parent.join(name), True)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def locate(self, key: str, *, create: bool = False) -> tuple[Folder, str] | None:
        """The open folder holding ``key``'s last segment, and that segment.

        The last segment itself is not followed: the caller opens it with
        ``O_NOFOLLOW`` and calls ``follow`` if it turns out to be a symlink.
        """
        folder_path, _, name = key.rpartition("/")
        folder = self.folder(folder_path, key, create=create)
        return None if folder is None else (folder, name)

    def follow(self, folder: Folder, name: str, key: str) -> tuple[Folder, str] | None:
        """Resolve the symlink ``name`` in ``folder`` by the rule; ``None`` if it dangles.

        Takes ownership of ``folder``. Returns the folder and name of the link's
        final target, which was not a symlink when checked (the caller opens it with
        ``O_NOFOLLOW``, so a swap after the check fails rather than redirects).
        """
        hops = [0]
        current: Folder | None = folder
        try:
            while True:
                assert current is not None
                try:
                    st = os.stat(name, dir_fd=current.fd, follow_symlinks=False)
                except (FileNotFoundError, NotADirectoryError):
                    return None
                if not stat.S_ISLNK(st.st_mode):
                    found, current = current, None
                    return found, name
                target = self._link_target(current, name, key, hops)
                start = current.path
                if target and target[0] == "\0":
                    target.popleft()
                    start = ""
                last = target.pop() if target else ""
                current.close()
                current = self._walk(target, key, False, hops, start)
                if current is None:
                    return None
                if last in ("", ".", ".."):  # a link to a folder, not to a file
                    raise IsADirectoryError(errno.EISDIR, "a link to a folder")
                if is_reserved(last):
                    raise _refused(key, "leads through a symlink to a reserved name")
                name = last
        finally:
            if current is not None:
                current.close()

    def _link_target(self, folder: Folder, name: str, key: str, hops: list[int]) -> deque[str]:
        """The segments of a link's target; an absolute one starts with a NUL (from the root)."""
        hops[0] += 1
        if hops[0] > _MAX_LINKS:
            raise _refused(key, "leads through too many symlinks (a loop?)")
        try:
            target = os.readlink(name, dir_fd=folder.fd)
        except OSError as exc:
            raise _refused(key, f"has a symlink that cannot be read ({exc.strerror})") from exc
        if target.startswith("/"):
            for root in self._roots:
                if target == root or target.startswith(root + "/"):
                    return deque(["\0", *target[len(root) + 1 :].split("/")])
            raise _refused(key, "leads through a symlink out of the DataRoom")
        return deque(target.split("/"))

    def _walk(
        self,
        todo: deque[str],
        key: str,
        create: bool,
        hops: list[int],
        start: str = "",
    ) -> Folder | None:
        """Open the folder that the segments ``todo`` name, from the folder ``start``."""
        stack: list[tuple[str, int]] = []
        try:
            if start:  # re-walk to the folder a relative link started from
                todo.extendleft(reversed(start.split("/")))
            while todo:
                segment = todo.popleft()
                if segment in ("", "."):
                    continue
                if segment == "\0":  # an absolute link: from the root again
                    while stack:
                        os.close(stack.pop()[1])
                    continue
                if segment == "..":
                    if not stack:
                        raise _refused(key, "leads through a symlink out of the DataRoom")
                    os.close(stack.pop()[1])
                    continue
                if is_reserved(segment):
                    raise _refused(key, "leads to a reserved name")
                parent = Folder(stack[-1][1] if stack else self.fd, _path(stack), False)
                try:
                    found = self._subfolder(parent, segment, create=create)
                except NotADirectoryError:
                    st = os.stat(segment, dir_fd=parent.fd, follow_symlinks=False)
                    if not stat.S_ISLNK(st.st_mode):
                        raise
                    todo.extendleft(reversed(self._link_target(parent, segment, key, hops)))
                    continue
                if found is None:
                    return None
                stack.append((segment, found.fd))
            if not stack:
                return Folder(self.fd, "", False)
            name, fd = stack.pop()
            return Folder(fd, _path(stack, name), True)
        finally:
            for _, fd in stack:
                os.close(fd)

    def _subfolder(self, parent: Folder, name: str, *, create: bool) -> Folder | None:
        """Open ``name`` in ``parent`` as a folder (never through a link), creating it if asked."""
        for _ in range(8):  # lost races with another creator or remover: try again
            try:
                fd = os.open(name, DIR_FLAGS, dir_fd=parent.fd)
            except FileNotFoundError:
                if not create:
                    return None
            else:
                return Folder(fd, parent.join(name), True)
            try:
                os.mkdir(name, self._dir_mode, dir_fd=parent.fd)
            except FileExistsError:
                continue
            try:
                fd = os.open(name, DIR_FLAGS, dir_fd=parent.fd)
            except FileNotFoundError:
                continue
            try:
                os.fchmod(fd, self._dir_mode)  # whatever the umask
            except BaseException:
                os.close(fd)
                raise
            self._on_created(parent)
            return Folder(fd, parent.join(name), True)
        raise OSError(errno.EAGAIN, f"the folder {name!r} keeps changing")


def _path(stack: list[tuple[str, int]], last: str = "") -> str:
    names = [name for name, _ in stack]
    if last:
        names.append(last)
    return "/".join(names)


def _refused(key: str, why: str) -> InvalidKeyError:
    return InvalidKeyError(f"artifact key {key!r} {why}; such links are never followed", key=key)
