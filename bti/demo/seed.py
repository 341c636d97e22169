"""A fictional municipality with units, one user per role and cases at every level, and a small
neighbour municipality its PPT serves (an inter-municipal service).

Every case is built through the real service layer, so its stafettlogg, audit rows and chain are
exactly what the app would have written. All names are made up.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bti.demo.bulk import seed_catalogue
from bti.domain.analytics import MeasureCatalogueItem
from bti.domain.cases import Measure
from bti.domain.org import Municipality
from bti.domain.org import Unit
from bti.domain.org import UnitMunicipality
from bti.domain.org import User
from bti.services.accounts.users import create_user
from bti.services.cases import lifecycle as cases
from bti.services.cases.lifecycle import FireResult
from bti.services.context import Ctx
from bti.services.context import utcnow
from bti.services.workflows.registry import WorkflowRegistry

DEMO_SLUG = "demo"
UNITS = [
    ("Fjordvik skule", "school"), ("Lia barnehage", "kindergarten"),
    ("Helsestasjonen", "health_station"), ("PPT", "ppt"), ("Barneverntenesta", "barnevern"),
]
USERS = [
    # username, display name, unit index, roles
    ("laerar", "Lærar Lise Lund", 0, ["employee"]),
    ("koordinator", "Koordinator Kari Kvam", 0, ["employee", "coordinator"]),
    ("rektor", "Rektor Rolf Rud", 0, ["employee", "leader"]),
    ("helsesjukepleiar", "Helsesjukepleiar Hege Holm", 2, ["employee"]),
    ("ppt", "PPT-rådgjevar Per Prestmo", 3, ["employee"]),
    ("personvernombod", "Personvernombod Pia Pihl", None, ["privacy_officer"]),
    ("admin", "Administrator Arne Aas", None, ["admin"]),
]
#: A small neighbour municipality the demo's PPT also serves (an inter-municipal service, its
#: host the demo municipality): made-up names.
NEIGHBOUR_SLUG = "nabodal"
NEIGHBOUR_UNITS = [("Nabodal skule", "school")]
NEIGHBOUR_USERS = [
    ("nabo.laerar", "Lærar Nils Nabo", 0, ["employee"]),
    ("nabo.koordinator", "Koordinator Nora Nes", 0, ["employee", "coordinator"]),
    ("nabo.rektor", "Rektor Nina Nygard", 0, ["employee", "leader"]),
    ("nabo.admin", "Administrator Njål Nord", None, ["admin"]),
]
#: The demo unit that serves the neighbour too (index into UNITS): PPT.
SERVING_UNIT = 3
PSEUDONYMS = ["Ask", "Bjørk", "Eik", "Gran", "Hassel", "Lind", "Osp", "Rogn", "Selje", "Alm",
              "Hegg", "Lønn"]


@dataclass
class DemoUser:
    username: str
    display_name: str
    roles: list[str]
    password: str


def make_demo(session: Session, registry: WorkflowRegistry, *, password: str | None = None,
              workflow_id: str = "bti-standard", cases_count: int = 12) -> list[DemoUser]:
    if session.scalar(select(Municipality).where(Municipality.slug == DEMO_SLUG)):
        raise ValueError("the demo municipality already exists")
    now = utcnow()
    # fictional data only: the second factor is off so the demo signs in with a password;
    # real municipalities keep the default (on). The demo writes nynorsk (its units and staff
    # are named so): a browser that asks for no language of ours gets nynorsk.
    m = Municipality(slug=DEMO_SLUG, name="Demo kommune", workflow_id=workflow_id,
                     mfa_required=False, malform="nn",
                     # made-up numbers and address (never a real service's)
                     barnevern_phone="00 00 00 01", barnevern_email="barnevern@demo.invalid",
                     barnevernvakt_phone="00 00 00 02")
    session.add(m)
    session.flush()
    units = [Unit(municipality_id=m.id, name=n, kind=k) for n, k in UNITS]
    session.add_all(units)
    session.flush()
    made: list[DemoUser] = []
    users: dict[str, User] = {}
    for username, display, unit_idx, roles in USERS:
        pw = password or secrets.token_urlsafe(12)
        users[username] = create_user(
            session, municipality_id=m.id, unit_id=units[unit_idx].id if unit_idx is not None
            else None, username=username, display_name=display, password=pw, roles=roles, now=now)
        made.append(DemoUser(username, display, roles, pw))
    registry.sync(session)
    catalogue_ids = seed_catalogue(session, m.id, now)
    targets = ["n0_plan", "n0_decision", "n1_plan", "n1_active", "n1_evaluation", "n2_plan",
               "n2_active", "n2_decision", "n3_active", "closed", "n1_active", "n0_active"]
    for i in range(cases_count):
        target = targets[i % len(targets)]
        _walk(session, registry, users, units, PSEUDONYMS[i % len(PSEUDONYMS)] + f" {i + 1}",
              2012 + i % 10, target, now - timedelta(days=60 - i),
              catalogue_ids[i % len(catalogue_ids)])
    if cases_count:
        _expected_child(session, registry, users["helsesjukepleiar"], units[2], now)
    made += _neighbour(session, registry, units[SERVING_UNIT], users["ppt"], now,
                       password=password, workflow_id=workflow_id, with_case=cases_count > 0)
    return made


def _neighbour(session: Session, registry: WorkflowRegistry, ppt: Unit, adviser: User, now,
               *, password: str | None, workflow_id: str, with_case: bool) -> list[DemoUser]:
    """Nabodal kommune, served by the demo's PPT (an inter-municipal service): its school, a
    few users, and (with cases) one case at nivå 1 in which the PPT adviser takes part through
    the guardians' consent covering the PPT."""
    m = Municipality(slug=NEIGHBOUR_SLUG, name="Nabodal kommune", workflow_id=workflow_id,
                     mfa_required=False, malform="nn")
    session.add(m)
    session.flush()
    ppt.serves.append(UnitMunicipality(municipality_id=m.id, created_at=now))
    units = [Unit(municipality_id=m.id, name=n, kind=k) for n, k in NEIGHBOUR_UNITS]
    session.add_all(units)
    session.flush()
    made: list[DemoUser] = []
    users: dict[str, User] = {}
    for username, display, unit_idx, roles in NEIGHBOUR_USERS:
        pw = password or secrets.token_urlsafe(12)
        users[username] = create_user(
            session, municipality_id=m.id, unit_id=units[unit_idx].id if unit_idx is not None
            else None, username=username, display_name=display, password=pw, roles=roles, now=now)
        made.append(DemoUser(username, display, roles, pw))
    session.flush()
    if not with_case:
        return made
    clock = [now - timedelta(days=20)]

    def fire(user: User, trigger: str, payload: dict[str, Any] | None = None) -> FireResult:
        clock[0] += timedelta(hours=5)
        t = clock[0]
        return cases.fire(Ctx(session=session, actor=user.as_actor(), workflows=registry,
                              now=lambda: t), case_id, trigger, payload)

    teacher, coord, leader = (users[n] for n in ("nabo.laerar", "nabo.koordinator",
                                                 "nabo.rektor"))
    t0 = clock[0]
    case_id = cases.open_case(
        Ctx(session=session, actor=teacher.as_actor(), workflows=registry, now=lambda: t0),
        unit_id=units[0].id, child_pseudonym="Nabo 1", child_birth_year=2015,
        concern={"what_seen": "Barnet strevar med lesinga og vil ikkje lese høgt.",
                 "since": "Skulestart"}).case.id
    day = lambda: clock[0].date().isoformat()  # noqa: E731
    fire(teacher, "start")
    fire(teacher, "inform_home", {"informed_on": day()})
    fire(leader, "appoint_stafettholder", {"stafettholder": coord.id})
    fire(coord, "assess")
    fire(coord, "decide")
    fire(coord, "escalate", {"reason": "Tiltak i skulen, med råd frå PPT."})
    fire(coord, "give_consent", {
        "given_by": "guardians", "services": [ppt.id],
        "information": "Lesevanskar, for samarbeid med PPT (interkommunal teneste).",
        "given_on": day(), "expires_on": (clock[0] + timedelta(days=365)).date().isoformat()})
    fire(coord, "add_participant", {"participant": adviser.id, "service": ppt.id})
    session.flush()
    return made


