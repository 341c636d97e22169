"""AUTHZ-02/03 (role × relation × route × method matrix), the 404 existence oracle, leaks in
lists, AUD-01 (every served read of case data is logged) and WEB-01 (CSRF on every POST; GET
and HEAD change nothing but the access log).

The expected outcomes live in ``access_matrix.toml``. Every rule of ``app.url_map`` with every
method must have a row there, so a new route without one fails here.

One case is built through the real web forms, and every fixture user stands in their natural
relation to it:

* teacher — reporter (opened the case through the concern form)
* coordinator — stafettholder, appointed by the leader
* leader — unit_leader (leader of the case's school)
* nurse — participant, admitted through a consent that covers the health station
* psychologist — no relation (PPT, same municipality, no consent)
* outsider — no relation (same school)
* admin, privacy — the municipality's administrator and privacy officer (no relation)
* foreign — a leader in another municipality
* emergency — an employee (PPT) who was granted emergency access through the form

and four family members, each with a family session (``bti.services.family``; the sign-in
through the provider itself is tests/web/test_family_web.py):

* guardian — redeemed the stafettholder's invitation code to the case
* other_guardian — a guardian of another child (redeemed a code to another case)
* ended_guardian — redeemed a code to the case; the stafettholder ended the access
* expired_code — signed in, holding only an invitation to the case that expired unredeemed

A row names the family actors' outcomes where they differ from the default: the anonymous
outcome on public and API routes, else 404 (a family session on a staff route).

Rows for the JSON API (paths under ``/api/``) are sent with the actor's personal access token
(``Authorization: Bearer``) and a JSON body instead of the session cookie's form; every actor
but anonymous has a token with both scopes.

The matrix runs once per module (``matrix_run``); ``test_headers.py`` reuses it. All names
are made up.
"""

from __future__ import annotations

import io
import re
import tomllib
from collections import Counter
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from bti.domain.analytics import AnnualWheelItem
from bti.domain.analytics import MeasureCatalogueItem
from bti.domain.cases import Case
from bti.domain.cases import Notification
from bti.domain.clock import local_date
from bti.domain.log import AuditEvent
from bti.domain.log import AuditReviewItem
from bti.domain.models import Base
from bti.domain.org import UnitMunicipality
from bti.domain.org import User
from bti.services.access import review
from bti.services.accounts.tokens import SCOPES as TOKEN_SCOPES
from bti.services.context import Ctx
from bti.web import create_app
from tests.dbs import app_database
from tests.factories import FIXED_NOW
from tests.factories import make_municipality
from tests.factories import make_unit
from tests.factories import make_user
from tests.web.conftest import PASSWORD
from tests.web.conftest import Browser
from tests.web.conftest import make_settings
from tests.web.conftest import make_token

#: Every scope: a route's own checks decide (a non-administrator's org:* request is 403).
#: Every scope a token can hold: the matrix tests each API route with a token that may use it
#: (the user's roles and relations then decide), as the pages are tested with a session.
MATRIX_SCOPES = TOKEN_SCOPES
MATRIX_FILE = Path(__file__).with_name("access_matrix.toml")
PSEUDONYM = "Matrisebarn Zq."
REASON = "Barnet er ikkje på skulen og heimen svarar ikkje på telefon i dag."
STAFF_ACTORS = ("anonymous", "teacher", "coordinator", "leader", "nurse", "psychologist",
                "outsider", "admin", "privacy", "foreign", "emergency")
#: Family members with a family session (the module docstring).
FAMILY_ACTORS = ("guardian", "other_guardian", "ended_guardian", "expired_code")
ACTORS = STAFF_ACTORS + FAMILY_ACTORS
#: Actors with no relation at all to the case (list pages must never name the child to them).
NO_RELATION = ("psychologist", "outsider", "admin", "privacy", "foreign", "other_guardian",
               "ended_guardian", "expired_code")
#: Tables a GET or HEAD may change (user_session only in its ``last_seen_at`` column, api_token
#: only in its ``last_used_at``).
GET_MAY_WRITE = {"audit_event", "audit_chain_head"}
#: (table, column) a GET or HEAD may touch: when a session or a token was last used.
GET_MAY_TOUCH = {("user_session", "last_seen_at"), ("api_token", "last_used_at"),
                 ("family_session", "last_seen_at")}
API_PREFIX = "/api/"
ALLOW = "allow"
DENY = "deny"
OTHER = "other"


# --- the expected table ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    endpoint: str
    method: str
    path: str
    expect: dict[str, int | str]
    data: dict[str, Any]
    case_data: bool  # a read of the case's data (AUD-01; 404 oracle)
    lists: bool  # a list or search page that could name the child
    last: bool  # runs after every other row (it ends the session)
    signs_out: bool  # a redirect to sign in is this route's success for a signed-in user
    note: str

    @property
    def label(self) -> str:
        return f"{self.method} {self.path} ({self.endpoint})"


def load_rows() -> list[Row]:
    doc = tomllib.loads(MATRIX_FILE.read_text(encoding="utf-8"))
    rows = []
    for i, r in enumerate(doc["route"]):
        expect = dict(r["expect"])
        for actor in FAMILY_ACTORS:  # the default: as anonymous where public, else 404
            if actor not in expect:
                anonymous = expect["anonymous"]
                public = r["path"].startswith(API_PREFIX) or anonymous not in (
                    "login", 401, 403, 404)
                expect[actor] = anonymous if public else 404
        missing = [a for a in ACTORS if a not in expect]
        extra = [a for a in expect if a not in ACTORS]
        assert not missing, (i, r["endpoint"], "no outcome for", missing)
        assert not extra, (i, r["endpoint"], "unknown actors", extra)
        for actor, outcome in expect.items():
            assert outcome == "login" or isinstance(outcome, int), (r["endpoint"], actor)
        rows.append(Row(r["endpoint"], r["method"], r["path"], expect, dict(r.get("data", {})),
                        bool(r.get("case_data")), bool(r.get("lists")), bool(r.get("last")),
                        bool(r.get("signs_out")), r.get("note", "")))
    return rows


