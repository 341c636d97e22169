"""Every event that notifies reaches exactly the people ``bti.services.notify.events`` names:
one scenario per event, run for real (``open_case``/``fire``, the review job, the scheduled
scan), and the exact set of recipients (Notification rows) and e-mail delivery rows, per each
recipient's preference, and then the mails a real SMTP server (aiosmtpd on loopback) received
for them, each once. Every member of ``Event`` is in the table or, explicitly, wired
elsewhere. At the end of the module the figure "notifications per event kind delivered in the
test run" is printed (in-app notices / e-mails received, ``DELIVERED``). On SQLite and
PostgreSQL. All names are made up."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bti.db.engine import make_session_factory
from bti.domain.cases import Notification
from bti.domain.notifications import NotificationDelivery
from bti.domain.notifications import NotificationPreference
from bti.domain.org import UserRole
from bti.services.access import audit
from bti.services.access import emergency as access
from bti.services.access import review
from bti.services.cases import lifecycle as cases
from bti.services.context import Ctx
from bti.services.context import utcnow
from bti.services.notify import scan
from bti.services.notify.delivery import deliver_due
from bti.services.notify.events import EVENTS
from bti.services.notify.events import Event
from tests.conftest import ROOT
from tests.conftest import World
from tests.factories import CONCERN
from tests.factories import FIXED_NOW
from tests.factories import TODAY
from tests.factories import make_user
from tests.services.test_consent_access import _migrated  # noqa: F401 - used by migrated
from tests.services.test_consent_access import migrated  # noqa: F401 - a fixture
from tests.smtp import Server

#: Events whose notices other code writes, with their own tests: the handovers and the report
#: to barnevernet in tests/services/test_handover_safe.py. Everything else is in ``SCENARIOS``.
WIRED_ELSEWHERE = {Event.HANDOVER_PROPOSED, Event.HANDOVER_ACCEPTED, Event.HANDOVER_DECLINED,
                   Event.HANDOVER_WITHDRAWN, Event.BARNEVERN_REPORTED}

REASON = "Mor ringte og seier barnet ikkje har kome heim."


class Run:
    """Builds cases at chosen days (0 = ``FIXED_NOW``, negative = in the past)."""

    def __init__(self, world: World) -> None:
        self.w = world

    def ctx(self, actor, day: int = 0) -> Ctx:
        at = FIXED_NOW + timedelta(days=day)
        return self.w.ctx(actor, now=at)

    @staticmethod
    def date(day: int) -> str:
        return (TODAY + timedelta(days=day)).isoformat()

    def open(self, actor=None, day: int = 0):
        return cases.open_case(self.ctx(actor or self.w.teacher, day), unit_id=None,
                               child_pseudonym="Varsel V.", child_birth_year=2016,
                               concern=dict(CONCERN)).case

    def fire(self, actor, case, trigger: str, payload: dict | None = None, day: int = 0):
        return cases.fire(self.ctx(actor, day), case.id, trigger, payload)

    def appointed(self, day: int = 0):
        w = self.w
        case = self.open(day=day)
        self.fire(w.teacher, case, "start", day=day)
        self.fire(w.teacher, case, "inform_home", {"informed_on": self.date(day)}, day=day)
        self.fire(w.leader, case, "appoint_stafettholder", {"stafettholder": w.coordinator.id},
                  day=day)
        return case

    def n1(self, day: int = 0):
        w = self.w
        case = self.appointed(day)
        for trigger, payload in (("assess", None), ("decide", None),
                                 ("escalate", {"reason": "Tiltak trengst."})):
            self.fire(w.coordinator, case, trigger, payload, day=day)
        return case

    def consent(self, case, *, day: int, expires: int | None):
        payload = {"given_by": "guardians", "services": [self.w.health.id],
                   "information": "Skule og helse", "given_on": self.date(day)}
        if expires is not None:
            payload["expires_on"] = self.date(expires)
        return self.fire(self.w.coordinator, case, "give_consent", payload, day=day)

    def measure(self, case, *, start: int, evaluate_by: int):
        return self.fire(self.w.coordinator, case, "add_measure", {
            "description": "Samtale kvar veke", "responsible": self.w.psychologist.id,
            "start_date": self.date(start), "evaluate_by": self.date(evaluate_by)}, day=start)

    def scan(self, day: int = 0) -> dict[Event, int]:
        job = Ctx.system(self.w.session, workflows=self.w.registry,
                         now=lambda: FIXED_NOW + timedelta(days=day))
        return scan.scan(job)


@dataclass(frozen=True)
class Scenario:
    event: Event
    #: Makes the event happen; returns the case it is about (None: no case).
    run: Callable[[Run], object]
    #: The World attributes of exactly who is notified.
    recipients: frozenset[str]


def _concern(r: Run):
    return r.open()


def _appointed(r: Run):
    return r.appointed()


def _participant(r: Run):
    case = r.n1()
    r.consent(case, day=0, expires=None)
    r.fire(r.w.coordinator, case, "add_participant", {"participant": r.w.nurse.id,
                                                      "service": r.w.health.id})
    return case


def _meeting(r: Run):
    """The reporter records a meeting planning the next one: the stafettholder and the
    participant are invited (the reporter, who recorded it, is not)."""
    case = _participant(r)
    r.fire(r.w.teacher, case, "record_meeting", {
        "meeting_kind": "cooperation", "held_on": r.date(0), "next_meeting_on": r.date(14)})
    return case


def _consent_expiring(r: Run):
    case = r.n1()
    r.consent(case, day=0, expires=10)
    r.scan()
    return case


def _consent_expired(r: Run):
    case = r.n1(day=-40)
    r.consent(case, day=-40, expires=-2)
    r.scan()
    return case


def _evaluation_due(r: Run):
    case = r.n1(day=-20)
    r.measure(case, start=-20, evaluate_by=3)
    r.scan()
    return case


def _evaluation_overdue(r: Run):
    case = r.n1(day=-20)
    r.measure(case, start=-20, evaluate_by=-2)
    r.scan()
    return case


def _level0_reporter(r: Run):
    case = r.open(day=-20)  # nivå 0's 14 days have passed, no stafettholder yet
    r.scan()
    return case


def _level0_holder(r: Run):
    case = r.appointed(day=-20)
    r.scan()
    return case


def _feedback_overdue(r: Run):
    case = r.n1(day=-26)
    r.fire(r.w.teacher, case, "report_barnevernet", {"sent_on": r.date(-25)}, day=-25)
    r.scan()
    return case


def _emergency(r: Run):
    case = r.open()
    access.request_emergency_access(r.ctx(r.w.outsider), case.id, REASON)
    return case


def _audit_review(r: Run):
    _emergency(r)  # the outsider's unit (PPT) has no leader: the privacy officer follows up
    audit.write_pending(r.w.session)
    review.run_review(r.w.session, FIXED_NOW + timedelta(hours=1))
    return None


def _team(r: Run):
    from bti.services.teams import keep

    w = r.w
    team = keep.create_team(r.ctx(w.admin), name="BTI-teamet", kind="bti_team")
    for member in (w.teacher, w.nurse, w.psychologist, w.coordinator):
        keep.add_member(r.ctx(w.admin), team.id, member.id)
    return team


def _team_referral(r: Run):
    """The stafettholder refers the case: the team's other members are told (the notice leads
    to the team's page, not to the case: it holds no case id)."""
    _team(r)
    case = r.n1()
    r.fire(r.w.coordinator, case, "refer", {"referred_to": "bti_team",
                                            "reason": "Treng fleire tenester."})
    return None


