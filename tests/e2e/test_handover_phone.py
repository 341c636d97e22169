"""The handover and debrief pages at 390 px (issue 14, sections 4 and 5), in Chromium with
axe-core and the Nu HTML Checker: the propose form with what the holder's access becomes, the
case page with the waiting handover and its withdraw link, the withdraw page, and the leader's
debrief page. All names are made up (the demo data)."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from tests.e2e.test_phone import COORDINATOR
from tests.e2e.test_phone import LEADER
from tests.e2e.test_phone import _check_layout
from tests.e2e.test_phone import _sign_in
from tests.e2e.test_phone import phone  # noqa: F401 - the fixture
from tests.web.test_html_validity import _vnu
from tests.web.test_html_validity import check as vnu_check


def test_handover_and_debrief_pages_fit_a_phone(phone, live_server, case_at, axe,  # noqa: F811
                                                tmp_path):
    from bti.domain.org import User
    from bti.services.cases import lifecycle as cases
    from bti.services.context import Ctx

    cid = case_at("n2_reported", "Hegg 390")
    html: dict[str, str] = {}

    def visit(pg, path: str, name: str) -> None:
        r = pg.goto(path)
        assert r is not None, path
        assert r.status == 200, (path, r.status)
        html[name] = r.text()
        _check_layout(pg, name)
        axe(pg)

    pg = phone()
    _sign_in(pg, live_server, COORDINATOR)
    visit(pg, f"/saker/{cid}/handling/propose_handover", "propose")
    expect(pg.locator("#holder-access")).to_be_visible()
    with live_server.session() as s:
        users = {u.username: u for u in s.scalars(select(User))}
        ctx = Ctx(session=s, actor=users[COORDINATOR],
                  workflows=live_server.app.extensions["bti"].workflows)
        cases.fire(ctx, cid, "propose_handover", {
            "to_user": users["helsesjukepleiar"].id, "reason": "Helsestasjonen tek over.",
            "holder_stays": True})
    visit(pg, f"/saker/{cid}", "case-page-pending")
    expect(pg.locator("#pending-handover")).to_contain_text("venter siden")
    expect(pg.locator("#pending-handover a")).to_be_visible()
    visit(pg, f"/saker/{cid}/handling/withdraw_handover", "withdraw")

    pg = phone()
    _sign_in(pg, live_server, LEADER)
    visit(pg, f"/saker/{cid}/handling/record_debrief", "debrief")

    errors = vnu_check(_vnu(), html, tmp_path)
    assert errors == [], "\n".join(errors)
    assert not pg.js_errors, pg.js_errors
