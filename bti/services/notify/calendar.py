"""A user's private calendar feed (ICS) and the meeting invitation. No Flask here.

The feed
    A user switches it on and gets a URL with a secret token, shown once; only the token's
    SHA-256 is stored (``calendar_feed``, the same reasoning as ``bti.services.accounts.tokens``:
    256 random bits need no slow hash, and a fast one lets the URL be looked up by an index).
    Switching on again revokes the previous URL; revoking stops it at once. A feed of a
    deactivated user answers like an unknown one.

What it holds
    Only the cases the user may access now (the relations of ``bti.domain.rules``, with access
    through a consent ending when the consent does, exactly as ``bti.services.cases.inbox``
    lists them), only open cases:

    - evaluation dates: the active measures where the user is the stafettholder or the
      measure's responsible;
    - the next meeting: the next-meeting date of the newest meeting recorded on a case where
      the user is the stafettholder or a participant;
    - deadlines on the cases the user holds (stafettholder): the level's decision deadline
      (nivå 0's 14 days, ``inbox.level_due``), the expiry of a current consent, and
      barnevernet's feedback on an unanswered report.

    Each event names only "BTI", what it is and the case number: never the child's pseudonym,
    a name or free text. Events are all-day (DATE values), with a stable UID per thing
    (``bti-eval-<measure id>@<host>``, ``bti-meeting-<case id>@<host>`` …), and ``SEQUENCE``,
    ``LAST-MODIFIED`` and ``DTSTAMP`` from the case's version and last activity: every event on
    a case bumps them, so a client that sees a date move also sees a newer revision. The feed's
    bytes change only when a case does (nothing depends on the moment of the poll).

    The municipality's annual wheel (``bti.services.workflows.annual_wheel``: the routines for
    the whole municipality and the user's unit, yearly ones with ``RRULE:FREQ=YEARLY``, and the
    catalogue's reviews for its keepers) is in the feed too; it names no case and no person.

    Every case in a feed that is read is an audited read (``calendar_feed.read``, one row per
    case with the user's basis), on the case's access log; not a ``case.*`` action, so a
    calendar server polling at night is not taken for a person reading cases out of hours.

The invitation
    ``invitation_ics`` builds the ICS of a meeting invitation (``METHOD:REQUEST``) or its
    cancellation (``METHOD:CANCEL``), with the feed's UID for the case's meeting and the case's
    version as ``SEQUENCE``; ``bti.services.notify.delivery`` builds it at send time from a
    ``meeting_invitation`` notice (``bti.services.notify.wiring`` writes those when a recorded
    meeting plans, moves or cancels the next one) and attaches it to the participant's e-mail
    (``text/calendar; method=…`` and ``invite.ics``). ``meeting_invitation`` builds it from a
    recorded meeting. It names the case number only, like the feed.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import defaultdict
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from typing import TYPE_CHECKING
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from bti.domain.cases import BarnevernReport
from bti.domain.cases import Case
from bti.domain.cases import Consent
from bti.domain.cases import Measure
from bti.domain.cases import Meeting
from bti.domain.cases import Participant
from bti.domain.notifications import CalendarFeed
from bti.domain.org import User

if TYPE_CHECKING:  # icalendar is imported where an ICS is written, not at start-up (issue 17)
    from icalendar import Calendar
    from icalendar import Event as VEvent
from bti.domain.rules import access_basis
from bti.domain.rules import case_coverage
from bti.domain.rules import consent_is_current
from bti.domain.rules import lapsed
from bti.domain.rules import led_unit
from bti.domain.rules import relations
from bti.domain.vocabulary import AuditAction
from bti.domain.vocabulary import Relation
from bti.render.i18n import Translator
from bti.render.i18n import translations
from bti.services.access import audit
from bti.services.cases.inbox import level_due
from bti.services.context import Ctx
from bti.services.errors import NotFound
from bti.services.workflows import annual_wheel

#: What a feed token starts with (tells it apart from an API token in a leaked log line).
PREFIX = "bti_cal_"
#: Refresh ``last_used_at`` at most this often: a calendar client polls every few minutes,
#: and each poll need not be a write.
TOUCH_EVERY = timedelta(hours=1)
PRODID = "-//BTI//Kalender//NB"
CALENDAR_NAME = "BTI"

EVALUATION = "eval"
MEETING = "meeting"
LEVEL_DECISION = "level"
CONSENT_EXPIRY = "consent"
FEEDBACK_DUE = "feedback"
KINDS = (EVALUATION, MEETING, LEVEL_DECISION, CONSENT_EXPIRY, FEEDBACK_DUE)


def N_(message: str) -> str:
    """Marks a message id for extraction; translated where it is shown."""
    return message


SUMMARIES: dict[str, str] = {
    EVALUATION: N_("BTI: evaluation, case %(case)s"),
    MEETING: N_("BTI: meeting, case %(case)s"),
    LEVEL_DECISION: N_("BTI: decision deadline, case %(case)s"),
    CONSENT_EXPIRY: N_("BTI: consent expires, case %(case)s"),
    FEEDBACK_DUE: N_("BTI: feedback from child welfare due, case %(case)s"),
}

#: The relations that put a case's next meeting in the user's calendar (a leader of the unit
#: is not in every meeting of it).
MEETING_RELATIONS = frozenset({Relation.STAFETTHOLDER.value, Relation.PARTICIPANT.value})


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- switching the feed on and off ---------------------------------------------------------------


def _live(session: Session, user_id: int) -> list[CalendarFeed]:
    return list(session.scalars(select(CalendarFeed).where(
        CalendarFeed.user_id == user_id, CalendarFeed.revoked_at.is_(None))))


def active_feed(ctx: Ctx) -> CalendarFeed | None:
    """The actor's live feed, if it is on (its token is not known any more)."""
    live = _live(ctx.session, ctx.actor.id)
    return max(live, key=lambda f: f.id) if live else None


