"""A tabular report: a title, lines about it, and sections of rows, as the CSV, XLSX and PDF
writers take it. Every text is already in the reader's language.

Text cells that a spreadsheet could take for a formula (starting with = + - @, a tab or a
carriage return) are neutralised with a leading apostrophe, in CSV and XLSX alike: cells can
hold text typed by users, so they are never trusted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Section:
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True)
class Report:
    title: str
    #: (label, text) lines under the title; an empty label makes the text a line of its own.
    meta: tuple[tuple[str, str], ...]
    sections: tuple[Section, ...]
    #: The language code of the words (nb, nn, en): the PDF declares it.
    lang: str = "en"


def neutralise(value: Any) -> Any:
    """Text a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
