"""JSON values kept in Table storage string properties, written and read one way everywhere.

A string property holds 32K UTF-16 characters (64 KiB). A value longer than `MAX_TEXT` as JSON
is stored as a marker saying so, never cut mid-way (a cut JSON text cannot be read back).
"""

from __future__ import annotations

import json
from typing import Any

MAX_TEXT = 30_000


def to_text(value: Any) -> str:
    text = json.dumps(value, default=str, sort_keys=True)
    if len(text) <= MAX_TEXT:
        return text
    return json.dumps({"truncated": True, "size": len(text)})


def from_text(text: Any, default: Any = None) -> Any:
    """The value `to_text` stored, or `default` for an empty or unreadable property."""
    if not isinstance(text, str) or not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default