def enable_feed(ctx: Ctx) -> str:
    """Switch the actor's feed on: any previous URL stops working, and the new token is
    returned, once (only its hash is stored)."""
    now = ctx.now()
    for old in _live(ctx.session, ctx.actor.id):
        old.revoked_at = now
    token = PREFIX + secrets.token_urlsafe(32)
    row = CalendarFeed(user_id=ctx.actor.id, token_sha256=token_sha256(token), created_at=now)
    ctx.session.add(row)
    ctx.session.flush()
    audit.record(ctx, AuditAction.CALENDAR_FEED_ENABLED, object_type="calendar_feed",
                 object_id=row.id)
    return token


def revoke_feed(ctx: Ctx) -> bool:
    """Switch the actor's feed off at once; False if it was not on."""
    live = _live(ctx.session, ctx.actor.id)
    for row in live:
        row.revoked_at = ctx.now()
        audit.record(ctx, AuditAction.CALENDAR_FEED_REVOKED, object_type="calendar_feed",
                     object_id=row.id)
    return bool(live)


def revoke_all(session: Session, user_id: int, *, now: datetime) -> int:
    """Revoke a user's feed without an actor (a deactivation); returns how many."""
    rows = _live(session, user_id)
    for row in rows:
        row.revoked_at = now
    return len(rows)


_RESOLVE = (select(CalendarFeed, User).join(User, User.id == CalendarFeed.user_id)
            .where(CalendarFeed.token_sha256 == bindparam("h")))