def _to_sign_in(location: str | None) -> bool:
    """A redirect to the staff or the family sign-in page."""
    return bool(location) and ("/auth/login" in location or location.endswith("/familie/"))


def classify(status: int, location: str | None) -> str:
    if status == 302 and _to_sign_in(location):
        return DENY  # sent to sign in
    if status in (401, 403, 404):
        return DENY
    if 200 <= status < 400 or status in (409, 422):
        return ALLOW  # served, redirected after the action, or reached the action's checks
    return OTHER


def expected_class(outcome: int | str, row: Row | None = None, actor: str = "") -> str:
    if outcome == "login":
        return ALLOW if row is not None and row.signs_out and actor != "anonymous" else DENY
    return classify(int(outcome), None)


def outcome_of(status: int, location: str | None) -> int | str:
    if status == 302 and _to_sign_in(location):
        return "login"
    return status


def route_inventory(app) -> set[tuple[str, str]]:
    return {(rule.endpoint, m) for rule in app.url_map.iter_rules()
            for m in rule.methods - {"HEAD", "OPTIONS"}}


# --- database snapshots (WEB-01) ------------------------------------------------------------------


def _snapshot_queries() -> list[tuple[str, str]]:
    if not _SNAPSHOT_SQL:
        for table in Base.metadata.sorted_tables:
            if table.name in GET_MAY_WRITE:
                continue
            cols = [c.name for c in table.columns if (table.name, c.name) not in GET_MAY_TOUCH]
            order = [c.name for c in table.primary_key.columns] or cols
            _SNAPSHOT_SQL.append((table.name, f"SELECT {', '.join(cols)} FROM {table.name} "
                                              f"ORDER BY {', '.join(order)}"))  # noqa: S608
    return _SNAPSHOT_SQL


_SNAPSHOT_SQL: list[tuple[str, str]] = []


def snapshot(app) -> dict[str, tuple[int, int]]:
    """Row count and a content hash of every table but the audit log (user_session without
    ``last_seen_at``). Python's ``hash`` of the rows is enough within one process."""
    out = {}
    raw = app.extensions["bti"].engine.raw_connection()
    try:
        cur = raw.cursor()
        for name, sql in _snapshot_queries():
            cur.execute(sql)
            rows = cur.fetchall()
            out[name] = (len(rows), hash(tuple(rows)))
        cur.close()
    finally:
        raw.close()
    return out


def snapshot_diff(before, after) -> list[str]:
    return sorted(t for t in before if before[t] != after[t])


def max_audit_id(app) -> int:
    with app.extensions["bti"].session_factory() as s:
        return s.scalar(select(func.coalesce(func.max(AuditEvent.id), 0)))


def audit_since(app, last_id: int) -> list[AuditEvent]:
    with app.extensions["bti"].session_factory() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.id > last_id)
                              .order_by(AuditEvent.id)))


# --- the world ------------------------------------------------------------------------------------


@dataclass
class World:
    users: dict[str, Any]
    unit_ids: dict[str, int]
    case_id: int
    missing_case_id: int
    notification_id: int
    target_user_id: int
    foreign_user_id: int
    browsers: dict[str, Browser]
    review_item_id: int
    catalogue_item_id: int = 1
    #: actor → a personal access token (cases:read and cases:write) for the /api/ rows
    tokens: dict[str, str] = field(default_factory=dict)
    #: the team the case is referred to (members: coordinator, nurse; psychologist a former
    #: member; outsider a member of another team), its item for the case, a follow-up
    team: dict[str, int] = field(default_factory=dict)
    #: an open guardian invitation to the case (the stafettholder ends it in its row)
    family_invite_id: int = 1
    #: routines of the annual wheel: the school's (its leader keeps it) and the whole
    #: municipality's (the administrator's, removed in its row)
    wheel_item_id: int = 1
    wheel_shared_id: int = 1
    #: the guardian's comment to the case, and a guardian's concern to the case's school
    family_voice: dict[str, int] = field(default_factory=dict)
    #: the teacher's practice case (øvingssak): theirs alone to see
    practice_case_id: int = 0

    def user_id(self, actor: str) -> int | None:
        return None if actor == "anonymous" or actor in FAMILY_ACTORS else self.users[actor].id

    def fill(self, template: str, actor: str = "") -> str:
        user = self.users.get(actor)
        return template.format(case=self.case_id, missing_case=self.missing_case_id,
                               notification=self.notification_id,
                               target_user=self.target_user_id,
                               foreign_user=self.foreign_user_id,
                               review_item=self.review_item_id, actor=actor,
                               catalogue_item=self.catalogue_item_id,
                               unit=self.unit_ids.get("school", 1),
                               foreign_unit=self.unit_ids.get("foreign", 1),
                               team=self.team.get("team", 0),
                               team_item=self.team.get("item", 0),
                               team_follow_up=self.team.get("follow_up", 0),
                               family_invite=self.family_invite_id,
                               wheel_item=self.wheel_item_id,
                               wheel_shared=self.wheel_shared_id,
                               family_message=self.family_voice.get("message", 0),
                               family_concern=self.family_voice.get("concern", 0),
                               practice_case=self.practice_case_id,
                               username=user.username if user else "ingen")


