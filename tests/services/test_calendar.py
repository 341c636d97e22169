"""The private calendar feed and the meeting invitation (bti.services.notify.calendar), on real
cases built through the workflow, parsed back with the icalendar library."""

from __future__ import annotations

from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta

import icalendar
import pytest
from sqlalchemy import select

from bti.domain.log import AuditEvent
from bti.domain.notifications import CalendarFeed
from bti.render.i18n import translations
from bti.services.accounts import admin
from bti.services.cases import lifecycle as cases
from bti.services.errors import NotFound
from bti.services.notify import calendar
from tests.factories import CONCERN
from tests.factories import FIXED_NOW
from tests.factories import TODAY
from tests.factories import to_n1

HOST = "bti.test.invalid"
PSEUDONYM = "Solveig Q."
EXPIRES = TODAY + timedelta(days=10)
#: The moment the consent above ends (the start of the next day in Oslo).
EXPIRY_MOMENT = datetime(2026, 3, 12, 23, 0, tzinfo=UTC)


def day(n: int) -> str:
    return (TODAY + timedelta(days=n)).isoformat()


def open_case(w, pseudonym=PSEUDONYM):
    return cases.open_case(w.ctx(w.teacher), unit_id=None, child_pseudonym=pseudonym,
                           child_birth_year=2016, concern=dict(CONCERN)).case


def fire(w, actor, case, trigger, payload=None, now=None):
    return cases.fire(w.ctx(actor, now=now), case.id, trigger, payload)


def meeting(w, actor, case, next_on: str | None, now=None):
    payload = {"meeting_kind": "cooperation", "held_on": TODAY.isoformat(),
               "minutes": "Samarbeidsmøte med heimen"}
    if next_on:
        payload["next_meeting_on"] = next_on
    return fire(w, actor, case, "record_meeting", payload, now=now).entry.object_id


def measure(w, case, responsible, evaluate_by: str) -> int:
    return fire(w, w.coordinator, case, "add_measure", {
        "description": "Samtale kvar veke", "responsible": responsible.id,
        "start_date": TODAY.isoformat(), "evaluate_by": evaluate_by}).entry.object_id


def nurse_case(w):
    """A case at nivå 1 held by the coordinator, the nurse a participant through a consent
    (expiring EXPIRES), a measure of the nurse's and one of the coordinator's, a meeting with a
    next date, and a report to barnevernet awaiting feedback."""
    case = open_case(w)
    to_n1(w, case)
    consent = fire(w, w.coordinator, case, "give_consent", {
        "given_by": "guardians", "services": [w.health.id], "information": "Helse og trivsel",
        "given_on": TODAY.isoformat(), "expires_on": EXPIRES.isoformat()}).entry.object_id
    fire(w, w.coordinator, case, "add_participant",
         {"participant": w.nurse.id, "service": w.health.id})
    nurse_measure = measure(w, case, w.nurse, day(20))
    own_measure = measure(w, case, w.coordinator, day(30))
    meeting(w, w.coordinator, case, day(14))
    report = fire(w, w.teacher, case, "report_barnevernet",
                  {"sent_on": TODAY.isoformat()}).entry.object_id
    return case, consent, nurse_measure, own_measure, report


def feed(w, actor, now=None, lang="nb") -> tuple[bytes, icalendar.Calendar]:
    raw = calendar.feed_ics(w.ctx(actor, now=now), host=HOST, lang=lang)
    return raw, icalendar.Calendar.from_ical(raw)


def events(cal) -> dict[str, icalendar.Event]:
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


def start(ev) -> date:
    return ev.decoded("DTSTART")


