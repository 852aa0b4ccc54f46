"""Serving artifacts from async web handlers: Starlette, and so FastAPI (extra ``web``).

* ``artifact_response(store, key, request)`` streams an artifact, never loading it
  whole, with ranges, ETags and conditional requests; ``ArtifactResponse`` is its
  class.
* ``download_app(store, secret=...)`` serves the local backend's signed links.

Defined in ``artifactstore.web._starlette`` and imported on first use, so that
``artifactstore.web.aiohttp`` works without Starlette installed; their
``__module__`` is then set to ``artifactstore.web``, where they are imported from.
See ``docs/web.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._starlette import ArtifactResponse, artifact_response, download_app

__all__ = ["ArtifactResponse", "artifact_response", "download_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from .. import _publish
        from . import _starlette

        _publish(__name__, __all__, vars(_starlette))
        globals().update({exported: getattr(_starlette, exported) for exported in __all__})
        return getattr(_starlette, name)
    raise AttributeError(f"module 'artifactstore.web' has no attribute {name!r}")
