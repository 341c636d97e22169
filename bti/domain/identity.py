"""What must never be written into a case: a national identity number (fødselsnummer or
D-number), and a pseudonym that reads like a full name (a warning, not a refusal).

Pure functions; ``bti.services.cases.lifecycle`` applies them to every free-text field of the
concern form and of every workflow action, so the web and the API refuse the same text.
"""

from __future__ import annotations

import re

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


def _is_name_word(word: str) -> bool:
    parts = word.split("-")
    return all(len(p) >= 2 and p[0].isupper() and p[1:].isalpha() and p[1:].islower()
               for p in parts)


def looks_like_full_name(pseudonym: str) -> bool:
    """Two or more capitalised words (``Kari Nordmann``, ``Anne-Lise Berg``): likely a real
    name. Initials (``KN``, ``K. N.``) and single words are not."""
    words = pseudonym.split()
    return len(words) >= 2 and all(_is_name_word(w) for w in words)
