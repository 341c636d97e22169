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
from bti.domain.org import UNIT_KINDS
from bti.engine.inputs import parse_int
from bti.services.accounts import admin
from bti.services.accounts import municipality as municipality_settings
from bti.services.accounts import org
from bti.services.accounts import orgimport
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
    if request.method == "POST":
        form = {name: request.form.get(name, "")
                for name in municipality_settings.CONTACT_FIELDS}
        try:
            changed = municipality_settings.set_contacts(ctx, form)
        except InvalidInput as err:
            return _render_municipality(ctx, form=form, errors=err.fields, status=422)
        flash(_("The contact details are saved.") if changed
              else _("Nothing was changed."), "info")
        return redirect(url_for("admin.municipality"))
    return _render_municipality(ctx)


def _render_municipality(ctx, *, form=None, errors=None, name=None, name_errors=None,
                         status=200):
    if form is None:
        current = municipality_settings.contacts(ctx)
        form = {name: getattr(current, name) or ""
                for name in municipality_settings.CONTACT_FIELDS}
    errors = errors or {}
    name_errors = name_errors or {}
    own = org.own_municipality(ctx)
    return render_template("admin/municipality.html", form=form, errors=errors,
                           labels=_contact_labels(), messages=contact_error_text,
                           summary={name: [contact_error_text(c) for c in codes]
                                    for name, codes in {**name_errors, **errors}.items()},
                           summary_labels={"name": _("Name of the municipality"),
                                           **_contact_labels()},
                           municipality=own, name=own.name if name is None else name,
                           name_errors=name_errors), status


# --- the organisation: units, the municipality's name, the import ----------------------------


def unit_kind_labels() -> dict[str, str]:
    labels = {
        "school": _("School"), "kindergarten": _("Kindergarten"),
        "health_station": _("Health station"), "school_health": _("School health service"),
        "ppt": _("Educational-psychological service (PPT)"),
        "barnevern": _("Child welfare service (barnevern)"),
        "bup": _("Child and adolescent psychiatry (BUP)"), "nav": _("NAV"),
        "psychology": _("Municipal psychologist"),
        "coordinating_unit": _("Coordinating unit"), "other": _("Other service"),
    }
    return {k: labels.get(k, k) for k in UNIT_KINDS}


def org_error_text(code: str) -> str:
    """Error codes of the organisation pages and the import; the rest as everywhere else."""
    texts = {
        "taken": _("That name is taken. Choose another."),
        "open_cases": _("The unit still has open cases. Close them, or move them to another "
                        "unit, before you deactivate it."),
        "too_large": _("The file is too large."),
        "too_many_rows": _("The file has too many rows."),
        "not_utf8": _("The file is not UTF-8 text. Save it as CSV UTF-8 and try again."),
        "not_csv": _("This line cannot be read as CSV (is a quotation mark not closed?)."),
        "empty": _("The file has no rows."),
        "unknown_column": _("Unknown column."),
        "missing_column": _("This column is missing."),
        "duplicate_column": _("A column appears twice."),
        "wrong_column_count": _("The line does not have as many values as the header has "
                                "columns."),
        "duplicate_in_file": _("It appears twice in the file."),
        "unknown_unit": _("No unit of the municipality or the file has this name."),
        "inactive_unit": _("That unit is deactivated. Choose another."),
        "unknown_municipality": _("No municipality has this short name."),
        "unknown_record": _("Write unit or user."),
        "invalid_role": _("Unknown role."),
        "invalid_email": _("Write an e-mail address, like navn@kommune.no."),
        "not_for_unit": _("Leave it empty on a unit row."),
        "not_for_user": _("Leave it empty on a user row."),
        "file_required": _("Choose a file."),
    }
    return texts.get(code) or admin_error_text(code)


def _unit_labels() -> dict[str, str]:
    return {"name": _("Name"), "kind": _("Kind of service"), "service": _("Service area"),
            "serves": _("Also serves"), "unit": _("Unit")}


def _unit_form(source=None, unit=None) -> dict:
    if source is not None:
        return {"name": source.get("name", ""), "kind": source.get("kind", ""),
                "service": source.get("service", ""),
                "serves": [v for v in source.getlist("serves")]}
    if unit is not None:
        return {"name": unit.name, "kind": unit.kind, "service": unit.service or "",
                "serves": [str(m.id) for m in unit.serves]}
    return {"name": "", "kind": "", "service": "", "serves": []}


