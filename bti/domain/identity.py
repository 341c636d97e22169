"""A pseudonym that reads like a full name: a warning on the concern form, not a refusal.

The other thing a case must never hold, a national identity number, is a rule of every text
input and lives with them (``bti.engine.inputs.contains_national_id``, applied by
``check_text`` to every workflow text field).
"""

from __future__ import annotations


def _is_name_word(word: str) -> bool:
    parts = word.split("-")
    return all(len(p) >= 2 and p[0].isupper() and p[1:].isalpha() and p[1:].islower()
               for p in parts)


def looks_like_full_name(pseudonym: str) -> bool:
    """Two or more capitalised words (``Kari Nordmann``, ``Anne-Lise Berg``): likely a real
    name. Initials (``KN``, ``K. N.``) and single words are not."""
    words = pseudonym.split()
    return len(words) >= 2 and all(_is_name_word(w) for w in words)
