"""The team pages through the real forms: the administrator keeps a team (members, a meeting),
a case referred through the case's action form lands on the team's agenda, a member reads it
(with the case's content where a consent covers them), records the minutes and the case page
shows them; a question without a case refuses an identity number; a non-member and a former
member get 404. Names are made up."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func
from sqlalchemy import select

from bti.domain.clock import local_date
from bti.domain.log import AuditEvent
from bti.domain.log import StafettloggEntry
from bti.domain.teams import AgendaItem
from bti.domain.teams import Team
from bti.domain.vocabulary import AuditAction
from bti.services.cases import lifecycle as cases
from bti.services.context import Ctx
from tests.factories import CONCERN
from tests.services.test_teams import _valid_synthetic


def _ctx(app, s, user):
    ext = app.extensions["bti"]
    return Ctx(session=s, actor=user, workflows=ext.workflows, now=ext.clock)


def _case_at_n1(app, web_world) -> int:
    u = web_world.users
    with app.extensions["bti"].session_factory.begin() as s:
        def fire(actor, trigger, payload=None):
            cases.fire(_ctx(app, s, s.merge(u[actor])), case_id, trigger, payload)

        case_id = cases.open_case(_ctx(app, s, s.merge(u["teacher"])), unit_id=None,
                                  child_pseudonym="Webteam W.", child_birth_year=2016,
                                  concern=dict(CONCERN)).case.id
        today = local_date(app.extensions["bti"].clock()).isoformat()
        fire("teacher", "start")
        fire("teacher", "inform_home", {"informed_on": today})
        fire("leader", "appoint_stafettholder", {"stafettholder": u["coordinator"].id})
        fire("coordinator", "assess")
        fire("coordinator", "decide")
        fire("coordinator", "escalate", {"reason": "Tiltak trengst no."})
    return case_id


def _version(html: str) -> str:
    return (re.search(r'name="expected_version" value="(\d+)"', html)
            or re.search(r'data-case-version="(\d+)"', html)).group(1)


def test_team_from_admin_to_minutes(app, web_world, login):
    u = web_world.users
    admin = login("admin", web_world)
    admin.get("/admin/teams")
    r = admin.post("/admin/teams", {"name": "BTI-teamet", "kind": "bti_team", "unit_id": ""})
    assert r.status_code == 303, r.get_data(as_text=True)[-2000:]
    team_url = r.headers["Location"]
    team_id = int(team_url.rsplit("/", 1)[1])
    page = admin.get(team_url).get_data(as_text=True)
    assert "BTI-teamet" in page
    for name in ("coordinator", "nurse", "psychologist"):
        assert admin.post(f"{team_url}/members", {"user_id": str(u[name].id)}).status_code == 303
    day = (local_date(app.extensions["bti"].clock()) + timedelta(days=7)).isoformat()
    r = admin.post(f"{team_url}/meetings", {"day": day, "at": "13:30", "place": "Møterom"})
    assert r.status_code == 303
    r = admin.post(f"{team_url}/meetings", {"day": "", "at": "25:00", "place": ""})
    assert r.status_code == 422
    r = admin.post(f"{team_url}/members/{u['psychologist'].id}/remove")
    assert r.status_code == 303

    case_id = _case_at_n1(app, web_world)
    holder = login("coordinator", web_world)
    html = holder.get(f"/saker/{case_id}/handling/refer").get_data(as_text=True)
    r = holder.post(f"/saker/{case_id}/handling/refer", {
        "expected_version": _version(html), "referred_to": "bti_team",
        "reason": "Vi treng fleire tenester rundt barnet."})
    assert r.status_code == 303, r.get_data(as_text=True)[-2000:]
    with app.extensions["bti"].session_factory() as s:
        item = s.scalars(select(AgendaItem).where(AgendaItem.case_id == case_id)).one()
        assert s.get(Team, item.team_id).id == team_id
        assert item.meeting_id is not None

    nurse = login("nurse", web_world)
    assert "BTI-teamet" in nurse.get("/team").get_data(as_text=True)
    page = nurse.get(f"/team/{team_id}").get_data(as_text=True)
    assert "Vi treng fleire tenester rundt barnet." in page
    assert "Webteam W." not in page  # the list shows what the referral says
    item_url = f"/team/{team_id}/items/{item.id}"
    html = nurse.get(item_url).get_data(as_text=True)
    assert "No consent covers your service" in html or "Ingen samtykke" in html
    assert "Webteam W." not in html
    coordinator_view = holder.get(item_url).get_data(as_text=True)
    assert "Webteam W." in coordinator_view  # the case's own unit

    def reads() -> int:
        with app.extensions["bti"].session_factory() as s:
            return s.scalar(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.actor_id == u["coordinator"].id,
                AuditEvent.action == AuditAction.CASE_VIEWED, AuditEvent.case_id == case_id))

    before = reads()
    r = holder.post(f"{item_url}/minutes", {"decision": ""})
    assert r.status_code == 422
    assert "Webteam W." in r.get_data(as_text=True)
    assert reads() == before + 1  # the refused form shows the case again: its read is kept

    r = nurse.post(f"{item_url}/minutes", {"decision": "", "follow_up_1_what": "Ring heim"})
    assert r.status_code == 422
    due = (local_date(app.extensions["bti"].clock()) + timedelta(days=14)).isoformat()
    r = nurse.post(f"{item_url}/minutes", {
        "decision": "Helsesjukepleiar kallar inn til samtale.", "follow_up_1_what": "Samtale",
        "follow_up_1_responsible": str(u["nurse"].id), "follow_up_1_due": due})
    assert r.status_code == 303, r.get_data(as_text=True)[-2000:]
    with app.extensions["bti"].session_factory() as s:
        last = s.scalars(select(StafettloggEntry).where(StafettloggEntry.case_id == case_id)
                         .order_by(StafettloggEntry.seq.desc())).first()
        assert last.trigger == "team_minutes"
    assert holder.get(f"/saker/{case_id}").status_code == 200
    assert "Samtale" in nurse.get(f"/team/{team_id}").get_data(as_text=True)

    for name in ("psychologist", "outsider", "teacher", "foreign"):
        b = login(name, web_world)
        assert b.get(f"/team/{team_id}").status_code == 404, name
        assert b.get(item_url).status_code == 404, name
    assert admin.get(f"/team/{team_id}").status_code == 403


def test_question_without_a_case(app, web_world, login):
    u = web_world.users
    admin = login("admin", web_world)
    admin.get("/admin/teams")
    r = admin.post("/admin/teams", {"name": "Hjelpetenesta", "kind": "bti_team"})
    team_id = int(r.headers["Location"].rsplit("/", 1)[1])
    admin.post(f"/admin/teams/{team_id}/members", {"user_id": str(u["nurse"].id)})
    teacher = login("teacher", web_world)
    teacher.get("/team/question")
    r = teacher.post("/team/question", {"team_id": str(team_id), "child_age": "9",
                                        "text": f"Eleven {_valid_synthetic()} er borte."})
    assert r.status_code == 422
    assert "fødselsnummer" in r.get_data(as_text=True)
    r = teacher.post("/team/question", {"team_id": str(team_id), "child_age": "x", "text": ""})
    assert r.status_code == 422
    r = teacher.post("/team/question", {"team_id": str(team_id), "child_age": "9",
                                        "text": "Ein gut på 9 år er mykje borte."})
    assert r.status_code == 303
    with app.extensions["bti"].session_factory() as s:
        item = s.scalars(select(AgendaItem).where(AgendaItem.kind == "question")
                         .order_by(AgendaItem.id.desc())).first()
    url = f"/team/{team_id}/items/{item.id}"
    assert teacher.get(url).status_code == 200  # the one who asked reads its answer
    nurse = login("nurse", web_world)
    nurse.get(url)
    r = nurse.post(f"{url}/minutes", {"decision": "Ta ein undringssamtale med eleven."})
    assert r.status_code == 303
    assert "Ta ein undringssamtale" in teacher.get(url).get_data(as_text=True)
    assert login("outsider", web_world).get(url).status_code == 404


def team_pages(app, web_world, login) -> dict[str, str]:
    """Every team page, in English and bokmål, with data and with errors, for the HTML
    validity test (tests/web/test_html_validity.py)."""
    u = web_world.users
    admin = login("admin", web_world)
    admin.get("/admin/teams")
    r = admin.post("/admin/teams", {"name": "Sidelaget", "kind": "bti_team", "unit_id": ""})
    assert r.status_code == 303
    team_url = r.headers["Location"]
    team_id = int(team_url.rsplit("/", 1)[1])
    for name in ("coordinator", "nurse"):
        admin.post(f"{team_url}/members", {"user_id": str(u[name].id)})
    day = (local_date(app.extensions["bti"].clock()) + timedelta(days=7)).isoformat()
    admin.post(f"{team_url}/meetings", {"day": day, "at": "09:00", "place": "Rom 1"})
    case_id = _case_at_n1(app, web_world)
    holder = login("coordinator", web_world)
    html = holder.get(f"/saker/{case_id}/handling/refer").get_data(as_text=True)
    assert holder.post(f"/saker/{case_id}/handling/refer", {
        "expected_version": _version(html), "referred_to": "bti_team",
        "reason": "Treng fleire tenester."}).status_code == 303
    teacher = login("teacher", web_world)
    teacher.get("/team/question")
    assert teacher.post("/team/question", {"team_id": str(team_id), "child_age": "7",
                                           "text": "Ei jente på 7 år gret i dag."}
                        ).status_code == 303
    nurse = login("nurse", web_world)
    with app.extensions["bti"].session_factory() as s:
        items = {i.kind: i.id for i in s.scalars(select(AgendaItem).where(
            AgendaItem.team_id == team_id))}
    case_item = f"/team/{team_id}/items/{items['case']}"
    question_item = f"/team/{team_id}/items/{items['question']}"
    nurse.get(question_item)
    due = (local_date(app.extensions["bti"].clock()) + timedelta(days=3)).isoformat()
    assert nurse.post(f"{question_item}/minutes", {
        "decision": "Undringssamtale.", "follow_up_1_what": "Ring heim",
        "follow_up_1_responsible": str(u["nurse"].id), "follow_up_1_due": due}
                      ).status_code == 303
    pages: dict[str, str] = {}
    for lang in ("en", "nb"):
        for b in (admin, holder, nurse, teacher):
            b.get("/saker/" if b is not admin else "/admin/")
            b.post("/auth/language", {"lang": lang, "next": "/team"})
        for name, b, url in (("teams (admin)", admin, "/admin/teams"),
                             ("team (admin)", admin, team_url),
                             ("my teams", nurse, "/team"),
                             ("question", teacher, "/team/question"),
                             ("team page", nurse, f"/team/{team_id}"),
                             ("agenda item, case content", holder, case_item),
                             ("agenda item, referral only", nurse, case_item),
                             ("agenda item, minuted", nurse, question_item),
                             ("agenda item, asker", teacher, question_item)):
            r = b.get(url)
            assert r.status_code == 200, (name, r.status_code)
            pages[f"{name} ({lang})"] = r.get_data(as_text=True)
        r = admin.post("/admin/teams", {"name": "", "kind": ""})
        assert r.status_code == 422
        pages[f"teams (admin) with errors ({lang})"] = r.get_data(as_text=True)
        r = admin.post(f"{team_url}/meetings", {"day": "", "at": ""})
        assert r.status_code == 422
        pages[f"team (admin) with errors ({lang})"] = r.get_data(as_text=True)
        teacher.get("/team/question")
        r = teacher.post("/team/question", {"team_id": "", "child_age": "x", "text": ""})
        assert r.status_code == 422
        pages[f"question with errors ({lang})"] = r.get_data(as_text=True)
        holder.get(case_item)
        r = holder.post(f"{case_item}/minutes", {"decision": "", "follow_up_1_what": "x",
                                                 "follow_up_1_due": "i morgon"})
        assert r.status_code == 422
        pages[f"agenda item with errors ({lang})"] = r.get_data(as_text=True)
    return pages


def test_team_pages_render(app, web_world, login):
    pages = team_pages(app, web_world, login)
    assert len(pages) == 26
    assert "Webteam W." in pages["agenda item, case content (en)"]
    assert "Webteam W." not in pages["agenda item, referral only (en)"]


def test_the_api_keeps_teams_for_the_administrator(app, web_world, api):
    u = web_world.users
    admin = api("admin", web_world)
    r = admin.post("/api/v1/teams", json={"name": "API-teamet", "kind": "bti_team"})
    assert r.status_code == 201, r.get_json()
    team = r.get_json()
    assert r.headers["Location"].endswith(f"/api/v1/teams/{team['id']}")
    r = admin.post("/api/v1/teams", json={"name": "API-teamet", "kind": "ukjent", "x": 1})
    assert r.status_code == 422
    assert r.get_json()["error"]["fields"] == {"x": ["unknown"]}
    r = admin.post("/api/v1/teams", json={"name": "API-teamet", "kind": "ukjent"})
    assert r.status_code == 422
    assert r.get_json()["error"]["fields"] == {"name": ["taken"], "kind": ["not_a_choice"]}
    url = f"/api/v1/teams/{team['id']}"
    r = admin.post(f"{url}/members", json={"user_id": u["nurse"].id})
    assert [m["user_id"] for m in r.get_json()["members"]] == [u["nurse"].id]
    day = (local_date(app.extensions["bti"].clock()) + timedelta(days=3)).isoformat()
    r = admin.post(f"{url}/meetings", json={"starts_at": f"{day}T14:00", "place": "Rom"})
    assert r.status_code == 201
    assert len(r.get_json()["meetings"]) == 1
    r = admin.post(f"{url}/meetings", json={"starts_at": f"{day}T25:00"})
    assert r.status_code == 422
    r = admin.post(url, json={"name": "API-team", "kind": "bti_team", "active": False})
    assert (r.get_json()["name"], r.get_json()["active"]) == ("API-team", False)
    r = admin.client.delete(f"{url}/members/{u['nurse'].id}", headers=admin.headers())
    assert r.status_code == 200
    assert r.get_json()["members"] == []
    assert admin.get("/api/v1/teams").get_json()["items"][0]["id"] == team["id"]
    teacher = api("teacher", web_world)
    assert teacher.get("/api/v1/teams").status_code == 403
    assert api("admin", web_world, scopes=("cases:read",)).get(url).status_code == 403
    assert api("foreign", web_world).get(url).status_code == 403
