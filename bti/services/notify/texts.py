"""What a notification says, per event: one short title, no data about the child (Normen's
rule for e-mail: what kind of task, and a link). English message ids, translated through the
UI catalogues (``bti.render.i18n``), so the app list and the e-mail say the same."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bti.render.i18n import Translator
from bti.render.i18n import translations
from bti.services.notify.events import Event


def N_(message: str) -> str:
    """Marks a message id for extraction; translated where it is shown."""
    return message


TITLES: dict[Event, str] = {
    Event.CONCERN_NEW: N_("A new concern was registered in your unit"),
    Event.APPOINTED: N_("You were appointed stafettholder"),
    Event.HANDOVER_PROPOSED: N_("A case is proposed handed over to you"),
    Event.HANDOVER_ACCEPTED: N_("Your handover was accepted"),
    Event.HANDOVER_DECLINED: N_("Your handover was declined"),
    Event.HANDOVER_WITHDRAWN: N_("A handover to you was withdrawn"),
    Event.PARTICIPANT_ADDED: N_("You were added as a participant in a case"),
    Event.CONSENT_EXPIRING: N_("A consent expires soon"),
    Event.CONSENT_EXPIRED: N_("A consent has expired"),
    Event.EVALUATION_DUE: N_("An evaluation is due soon"),
    Event.EVALUATION_OVERDUE: N_("An evaluation is overdue"),
    Event.LEVEL0_DEADLINE_PASSED: N_("The deadline at nivå 0 has passed"),
    Event.BARNEVERN_REPORTED: N_("A report to child welfare was registered in your unit"),
    Event.BARNEVERN_FEEDBACK_OVERDUE: N_("Feedback from child welfare is overdue"),
    Event.TEAM_AGENDA: N_("A team's agenda: a new item, or the minutes of your question"),
    Event.EMERGENCY_ACCESS: N_("Emergency access to a case in your unit"),
    Event.CASE_MOVED_IN: N_("A case was moved to your unit"),
    Event.AUDIT_REVIEW: N_("An access pattern needs review"),
    Event.MEETING_INVITATION: N_("You are invited to a meeting in a case"),
    Event.FAMILY_MESSAGE: N_("The family wrote a comment or question to a case you hold"),
}

#: An event's title for a particular ``change`` in its details (a moved or cancelled meeting).
CHANGES: dict[tuple[Event, str], str] = {
    (Event.MEETING_INVITATION, "moved"): N_("A meeting in a case was moved"),
    (Event.MEETING_INVITATION, "cancelled"): N_("A meeting in a case was cancelled"),
}


def title(event: Event | str, t: Translator | None = None, *, lang: str = "nb",
          details: Mapping[str, Any] | None = None) -> str:
    """The event's title in the language of ``t`` (a request's translations), else ``lang``;
    ``details`` (the notice's) may name a change with a title of its own."""
    kind = Event(event)
    change = (details or {}).get("change")
    message = CHANGES.get((kind, change), TITLES[kind]) if isinstance(change, str) \
        else TITLES[kind]
    return (t or translations(lang)).gettext(message)
