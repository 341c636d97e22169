"""probe"""
from __future__ import annotations

from tests.services.test_transition_sql import DriverStatements
from tests.web.test_case_cockpit import _at_n1
from tests.web.test_cases_ui import _fire
from tests.web.test_cases_ui import _version


def test_probe(app, web_world, login):
    case_id = _at_n1(app, web_world, login)
    coordinator = web_world.users["coordinator"]
    for i in range(3):
        _fire(app, coordinator, case_id, "add_note", {"text": f"Notat {i}"})
    b = login("coordinator", web_world)
    engine = app.extensions["bti"].engine
    b.get(f"/saker/{case_id}")
    with DriverStatements(engine) as d:
        r = b.get(f"/saker/{case_id}")
        assert r.status_code == 200
    html = r.get_data(as_text=True)
    print("\nPAGE", len(d.seen))
    for s in d.seen:
        print("   ", " ".join(s.split())[:230])
    v = _version(html, 'add_note')
    with DriverStatements(engine) as d:
        r = b.post(f"/saker/{case_id}/handling/add_note", {"text": "hei", "expected_version": v})
        assert r.status_code == 303, r.status_code
    print("\nPOST", len(d.seen))
    for s in d.seen:
        print("   ", " ".join(s.split())[:230])