def build_world(app) -> dict[str, Any]:
    """The users of ``conftest.web_world`` (same names, units and roles), plus an employee who
    will use emergency access and a spare user the administrator's forms act on."""
    ext = app.extensions["bti"]
    # a cheap hash: the matrix signs in, and checks passwords, dozens of times
    pw = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    with ext.session_factory.begin() as s:
        m = make_municipality(s, mfa_required=False)
        school = make_unit(s, m, "school", name="Nordvik skule")
        health = make_unit(s, m, "health_station", name="Helsestasjonen")
        ppt = make_unit(s, m, "ppt", name="PPT")
        users = {
            "teacher": make_user(s, m, school, ("employee",), username="laerar1",
                                 password_hash=pw),
            "coordinator": make_user(s, m, school, ("employee", "coordinator"),
                                     username="koord1", password_hash=pw),
            "leader": make_user(s, m, school, ("employee", "leader"), username="rektor1",
                                password_hash=pw),
            "nurse": make_user(s, m, health, ("employee",), username="helse1", password_hash=pw),
            "psychologist": make_user(s, m, ppt, ("employee",), username="ppt1",
                                      password_hash=pw),
            "outsider": make_user(s, m, school, ("employee",), username="ukjend1",
                                  password_hash=pw),
            "admin": make_user(s, m, None, ("admin",), username="admin1", password_hash=pw),
            "privacy": make_user(s, m, None, ("privacy_officer",), username="pvo1",
                                 password_hash=pw),
            "emergency": make_user(s, m, ppt, ("employee",), username="naud1",
                                   password_hash=pw),
            "target": make_user(s, m, school, ("employee",), username="maal1",
                                password_hash=pw),
        }
        other = make_municipality(s, mfa_required=False)
        third = make_municipality(s, mfa_required=False)
        # an inter-municipal service of another municipality, serving a third one, not this
        foreign_ppt = make_unit(s, other, "ppt", name="Interkommunal PPT")
        s.add(UnitMunicipality(unit_id=foreign_ppt.id, municipality_id=third.id,
                               created_at=FIXED_NOW))
        users["foreign"] = make_user(s, other, foreign_ppt, ("employee", "leader"),
                                     username="framand1", password_hash=pw)
        item = MeasureCatalogueItem(municipality_id=m.id, name="Leksehjelp", description="",
                                    kind="universal", age_from=6, age_to=16, active=True,
                                    created_at=FIXED_NOW, updated_at=FIXED_NOW)
        s.add(item)
        wheel = [AnnualWheelItem(municipality_id=m.id, unit_id=unit, kind="mapping",
                                 title=title, starts_on=FIXED_NOW.date(), yearly=True,
                                 created_at=FIXED_NOW, updated_at=FIXED_NOW)
                 for unit, title in ((school.id, "Kartlegging på skulen"),
                                     (None, "Kurs for alle"))]
        s.add_all(wheel)
        s.flush()
        return {"users": users, "catalogue_item": item.id,
                "wheel": (wheel[0].id, wheel[1].id),
                "unit_ids": {"school": school.id, "health": health.id, "ppt": ppt.id,
                             "foreign": foreign_ppt.id}}


def _version(html: str, trigger: str) -> str:
    """The case's version: from the action's own form, else from the case page."""
    m = (re.search(r'name="expected_version" value="(\d+)"', html)
         or re.search(r'data-case-version="(\d+)"', html))
    return m.group(1)


def web_fire(b: Browser, case_id: int, trigger: str, data: dict | None = None) -> None:
    html = b.get(f"/saker/{case_id}").get_data(as_text=True)
    payload = {"expected_version": _version(html, trigger), **(data or {})}
    r = b.post(f"/saker/{case_id}/handling/{trigger}", payload)
    assert r.status_code == 303, (trigger, r.status_code, r.get_data(as_text=True)[-1500:])


def sign_in(app, username: str) -> Browser:
    b = Browser(app.test_client())
    r = b.login(username)
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    b.get("/auth/login")  # the signed-in session's CSRF token
    return b


def build_case(app, users, unit_ids) -> tuple[int, dict[str, Browser]]:
    """The case, through the web forms, as each role would do it."""
    browsers = {name: sign_in(app, users[name].username)
                for name in STAFF_ACTORS if name != "anonymous"}
    browsers["anonymous"] = Browser(app.test_client())
    teacher, leader, coordinator = (browsers[n] for n in ("teacher", "leader", "coordinator"))
    today = local_date(app.extensions["bti"].clock()).isoformat()
    teacher.get("/saker/ny")
    r = teacher.post("/saker/ny", {
        "child_pseudonym": PSEUDONYM, "child_birth_year": "2016",
        "what_seen": "Barnet er ofte trøytt og et lite i matpausa.", "since": "Etter jul",
        "violence_suspected": "false"})
    assert r.status_code == 303, r.get_data(as_text=True)[-1500:]
    case_id = int(re.search(r"/saker/(\d+)/kvittering$", r.headers["Location"]).group(1))
    web_fire(teacher, case_id, "start")
    web_fire(teacher, case_id, "inform_home", {"informed_on": today})
    web_fire(leader, case_id, "appoint_stafettholder",
             {"stafettholder": str(users["coordinator"].id)})
    web_fire(coordinator, case_id, "assess")
    web_fire(coordinator, case_id, "decide")
    web_fire(coordinator, case_id, "escalate",
             {"reason": "Undringssamtalen viste at det trengst tiltak."})
    web_fire(coordinator, case_id, "give_consent", {
        "given_by": "guardians", "services": [str(unit_ids["health"])],
        "information": "Helse og trivsel", "given_on": today})
    web_fire(coordinator, case_id, "add_participant", {
        "participant": str(users["nurse"].id), "service": str(unit_ids["health"])})
    em = browsers["emergency"]
    em.get(f"/tilgang/sak/{case_id}/naud")
    r = em.post(f"/tilgang/sak/{case_id}/naud", {"reason": REASON})
    assert r.status_code == 302, r.get_data(as_text=True)[-1500:]
    for b in browsers.values():  # a fresh token, and no flash message left to show
        b.get("/auth/login")
    return case_id, browsers