def test_the_holders_feed_has_every_date_of_the_case_and_nothing_about_the_child(world, session):
    w = world
    case, consent, nurse_measure, own_measure, report = nurse_case(w)
    raw, cal = feed(w, w.coordinator)
    assert str(cal["X-WR-CALNAME"]) == "BTI"
    got = events(cal)
    assert set(got) == {f"bti-eval-{nurse_measure}@{HOST}", f"bti-eval-{own_measure}@{HOST}",
                        f"bti-meeting-{case.id}@{HOST}", f"bti-consent-{consent}@{HOST}",
                        f"bti-feedback-{report}@{HOST}"}
    assert start(got[f"bti-eval-{own_measure}@{HOST}"]) == TODAY + timedelta(days=30)
    assert start(got[f"bti-meeting-{case.id}@{HOST}"]) == TODAY + timedelta(days=14)
    assert start(got[f"bti-consent-{consent}@{HOST}"]) == EXPIRES
    assert str(got[f"bti-eval-{own_measure}@{HOST}"]["SUMMARY"]) == \
        f"BTI: evaluering, sak {case.id}"
    assert str(got[f"bti-meeting-{case.id}@{HOST}"]["SUMMARY"]) == f"BTI: møte, sak {case.id}"
    for ev in got.values():
        # all-day: a DATE, ending the next day; a revision the client can compare
        assert type(start(ev)) is date
        assert ev.decoded("DTEND") == start(ev) + timedelta(days=1)
        assert ev["SEQUENCE"] == case.version
        assert ev.decoded("LAST-MODIFIED") == case.last_activity_at
        assert ev.decoded("DTSTAMP") == case.last_activity_at
        assert str(ev["SUMMARY"]).startswith("BTI: ")
        assert str(ev["SUMMARY"]).endswith(f"sak {case.id}")
    # nothing of the child, no names, no free text
    for secret in (PSEUDONYM, "Solveig", w.nurse.display_name, w.coordinator.display_name,
                   "Samtale kvar veke", "Samarbeidsmøte", "Helse og trivsel", "2016"):
        assert secret.encode() not in raw


def test_the_nivå_0_deadline_is_the_holders(world, session):
    w = world
    case = open_case(w)
    fire(w, w.teacher, case, "start")
    fire(w, w.leader, case, "appoint_stafettholder", {"stafettholder": w.coordinator.id})
    _, cal = feed(w, w.coordinator)
    [ev] = cal.walk("VEVENT")
    assert str(ev["UID"]) == f"bti-level-{case.id}@{HOST}"
    assert start(ev) == TODAY + timedelta(days=14)  # 14 days from the concern
    assert str(ev["SUMMARY"]) == f"BTI: frist for beslutning, sak {case.id}"
    # the reporter and the leader hold nothing: no deadline in theirs
    assert feed(w, w.teacher)[1].walk("VEVENT") == []
    assert feed(w, w.leader)[1].walk("VEVENT") == []


def test_a_participant_sees_only_their_measures_and_the_meeting(world, session):
    w = world
    case, _consent, nurse_measure, _own, _report = nurse_case(w)
    _, cal = feed(w, w.nurse)
    assert set(events(cal)) == {f"bti-eval-{nurse_measure}@{HOST}",
                                f"bti-meeting-{case.id}@{HOST}"}


def test_other_users_cases_are_absent(world, session):
    w = world
    nurse_case(w)
    for outsider in (w.outsider, w.psychologist, w.foreign):
        assert feed(w, outsider)[1].walk("VEVENT") == []


def test_a_date_change_changes_the_event_and_its_revision(world, session):
    w = world
    case, *_ = nurse_case(w)
    uid = f"bti-meeting-{case.id}@{HOST}"
    before = events(feed(w, w.coordinator)[1])[uid]
    # nothing changed: the same bytes on the next poll, a day later
    assert feed(w, w.coordinator)[0] == feed(w, w.coordinator, now=FIXED_NOW + timedelta(1))[0]
    later = FIXED_NOW + timedelta(hours=3)
    meeting(w, w.coordinator, case, day(21), now=later)
    after = events(feed(w, w.coordinator, now=later)[1])[uid]
    assert (start(before), start(after)) == (TODAY + timedelta(days=14),
                                             TODAY + timedelta(days=21))
    assert after["SEQUENCE"] > before["SEQUENCE"]
    assert after.decoded("LAST-MODIFIED") > before.decoded("LAST-MODIFIED")
    assert after.decoded("DTSTAMP") == later
    # a meeting without a next date: the event goes
    meeting(w, w.coordinator, case, None, now=later)
    assert uid not in events(feed(w, w.coordinator, now=later)[1])


