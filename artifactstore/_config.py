"""Reading configuration: environment variables and store URLs, for every backend.

The backends read their own settings (``backends/local/config.py``,
``S3Settings.options_from_env``); these are the helpers they share, so that a
boolean, a number or a bad URL is refused the same way, naming the setting.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from .errors import StorageConfigError

__all__ = ["SCHEME", "env", "flag", "query_options", "shown"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
#: A URL scheme: two characters at least, so that a Windows drive (C:) stays a path.
SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):")


def env(environ: Mapping[str, str], name: str) -> str | None:
    """The variable's value without surrounding blanks, or ``None`` when unset or blank."""
    value = environ.get(name, "").strip()
    return value or None


def _boolean(text: str, setting: str, shown_as: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise StorageConfigError(f"{shown_as} is not a boolean; use true or false", setting=setting)


def flag(environ: Mapping[str, str], name: str, default: bool) -> bool:
    """A boolean variable (``true``/``false``, ``1``/``0``, ``yes``/``no``, ``on``/``off``)."""
    value = env(environ, name)
    return default if value is None else _boolean(value, name, f"{name}={value!r}")


def shown(url: str) -> str:
    """``url`` fit for an error message: no user info, no query values (they may be secrets)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    names = [pair.split("=", 1)[0] for pair in parts.query.split("&") if pair]
    query = "&".join(f"{name}=..." for name in names)
    return urlunsplit(parts._replace(netloc=netloc, query=query, fragment=""))


def query_options(url: str, types: Mapping[str, type]) -> dict[str, Any]:
    """The options of a URL's query string, each converted to its type in ``types``.

    ``int``: a whole number; ``float``: a positive number of seconds; ``bool``:
    true or false; ``str``: non-empty text. Anything else is a ``StorageConfigError``.
    """
    query = urlsplit(url).query
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise StorageConfigError(
            f"{shown(url)!r} has a malformed query string", setting="url"
        ) from None
    found: dict[str, Any] = {}
    for name, text in pairs:
        if name not in types:
            raise StorageConfigError(
                f"unknown option {name!r} in store URL {shown(url)!r}; known: "
                f"{', '.join(sorted(types))}",
                setting=name,
            )
        if name in found:
            raise StorageConfigError(
                f"option {name!r} is given twice in {shown(url)!r}", setting=name
            )
        found[name] = _convert(name, text, types[name])
    return found


def _convert(name: str, text: str, kind: type) -> Any:
    if kind is int:
        if not (text.isascii() and text.isdigit()) or len(text) > 18:
            raise StorageConfigError(f"option {name}={text!r} must be a whole number", setting=name)
        return int(text)
    if kind is float:
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not value > 0 or value == float("inf"):
            raise StorageConfigError(
                f"option {name}={text!r} must be a positive number of seconds", setting=name
            )
        return value
    if kind is bool:
        return _boolean(text, name, f"option {name}={text!r}")
    if not text:
        raise StorageConfigError(f"option {name} is empty", setting=name)
    return text