def _team_question(r: Run):
    """A leader (no member) asks without a case: the members are told; the minutes go back
    to the leader."""
    from bti.services.teams import agenda

    team = _team(r)
    item = agenda.ask(r.ctx(r.w.leader), team.id, child_age=8, text="Ein gut er mykje borte.")
    agenda.record_minutes(r.ctx(r.w.coordinator), team.id, item.id, decision="Undringssamtale.",
                          follow_ups=[])
    return None
def _moved_in(r: Run):
    """The case moves to the health station, whose BTI coordinator is the nurse (made so here);
    the nurse also takes the baton."""
    w = r.w
    w.session.add(UserRole(user_id=w.nurse.id, role="coordinator"))
    w.session.flush()
    w.session.expire(w.nurse)
    case = r.n1()
    r.fire(w.coordinator, case, "move_unit", {
        "to_unit": w.health.id, "given_by": "guardians", "given_on": r.date(0),
        "reason": "Helsestasjonen fylgjer opp", "new_stafettholder": w.nurse.id})
    return case


def _guardian(r: Run, person: str = "pid-varsel-1"):
    from bti.services.family import sessions

    identity = sessions.identify(r.w.session, municipality=r.w.municipality,
                                 issuer="http://idporten.test", subject_claim="pid",
                                 person=person, key=b"a-notify-test-key", now=FIXED_NOW)
    return sessions.FamilyActor(identity.id, r.w.municipality.id, 0)


