"""User administration pages for the municipality's admin. Thin views over
``bti.services.accounts.admin``; every change is a POST form with a CSRF token."""

from __future__ import annotations

from flask import Blueprint
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_babel import gettext as _
from flask_login import current_user

from bti.domain import policy as who
from bti.engine.inputs import parse_int
from bti.services.accounts import admin
from bti.services.accounts import municipality as municipality_settings
from bti.services.errors import InvalidInput
from bti.web import policy
from bti.web.db import get_ctx
from bti.web.forms import error_text

bp = Blueprint("admin", __name__, url_prefix="/admin")


def role_labels() -> dict[str, str]:
    return {
        "employee": _("Employee"),
        "coordinator": _("Coordinator"),
        "leader": _("Leader"),
        "admin": _("Administrator"),
        "privacy_officer": _("Privacy officer"),
    }


def admin_error_text(code: str) -> str:
    """Error codes only user administration has; the rest as everywhere else."""
    texts = {
        "taken": _("That user name is taken. Choose another."),
        "self": _("You cannot do this to your own account. Ask another administrator."),
        "invalid_email": _("Write an e-mail address, like navn@kommune.no."),
    }
    return texts.get(code) or error_text(code)


def _unit_id(value: str | None) -> int | None:
    value = (value or "").strip()
    if not value:
        return None
    return parse_int(value, minimum=1) or 0  # 0 is no unit: the service refuses it


def _render_user(user, errors=None, status=200):
    return render_template("admin/user.html", user=user, role_labels=role_labels(),
                           may_change=who.may_change_account(current_user, user.id),
                           errors=errors or {}), status


@bp.get("/")
@policy.allowed(who.may_administer_users)
def users():
    return render_template("admin/users.html", users=admin.list_users(get_ctx()),
                           role_labels=role_labels())


@bp.route("/users/new", methods=["GET", "POST"])
@policy.allowed(who.may_administer_users)
def new_user():
    ctx = get_ctx()
    units = admin.list_units(ctx)
    form = {"username": "", "display_name": "", "unit_id": "", "roles": ["employee"]}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = {"username": request.form.get("username", ""),
                "display_name": request.form.get("display_name", ""),
                "unit_id": request.form.get("unit_id", ""),
                "roles": request.form.getlist("roles")}
        try:
            created = admin.create_user(ctx, username=form["username"],
                                        display_name=form["display_name"],
                                        unit_id=_unit_id(form["unit_id"]), roles=form["roles"])
        except InvalidInput as err:
            errors = err.fields
        else:
            # shown once, in this response; never stored, never in a URL or the cookie
            return render_template("admin/created.html", user=created.user,
                                   password=created.password, role_labels=role_labels())
    return render_template("admin/new_user.html", units=units, form=form, errors=errors,
                           role_labels=role_labels()), (422 if errors else 200)


@bp.get("/users/<int:user_id>")
@policy.allowed(who.may_administer_users)
def user(user_id: int):
    return _render_user(admin.get_user(get_ctx(), user_id))


@bp.post("/users/<int:user_id>/roles")
@policy.allowed(who.may_administer_users)
def change_roles(user_id: int):
    ctx = get_ctx()
    try:
        admin.change_roles(ctx, user_id, request.form.getlist("roles"))
    except InvalidInput as err:
        return _render_user(admin.get_user(ctx, user_id), err.fields, 422)
    flash(_("The roles are saved."), "info")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.post("/users/<int:user_id>/email")
@policy.allowed(who.may_administer_users)
def change_email(user_id: int):
    ctx = get_ctx()
    try:
        admin.set_email(ctx, user_id, request.form.get("email", ""))
    except InvalidInput as err:
        return _render_user(admin.get_user(ctx, user_id), err.fields, 422)
    flash(_("The e-mail address is saved."), "info")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.post("/users/<int:user_id>/deactivate")
@policy.allowed(who.may_administer_users)
def deactivate(user_id: int):
    ctx = get_ctx()
    try:
        admin.deactivate_user(ctx, user_id)
    except InvalidInput as err:
        return _render_user(admin.get_user(ctx, user_id), err.fields, 422)
    flash(_("The user is deactivated and every session of theirs is signed out."), "info")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.post("/users/<int:user_id>/reactivate")
@policy.allowed(who.may_administer_users)
def reactivate(user_id: int):
    admin.reactivate_user(get_ctx(), user_id)
    flash(_("The user is active again."), "info")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.post("/users/<int:user_id>/mfa-reset")
@policy.allowed(who.may_administer_users)
def reset_mfa(user_id: int):
    admin.reset_mfa(get_ctx(), user_id)
    flash(_("The second factor is reset. The user sets up a new one at their next sign-in."),
          "info")
    return redirect(url_for("admin.user", user_id=user_id))


def _contact_labels() -> dict[str, str]:
    return {"barnevern_phone": _("Child welfare (barnevernet), phone"),
            "barnevern_email": _("Child welfare (barnevernet), e-mail"),
            "barnevernvakt_phone": _("Child welfare emergency service (barnevernvakt), phone")}


def contact_error_text(code: str) -> str:
    texts = {
        "not_a_phone": _("Write a phone number: digits, and if you like spaces, +, - or "
                         "parentheses."),
        "not_an_email": _("Write an e-mail address, like barnevern@kommune.no."),
    }
    return texts.get(code) or error_text(code)


@bp.route("/municipality", methods=["GET", "POST"])
@policy.allowed(who.may_administer_users)
def municipality():
    """The municipality's child welfare contacts, shown to staff on the urgent page and the
    report form."""
    ctx = get_ctx()
    current = municipality_settings.contacts(ctx)
    form = {name: getattr(current, name) or "" for name in municipality_settings.CONTACT_FIELDS}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = {name: request.form.get(name, "")
                for name in municipality_settings.CONTACT_FIELDS}
        try:
            changed = municipality_settings.set_contacts(ctx, form)
        except InvalidInput as err:
            errors = err.fields
        else:
            flash(_("The contact details are saved.") if changed
                  else _("Nothing was changed."), "info")
            return redirect(url_for("admin.municipality"))
    return render_template("admin/municipality.html", form=form, errors=errors,
                           labels=_contact_labels(), messages=contact_error_text,
                           summary={name: [contact_error_text(c) for c in codes]
                                    for name, codes in errors.items()}
                           ), (422 if errors else 200)