def resolve(session: Session, token: str | None, *, now: datetime
            ) -> tuple[CalendarFeed, User] | None:
    """The feed and its user behind a token, or None when the token is unknown, revoked, or
    its user deactivated (all answered alike). The lookup is by the token's hash, so how long
    it takes says nothing about how much of a token was right."""
    if not token or not token.startswith(PREFIX) or len(token) > 200:
        return None
    found = session.execute(_RESOLVE, {"h": token_sha256(token)}).one_or_none()
    if found is None:
        return None
    feed, user = found.CalendarFeed, found.User
    if feed.revoked_at is not None or not user.active:
        return None
    if feed.last_used_at is None or now - feed.last_used_at >= TOUCH_EVERY:
        session.execute(update(CalendarFeed).where(CalendarFeed.id == feed.id)
                        .values(last_used_at=now).execution_options(synchronize_session=False))
        feed.last_used_at = now
    return feed, user


# --- what the feed holds ----------------------------------------------------------------------


@dataclass(frozen=True)
class CalendarEvent:
    kind: str  # one of KINDS
    object_id: int  # the measure, case, consent or report it is about
    case_id: int
    on: date
    sequence: int  # the case's version: every event on the case bumps it
    modified: datetime  # the case's last activity (UTC)

    def uid(self, host: str) -> str:
        return f"bti-{self.kind}-{self.object_id}@{host}"


@dataclass(frozen=True)
class _Visible:
    case: Case
    relations: frozenset[str]
    basis: str


def _by_case(rows) -> dict[int, list]:
    out: dict[int, list] = defaultdict(list)
    for r in rows:
        out[r.case_id].append(r)
    return out


def _visible_cases(ctx: Ctx) -> tuple[list[_Visible], dict[int, list[Consent]]]:
    """The actor's open cases they may access now, with their relations (as the inbox lists
    them: a relation a lapsed consent admitted gives no access), and the cases' given
    consents."""
    actor = ctx.actor
    s = ctx.session
    today = ctx.today()
    mine = select(Participant.case_id).where(Participant.user_id == actor.id,
                                             Participant.ended_at.is_(None))
    conditions = [Case.id.in_(mine), Case.stafettholder_id == actor.id]
    if (unit_id := led_unit(actor)) is not None:
        conditions.append(Case.unit_id == unit_id)
    cases = list(s.scalars(select(Case).where(
        Case.municipality_id == actor.municipality_id, Case.closed_at.is_(None),
        or_(*conditions)).order_by(Case.id)))
    ids = [c.id for c in cases]
    if not ids:
        return [], {}
    participants = _by_case(s.scalars(select(Participant).where(
        Participant.case_id.in_(ids), Participant.user_id == actor.id,
        Participant.ended_at.is_(None))))
    consents = _by_case(s.scalars(select(Consent).where(
        Consent.case_id.in_(ids), Consent.status == "given", Consent.withdrawn_at.is_(None))))
    out = []
    for case in cases:
        definition = ctx.workflows.for_record(s, case.workflow_definition_id).definition
        if definition.state(case.state).final:
            continue
        given = consents.get(case.id, [])
        covered = case_coverage(case, given, today, definition.settings.youth_consent_age)
        own = participants.get(case.id, [])
        gone = lapsed(own, case, covered)
        rels = relations(actor, case, [p for p in own if all(p is not g for g in gone)])
        basis = access_basis(rels)
        if basis is not None:
            out.append(_Visible(case, rels, basis))
    return out, consents


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def feed_events(ctx: Ctx) -> tuple[list[CalendarEvent], list[_Visible]]:
    """The actor's calendar events, by date, and the cases they come from (not audited: the
    caller that shows them audits, ``feed_ics``)."""
    visible, consents = _visible_cases(ctx)
    if not visible:
        return [], []
    s = ctx.session
    today = ctx.today()
    by_id = {v.case.id: v for v in visible}
    ids = list(by_id)
    events: list[CalendarEvent] = []

    def add(kind: str, object_id: int, case: Case, on: date) -> None:
        events.append(CalendarEvent(kind, object_id, case.id, on, case.version,
                                    _utc(case.last_activity_at)))

    holder = {cid for cid, v in by_id.items() if Relation.STAFETTHOLDER.value in v.relations}
    mine = [Measure.responsible_id == ctx.actor.id]
    if holder:
        mine.append(Measure.case_id.in_(holder))
    for m in s.scalars(select(Measure).where(
            Measure.case_id.in_(ids), Measure.status == "active", or_(*mine))):
        add(EVALUATION, m.id, by_id[m.case_id].case, m.evaluate_by)

    in_meetings = [cid for cid, v in by_id.items() if v.relations & MEETING_RELATIONS]
    if in_meetings:
        newest = (select(Meeting.case_id, func.max(Meeting.id).label("id"))
                  .where(Meeting.case_id.in_(in_meetings)).group_by(Meeting.case_id).subquery())
        for mt in s.scalars(select(Meeting).join(newest, Meeting.id == newest.c.id)):
            if mt.next_meeting_on is not None:
                add(MEETING, mt.case_id, by_id[mt.case_id].case, mt.next_meeting_on)

    for cid in sorted(holder):
        case = by_id[cid].case
        definition = ctx.workflows.for_record(s, case.workflow_definition_id).definition
        if (due := level_due(case, definition)) is not None:
            add(LEVEL_DECISION, cid, case, due)
        for c in consents.get(cid, []):
            if c.expires_on is not None and consent_is_current(c, today):
                add(CONSENT_EXPIRY, c.id, case, c.expires_on)
    if holder:
        for r in s.scalars(select(BarnevernReport).where(
                BarnevernReport.case_id.in_(holder), BarnevernReport.kind == "report",
                BarnevernReport.feedback_received_on.is_(None),
                BarnevernReport.feedback_expected_by.is_not(None))):
            if r.feedback_expected_by is not None:
                add(FEEDBACK_DUE, r.id, by_id[r.case_id].case, r.feedback_expected_by)

    events.sort(key=lambda e: (e.on, KINDS.index(e.kind), e.object_id))
    used = {e.case_id for e in events}
    return events, [v for v in visible if v.case.id in used]