def make_world(app) -> World:
    built = build_world(app)
    users, unit_ids = built["users"], built["unit_ids"]
    case_id, browsers = build_case(app, users, unit_ids)
    practice_case = build_practice_case(app, users)
    with app.extensions["bti"].session_factory() as s:
        missing = next(i for i in range(10 ** len(str(case_id)) - 1, 0, -1)
                       if s.get(Case, i, execution_options={"include_practice": True}) is None)
        notification = s.scalars(select(Notification.id).where(
            Notification.user_id == users["leader"].id,
            Notification.kind == "emergency_access")).one()
    assert len(str(missing)) == len(str(case_id))
    with app.extensions["bti"].session_factory.begin() as s:  # the review job (AUD-07)
        review.run_review(s, app.extensions["bti"].clock())
        item = s.scalars(select(AuditReviewItem.id).where(
            AuditReviewItem.subject_user_id == users["emergency"].id,
            AuditReviewItem.pattern == "emergency_access")).one()
    tokens = {name: make_token(app, users[name].username, scopes=MATRIX_SCOPES)
              for name in STAFF_ACTORS if name != "anonymous"}
    team = build_team(app, users, case_id)
    family_invite = family_members(app, users, case_id, browsers)
    voice = family_voice(app, case_id, unit_ids["school"])
    return World(users, unit_ids, case_id, missing, notification, users["target"].id,
                 users["foreign"].id, browsers, item, built["catalogue_item"], tokens, team,
                 family_invite, *built["wheel"], voice, practice_case)


def build_practice_case(app, users) -> int:
    """The teacher's practice case (issue 18 §3), at its first step."""
    from bti.services.cases import practice

    ext = app.extensions["bti"]
    with ext.session_factory.begin() as s:
        ctx = Ctx(session=s, actor=s.get(User, users["teacher"].id), workflows=ext.workflows,
                  now=ext.clock)
        return practice.start_or_continue(ctx, what_seen="Øving.")[0]


def build_team(app, users, case_id: int) -> dict[str, int]:
    """A team kept by the administrator, the case referred to it by its stafettholder, and a
    question without a case whose minutes agreed a follow-up."""
    from datetime import time
    from datetime import timedelta

    from bti.services.cases import lifecycle as cases
    from bti.services.context import Ctx
    from bti.services.teams import agenda
    from bti.services.teams import keep

    ext = app.extensions["bti"]
    with ext.session_factory.begin() as s:
        def ctx(name):
            return Ctx(session=s, actor=s.merge(users[name]), workflows=ext.workflows,
                       now=ext.clock)

        team = keep.create_team(ctx("admin"), name="BTI-teamet", kind="bti_team").id
        other = keep.create_team(ctx("admin"), name="Anna team", kind="bti_team").id
        for name in ("coordinator", "nurse", "psychologist", "target"):
            keep.add_member(ctx("admin"), team, users[name].id)
        keep.add_member(ctx("admin"), other, users["outsider"].id)
        keep.remove_member(ctx("admin"), team, users["psychologist"].id)
        keep.schedule_meeting(ctx("admin"), team, day=local_date(ext.clock()) + timedelta(days=7),
                              at=time(13, 0), place="Møterom")
        item = cases.fire(ctx("coordinator"), case_id, "refer", {
            "referred_to": "bti_team", "reason": "Treng fleire tenester rundt barnet."}
            ).entry.object_id
        question = agenda.ask(ctx("teacher"), team, child_age=9, text="Ein gut er mykje borte.")
        agenda.record_minutes(ctx("nurse"), team, question.id, decision="Undringssamtale.",
                              follow_ups=[agenda.FollowUpInput(
                                  "Ring heim", users["nurse"].id,
                                  local_date(ext.clock()) + timedelta(days=14))])
        follow_up = agenda.team_page(ctx("nurse"), team).open_follow_ups[0].id
    return {"team": team, "item": item, "follow_up": follow_up}


def family_members(app, users, case_id: int, browsers: dict[str, Browser]) -> int:
    """The family actors: an identity and a family session each (its token put in the
    browser's session cookie), linked as the module docstring says. Returns the id of an
    open invitation to the case."""
    from datetime import timedelta

    from bti.domain.family import FamilyMember
    from bti.domain.org import Municipality
    from bti.services.cases import lifecycle
    from bti.services.context import Ctx
    from bti.services.family import invitations
    from bti.services.family import sessions

    ext = app.extensions["bti"]
    now = ext.clock()
    with ext.session_factory.begin() as s:
        holder = s.merge(users["coordinator"])
        ctx = Ctx(session=s, actor=holder, workflows=ext.workflows, now=lambda: now)
        other = lifecycle.open_case(ctx, unit_id=None, child_pseudonym="Annabarn Wx",
                                    child_birth_year=2015,
                                    concern={"what_seen": "Lei seg i friminutta."}).case
        other.stafettholder_id = holder.id
        s.flush()
        municipality = s.get_one(Municipality, holder.municipality_id)
        links = {"guardian": case_id, "other_guardian": other.id,
                 "ended_guardian": case_id, "expired_code": case_id}
        for actor, linked_case in links.items():
            identity = sessions.identify(s, municipality=municipality, issuer="http://idp.test",
                                         subject_claim="pid", person=f"pid-{actor}",
                                         key=b"matrix-key", now=now)
            token = sessions.start(s, identity, municipality_id=municipality.id, now=now)
            made = invitations.invite(ctx, linked_case, "guardian")
            family = sessions.FamilyActor(identity.id, municipality.id, 0)
            if actor == "expired_code":
                s.get_one(FamilyMember, made.member.id).expires_at = now - timedelta(days=1)
            else:
                invitations.redeem(s, family, made.code, now=now)
            if actor == "ended_guardian":
                invitations.end_access(ctx, linked_case, made.member.id, "Avslutta i testen.")
            b = Browser(app.test_client())
            with b.client.session_transaction() as cookie:
                cookie["fsid"] = token
            browsers[actor] = b
        invite = invitations.invite(ctx, case_id, "guardian").member.id
    for actor in FAMILY_ACTORS:
        browsers[actor].get("/auth/login")  # the family session's CSRF token
    return invite


