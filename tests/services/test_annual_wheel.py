"""The annual wheel (årshjul) of BTI routines (issue 18 §3): leaders keep their unit's routines and
the administrator the municipality's, every member of staff sees them by month, the current month
first, with the catalogue's yearly reviews for the catalogue's keepers; bad input writes nothing;
every change is audited; the calendar export parses with icalendar and repeats yearly routines
with RRULE:FREQ=YEARLY. Today is FIXED_NOW (2026-03-02). All names are made up."""

from __future__ import annotations

import json
from datetime import date

import pytest
from icalendar import Calendar
from sqlalchemy import func
from sqlalchemy import select

from bti.domain.analytics import AnnualWheelItem
from bti.domain.log import AuditEvent
from bti.services.analytics import catalogue
from bti.services.errors import InvalidInput
from bti.services.errors import NotFound
from bti.services.workflows import annual_wheel as wheel


def _input(title="Kartleggingsperiode", kind="mapping", starts_on=date(2026, 9, 1), **kw):
    return wheel.ItemInput(kind=kind, title=title, starts_on=starts_on, **kw)


def _count(session) -> int:
    return session.scalar(select(func.count()).select_from(AnnualWheelItem))


def _titles(months):
    return [[o.title for o in m.occurrences] for m in months]


def test_keepers_add_change_and_remove_routines_and_each_change_is_audited(world, session):
    w = world
    ctx = w.ctx(w.admin)
    item = wheel.create_item(ctx, _input(description="Alle einingar kartlegg språk.",
                                         ends_on=date(2026, 9, 30), responsible="BTI-koordinator"))
    own = wheel.create_item(w.ctx(w.leader), _input("Foreldremøte om BTI", "network",
                                                    date(2026, 8, 20), unit_id=w.school.id,
                                                    yearly=False))
    assert (item.unit_id, item.yearly, own.unit_id, own.yearly) == (None, True, w.school.id,
                                                                     False)
    assert [i.title for i in wheel.kept_items(w.ctx(w.admin))] == ["Foreldremøte om BTI",
                                                                   "Kartleggingsperiode"]
    assert [i.title for i in wheel.kept_items(w.ctx(w.leader))] == ["Foreldremøte om BTI"]
    assert wheel.keeper_units(w.ctx(w.leader)) == [(w.school.id, "Nordvik skule")]

    wheel.update_item(ctx, item.id, _input(description="Alle einingar kartlegg språk.",
                                           ends_on=date(2026, 10, 15),
                                           responsible="BTI-koordinator"))
    wheel.update_item(ctx, item.id, _input(description="Alle einingar kartlegg språk.",
                                           ends_on=date(2026, 10, 15),
                                           responsible="BTI-koordinator"))  # no change
    assert item.ends_on == date(2026, 10, 15)
    assert wheel.delete_item(w.ctx(w.leader), own.id) == "Foreldremøte om BTI"
    session.commit()
    rows = session.execute(select(AuditEvent.action, AuditEvent.object_id, AuditEvent.details)
                           .where(AuditEvent.object_type == "annual_wheel")
                           .order_by(AuditEvent.id)).all()
    assert [(r.action, r.object_id) for r in rows] == [
        ("annual_wheel.created", item.id), ("annual_wheel.created", own.id),
        ("annual_wheel.updated", item.id), ("annual_wheel.deleted", own.id)]
    assert json.loads(rows[2].details)["fields"] == ["ends_on"]
    assert "Kartlegg" not in "".join(r.details for r in rows)  # ids and field names only
    assert _count(session) == 1


@pytest.mark.parametrize(("data", "errors"), [
    (_input(title=""), {"title": ["required"]}),
    (_input(title="   ".strip()), {"title": ["required"]}),
    (_input(ends_on=date(2026, 8, 31)), {"ends_on": ["before_start"]}),
    (_input(ends_on=date(2027, 9, 1)), {"ends_on": ["period_too_long"]}),
    (_input(starts_on=None), {"starts_on": ["required"]}),
    (_input(kind="party"), {"kind": ["not_a_choice"]}),
    (_input(unit_id=0), {"unit_id": ["not_in_municipality"]}),
    (_input(unit_id=999_999), {"unit_id": ["not_in_municipality"]}),
    (_input(title="x" * 121, description="y" * 2001),
     {"title": ["too_long"], "description": ["too_long"]}),
])
def test_bad_input_is_refused_and_nothing_is_written(world, session, data, errors):
    with pytest.raises(InvalidInput) as err:
        wheel.create_item(world.ctx(world.admin), data)
    assert err.value.fields == errors
    assert _count(session) == 0