def _summary(gettext: Callable[[str], str], kind: str, case_id: int) -> str:
    return gettext(SUMMARIES[kind]) % {"case": case_id}


def _calendar(method: str | None = None) -> Calendar:
    from icalendar import Calendar

    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    if method:
        cal.add("method", method)
    cal.add("x-wr-calname", CALENDAR_NAME)
    return cal


def _vevent(gettext: Callable[[str], str], e: CalendarEvent, host: str, stamp: datetime,
            url: str | None) -> VEvent:
    from icalendar import Event as VEvent

    ev = VEvent()
    ev.add("uid", e.uid(host))
    ev.add("dtstamp", stamp)
    ev.add("last-modified", e.modified)
    ev.add("sequence", e.sequence)
    ev.add("dtstart", e.on)
    ev.add("dtend", e.on + timedelta(days=1))
    ev.add("summary", _summary(gettext, e.kind, e.case_id))
    ev.add("transp", "TRANSPARENT")
    ev.add("class", "PRIVATE")
    if url:
        ev.add("url", url)
    return ev


def render_feed(events: Iterable[CalendarEvent], *, host: str,
                gettext: Callable[[str], str],
                case_url: Callable[[int], str] | None = None,
                extra: Iterable[VEvent] = ()) -> bytes:
    """The feed as ICS bytes; ``case_url(case_id)`` (optional) links each event to its case;
    ``extra``: further events (the annual wheel's routines)."""
    cal = _calendar()
    for e in events:
        cal.add_component(_vevent(gettext, e, host, e.modified, case_url(e.case_id) if case_url
                                  else None))
    for ev in extra:
        cal.add_component(ev)
    return cal.to_ical()


