"""The teacher's concern journey ("Eg er uroa for eit barn") and the case page.

Views are thin: reads and rules live in ``bti.services.cases.casepage`` and
``bti.services.cases.lifecycle``. A case the user may not see answers exactly like a case that does
not exist: the services raise ``NotFound`` and ``bti.web.errors`` renders the one 404 page.
"""

from __future__ import annotations

import logging

from babel.dates import get_month_names
from flask import Blueprint
from flask import abort
from flask import flash
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_babel import gettext as _

from bti.domain.child import birth_year_range
from bti.domain.vocabulary import GUARD_DETAILS
from bti.domain.vocabulary import GUARDS
from bti.engine import TransitionRefused
from bti.engine.i18n import fill_title
from bti.engine.i18n import pick
from bti.engine.i18n import refusal_message
from bti.engine.inputs import parse_int
from bti.services.cases import ansvarsgruppe
from bti.services.cases import audience
from bti.services.cases import casepage
from bti.services.cases import lifecycle as cases
from bti.services.errors import Conflict
from bti.services.errors import InvalidInput
from bti.web import forms
from bti.web import policy
from bti.web.db import commit_reads
from bti.web.db import get_ctx
from bti.web.db import get_session
from bti.web.forms import error_text
from bti.web.i18n import lang

log = logging.getLogger(__name__)

bp = Blueprint("cases", __name__, url_prefix="/saker")

class Said(str):
    """A field error already said in words (a message made for one field), which
    ``field_error`` shows as it is."""


def field_error(code: str) -> str:
    return code if isinstance(code, Said) else error_text(code)


def refusal_text(refusal) -> str:
    return refusal_message(refusal, lang(), GUARDS, GUARD_DETAILS)


def caution_text(caution, form_fields) -> str:
    """A ``when`` rule that fails now, said before the form is sent: which choices it concerns
    and whether they are refused or only warned about."""
    options = next((f.options for f in form_fields if f.name == caution.when.field), ())
    chosen = [pick(o.label, lang()) for o in options if o.value in caution.when.values]
    choices = " / ".join(chosen) or ", ".join(sorted(caution.when.values))
    why = refusal_text(caution.refusal)
    if caution.when.on_fail == "refuse":
        return _("%(choices)s cannot be recorded now. %(why)s", choices=choices, why=why)
    return _("%(choices)s: %(why)s", choices=choices, why=why)


def kind_labels() -> dict[str, str]:
    """Log-kind labels in the current language, built once per request (a page of entries
    asks for them once per entry)."""
    cached = g.get("kind_labels")
    if cached is None or cached[0] != lang():
        g.kind_labels = cached = (lang(), _kind_labels())
    return cached[1]


def _kind_labels() -> dict[str, str]:
    return {
        "concern": _("Concern"), "measure": _("Measures"), "evaluation": _("Evaluations"),
        "meeting": _("Meetings"), "consent": _("Consent"), "handover": _("Handovers"),
        "report": _("Reports to child welfare and police"), "level_change": _("Level changes"),
        "note": _("Notes"), "goal": _("Goals"), "home": _("The home informed"),
        "flag": _("Violence or abuse flag"), "stafettholder": _("Stafettholder"),
        "participant": _("Participants"), "referral": _("Referrals"), "move": _("Moves"),
        "phase": _("Phase changes"), "close": _("Closing"),
    }


def deadline_labels() -> dict[str, str]:
    return {
        "level_decision": _("Decision at this level"),
        "measure_evaluation": _("Evaluation of a measure"),
        "barnevern_feedback": _("Child welfare's answer to a report"),
        "consent_expiry": _("A consent expires"),
    }


def default_values(action_form, today):
    return forms.default_values(action_form.fields, today)


def trigger_label(definition, trigger: str) -> str:
    """The label of a workflow action by its trigger (a checklist's link to what meets it)."""
    t = next((t for t in definition.transitions if t.trigger == trigger), None)
    return pick(t.label, lang()) if t else trigger


def given_by_labels() -> dict[str, str]:
    return {"guardians": _("Guardians"), "youth": _("The youth"),
            "guardians_and_youth": _("Guardians and the youth")}


def guard_text(item) -> str:
    return item.text(lang())


def check_why(item) -> str | None:
    return item.why(lang())


def barnevern_contacts() -> audience.BarnevernContacts:
    """The municipality's child welfare contacts, read once per request (the report form and
    the urgent page show them)."""
    found = g.get("barnevern_contacts")
    if found is None:
        g.barnevern_contacts = found = audience.barnevern_contacts(get_ctx())
    return found


# --- the concern form ----------------------------------------------------------------------

#: Where the error summary links each field to (``#f-<name>``): the due month's errors belong to
#: its month list.
_ANCHOR = {"child_due": "child_due_month"}


