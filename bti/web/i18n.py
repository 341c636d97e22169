"""Languages: bokmål (default), nynorsk and English (Flask-Babel).

Message ids in code and templates are English; ``translations/`` holds the nb and nn catalogues.
The language is the user's saved choice, else the one picked on the sign-in page, else bokmål.
Workflow labels come from the workflow file in the same language.
"""

from __future__ import annotations

from datetime import date
from datetime import datetime

from flask import Flask
from flask import g
from flask import session as cookie
from flask_babel import Babel
from flask_babel import get_locale
from flask_login import current_user

from bti.domain.clock import OSLO
from bti.domain.clock import local
from bti.domain.clock import local_date

LANGUAGES = {"nb": "Norsk (bokmål)", "nn": "Norsk (nynorsk)", "en": "English"}
DEFAULT = "nb"


def select_locale() -> str:
    if current_user and current_user.is_authenticated and current_user.locale in LANGUAGES:
        return current_user.locale
    lang = cookie.get("lang")
    return lang if lang in LANGUAGES else DEFAULT


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
    app.jinja_env.filters["label"] = label
    app.jinja_env.filters["d"] = fmt_date
    app.jinja_env.filters["dt"] = fmt_datetime
    app.jinja_env.globals["LANGUAGES"] = LANGUAGES
    app.jinja_env.globals["current_lang"] = lang