def _serves(values: list[str]) -> list[int]:
    return [parse_int(v, minimum=1) or 0 for v in values]  # 0: refused by the service


def _render_unit_form(template: str, form: dict, errors: dict, status: int = 200, **extra):
    ctx = get_ctx()
    labels = _unit_labels()
    return render_template(
        template, form=form, errors=errors, labels=labels, messages=org_error_text,
        kinds=unit_kind_labels(), municipalities=org.municipalities(ctx),
        summary={name: [org_error_text(c) for c in codes] for name, codes in errors.items()},
        **extra), status


@bp.get("/units")
@policy.allowed(who.may_administer_organisation)
def units():
    ctx = get_ctx()
    return render_template("admin/units.html", units=org.list_units(ctx),
                           serving=org.serving_units(ctx), kinds=unit_kind_labels())


@bp.route("/units/new", methods=["GET", "POST"])
@policy.allowed(who.may_administer_organisation)
def new_unit():
    form = _unit_form()
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = _unit_form(request.form)
        try:
            created = org.create_unit(get_ctx(), name=form["name"], kind=form["kind"],
                                      service=form["service"], serves=_serves(form["serves"]))
        except InvalidInput as err:
            errors = err.fields
        else:
            flash(_("The unit is created."), "info")
            return redirect(url_for("admin.unit", unit_id=created.id))
    return _render_unit_form("admin/new_unit.html", form, errors, 422 if errors else 200)


@bp.route("/units/<int:unit_id>", methods=["GET", "POST"])
@policy.allowed(who.may_administer_organisation)
def unit(unit_id: int):
    ctx = get_ctx()
    current = org.get_unit(ctx, unit_id)  # another municipality's unit: 404
    form = _unit_form(unit=current)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = _unit_form(request.form)
        try:
            org.update_unit(ctx, unit_id, name=form["name"], kind=form["kind"],
                            service=form["service"], serves=_serves(form["serves"]))
        except InvalidInput as err:
            errors = err.fields
        else:
            flash(_("The unit is saved."), "info")
            return redirect(url_for("admin.unit", unit_id=unit_id))
    return _render_unit_form("admin/unit.html", form, errors, 422 if errors else 200,
                             unit=current)


@bp.post("/units/<int:unit_id>/deactivate")
@policy.allowed(who.may_administer_organisation)
def deactivate_unit(unit_id: int):
    ctx = get_ctx()
    try:
        org.deactivate_unit(ctx, unit_id)
    except InvalidInput as err:
        current = org.get_unit(ctx, unit_id)
        return _render_unit_form("admin/unit.html", _unit_form(unit=current), err.fields, 422,
                                 unit=current)
    flash(_("The unit is deactivated. No new case can be opened in it."), "info")
    return redirect(url_for("admin.unit", unit_id=unit_id))


@bp.post("/units/<int:unit_id>/reactivate")
@policy.allowed(who.may_administer_organisation)
def reactivate_unit(unit_id: int):
    org.reactivate_unit(get_ctx(), unit_id)
    flash(_("The unit is active again."), "info")
    return redirect(url_for("admin.unit", unit_id=unit_id))


@bp.post("/municipality/name")
@policy.allowed(who.may_administer_organisation)
def municipality_name():
    ctx = get_ctx()
    try:
        org.rename_municipality(ctx, request.form.get("name", ""))
    except InvalidInput as err:
        return _render_municipality(ctx, name_errors=err.fields, status=422,
                                    name=request.form.get("name", ""))
    flash(_("The name is saved."), "info")
    return redirect(url_for("admin.municipality"))


@bp.route("/import", methods=["GET", "POST"])
@policy.allowed(who.may_administer_organisation)
def import_org():
    """Units and users from a CSV file (docs/org-import.md): all rows or none."""
    problems: list = []
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        upload = request.files.get("file")
        data = upload.read() if upload is not None else b""
        if not data:
            errors = {"file": ["file_required"]}
        else:
            try:
                result = orgimport.import_file(get_ctx(), data)
            except orgimport.ImportRefused as err:
                problems = err.problems
            else:
                # the one-time passwords are shown once, in this response; never stored
                return render_template("admin/imported.html", result=result,
                                       role_labels=role_labels())
    status = 422 if problems or errors else 200
    return render_template("admin/import.html", problems=problems, errors=errors,
                           messages=org_error_text, columns=orgimport.COLUMNS,
                           kinds=unit_kind_labels(), role_labels=role_labels(),
                           summary={k: [org_error_text(c) for c in v]
                                    for k, v in errors.items()}), status
