"""Posted forms: turning the strings of a submitted workflow form into the payload the engine's
schema expects, what the user typed to show again, and field error codes (from services, the
engine and marshmallow) as text in the user's language. Which fields a form has is the
services' (``bti.services.cases.casepage``: ``transition_fields``, ``opening_fields``)."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from datetime import date
from typing import Any
from typing import Protocol

from flask_babel import gettext as _

from bti.engine import Refusal
from bti.engine import TransitionRefused
from bti.engine.inputs import parse_int
from bti.services.cases.casepage import ID_TYPES
from bti.services.cases.casepage import LIST_TYPES
from bti.services.cases.casepage import REASON
from bti.services.cases.casepage import FormField


class FormData(Protocol):
    """What form parsing reads of a submitted form (werkzeug's ``MultiDict`` is one)."""

    def get(self, key: str) -> Any: ...

    def getlist(self, key: str) -> list[Any]: ...


def _one(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _id(text: str) -> int | str:
    """An id as a number (ASCII digits, ``bti.engine.inputs.parse_int``); anything else stays
    text, which the engine's schema refuses as ``invalid``."""
    number = parse_int(text)
    return text if number is None else number


def payload_from_form(fields: list[FormField], form: FormData) -> dict[str, Any]:
    """The payload the engine's schema expects, from posted strings: dates stay ISO strings,
    bools and ids become Python values, lists of ids become lists. Empty optional fields are
    left out; an empty required field is sent empty so the schema answers ``required``.
    Anything the form does not declare is ignored."""
    payload: dict[str, Any] = {}
    for f in fields:
        if f.type in LIST_TYPES:
            raw = [v.strip() for v in form.getlist(f.name) if isinstance(v, str) and v.strip()]
            if raw:
                payload[f.name] = [_id(v) for v in raw]
            continue
        value = _one(form, f.name)
        if f.type not in ("text", "textarea"):
            value = value.strip()
        if not value.strip():
            if f.required and f.type in ("text", "textarea"):
                payload[f.name] = value
            continue
        if f.type == "bool":
            payload[f.name] = {"true": True, "yes": True, "false": False,
                               "no": False}.get(value.lower(), value)
        elif f.type in ID_TYPES:
            payload[f.name] = _id(value)
        else:
            payload[f.name] = value
    return payload


def form_values(fields: list[FormField], form: FormData) -> dict[str, Any]:
    """What the user typed, to show it again: a string per field, a list for list fields."""
    out: dict[str, Any] = {}
    for f in fields:
        if f.type in LIST_TYPES:
            out[f.name] = [v for v in form.getlist(f.name) if isinstance(v, str)]
        else:
            out[f.name] = _one(form, f.name)
    return out


def default_values(fields: list[FormField], today: date) -> dict[str, Any]:
    """Sensible starting values: the date something happened (``*_on``) defaults to today."""
    return {f.name: today.isoformat() for f in fields
            if f.type == "date" and f.required and f.name.endswith("_on")}


@dataclass(frozen=True)
class FormErrors:
    """A refused or invalid submission: error codes per field, and refusals for the whole form."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    refusals: tuple[Refusal, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.fields or self.refusals)


def _flat_codes(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [c for v in value.values() for c in _flat_codes(v)]
    if isinstance(value, list | tuple):
        return [c for v in value for c in _flat_codes(v)]
    return ["invalid"]


def errors_from_refusal(err: TransitionRefused) -> FormErrors:
    fields: dict[str, list[str]] = {}
    other: list[Refusal] = []
    for r in err.refusals:
        if r.code == "invalid_payload" and r.fields:
            for name, codes in r.fields.items():
                fields.setdefault(name, []).extend(dict.fromkeys(_flat_codes(codes)))
        elif r.code == "reason_required":
            fields.setdefault(REASON, []).append("required")
        else:
            other.append(r)
    return FormErrors(fields, tuple(other))


# --- error texts ------------------------------------------------------------------------------


def error_text(code: str) -> str:
    texts = {
        "required": _("This field is required."),
        "invalid": _("The value is not valid."),
        "not_a_number": _("Write a whole number with the digits 0 to 9."),
        "too_long": _("The text is too long."),
        "too_short": _("Too short: use at least 15 characters."),
        "too_common": _("Too easy to guess. Choose another."),
        "wrong_password": _("The current password is wrong."),
        "unknown": _("This field is not expected here."),
        "nul": _("The text contains an invalid character."),
        "in_future": _("The date cannot be in the future."),
        "in_past": _("The date cannot be in the past."),
        "not_in_municipality": _("Choose someone or something in your municipality."),
        "inactive_user": _("That user is no longer active."),
        "inactive_unit": _("That unit is deactivated. Choose another."),
        "not_in_service": _("The person does not work in the chosen service."),
        "already_participant": _("The person already takes part."),
        "already_stafettholder": _("The person is already the stafettholder."),
        "holder_only": _("Only the stafettholder can choose to stay on as a participant."),
        "stay_not_covered": _("You cannot stay on as a participant: no current consent covers "
                              "your service."),
        "debrief_recorded": _("A debrief is already recorded for this report."),
        "same_unit": _("The case is already in this unit. Choose the receiving unit."),
        "holder_leaves": _("The stafettholder belongs to the unit the case leaves: choose a new "
                           "stafettholder in the receiving unit."),
        "not_in_receiving_unit": _("Choose someone who works on cases in the receiving unit."),
        "looks_like_id_number": _(
            "Do not use a national identity number. Use a pseudonym or initials."),
        "contains_id_number": _(
            "Do not write a national identity number (fødselsnummer or D-number) here. "
            "Remove the number: the case must not hold it."),
        "not_a_choice": _("Choose one of the options."),
        "too_far": _("The date is too far ahead."),
        "before_start": _("The date cannot be before the start date."),
        "already_expired": _("The expiry date has passed: a consent that has already expired "
                             "cannot be recorded."),
        "not_on_case": _("Choose something that belongs to this case."),
        "not_active": _("It is no longer active."),
        "child_voice_missing": _("Record what the child said, or why the child was not heard."),
        "not_allowed": _("This is not allowed here."),
        "empty_list": _("Choose at least one."),
        "reason_too_short": _("Write a reason of at least 20 characters."),
        "age_range": _("Give an age from 0 to 24."),
        "age_order": _("The upper age cannot be below the lower age."),
        # the annual wheel
        "own_unit_only": _("You keep the routines of your own unit only; the municipality's "
                           "administrator keeps the routines for the whole municipality."),
        "period_too_long": _("A routine can last a year at most: the end must be less than a "
                             "year after the start."),
        "taken": _("That name is taken. Choose another."),
        "birth_or_due": _("Give the birth year or, for a child not yet born, the due month: "
                          "not both."),
        "already_evaluated": _("This measure has already been evaluated."),
        "already_recorded": _("This feedback is already recorded for the report."),
        "feedback_concluded": _("Child welfare has concluded this report: no more feedback "
                                "is expected."),
        "investigation_opened": _("Child welfare opened an investigation: record that the "
                                  "investigation is closed instead."),
        "already_answered": _("Child welfare has already answered this report."),
        "before_report": _("The date cannot be before the report was sent."),
        "before_deadline": _("The deadline for feedback has not passed yet."),
        "before_investigation": _("The date cannot be before the investigation was opened."),
        # the individual plan and its ansvarsgruppe
        "user_or_unit": _("Choose either a coordinator or the coordinating unit, not both."),
        "not_coordinating_unit": _("Choose a coordinating unit."),
        "no_recipients": _("The coordinating unit has no active leader or coordinator to "
                           "receive the case."),
        "may_not_hold": _("The person cannot hold a case."),
        "staff_by_user": _("Choose a staff member from the list; names are written only for "
                           "guardians and the child."),
        "named_only": _("Guardians and the child are written by name only, not chosen as "
                        "users."),
        "child_already_member": _("The child is already a member."),
        "already_member": _("Already a member of the ansvarsgruppe."),
        "not_member": _("Not a member of the ansvarsgruppe."),
        "is_coordinator": _("The coordinator cannot leave: change the coordinator first."),
        "already_coordinator": _("The person is already the coordinator."),
        "user_or_name": _("Choose a staff member or write a name, not both."),
    }
    return texts.get(code, _("The value is not valid."))
