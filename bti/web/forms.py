"""Field error codes (from services, the engine and marshmallow) as text in the user's language."""

from __future__ import annotations

from flask_babel import gettext as _


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
        "not_in_service": _("The person does not work in the chosen service."),
        "already_participant": _("The person already takes part."),
        "already_stafettholder": _("The person is already the stafettholder."),
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
    }
    return texts.get(code, _("The value is not valid."))