def concern_message(name: str, code: str, label: str | None, *, blank: bool) -> str:
    """What to do about one error of the concern form, said for that field."""
    if name == "child_pseudonym":
        if code in ("looks_like_id_number", "contains_id_number"):
            return _("Do not write a national identity number (fødselsnummer). Write the "
                     "child's initials or a pseudonym.")
        if blank or code == "required":
            return _("Write the child's initials or a pseudonym.")
        return _("Write the initials or a pseudonym with at most 60 characters, without "
                 "spaces at the start or the end.")
    if name == "child_birth_year":
        if code == "required":
            return _("Write the child's birth year, or give the due month for a child not "
                     "yet born.")
        if code == "not_a_number":
            return _("Write the birth year with four digits, for example 2016.")
        if code == "invalid":
            first, last = birth_year_range(get_ctx().today())
            return _("Write a birth year from %(first)s to %(last)s.", first=first, last=last)
    if name == "child_due":
        if code in ("invalid", "not_a_number"):
            return _("Choose the due month and write the due year with four digits.")
        if code == "in_past":
            return _("The due month has passed. For a child already born, write the birth "
                     "year instead.")
        if code == "too_far":
            return _("The due month can be at most ten months ahead.")
    if code == "contains_id_number":
        return _("Do not write a national identity number (fødselsnummer or D-number) here. "
                 "Remove the number: the case must not hold it.")
    if name == "violence_suspected" and code == "required":
        return _("Answer whether you suspect violence, sexual abuse or serious neglect.")
    if code == "required" and label:
        return _("Fill in “%(field)s”.", field=label)
    return error_text(code)


def concern_messages(definition, errors: dict, values: dict) -> tuple[dict, dict]:
    """The concern form's errors in words: per field for the form (``Said`` codes that
    ``field_error`` shows as they are), and per link target for the error summary."""
    labels = {f.name: pick(f.label, lang()) for f in casepage.opening_fields(definition)
              if f.label is not None}
    inline: dict[str, list[str]] = {}
    summary: dict[str, list[str]] = {}
    for name, codes in errors.items():
        if name == "unit_id":
            continue  # said on its own, above the summary
        blank = not str(values.get(name) or "").strip()
        texts = list(dict.fromkeys(
            concern_message(name, c, labels.get(name), blank=blank) for c in codes))
        inline[name] = [Said(t) for t in texts]
        summary[_ANCHOR.get(name, name)] = texts
    return inline, summary


def _summary_labels(definition) -> dict[str, str]:
    """The concern form's fields in the form's order (the error summary lists them so)."""
    out = {"child_pseudonym": _("The child's initials or a pseudonym"),
           "child_birth_year": _("Birth year"), "child_due_month": _("Due month")}
    fields = casepage.opening_fields(definition)
    for f in [f for f in fields if f.type != "bool"] + [f for f in fields if f.type == "bool"]:
        out[f.name] = pick(f.label, lang()) if f.label is not None else f.name
    return out


def _concern_form(definition, values=None, errors=None, status=200, confirm=None):
    fields = casepage.opening_fields(definition)
    months = get_month_names("wide", context="stand-alone", locale=lang())
    values = values or {}
    inline, summary = concern_messages(definition, errors or {}, values)
    return render_template(
        "cases/new.html", definition=definition,
        text_fields=[f for f in fields if f.type != "bool"],
        safety_fields=[f for f in fields if f.type == "bool"],
        months=[(n, months[n]) for n in range(1, 13)],
        values=values, errors=inline, unit_missing=bool((errors or {}).get("unit_id")),
        summary=summary, summary_labels=_summary_labels(definition), confirm=confirm), status


def _whole_number(text: str) -> int | str | None:
    """A whole number typed in a form (``parse_int``): the int, None when blank, else the text
    itself, which the service refuses as ``invalid`` (only ASCII digits are a number here)."""
    text = text.strip()
    if not text:
        return None
    number = parse_int(text)
    return text if number is None else number


@bp.route("/ny", methods=["GET", "POST"])
@policy.signed_in
def new_concern():
    ctx = get_ctx()
    definition = casepage.current_definition(ctx)
    if not casepage.may_open(ctx, definition):
        abort(403)
    if request.method != "POST":  # GET and HEAD only show the form
        return _concern_form(definition)

    form = request.form
    fields = casepage.opening_fields(definition)
    values = forms.form_values(fields, form)
    for name in ("child_pseudonym", "child_birth_year", "child_due_month", "child_due_year"):
        values[name] = form.get(name, "")
    numbers = {name: _whole_number(values[name])
               for name in ("child_birth_year", "child_due_year", "child_due_month")}
    try:
        result = cases.open_case(
            ctx, unit_id=None, child_pseudonym=values["child_pseudonym"],
            child_birth_year=numbers["child_birth_year"],
            child_due_year=numbers["child_due_year"],
            child_due_month=numbers["child_due_month"],
            concern=forms.payload_from_form(fields, form),
            require_answers=True, confirmed=form.get("confirmed") == "1")
    except InvalidInput as err:
        errors = dict(err.fields)
        for name, number in numbers.items():  # text that is not a number: say so
            if isinstance(number, str):
                errors["child_due" if "due" in name else name] = ["not_a_number"]
        return _concern_form(definition, values, errors, 422)
    except TransitionRefused as err:
        errors = forms.errors_from_refusal(err)
        if errors.refusals and not errors.fields:
            abort(403)
        return _concern_form(definition, values, errors.fields, 422)
    except cases.ConfirmationNeeded as err:
        return _concern_form(definition, values, status=200, confirm=err)
    return redirect(url_for("cases.receipt", case_id=result.case.id), 303)


