"""The case page as the coordinator's cockpit (bti.services.cases.overview) on real cases: where
the case stands, what is in place, and what comes next with each guard as a checklist taken
from the engine's own evaluation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlalchemy import select

from bti.domain.log import AuditEvent
from bti.services.cases import lifecycle as cases
from bti.services.cases.overview import entry_titles
from bti.services.cases.overview import overview
from bti.services.errors import NotFound
from tests.factories import CONCERN
from tests.factories import FIXED_NOW
from tests.factories import TODAY
from tests.factories import to_n1


def open_case(w, pseudonym="Test O."):
    return cases.open_case(w.ctx(w.teacher), unit_id=None, child_pseudonym=pseudonym,
                           child_birth_year=2016, concern=dict(CONCERN)).case


def step(ov, trigger):
    found = [s for s in ov.next_steps if s.trigger == trigger]
    assert len(found) == 1, [s.trigger for s in ov.next_steps]
    return found[0]


def check(next_step, guard):
    return next(c for c in next_step.checklist if c.guard == guard)


def measure(w, case, days=30, description="Samtale kvar veke"):
    return cases.fire(w.ctx(w.coordinator), case.id, "add_measure", {
        "description": description, "responsible": w.coordinator.id,
        "start_date": TODAY.isoformat(),
        "evaluate_by": (TODAY + timedelta(days=days)).isoformat()}).entry.object_id


def to_n1_decision(w, case):
    """From nivå 1 plan to its decision: one measure started, evaluated with the child's voice."""
    c = w.ctx(w.coordinator)
    m = measure(w, case)
    cases.fire(c, case.id, "start")
    cases.fire(c, case.id, "evaluate")
    cases.fire(c, case.id, "record_evaluation", {
        "measures": [m], "effect": "some", "child_voice_method": "conversation",
        "outcome": "stop", "child_said": "Det går betre."})
    cases.fire(c, case.id, "decide")
    assert case.state == "n1_decision"


def test_a_new_case_at_nivå_0(world):
    w = world
    case = open_case(w)
    ov = overview(w.ctx(w.teacher), case.id)
    where = ov.where
    assert [s.id for s in where.steps] == ["n0", "n1", "n2", "n3"]  # the file's numbered levels
    assert [s.current for s in where.steps] == [True, False, False, False]
    assert where.steps[0].label("nn") == "Nivå 0 – undring og avklaring"
    assert where.steps[0].level.colour == "green"
    assert where.steps[3].level.colour == "red"
    assert (where.level.id, where.phase, where.days_in_level) == ("n0", "plan", 0)
    # Tromsø's 14 days to the decision at nivå 0
    assert (where.next_deadline.what, where.next_deadline.due) == (
        "level_decision", TODAY + timedelta(days=14))
    assert not where.closed
    # the reporter takes part, through their own relation
    [p] = ov.in_place.participants
    assert (p.user_id, p.relation, p.unit_name, p.through_consent) == (
        w.teacher.id, "reporter", "Nordvik skule", False)
    assert ov.in_place.measures == ()
    assert ov.in_place.handover is None
    assert ov.in_place.stafettholder_name is None
    # what comes next: the step forward, with no guard to meet
    assert [(s.trigger, s.direction, s.allowed) for s in ov.next_steps] == [
        ("start", "phase", True)]
    assert step(ov, "start").checklist == ()


def test_the_decision_waits_for_the_home_and_says_so(world):
    w = world
    case = open_case(w)
    t = w.ctx(w.teacher)
    cases.fire(t, case.id, "start")
    cases.fire(t, case.id, "assess")
    ov = overview(t, case.id)
    decide = step(ov, "decide")
    assert not decide.allowed
    assert not decide.role_refused
    home = check(decide, "home_informed")
    assert not home.met
    assert home.text("nb") == "heimen er informert (undringssamtale)"
    assert home.text("en") == "the home is informed (undringssamtale)"
    assert (home.action, home.action_allowed) == ("inform_home", True)
    assert home.why("nb") == "Heimen må være informert (undringssamtale) først."
    cases.fire(t, case.id, "inform_home", {"informed_on": TODAY.isoformat()})
    ov = overview(t, case.id)
    home = check(step(ov, "decide"), "home_informed")
    assert home.met
    assert home.why("nb") is None
    assert home.refusal is None
    assert step(ov, "decide").allowed


