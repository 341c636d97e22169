"""Every event that notifies, in one place: its default delivery mode. Who receives each is
decided where the event happens, through ``bti.services.notify.outbox.emit``; the recipients
per event are listed in ``RECIPIENTS`` (words for docs and the settings page, checked by a
test that delivers every event)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Event(StrEnum):
    CONCERN_NEW = "concern_new"
    APPOINTED = "appointed"
    HANDOVER_PROPOSED = "handover_proposed"
    HANDOVER_ACCEPTED = "handover_accepted"
    HANDOVER_DECLINED = "handover_declined"
    HANDOVER_WITHDRAWN = "handover_withdrawn"
    PARTICIPANT_ADDED = "participant_added"
    CONSENT_EXPIRING = "consent_expiring"
    CONSENT_EXPIRED = "consent_expired"
    EVALUATION_DUE = "evaluation_due"
    EVALUATION_OVERDUE = "evaluation_overdue"
    LEVEL0_DEADLINE_PASSED = "level0_deadline_passed"
    BARNEVERN_REPORTED = "barnevern_reported"
    BARNEVERN_FEEDBACK_OVERDUE = "barnevern_feedback_overdue"
    TEAM_AGENDA = "team_agenda"
    EMERGENCY_ACCESS = "emergency_access"
    CASE_MOVED_IN = "case_moved_in"
    AUDIT_REVIEW = "audit_review"
    MEETING_INVITATION = "meeting_invitation"
    FAMILY_MESSAGE = "family_message"


@dataclass(frozen=True)
class EventSpec:
    #: "now", "digest" or "app" (``bti.domain.notifications.DELIVERY_MODES``) for a user who
    #: has not chosen.
    default_mode: str
    #: Who receives it, in words (English; the UI has its own translated texts).
    recipients: str


EVENTS: dict[Event, EventSpec] = {
    Event.CONCERN_NEW: EventSpec("now", "the leaders of the case's unit (or of the unit a "
                                        "guardian raised a concern with)"),
    Event.APPOINTED: EventSpec("now", "the new stafettholder"),
    Event.HANDOVER_PROPOSED: EventSpec("now", "the proposed recipient"),
    Event.HANDOVER_ACCEPTED: EventSpec("now", "the proposer"),
    Event.HANDOVER_DECLINED: EventSpec("now", "the proposer"),
    Event.HANDOVER_WITHDRAWN: EventSpec("now", "the proposed recipient"),
    Event.PARTICIPANT_ADDED: EventSpec("now", "the new participant"),
    Event.CONSENT_EXPIRING: EventSpec("digest", "the stafettholder"),
    Event.CONSENT_EXPIRED: EventSpec("now", "the stafettholder"),
    Event.EVALUATION_DUE: EventSpec("digest", "the stafettholder and the measure's responsible"),
    Event.EVALUATION_OVERDUE: EventSpec("now", "the stafettholder and the measure's responsible"),
    Event.LEVEL0_DEADLINE_PASSED: EventSpec("now", "the stafettholder (or the reporter)"),
    Event.BARNEVERN_REPORTED: EventSpec("now", "the leaders of the case's unit"),
    Event.BARNEVERN_FEEDBACK_OVERDUE: EventSpec("now", "the reporter and the stafettholder"),
    Event.TEAM_AGENDA: EventSpec("digest", "the team's members"),
    Event.EMERGENCY_ACCESS: EventSpec("now", "the leaders of the case's unit"),
    Event.CASE_MOVED_IN: EventSpec("now", "the leaders and BTI coordinators of the receiving "
                                          "unit"),
    Event.AUDIT_REVIEW: EventSpec("now", "the reviewers (leader, privacy officer)"),
    #: A calendar invitation (ICS): a digest user gets it at the digest hour, but as a mail of
    #: its own (a calendar reads one invitation per message), not inside the digest's list.
    Event.MEETING_INVITATION: EventSpec("now", "the stafettholder and the case's participants"),
    Event.FAMILY_MESSAGE: EventSpec("now", "the stafettholder"),
}