def test_a_form_with_impossible_dates_is_refused(world, session):
    data = wheel.parse({"kind": "training", "title": "Kurs", "starts_on": "2026-02-30",
                        "ends_on": "i morgon", "repeat": "once", "unit_id": "abc"})
    assert (data.yearly, data.unit_id, data.starts_invalid, data.ends_invalid) == (
        False, 0, True, True)
    with pytest.raises(InvalidInput) as err:
        wheel.create_item(world.ctx(world.admin), data)
    assert err.value.fields == {"starts_on": ["invalid"], "ends_on": ["invalid"],
                                "unit_id": ["not_in_municipality"]}
    assert _count(session) == 0


def test_a_leader_keeps_only_their_own_units_routines(world, session):
    w = world
    shared = wheel.create_item(w.ctx(w.admin), _input())
    health = wheel.create_item(w.ctx(w.admin), _input("Helsestasjonens kurs", "training",
                                                      unit_id=w.health.id))
    for data in (_input(), _input(unit_id=w.health.id)):
        with pytest.raises(InvalidInput) as err:
            wheel.create_item(w.ctx(w.leader), data)
        assert err.value.fields == {"unit_id": ["own_unit_only"]}
    other_unit = w.foreign.unit_id
    with pytest.raises(InvalidInput) as err:  # another municipality's unit
        wheel.create_item(w.ctx(w.admin), _input(unit_id=other_unit))
    assert err.value.fields == {"unit_id": ["not_in_municipality"]}
    for item in (shared, health):
        with pytest.raises(NotFound):
            wheel.update_item(w.ctx(w.leader), item.id, _input(unit_id=w.school.id))
        with pytest.raises(NotFound):
            wheel.delete_item(w.ctx(w.leader), item.id)
        with pytest.raises(NotFound):  # another municipality's leader
            wheel.get_item(w.ctx(w.foreign), item.id)
    for who in (w.teacher, w.coordinator):
        with pytest.raises(NotFound):
            wheel.create_item(w.ctx(who), _input(unit_id=w.school.id))
    assert _count(session) == 2


def test_staff_see_the_year_ahead_by_month_the_current_month_first(world, session):
    w = world
    admin = w.ctx(w.admin)
    wheel.create_item(admin, _input())  # yearly, 1 September
    wheel.create_item(admin, _input("Årleg gjennomgang av BTI", "review", date(2025, 1, 15)))
    wheel.create_item(admin, _input("Kurs i BTI", "training", date(2026, 2, 20),
                                    ends_on=date(2026, 3, 10), yearly=False))  # going on now
    wheel.create_item(admin, _input("Gammalt kurs", "training", date(2026, 1, 10),
                                    yearly=False))  # over
    wheel.create_item(admin, _input("Seinare kurs", "training", date(2027, 4, 1),
                                    yearly=False))  # after the twelve months
    wheel.create_item(w.ctx(w.leader), _input("Nettverksmøte skule", "network",
                                              date(2026, 3, 20), unit_id=w.school.id))
    wheel.create_item(admin, _input("Helsestasjonen sitt kurs", "training", date(2026, 5, 5),
                                    unit_id=w.health.id))

    months = wheel.year_ahead(w.ctx(w.teacher))
    assert [m.first for m in months][:3] == [date(2026, 3, 1), date(2026, 4, 1),
                                             date(2026, 5, 1)]
    assert months[-1].first == date(2027, 2, 1)
    titles = _titles(months)
    assert titles[0] == ["Kurs i BTI", "Nettverksmøte skule"]  # a teacher of the school
    assert titles[6] == ["Kartleggingsperiode"]  # September
    assert titles[10] == ["Årleg gjennomgang av BTI"]  # January 2027: yearly
    assert months[10].occurrences[0].starts_on == date(2027, 1, 15)
    assert "Gammalt kurs" not in sum(titles, [])
    assert "Seinare kurs" not in sum(titles, [])
    assert "Helsestasjonen sitt kurs" not in sum(titles, [])  # another unit's
    assert _titles(wheel.year_ahead(w.ctx(w.nurse)))[2] == ["Helsestasjonen sitt kurs"]
    assert "Kartleggingsperiode" not in sum(_titles(wheel.year_ahead(w.ctx(w.foreign))), [])