def test_escalating_from_nivå_1_needs_a_consent_for_another_service(world):
    w = world
    case = open_case(w)
    to_n1(w, case)
    to_n1_decision(w, case)
    c = w.ctx(w.coordinator)
    ov = overview(c, case.id)
    assert [s.passed for s in ov.where.steps] == [True, False, False, False]
    assert ov.where.steps[1].current
    assert ov.where.phase == "decision"
    directions = {s.trigger: s.direction for s in ov.next_steps}
    assert directions == {"continue": "continue", "escalate": "up", "close": "close"}
    escalate = step(ov, "escalate")
    assert [(x.guard, x.met) for x in escalate.checklist] == [
        ("measures_evaluated", True), ("consent_valid", False),
        ("consent_covers_services", True)]
    consent = check(escalate, "consent_valid")
    # the issue's own example: "☐ samtykke som dekker en annen tjeneste enn Fjordvik skule"
    assert consent.text("nb") == "samtykke som dekker en annen tjeneste enn Nordvik skule"
    assert consent.text("nn") == "samtykke som dekkjer ei anna teneste enn Nordvik skule"
    assert (consent.action, consent.action_allowed) == ("give_consent", True)
    assert consent.why("nb").startswith("Det må foreligge et gyldig samtykke")
    # the checklist is the engine's: exactly the refusals list_actions gives
    _, actions = cases.list_actions(c, case.id)
    [action] = [a for a in actions if a.transition.trigger == "escalate"]
    assert [r.guard for r in action.refusals] == [
        x.guard for x in escalate.checklist if not x.met]
    # a consent covering only the own unit: the detail says so
    cases.fire(c, case.id, "give_consent", {
        "given_by": "guardians", "services": [w.school.id], "information": "Skule",
        "given_on": TODAY.isoformat()})
    consent = check(step(overview(c, case.id), "escalate"), "consent_valid")
    assert not consent.met
    assert consent.why("nb") == "Samtykket må gjelde minst én tjeneste utenom Nordvik skule."
    cases.fire(c, case.id, "give_consent", {
        "given_by": "guardians", "services": [w.health.id, w.ppt.id],
        "information": "Helse og trivsel", "given_on": TODAY.isoformat(),
        "expires_on": (TODAY + timedelta(days=10)).isoformat()})
    ov = overview(c, case.id)
    assert all(x.met for x in step(ov, "escalate").checklist)
    assert step(ov, "escalate").allowed
    assert [(k.services, k.expires_on, k.expiring_soon) for k in ov.in_place.consents] == [
        (("Nordvik skule",), None, False),
        (("Helsestasjonen", "PPT"), TODAY + timedelta(days=10), True)]


def test_what_is_in_place_at_nivå_2(world):
    w = world
    case = open_case(w)
    to_n1(w, case)
    to_n1_decision(w, case)
    c = w.ctx(w.coordinator)
    consent = cases.fire(c, case.id, "give_consent", {
        "given_by": "guardians", "services": [w.health.id], "information": "Helse",
        "given_on": TODAY.isoformat()}).entry.object_id
    cases.fire(c, case.id, "escalate", {"reason": "Treng helsestasjonen"})
    cases.fire(c, case.id, "add_participant", {"participant": w.nurse.id,
                                               "service": w.health.id, "task": "Samtalar"})
    cases.fire(c, case.id, "add_goal", {"goal_text": "Barnet søv godt"})
    measure(w, case, days=5, description="Søvndagbok")
    measure(w, case, days=40, description="Foreldrerettleiing")
    cases.fire(w.ctx(w.teacher), case.id, "report_barnevernet",
               {"sent_on": TODAY.isoformat(), "grounds": "neglect"})
    cases.fire(c, case.id, "propose_handover", {"to_user": w.leader.id,
                                                "reason": "Rektor tek over"})
    later = FIXED_NOW + timedelta(days=25)  # past the first measure's date and the feedback
    ov = overview(w.ctx(w.coordinator, later), case.id)
    assert ov.where.level.id == "n2"
    assert ov.where.days_in_level == 25
    assert [s.passed for s in ov.where.steps] == [True, True, False, False]
    ip = ov.in_place
    assert [(m.description, m.responsible_name, m.overdue) for m in ip.measures] == [
        ("Søvndagbok", w.coordinator.display_name, True),
        ("Foreldrerettleiing", w.coordinator.display_name, False)]
    assert [g.text for g in ip.goals] == ["Barnet søv godt"]
    nurse = next(p for p in ip.participants if p.user_id == w.nurse.id)
    assert (nurse.name, nurse.unit_name, nurse.relation, nurse.task) == (
        w.nurse.display_name, "Helsestasjonen", "participant", "Samtalar")
    assert nurse.through_consent
    assert {p.relation for p in ip.participants} >= {"reporter", "stafettholder"}
    assert ip.stafettholder_name == w.coordinator.display_name
    assert (ip.handover.to_name, ip.handover.from_name, ip.handover.since,
            ip.handover.days_waiting) == (w.leader.display_name, w.coordinator.display_name,
                                          TODAY, 25)
    [report] = ip.reports
    assert (report.sent_on, report.due, report.answered, report.overdue) == (
        TODAY, TODAY + timedelta(days=21), False, True)
    assert [k.id for k in ip.consents] == [consent]
    # the soonest deadline is the overdue measure's evaluation
    assert (ov.where.next_deadline.what, ov.where.next_deadline.overdue) == (
        "measure_evaluation", True)
    start = step(ov, "start")
    assert start.allowed
    assert [(x.guard, x.met) for x in start.checklist] == [
        ("has_active_measure", True), ("measures_owned_and_dated", True)]


