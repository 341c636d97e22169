"""Mine saker (the coordinator's and employee's inbox): cases by urgency, and how many
notifications are unread (listed at /varsler)."""

from __future__ import annotations

from flask import Blueprint
from flask import render_template
from flask import url_for
from werkzeug.routing import BuildError

from bti.services.cases import inbox
from bti.web import policy
from bti.web.db import get_ctx

bp = Blueprint("inbox", __name__, url_prefix="/saker")


def case_url(case_id: int) -> str:
    """The case page (``cases.show``); its address is /saker/<id> while that page is built."""
    try:
        return url_for("cases.show", case_id=case_id)
    except BuildError:
        return url_for("inbox.index") + str(case_id)


@bp.get("/")
@policy.signed_in
def index():
    result = inbox.my_inbox(get_ctx())
    # the notifications themselves are listed on their own page (bti.web.ui.notifications)
    return render_template("inbox/index.html", inbox=result,
                           notifications=result.notifications)
