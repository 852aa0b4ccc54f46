"""What a backend can do, as flags that pick the conformance checks it must pass."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from typing import Any

from ..protocol import ArtifactStore

# What artifactstore's own backends can do beyond the defaults (module, class, flags);
# a class's own ``supports_<flag>`` attributes take precedence.
_BUILT_IN: list[tuple[str, str, dict[str, bool]]] = [
    (
        "artifactstore.backends.local",
        "LocalFilesystemArtifactStore",
        {"readable_urls": True, "sha256_in_listings": True},
    ),
    ("artifactstore.backends.s3", "S3ArtifactStore", {"readable_urls": True}),
    ("artifactstore.backends.memory", "MemoryArtifactStore", {"sha256_in_listings": True}),
]


def _built_in(klass: type) -> dict[str, bool]:
    for module_name, class_name, flags in _BUILT_IN:
        # A class that exists was imported: no import here, so none of S3's.
        module = sys.modules.get(module_name)
        if module is not None and getattr(module, class_name, None) is klass:
            return flags
    return {}


@dataclass(frozen=True)
class Capabilities:
    """The optional parts of the ArtifactStore contract a backend declares.

    Every conformance check runs unless it needs a capability the backend does not
    declare (or, for the checks of the other side of a choice, declares): see
    :func:`conformance_checks`. Get a backend's with :meth:`Capabilities.of`;
    override a flag with :func:`dataclasses.replace`.
    """

    #: ``a/b`` and ``a/b/c`` can both be artifacts (object stores). When ``False``
    #: (a filesystem) the second put is refused with ``InvalidKeyError`` and
    #: nothing is written. Class attribute: ``supports_file_and_folder_at_same_key``.
    file_and_folder_at_same_key: bool = True
    #: ``put``/``copy``/``move`` with ``if_not_exists=True`` are atomic: of many
    #: concurrent writers exactly one wins, the others get ``ArtifactExistsError``.
    conditional_writes: bool = True
    #: An operation cancelled from async code (a put midway, a stream being read)
    #: stops and leaves nothing behind. Not so through the sync facade, whose calls
    #: run to their end on the facade's thread.
    cancellation: bool = True
    #: ``get_url`` returns a ``file:``, ``http:`` or ``https:`` URL that reads the
    #: artifact's bytes with no credentials (a path, a presigned URL), not only an
    #: identifier such as ``memory://...``.
    readable_urls: bool = False
    #: ``list`` fills in every artifact's ``sha256``; otherwise it may be ``None``
    #: there (S3 listings carry no user metadata) and ``get_metadata`` has it.
    sha256_in_listings: bool = False
    #: The store's operations await nothing but its own worker thread, so the sync
    #: facade runs them in the calling thread. Class attribute of the same name.
    runs_without_event_loop: bool = False

    @classmethod
    def of(cls, store: ArtifactStore | type[ArtifactStore]) -> Capabilities:
        """The capabilities a store (or store class) declares.

        Each flag comes from a class attribute ``supports_<flag>`` when the class
        has one (``runs_without_event_loop`` from the attribute of that name), else
        from what is known of artifactstore's own backends, else the default.
        """
        klass = store if isinstance(store, type) else type(store)
        values: dict[str, Any] = {}
        for base in reversed(klass.__mro__):
            values.update(_built_in(base))
        for field in dataclasses.fields(cls):
            attribute = field.name
            if attribute != "runs_without_event_loop":
                attribute = f"supports_{attribute}"
            declared = getattr(klass, attribute, None)
            if isinstance(declared, bool):
                values[field.name] = declared
        return cls(**values)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The names of the flags."""
        return tuple(field.name for field in dataclasses.fields(cls))
