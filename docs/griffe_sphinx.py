"""A Griffe extension for the API reference: the reST the docstrings use, as Markdown.

mkdocstrings parses the ``:param x:`` / ``:raises E:`` fields (``docstring_style:
sphinx``), but the rest of a docstring is read as Markdown. This extension, loaded
by mkdocs.yml, turns what would read wrongly there into its Markdown meaning:

* roles (``:func:`copy_artifacts```, ``:class:`~artifactstore.errors.InvalidKeyError```)
  become code that links to the object's entry in the reference when there is one
  (an optional autoref: no link, and no warning, for a target the reference does not
  render, such as ``dataclasses.replace`` or a private module);
* a paragraph ending in ``::`` before a literal block ends in ``:``, and a ``::``
  paragraph of its own goes;
* an attribute with no docstring takes the ``#:`` comment lines just above it, as
  Sphinx's autodoc does (``MAX_KEY_LENGTH``, the ``Capabilities`` flags).
"""

from __future__ import annotations

import functools
import html
import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:func|meth|class|mod|attr|exc|data|obj|const):`(~?)\.?([^`]+)`")
_LITERAL = re.compile(r"(\S)::(\n\s*\n)")
_LONE_LITERAL = re.compile(r"^[ \t]*::[ \t]*\n(?=[ \t]*\n)", re.MULTILINE)


class SphinxMarkup(griffe.Extension):
    """Rewrite the docstrings of a package once it is loaded."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Rewrite every docstring of ``pkg`` (modules, classes, functions, attributes)."""
        for obj in _walk(pkg):
            if obj.is_attribute and obj.docstring is None:
                _comment_docstring(obj)
            if obj.docstring is not None:
                value = _ROLE.sub(functools.partial(_reference, obj), obj.docstring.value)
                value = _LONE_LITERAL.sub("", _LITERAL.sub(r"\1:\2", value))
                obj.docstring.value = value


def _walk(obj: griffe.Object) -> list[griffe.Object]:
    found = [obj]
    for member in obj.members.values():
        if not member.is_alias:
            found.extend(_walk(member))  # type: ignore[arg-type]
    return found


def _reference(obj: griffe.Object, match: re.Match[str]) -> str:
    short, target = match[1], match[2]
    shown = target.rsplit(".", 1)[-1] if short else target
    identifier = _resolve(obj, target)
    return (
        f'<autoref identifier="{html.escape(identifier)}" optional>'
        f"<code>{html.escape(shown)}</code></autoref>"
    )


def _resolve(obj: griffe.Object, target: str) -> str:
    if target.startswith("artifactstore."):
        return target
    head, _, rest = target.partition(".")
    scope: griffe.Object | None = obj
    while scope is not None:
        try:
            found = scope.resolve(head)
        except griffe.NameResolutionError:
            scope = scope.parent
            continue
        return f"{found}.{rest}" if rest else found
    return target


def _comment_docstring(obj: griffe.Object) -> None:
    filepath = obj.filepath
    if isinstance(filepath, list) or filepath not in obj.lines_collection or obj.lineno is None:
        return
    lines = obj.lines_collection[filepath]
    comment: list[str] = []
    index = obj.lineno - 2  # the line above the assignment, 0-based
    while index >= 0 and lines[index].strip().startswith("#:"):
        comment.insert(0, lines[index].strip()[2:].strip())
        index -= 1
    if comment:
        obj.docstring = griffe.Docstring(
            "\n".join(comment), lineno=index + 2, endlineno=obj.lineno - 1, parent=obj
        )
