"""Languages: bokmål (default), nynorsk and English (Flask-Babel).

Message ids in code and templates are English; ``translations/`` holds the nb and nn catalogues.
Workflow labels come from the workflow file in the same language. The language of a page is,
first to decide:

1. the signed-in user's saved choice (the language selector; ``user_account.locale``);
2. a language picked with the selector on the sign-in page, not yet saved (cookie ``lang``),
   or, on the sign-in page after signing out, the language the user had (``signed_out_lang``);
3. the browser's ``Accept-Language``: the supported language with the highest quality
   (``no`` is bokmål; ``nb-NO``, ``nn-NO``, ``en-GB`` … count as their language);
4. for a signed-in user, the municipality's målform (``municipality.malform``, nb or nn);
5. bokmål.
"""

from __future__ import annotations

from datetime import date
from datetime import datetime

from flask import Flask
from flask import g
from flask import request
from flask import session as cookie
from flask_babel import Babel
from flask_babel import get_locale
from flask_login import current_user
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from bti.domain.clock import OSLO
from bti.domain.clock import local
from bti.domain.clock import local_date
from bti.domain.org import MALFORMS

LANGUAGES = {"nb": "Norsk (bokmål)", "nn": "Norsk (nynorsk)", "en": "English"}
DEFAULT = "nb"


#: Primary language subtags of Accept-Language and the language they get.
_BROWSER_LANGUAGES = {"nb": "nb", "no": "nb", "nn": "nn", "en": "en"}


def from_accept_language(header: str | None) -> str | None:
    """The supported language the browser prefers most (RFC 9110 quality values; of equal
    quality, the first named), or None if it asks for none of them."""
    if not header:
        return None
    for value, quality in parse_accept_header(header, LanguageAccept):
        if quality <= 0:
            continue
        code = _BROWSER_LANGUAGES.get(value.replace("_", "-").split("-", 1)[0].strip().lower())
        if code is not None:
            return code
    return None


def select_locale() -> str:
    user = current_user if current_user and current_user.is_authenticated else None
    if user is not None and user.locale in LANGUAGES:
        return user.locale
    for key in ("lang", "signed_out_lang"):
        picked = cookie.get(key)
        if picked in LANGUAGES and (key == "lang" or user is None):
            return picked
    browser = from_accept_language(request.headers.get("Accept-Language"))
    if browser is not None:
        return browser
    malform = getattr(user, "malform", None)
    return malform if malform in MALFORMS else DEFAULT


def lang() -> str:
    """The current language code: nb, nn or en (looked up once per request)."""
    code = g.get("bti_lang")
    if code is None:
        loc = get_locale()
        code = str(loc) if loc else DEFAULT
        code = g.bti_lang = code if code in LANGUAGES else DEFAULT
    return code


def label(value) -> str:
    """A workflow label ({nb, nn, en} mapping or object with .get) in the current language."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    code = lang()
    try:
        return value[code] or value[DEFAULT]
    except (KeyError, TypeError):
        return str(value)


def fmt_date(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = local_date(value)
    if isinstance(value, date):
        return value.strftime("%d.%m.%Y")
    return str(value)


def fmt_datetime(value) -> str:
    if value is None:
        return ""
    return local(value).strftime("%d.%m.%Y %H:%M")


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", OSLO.key)
    Babel(app, locale_selector=select_locale)
