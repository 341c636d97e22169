"""HTML blueprints, one module per feature, and the menu they share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask
from flask import request
from flask import url_for
from flask_babel import gettext as _
from flask_login import current_user

from bti.domain import policy as who
from bti.domain.org import Actor


@dataclass(frozen=True)
class MenuItem:
    url: str
    label: str
    active: bool


def menu_entries() -> list[tuple[str, str, Callable[[Actor], bool]]]:
    """Every link of the menu: (endpoint, label, who sees it). A link to a route declared with
    ``@policy.allowed`` names that route's own predicate (tests/web/test_policy.py checks), so
    the menu shows exactly the pages the user may reach."""
    return [
        ("inbox.index", _("My cases"), who.works_on_cases),
        ("cases.new_concern", _("New concern"), who.works_on_cases),
        ("teams.mine", _("My teams"), who.may_use_teams),
        ("guide.index", _("How we work"), who.may_read_guide),
        ("wheel.index", _("Annual wheel"), who.may_read_annual_wheel),
        ("leader.overview", _("Unit overview"), who.may_use_leader_views),
        ("analytics.dashboard", _("Analytics"), who.may_view_analytics),
        ("catalogue.index", _("Catalogue of measures"), who.may_browse_catalogue),
        ("audit.search", _("Access log"), who.may_search_access_log),
        ("audit.reviews", _("Log follow-up"), who.may_follow_up_access_log),
        ("admin.users", _("Users"), who.may_administer_users),
        ("admin.units", _("Units"), who.may_administer_organisation),
        ("admin.municipality", _("Municipality settings"), who.may_administer_users),
        ("teams.admin_list", _("Teams"), who.may_administer_teams),
    ]


def main_menu() -> list[MenuItem]:
    """The menu for the signed-in user: the links whose predicate holds for them."""
    return [MenuItem(url_for(endpoint), label, request.endpoint == endpoint)
            for endpoint, label, may in menu_entries() if may(current_user)]


def register_blueprints(app: Flask) -> None:
    from bti.web.ui import access
    from bti.web.ui import accessibility
    from bti.web.ui import admin
    from bti.web.ui import analytics
    from bti.web.ui import audit
    from bti.web.ui import cases
    from bti.web.ui import catalogue
    from bti.web.ui import family
    from bti.web.ui import family_staff
    from bti.web.ui import family_voice
    from bti.web.ui import guide
    from bti.web.ui import inbox
    from bti.web.ui import leader
    from bti.web.ui import notifications
    from bti.web.ui import practice
    from bti.web.ui import privacy
    from bti.web.ui import settings
    from bti.web.ui import teams
    from bti.web.ui import wheel

    for module in (inbox, notifications, cases, leader, audit, access, admin, privacy,
                   catalogue, analytics, settings, teams, family, family_staff, guide,
                   accessibility, wheel, family_voice, practice):
        app.register_blueprint(module.bp)
