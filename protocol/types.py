"""Constrained field types shared by every message.

msgspec checks these constraints while it decodes, so a handler never sees an
over-long id or a negative counter.
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

from protocol.limits import (
    MAX_ID_CHARS,
    MAX_ITEM_NAME_CHARS,
    MAX_LIST_NAME_CHARS,
    MAX_QUANTITY,
    MAX_REASON_CHARS,
    MAX_STATE_BYTES,
)

__all__ = [
    "UUID4_PATTERN",
    "Blob",
    "Count",
    "Id",
    "ItemName",
    "ListId",
    "ListName",
    "Quantity",
    "Reason",
]

#: Canonical lowercase uuid4, the only form a list id takes.
UUID4_PATTERN: Final = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\Z"

ListId = Annotated[str, msgspec.Meta(pattern=UUID4_PATTERN)]
Id = Annotated[str, msgspec.Meta(max_length=MAX_ID_CHARS)]
ItemName = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ITEM_NAME_CHARS)]
ListName = Annotated[str, msgspec.Meta(max_length=MAX_LIST_NAME_CHARS)]
Reason = Annotated[str, msgspec.Meta(max_length=MAX_REASON_CHARS)]
Blob = Annotated[bytes, msgspec.Meta(max_length=MAX_STATE_BYTES)]
Count = Annotated[int, msgspec.Meta(ge=0, le=2**62)]
Quantity = Annotated[int, msgspec.Meta(ge=0, le=MAX_QUANTITY)]
