"""Access that rests on a consent (AUTHZ-05, PRIV-04): it ends when the consent is withdrawn or
expires, decided on every request with the injected clock (no job); a pending handover goes
with it; recording an expired consent is refused; refusals name exactly what is missing.
All names are made up."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlalchemy import select

from bti.db.engine import make_engine
from bti.db.engine import make_session_factory
from bti.domain.cases import Consent
from bti.domain.cases import Handover
from bti.domain.cases import Notification
from bti.domain.cases import Participant
from bti.domain.log import StafettloggEntry
from bti.domain.vocabulary import GUARD_DETAILS
from bti.domain.vocabulary import GUARDS
from bti.domain.vocabulary import SERVICE_GUARDS
from bti.engine import Step
from bti.engine import TransitionRefused
from bti.engine.i18n import LANGS
from bti.engine.i18n import refusal_message
from bti.migrate import upgrade
from bti.services.cases import casepage
from bti.services.cases import inbox
from bti.services.cases import lifecycle as cases
from bti.services.cases.effects import HANDLERS
from bti.services.context import OSLO
from bti.services.context import utcnow
from bti.services.errors import NotFound
from tests.conftest import ROOT
from tests.conftest import World
from tests.dbs import ON_POSTGRES
from tests.dbs import pg_schema
from tests.dbs import require_postgres
from tests.factories import CONCERN
from tests.factories import FIXED_NOW
from tests.factories import TODAY
from tests.factories import to_n1

#: The consent holds through EXPIRES (Oslo); it ends at the start of the next day, which in
#: March (CET, UTC+1) is 23:00 UTC the day before.
EXPIRES = TODAY + timedelta(days=10)
EXPIRY_MOMENT = datetime(2026, 3, 12, 23, 0, tzinfo=UTC)
JUST_BEFORE = EXPIRY_MOMENT - timedelta(seconds=1)


def open_case(world, birth_year=2016, **concern):
    return cases.open_case(world.ctx(world.teacher), unit_id=None, child_pseudonym="Test B.",
                           child_birth_year=birth_year, concern={**CONCERN, **concern}).case


def give_consent(world, case, *units, given_by="guardians", expires_on=None, now=None,
                 actor=None):
    payload = {"given_by": given_by, "services": [u.id for u in units],
               "information": "Helse og trivsel", "given_on": TODAY.isoformat()}
    if expires_on is not None:
        payload["expires_on"] = expires_on.isoformat()
    return cases.fire(world.ctx(actor or world.coordinator, now=now), case.id, "give_consent",
                      payload).entry.object_id


def nurse_in_case(world, expires_on=EXPIRES):
    """A case at nivå 1 with the health nurse admitted through a consent covering the health
    station."""
    case = open_case(world)
    to_n1(world, case)
    consent = give_consent(world, case, world.health, expires_on=expires_on)
    cases.fire(world.ctx(world.coordinator), case.id, "add_participant",
               {"participant": world.nurse.id, "service": world.health.id})
    return case, consent


def handover_to_nurse(world, expires_on=EXPIRES):
    """A case at nivå 1; consent covering the health station; a handover proposed to the health
    nurse, not yet answered."""
    case = open_case(world)
    to_n1(world, case)
    consent = give_consent(world, case, world.health, expires_on=expires_on)
    cases.fire(world.ctx(world.coordinator), case.id, "propose_handover",
               {"to_user": world.nurse.id, "reason": "Helsesyster tek over"})
    return case, consent


def relation_row(session, case, user, relation):
    return session.scalar(select(Participant).where(
        Participant.case_id == case.id, Participant.user_id == user.id,
        Participant.relation == relation))


# --- 1. expiry ends access at the moment of expiry -----------------------------------------------


def test_an_expired_consent_ends_the_participants_access_at_the_moment_of_expiry(world, session):
    w = world
    case, _ = nurse_in_case(w)
    # the last second of the consent's last day: she reads and writes
    assert cases.get_case(w.ctx(w.nurse, now=JUST_BEFORE), case.id).basis == "participant"
    cases.fire(w.ctx(w.nurse, now=JUST_BEFORE), case.id, "add_note",
               {"text": "Helsesyster skriv"})
    session.commit()
    # from the moment of expiry: no read, no write, no list, no log, exactly as withdrawal
    at = w.ctx(w.nurse, now=EXPIRY_MOMENT)
    for read in (cases.get_case, cases.list_actions, cases.log_entries, casepage.case_page):
        with pytest.raises(NotFound):
            read(at, case.id)
    with pytest.raises(NotFound):
        cases.fire(at, case.id, "add_note", {"text": "Etter utløp"})
    assert case.id not in inbox.my_inbox(at).case_ids()
    # nothing was written to make it so: computed on the request
    row = relation_row(session, case, w.nurse, "participant")
    assert (row.ended_at, row.end_reason) == (None, None)
    # the others still work on the case
    assert cases.get_case(w.ctx(w.coordinator, now=EXPIRY_MOMENT), case.id).basis == \
        "stafettholder"


def test_the_first_write_after_expiry_ends_the_row_at_the_moment_of_expiry(world, session):
    w = world
    case, _ = nurse_in_case(w)
    later = EXPIRY_MOMENT + timedelta(days=2)
    cases.fire(w.ctx(w.coordinator, now=later), case.id, "add_note", {"text": "To dagar etter"})
    session.commit()
    row = relation_row(session, case, w.nurse, "participant")
    assert (row.ended_at, row.end_reason) == (EXPIRY_MOMENT, "consent_expired")
    # she may be admitted again under a new consent (one active row, not two)
    give_consent(w, case, w.health, now=later)
    cases.fire(w.ctx(w.coordinator, now=later), case.id, "add_participant",
               {"participant": w.nurse.id, "service": w.health.id})
    assert cases.get_case(w.ctx(w.nurse, now=later), case.id).basis == "participant"
    active = session.scalar(select(func.count()).select_from(Participant).where(
        Participant.case_id == case.id, Participant.user_id == w.nurse.id,
        Participant.ended_at.is_(None)))
    assert active == 1


def test_a_consent_without_expiry_or_renewed_in_time_keeps_access(world, session):
    w = world
    case, _ = nurse_in_case(w)
    give_consent(w, case, w.health, expires_on=EXPIRES + timedelta(days=100))  # renewed
    assert cases.get_case(w.ctx(w.nurse, now=EXPIRY_MOMENT + timedelta(days=5)),
                          case.id).basis == "participant"
    page = casepage.case_page(w.ctx(w.coordinator, now=EXPIRY_MOMENT), case.id)
    assert page.expired_consents == []  # renewed: nothing to tell


def test_the_stafettholder_is_warned_before_and_told_after(world, session):
    w = world
    case, consent = nurse_in_case(w)
    # before: the inbox warns (and the notification is written once)
    before = w.ctx(w.coordinator, now=EXPIRY_MOMENT - timedelta(days=3))
    item = next(i for i in inbox.my_inbox(before).items if i.case.id == case.id)
    assert [u.kind for u in item.urgencies] == ["consent_expiring"]
    session.commit()
    notes = session.scalars(select(Notification).where(
        Notification.case_id == case.id, Notification.kind == "consent_expiring")).all()
    assert [(n.user_id, n.kind) for n in notes] == [(w.coordinator.id, "consent_expiring")]
    # after: the inbox and the case page say it expired and who lost access (from the rows)
    after = w.ctx(w.coordinator, now=EXPIRY_MOMENT)
    item = next(i for i in inbox.my_inbox(after).items if i.case.id == case.id)
    expired = [u for u in item.urgencies if u.kind == "consent_expired"]
    assert [(u.on, u.overdue, u.object_id) for u in expired] == [(EXPIRES, True, consent)]
    page = casepage.case_page(after, case.id)
    [notice] = page.expired_consents
    assert notice.consent.id == consent
    assert notice.services == ["Helsestasjonen"]
    assert [(p.name, p.unit_name) for p in notice.lost] == [
        (w.nurse.display_name, "Helsestasjonen")]
    # still told after the rows were ended by a later write
    cases.fire(w.ctx(w.coordinator, now=EXPIRY_MOMENT), case.id, "add_note", {"text": "Notat"})
    page = casepage.case_page(w.ctx(w.coordinator, now=EXPIRY_MOMENT), case.id)
    assert [p.name for p in page.expired_consents[0].lost] == [w.nurse.display_name]


@contextmanager
def _migrated(url):
    engine = make_engine(url)
    try:
        upgrade(engine)
        yield url, engine
    finally:
        engine.dispose()


@pytest.fixture
def migrated(tmp_path):
    """A database made by the migrations (as ``bti init-db`` makes it) on the database under
    test: a SQLite file, or a new PostgreSQL schema. Yields its URL and an engine."""
    if ON_POSTGRES:
        with pg_schema(require_postgres()) as url, _migrated(url) as found:
            yield found
        return
    with _migrated(f"sqlite:///{tmp_path / 'bti.sqlite3'}") as found:
        yield found


def test_bti_notify_consents_warns_each_stafettholder_once_in_a_subprocess(
        tmp_path, registry, migrated):
    """The scheduled job, run as cron runs it. Its clock is the real one, so the consent here
    expires three days after the real today (it asserts no time, only counts)."""
    url, engine = migrated
    now = utcnow()
    today = now.astimezone(OSLO).date()
    with make_session_factory(engine)() as s:
        w = World(s, registry, "bti-standard")
        case = cases.open_case(w.ctx(w.teacher, now=now), unit_id=None,
                               child_pseudonym="Jobb J.", child_birth_year=2016,
                               concern=dict(CONCERN)).case
        cases.fire(w.ctx(w.leader, now=now), case.id, "appoint_stafettholder",
                   {"stafettholder": w.coordinator.id})
        cases.fire(w.ctx(w.coordinator, now=now), case.id, "give_consent", {
            "given_by": "guardians", "services": [w.health.id], "information": "Helse",
            "given_on": today.isoformat(),
            "expires_on": (today + timedelta(days=3)).isoformat()})
        s.commit()
        holder = w.coordinator.id
    bti = Path(sys.executable).with_name("bti")
    env = dict(os.environ, BTI_DATABASE_URL=url, BTI_WORKFLOWS_DIR=str(ROOT / "workflows"))
    runs = [subprocess.run([str(bti), "notify", "consents"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, check=False) for _ in range(2)]
    assert [(r.returncode, r.stdout.strip()) for r in runs] == [
        (0, "1 new consent warning(s)"), (0, "0 new consent warning(s)")], runs[0].stderr
    with make_session_factory(engine)() as s:
        rows = s.scalars(select(Notification).where(
            Notification.kind == "consent_expiring")).all()
        assert [(n.user_id, n.case_id, n.kind) for n in rows] == [
            (holder, case.id, "consent_expiring")]


# --- 2. withdrawal and expiry end a pending handover -------------------------------------------


def test_withdrawal_cancels_the_handover_the_consent_admitted(world, session):
    """The attack: consent covering the health station; handover proposed to the nurse;
    consent withdrawn. She may no longer read the case, nor take it."""
    w = world
    case, consent = handover_to_nurse(w)
    assert cases.get_case(w.ctx(w.nurse), case.id).basis == "handover_recipient"
    cases.fire(w.ctx(w.coordinator), case.id, "withdraw_consent", {"consent": consent})
    session.commit()
    with pytest.raises(NotFound):
        cases.get_case(w.ctx(w.nurse), case.id)
    with pytest.raises(NotFound):
        cases.fire(w.ctx(w.nurse), case.id, "accept_handover")
    session.rollback()
    # the stafettholder keeps the case, and may propose again
    assert cases.get_case(w.ctx(w.coordinator), case.id).basis == "stafettholder"
    assert case.stafettholder_id == w.coordinator.id
    h = session.scalars(select(Handover).where(Handover.case_id == case.id)).one()
    assert (h.status, h.decided_at) == ("cancelled", FIXED_NOW)
    row = relation_row(session, case, w.nurse, "handover_recipient")
    assert (row.ended_at, row.end_reason) == (FIXED_NOW, "consent_withdrawn")
    _, actions = cases.list_actions(w.ctx(w.coordinator), case.id)
    assert next(a for a in actions if a.transition.trigger == "propose_handover").allowed


def test_expiry_ends_a_pending_handover_at_the_moment_of_expiry(world, session):
    w = world
    case, _ = handover_to_nurse(w)
    session.commit()
    assert cases.get_case(w.ctx(w.nurse, now=JUST_BEFORE), case.id).basis == \
        "handover_recipient"
    with pytest.raises(NotFound):
        cases.fire(w.ctx(w.nurse, now=EXPIRY_MOMENT), case.id, "accept_handover")
    session.rollback()
    # for the stafettholder the handover no longer waits: a new one may be proposed at once
    holder = w.ctx(w.coordinator, now=EXPIRY_MOMENT)
    _, actions = cases.list_actions(holder, case.id)
    assert next(a for a in actions if a.transition.trigger == "propose_handover").allowed
    cases.fire(holder, case.id, "propose_handover",
               {"to_user": w.leader.id, "reason": "Rektor tek over"})
    session.commit()
    handovers = session.scalars(select(Handover).where(Handover.case_id == case.id)
                                .order_by(Handover.id)).all()
    assert [(h.to_user_id, h.status, h.decided_at) for h in handovers] == [
        (w.nurse.id, "cancelled", EXPIRY_MOMENT), (w.leader.id, "proposed", None)]
    row = relation_row(session, case, w.nurse, "handover_recipient")
    assert (row.ended_at, row.end_reason) == (EXPIRY_MOMENT, "consent_expired")


def test_accept_handover_rechecks_the_consent_as_propose_does(world, session):
    """Rows from before this check (a withdrawal that left the handover): the recipient cannot
    even see the case, and the effect itself refuses a recipient the consent does not cover."""
    w = world
    case, consent = handover_to_nurse(w)
    c = session.get(Consent, consent)
    c.status, c.withdrawn_at = "withdrawn", FIXED_NOW  # as the old withdrawal left it
    session.flush()
    with pytest.raises(NotFound):
        cases.fire(w.ctx(w.nurse), case.id, "accept_handover")
    # the effect, reached with facts that still hold the handover: refused with the service
    access = cases.get_case(w.ctx(w.coordinator), case.id)
    facts = cases.case_facts(w.ctx(w.nurse), access)
    facts.__dict__["pending_handover"] = session.scalars(select(Handover)).one()
    accept = access.workflow.transition("accept_handover", case.state)
    with pytest.raises(TransitionRefused) as err:
        HANDLERS["handover_accepted"](w.ctx(w.nurse), case, Step(
            "accept_handover", case.state, case.state, accept, {}), facts)
    [r] = err.value.refusals
    assert (r.guard, r.detail, r.params) == ("consent_covers_services", "not_covered",
                                             {"units": ["Helsestasjonen"]})
    assert case.stafettholder_id == w.coordinator.id


# --- 4. a consent that has already expired is refused ---------------------------------------------


def test_a_consent_whose_expiry_is_past_is_refused_and_nothing_is_written(world, session):
    w = world
    case = open_case(w)
    later = FIXED_NOW + timedelta(days=30)
    entries = session.scalar(select(func.count()).select_from(StafettloggEntry))
    with pytest.raises(TransitionRefused) as err:
        give_consent(w, case, w.health, expires_on=TODAY + timedelta(days=5), now=later,
                     actor=w.teacher)
    assert err.value.refusals[0].fields == {"expires_on": ["already_expired"]}
    assert session.scalar(select(func.count()).select_from(Consent)) == 0
    assert session.scalar(select(func.count()).select_from(StafettloggEntry)) == entries
    # its last day may be today: it still holds today
    give_consent(w, case, w.health, expires_on=TODAY + timedelta(days=30), now=later,
                 actor=w.teacher)


# --- 5. refusals name exactly what is missing ----------------------------------------------------


def _messages(refusal):
    return {lang: refusal_message(refusal, lang, GUARDS, GUARD_DETAILS) for lang in LANGS}


def _refused(ctx, case, trigger, payload=None):
    with pytest.raises(TransitionRefused) as err:
        cases.fire(ctx, case.id, trigger, payload)
    return err.value.refusals


def _to_n1_decision(world, case):
    c = world.ctx(world.coordinator)
    m = cases.fire(c, case.id, "add_measure", {
        "description": "Samtale kvar veke", "responsible": world.coordinator.id,
        "start_date": TODAY.isoformat(),
        "evaluate_by": (TODAY + timedelta(days=30)).isoformat()}).entry.object_id
    cases.fire(c, case.id, "start")
    cases.fire(c, case.id, "evaluate")
    cases.fire(c, case.id, "record_evaluation", {
        "measures": [m], "effect": "none", "child_voice_method": "conversation",
        "outcome": "stop", "child_said": "Eg vil ha hjelp."})
    cases.fire(c, case.id, "decide")


def test_a_consent_for_the_cases_own_unit_is_named_as_what_is_missing(world):
    w = world
    w.school.name = "Fjordvik skule"
    case = open_case(w)
    to_n1(w, case)
    _to_n1_decision(w, case)
    give_consent(w, case, w.school)  # valid, but only for the case's own unit
    [r] = _refused(w.ctx(w.coordinator), case, "escalate", {"reason": "Treng meir hjelp"})
    assert (r.guard, r.detail, r.params) == ("consent_valid", "own_unit_only",
                                             {"unit": "Fjordvik skule"})
    assert _messages(r) == {
        "nb": "Samtykket må gjelde minst én tjeneste utenom Fjordvik skule.",
        "nn": "Samtykket må gjelde minst éi teneste utanom Fjordvik skule.",
        "en": "The consent must cover at least one service other than Fjordvik skule."}
    # the same detail where the actions are listed (the page, the API)
    _, actions = cases.list_actions(w.ctx(w.coordinator), case.id)
    listed = next(a for a in actions if a.transition.trigger == "escalate").refusals
    assert [(x.detail, x.params) for x in listed] == [("own_unit_only",
                                                        {"unit": "Fjordvik skule"})]


def test_a_service_the_consent_does_not_cover_is_named(world):
    w = world
    case = open_case(w)
    to_n1(w, case)
    give_consent(w, case, w.health)
    c = w.ctx(w.coordinator)
    [r] = _refused(c, case, "add_participant", {"participant": w.psychologist.id,
                                                "service": w.ppt.id})
    assert (r.guard, r.detail, r.params) == ("consent_covers_services", "not_covered",
                                             {"units": ["PPT"]})
    assert _messages(r)["nb"] == "Samtykket dekker ikke PPT."
    assert _messages(r)["nn"] == "Samtykket dekkjer ikkje PPT."
    [r] = _refused(c, case, "propose_handover", {"to_user": w.psychologist.id,
                                                 "reason": "PPT tek over"})
    assert _messages(r)["en"] == "The consent does not cover PPT."


@pytest.mark.parametrize(("given_by", "birth_year", "expires", "detail", "params", "nb"), [
    (None, 2016, None, "missing", {},
     "Det må foreligge et gyldig samtykke fra foresatte (og fra ungdommen når alderen krever "
     "det)."),
    (None, 2010, None, "missing_with_youth", {"age": "15"},
     "Det må foreligge et gyldig samtykke fra foresatte og fra ungdommen selv (fra 15 år)."),
    ("guardians", 2010, None, "youth_missing", {"age": "15"},
     "Samtykke fra ungdommen selv mangler: fra 15 år må ungdommen samtykke."),
    ("youth", 2010, None, "guardians_missing", {}, "Samtykke fra foresatte mangler."),
    ("guardians", 2016, TODAY + timedelta(days=1), "expired", {"date": "2026-03-03"},
     "Samtykket gjaldt til 03.03.2026 og er utløpt. Registrer et nytt samtykke."),
])
def test_each_missing_part_of_the_consent_is_named(world, given_by, birth_year, expires,
                                                    detail, params, nb):
    w = world
    case = open_case(w, birth_year=birth_year)
    to_n1(w, case)
    _to_n1_decision(w, case)
    if given_by:
        give_consent(w, case, w.health, given_by=given_by, expires_on=expires)
    later = FIXED_NOW + timedelta(days=5)
    [r] = _refused(w.ctx(w.coordinator, now=later), case, "escalate", {"reason": "Treng meir"})
    assert (r.guard, r.detail, r.params) == ("consent_valid", detail, params)
    assert _messages(r)["nb"] == nb


def test_every_detail_message_has_all_languages_and_the_same_parameters():
    import string

    for guard, details in GUARD_DETAILS.items():
        assert guard in GUARDS or guard in SERVICE_GUARDS
        for detail, labels in details.items():
            assert set(labels) == set(LANGS), (guard, detail)
            names = {lang: {f for _, f, _, _ in string.Formatter().parse(text) if f}
                     for lang, text in labels.items()}
            assert len({frozenset(v) for v in names.values()}) == 1, (guard, detail, names)
