"""Values from outside the program (form fields, query strings, URL paths, JSON bodies), read
by one set of rules everywhere, each also written as JSON Schema so the API document states
exactly what is accepted.

- **Whole numbers** are ASCII digits only (``"²"``, ``"١٢"``, ``"+1"``, ``"1_0"``, ``"1e3"``,
  ``" 1"`` are not numbers here; ``int()`` takes several of them, and ``str.isdigit()`` says yes
  to ``"²"`` which ``int()`` then refuses), at most ``MAX_DIGITS`` of them, within the range of a
  PostgreSQL ``integer``. In JSON a whole number is what JSON Schema calls an integer: ``3`` and
  ``3.0``, never ``"3"`` or ``true``.
- **Text** is trimmed of the whitespace ``str.strip()`` removes; NUL is refused (PostgreSQL
  cannot store it). ``WHITESPACE`` is that set, spelled out, because ``\\s`` means something else
  in ECMA-262 (the regex dialect of JSON Schema) than in Python.
- **Text never holds a national identity number** (fødselsnummer, D-, H- or synthetic
  number: eleven digits, grouped or not, with valid mod-11 check digits); a case is about a
  child named by a pseudonym.
- **Dates** are ``YYYY-MM-DD`` in ASCII digits (RFC 3339 ``full-date``, JSON Schema's
  ``format: date``), not the other forms ``date.fromisoformat`` also takes.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from datetime import date
from typing import Any

from marshmallow import fields

#: The largest id or integer a value may hold (a PostgreSQL ``integer``): a larger one is
#: refused instead of overflowing in the database.
MAX_INT = 2**31 - 1
#: The most digits a whole number may have (``MAX_INT`` has ten): a 5,000-digit number is
#: refused before ``int()`` sees it.
MAX_DIGITS = len(str(MAX_INT))
#: A whole number as text, for a URL converter and a JSON Schema ``pattern``.
DIGITS_REGEX = f"[0-9]{{1,{MAX_DIGITS}}}"
_DIGITS = re.compile(DIGITS_REGEX)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_int(text: Any, *, minimum: int = 0, maximum: int = MAX_INT) -> int | None:
    """The whole number ``text`` spells in ASCII digits, if it lies in [minimum, maximum];
    None for anything else (not a string, empty, other characters, too many digits, out of
    range). The caller trims the text first if it should."""
    if not isinstance(text, str) or not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if minimum <= value <= maximum else None


def json_int(value: Any) -> int | None:
    """A JSON number that is an integer in JSON Schema's sense (``3`` or ``3.0``), as an int;
    None for a bool, a string, a fraction or anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def parse_date(text: Any) -> date | None:
    """A ``YYYY-MM-DD`` date in ASCII digits, or None."""
    if not isinstance(text, str) or not _ISO_DATE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:  # 2026-02-30
        return None


# --- character classes, written so ECMA-262 and Python read them alike ---------------------------


def _escape(c: str) -> str:
    code = ord(c)
    if c.isascii() and (c.isalnum() or c == "_"):
        return c
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return c  # astral characters literally: ``\\U`` is Python's, ``\\u{…}`` ECMA's


def char_class(chars: Iterable[str], *, negate: bool = False) -> str:
    """A regex character class of ``chars``, as ranges, every special character escaped."""
    codes = sorted({ord(c) for c in chars})
    parts: list[str] = []
    i = 0
    while i < len(codes):
        j = i
        while j + 1 < len(codes) and codes[j + 1] == codes[j] + 1:
            j += 1
        first, last = chr(codes[i]), chr(codes[j])
        if j == i:
            parts.append(_escape(first))
        elif j == i + 1:
            parts.append(_escape(first) + _escape(last))
        else:
            parts.append(f"{_escape(first)}-{_escape(last)}")
        i = j + 1
    return "[" + ("^" if negate else "") + "".join(parts) + "]"


def chars_where(predicate: Callable[[str], bool]) -> str:
    """Every character ``predicate`` holds for (a tenth of a second: cache the result)."""
    return "".join(c for c in map(chr, range(sys.maxunicode + 1)) if predicate(c))


#: What ``str.strip()`` removes (``chars_where(str.isspace)``; a test checks it).
WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003"
              "\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


@functools.cache
def digit_chars() -> str:
    """What ``str.isdigit()`` calls a digit (``²`` and ``١`` too)."""
    return chars_where(str.isdigit)

#: A character that is neither whitespace nor NUL.
_SOLID = char_class(WHITESPACE + "\x00", negate=True)
#: The end of the text. Not ``$``: in Python it also matches before a final newline.
END = r"(?![\s\S])"
#: Text without NUL; and text without NUL that holds something besides whitespace.
ANY_TEXT_PATTERN = rf"^[^\u0000]*{END}"
NONBLANK_TEXT_PATTERN = rf"^[^\u0000]*{_SOLID}[^\u0000]*{END}"
#: Text without NUL that neither starts nor ends with whitespace (and is not empty).
TRIMMED_TEXT_PATTERN = rf"^{_SOLID}(?:[^\u0000]*{_SOLID})?{END}"


