"""A document as JSON bytes."""

from __future__ import annotations

import json
from typing import Any


def document(doc: dict[str, Any]) -> bytes:
    """UTF-8 JSON, keys in the document's order, one space of indent: readable, and the bytes
    the archive package hashes."""
    return json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=False).encode("utf-8")
