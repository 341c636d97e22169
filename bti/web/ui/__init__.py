"""HTML blueprints, one module per feature, and the template helpers they share."""

from __future__ import annotations

from dataclasses import dataclass

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
    if roles & {"leader", "privacy_officer"}:
        items.append(("audit.search", _("Access log")))
    if roles & {"admin"}:
        items.append(("admin.users", _("Users")))
    out = []
    for endpoint, label in items:
        try:
            url = url_for(endpoint)
        except Exception:  # noqa: S112 - a feature not registered in this app
            continue
        out.append(MenuItem(url, label, request.endpoint == endpoint))
    return out


def register_blueprints(app: Flask) -> None:
    from bti.web.ui import inbox

    app.register_blueprint(inbox.bp)
    for name in ("cases", "leader", "audit", "access", "admin"):
        try:
            module = __import__(f"bti.web.ui.{name}", fromlist=["bp"])
        except ModuleNotFoundError:
            continue
        app.register_blueprint(module.bp)
    app.jinja_env.globals["main_menu"] = main_menu
    app.jinja_env.globals["error_text"] = error_text
