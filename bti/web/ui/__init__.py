"""HTML blueprints, one module per feature, and the template helpers they share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from datetime import datetime

from flask import Flask
from flask import request
from flask import url_for
from flask_babel import gettext as _
from flask_login import current_user

from bti.web.forms import error_text


@dataclass(frozen=True)
class MenuItem:
    url: str
    label: str
    active: bool


def main_menu() -> list[MenuItem]:
    """The menu for the signed-in user's roles (pages they can reach; policies still decide)."""
    roles = current_user.roles
    items: list[tuple[str, str]] = []
    if roles & {"employee", "coordinator", "leader"}:
        items += [("inbox.index", _("My cases")), ("cases.new_concern", _("New concern"))]
    if roles & {"leader"}:
        items.append(("leader.overview", _("Unit overview")))
    if roles & {"leader", "admin"}:
        items += [("analytics.dashboard", _("Analytics")),
                  ("catalogue.index", _("Catalogue of measures"))]
    if roles & {"leader", "privacy_officer"}:
        items.append(("audit.search", _("Access log")))
        items.append(("audit.reviews", _("Log follow-up")))
    if roles & {"admin"}:
        items.append(("admin.users", _("Users")))
    out = []
    for endpoint, label in items:
        out.append(MenuItem(url_for(endpoint), label, request.endpoint == endpoint))
    return out


def machine_time(value: date | datetime | None) -> str:
    """A ``<time datetime>`` value: a date as YYYY-MM-DD, a moment to the second with its
    offset (HTML allows at most three digits of a second's fraction; a stored moment has six)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return value.isoformat()


def register_blueprints(app: Flask) -> None:
    from bti.web.ui import access
    from bti.web.ui import admin
    from bti.web.ui import analytics
    from bti.web.ui import audit
    from bti.web.ui import cases
    from bti.web.ui import catalogue
    from bti.web.ui import inbox
    from bti.web.ui import leader
    from bti.web.ui import privacy

    for module in (inbox, cases, leader, audit, access, admin, privacy, catalogue, analytics):
        app.register_blueprint(module.bp)
    app.jinja_env.globals["main_menu"] = main_menu
    app.jinja_env.globals["error_text"] = error_text
    app.jinja_env.filters["machine_time"] = machine_time