def test_a_role_that_may_not_move_the_case_sees_it_refused(world):
    w = world
    case = open_case(w)
    to_n1(w, case)
    # the reporter still sees the case; starting nivå 1 is for the stafettholder
    ov = overview(w.ctx(w.teacher), case.id)
    start = step(ov, "start")
    assert start.role_refused
    assert not start.allowed
    assert [(x.guard, x.met, x.action) for x in start.checklist] == [
        ("has_active_measure", False, "add_measure"), ("measures_owned_and_dated", True, None)]


def test_a_closed_case_has_nothing_next(world):
    w = world
    case = open_case(w)
    t = w.ctx(w.teacher)
    cases.fire(t, case.id, "start")
    cases.fire(t, case.id, "inform_home", {"informed_on": TODAY.isoformat()})
    cases.fire(t, case.id, "assess")
    cases.fire(t, case.id, "decide")
    cases.fire(w.ctx(w.leader), case.id, "close_no_concern", {"reason": "Inga uro"})
    ov = overview(w.ctx(w.leader), case.id)
    assert ov.where.closed
    assert ov.where.level.id == "closed"
    assert not any(s.current for s in ov.where.steps)
    assert ov.next_steps == ()
    assert ov.where.next_deadline is None


def test_need_to_know_and_one_audited_read(world, session):
    w = world
    case = open_case(w)
    with pytest.raises(NotFound):
        overview(w.ctx(w.outsider), case.id)
    with pytest.raises(NotFound):
        overview(w.ctx(w.foreign), case.id)
    session.commit()
    before = session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1))
    overview(w.ctx(w.teacher), case.id)
    session.commit()
    rows = session.scalars(select(AuditEvent.action).where(AuditEvent.id > before)).all()
    assert rows == ["case.viewed"]


def test_reads_in_a_bounded_number_of_statements(world, session):
    """However many measures, consents and participants: the same statements."""
    w = world
    case = open_case(w)
    to_n1(w, case)
    for n in range(6):
        measure(w, case, days=10 + n, description=f"Tiltak {n}")
    session.commit()

    def statements(actor) -> int:
        seen = []
        listener = lambda *a: seen.append(a[2])  # noqa: E731
        event.listen(session.get_bind(), "before_cursor_execute", listener)
        try:
            overview(w.ctx(actor), case.id)
        finally:
            event.remove(session.get_bind(), "before_cursor_execute", listener)
        return len([s for s in seen if s.lstrip().upper().startswith("SELECT")])

    few = statements(w.coordinator)
    for n in range(6):
        measure(w, case, days=20 + n, description=f"Meir {n}")
    session.commit()
    assert statements(w.coordinator) == few
    assert few <= 10, few




# --- the stafettlogg as a record -------------------------------------------------------------


def titles(w, case, actor, lang="nb"):
    access, entries = cases.log_entries(w.ctx(actor), case.id)
    found = entry_titles(w.ctx(actor), access, entries)
    return [found[e.seq].text(lang) for e in entries]