def family_voice(app, case_id: int, school_id: int) -> dict[str, int]:
    """The guardian's comment to the case (``bti.services.family.voice``) and a concern a
    guardian raised with the case's school."""
    from bti.domain.family import FamilyMember
    from bti.domain.family_voice import FamilyConcern
    from bti.domain.family_voice import FamilyMessage
    from bti.domain.org import ExternalIdentity

    ext = app.extensions["bti"]
    now = ext.clock()
    with ext.session_factory.begin() as s:
        identity = s.scalars(select(ExternalIdentity).where(
            ExternalIdentity.user_id.is_(None)).order_by(ExternalIdentity.id)).first()
        member = s.scalars(select(FamilyMember).where(
            FamilyMember.case_id == case_id, FamilyMember.identity_id == identity.id)).one()
        message = FamilyMessage(case_id=case_id, member_id=member.id, text="Eit spørsmål.",
                                sent_at=now)
        concern = FamilyConcern(municipality_id=identity.municipality_id, unit_id=school_id,
                                identity_id=identity.id, child_name="Mia",
                                child_birth_year=2017, text="Søv dårleg.", raised_at=now)
        s.add_all([message, concern])
        s.flush()
        return {"message": message.id, "concern": concern.id}


# --- the run --------------------------------------------------------------------------------------


@dataclass
class Cell:
    row: Row
    actor: str
    method: str
    url: str
    status: int
    outcome: int | str
    headers: list[tuple[str, str]]
    body: bytes
    signed_in: bool
    audit: list[AuditEvent] = field(default_factory=list)
    db_changed: list[str] = field(default_factory=list)

    @property
    def expected(self) -> int | str:
        return self.row.expect[self.actor]

    @property
    def expected_kind(self) -> str:
        return expected_class(self.expected, self.row, self.actor)

    @property
    def observed_kind(self) -> str:
        return expected_class(self.outcome, self.row, self.actor)


@dataclass
class MatrixRun:
    app: Any
    world: World
    cells: list[Cell]  # the table's cells, as run
    heads: list[Cell]  # HEAD beside every GET cell
    oracle: list[tuple[str, str, int, int, str]]  # (actor, label, status real, missing, diff)
    extra: list[Cell]  # other responses seen (the oracle pass), for the header checks


def _strip(body: bytes) -> str:
    """A page without what differs between any two requests: the CSP nonce, the CSRF token and
    the language form's ``next`` (it echoes the address)."""
    t = body.decode("utf-8", "replace")
    t = re.sub(r'nonce="[^"]*"', 'nonce=""', t)
    t = re.sub(r'(name="csrf_token" value=)"[^"]*"', r'\1""', t)
    return re.sub(r'(name="next" value=)"[^"]*"', r'\1""', t)


class Runner:
    """Sends the table's requests and records, for each, the response, the new audit rows and
    which tables changed. The state after one request is the state before the next; a helper
    request in between (a fresh CSRF token) makes it take a new snapshot."""

    def __init__(self, app, world: World):
        self.app = app
        self.world = world
        self.snap: dict | None = None
        self.last_audit_id = max_audit_id(app)

    def helper_get(self, actor: str, url: str = "/auth/login") -> None:
        self.world.browsers[actor].get(url)
        self.snap = None
        self.last_audit_id = max_audit_id(self.app)

    def request(self, row: Row, actor: str, method: str) -> Cell:
        world = self.world
        b = world.browsers[actor]
        url = world.fill(row.path, actor)
        before = self.snap if self.snap is not None else snapshot(self.app)
        if url.startswith(API_PREFIX):
            # the JSON API: the actor's bearer token (none for anonymous) and a JSON body; the
            # browser's session cookie is sent too, and must change nothing
            token = world.tokens.get(actor)
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            data = {k: world.fill(v, actor) if isinstance(v, str) else v
                    for k, v in row.data.items()}
            r = b.client.open(url, method=method, headers=headers,
                              json=data if method in ("POST", "PATCH") else None)
        elif method == "POST":
            data = {k: world.fill(v, actor) if isinstance(v, str) else v
                    for k, v in row.data.items()}
            r = b.post(url, data)
        else:
            r = b.client.open(url, method=method)
            if method == "GET" and r.mimetype == "text/html":
                m = re.search(r'name="csrf_token" value="([^"]+)"', r.get_data(as_text=True))
                if m:
                    b.token = m.group(1)
        body = r.get_data()
        r.close()
        cell = Cell(row, actor, method, url, r.status_code,
                    outcome_of(r.status_code, r.headers.get("Location")),
                    list(r.headers.items()), body, actor != "anonymous")
        cell.audit = audit_since(self.app, self.last_audit_id)
        if cell.audit:
            self.last_audit_id = cell.audit[-1].id
        self.snap = snapshot(self.app)
        cell.db_changed = snapshot_diff(before, self.snap)
        return cell