@bp.get("/<int:case_id>/kvittering")
@policy.case
def receipt(case_id: int):
    ctx = get_ctx()
    page = casepage.receipt(ctx, case_id)
    appoint = page.groups.find("appoint_stafettholder")
    return render_template("cases/receipt.html", page=page, case=page.access.case,
                           definition=page.access.workflow.definition,
                           viewers=audience.who_can_see(ctx, page.access),
                           appoint=appoint if appoint and appoint.action.allowed else None)


# --- the case page ---------------------------------------------------------------------------


@bp.get("/<int:case_id>")
@policy.case
def show(case_id: int):
    page = casepage.case_page(get_ctx(), case_id, kind=request.args.get("kind") or None,
                              shown=casepage.shown_entries(request.args.get("shown")))
    return render_template("cases/show.html", page=page, case=page.access.case,
                           definition=page.access.workflow.definition,
                           more=min(page.shown + casepage.LOG_PAGE, casepage.LOG_MAX))


@bp.get("/<int:case_id>/ansvarsgruppe")
@policy.case
def ansvarsgruppe_view(case_id: int):
    """The individual plan's ansvarsgruppe: members, the coordinator, meetings and minutes."""
    page = ansvarsgruppe.ansvarsgruppe_page(get_ctx(), case_id)
    return render_template("cases/ansvarsgruppe.html", page=page, case=page.case)


def _render_action(case_id: int, trigger: str, *, values=None, errors=None,
                   status: int = 200):
    """One action's form alone, with the case header. 404 when the workflow has no such action
    here (or the case is not the user's to see); 403, saying why, when the user may not take
    it now."""
    page = casepage.action_page(get_ctx(), case_id, trigger, refused_too=True)
    form = page.form
    refused = not form.action.allowed and errors is None
    response = render_template(
        "cases/action.html", page=page, case=page.access.case, af=form, refused=refused,
        definition=page.access.workflow.definition,
        values=values if values is not None else forms.default_values(form.fields, page.today),
        errors=errors or forms.FormErrors()), 403 if refused else status
    if response[1] >= 400:  # the page shows the case: keep its audit
        commit_reads()
    return response


@bp.get("/<int:case_id>/handling/<trigger>")
@policy.case
def action(case_id: int, trigger: str):
    return _render_action(case_id, trigger)


def _posted_values(fields: list, shared: bool | None) -> dict:
    """The posted form's values, to draw it again (with the writer's sharing choice)."""
    values = forms.form_values(fields, request.form)
    if shared is not None:
        values["shared_with_family"] = shared
    return values


@bp.post("/<int:case_id>/handling/<trigger>")
@policy.case
def fire(case_id: int, trigger: str):
    ctx = get_ctx()
    version = parse_int((request.form.get("expected_version") or "").strip())
    if version is None:  # a hidden field: the form is not ours, or broken
        abort(400)
    fields: list = []  # the trigger's fields in the case's state, from the definition
    shared = None  # a form without the choice (not ours): the workflow's default
    if request.form.get("family_share_offered") == "1":
        shared = request.form.get("shared_with_family") == "1"

    def payload_of(definition, transition):
        fields[:] = (casepage.transition_fields(definition, transition)
                     if transition is not None else [])
        return forms.payload_from_form(fields, request.form)

    try:  # NotFound (no case, no access) → 404
        result = cases.fire(ctx, case_id, trigger, payload_of, expected_version=version,
                            shared=shared)
    except Conflict:
        values = _posted_values(fields, shared)
        get_session().rollback()
        return render_template("cases/conflict.html", case_id=case_id, fields=fields,
                               values=values, trigger=trigger,
                               colleagues=casepage.colleagues(ctx), units=casepage.units(ctx)), 409
    except (TransitionRefused, InvalidInput) as err:
        values = _posted_values(fields, shared)
        get_session().rollback()  # nothing of the refused action is kept
        errors = (forms.errors_from_refusal(err) if isinstance(err, TransitionRefused)
                  else forms.FormErrors(dict(err.fields)))
        return _render_action(case_id, trigger, values=values, errors=errors, status=422)
    t = result.step.transition
    flash(fill_title(t.saved, lang(), {}) if t.saved
          else _("Saved: %(action)s", action=pick(t.label, lang())), "info")
    for warning in result.step.warnings:
        flash(_("Note: %(warning)s", warning=refusal_text(warning)), "warning")
    if not cases.still_sees(ctx, case_id, result):  # moved to another unit: no longer theirs to see
        flash(_("The case now belongs to another unit. You no longer have access to it."),
              "info")
        return redirect(url_for("inbox.index"), 303)
    return redirect(url_for("cases.show", case_id=case_id), 303)