def test_an_evaluated_measure_and_a_closed_case_drop_out(world, session):
    w = world
    case = open_case(w)
    to_n1(w, case)
    m = measure(w, case, w.coordinator, day(5))
    meeting(w, w.coordinator, case, day(40))
    assert f"bti-eval-{m}@{HOST}" in events(feed(w, w.coordinator)[1])
    fire(w, w.coordinator, case, "start")
    fire(w, w.coordinator, case, "evaluate")
    fire(w, w.coordinator, case, "record_evaluation", {
        "measures": [m], "effect": "some", "child_voice_method": "conversation",
        "outcome": "continue", "child_said": "Det går betre.", "evaluated_on": day(0)})
    assert set(events(feed(w, w.coordinator)[1])) == {f"bti-meeting-{case.id}@{HOST}"}
    fire(w, w.coordinator, case, "decide")
    fire(w, w.coordinator, case, "close", {"reason": "Måla er nådde."})
    assert case.closed_at is not None
    assert feed(w, w.coordinator)[1].walk("VEVENT") == []


def test_access_that_ended_with_the_consent_takes_the_case_out(world, session):
    w = world
    case, _consent, nurse_measure, *_ = nurse_case(w)
    just_before = EXPIRY_MOMENT - timedelta(seconds=1)
    assert f"bti-eval-{nurse_measure}@{HOST}" in events(feed(w, w.nurse, now=just_before)[1])
    assert feed(w, w.nurse, now=EXPIRY_MOMENT)[1].walk("VEVENT") == []
    # the holder still has the case, the expired consent no longer in it
    got = events(feed(w, w.coordinator, now=EXPIRY_MOMENT)[1])
    assert f"bti-meeting-{case.id}@{HOST}" in got
    assert not any(uid.startswith("bti-consent-") for uid in got)


def test_the_language_is_the_users(world, session):
    w = world
    case, *_ = nurse_case(w)
    summaries = {lang: {str(e["SUMMARY"]) for e in feed(w, w.coordinator, lang=lang)[1]
                        .walk("VEVENT")} for lang in ("nb", "nn", "en")}
    assert f"BTI: tilbakemelding fra barnevernet, frist, sak {case.id}" in summaries["nb"]
    assert f"BTI: tilbakemelding frå barnevernet, frist, sak {case.id}" in summaries["nn"]
    assert f"BTI: feedback from child welfare due, case {case.id}" in summaries["en"]
    for msgid in calendar.SUMMARIES.values():
        for lang in ("nb", "nn"):
            assert translations(lang).gettext(msgid) != msgid, (lang, msgid)


def test_reading_the_feed_is_an_audited_read_of_each_case(world, session):
    w = world
    case, *_ = nurse_case(w)
    other = open_case(w, "Test B.")
    to_n1(w, other)
    calendar.feed_ics(w.ctx(w.coordinator), host=HOST)
    from bti.services.access.audit import pending

    rows = [r for r in pending(session) if r["action"] == "calendar_feed.read"]
    # the second case has no date in the feed: not read
    assert [(r["case_id"], r["basis"], r["actor_id"]) for r in rows] == \
        [(case.id, "stafettholder", w.coordinator.id)]


# --- switching on and off -------------------------------------------------------------------


