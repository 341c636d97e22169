"""The municipality's catalogue of measures (tiltaksoversikt).

Everyone who plans measures browses and searches it (``/tiltaksoversikt/``) and reads each
measure with its evaluated effect in the municipality (suppressed like the dashboard); leaders
and admins also add, edit, deactivate and reactivate items, and keep the yearly review of each
(``/tiltaksoversikt/gjennomgang``). Thin views over ``bti.services.analytics.catalogue``.
"""

from __future__ import annotations

from flask import Blueprint
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_babel import gettext as _

from bti.domain import policy as who
from bti.domain.analytics import CATALOGUE_DELIVERIES
from bti.domain.analytics import CATALOGUE_KINDS
from bti.engine.inputs import parse_int
from bti.services.analytics import catalogue
from bti.services.cases.casepage import units as unit_list
from bti.services.errors import InvalidInput
from bti.web import i18n
from bti.web import policy
from bti.web.db import get_ctx

bp = Blueprint("catalogue", __name__, url_prefix="/tiltaksoversikt")


def kind_labels() -> dict[str, str]:
    labels = {"universal": _("Universal"), "selective": _("Selective"),
              "indicated": _("Indicated")}
    return {k: labels[k] for k in CATALOGUE_KINDS}


def delivery_labels() -> dict[str, str]:
    labels = {"own": _("The municipality's own service"),
              "inter_municipal": _("Inter-municipal service"),
              "bought": _("Bought from a provider")}
    return {k: labels[k] for k in CATALOGUE_DELIVERIES}


def effect_labels() -> dict[str, str]:
    return {"good": _("Good effect"), "some": _("Some effect"), "none": _("No effect"),
            "worse": _("Worse")}


_EMPTY = {"name": "", "description": "", "kind": "", "age_from": "0", "age_to": "24",
          "unit_id": "", "provider": "", "delivery": "own", "review_due_on": ""}


def _query():
    """The search from the query string; a value that means nothing is ignored."""
    args = request.args
    kind = args.get("type") if args.get("type") in CATALOGUE_KINDS else None
    delivery = args.get("levering") if args.get("levering") in CATALOGUE_DELIVERIES else None
    age = parse_int((args.get("alder") or "").strip(), maximum=24)
    unit = parse_int((args.get("teneste") or "").strip(), minimum=1)
    text = (args.get("q") or "").strip()[:100]
    return catalogue.Query(text=text, kind=kind, age=age, unit_id=unit, delivery=delivery,
                           include_inactive=args.get("alle") == "1")


@bp.get("/")
@policy.allowed(who.may_browse_catalogue)
def index():
    return _render_index(dict(_EMPTY), {})


def _form_units():
    return [(u.id, u.name) for u in unit_list(get_ctx())]


def _render_index(form, errors, status=200):
    ctx = get_ctx()
    query = _query()
    result = catalogue.browse(ctx, query)
    keeper = who.may_edit_catalogue(ctx.actor)
    return render_template(
        "catalogue/index.html", result=result, query=query, form=form, errors=errors,
        kinds=kind_labels(), deliveries=delivery_labels(), effect_names=effect_labels(),
        keeper=keeper, form_units=_form_units() if keeper else [],
        due=len(catalogue.due_for_review(ctx)) if keeper else 0,
        searched=bool(request.args)), status


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


@bp.get("/tiltak/<int:item_id>")
@policy.allowed(who.may_browse_catalogue)
def show(item_id: int):
    ctx = get_ctx()
    item, effect, unit_name = catalogue.show(ctx, item_id)
    return render_template("catalogue/show.html", item=item, effect=effect, unit_name=unit_name,
                           kinds=kind_labels(), deliveries=delivery_labels(),
                           effect_names=effect_labels(),
                           keeper=who.may_edit_catalogue(ctx.actor))


@bp.get("/gjennomgang")
@policy.allowed(who.may_view_catalogue)
def reviews():
    ctx = get_ctx()
    return render_template("catalogue/reviews.html", items=catalogue.due_for_review(ctx),
                           today=ctx.today(), notice_days=catalogue.REVIEW_NOTICE_DAYS)


def _render_edit(item, form, errors, status=200):
    return render_template("catalogue/edit.html", item=item, form=form, errors=errors,
                           kinds=kind_labels(), deliveries=delivery_labels(),
                           form_units=_form_units()), status


@bp.get("/<int:item_id>")
@policy.allowed(who.may_view_catalogue)
def edit(item_id: int):
    item = catalogue.get_item(get_ctx(), item_id)
    form = {"name": item.name, "description": item.description, "kind": item.kind,
            "age_from": str(item.age_from), "age_to": str(item.age_to),
            "unit_id": str(item.unit_id or ""), "provider": item.provider,
            "delivery": item.delivery,
            "review_due_on": item.review_due_on.isoformat() if item.review_due_on else ""}
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


@bp.post("/<int:item_id>/gjennomgatt")
@policy.allowed(who.may_edit_catalogue)
def mark_reviewed(item_id: int):
    item = catalogue.mark_reviewed(get_ctx(), item_id)
    flash(_("The review of «%(name)s» is recorded. The next one is due %(date)s.",
            name=item.name, date=i18n.fmt_date(item.review_due_on)), "info")
    return redirect(url_for("catalogue.reviews"))
