"""Translations for renderers: what a caller passes in, and the catalogues outside a request.

The UI catalogues (``bti/web/translations``, English message ids, nb and nn) are the one
translation path for UI text. The web layer passes Flask-Babel's translations for the user's
language; a caller without a request (the command line, a job, a test) loads the same files
with Babel's ``support.Translations.load`` here, without Flask.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Protocol

from babel import support

#: The compiled catalogues Flask-Babel reads (``<lang>/LC_MESSAGES/messages.mo``).
TRANSLATIONS = Path(__file__).resolve().parent.parent / "web" / "translations"
DOMAIN = "messages"


class Translator(Protocol):
    """gettext and pgettext for one language: Babel's ``Translations`` and
    ``NullTranslations`` (the message ids, English) are ones, as is what
    ``flask_babel.get_translations()`` returns for a request."""

    def gettext(self, message: str) -> str: ...

    def pgettext(self, context: str, message: str) -> str: ...


@cache
def translations(lang: str) -> support.NullTranslations:
    """The catalogue of ``lang`` (nb, nn); English and a language without a catalogue get the
    message ids themselves, as in the web UI."""
    return support.Translations.load(str(TRANSLATIONS), locales=[lang], domain=DOMAIN)