def _family_message(r: Run):
    """A guardian linked to the case writes a question: its stafettholder is told (no text in
    the notice)."""
    from bti.services.family import invitations
    from bti.services.family import voice

    case = r.n1()
    made = invitations.invite(r.ctx(r.w.coordinator), case.id, "guardian")
    guardian = _guardian(r)
    invitations.redeem(r.w.session, guardian, made.code, now=FIXED_NOW)
    voice.send_message(r.w.session, guardian, case.id, "Kan vi møtast?", now=FIXED_NOW,
                       workflows=r.w.registry)
    return case


def _family_concern(r: Run):
    """A guardian raises a concern with the school: its leaders are told of a new concern
    (no case yet, so the notice holds none)."""
    from bti.services.family import voice

    voice.raise_concern(r.w.session, _guardian(r), unit_id=str(r.w.school.id),
                        child_name="Mia", birth_year="2017", text="Søv dårleg.", contact="",
                        now=FIXED_NOW)
    return None


SCENARIOS = [
    Scenario(Event.CONCERN_NEW, _concern, frozenset({"leader"})),
    Scenario(Event.APPOINTED, _appointed, frozenset({"coordinator"})),
    Scenario(Event.PARTICIPANT_ADDED, _participant, frozenset({"nurse"})),
    Scenario(Event.CONSENT_EXPIRING, _consent_expiring, frozenset({"coordinator"})),
    Scenario(Event.CONSENT_EXPIRED, _consent_expired, frozenset({"coordinator"})),
    Scenario(Event.EVALUATION_DUE, _evaluation_due, frozenset({"coordinator", "psychologist"})),
    Scenario(Event.EVALUATION_OVERDUE, _evaluation_overdue,
             frozenset({"coordinator", "psychologist"})),
    Scenario(Event.LEVEL0_DEADLINE_PASSED, _level0_reporter, frozenset({"teacher"})),
    Scenario(Event.LEVEL0_DEADLINE_PASSED, _level0_holder, frozenset({"coordinator"})),
    Scenario(Event.BARNEVERN_FEEDBACK_OVERDUE, _feedback_overdue,
             frozenset({"teacher", "coordinator"})),
    Scenario(Event.EMERGENCY_ACCESS, _emergency, frozenset({"leader"})),
    Scenario(Event.AUDIT_REVIEW, _audit_review, frozenset({"officer"})),
    Scenario(Event.MEETING_INVITATION, _meeting, frozenset({"coordinator", "nurse"})),
    Scenario(Event.TEAM_AGENDA, _team_referral, frozenset({"teacher", "nurse", "psychologist"})),
    Scenario(Event.TEAM_AGENDA, _team_question,
             frozenset({"teacher", "nurse", "psychologist", "coordinator", "leader"})),
    Scenario(Event.CASE_MOVED_IN, _moved_in, frozenset({"nurse"})),
    Scenario(Event.FAMILY_MESSAGE, _family_message, frozenset({"coordinator"})),
    Scenario(Event.CONCERN_NEW, _family_concern, frozenset({"leader"})),
]

