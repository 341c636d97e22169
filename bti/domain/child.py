"""What a case may hold about the child: a pseudonym or initials and a birth year (or, for a
child not yet born, a due month), never a national identity number or a full name (the minimal
identity, ``Case``).

One home for these rules: ``bti.services.cases.lifecycle.open_case`` applies them, and the API
document (``bti.web.api``) states them from the same constants, so the two cannot drift apart.
"""

from __future__ import annotations

import functools
import re
from datetime import date

from bti.domain.rules import DUE_MONTHS_AHEAD
from bti.domain.rules import due_month_problem
from bti.engine.inputs import TRIMMED_TEXT_PATTERN
from bti.engine.inputs import digit_chars
from bti.engine.inputs import not_only
from bti.engine.inputs import parse_int

#: A case is opened for a child or young person born this year or in the 25 years before.
MAX_AGE_YEARS = 25
PSEUDONYM_MAX_LENGTH = 60


def birth_year_range(today: date) -> tuple[int, int]:
    """The first and the last birth year a new case may give, both included."""
    return today.year - MAX_AGE_YEARS, today.year


def due_months(today: date) -> list[str]:
    """Every due month (``YYYY-MM``) an expected child may be given today, soonest first: the
    months ``bti.domain.rules.due_month_problem`` accepts."""
    out = []
    for ahead in range(-1, DUE_MONTHS_AHEAD + 2):  # one each side, to be sure of the bounds
        year, month = divmod(today.year * 12 + today.month - 1 + ahead, 12)
        if due_month_problem(year, month + 1, today) is None:
            out.append(f"{year:04d}-{month + 1:02d}")
    return out


def due_month_error(text: str, today: date) -> str | None:
    """The error code of a due month as given (``invalid``, ``in_past``, ``too_far``), or None.
    """
    year, month = parse_int(text[:4]), parse_int(text[5:])
    if len(text) != 7 or text[4] != "-" or year is None or month is None:
        return "invalid"
    return due_month_problem(year, month, today)


@functools.cache
def pseudonym_pattern() -> str:
    """The pseudonym as JSON Schema (ECMA-262) and Python read it alike: no NUL, no whitespace
    at either end, and not only digits and spaces (a fødselsnummer, however it is spaced or
    whichever digits it is written in). Its length is ``PSEUDONYM_MAX_LENGTH`` at most."""
    return "^" + not_only(digit_chars() + " ") + TRIMMED_TEXT_PATTERN.removeprefix("^")


@functools.cache
def _pseudonym_regex() -> re.Pattern[str]:
    return re.compile(pseudonym_pattern())


def pseudonym_error(pseudonym: str) -> str | None:
    """The error code of a pseudonym as given (``invalid``, ``looks_like_id_number``), or None.
    The caller trims it first if it should."""
    if not 1 <= len(pseudonym) <= PSEUDONYM_MAX_LENGTH or "\x00" in pseudonym:
        return "invalid"
    if _pseudonym_regex().fullmatch(pseudonym):
        return None
    if pseudonym.replace(" ", "").isdigit():
        return "looks_like_id_number"  # never a fødselsnummer
    return "invalid"  # whitespace at an end
