"""The deal-team layout: where a deal's artifacts go, and ``build_key``, which builds their keys.

The convention::

    {deal_id}/emails/{message_id}.eml
    {deal_id}/documents/{cim|teasers|financials}/{filename}
    {deal_id}/generated/{loi|responses}/{filename}
    {deal_id}/extracted/{filename}

It is a convention, not a rule: any key that obeys :mod:`artifactstore.keys` can
be stored. Every name here is also exported by ``artifactstore`` (except
``SUBCATEGORIES`` and ``CATEGORIES``) and by ``artifactstore.keys``.
"""

from __future__ import annotations

import unicodedata

from .errors import InvalidKeyError
from .keys import normalize_key

__all__ = [
    "CATEGORIES",
    "CATEGORY_DOCUMENTS",
    "CATEGORY_EMAILS",
    "CATEGORY_EXTRACTED",
    "CATEGORY_GENERATED",
    "SUBCATEGORIES",
    "SUBCATEGORY_CIM",
    "SUBCATEGORY_FINANCIALS",
    "SUBCATEGORY_LOI",
    "SUBCATEGORY_RESPONSES",
    "SUBCATEGORY_TEASERS",
    "build_key",
]

CATEGORY_EMAILS = "emails"
CATEGORY_DOCUMENTS = "documents"
CATEGORY_GENERATED = "generated"
CATEGORY_EXTRACTED = "extracted"

SUBCATEGORY_CIM = "cim"
SUBCATEGORY_TEASERS = "teasers"
SUBCATEGORY_FINANCIALS = "financials"
SUBCATEGORY_LOI = "loi"
SUBCATEGORY_RESPONSES = "responses"

#: The conventional subcategories of each category.
SUBCATEGORIES: dict[str, tuple[str, ...]] = {
    CATEGORY_EMAILS: (),
    CATEGORY_DOCUMENTS: (SUBCATEGORY_CIM, SUBCATEGORY_TEASERS, SUBCATEGORY_FINANCIALS),
    CATEGORY_GENERATED: (SUBCATEGORY_LOI, SUBCATEGORY_RESPONSES),
    CATEGORY_EXTRACTED: (),
}
CATEGORIES: tuple[str, ...] = tuple(SUBCATEGORIES)


def _part(name: str, value: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if "/" in value:
        raise InvalidKeyError(f"invalid {name} {value!r}: a key part cannot contain '/'", key=value)
    normalized = normalize_key(value)
    if normalized != unicodedata.normalize("NFC", value):
        raise InvalidKeyError(f"invalid {name} {value!r}: must be one plain name", key=value)
    return normalized


def build_key(deal_id: str, category: str, filename: str, subcategory: str | None = None) -> str:
    """Build ``{deal_id}/{category}[/{subcategory}]/{filename}``, validating each part.

    Every part must be one valid segment: no ``/``, no traversal, no reserved name.
    ``category`` and ``subcategory`` are usually the ``CATEGORY_*`` and
    ``SUBCATEGORY_*`` constants; other names are accepted for custom layouts.
    """
    parts = [_part("deal_id", deal_id), _part("category", category)]
    if subcategory is not None:
        parts.append(_part("subcategory", subcategory))
    parts.append(_part("filename", filename))
    return normalize_key("/".join(parts))