def _expected_child(session, registry, nurse: User, health_station: Unit, now) -> None:
    """Pregnancy follow-up at the health station: a case for a child due in five months."""
    ctx = Ctx(session=session, actor=nurse.as_actor(), workflows=registry, now=lambda: now)
    due = ctx.today().replace(day=1) + timedelta(days=5 * 31)
    cases.open_case(ctx, unit_id=health_station.id, child_pseudonym="Termin Tuva",
                    child_birth_year=None, child_due_year=due.year, child_due_month=due.month,
                    concern={"what_seen": "Den gravide fortel om lite nettverk og mykje uro "
                             "før fødselen.", "since": "Sist konsultasjon"})


def _walk(session, registry, users, units, pseudonym, birth_year, target, start,
          catalogue_id: int | None = None) -> None:
    """Take a new case along the standard path until it reaches ``target``."""
    clock = [start]

    def ctx(user: User) -> Ctx:
        clock[0] += timedelta(hours=7)
        t = clock[0]
        return Ctx(session=session, actor=user.as_actor(), workflows=registry, now=lambda: t)

    teacher, coord, nurse = users["laerar"], users["koordinator"], users["helsesjukepleiar"]
    opened = cases.open_case(ctx(teacher), unit_id=units[0].id, child_pseudonym=pseudonym,
                             child_birth_year=birth_year, concern={
                                 "what_seen": "Barnet verkar trøytt og trekkjer seg unna leik.",
                                 "since": "Etter haustferien"})
    cid = opened.case.id
    state = lambda: opened.case.state  # noqa: E731

    # Each step returns what it fired, so that a step can be a tuple of several.
    def fire(user: User, trigger: str, payload: dict[str, Any] | None = None) -> FireResult:
        return cases.fire(ctx(user), cid, trigger, payload)

    def day() -> str:
        return (clock[0]).date().isoformat()

    def measure_cycle(level_note: str) -> FireResult:
        payload: dict[str, Any] = {
            "description": f"Fast samtale med kontaktlærar kvar veke ({level_note}).",
            "responsible": coord.id, "start_date": day(),
            "evaluate_by": (clock[0] + timedelta(days=42)).date().isoformat()}
        if catalogue_id is not None:
            payload["catalogue"] = catalogue_id
        return fire(coord, "add_measure", payload)

    def evaluate_all() -> FireResult:
        ids = [m.id for m in session.scalars(select(Measure).where(
            Measure.case_id == cid, Measure.status == "active"))]
        return fire(coord, "record_evaluation", {
            "measures": ids, "effect": "some", "child_voice_method": "conversation",
            "child_said": "Det er litt betre no.", "outcome": "adjust"})

    steps: list[tuple[str, Callable[[], object]]] = [
        ("n0_active", lambda: fire(teacher, "start")),
        ("n0_evaluation", lambda: (fire(teacher, "inform_home", {"informed_on": day()}),
                                   fire(users["rektor"], "appoint_stafettholder",
                                        {"stafettholder": coord.id}),
                                   fire(coord, "assess"))),
        ("n0_decision", lambda: fire(coord, "decide")),
        ("n1_plan", lambda: fire(coord, "escalate", {"reason": "Tiltak i eiga teneste."})),
        ("n1_active", lambda: (measure_cycle("nivå 1"), fire(coord, "start"))),
        ("n1_evaluation", lambda: fire(coord, "evaluate")),
        ("n1_decision", lambda: (evaluate_all(), fire(coord, "decide"))),
        ("n2_plan", lambda: (
            fire(coord, "give_consent", {
                "given_by": "guardians", "services": [units[2].id, units[3].id],
                "information": "Skulefråvær og trivsel, for samarbeid med helsestasjonen og PPT.",
                "given_on": day(),
                "expires_on": (clock[0] + timedelta(days=365)).date().isoformat()}),
            fire(coord, "escalate", {"reason": "Tiltaka verka ikkje åleine."}),
            fire(coord, "add_participant", {"participant": nurse.id, "service": units[2].id}))),
        ("n2_active", lambda: (measure_cycle("nivå 2"), fire(coord, "start"))),
        ("n2_evaluation", lambda: fire(coord, "evaluate")),
        ("n2_decision", lambda: (evaluate_all(), fire(coord, "decide"))),
        ("n3_plan", lambda: fire(coord, "escalate", {"reason": "Fleire tenester trengst."})),
        ("n3_active", lambda: (measure_cycle("nivå 3"), fire(coord, "start"))),
        ("n3_evaluation", lambda: fire(coord, "evaluate")),
        ("n3_decision", lambda: (evaluate_all(), fire(coord, "decide"))),
        ("closed", lambda: fire(coord, "close", {"reason": "Måla er nådde."})),
    ]
    for reached, do in steps:
        if state() == target:
            break
        do()
        assert state() == reached, (state(), reached)
    if target in ("n2_active", "n1_active"):
        fire(teacher, "add_note", {"text": "Lysglimt: god dag på skulen i dag."})
    if target == "n2_decision":
        fire(coord, "report_barnevernet", {"sent_on": day(), "grounds": "neglect"})
        for stage in ("receipt_confirmed", "investigation_opened"):
            fire(coord, "record_barnevern_feedback", {"feedback_kind": stage,
                                                      "received_on": day()})
    if target == "n2_active":  # a measure stopped early, evaluated with the stop
        measure_cycle("nivå 2, ekstra")
        extra = max(m.id for m in session.scalars(select(Measure).where(
            Measure.case_id == cid, Measure.status == "active")))
        fire(coord, "stop_measure", {
            "measure": extra, "effect": "none", "child_voice_method": "conversation",
            "child_said": "Eg vil heller ha hjelp i timane.",
            "reason": "Tiltaket passa ikkje; barnet ville heller ha støtte i klassen."})
    if target == "n3_active":
        fire(coord, "propose_handover", {"to_user": nurse.id,
                                         "reason": "Helsestasjonen har mest kontakt no."})
    session.flush()


