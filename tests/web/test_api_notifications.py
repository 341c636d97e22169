"""The caller's notifications through the JSON API (/api/v1/notifications): the list (newest
first, paged by cursor, the unread filter, each with its event, case number, link and read
state), marking one read, the delivery settings (read and change), the scopes, the JSON error
bodies, another user's notice answering 404, and the audit trail. All names are made up."""

from __future__ import annotations

import json

from sqlalchemy import select

from bti.domain.cases import Notification
from bti.domain.notifications import NotificationPreference
from bti.domain.org import ApiToken
from bti.domain.org import User
from bti.services.notify.events import EVENTS
from bti.services.notify.events import Event
from tests.web.test_api import NEW_CASE
from tests.web.test_api import _audit
from tests.web.test_api import _error

LIST = "/api/v1/notifications"
SETTINGS = "/api/v1/notifications/settings"


def _patch(client, url: str, body) -> object:
    return client.client.patch(url, json=body, headers=client.headers())


def _leader_notices(app, web_world, api, n: int = 3) -> list[int]:
    """The teacher opens ``n`` cases in their school: a notice to its leader each."""
    teacher = api("teacher", web_world)
    for _ in range(n):
        assert teacher.post("/api/v1/cases", NEW_CASE).status_code == 201
    with app.extensions["bti"].session_factory() as s:
        return list(s.scalars(select(Notification.id).where(
            Notification.user_id == web_world.users["leader"].id).order_by(Notification.id)))


def test_the_list_is_newest_first_paged_and_filtered_by_unread(app, web_world, api):
    ids = _leader_notices(app, web_world, api, 3)
    assert len(ids) == 3
    leader = api("leader", web_world)
    r = leader.get(f"{LIST}?limit=2")
    assert r.status_code == 200, r.get_data(as_text=True)
    page = r.get_json()
    assert set(page) == {"items", "unread", "next_cursor"}
    assert [i["id"] for i in page["items"]] == [ids[2], ids[1]]
    assert page["unread"] == 3
    assert page["next_cursor"] == ids[1]
    item = page["items"][0]
    assert set(item) == {"id", "kind", "title", "case_id", "link", "created_at", "read",
                         "read_at"}
    assert item["kind"] == Event.CONCERN_NEW.value
    assert isinstance(item["case_id"], int)
    assert item["link"] == f"http://localhost/varsler/{ids[2]}"
    assert (item["read"], item["read_at"]) == (False, None)
    assert item["title"] == {"nb": "En ny bekymring er registrert i enheten din",
                             "nn": item["title"]["nn"],
                             "en": "A new concern was registered in your unit"}
    assert NEW_CASE["child_pseudonym"] not in r.get_data(as_text=True)
    rest = leader.get(f"{LIST}?limit=2&cursor={page['next_cursor']}").get_json()
    assert ([i["id"] for i in rest["items"]], rest["next_cursor"]) == ([ids[0]], None)

    # read one: the unread filter leaves it out, and the count drops
    r = leader.post(f"{LIST}/{ids[1]}/read")
    assert r.status_code == 200
    assert r.get_json()["read"] is True
    assert r.get_json()["read_at"]
    again = leader.post(f"{LIST}/{ids[1]}/read").get_json()  # no change the second time
    assert again["read_at"] == r.get_json()["read_at"]
    unread = leader.get(f"{LIST}?unread=true").get_json()
    assert [i["id"] for i in unread["items"]] == [ids[2], ids[0]]
    assert unread["unread"] == 2
    # the teacher has none of these
    mine = api("teacher", web_world).get(LIST).get_json()
    assert mine == {"items": [], "unread": 0, "next_cursor": None}


def test_another_users_notification_is_404_like_a_missing_one(app, web_world, api):
    ids = _leader_notices(app, web_world, api, 1)
    nurse = api("nurse", web_world)
    theirs = nurse.post(f"{LIST}/{ids[0]}/read")
    missing = nurse.post(f"{LIST}/{ids[0] + 1000}/read")
    assert _error(theirs, 404, "not_found") == _error(missing, 404, "not_found")
    with app.extensions["bti"].session_factory() as s:
        assert s.get(Notification, ids[0]).read_at is None  # nothing changed
    denied = _audit(app, actor_id=web_world.users["nurse"].id, outcome="denied")
    assert [d.object_type for d in denied] == ["notification", "notification"]
    assert all(json.loads(d.details)["channel"] == "api" for d in denied)


def test_bad_queries_and_scopes_answer_with_the_envelope(app, web_world, api):
    leader = api("leader", web_world)
    for query in ("limit=0", "limit=201", "cursor=0", "cursor=abc", "unread=kanskje",
                  "colour=red"):
        _error(leader.get(f"{LIST}?{query}"), 422, "invalid")
    cases_only = api("leader", web_world, scopes=("cases:read", "cases:write"))
    _error(cases_only.get(LIST), 403, "forbidden")
    _error(cases_only.get(SETTINGS), 403, "forbidden")
    reader = api("leader", web_world, scopes=("notifications:read",))
    assert reader.get(LIST).status_code == 200
    assert reader.get(SETTINGS).status_code == 200
    _error(reader.post(f"{LIST}/1/read"), 403, "forbidden")
    _error(_patch(reader, SETTINGS, {"modes": {}}), 403, "forbidden")
    _error(reader.get("/api/v1/cases"), 403, "forbidden")  # and no case access


