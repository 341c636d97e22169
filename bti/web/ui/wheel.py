"""The annual wheel (årshjul) of the municipality's BTI routines (``/arshjul/``).

Every member of staff sees the twelve months ahead, the current month first, and downloads them
for their calendar (``/arshjul/arshjul.ics``); the municipality's administrator and the leaders of
units keep the routines (``/arshjul/rutinar``: add, change, remove). Thin views over
``bti.services.workflows.annual_wheel``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint
from flask import Response
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_babel import format_date
from flask_babel import gettext as _

from bti.domain import policy as who
from bti.domain.analytics import WHEEL_KINDS
from bti.services.errors import InvalidInput
from bti.services.workflows import annual_wheel as wheel
from bti.web import policy
from bti.web.db import get_ctx
from bti.web.forms import error_text

bp = Blueprint("wheel", __name__, url_prefix="/arshjul")

#: The form's fields, empty.
_EMPTY = {"kind": "", "title": "", "description": "", "starts_on": "", "ends_on": "",
          "repeat": "yearly", "unit_id": "", "responsible": ""}


def kind_labels() -> dict[str, str]:
    labels = {"training": _("Training"), "mapping": _("Mapping period"),
              "review": _("Yearly review"), "network": _("Network meeting"),
              "other": _("Other routine")}
    return {k: labels[k] for k in WHEEL_KINDS}


def repeat_labels() -> dict[str, str]:
    return {"yearly": _("Every year"), "once": _("Once")}


def field_labels() -> dict[str, str]:
    """The form's fields in its order (the error summary links to each)."""
    return {"kind": _("Kind of routine"), "title": _("Title"), "description": _("Description"),
            "starts_on": _("Date (first day)"), "ends_on": _("Last day, for a period"),
            "repeat": _("Repeats"), "unit_id": _("For"), "responsible": _("Responsible")}


@bp.get("/")
@policy.allowed(who.may_read_annual_wheel)
def index():
    ctx = get_ctx()
    months = wheel.year_ahead(ctx)
    return render_template(
        "wheel/index.html", months=months, kinds=kind_labels(),
        month_names={m.first: format_date(m.first, "LLLL y") for m in months},
        keeper=who.may_keep_annual_wheel(ctx.actor),
        catalogue_keeper=who.may_view_catalogue(ctx.actor), today=ctx.today())


@bp.get("/arshjul.ics")
@policy.allowed(who.may_read_annual_wheel)
def download():
    labels = kind_labels()
    body = wheel.calendar_ics(get_ctx(), host=urlsplit(request.host_url).hostname or "bti",
                              gettext=_, kind_label=lambda k: labels.get(k, k))
    return Response(body, mimetype="text/calendar", headers={
        "Cache-Control": "private, no-store",
        "Content-Disposition": 'attachment; filename="arshjul.ics"'})


def _form_values():
    return {k: request.form.get(k, "") for k in _EMPTY}


def _render_keep(form, errors, status=200):
    return render_template(
        "wheel/keep.html", items=wheel.kept_items(get_ctx()), form=form, errors=errors,
        **_form_context(errors)), status


def _form_context(errors):
    ctx = get_ctx()
    units = wheel.keeper_units(ctx)
    return {"kinds": kind_labels(), "repeats": repeat_labels(), "labels": field_labels(),
            "units": units, "unit_names": dict(units),
            "whole_municipality": who.ADMIN in ctx.actor.roles,
            "summary": {k: [error_text(c) for c in codes] for k, codes in errors.items()}}


@bp.get("/rutinar")
@policy.allowed(who.may_keep_annual_wheel)
def keep():
    form = dict(_EMPTY)
    if who.ADMIN not in get_ctx().actor.roles:
        form["unit_id"] = str(get_ctx().actor.unit_id or "")
    return _render_keep(form, {})


@bp.post("/rutinar")
@policy.allowed(who.may_keep_annual_wheel)
def create():
    try:
        item = wheel.create_item(get_ctx(), wheel.parse(request.form))
    except InvalidInput as err:
        return _render_keep(_form_values(), err.fields, 422)
    flash(_("«%(title)s» is added to the annual wheel.", title=item.title), "info")
    return redirect(url_for("wheel.keep"))


def _render_edit(item, form, errors, status=200):
    return render_template("wheel/edit.html", item=item, form=form, errors=errors,
                           **_form_context(errors)), status


@bp.get("/rutinar/<int:item_id>")
@policy.allowed(who.may_keep_annual_wheel)
def edit(item_id: int):
    item = wheel.get_item(get_ctx(), item_id)
    form = {"kind": item.kind, "title": item.title, "description": item.description,
            "starts_on": item.starts_on.isoformat(),
            "ends_on": item.ends_on.isoformat() if item.ends_on else "",
            "repeat": "yearly" if item.yearly else "once",
            "unit_id": str(item.unit_id or ""), "responsible": item.responsible}
    return _render_edit(item, form, {})


@bp.post("/rutinar/<int:item_id>")
@policy.allowed(who.may_keep_annual_wheel)
def update(item_id: int):
    ctx = get_ctx()
    try:
        item = wheel.update_item(ctx, item_id, wheel.parse(request.form))
    except InvalidInput as err:
        return _render_edit(wheel.get_item(ctx, item_id), _form_values(), err.fields, 422)
    flash(_("«%(title)s» is saved.", title=item.title), "info")
    return redirect(url_for("wheel.keep"))


@bp.post("/rutinar/<int:item_id>/slett")
@policy.allowed(who.may_keep_annual_wheel)
def delete(item_id: int):
    title = wheel.delete_item(get_ctx(), item_id)
    flash(_("«%(title)s» is removed from the annual wheel.", title=title), "info")
    return redirect(url_for("wheel.keep"))