def test_entry_titles_read_like_a_record_with_names_never_ids(world):
    w = world
    case = open_case(w)
    to_n1(w, case)
    c = w.ctx(w.coordinator)
    m = measure(w, case, description="Leksehjelp")
    cases.fire(c, case.id, "give_consent", {
        "given_by": "guardians", "services": [w.health.id, w.ppt.id], "information": "Helse",
        "given_on": TODAY.isoformat()})
    cases.fire(c, case.id, "add_participant", {"participant": w.nurse.id,
                                               "service": w.health.id})
    cases.fire(c, case.id, "record_meeting", {"meeting_kind": "undringssamtale",
                                              "held_on": TODAY.isoformat()})
    cases.fire(c, case.id, "start")
    cases.fire(c, case.id, "stop_measure", {"measure": m, "effect": "good",
                                            "child_voice_method": "conversation",
                                            "child_said": "Det hjelper.",
                                            "reason": "Målet er nådd"})
    nb = titles(w, case, w.coordinator)
    assert nb == [
        "Bekymringen ble registrert",
        "Bekymringen ble konkretisert",
        "Heimen ble informert",
        f"{w.coordinator.display_name} ble stafettholder",
        "Vurderingen av bekymringen begynte",
        "Saken gikk til beslutning på nivå 0",
        "Saken ble løftet til nivå 1",
        "Tiltaket «Leksehjelp» ble satt i gang",
        "Samtykke til samarbeid med Helsestasjonen og PPT ble gitt",
        f"{w.nurse.display_name} (Helsestasjonen) ble med i saken",
        "Et møte ble holdt: Undringssamtale",
        "Tiltakene på nivå 1 ble satt i gang",
        "Tiltaket «Leksehjelp» ble avsluttet",
    ]
    assert not any("#" in t for t in nb)
    nn = titles(w, case, w.coordinator, "nn")
    assert nn[3] == f"{w.coordinator.display_name} vart stafetthaldar"
    assert nn[8] == "Samtykke til samarbeid med Helsestasjonen og PPT vart gitt"
    en = titles(w, case, w.coordinator, "en")
    assert en[10] == "A meeting was held: Undringssamtale (wondering conversation)"
    assert en[12] == "The measure “Leksehjelp” was stopped"


def test_feedback_and_evaluation_titles_name_the_option_and_the_measures(world):
    w = world
    case = open_case(w)
    to_n1(w, case)
    to_n1_decision(w, case)
    t = w.ctx(w.teacher)
    cases.fire(t, case.id, "report_barnevernet", {"sent_on": TODAY.isoformat()})
    cases.fire(t, case.id, "record_barnevern_feedback",
               {"received_on": TODAY.isoformat(), "feedback_kind": "receipt_confirmed"})
    nb = titles(w, case, w.coordinator)
    assert "Tiltakene ble evaluert: Samtale kvar veke" in nb
    assert nb[-2:] == ["En bekymringsmelding til barnevernet ble sendt",
                       "Tilbakemelding fra barnevernet ble registrert: Mottak bekreftet"]


def test_entry_titles_read_names_in_a_bounded_number_of_statements(world, session):
    w = world
    case = open_case(w)
    to_n1(w, case)
    for n in range(12):
        measure(w, case, description=f"Tiltak {n}")
    session.commit()
    access, entries = cases.log_entries(w.ctx(w.coordinator), case.id)
    seen = []
    listener = lambda *a: seen.append(a[2])  # noqa: E731
    event.listen(session.get_bind(), "before_cursor_execute", listener)
    try:
        found = entry_titles(w.ctx(w.coordinator), access, entries)
    finally:
        event.remove(session.get_bind(), "before_cursor_execute", listener)
    assert len(found) == len(entries)
    assert len(seen) <= 1, seen  # the stafettholder's name; measures are named by their text


def test_every_shipped_title_fills_from_an_empty_payload():
    """A title with an optional field left empty still reads (the placeholder is empty)."""
    from pathlib import Path

    from bti.domain.vocabulary import vocabulary
    from bti.engine import load_file
    from bti.engine.i18n import LANGS
    from bti.engine.i18n import fill_title

    for path in sorted((Path(__file__).parent.parent.parent / "workflows").glob("*.toml")):
        d = load_file(path, vocabulary())
        for t in d.transitions:
            assert t.title is not None, (path.name, t.trigger)
            assert t.saved is not None, (path.name, t.trigger)
            for lang in LANGS:
                assert fill_title(t.title, lang, {}).strip()
                assert fill_title(t.saved, lang, {}).strip()
        assert d.opening.title is not None
        assert d.opening.saved is not None