#: The preferences every scenario runs with: one recipient wants none of the events by e-mail,
#: one a daily digest; the others have not chosen (each event's default).
CHOSEN = {"teacher": "app", "coordinator": "digest"}


def test_every_event_is_covered_or_wired_elsewhere():
    covered = {s.event for s in SCENARIOS}
    assert covered.isdisjoint(WIRED_ELSEWHERE)
    assert covered | WIRED_ELSEWHERE == set(Event), set(Event) - covered - WIRED_ELSEWHERE
    assert set(EVENTS) == set(Event)


#: Event kind → [in-app notices written, e-mails the SMTP server received], over this module's
#: scenarios (printed at the end: the figure for issue 14's closing note).
DELIVERED: dict[str, list[int]] = {}


def delivered_lines() -> list[str]:
    """``DELIVERED`` as a table (printed by tests/conftest.py's ``pytest_terminal_summary``
    after a run that included this module's scenarios)."""
    if not DELIVERED:
        return []
    lines = ["", "notifications per event kind delivered in the test run "
             f"({os.environ.get('BTI_TEST_DATABASE') or 'sqlite'}; in-app notices written, "
             "e-mails received by the SMTP server):",
             f"  {'event kind':28} {'in-app':>7} {'e-mails':>8}"]
    for kind in sorted(DELIVERED):
        notices, mails = DELIVERED[kind]
        lines.append(f"  {kind:28} {notices:7d} {mails:8d}")
    total = [sum(v[i] for v in DELIVERED.values()) for i in (0, 1)]
    lines.append(f"  {'total':28} {total[0]:7d} {total[1]:8d}")
    lines.append("  (a notice without an e-mail: its recipient chose the app only; the handover "
                 "events and barnevern_reported are tested in test_handover_safe.py and not "
                 "counted here)")
    return lines


@pytest.fixture
def smtp():
    server = Server()
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("scenario", SCENARIOS,
                         ids=[f"{s.event.value}-{s.run.__name__}" for s in SCENARIOS])
def test_each_event_reaches_exactly_its_recipients(world, session, engine, smtp, scenario):
    w = world
    w.officer = make_user(session, w.municipality, None, ("privacy_officer",),
                          username="personvern")
    for name, mode in CHOSEN.items():
        session.add_all(NotificationPreference(user_id=getattr(w, name).id, event=e.value,
                                               mode=mode) for e in Event)
    session.flush()
    case = scenario.run(Run(w))
    session.commit()
    kind = scenario.event.value
    rows = session.scalars(select(Notification).where(Notification.kind == kind)).all()
    ids = {getattr(w, n).id: n for n in ("teacher", "coordinator", "leader", "nurse",
                                         "psychologist", "outsider", "admin", "officer")}
    assert {ids[n.user_id] for n in rows} == scenario.recipients
    assert len(rows) == len(scenario.recipients)  # one notice each
    assert {n.case_id for n in rows} == {getattr(case, "id", None)}
    assert all(n.read_at is None and n.dedupe_key.startswith(f"{kind}:") for n in rows)
    # the e-mail rows: as each recipient chose, else the event's default; none for "app"
    deliveries = session.execute(
        select(NotificationDelivery.user_id, NotificationDelivery.mode,
               NotificationDelivery.status).join(
            Notification, Notification.id == NotificationDelivery.notification_id)
        .where(Notification.kind == kind)).all()
    default = EVENTS[scenario.event].default_mode
    expected = {(getattr(w, n).id, CHOSEN.get(n, default), "pending")
                for n in scenario.recipients if CHOSEN.get(n, default) != "app"}
    assert set(deliveries) == expected
    assert len(deliveries) == len(expected)

    # sent through a real SMTP server a day later (the digest hour has come): every e-mail row
    # is received exactly once, as its recipient's mail, and nothing else of this kind
    session.close()
    counts = deliver_due(make_session_factory(engine), smtp.settings(),
                         FIXED_NOW + timedelta(days=1), worker_id="events", batch=500)
    assert counts.failed == 0
    by_id = {n.id: n for n in rows}
    mine = [i for i in smtp.inbox.notification_ids() if i in by_id]
    assert sorted(by_id[i].user_id for i in mine) == sorted(u for u, _, _ in expected)
    assert len(set(mine)) == len(mine)  # none twice
    got = DELIVERED.setdefault(kind, [0, 0])
    got[0] += len(rows)
    got[1] += len(mine)


