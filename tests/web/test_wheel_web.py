"""The annual wheel as pages (issue 18 §3): the administrator and a leader keep routines through
the forms, bad input answers 422 with the error in the reader's language and writes nothing,
every member of staff sees the months ahead and downloads the ICS, which parses and repeats
yearly routines. All names are made up."""

from __future__ import annotations

from datetime import timedelta

from icalendar import Calendar
from sqlalchemy import func
from sqlalchemy import select

from bti.domain.analytics import AnnualWheelItem
from bti.domain.clock import local_date
from bti.domain.log import AuditEvent


def _lang(b, lang: str) -> None:
    b.get("/arshjul/")
    assert b.post("/auth/language", {"lang": lang, "next": "/arshjul/"}).status_code == 302


def _count(app) -> int:
    with app.extensions["bti"].session_factory() as s:
        return s.scalar(select(func.count()).select_from(AnnualWheelItem))


def _signed_in(login, name, world):
    """A browser signed in as ``name`` that has read a page (so it has the session's CSRF
    token)."""
    b = login(name, world)
    b.get("/arshjul/")
    return b


def _form(title, day, **kw):
    return {"kind": "mapping", "title": title, "description": "", "starts_on": day.isoformat(),
            "ends_on": "", "repeat": "yearly", "unit_id": "", "responsible": "", **kw}


def test_keepers_fill_the_wheel_and_staff_see_it_and_download_it(app, web_world, login):
    today = local_date(app.extensions["bti"].clock())
    admin = _signed_in(login, "admin", web_world)
    r = admin.post("/arshjul/rutinar", _form("Kartleggingsperiode", today + timedelta(days=3),
                                             responsible="BTI-koordinator"))
    assert r.status_code == 302
    leader = _signed_in(login, "leader", web_world)
    school = web_world.unit_ids["school"]
    r = leader.post("/arshjul/rutinar", _form("Nettverksmøte", today, kind="network",
                                              repeat="once", unit_id=str(school)))
    assert r.status_code == 302
    assert _count(app) == 2

    teacher = login("teacher", web_world)
    _lang(teacher, "nn")
    html = teacher.get("/arshjul/").get_data(as_text=True)
    assert "<h1>Årshjul</h1>" in html
    assert "Kartleggingsperiode" in html
    assert "Nettverksmøte" in html
    assert "denne månaden" in html
    assert "Last ned årshjulet til kalenderen din (ICS)" in html
    assert 'href="/arshjul/rutinar"' not in html  # a teacher keeps nothing
    nurse_html = login("nurse", web_world).get("/arshjul/").get_data(as_text=True)
    assert "Kartleggingsperiode" in nurse_html
    assert "Nettverksmøte" not in nurse_html  # the school's routine

    r = teacher.get("/arshjul/arshjul.ics")
    assert r.status_code == 200
    assert r.mimetype == "text/calendar"
    assert "attachment" in r.headers["Content-Disposition"]
    events = {str(e["summary"]): e for e in Calendar.from_ical(r.data).walk("VEVENT")}
    assert events["BTI: Kartleggingsperiode"]["rrule"]["FREQ"] == ["YEARLY"]
    assert "rrule" not in events["BTI: Nettverksmøte"]

    # the guide links to it, and so does the menu
    guide = teacher.get("/slik-jobber-vi/").get_data(as_text=True)
    assert 'href="/arshjul/"' in guide


def test_bad_input_is_answered_in_the_readers_language_and_writes_nothing(app, web_world,
                                                                         login):
    today = local_date(app.extensions["bti"].clock())
    leader = _signed_in(login, "leader", web_world)
    _lang(leader, "nb")
    r = leader.post("/arshjul/rutinar", _form("", today, ends_on=(today - timedelta(days=1))
                                              .isoformat(), unit_id=str(
                                                  web_world.unit_ids["school"])))
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "Noe må rettes" in html  # the error summary
    assert "Dette feltet må fylles ut." in html  # no title
    assert "Datoen kan ikke være før startdatoen." in html  # the end before the start
    assert 'aria-invalid="true"' in html
    r = leader.post("/arshjul/rutinar", _form("Kurs", today, unit_id="999999"))
    assert r.status_code == 422
    r = leader.post("/arshjul/rutinar", _form("Kurs", today))  # the whole municipality
    assert r.status_code == 422
    assert "Du holder bare rutinene for din egen enhet" in r.get_data(as_text=True)
    assert _count(app) == 0


def test_a_routine_is_edited_and_removed_and_each_change_audited(app, web_world, login):
    today = local_date(app.extensions["bti"].clock())
    admin = _signed_in(login, "admin", web_world)
    admin.post("/arshjul/rutinar", _form("Kurs i BTI", today, kind="training"))
    with app.extensions["bti"].session_factory() as s:
        item_id = s.scalar(select(AnnualWheelItem.id))
    assert admin.get(f"/arshjul/rutinar/{item_id}").status_code == 200
    r = admin.post(f"/arshjul/rutinar/{item_id}", _form("Kurs i BTI for nytilsette", today,
                                                        kind="training", repeat="once"))
    assert r.status_code == 302
    # a leader does not keep the municipality's routines: as if it did not exist
    leader = _signed_in(login, "leader", web_world)
    assert leader.get(f"/arshjul/rutinar/{item_id}").status_code == 404
    assert leader.post(f"/arshjul/rutinar/{item_id}/slett").status_code == 404
    assert admin.post(f"/arshjul/rutinar/{item_id}/slett").status_code == 302
    assert _count(app) == 0
    with app.extensions["bti"].session_factory() as s:
        actions = s.scalars(select(AuditEvent.action).where(
            AuditEvent.object_type == "annual_wheel").order_by(AuditEvent.id)).all()
    assert actions == ["annual_wheel.created", "annual_wheel.updated", "access.denied",
                       "access.denied", "annual_wheel.deleted"]  # the leader's tries refused


def test_the_annual_wheel_through_the_api(app, web_world, login):
    from tests.web.conftest import make_token

    today = local_date(app.extensions["bti"].clock())
    admin = _signed_in(login, "admin", web_world)
    admin.post("/arshjul/rutinar", _form("Kartleggingsperiode", today, ends_on=(
        today + timedelta(days=2)).isoformat(), responsible="BTI-koordinator"))
    client = app.test_client()
    token = make_token(app, web_world.users["nurse"].username, scopes=("org:read",))
    r = client.get("/api/v1/annual-wheel", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["month"] == f"{today:%Y-%m}"
    assert [(i["title"], i["yearly"], i["unit"], i["responsible"], i["starts_on"])
            for i in body["items"]] == [("Kartleggingsperiode", True, None, "BTI-koordinator",
                                         today.isoformat())]
    other = make_token(app, web_world.users["nurse"].username, scopes=("cases:read",))
    assert client.get("/api/v1/annual-wheel",
                      headers={"Authorization": f"Bearer {other}"}).status_code == 403