def run_matrix(app) -> MatrixRun:
    world = make_world(app)
    runner = Runner(app, world)
    rows = load_rows()
    ordered = [r for r in rows if not r.last] + [r for r in rows if r.last]
    cells: list[Cell] = []
    heads: list[Cell] = []
    extra: list[Cell] = []
    oracle = []
    for row in ordered:
        if row.last and not oracle:
            oracle = _oracle_pass(runner, rows, extra)
        for actor in ACTORS:
            if row.method == "POST":
                runner.helper_get(actor)  # a CSRF token of this very session
            cells.append(runner.request(row, actor, row.method))
            if row.method == "GET":
                heads.append(runner.request(row, actor, "HEAD"))
    return MatrixRun(app, world, cells, heads, oracle, extra)


def _oracle_pass(runner: Runner, rows: list[Row], extra: list[Cell]):
    """Every case-scoped GET that answers 404 is compared with the same route for a case id of
    the same length that does not exist."""
    out = []
    for row in rows:
        if row.method != "GET" or "{case}" not in row.path:
            continue
        missing_row = Row(row.endpoint, "GET", row.path.replace("{case}", "{missing_case}"),
                          row.expect, {}, False, False, False, False, "")
        for actor in ACTORS:
            if row.expect[actor] != 404:
                continue
            runner.helper_get(actor)  # no flash message left to show
            real = runner.request(row, actor, "GET")
            missing = runner.request(missing_row, actor, "GET")
            extra += [real, missing]
            a, z = _strip(real.body), _strip(missing.body)
            diff = "" if a == z else _first_difference(a, z)
            out.append((actor, row.label, real.status, missing.status, diff))
    return out


def _first_difference(a: str, b: str) -> str:
    i = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
             min(len(a), len(b)))
    return f"at {i}: {a[max(0, i - 80):i + 80]!r} != {b[max(0, i - 80):i + 80]!r}"


_RUN: list[MatrixRun] = []


def get_matrix_run() -> MatrixRun:
    """The matrix, run once per test process (this module and ``test_headers.py`` share it).
    Its app has a database of its own, closed when the run is over."""
    if not _RUN:
        with app_database() as url:
            app = create_app(make_settings(database_url=url))
            try:
                _RUN.append(run_matrix(app))
            finally:
                app.extensions["bti"].engine.dispose()
    return _RUN[0]


@pytest.fixture(scope="module")
def matrix_run():
    run = get_matrix_run()
    return run.app, run


def _report(capsys, line: str) -> None:
    with capsys.disabled():
        print(f"\n[access matrix] {line}")


def _head_pairs(run: MatrixRun) -> list[tuple[Cell, Cell]]:
    return list(zip([c for c in run.cells if c.method == "GET"], run.heads, strict=True))


#: Views whose HEAD answers unlike their GET: none (HEAD only ever shows what GET shows).
KNOWN_HEAD_BUGS: dict[str, str] = {}


# --- tests ----------------------------------------------------------------------------------------


def test_every_route_and_method_has_a_row(app):
    """A new route, or a new method on one, fails here until the table says who may use it."""
    rows = load_rows()
    have = {(r.endpoint, r.method) for r in rows}
    missing = sorted(route_inventory(app) - have)
    assert not missing, ("routes without a row in access_matrix.toml — add it to "
                         f"access_matrix.toml: {missing}")
    stale = sorted(have - route_inventory(app))
    assert not stale, f"rows in access_matrix.toml for routes that do not exist: {stale}"
    adapter = app.url_map.bind("localhost")
    fake = World({}, {}, 1, 9, 1, 1, 1, {}, 1)
    for r in rows:
        endpoint, _args = adapter.match(fake.fill(r.path).split("?")[0], method=r.method)
        assert endpoint == r.endpoint, (r.label, endpoint)


def test_matrix_has_no_unexpected_allow_or_deny(matrix_run, capsys):
    app, run = matrix_run
    assert not (route_inventory(app) - {(c.row.endpoint, c.method) for c in run.cells}), \
        "add it to access_matrix.toml"
    unexpected_allow, unexpected_deny, other = [], [], []
    for c in run.cells:
        if c.outcome == c.expected:
            continue
        got, want = c.observed_kind, c.expected_kind
        line = f"{c.actor:12} {c.method} {c.url}: expected {c.expected}, got {c.outcome}"
        if got == ALLOW and want != ALLOW:
            unexpected_allow.append(line)
        elif got == DENY and want == ALLOW:
            unexpected_deny.append(line)
        else:
            other.append(line)
    heads = [f"{h.actor:12} HEAD {h.url}: {h.outcome} (GET: {g.outcome})"
             for g, h in _head_pairs(run) if h.outcome != g.outcome
             and g.row.endpoint not in KNOWN_HEAD_BUGS]
    by_class = Counter(c.expected_kind for c in run.cells)
    _report(capsys, f"{len(run.cells)} cells tested ({by_class[ALLOW]} allow, "
                    f"{by_class[DENY]} deny, {by_class[OTHER]} other) + {len(run.heads)} HEAD; "
                    f"{len(unexpected_allow)} unexpected allows, {len(unexpected_deny)} "
                    f"unexpected denies, {len(other)} other differences")
    assert not unexpected_allow, "unexpected allows:\n" + "\n".join(unexpected_allow)
    assert not unexpected_deny, "unexpected denies:\n" + "\n".join(unexpected_deny)
    assert not other, "other differences:\n" + "\n".join(other)
    assert not heads, "HEAD answers differently from GET:\n" + "\n".join(heads)


def test_no_access_404_is_identical_to_a_missing_case(matrix_run, capsys):
    _app, run = matrix_run
    assert run.oracle, "no case-scoped 404 was compared"
    bad = [f"{actor} {label}: {real}/{missing} {diff}"
           for actor, label, real, missing, diff in run.oracle if diff or real != missing]
    _report(capsys, f"{len(run.oracle)} no-access 404 pages compared with a missing case id "
                    f"({run.world.case_id} vs {run.world.missing_case_id})")
    assert not bad, "\n".join(bad)