def test_the_scan_is_idempotent_and_counts_per_event(world, session):
    r = Run(world)
    for fn in (_consent_expiring, _consent_expired, _evaluation_due, _evaluation_overdue,
               _level0_reporter, _feedback_overdue):
        fn(r)
    session.commit()
    before = len(session.scalars(select(Notification)).all())
    again = r.scan()
    session.commit()
    assert again == dict.fromkeys(scan.SCANNED, 0)
    assert len(session.scalars(select(Notification)).all()) == before
    # a day later the overdue ones are not written again; the due evaluation became overdue
    later = r.scan(day=6)
    assert later[Event.EVALUATION_OVERDUE] == 2  # the holder and the responsible
    assert later[Event.CONSENT_EXPIRED] == 0
    assert later[Event.BARNEVERN_FEEDBACK_OVERDUE] == 0


def test_the_actor_is_not_told_of_their_own_act(world, session):
    """The leader opens a concern in their own unit and appoints themself: no notice."""
    r = Run(world)
    w = world
    case = r.open(w.leader)
    r.fire(w.leader, case, "start")
    r.fire(w.leader, case, "inform_home", {"informed_on": r.date(0)})
    r.fire(w.leader, case, "appoint_stafettholder", {"stafettholder": w.leader.id})
    session.commit()
    assert session.scalars(select(Notification)).all() == []


def test_bti_notify_scan_in_a_subprocess(tmp_path, registry, migrated):  # noqa: F811
    """The scheduled job as cron runs it, twice: the second run writes nothing. Its clock is
    the real one, so the dates here are relative to the real today."""
    url, engine = migrated
    now = utcnow()
    with make_session_factory(engine)() as s:
        w = World(s, registry, "bti-standard")
        r = Run(w)
        r.ctx = lambda actor, day=0: w.ctx(actor, now=now + timedelta(days=day))  # type: ignore
        today = w.ctx(w.teacher, now=now).today()
        r.date = lambda day: (today + timedelta(days=day)).isoformat()  # type: ignore
        case = r.n1(day=-26)
        r.fire(w.teacher, case, "report_barnevernet", {"sent_on": r.date(-25)}, day=-25)
        r.fire(w.coordinator, case, "add_measure", {
            "description": "Samtale kvar veke", "responsible": w.psychologist.id,
            "start_date": r.date(-20), "evaluate_by": r.date(-2)}, day=-20)
        s.commit()
        teacher, holder, psychologist = w.teacher.id, w.coordinator.id, w.psychologist.id
    bti = Path(sys.executable).with_name("bti")
    env = dict(os.environ, BTI_DATABASE_URL=url, BTI_WORKFLOWS_DIR=str(ROOT / "workflows"))
    runs = [subprocess.run([str(bti), "notify", "scan"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, check=False) for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr
    first = dict(line.split(": ") for line in runs[0].stdout.strip().splitlines())
    second = dict(line.split(": ") for line in runs[1].stdout.strip().splitlines())
    assert first == {"consent_expiring": "0", "consent_expired": "0", "evaluation_due": "0",
                     "evaluation_overdue": "2", "level0_deadline_passed": "0",
                     "barnevern_feedback_overdue": "2", "total": "4"}
    assert set(second.values()) == {"0"}
    with make_session_factory(engine)() as s:
        rows = s.execute(select(Notification.kind, Notification.user_id).where(
            Notification.kind.in_(["evaluation_overdue", "barnevern_feedback_overdue"]))).all()
    assert sorted(rows) == sorted([("barnevern_feedback_overdue", teacher),
                                   ("barnevern_feedback_overdue", holder),
                                   ("evaluation_overdue", holder),
                                   ("evaluation_overdue", psychologist)])
