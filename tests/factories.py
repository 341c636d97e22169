"""Plain factory functions for tests. All names are made up."""

from __future__ import annotations

import itertools
from datetime import UTC
from datetime import date
from datetime import datetime

from sqlalchemy.orm import Session

from bti.domain.org import Municipality
from bti.domain.org import Unit
from bti.domain.org import User
from bti.domain.org import UserRole

_seq = itertools.count(1)
FIXED_NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TODAY = date(2026, 3, 2)


def make_municipality(session: Session, workflow_id: str = "bti-standard", **kw) -> Municipality:
    n = next(_seq)
    m = Municipality(slug=kw.pop("slug", f"kommune-{n}"), name=kw.pop("name", f"Testkommune {n}"),
                     workflow_id=workflow_id, **kw)
    session.add(m)
    session.flush()
    return m


def make_unit(session: Session, municipality: Municipality, kind: str = "school", **kw) -> Unit:
    u = Unit(municipality_id=municipality.id, name=kw.pop("name", f"Eining {next(_seq)}"),
             kind=kind, **kw)
    session.add(u)
    session.flush()
    return u


def make_user(session: Session, municipality: Municipality, unit: Unit | None,
              roles=("employee",), **kw) -> User:
    n = next(_seq)
    username = kw.pop("username", f"user{n}")
    kw.setdefault("email", f"{username}@bti-test.invalid")  # a made-up address (RFC 2606)
    u = User(municipality_id=municipality.id, unit_id=unit.id if unit else None,
             username=username, display_name=kw.pop("display_name",
                                                                          f"Tilsett {n}"),
             password_hash=kw.pop("password_hash", "!"), active=kw.pop("active", True),
             created_at=FIXED_NOW, role_rows=[UserRole(role=r) for r in roles], **kw)
    session.add(u)
    session.flush()
    return u


CONCERN = {"what_seen": "Barnet har vore stille og trøytt i fleire veker.",
           "since": "Januar", "child_said": "Eg søv dårleg."}


def to_n1(world, case) -> None:
    """Walk a fresh case of the ``world`` fixture (bti-standard) to nivå 1 with a plan: started,
    home informed, the coordinator appointed stafettholder, assessed, decided, escalated."""
    from bti.services.cases import lifecycle as cases

    w = world
    cases.fire(w.ctx(w.teacher), case.id, "start")
    cases.fire(w.ctx(w.teacher), case.id, "inform_home", {"informed_on": TODAY.isoformat()})
    cases.fire(w.ctx(w.leader), case.id, "appoint_stafettholder",
               {"stafettholder": w.coordinator.id})
    cases.fire(w.ctx(w.coordinator), case.id, "assess")
    cases.fire(w.ctx(w.coordinator), case.id, "decide")
    cases.fire(w.ctx(w.coordinator), case.id, "escalate", {"reason": "Tiltak trengst."})
    assert case.state == "n1_plan"