def test_lists_never_name_the_child_without_a_relation(matrix_run):
    _app, run = matrix_run
    name = PSEUDONYM.encode()
    leaks = [f"{c.actor} {c.method} {c.url}" for c in run.cells + run.heads + run.extra
             if name in c.body and (
                 (c.row.lists and c.actor in NO_RELATION)
                 or c.expected_kind == DENY
                 or c.status >= 400 and c.status not in (409, 422))]
    assert not leaks, "the child's pseudonym is shown to:\n" + "\n".join(leaks)
    listed = [c for c in run.cells if c.row.lists and c.actor in NO_RELATION]
    assert listed
    assert all(c.status == 200 or c.expected_kind == DENY for c in listed)


def test_every_served_read_of_case_data_is_logged(matrix_run, capsys):
    """AUD-01: a 200 with the case's data has a new audit row for that user and case, outcome
    allowed, with a basis; a list that names the child counts as a read of it."""
    _app, run = matrix_run
    served, logged, missing = 0, 0, []
    name = PSEUDONYM.encode()
    for c in run.cells:
        if c.method != "GET" or c.status != 200:
            continue
        if not (c.row.case_data or (c.row.lists and name in c.body)):
            continue
        served += 1
        uid = run.world.user_id(c.actor)
        case_id = (run.world.practice_case_id if "{practice_case}" in c.row.path
                   else run.world.case_id)
        rows = [a for a in c.audit if a.actor_id == uid and a.case_id == case_id
                and a.outcome == "allowed" and a.basis]
        if rows:
            logged += 1
        else:
            seen = [(a.action, a.case_id, a.basis) for a in c.audit]
            missing.append(f"{c.actor} GET {c.url}: {seen}")
    _report(capsys, f"reads logged / reads served: {logged}/{served}")
    assert served >= 10
    assert not missing, "reads served without an audit row:\n" + "\n".join(missing)


def test_get_and_head_change_nothing_but_the_access_log(matrix_run, capsys):
    """WEB-01: safe methods leave every table except audit_event, audit_chain_head and
    user_session.last_seen_at as they were."""
    _app, run = matrix_run
    safe = [c for c in run.cells + run.heads + run.extra if c.method in ("GET", "HEAD")]
    changed = [f"{c.actor} {c.method} {c.url}: {c.db_changed}" for c in safe if c.db_changed]
    _report(capsys, f"{len(safe)} GET/HEAD requests diffed against the database")
    assert not changed, "\n".join(changed)


def test_refused_posts_change_nothing(matrix_run):
    """A refused state change (login redirect, 403, 404, 400) leaves the data as it was; only
    the record of the refusal is written."""
    _app, run = matrix_run
    changed = [f"{c.actor} POST {c.url} → {c.outcome}: {c.db_changed}" for c in run.cells
               if c.method == "POST" and c.observed_kind == DENY and c.db_changed]
    assert not changed, "\n".join(changed)


# --- CSRF on every POST (WEB-01) ------------------------------------------------------------------


def test_every_post_route_needs_a_token_of_its_own_session(app, web_world, login, capsys):
    """No token, and a valid token of another signed-in session: 400 and nothing written,
    for every POST rule in the url_map (as a user the table allows, else as the teacher)."""
    rows = {(r.endpoint, r.method): r for r in load_rows()}
    target = web_world.users["outsider"].id
    posts = sorted((rule.endpoint, rule.rule) for rule in app.url_map.iter_rules()
                   if "POST" in rule.methods)
    assert posts
    actors = {}
    other = login("psychologist", web_world)
    other.get("/auth/login")
    foreign_token = other.token
    checked = 0
    for endpoint, rule in posts:
        if rule.startswith(API_PREFIX):
            continue  # bearer only: test_the_api_ignores_the_session_cookie
        row = rows[(endpoint, "POST")]
        actor = next((a for a in ("teacher", "coordinator", "leader", "admin", "privacy")
                      if expected_class(row.expect[a]) == ALLOW), "teacher")
        if actor not in actors:
            actors[actor] = login(actor, web_world)
        b = actors[actor]
        b.get("/auth/login")
        assert b.token != foreign_token
        url = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: "add_note" if m.group(1) == "trigger"
                     else str(target), rule)
        for label, token in (("no token", None), ("another session's token", foreign_token)):
            before = snapshot(app)
            data = {"expected_version": "1", "reason": REASON, "lang": "en", "roles": "employee"}
            if token is not None:
                data["csrf_token"] = token
            r = b.post(url, data, csrf=False)
            assert r.status_code == 400, (endpoint, label, r.status_code)
            assert snapshot_diff(before, snapshot(app)) == [], (endpoint, label)
            checked += 1
    _report(capsys, f"{len(posts)} POST routes × 2 bad tokens = {checked} CSRF refusals")