def test_the_catalogue_reviews_appear_in_the_leaders_wheel(world, session):
    w = world
    catalogue.create_item(w.ctx(w.leader), catalogue.ItemInput(
        name="Leksehjelp", description="", kind="universal", age_from=6, age_to=16,
        review_due_on=date(2026, 6, 1)))
    catalogue.create_item(w.ctx(w.leader), catalogue.ItemInput(
        name="Foreldrekurs", description="", kind="selective", age_from=0, age_to=12,
        review_due_on=date(2026, 2, 1)))  # overdue
    leader = wheel.year_ahead(w.ctx(w.leader))
    review = leader[3].occurrences[0]
    assert (review.title, review.catalogue_item_id is not None, review.kind) == (
        "Leksehjelp", True, "review")
    assert [(o.title, o.overdue) for o in leader[0].occurrences] == [("Foreldrekurs", True)]
    assert sum(_titles(wheel.year_ahead(w.ctx(w.teacher))), []) == []


def test_the_calendar_export_parses_and_repeats_yearly_routines(world, session):
    w = world
    admin = w.ctx(w.admin)
    yearly = wheel.create_item(admin, _input(ends_on=date(2026, 9, 30),
                                             responsible="BTI-koordinator"))
    once = wheel.create_item(admin, _input("Kurs i BTI", "training", date(2026, 4, 14),
                                           yearly=False))
    catalogue.create_item(w.ctx(w.leader), catalogue.ItemInput(
        name="Leksehjelp", description="", kind="universal", age_from=6, age_to=16,
        review_due_on=date(2026, 6, 1)))

    def events(actor):
        raw = wheel.calendar_ics(w.ctx(actor), host="bti.test", gettext=lambda s: s)
        cal = Calendar.from_ical(raw)
        return raw, {str(e["uid"]): e for e in cal.walk("VEVENT")}

    raw, by_uid = events(w.leader)
    assert b"RRULE:FREQ=YEARLY" in raw
    ev = by_uid[f"bti-wheel-{yearly.id}@bti.test"]
    assert ev["rrule"]["FREQ"] == ["YEARLY"]
    assert ev.decoded("dtstart") == date(2026, 9, 1)
    assert ev.decoded("dtend") == date(2026, 10, 1)  # the last day included
    assert str(ev["summary"]) == "BTI: Kartleggingsperiode"
    assert "rrule" not in by_uid[f"bti-wheel-{once.id}@bti.test"]
    review = [e for uid, e in by_uid.items() if uid.startswith("bti-catalogue-review-")]
    assert [e.decoded("dtstart") for e in review] == [date(2026, 6, 1)]
    assert "Leksehjelp" in str(review[0]["summary"])

    _, teacher = events(w.teacher)  # no catalogue reviews for a teacher
    assert sorted(teacher) == sorted(uid for uid in by_uid if uid.startswith("bti-wheel-"))
    assert events(w.teacher)[0] == events(w.teacher)[0]  # stable bytes


def test_the_routines_are_in_the_users_private_calendar_feed(world, session):
    from bti.services.notify import calendar

    w = world
    item = wheel.create_item(w.ctx(w.admin), _input())
    raw = calendar.feed_ics(w.ctx(w.teacher), host="bti.test", lang="nn")
    ev = {str(e["uid"]): e for e in Calendar.from_ical(raw).walk("VEVENT")}[
        f"bti-wheel-{item.id}@bti.test"]
    assert ev["rrule"]["FREQ"] == ["YEARLY"]
    assert str(ev["summary"]) == "BTI: Kartleggingsperiode"
