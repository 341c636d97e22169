"""Everything the templates get besides a view's own variables: the Jinja globals, filters and
context processors of the app, registered in one place by ``init_app``.

The helpers themselves live with what they serve (the case page's texts in ``bti.web.ui.cases``,
the audit codes in ``bti.web.ui.audit`` …); no blueprint or module registers its own.
Helpers that depend on the request (the language, the CSP nonce, the menu) are functions the
template calls, so they are evaluated per request. Globals, unlike context processors, are seen
by macros imported without context too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from datetime import datetime
from decimal import Decimal
from typing import Any

from babel.numbers import format_decimal
from babel.numbers import format_percent
from flask import Flask
from flask_babel import gettext as _


def machine_time(value: date | datetime | None) -> str:
    """A ``<time datetime>`` value: a date as YYYY-MM-DD, a moment to the second with its
    offset (HTML allows at most three digits of a second's fraction; a stored moment has six)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return value.isoformat()


def suppressed() -> str:
    """What a suppressed small count reads as (never "<5", which looks like a number)."""
    return _("fewer than 5")


def num(value: int | float | Decimal | None, suppressed_text: str | None = None) -> str:
    """A figure in the page's language (Babel: decimal comma and a thin space between
    thousands in nb and nn); a suppressed one (None) in words."""
    if value is None:
        return suppressed_text or suppressed()
    from bti.web.i18n import lang

    return format_decimal(value, locale=lang())


def pct(value: int | float | None) -> str:
    """A share in per cent (``12.5`` for 12.5 %) in the page's language: "12,5 %" in nb and
    nn, "12.5%" in English; a suppressed one in words."""
    if value is None:
        return suppressed()
    from bti.web.i18n import lang

    # through the decimal text, so 33.3 stays 33.3 and is not 33.299999…
    return format_percent(Decimal(str(value)) / 100, locale=lang(), decimal_quantization=False)


def filters() -> dict[str, Callable[..., Any]]:
    from bti.web import i18n

    return {
        "label": i18n.label,
        "d": i18n.fmt_date,
        "dt": i18n.fmt_datetime,
        "machine_time": machine_time,
        "num": num,
        "pct": pct,
    }


def globals_() -> dict[str, Any]:
    from bti.web import i18n
    from bti.web import oidc
    from bti.web import security
    from bti.web import ui
    from bti.web.forms import error_text
    from bti.web.ui import admin
    from bti.web.ui import audit
    from bti.web.ui import cases
    from bti.web.ui import family

    return {
        "LANGUAGES": i18n.LANGUAGES,
        "current_lang": i18n.lang,
        "csp_nonce": security.csp_nonce,
        "main_menu": ui.main_menu,
        "error_text": error_text,
        "field_error": cases.field_error,
        "refusal_text": cases.refusal_text,
        "caution_text": cases.caution_text,
        "kind_labels": cases.kind_labels,
        "deadline_labels": cases.deadline_labels,
        "default_values": cases.default_values,
        "guard_text": cases.guard_text,
        "check_why": cases.check_why,
        "trigger_label": cases.trigger_label,
        "given_by_labels": cases.given_by_labels,
        "barnevern_contacts": cases.barnevern_contacts,
        "role_labels": admin.role_labels,
        "admin_error_text": admin.admin_error_text,
        "audit_label": audit.audit_label,
        "oidc_providers": oidc.providers,
        "family_text": family.family_text,
        "family_code_text": family.family_code_text,
        "family_errors": family.family_errors,
        "family_role_options": family.family_role_options,
        "family_signed_in": family.current_family,
    }


def _inbox_helpers() -> dict[str, Any]:
    from bti.services.cases import inbox as inbox_service
    from bti.web.ui.inbox import case_url
    from bti.web.ui.notifications import unread_badge

    return {"case_url": case_url, "URGENCY_ORDER": inbox_service.URGENCY_ORDER,
            "unread_badge": unread_badge}


def init_app(app: Flask) -> None:
    """Register every filter, global and context processor the templates use."""
    app.jinja_env.filters.update(filters())
    app.jinja_env.globals.update(globals_())
    app.context_processor(_inbox_helpers)