def test_the_api_ignores_the_session_cookie(app, web_world, login, capsys):
    """The JSON API is exempt from CSRF because a cookie never signs in there: every /api/ rule
    but the public OpenAPI document, with every method, sent by a signed-in browser (session
    cookie and a CSRF token, no bearer token), answers 401 and writes nothing."""
    from bti.web.policy import PUBLIC
    from bti.web.policy import policy_for

    b = login("teacher", web_world)
    b.get("/auth/login")
    case_id = _open_case_through_web(b)
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith(API_PREFIX)
             and policy_for(app, r.endpoint).kind != PUBLIC]
    assert len(rules) >= 7
    checked = 0
    for rule in rules:
        url = re.sub(r"<[^>]+>", str(case_id), rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            before = snapshot(app)
            r = b.client.open(url, method=method, headers={"X-CSRFToken": b.token},
                              json={"trigger": "add_note", "payload": {"text": "Via kaka"},
                                    "expected_version": 1, "csrf_token": b.token}
                              if method == "POST" else None)
            assert r.status_code == 401, (method, url, r.status_code)
            assert r.get_json()["error"]["code"] == "unauthorized"
            assert snapshot_diff(before, snapshot(app)) == [], (method, url)
            checked += 1
    _report(capsys, f"{checked} API route × method pairs refuse a session cookie (401)")


# --- HEAD is not a POST (WEB-01, AUTHN-02) --------------------------------------------------------


def _open_case_through_web(b: Browser) -> int:
    b.get("/saker/ny")
    r = b.post("/saker/ny", {"child_pseudonym": "HB", "child_birth_year": "2016",
                             "what_seen": "Barnet græt i garderoben fleire dagar.",
                             "violence_suspected": "false"})
    assert r.status_code == 303
    return int(re.search(r"/saker/(\d+)/kvittering$", r.headers["Location"]).group(1))


@pytest.mark.parametrize("endpoint", [
    "auth.login",
    "auth.mfa",
    "auth.password",
    "cases.new_concern",
    "access.emergency",
    "admin.new_user",
    "admin.municipality",
    "admin.new_unit",
    "admin.unit",
    "admin.import_org",
    "audit.review",
])
def test_head_with_a_form_body_changes_nothing(app, web_world, login, endpoint):
    """Every GET+POST route, sent HEAD with a body that would succeed as a POST (and no CSRF
    token): the database is unchanged apart from the access log, and nobody is signed in."""
    assert {r.endpoint for r in app.url_map.iter_rules()
            if {"GET", "POST"} <= r.methods} == {
        "auth.login", "auth.mfa", "auth.password", "cases.new_concern", "access.emergency",
        "admin.new_user", "admin.municipality", "audit.review", "admin.new_unit",
        "admin.unit", "admin.import_org",
    }, "a new GET+POST route: add it to this test"
    users = web_world.users
    case_id = _open_case_through_web(login("teacher", web_world))
    if endpoint == "auth.login":
        b = Browser(app.test_client())
        url, body = "/auth/login", {"username": users["teacher"].username, "password": PASSWORD}
    elif endpoint == "auth.mfa":
        b, url, body = login("teacher", web_world), "/auth/mfa", {"code": "123456"}
    elif endpoint == "auth.password":
        b, url, body = login("teacher", web_world), "/auth/password", {
            "current_password": PASSWORD, "new_password": "eit heilt nytt og langt passord"}
    elif endpoint == "cases.new_concern":
        b, url, body = login("teacher", web_world), "/saker/ny", {
            "child_pseudonym": "HeadBarn", "child_birth_year": "2016",
            "what_seen": "Sendt med HEAD og utan CSRF-token.", "violence_suspected": "false"}
    elif endpoint == "access.emergency":
        b, url, body = login("outsider", web_world), f"/tilgang/sak/{case_id}/naud", {
            "reason": REASON}
    elif endpoint == "audit.review":
        # an item to close: the outsider's emergency access, followed up by the school's leader
        outsider = login("outsider", web_world)
        outsider.get(f"/tilgang/sak/{case_id}/naud")
        assert outsider.post(f"/tilgang/sak/{case_id}/naud", {"reason": REASON}).status_code == 302
        with app.extensions["bti"].session_factory.begin() as s:
            review.run_review(s, app.extensions["bti"].clock())
            item = s.scalars(select(AuditReviewItem.id).where(
                AuditReviewItem.pattern == "emergency_access")).one()
        b, url, body = login("leader", web_world), f"/tilgang/gjennomgang/{item}", {
            "conclusion": "legitimate"}
    elif endpoint == "admin.municipality":
        b, url, body = login("admin", web_world), "/admin/municipality", {
            "barnevern_phone": "00 00 00 99", "barnevern_email": "", "barnevernvakt_phone": ""}
    elif endpoint == "admin.new_unit":
        b, url, body = login("admin", web_world), "/admin/units/new", {
            "name": "Head skule", "kind": "school", "service": ""}
    elif endpoint == "admin.unit":
        b, url, body = login("admin", web_world), \
            f"/admin/units/{web_world.unit_ids['school']}", {
                "name": "Head skule", "kind": "school", "service": ""}
    elif endpoint == "admin.import_org":
        b, url, body = login("admin", web_world), "/admin/import", {
            "file": (io.BytesIO(b"record,unit,kind\nunit,Head skule,school\n"), "org.csv")}
    else:
        b, url, body = login("admin", web_world), "/admin/users/new", {
            "username": "headbrukar", "display_name": "Head Brukar",
            "unit_id": str(web_world.unit_ids["school"]), "roles": "employee"}
    before = snapshot(app)
    r = b.client.open(url, method="HEAD", data=body)
    changed = snapshot_diff(before, snapshot(app))
    assert changed == [], (endpoint, r.status_code, changed)
    if endpoint == "auth.login":
        assert "/auth/login" in b.client.get("/saker/").headers.get("Location", "")


def test_head_login_never_checks_a_password(app, web_world):
    """AUTHN-02: HEAD is not throttled, so it must never reach authenticate(): twelve wrong
    guesses and a right one sent as HEAD sign nobody in."""
    client = app.test_client()
    username = web_world.users["outsider"].username
    for _ in range(12):
        client.open("/auth/login", method="HEAD",
                    data={"username": username, "password": "eit feil passord nummer x"})
    r = client.open("/auth/login", method="HEAD", data={"username": username,
                                                         "password": PASSWORD})
    assert r.status_code == 200, r.status_code
    assert "/auth/login" in client.get("/saker/").headers.get("Location", "")