def feed_ics(ctx: Ctx, *, host: str, lang: str | None = None, t: Translator | None = None,
             case_url: Callable[[int], str] | None = None, feed_id: int | None = None) -> bytes:
    """The actor's feed as ICS, in ``t`` or ``lang`` (else the actor's language, else nb);
    each case in it is an audited read (marked ``channel: calendar`` with the feed's id)."""
    events, cases = feed_events(ctx)
    via: dict[str, Any] = {"channel": "calendar", "feed_id": feed_id} if feed_id is not None \
        else {}
    for v in cases:
        audit.record(ctx, AuditAction.CALENDAR_FEED_READ, case=v.case, object_type="case",
                     object_id=v.case.id, basis=v.basis, **via)
    gettext = t.gettext if t is not None else translations(
        lang or ctx.actor.locale or "nb").gettext
    return render_feed(events, host=host, gettext=gettext, case_url=case_url,
                       extra=annual_wheel.vevents(ctx, host=host, gettext=gettext))


# --- the meeting invitation ---------------------------------------------------------------------


def meeting_invitation(session: Session, meeting_id: int, *, host: str,
                       attendees: Iterable[str] = (), organizer: str | None = None,
                       lang: str = "nb", now: datetime | None = None) -> bytes:
    """An invitation (``METHOD:REQUEST``) to a meeting's next date (``attendees``: the
    participants' addresses; ``organizer``: the sender's). Its UID is the feed's
    (``bti-meeting-<case id>``), so a calendar that has both shows one event, and a later
    meeting's invitation moves it (``SEQUENCE`` is the case's version, as in the feed).
    ``NotFound`` when the meeting has no next date.

    Not an access decision: the caller sends it only to the case's participants."""
    mt = session.get(Meeting, meeting_id)
    if mt is None or mt.next_meeting_on is None:
        raise NotFound(f"meeting {meeting_id}")
    case = session.get_one(Case, mt.case_id)
    modified = _utc(case.last_activity_at)
    return invitation_ics(case_id=mt.case_id, on=mt.next_meeting_on, sequence=case.version,
                          host=host, gettext=translations(lang).gettext,
                          stamp=_utc(now) if now is not None else modified,
                          modified=modified, attendees=attendees, organizer=organizer)


#: iTIP methods of an invitation: a new or moved meeting, and a cancelled one (RFC 5546).
REQUEST = "REQUEST"
CANCEL = "CANCEL"


def invitation_ics(*, case_id: int, on: date, sequence: int, host: str,
                   gettext: Callable[[str], str], stamp: datetime,
                   modified: datetime | None = None, method: str = REQUEST,
                   attendees: Iterable[str] = (), organizer: str | None = None,
                   url: str | None = None) -> bytes:
    """The ICS of a meeting invitation (``REQUEST``) or its cancellation (``CANCEL``, with
    ``STATUS:CANCELLED``) for the case's meeting on ``on``: one all-day event with the feed's
    UID (``bti-meeting-<case id>@<host>``), ``SEQUENCE`` ``sequence`` (the case's version, so
    each change is newer than the last), naming only "BTI" and the case number."""
    if method not in (REQUEST, CANCEL):
        raise ValueError(f"unknown method {method!r}")
    cal = _calendar(method=method)
    event = CalendarEvent(MEETING, case_id, case_id, on, sequence, _utc(modified or stamp))
    ev = _vevent(gettext, event, host, _utc(stamp), url)
    from icalendar import vCalAddress

    if organizer:
        ev.add("organizer", vCalAddress(f"mailto:{organizer}"))
    for address in attendees:
        who = vCalAddress(f"mailto:{address}")
        who.params["ROLE"] = "REQ-PARTICIPANT"
        who.params["PARTSTAT"] = "NEEDS-ACTION"
        who.params["RSVP"] = "TRUE" if method == REQUEST else "FALSE"
        ev.add("attendee", who, encode=False)
    ev["transp"] = "OPAQUE"
    if method == CANCEL:
        ev.add("status", "CANCELLED")
    cal.add_component(ev)
    return cal.to_ical()
