"""The catalogue for everyone who plans measures (issue 18 §2): search by words, kind, age,
service and delivery; each measure's evaluated effect, suppressed like the dashboard; the
keepers' yearly review; and the pick list of a case, the measures for the child's age first.
Days are relative to FIXED_NOW (2026-03-02). All names are made up."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import select

from bti.domain.log import AuditEvent
from bti.domain.rules import child_age
from bti.services.analytics import catalogue
from bti.services.cases import casepage
from bti.services.errors import InvalidInput
from bti.services.errors import NotFound
from tests.services.test_analytics import history
from tests.services.test_inbox import Script


@pytest.fixture
def script(world, session):
    return Script(session, world.registry)


def _item(w, script, name, kind="selective", low=6, high=12, **kw):
    return catalogue.create_item(script.ctx(w.leader, -120), catalogue.ItemInput(
        name=name, description=kw.pop("description", ""), kind=kind, age_from=low,
        age_to=high, **kw))


def test_staff_who_plan_measures_search_the_catalogue(world, script):
    w = world
    _item(w, script, "Språkgruppe i barnehagen", "universal", 1, 5,
          description="Språkstimulering i små grupper.", unit_id=w.health.id,
          provider="Helsestasjonen")
    _item(w, script, "Leksehjelp", "universal", 6, 16, description="To dagar i veka.")
    _item(w, script, "De utrolige årene", "indicated", 3, 8, provider="Kjøpt kompetansesenter",
          delivery="bought")
    _item(w, script, "Aktivitetsguide", "selective", 12, 24, delivery="inter_municipal")
    gone = _item(w, script, "Gammal gruppe", "selective", 6, 12)
    catalogue.set_active(script.ctx(w.leader), gone.id, False)

    def names(actor=w.teacher, **q):
        return [i.name for i in catalogue.browse(script.ctx(actor), catalogue.Query(**q)).items]

    # a teacher (who plans measures) sees the active ones, by name; the keeper the inactive too
    assert names() == ["Aktivitetsguide", "De utrolige årene", "Leksehjelp",
                       "Språkgruppe i barnehagen"]
    assert names(include_inactive=True) == names()
    assert "Gammal gruppe" in names(w.leader, include_inactive=True)
    assert names(age=9) == ["Leksehjelp"]
    assert names(age=4) == ["De utrolige årene", "Språkgruppe i barnehagen"]
    assert names(kind="universal") == ["Leksehjelp", "Språkgruppe i barnehagen"]
    assert names(delivery="bought") == ["De utrolige årene"]
    assert names(delivery="inter_municipal") == ["Aktivitetsguide"]
    assert names(unit_id=w.health.id) == ["Språkgruppe i barnehagen"]
    assert names(text="SMÅ grupper") == ["Språkgruppe i barnehagen"]  # the description
    assert names(text="kompetansesenter") == ["De utrolige årene"]  # the provider
    assert names(text="leksehjelp", age=20) == []
    result = catalogue.browse(script.ctx(w.teacher), catalogue.Query())
    assert result.units == [(w.health.id, "Helsestasjonen")]
    assert result.total == 4
    # the privacy officer plans no measures; another municipality sees its own (none)
    with pytest.raises(NotFound):
        catalogue.browse(script.ctx(_privacy(w, script)), catalogue.Query())
    assert catalogue.browse(script.ctx(w.foreign), catalogue.Query()).items == []
    # one item: a deactivated one answers like a missing one, except to its keepers
    with pytest.raises(NotFound):
        catalogue.show(script.ctx(w.teacher), gone.id)
    assert catalogue.show(script.ctx(w.leader), gone.id)[0].name == "Gammal gruppe"
    with pytest.raises(NotFound):
        catalogue.show(script.ctx(w.foreign), gone.id)


def _privacy(w, script):
    from tests.factories import make_user

    return make_user(script.session, w.municipality, None, ("privacy_officer",),
                     username="pvo")


def test_the_effect_is_suppressed_like_the_dashboard(world, script):
    w = world
    item, _cs, _ns = history(w, script)  # six uses of «Vennegruppe», 3 good and 3 some
    rare = _item(w, script, "Sjeldan gruppe")
    case = script.open(w.teacher, day=-30, pseudonym="R1")
    script.to_n1(case, w.teacher, w.leader, w.coordinator, day=-30)
    script.fire(w.coordinator, case, "add_measure", {
        "description": "Gruppe", "responsible": w.coordinator.id, "start_date": script.date(-20),
        "evaluate_by": script.date(-10), "catalogue": rare.id}, day=-20)
    effects = catalogue.effects(script.ctx(w.teacher), [item.id, rare.id])
    common = effects[item.id]
    assert (common.started, common.evaluated, common.effective_share) == (6, 6, 100.0)
    # 3 and 3: both small, so both hidden (the total is shown)
    assert dict(common.effects) == {"good": None, "some": None, "none": 0, "worse": 0}
    once = effects[rare.id]
    assert (once.started, once.evaluated, once.effective_share) == (None, 0, None)
    item_, effect, _unit = catalogue.show(script.ctx(w.nurse), item.id)
    assert effect == common
    assert item_.id == item.id


def test_a_keeper_sets_service_provider_delivery_and_review(world, script, session):
    w = world
    item = _item(w, script, "Vennegruppe", unit_id=w.school.id, provider="Skulen",
                 delivery="own", review_due_on=date(2026, 6, 1))
    assert (item.unit_id, item.provider, item.delivery, item.review_due_on) == (
        w.school.id, "Skulen", "own", date(2026, 6, 1))
    catalogue.update_item(script.ctx(w.admin), item.id, catalogue.ItemInput(
        name="Vennegruppe", description="", kind="selective", age_from=6, age_to=12,
        unit_id=None, provider="Interkommunalt team", delivery="inter_municipal",
        review_due_on=date(2026, 9, 1)))
    session.commit()
    details = session.scalars(select(AuditEvent.details).where(
        AuditEvent.object_type == "measure_catalogue").order_by(AuditEvent.id)).all()[-1]
    assert json.loads(details)["fields"] == ["delivery", "provider", "review_due_on", "unit_id"]
    assert "Interkommunalt" not in details  # names of fields only, never their values
    bad = catalogue.parse({"name": "X", "kind": "universal", "age_from": "0", "age_to": "5",
                           "unit_id": "999999", "provider": "p" * 201, "delivery": "leased",
                           "review_due_on": "2026-02-30"})
    with pytest.raises(InvalidInput) as err:
        catalogue.create_item(script.ctx(w.leader), bad)
    assert err.value.fields == {"unit_id": ["not_in_municipality"], "provider": ["too_long"],
                                "delivery": ["invalid"], "review_due_on": ["invalid"]}
    foreign_unit = catalogue.parse({"name": "Y", "kind": "universal", "age_from": "0",
                                    "age_to": "5", "unit_id": str(w.foreign.unit_id)})
    with pytest.raises(InvalidInput) as err:
        catalogue.create_item(script.ctx(w.leader), foreign_unit)
    assert err.value.fields == {"unit_id": ["not_in_municipality"]}
    with pytest.raises(NotFound):  # a teacher browses, but keeps nothing
        catalogue.mark_reviewed(script.ctx(w.teacher), item.id)


def test_the_yearly_review_lists_what_is_due_and_moves_on_a_year(world, script):
    w = world
    never = _item(w, script, "Aldri sett")
    overdue = _item(w, script, "Forfallen", review_due_on=date(2026, 2, 1))
    soon = _item(w, script, "Snart", review_due_on=date(2026, 3, 20))  # within 30 days
    _item(w, script, "Seinare", review_due_on=date(2026, 8, 1))
    off = _item(w, script, "Av", review_due_on=date(2026, 1, 1))
    catalogue.set_active(script.ctx(w.leader), off.id, False)
    ctx = script.ctx(w.leader)
    assert [i.id for i in catalogue.due_for_review(ctx)] == [never.id, overdue.id, soon.id]
    with pytest.raises(NotFound):
        catalogue.due_for_review(script.ctx(w.teacher))
    done = catalogue.mark_reviewed(ctx, overdue.id)
    assert (done.reviewed_on, done.review_due_on) == (date(2026, 3, 2), date(2027, 3, 2))
    assert [i.id for i in catalogue.due_for_review(ctx)] == [never.id, soon.id]
    leap = script.ctx(w.leader, day=(date(2028, 2, 29) - date(2026, 3, 2)).days)
    assert catalogue.mark_reviewed(leap, never.id).review_due_on == date(2029, 2, 28)


def test_the_pick_list_offers_the_measures_for_the_childs_age_first(world, script):
    w = world
    small = _item(w, script, "A: Språkgruppe i barnehagen", "universal", 1, 5)
    school = _item(w, script, "B: Leksehjelp", "universal", 6, 16)
    youth = _item(w, script, "C: Ungdomsgruppe", "selective", 13, 18)
    case = script.open(w.teacher, pseudonym="P1")  # born 2016: 10 in 2026
    script.to_n1(case, w.teacher, w.leader, w.coordinator)
    assert child_age(case.child_birth_year, date(2026, 3, 2)) == 10
    fields = [casepage.FormField(name="catalogue", type="catalogue", label={}, help=None,
                                 options=(), required=False)]
    options = casepage.form_options(script.ctx(w.coordinator), case, fields)
    assert [i.id for i in options.catalogue] == [school.id, small.id, youth.id]
    assert options.catalogue_fits == frozenset({school.id})
    assert options.child_age == 10
    # every one stays selectable: a measure for other ages is accepted when chosen
    mid = script.fire(w.coordinator, case, "add_measure", {
        "description": "Språk", "responsible": w.coordinator.id, "start_date": script.date(0),
        "evaluate_by": script.date(30), "catalogue": small.id}).entry.object_id
    assert mid
    assert child_age(2027, date(2026, 3, 2)) == 0  # an expected child
