"""The access-log follow-up pages (AUD-07): the leader is told, opens the item from the
notification, sees the rows it came from, and closes it with a conclusion."""

from __future__ import annotations

import re

from sqlalchemy import select

from bti.domain.cases import Notification
from bti.domain.log import AuditEvent
from bti.domain.log import AuditReviewItem
from bti.services.access import review
from tests.web.test_access_audit import REASON
from tests.web.test_access_audit import make_case


def test_leader_follows_up_an_emergency_access(app, web_world, login):
    case_id, _ = make_case(app, web_world)
    outsider = login("outsider", web_world)
    outsider.get(f"/tilgang/sak/{case_id}/naud")
    assert outsider.post(f"/tilgang/sak/{case_id}/naud", {"reason": REASON}).status_code == 302
    with app.extensions["bti"].session_factory.begin() as s:
        review.run_review(s, app.extensions["bti"].clock())
        item_id = s.scalars(select(AuditReviewItem.id).where(
            AuditReviewItem.pattern == "emergency_access")).one()

    leader = login("leader", web_world)
    # the leader's notification leads to the item
    notices = leader.get("/varsler/").get_data(as_text=True)
    assert "Et tilgangsmønster må gjennomgås" in notices
    with app.extensions["bti"].session_factory() as s:
        # this item's notice (at night or at a weekend the off-hours pattern adds its own)
        nid = s.scalars(select(Notification.id).where(
            Notification.kind == "audit_review",
            Notification.user_id == web_world.users["leader"].id,
            Notification.dedupe_key.like(f"audit_review:{item_id}:%"))).one()
    opened = leader.post(f"/varsler/{nid}")
    assert opened.status_code == 302
    assert opened.headers["Location"].endswith(f"/tilgang/gjennomgang/{item_id}")
    listing = leader.get("/tilgang/gjennomgang").get_data(as_text=True)
    assert "Nødtilgang til en sak" in listing
    assert web_world.users["outsider"].display_name in listing

    page = leader.get(f"/tilgang/gjennomgang/{item_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Tok nødtilgang" in html
    assert REASON not in html  # the reason is in the case's access log, not repeated here

    bad = leader.post(f"/tilgang/gjennomgang/{item_id}", {"conclusion": ""})
    assert bad.status_code == 422
    assert 'id="f-conclusion-error"' in bad.get_data(as_text=True)
    r = leader.post(f"/tilgang/gjennomgang/{item_id}",
                    {"conclusion": "legitimate", "comment": "Avklart med den tilsette."})
    assert r.status_code == 303
    assert r.headers["Location"].endswith("/tilgang/gjennomgang")
    closed = leader.get("/tilgang/gjennomgang?status=closed").get_data(as_text=True)
    assert re.search(r"Kontrollert: bruken var en del av arbeidet til brukeren", closed)
    again = leader.post(f"/tilgang/gjennomgang/{item_id}", {"conclusion": "followed_up"})
    assert again.status_code == 422  # closed items stay as they were closed

    with app.extensions["bti"].session_factory() as s:
        actions = list(s.scalars(select(AuditEvent.action).where(
            AuditEvent.actor_id == web_world.users["leader"].id,
            AuditEvent.action.like("audit.review%")).order_by(AuditEvent.seq)))
        item = s.get(AuditReviewItem, item_id)
        assert (item.status, item.conclusion) == ("closed", "legitimate")
    assert "audit.review_closed" in actions
    assert actions.count("audit.review_viewed") >= 1