def test_the_settings_are_read_and_changed_in_part(app, web_world, api):
    nurse = api("nurse", web_world)
    r = nurse.get(SETTINGS)
    assert r.status_code == 200
    body = r.get_json()
    assert body["email"] == web_world.users["nurse"].email
    events = {e["event"]: e for e in body["events"]}
    assert set(events) == {e.value for e in Event}
    invitation = events[Event.MEETING_INVITATION.value]
    assert (invitation["mode"], invitation["default_mode"]) == ("now", "now")
    assert invitation["recipients"] == EVENTS[Event.MEETING_INVITATION].recipients
    assert invitation["title"]["nn"] == "Du er invitert til eit møte i ei sak"

    r = _patch(nurse, SETTINGS, {"modes": {"meeting_invitation": "app",
                                           "consent_expiring": "now"}})
    assert r.status_code == 200, r.get_data(as_text=True)
    modes = {e["event"]: e["mode"] for e in r.get_json()["events"]}
    assert (modes["meeting_invitation"], modes["consent_expiring"]) == ("app", "now")
    assert r.get_json()["email"] == web_world.users["nurse"].email  # kept: not given
    r = _patch(nurse, SETTINGS, {"email": "ny.adresse@bti-test.invalid"})
    assert r.status_code == 200
    assert r.get_json()["email"] == "ny.adresse@bti-test.invalid"
    modes = {e["event"]: e["mode"] for e in r.get_json()["events"]}
    assert modes["meeting_invitation"] == "app"  # kept: not given
    with app.extensions["bti"].session_factory() as s:
        uid = web_world.users["nurse"].id
        chosen = dict(s.execute(select(NotificationPreference.event, NotificationPreference.mode)
                                .where(NotificationPreference.user_id == uid)).all())
        assert chosen == {"meeting_invitation": "app", "consent_expiring": "now"}
        assert s.get(User, uid).email == "ny.adresse@bti-test.invalid"

    # every problem is named, nothing is saved
    for bad, fields in (
            ({"email": "ikkje ei adresse"}, {"email": ["invalid_email"]}),
            ({"modes": {"meeting_invitation": "fax"}}, {"modes": {"meeting_invitation": [
                "invalid"]}}),
            ({"modes": {"no_such_event": "app"}}, {"modes": {"no_such_event": ["unknown"]}}),
            ({"modes": ["app"]}, {"modes": {"_schema": ["invalid"]}}),
            ({"colour": "red"}, {"colour": ["unknown"]})):
        err = _error(_patch(nurse, SETTINGS, bad), 422, "invalid")
        assert err["fields"] == fields, (bad, err)
    _error(nurse.client.patch(SETTINGS, data="{", headers={
        **nurse.headers(), "Content-Type": "application/json"}), 400, "bad_request")
    again = nurse.get(SETTINGS).get_json()
    assert again["email"] == "ny.adresse@bti-test.invalid"
    assert {e["event"]: e["mode"] for e in again["events"]}["meeting_invitation"] == "app"
    # an empty address removes it
    assert _patch(nurse, SETTINGS, {"email": None}).get_json()["email"] is None


def test_api_use_of_notifications_is_audited_with_the_token(app, web_world, api):
    ids = _leader_notices(app, web_world, api, 2)
    leader = api("leader", web_world)
    with app.extensions["bti"].session_factory() as s:
        token_id = s.scalars(select(ApiToken.id).order_by(ApiToken.id.desc())).first()
    uid = web_world.users["leader"].id
    before = len(_audit(app))
    assert leader.get(LIST).status_code == 200
    assert leader.post(f"{LIST}/{ids[0]}/read").status_code == 200
    assert leader.get(SETTINGS).status_code == 200
    assert _patch(leader, SETTINGS, {"modes": {"concern_new": "digest"}}).status_code == 200
    rows = [r for r in _audit(app)[before:] if r.actor_id == uid]
    assert [r.action for r in rows] == ["notification.listed", "notification.read",
                                        "notification.settings_changed"]
    listed, read, changed = (json.loads(r.details) for r in rows)
    assert all(d["channel"] == "api" and d["token_id"] == token_id
               for d in (listed, read, changed))
    assert listed["count"] == 2
    assert len(listed["case_ids"]) == 2
    assert (rows[1].object_type, rows[1].object_id) == ("notification", ids[0])
    assert rows[1].case_id is not None
    assert (changed["events"], changed["email_changed"]) == (["concern_new"], False)
