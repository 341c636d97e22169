"""A case flagged for violence or abuse stays at the top of Mine saker and the leader's unit
overview, for the reporter and the leader, until a report to barnevernet or the police is
recorded; the receipt says who can see a new case; the municipality's child welfare contacts."""

from __future__ import annotations

from datetime import timedelta

from bti.services.analytics import leader
from bti.services.cases import audience
from bti.services.cases import inbox
from bti.services.cases import lifecycle as cases
from tests.factories import CONCERN
from tests.factories import FIXED_NOW
from tests.factories import TODAY


def _open(world, pseudonym, violence=False, actor=None, now=FIXED_NOW):
    return cases.open_case(world.ctx(actor or world.teacher, now), unit_id=None,
                           child_pseudonym=pseudonym, child_birth_year=2016,
                           concern={**CONCERN, "violence_suspected": violence}).case


def _kinds(items):
    return [(i.case.child_pseudonym, i.urgencies[0].kind if i.urgencies else None)
            for i in items]


def test_a_violence_case_is_pinned_until_it_is_reported(world, session):
    later = FIXED_NOW + timedelta(hours=2)
    _open(world, "AB", now=FIXED_NOW)
    flagged = _open(world, "CD", violence=True, now=FIXED_NOW + timedelta(hours=1))
    _open(world, "EF", now=later)
    for who in (world.teacher, world.leader):
        items = inbox.my_cases(world.ctx(who, later))
        assert _kinds(items)[0] == ("CD", inbox.VIOLENCE_UNREPORTED)
        assert items[0].urgencies[0].on == TODAY
    rows = leader.unit_overview(world.ctx(world.leader, later)).rows
    assert [(r.case_id, r.pinned) for r in rows][0] == (flagged.id, True)
    assert all(r.opened_at is not None for r in rows)
    # a participant who is neither the reporter nor the leader: not pinned for them
    cases.fire(world.ctx(world.leader, later), flagged.id, "appoint_stafettholder",
               {"stafettholder": world.coordinator.id})
    mine = inbox.my_cases(world.ctx(world.coordinator, later))
    assert all(u.kind != inbox.VIOLENCE_UNREPORTED for i in mine for u in i.urgencies)

    cases.fire(world.ctx(world.teacher, later), flagged.id, "report_barnevernet",
               {"sent_on": TODAY.isoformat(), "grounds": "violence_abuse"})
    items = inbox.my_cases(world.ctx(world.teacher, later))
    assert all(u.kind != inbox.VIOLENCE_UNREPORTED for i in items for u in i.urgencies)
    rows = leader.unit_overview(world.ctx(world.leader, later)).rows
    assert not any(r.pinned for r in rows)


def test_a_police_report_under_avvergeplikt_also_ends_the_pin(world, session):
    flagged = _open(world, "GH", violence=True)
    cases.fire(world.ctx(world.teacher), flagged.id, "avvergeplikt",
               {"reported_to": "police", "reported_on": TODAY.isoformat()})
    (item,) = inbox.my_cases(world.ctx(world.teacher))
    assert inbox.VIOLENCE_UNREPORTED not in [u.kind for u in item.urgencies]
    assert not leader.unit_overview(world.ctx(world.leader)).rows[0].pinned


def test_the_receipt_says_who_can_see_a_new_case(world, session):
    case = _open(world, "IJ")
    access = cases.get_case(world.ctx(world.teacher), case.id)
    seen = [(v.name, v.relation) for v in audience.who_can_see(world.ctx(world.teacher), access)]
    assert seen == [(world.teacher.display_name, "reporter"),
                    (world.leader.display_name, "unit_leader")]
    cases.fire(world.ctx(world.teacher), case.id, "appoint_stafettholder",
               {"stafettholder": world.coordinator.id})
    access = cases.get_case(world.ctx(world.teacher), case.id)
    seen = [v.relation for v in audience.who_can_see(world.ctx(world.teacher), access)]
    assert seen == ["reporter", "stafettholder", "unit_leader"]


def test_the_municipalitys_child_welfare_contacts(world, session):
    assert not audience.barnevern_contacts(world.ctx(world.teacher))
    world.municipality.barnevern_phone = "00 00 00 01"
    world.municipality.barnevernvakt_phone = "00 00 00 02"
    session.flush()
    found = audience.barnevern_contacts(world.ctx(world.teacher))
    assert found
    assert (found.barnevern_phone, found.barnevern_email, found.barnevernvakt_phone) == (
        "00 00 00 01", None, "00 00 00 02")