def test_the_token_is_shown_once_stored_hashed_and_a_new_one_revokes_the_old(world, session):
    w = world
    ctx = w.ctx(w.nurse)
    first = calendar.enable_feed(ctx)
    assert first.startswith(calendar.PREFIX)
    assert len(first) > 40
    [row] = session.scalars(select(CalendarFeed))
    assert row.token_sha256 == calendar.token_sha256(first)
    assert first not in row.token_sha256
    assert calendar.resolve(session, first, now=FIXED_NOW)[1].id == w.nurse.id
    second = calendar.enable_feed(ctx)
    assert second != first
    assert calendar.resolve(session, first, now=FIXED_NOW) is None
    assert calendar.resolve(session, second, now=FIXED_NOW)[1].id == w.nurse.id
    assert calendar.active_feed(ctx).token_sha256 == calendar.token_sha256(second)
    assert calendar.revoke_feed(ctx) is True
    assert calendar.resolve(session, second, now=FIXED_NOW) is None
    assert calendar.active_feed(ctx) is None
    assert calendar.revoke_feed(ctx) is False
    session.commit()
    actions = list(session.scalars(select(AuditEvent.action).where(
        AuditEvent.action.like("calendar_feed.%")).order_by(AuditEvent.id)))
    assert actions == ["calendar_feed.enabled", "calendar_feed.enabled",
                       "calendar_feed.revoked"]


@pytest.mark.parametrize("token", [None, "", "bti_cal_", "bti_cal_x" * 40, "bti_pat_abc",
                                   "bti_cal_unknown-token-of-the-right-shape-0123456789abc"])
def test_unknown_tokens_answer_none(world, session, token):
    calendar.enable_feed(world.ctx(world.nurse))
    assert calendar.resolve(session, token, now=FIXED_NOW) is None


def test_last_used_is_written_at_most_once_an_hour(world, session):
    w = world
    token = calendar.enable_feed(w.ctx(w.nurse))
    calendar.resolve(session, token, now=FIXED_NOW)
    calendar.resolve(session, token, now=FIXED_NOW + timedelta(minutes=59))
    row = session.scalar(select(CalendarFeed))
    session.refresh(row)
    assert row.last_used_at == FIXED_NOW
    calendar.resolve(session, token, now=FIXED_NOW + timedelta(minutes=61))
    session.refresh(row)
    assert row.last_used_at == FIXED_NOW + timedelta(minutes=61)


def test_deactivation_revokes_the_feed(world, session):
    w = world
    token = calendar.enable_feed(w.ctx(w.nurse))
    admin.deactivate_user(w.ctx(w.admin), w.nurse.id)
    assert calendar.resolve(session, token, now=FIXED_NOW) is None
    admin.reactivate_user(w.ctx(w.admin), w.nurse.id)
    assert calendar.resolve(session, token, now=FIXED_NOW) is None


# --- the meeting invitation -----------------------------------------------------------------


def test_the_meeting_invitation_is_a_request_for_the_next_date(world, session):
    w = world
    case, *_ = nurse_case(w)
    mid = meeting(w, w.coordinator, case, day(28))
    raw = calendar.meeting_invitation(session, mid, host=HOST, lang="nn",
                                      organizer="bti@bti-test.invalid",
                                      attendees=["helsesyster@bti-test.invalid",
                                                 "ola@bti-test.invalid"],
                                      now=FIXED_NOW)
    cal = icalendar.Calendar.from_ical(raw)
    assert str(cal["METHOD"]) == "REQUEST"
    [ev] = cal.walk("VEVENT")
    assert str(ev["UID"]) == f"bti-meeting-{case.id}@{HOST}"  # the feed's event
    assert start(ev) == TODAY + timedelta(days=28)
    assert str(ev["SUMMARY"]) == f"BTI: møte, sak {case.id}"
    assert ev["SEQUENCE"] == case.version
    assert str(ev["ORGANIZER"]) == "mailto:bti@bti-test.invalid"
    attendees = ev["ATTENDEE"]
    assert sorted(str(a) for a in attendees) == ["mailto:helsesyster@bti-test.invalid",
                                                 "mailto:ola@bti-test.invalid"]
    assert all(a.params["RSVP"] == "TRUE" for a in attendees)
    assert PSEUDONYM.encode() not in raw
    assert b"Samarbeidsm" not in raw
    without = meeting(w, w.coordinator, case, None)
    with pytest.raises(NotFound):
        calendar.meeting_invitation(session, without, host=HOST)