def not_only(chars: str) -> str:
    """A lookahead: the text is not made of ``chars`` alone."""
    return rf"(?!{char_class(chars)}+{END})"


# --- marshmallow fields -----------------------------------------------------------------------


class WholeNumber(fields.Integer):
    """A JSON integer (``3`` or ``3.0``); a string, a bool or a fraction is ``invalid``. The
    range is the field's ``validate.Range``, so the API document shows it."""

    def _validated(self, value: Any) -> int:
        number = json_int(value)
        if number is None:
            raise self.make_error("invalid", input=value)
        return number


class QueryWholeNumber(fields.Integer):
    """A whole number in a query string: ASCII digits only (``parse_int``)."""

    def _validated(self, value: Any) -> int:
        number = parse_int(value, maximum=10**MAX_DIGITS - 1)
        if number is None:
            raise self.make_error("invalid", input=value)
        return number


class StrictBoolean(fields.Boolean):
    """JSON ``true`` or ``false`` only (marshmallow's Boolean also takes ``"yes"``, ``1`` …)."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> bool:
        if value is True or value is False:
            return value
        raise self.make_error("invalid", input=value)


class IsoDate(fields.Date):
    """A ``YYYY-MM-DD`` date in ASCII digits (``parse_date``)."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> date:
        parsed = parse_date(value)
        if parsed is None:
            raise self.make_error("invalid", input=value)
        return parsed


#: Eleven digits, written together or grouped with single spaces, dots or hyphens (``010190
#: 12345``, ``010190-12345``), not part of a longer run of digits.
_CANDIDATE = re.compile(r"(?<![0-9])[0-9](?:[ .\-\u00a0]?[0-9]){10}(?![0-9])")
_WEIGHTS_1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_WEIGHTS_2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def _check_digit(digits: list[int], weights: tuple[int, ...]) -> int | None:
    rest = 11 - sum(d * w for d, w in zip(digits, weights, strict=False)) % 11
    if rest == 11:
        return 0
    return None if rest == 10 else rest


def is_national_id(number: str) -> bool:
    """True for eleven ASCII digits that are a valid fødselsnummer, D-number (day + 40),
    H-number (month + 40) or synthetic test number (month + 80, Skatteetaten's Tenor; the tests
    use only these, which belong to nobody): a plausible date and both mod-11 check digits
    right."""
    if len(number) != 11 or not number.isascii() or not number.isdigit():
        return False
    digits = [int(c) for c in number]
    day, month = int(number[0:2]), int(number[2:4])
    if day > 40:
        day -= 40  # D-number
    if month > 80:
        month -= 80  # a synthetic test number (Tenor)
    elif month > 40:
        month -= 40  # H-number
    if not (1 <= day <= 31 and 1 <= month <= 12):
        return False
    return (_check_digit(digits[:9], _WEIGHTS_1) == digits[9]
            and _check_digit(digits[:10], _WEIGHTS_2) == digits[10])


def contains_national_id(text: str) -> bool:
    """True when ``text`` holds a fødselsnummer or D-number anywhere, grouped or not."""
    if not isinstance(text, str):
        return False
    for found in _CANDIDATE.finditer(text):
        if is_national_id(re.sub(r"[^0-9]", "", found.group())):
            return True
    return False


#: The error code of a text that holds a national identity number.
ID_NUMBER = "contains_id_number"


def check_text(text: str, *, max_length: int, required: bool) -> str | None:
    """The error code of a text field (``too_long``, ``nul``, ``contains_id_number``,
    ``required``) or None. The length is of the text as sent; blank text counts as absent."""
    if len(text) > max_length:
        return "too_long"
    if "\x00" in text:
        return "nul"
    if contains_national_id(text):
        return ID_NUMBER
    if required and not text.strip():
        return "required"
    return None


__all__ = [
    "ANY_TEXT_PATTERN",
    "DIGITS_REGEX",
    "ID_NUMBER",
    "END",
    "MAX_DIGITS",
    "MAX_INT",
    "NONBLANK_TEXT_PATTERN",
    "TRIMMED_TEXT_PATTERN",
    "WHITESPACE",
    "IsoDate",
    "QueryWholeNumber",
    "StrictBoolean",
    "WholeNumber",
    "char_class",
    "chars_where",
    "check_text",
    "contains_national_id",
    "digit_chars",
    "is_national_id",
    "json_int",
    "not_only",
    "parse_date",
    "parse_int",
]
