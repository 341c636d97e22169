"""Mine saker (the coordinator's and employee's inbox)."""

from __future__ import annotations

from flask import Blueprint
from flask import render_template

from bti.services import inbox
from bti.web import policy
from bti.web.db import get_ctx

bp = Blueprint("inbox", __name__, url_prefix="/saker")


@bp.get("/")
@policy.signed_in
def index():
    items = inbox.my_cases(get_ctx())
    return render_template("inbox/index.html", items=items)
