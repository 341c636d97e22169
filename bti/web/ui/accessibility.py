"""The accessibility statement (tilgjengelighetserklæring): what was tested, with the figures
and the date, what is known not to conform, and how to report a problem.

Public: the statement is for everyone who meets the service, the sign-in page included, and it
holds nothing of any municipality but the contact the deployment sets
(``BTI_ACCESSIBILITY_CONTACT``). ``docs/accessibility.md`` is the same statement for readers
of the repository; ``tests/test_docs.py`` checks that both give the figures below.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import Blueprint
from flask import current_app
from flask import render_template

from bti.web import policy

bp = Blueprint("accessibility", __name__, url_prefix="/tilgjengelighet")


@dataclass(frozen=True)
class TestRun:
    """The last full run of the browser suite (tests/e2e), the figures it gave."""

    on: date
    tests: int  # browser tests passed (journeys in nb and nn, at 1280 and 390 px)
    axe_checks: int  # pages and states checked with axe-core
    axe_violations: int
    documents: int  # documents checked with the Nu HTML Checker
    vnu_errors: int
    axe_version: str
    vnu_version: str
    chromium_version: str


#: Update with every full run of ``BTI_REQUIRE_E2E=1 pytest tests/e2e`` (its summary prints the
#: counts), and docs/accessibility.md with it.
LAST_RUN = TestRun(on=date(2026, 12, 4), tests=46, axe_checks=351, axe_violations=0,
                   documents=248, vnu_errors=0, axe_version="4.14.1", vnu_version="26.9.27",
                   chromium_version="156")


def contact() -> tuple[str, str] | None:
    """The configured contact as (kind, value): ``mail`` or ``url``; None when unset."""
    value = current_app.extensions["bti"].settings.accessibility_contact
    if not value:
        return None
    if value.startswith("https://"):
        return "url", value
    return "mail", value


@bp.get("/")
@policy.public
def statement():
    return render_template("accessibility.html", run=LAST_RUN, contact=contact())