#: Above this many cases the demo is generated in bulk (``bti.demo.bulk``).
BULK_ABOVE = 100
EXTRA_UNITS = 20


def make_national(session: Session, registry: WorkflowRegistry, *, cases_count: int,
                  password: str | None = None, progress=None) -> tuple[list[DemoUser], dict]:
    """The demo municipality (its users and 12 cases walked through the services) and a
    national-size set of generated cases across 25 units. Returns the demo users and the rows
    written per table."""
    from bti.demo import bulk as demo_bulk

    made = make_demo(session, registry, password=password, cases_count=12)
    m = session.scalars(select(Municipality).where(Municipality.slug == DEMO_SLUG)).one()
    units = list(session.scalars(select(Unit).where(Unit.municipality_id == m.id)
                                 .order_by(Unit.id)))
    by_name = {u.username: u for u in session.scalars(select(User).where(
        User.municipality_id == m.id))}
    staff = [(units[0].id, by_name["laerar"].id, by_name["koordinator"].id)]
    now = utcnow()
    for n, unit_id in enumerate(demo_bulk.ensure_units(session, m.id, EXTRA_UNITS), 1):
        pair = [create_user(session, municipality_id=m.id, unit_id=unit_id,
                            username=f"{name}{n}", display_name=f"{title} {n}",
                            password=secrets.token_urlsafe(16), roles=roles, now=now).id
                for name, title, roles in (("laerar", "Lærar", ["employee"]),
                                           ("koordinator", "Koordinator",
                                            ["employee", "coordinator"]))]
        staff.append((unit_id, pair[0], pair[1]))
    catalogue_ids = list(session.scalars(select(MeasureCatalogueItem.id).where(
        MeasureCatalogueItem.municipality_id == m.id)))
    counts = demo_bulk.generate(session, registry, municipality_id=m.id,
                                cases=max(cases_count - 12, 0), staff=staff,
                                health_unit_id=units[2].id, catalogue_ids=catalogue_ids,
                                progress=progress)
    return made, counts
