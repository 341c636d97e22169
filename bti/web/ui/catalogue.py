"""The municipality's catalogue of measures (tiltaksoversikt): leaders and admins add, edit,
deactivate and reactivate items. Thin views over ``bti.services.analytics.catalogue``."""

from __future__ import annotations

from flask import Blueprint
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_babel import gettext as _

from bti.domain import policy as who
from bti.domain.analytics import CATALOGUE_KINDS
from bti.services.analytics import catalogue
from bti.services.errors import InvalidInput
from bti.web import policy
from bti.web.db import get_ctx

bp = Blueprint("catalogue", __name__, url_prefix="/tiltaksoversikt")


def kind_labels() -> dict[str, str]:
    labels = {"universal": _("Universal"), "selective": _("Selective"),
              "indicated": _("Indicated")}
    return {k: labels[k] for k in CATALOGUE_KINDS}


_EMPTY = {"name": "", "description": "", "kind": "", "age_from": "0", "age_to": "24"}


@bp.get("/")
@policy.allowed(who.may_view_catalogue)
def index():
    return _render_index(dict(_EMPTY), {})


def _render_index(form, errors, status=200):
    return render_template("catalogue/index.html", items=catalogue.list_items(get_ctx()),
                           form=form, errors=errors, kinds=kind_labels()), status


@bp.post("/")
@policy.allowed(who.may_edit_catalogue)
def create():
    form = {k: request.form.get(k, "") for k in _EMPTY}
    try:
        catalogue.create_item(get_ctx(), catalogue.parse(request.form))
    except InvalidInput as err:
        return _render_index(form, err.fields, 422)
    flash(_("The measure is added to the catalogue."), "info")
    return redirect(url_for("catalogue.index"))


def _render_edit(item, form, errors, status=200):
    return render_template("catalogue/edit.html", item=item, form=form, errors=errors,
                           kinds=kind_labels()), status


@bp.get("/<int:item_id>")
@policy.allowed(who.may_view_catalogue)
def edit(item_id: int):
    item = catalogue.get_item(get_ctx(), item_id)
    form = {"name": item.name, "description": item.description, "kind": item.kind,
            "age_from": str(item.age_from), "age_to": str(item.age_to)}
    return _render_edit(item, form, {})


@bp.post("/<int:item_id>")
@policy.allowed(who.may_edit_catalogue)
def update(item_id: int):
    ctx = get_ctx()
    form = {k: request.form.get(k, "") for k in _EMPTY}
    try:
        catalogue.update_item(ctx, item_id, catalogue.parse(request.form))
    except InvalidInput as err:
        return _render_edit(catalogue.get_item(ctx, item_id), form, err.fields, 422)
    flash(_("The measure is saved."), "info")
    return redirect(url_for("catalogue.index"))


@bp.post("/<int:item_id>/aktiv")
@policy.allowed(who.may_edit_catalogue)
def set_active(item_id: int):
    active = request.form.get("active") == "1"
    catalogue.set_active(get_ctx(), item_id, active)
    flash(_("The measure is offered again.") if active
          else _("The measure is deactivated: it is no longer offered for new measures."), "info")
    return redirect(url_for("catalogue.index"))
