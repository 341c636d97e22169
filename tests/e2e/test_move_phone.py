"""Moving a case to another unit at 390 px (issue 15, section 4), in Chromium with axe-core and
the Nu HTML Checker: the move form, then the case page of the receiving unit's new stafettholder
with the unit history. All names are made up (the demo data)."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from tests.e2e.test_phone import COORDINATOR
from tests.e2e.test_phone import _check_layout
from tests.e2e.test_phone import _sign_in
from tests.e2e.test_phone import phone  # noqa: F401 - the fixture
from tests.web.test_html_validity import _vnu
from tests.web.test_html_validity import check as vnu_check

NURSE = "helsesjukepleiar"


def test_the_move_form_and_the_moved_case_fit_a_phone(phone, live_server, case_at, axe,  # noqa: F811
                                                      tmp_path):
    from bti.domain.org import Unit
    from bti.domain.org import User
    from bti.services.cases import lifecycle as cases
    from bti.services.context import Ctx
    from bti.services.context import utcnow

    cid = case_at("n2_plan", "Lind 390")
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
    visit(pg, f"/saker/{cid}/handling/move_unit", "move")
    expect(pg.locator('[name="to_unit"]')).to_be_visible()
    with live_server.session() as s:
        users = {u.username: u for u in s.scalars(select(User))}
        nurse = users[NURSE]
        to = s.get(Unit, nurse.unit_id)
        ctx = Ctx(session=s, actor=users[COORDINATOR],
                  workflows=live_server.app.extensions["bti"].workflows)
        cases.fire(ctx, cid, "move_unit", {
            "to_unit": to.id, "given_by": "guardians",
            "given_on": utcnow().date().isoformat(), "reason": "Helsestasjonen fylgjer opp.",
            "new_stafettholder": nurse.id})
    pg = phone()
    _sign_in(pg, live_server, NURSE)
    visit(pg, f"/saker/{cid}", "moved-case")
    expect(pg.locator("#unit-history li")).to_have_count(2)

    errors = vnu_check(_vnu(), html, tmp_path)
    assert errors == [], "\n".join(errors)
    assert not pg.js_errors, pg.js_errors
