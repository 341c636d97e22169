"""Meeting invitations by e-mail: a meeting planned on a case, moved or cancelled reaches the
stafettholder and the participants through the outbox, and the mails received by a real SMTP
server (aiosmtpd on loopback) carry the ICS (``METHOD:REQUEST``, ``METHOD:CANCEL``) with the
feed's stable UID and a ``SEQUENCE`` that grows with each change, parsed with ``icalendar``.
App-only users get the notice only; digest users get the invitation at the digest hour, in a
mail of its own. No data about the child in any of it. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from datetime import timedelta

import icalendar
from sqlalchemy import select

from bti.domain.cases import Case
from bti.domain.cases import Consent
from bti.domain.cases import Notification
from bti.domain.notifications import NotificationDelivery
from bti.domain.notifications import NotificationPreference
from bti.domain.org import User
from bti.services.cases import lifecycle as cases
from bti.services.context import Ctx
from bti.services.notify import wiring
from bti.services.notify.events import Event
from tests.factories import CONCERN
from tests.factories import FIXED_NOW
from tests.factories import TODAY
from tests.services.test_delivery import factory  # noqa: F401 - a fixture
from tests.services.test_delivery import run
from tests.services.test_delivery import smtp  # noqa: F401 - a fixture
from tests.services.test_delivery import w  # noqa: F401 - a fixture

PSEUDONYM = "Møtebarn Strandvik"
HOST = "bti.kommune.invalid"  # tests.smtp.BASE_URL's host
KIND = Event.MEETING_INVITATION.value


def day(n: int) -> str:
    return (TODAY + timedelta(days=n)).isoformat()


class Case_:
    """A case at nivå 1 held by the coordinator, the nurse a participant; fired in committed
    transactions (the sender works in its own sessions)."""

    def __init__(self, factory, registry, w) -> None:  # noqa: F811
        self.factory, self.registry, self.w = factory, registry, w
        with factory.begin() as s:
            self.id = cases.open_case(self._ctx(s, w.teacher), unit_id=None,
                                      child_pseudonym=PSEUDONYM, child_birth_year=2016,
                                      concern=dict(CONCERN)).case.id
        self.fire(w.teacher, "start")
        self.fire(w.teacher, "inform_home", {"informed_on": day(0)})
        self.fire(w.leader, "appoint_stafettholder", {"stafettholder": w.coordinator.id})

    def _ctx(self, s, actor, at=FIXED_NOW) -> Ctx:
        return Ctx(session=s, actor=s.get(User, actor.id), workflows=self.registry,
                   now=lambda: at)

    def fire(self, actor, trigger, payload=None, at=FIXED_NOW):
        with self.factory.begin() as s:
            cases.fire(self._ctx(s, actor, at), self.id, trigger, payload)

    def to_n1_with_nurse(self) -> None:
        world = self.w
        for trigger, payload in (("assess", None), ("decide", None),
                                 ("escalate", {"reason": "Tiltak trengst."})):
            self.fire(world.coordinator, trigger, payload)
        self.fire(world.coordinator, "give_consent", {
            "given_by": "guardians", "services": [world.health.id], "information": "Helse",
            "given_on": day(0)})
        self.fire(world.coordinator, "add_participant", {"participant": world.nurse.id,
                                                         "service": world.health.id})

    def meeting(self, actor, next_on: str | None, held: int = 0, at=FIXED_NOW) -> None:
        payload = {"meeting_kind": "cooperation", "held_on": day(held),
                   "minutes": f"Samarbeidsmøte om {PSEUDONYM}"}
        if next_on:
            payload["next_meeting_on"] = next_on
        self.fire(actor, "record_meeting", payload, at=at)

    def version(self) -> int:
        with self.factory() as s:
            return s.get_one(Case, self.id).version


def emails(factory) -> dict[int, str]:  # noqa: F811
    with factory() as s:
        return {u.id: u.email for u in s.scalars(select(User))}


def invitations(server) -> list[tuple[str, icalendar.Calendar, object]]:
    """(recipient, the parsed ``invite.ics`` attachment, the message) of each mail received,
    after checking that its text/calendar alternative is the same ICS with the same method."""
    out = []
    for msg in server.inbox.parsed():
        (attachment,) = [p for p in msg.iter_attachments() if p.get_filename() == "invite.ics"]
        assert attachment.get_content_type() == "application/ics"
        raw = attachment.get_content()
        cal = icalendar.Calendar.from_ical(raw)
        (inline,) = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
        assert inline.get_param("method") == str(cal["METHOD"])
        assert icalendar.Calendar.from_ical(inline.get_content()).to_ical() == cal.to_ical()
        out.append((msg["To"].addresses[0].addr_spec, cal, msg))
    return out


def event_of(cal: icalendar.Calendar):
    (ev,) = cal.walk("VEVENT")
    return ev


def no_child_data(server) -> None:
    for (_, raw), msg in zip(server.inbox.messages, server.inbox.parsed(), strict=True):
        decoded = "\n".join(str(p.get_content()) for p in msg.walk() if not p.is_multipart())
        for text in (raw.decode("utf-8", "replace"), decoded):
            assert "Strandvik" not in text
            assert "Samarbeidsmøte" not in text
            assert "2016" not in text


def test_a_planned_meeting_moved_then_cancelled_lands_in_the_calendars(
        factory, registry, w, smtp):  # noqa: F811
    c = Case_(factory, registry, w)
    c.to_n1_with_nurse()
    with factory.begin() as s:  # the nurse reads nynorsk
        s.get_one(User, w.nurse.id).locale = "nn"
    address = emails(factory)
    run(factory, smtp, FIXED_NOW)  # the earlier notices (appointed, participant added)
    smtp.inbox.messages.clear()

    # the reporter records a meeting planning the next one: holder and participant invited
    c.meeting(w.teacher, day(14))
    first = c.version()
    counts = run(factory, smtp, FIXED_NOW)
    assert (counts.sent, counts.failed) == (2, 0)
    got = {to: (cal, msg) for to, cal, msg in invitations(smtp)}
    assert set(got) == {address[w.coordinator.id], address[w.nurse.id]}
    for to, (cal, msg) in got.items():
        assert str(cal["METHOD"]) == "REQUEST"
        ev = event_of(cal)
        assert str(ev["UID"]) == f"bti-meeting-{c.id}@{HOST}"  # the calendar feed's event
        assert ev.decoded("DTSTART") == date.fromisoformat(day(14))
        assert ev["SEQUENCE"] == first
        assert str(ev["ATTENDEE"]) == f"mailto:{to}"  # the recipient's address, no one else's
        assert str(ev["ORGANIZER"]) == "mailto:bti@kommune.invalid"
        assert str(ev["URL"]).startswith("https://bti.kommune.invalid/varsler/")
        assert msg.get_content_type() == "multipart/mixed"
    assert str(event_of(got[address[w.nurse.id]][0])["SUMMARY"]) == f"BTI: møte, sak {c.id}"
    assert got[address[w.nurse.id]][1]["Subject"] == "BTI: Du er invitert til eit møte i ei sak"
    assert got[address[w.coordinator.id]][1]["Subject"] == \
        "BTI: Du er invitert til et møte i en sak"

    # the same date again is no change: nothing is sent
    c.meeting(w.teacher, day(14), held=1)
    assert run(factory, smtp, FIXED_NOW).sent == 0

    # moved: a new REQUEST for the same UID, a higher SEQUENCE
    smtp.inbox.messages.clear()
    c.meeting(w.teacher, day(21), held=2)
    moved = c.version()
    assert run(factory, smtp, FIXED_NOW).sent == 2
    for _, cal, msg in invitations(smtp):
        ev = event_of(cal)
        assert (str(cal["METHOD"]), str(ev["UID"])) == ("REQUEST", f"bti-meeting-{c.id}@{HOST}")
        assert ev.decoded("DTSTART") == date.fromisoformat(day(21))
        assert ev["SEQUENCE"] == moved > first
        assert "flytta" in msg["Subject"] or "flyttet" in msg["Subject"]

    # cancelled: a meeting without a next date while the planned one is still to come
    smtp.inbox.messages.clear()
    c.meeting(w.teacher, None, held=3)
    cancelled = c.version()
    assert run(factory, smtp, FIXED_NOW).sent == 2
    for _, cal, msg in invitations(smtp):
        ev = event_of(cal)
        assert str(cal["METHOD"]) == "CANCEL"
        assert str(ev["STATUS"]) == "CANCELLED"
        assert str(ev["UID"]) == f"bti-meeting-{c.id}@{HOST}"
        assert ev.decoded("DTSTART") == date.fromisoformat(day(21))
        assert ev["SEQUENCE"] == cancelled > moved
        assert "avlyst" in msg["Subject"]

    # nothing more: a meeting without a next date when none is planned
    c.meeting(w.teacher, None, held=4)
    assert run(factory, smtp, FIXED_NOW).sent == 0
    no_child_data(smtp)
    with factory() as s:
        kinds = s.scalars(select(Notification.details).where(Notification.kind == KIND)
                          .where(Notification.user_id == w.nurse.id)
                          .order_by(Notification.id)).all()
    assert [k.count('"change"') for k in kinds] == [1, 1, 1]
    assert ['"new"' in kinds[0], '"moved"' in kinds[1], '"cancelled"' in kinds[2]] == [True] * 3


def test_app_only_users_get_the_notice_and_digest_users_a_mail_of_its_own_at_the_hour(
        factory, registry, w, smtp):  # noqa: F811
    c = Case_(factory, registry, w)
    c.to_n1_with_nurse()
    with factory.begin() as s:
        s.add(NotificationPreference(user_id=w.nurse.id, event=KIND, mode="app"))
        s.add(NotificationPreference(user_id=w.coordinator.id, event=KIND, mode="digest"))
        s.add(NotificationPreference(user_id=w.coordinator.id,
                                     event=Event.CONSENT_EXPIRING.value, mode="digest"))
    run(factory, smtp, FIXED_NOW)
    smtp.inbox.messages.clear()
    c.meeting(w.teacher, day(14))
    with factory() as s:
        notices = {n.user_id for n in s.scalars(select(Notification)
                                                .where(Notification.kind == KIND))}
        outbox = s.execute(select(NotificationDelivery.user_id, NotificationDelivery.mode)
                           .join(Notification,
                                 Notification.id == NotificationDelivery.notification_id)
                           .where(Notification.kind == KIND)).all()
    assert notices == {w.nurse.id, w.coordinator.id}  # both see it in the app
    assert outbox == [(w.coordinator.id, "digest")]  # the app-only nurse gets no mail
    # before the digest hour (07:00 Oslo, FIXED_NOW is 10:00) nothing goes out
    assert run(factory, smtp, FIXED_NOW).sent == 0
    # a consent warning for the digest too: at the next digest hour, two mails
    from bti.services.notify.outbox import emit
    with factory.begin() as s:
        emit(Ctx(session=s, actor=s.get(User, w.admin.id), workflows=registry,
                 now=lambda: FIXED_NOW), Event.CONSENT_EXPIRING, [w.coordinator.id], key=1)
    at = FIXED_NOW + timedelta(days=1)
    assert run(factory, smtp, at).sent == 2
    parsed = smtp.inbox.parsed()
    assert len(parsed) == 2
    (digest,) = [m for m in parsed if m["Subject"] == "BTI: dagens varsler"]
    assert not list(digest.iter_attachments())
    [(to, cal, _)] = invitations(_only_invitations(smtp))
    assert to == emails(factory)[w.coordinator.id]
    assert str(cal["METHOD"]) == "REQUEST"


def test_closing_a_case_cancels_its_planned_meeting(factory, registry, w, smtp):  # noqa: F811
    c = Case_(factory, registry, w)
    c.fire(w.coordinator, "assess")
    c.fire(w.coordinator, "decide")
    c.meeting(w.teacher, day(10))
    c.fire(w.teacher, "close_no_concern", {"reason": "Ingen grunn til uro."})
    run(factory, smtp, FIXED_NOW)
    mine = [(cal, msg) for to, cal, msg in invitations(_only_invitations(smtp))
            if to == emails(factory)[w.coordinator.id]]
    assert [str(cal["METHOD"]) for cal, _ in mine] == ["REQUEST", "CANCEL"]
    assert mine[1][0].walk("VEVENT")[0]["SEQUENCE"] > mine[0][0].walk("VEVENT")[0]["SEQUENCE"]
    no_child_data(smtp)


def _only_invitations(server):
    """``server`` as ``invitations`` reads it, with only the mails that carry an invitation."""
    picked = [m for m in server.inbox.parsed()
              if any(p.get_filename() == "invite.ics" for p in m.iter_attachments())]

    class Inbox:
        def parsed(self):
            return picked

    class View:
        inbox = Inbox()

    return View()


def test_a_participant_whose_consent_has_lapsed_is_invited_no_more(factory, registry, w):  # noqa: F811
    """The invitation follows access: once the consent that admitted the nurse has expired,
    she has no access to the case, so no invitation (nor its case number) reaches her."""
    case = Case_(factory, registry, w)
    case.to_n1_with_nurse()
    with factory.begin() as s:
        for consent in s.scalars(select(Consent).where(Consent.case_id == case.id)):
            consent.expires_on = TODAY + timedelta(days=1)
    with factory() as s:
        row = s.get_one(Case, case.id)
        now = wiring.meeting_invitee_ids(case._ctx(s, w.coordinator), row)
        later = wiring.meeting_invitee_ids(
            case._ctx(s, w.coordinator, at=FIXED_NOW + timedelta(days=5)), row)
    assert now == sorted({w.coordinator.id, w.nurse.id})
    assert later == [w.coordinator.id]
