"""PRIV-01, PRIV-02, PRIV-05: the case export (innsyn), the archive package, the purge, and the
tombstone replay after a restore, on SQLite and PostgreSQL. Every name and text is made up."""

from __future__ import annotations

import json
import re
import sqlite3
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bti.cli import main
from bti.db.engine import create_schema
from bti.db.engine import make_engine
from bti.db.engine import make_session_factory
from bti.domain.cases import Case
from bti.domain.cases import CaseArchive
from bti.domain.log import AuditEvent
from bti.domain.log import CasePurge
from bti.domain.log import StafettloggEntry
from bti.domain.models import Base
from bti.domain.org import Municipality
from bti.domain.teams import AgendaItem
from bti.migrate import upgrade
from bti.render.pdf import font_path
from bti.render.pdf import latin1
from bti.services.access import audit
from bti.services.access import emergency as access
from bti.services.access import integrity
from bti.services.cases import lifecycle as cases
from bti.services.cases.stafettlogg import verify_all
from bti.services.context import Ctx
from bti.services.errors import InvalidInput
from bti.services.errors import NotFound
from bti.services.family import invitations as family_invitations
from bti.services.privacy import archive as privacy_archive
from bti.services.privacy import export as privacy
from bti.services.privacy import purge as privacy_purge
from bti.services.teams import agenda
from bti.services.teams import keep
from tests.conftest import World
from tests.factories import FIXED_NOW
from tests.factories import TODAY
from tests.factories import make_user

SENTINEL = "Sentinelbarn Qz"
CONCERN_SENTINEL = "SENTINEL-7Q3 trøtt og stille i timane."
REASON = "Barnet kom ikkje på skulen og mor svarar ikkje på telefon."
DAY = TODAY.isoformat()
RETENTION = 30


def _d(n: int) -> str:
    return (TODAY + timedelta(days=n)).isoformat()


def rich_case(w: World, pseudonym: str = SENTINEL, *, close: bool = True, now=None) -> int:
    """A case with a row in every table linked to a case (except the archive), closed."""
    def c(actor):
        return w.ctx(actor, now)

    case = cases.open_case(c(w.teacher), unit_id=None, child_pseudonym=pseudonym,
                           child_birth_year=2016, concern={
                               "what_seen": CONCERN_SENTINEL if pseudonym == SENTINEL
                               else "Anna bekymring.", "since": "Januar",
                               "child_said": "Eg søv dårleg."}).case

    def fire(actor, trigger, payload=None):
        return cases.fire(c(actor), case.id, trigger, payload)

    fire(w.teacher, "start")
    fire(w.teacher, "inform_home", {"informed_on": DAY})
    fire(w.teacher, "record_meeting", {"meeting_kind": "undringssamtale", "held_on": DAY,
                                       "minutes": "Samtale med barnet."})
    fire(w.teacher, "add_note", {"text": "Eit notat."})
    fire(w.teacher, "report_barnevernet", {"sent_on": DAY, "notes": "Sendt."})
    fire(w.teacher, "record_barnevern_feedback", {"received_on": DAY,
                                                  "feedback_kind": "receipt_confirmed"})
    fire(w.teacher, "assess")
    fire(w.teacher, "decide")
    fire(w.leader, "appoint_stafettholder", {"stafettholder": w.coordinator.id})
    fire(w.coordinator, "escalate", {"reason": "Tiltak trengst."})
    fire(w.coordinator, "give_consent", {"given_by": "guardians", "services": [w.health.id],
                                         "information": "Helse og trivsel", "given_on": DAY})
    fire(w.coordinator, "add_participant", {"participant": w.nurse.id, "service": w.health.id})
    fire(w.coordinator, "add_goal", {"goal_text": "Trivst på skulen."})
    # a team's agenda item and its follow-up (bti.services.teams)
    team = keep.create_team(c(w.admin), name=f"Team {case.id}", kind="bti_team")
    keep.add_member(c(w.admin), team.id, w.nurse.id)
    item = fire(w.coordinator, "refer", {"referred_to": "bti_team", "reason": "Teamet."}
                ).entry.object_id
    team_id = w.session.get(AgendaItem, item).team_id
    agenda.record_minutes(c(w.nurse), team_id, item, decision="Ring heim.", follow_ups=[
        agenda.FollowUpInput("Ring", w.nurse.id, c(w.nurse).today() + timedelta(days=3))])
    measure = fire(w.coordinator, "add_measure", {
        "description": "Fast vaksen", "responsible": w.coordinator.id, "start_date": DAY,
        "evaluate_by": _d(30)}).entry.object_id
    fire(w.coordinator, "propose_handover", {"to_user": w.nurse.id, "reason": "Helse"})
    fire(w.nurse, "decline_handover", {"reason": "Ikkje no."})
    invited = family_invitations.invite(c(w.coordinator), case.id, "guardian").member
    from bti.domain.family_voice import FamilyConcern
    from bti.domain.family_voice import FamilyMessage

    w.session.add_all([  # the family's voice: a question, and the concern the case came from
        FamilyMessage(case_id=case.id, member_id=invited.id, text="Kan vi møtast?",
                      sent_at=FIXED_NOW),
        FamilyConcern(municipality_id=w.municipality.id, unit_id=w.school.id,
                      child_name="Mia", child_birth_year=2016, text="Søv dårleg.",
                      raised_at=FIXED_NOW, case_id=case.id)])
    w.session.flush()
    access.request_emergency_access(c(w.outsider), case.id, REASON)
    fire(w.coordinator, "start")
    fire(w.coordinator, "evaluate")
    fire(w.coordinator, "record_evaluation", {
        "measures": [measure], "effect": "good", "child_voice_method": "conversation",
        "outcome": "stop", "child_said": "Betre no.", "evaluated_on": DAY})
    fire(w.coordinator, "decide")
    # a move to the health station and back (case_unit_period): the coordinator holds it again
    fire(w.coordinator, "move_unit", {"to_unit": w.health.id, "given_by": "guardians",
                                      "given_on": DAY, "reason": "Helsestasjonen fylgjer opp",
                                      "new_stafettholder": w.nurse.id})
    fire(w.nurse, "move_unit", {"to_unit": w.school.id, "given_by": "guardians",
                                "given_on": DAY, "reason": "Tilbake til skulen",
                                "new_stafettholder": w.coordinator.id})
    # an individual plan (individual_plan, ansvarsgruppe_member, ansvarsgruppe_meeting): the
    # leader coordinates it and hands the baton back to the coordinator
    fire(w.coordinator, "escalate", {"reason": "Helsestasjonen må inn."})
    _level_cycle(fire, w.coordinator)
    fire(w.coordinator, "handover_ip", {"to_user": w.leader.id, "reason": "Individuell plan."})
    fire(w.leader, "accept_ip_handover", {"reason": "Eg koordinerer planen."})
    fire(w.leader, "add_ansvarsgruppe_member", {"member_kind": "guardian",
                                                "member_name": "Testmor Personvern"})
    fire(w.leader, "record_ansvarsgruppe_meeting", {"held_on": DAY, "place": "Skulen",
                                                    "minutes": "Referat frå ansvarsgruppa."})
    fire(w.leader, "propose_handover", {"to_user": w.coordinator.id, "reason": "Tilbake."})
    fire(w.coordinator, "accept_handover")
    _level_cycle(fire, w.coordinator)
    if close:
        fire(w.coordinator, "close", {"reason": "Mål nådd."})
    w.session.flush()
    return case.id


def _level_cycle(fire, holder) -> None:
    """plan → active → evaluation (the measure evaluated) → decision."""
    m = fire(holder, "add_measure", {"description": "Samtale", "responsible": holder.id,
                                     "start_date": DAY, "evaluate_by": _d(30)}).entry.object_id
    fire(holder, "start")
    fire(holder, "evaluate")
    fire(holder, "record_evaluation", {"measures": [m], "effect": "some",
                                       "child_voice_method": "conversation",
                                       "outcome": "continue", "child_said": "Betre."})
    fire(holder, "decide")


def plain_case(w: World, pseudonym: str, *, close: bool, now=None) -> int:
    def c(actor):
        return w.ctx(actor, now)

    case = cases.open_case(c(w.teacher), unit_id=None, child_pseudonym=pseudonym,
                           child_birth_year=2016, concern={"what_seen": "Noko anna."}).case
    cases.fire(c(w.teacher), case.id, "inform_home", {"informed_on": DAY})
    for trigger in ("start", "assess", "decide"):
        cases.fire(c(w.teacher), case.id, trigger)
    if close:
        cases.fire(c(w.teacher), case.id, "close_no_concern", {"reason": "Ingen grunn."})
    return case.id


# --- an independent foreign-key walk (not the service's) ----------------------------------------


def linked_ids(session, case_id: int) -> dict[str, set[int]]:
    """Every table with rows linked to the case (directly or through parent rows), and the ids."""
    out: dict[str, set[int]] = {"case_record": set(session.scalars(
        select(Case.id).where(Case.id == case_id)))}
    changed = True
    while changed:
        changed = False
        for table in Base.metadata.tables.values():
            conds = []
            for fk in table.foreign_keys:
                parent = fk.column.table.name
                if parent in out and out[parent]:
                    conds.append(fk.parent.in_(sorted(out[parent])))
            if not conds:
                continue
            ids = set(session.scalars(select(table.c.id).where(or_(*conds))))
            if table.name == "case_record":
                continue
            if ids - out.get(table.name, set()):
                out[table.name] = out.get(table.name, set()) | ids
                changed = True
    return {k: v for k, v in out.items() if v}


def linked_tables() -> set[str]:
    names = {"case_record"}
    changed = True
    while changed:
        changed = False
        for table in Base.metadata.tables.values():
            if table.name not in names and any(fk.column.table.name in names
                                               for fk in table.foreign_keys):
                names.add(table.name)
                changed = True
    return names


def _privacy_officer(w: World):
    return make_user(w.session, w.municipality, None, ("privacy_officer",), username="pvo")


# --- export (PRIV-01) ---------------------------------------------------------------------------


def test_every_table_linked_to_a_case_has_an_export_section():
    linked = linked_tables() - {"case_record"}
    assert linked == set(privacy.SECTIONS), (
        "a table linked to case_record is missing from privacy.SECTIONS (the export) or a "
        f"section names no linked table: {sorted(linked ^ set(privacy.SECTIONS))}")
    assert "audit_event" not in linked  # the access log is exported from its own query
    assert "case_purge" not in linked


def test_export_holds_every_row_linked_to_the_case(world, session, tmp_path):
    w = world
    case_id = rich_case(w)
    other = rich_case(w, "Anna barn")  # rows of another case must not leak in
    privacy_archive.archive_case(Ctx(session, None, w.registry, lambda: FIXED_NOW), case_id,
                                 tmp_path)
    session.commit()
    doc = privacy.export_case(w.ctx(w.coordinator), case_id)
    session.commit()
    in_db = linked_ids(session, case_id)
    # the rich case fills every linked table, so the check below covers all of them
    assert set(in_db) == linked_tables(), sorted(linked_tables() - set(in_db))
    assert doc["case"]["id"] == case_id
    for table, ids in in_db.items():
        if table == "case_record":
            continue
        section = privacy.SECTIONS[table][0]
        assert {r["id"] for r in doc[section]} == ids, table
        # every column of every row, credentials (an invitation's code hash) excepted
        cols = {c.name for c in Base.metadata.tables[table].columns
                if f"{table}.{c.name}" not in privacy.NOT_EXPORTED}
        assert all(cols <= set(r) for r in doc[section]), table
        assert not any(f"{table}.{k}" in privacy.NOT_EXPORTED for r in doc[section] for k in r)
    assert not (linked_ids(session, other)["stafettlogg_entry"]
                & {r["id"] for r in doc["stafettlogg"]})
    # the access log: every audit row about the case, with who, role, unit, when, basis
    n_audit = session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.case_id == case_id))
    assert len(doc["access_log"]) == n_audit - 1 > 0  # the export's own row came after it
    opened = next(r for r in doc["access_log"] if r["action"] == "case.opened")
    assert opened["user"] == w.teacher.display_name
    assert opened["unit"] == "Nordvik skule"
    assert opened["roles"] == ["employee"]
    assert opened["basis"] == "reporter"
    assert opened["outcome"] == "allowed"
    assert opened["at"]
    # names and units; the emergency reason is the family's to see
    nurse = next(p for p in doc["participants"] if p["user_id"] == w.nurse.id)
    assert (nurse["user_name"], nurse["unit_name"]) == (w.nurse.display_name, "Helsestasjonen")
    assert doc["emergency_accesses"][0]["reason"] == REASON
    assert doc["people"][str(w.outsider.id)]["name"] == w.outsider.display_name
    assert doc["stafettlogg"][0]["data"]["what_seen"] == CONCERN_SENTINEL
    assert doc["redactions"] == []
    json.dumps(doc)  # serialisable as it is


def test_export_is_for_the_stafettholder_and_the_privacy_officer_only(world, session):
    w = world
    case_id = rich_case(w)
    officer = _privacy_officer(w)
    for actor in (w.coordinator, officer):
        assert privacy.export_case(w.ctx(actor), case_id)["case_id"] == case_id
    for actor in (w.teacher, w.leader, w.nurse, w.outsider, w.admin, w.foreign):
        with pytest.raises(NotFound):
            privacy.export_case(w.ctx(actor), case_id)
    with pytest.raises(NotFound):
        privacy.export_case(w.ctx(officer), case_id + 1000)
    with pytest.raises(InvalidInput):
        privacy.export_case(w.ctx(officer), case_id, "csv")


def test_export_is_audited_with_its_format(world, session):
    w = world
    case_id = rich_case(w)
    privacy.export_case(w.ctx(w.coordinator), case_id, "json")
    privacy.export_case(w.ctx(w.coordinator), case_id, "pdf")
    session.commit()
    rows = session.scalars(select(AuditEvent).where(AuditEvent.action == "case.exported")
                           .order_by(AuditEvent.id)).all()
    assert [(r.actor_id, r.case_id, r.basis, json.loads(r.details)["format"]) for r in rows] \
        == [(w.coordinator.id, case_id, "stafettholder", "json"),
            (w.coordinator.id, case_id, "stafettholder", "pdf")]
    assert list(audit.verify(session)) == []


def test_redaction_rule_replaces_the_value_and_says_so(world, session, monkeypatch):
    w = world
    case_id = rich_case(w)
    monkeypatch.setattr(privacy, "REDACTIONS",
                        {"emergency_access.reason": "third party (test rule)"})
    doc = privacy.export_case(w.ctx(w.coordinator), case_id)
    grant = doc["emergency_accesses"][0]
    assert grant["reason"] == {"redacted": "third party (test rule)"}
    assert grant["user_id"] == w.outsider.id  # the row itself is still there
    assert doc["redactions"] == [{"table": "emergency_access", "id": grant["id"],
                                  "column": "reason", "rule": "third party (test rule)"}]
    assert REASON not in json.dumps(doc, ensure_ascii=False)
    assert REASON not in privacy.pdf_bytes(doc, font=None).decode("latin-1")


def test_pdf_with_the_unicode_font_and_with_the_core_font_fallback(world, session):
    w = world
    case_id = rich_case(w)
    doc = privacy.export_case(w.ctx(w.coordinator), case_id, "pdf")
    doc["notes"][0]["text"] = "Merknad – «Łódź» ✓ æøå ÆØÅ"
    for font in ("default", None):
        pdf = privacy.pdf_bytes(doc, font=font)
        assert pdf.startswith(b"%PDF-")
        assert pdf.rstrip().endswith(b"%%EOF")
    assert latin1("æøå ÆØÅ – Łódź ✓ …") == "æøå ÆØÅ - Lódz ? ..."


def test_export_time_for_a_case_with_1000_log_entries(world, session, capsys):
    w = world
    case = cases.open_case(w.ctx(w.teacher), unit_id=None, child_pseudonym="Tid T.",
                           child_birth_year=2016, concern={"what_seen": "Mykje logg."}).case
    for i in range(999):
        cases.fire(w.ctx(w.teacher), case.id, "add_note", {"text": f"Notat nr. {i} – æøå"})
    session.commit()
    assert case.log_seq == 1000
    started = time.perf_counter()
    doc = privacy.export_case_as_system(session, case.id, FIXED_NOW)
    json_bytes = privacy.json_bytes(doc)
    t_json = time.perf_counter() - started
    started = time.perf_counter()
    pdf = privacy.pdf_bytes(doc)
    t_pdf = time.perf_counter() - started
    assert len(doc["stafettlogg"]) == 1000
    assert len(doc["notes"]) == 999
    with capsys.disabled():
        print(f"\n[PRIV-01 timing] export of a case with 1000 log entries: JSON {t_json:.2f} s "
              f"({len(json_bytes)} bytes), PDF {t_pdf:.2f} s ({len(pdf)} bytes, "
              f"{'DejaVu' if font_path() else 'core font'})")


# --- archive ------------------------------------------------------------------------------------


def _system(session, registry, now=FIXED_NOW) -> Ctx:
    return Ctx(session=session, actor=None, workflows=registry, now=lambda: now)


def test_archive_writes_a_verified_package_of_a_closed_case_only(world, session, tmp_path):
    w = world
    open_id = plain_case(w, "Open O.", close=False)
    with pytest.raises(InvalidInput):
        privacy_archive.archive_case(_system(session, w.registry), open_id, tmp_path)
    with pytest.raises(NotFound):  # a user who is not the privacy officer
        privacy_archive.archive_case(w.ctx(w.coordinator), open_id, tmp_path)
    case_id = rich_case(w)
    row = privacy_archive.archive_case(_system(session, w.registry), case_id, tmp_path)
    session.commit()
    folder = Path(row.path)
    assert sorted(p.name for p in folder.iterdir()) == ["export.json", "export.pdf",
                                                        "manifest.json"]
    assert row.verified_at is not None
    assert privacy_archive.verify_archive(row) is None
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["case_id"] == case_id
    assert json.loads((folder / "export.json").read_text())["case"]["child_pseudonym"] \
        == SENTINEL
    ev = session.scalars(select(AuditEvent).where(AuditEvent.action == "case.archived")).one()
    assert (ev.actor_id, ev.case_id, json.loads(ev.details)["via"]) == (None, case_id, "cli")
    (folder / "export.pdf").write_bytes(b"changed")
    assert privacy_archive.verify_archive(row) == "export.pdf_changed"
    officer = _privacy_officer(w)  # the privacy officer may archive too
    assert privacy_archive.archive_case(w.ctx(officer), case_id, tmp_path).verified_at is not None


# --- purge (PRIV-02) and restore (PRIV-05), on both databases -----------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request, tmp_path):
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'live.sqlite3'}")
        create_schema(eng)
        yield eng
        eng.dispose()
    else:
        yield request.getfixturevalue("pg_owner_engine")  # the purge runs as the owner


class Scenario:
    """Case A due (closed, archived, past retention) and four that must stay: B within
    retention, C closed but never archived, D open, E archived before later activity."""

    def __init__(self, engine, registry, archive_dir: Path):
        self.engine = engine
        self.factory = make_session_factory(engine)
        with self.factory() as s:
            w = World(s, registry, "bti-standard")
            s.get(Municipality, w.municipality.id).case_retention_days = RETENTION
            later = FIXED_NOW + timedelta(days=20)
            self.sha: dict[int, str] = {}
            self.a = rich_case(w)
            self.b = rich_case(w, "Barn B", now=later)
            self.c = plain_case(w, "Barn C", close=True)
            self.d = plain_case(w, "Barn D", close=False)
            self.e = plain_case(w, "Barn E", close=True)
            for case_id, at in ((self.a, FIXED_NOW + timedelta(hours=1)),
                                (self.b, later + timedelta(hours=1)),
                                (self.e, FIXED_NOW + timedelta(hours=1))):
                self.sha[case_id] = privacy_archive.archive_case(
                    _system(s, registry, at), case_id, archive_dir).sha256
            # activity on E after its archive (an emergency access): the archive is stale
            access.request_emergency_access(w.ctx(w.outsider, FIXED_NOW + timedelta(hours=2)),
                                            self.e, REASON)
            s.get(Case, self.e).last_activity_at = FIXED_NOW + timedelta(hours=2)
            s.commit()
            self.municipality_id = w.municipality.id
            self.world_ids = {"outsider": w.outsider.id}
        self.due = FIXED_NOW + timedelta(days=RETENTION, hours=2)

    def counts(self, case_id: int) -> dict[str, int]:
        with self.factory() as s:
            return {t: len(ids) for t, ids in linked_ids(s, case_id).items()}


def residual(engine, case_id: int) -> dict[str, int]:
    """Rows in every table that mention the case: linked by foreign keys, or with a case_id
    column (or an object id of a case) equal to it, or holding the sentinel texts."""
    out: dict[str, int] = {}
    with make_session_factory(engine)() as s:
        for table, ids in linked_ids(s, case_id).items():
            out[table] = len(ids)
        for table in Base.metadata.sorted_tables:
            conds = []
            if "case_id" in table.c:
                conds.append(table.c.case_id == case_id)
            for col in table.columns:
                if isinstance(col.type, (String, Text)):
                    conds += [col.contains(SENTINEL), col.contains(CONCERN_SENTINEL)]
            if conds:
                n = s.scalar(select(func.count()).select_from(table).where(or_(*conds)))
                if n:
                    out[table.name] = max(out.get(table.name, 0), n)
    return out


def _purge(engine, now, **kw) -> privacy_purge.PurgeReport:
    with make_session_factory(engine)() as s:
        report = privacy_purge.purge_due(s, now, via="job", **kw)
        s.commit()
    return report


def test_purge_leaves_nothing_but_the_audit_rows_and_the_tombstone(db, registry, tmp_path,
                                                                  capsys):
    sc = Scenario(db, registry, tmp_path / "archive")
    before = sc.counts(sc.a)
    assert before["stafettlogg_entry"] > 20
    assert before["case_archive"] == 1
    # nothing is due a day before A's retention ends
    assert _purge(db, sc.due - timedelta(days=1)).purged == []
    dry = _purge(db, sc.due, dry_run=True)
    assert [t["case_id"] for t in dry.purged] == [sc.a]
    assert sc.counts(sc.a) == before  # a dry run changes nothing
    report = _purge(db, sc.due)
    assert [t["case_id"] for t in report.purged] == [sc.a]
    assert report.skipped == {sc.c: "not_archived", sc.e: "archive_older_than_last_activity"}
    assert report.purged[0]["counts"] == before

    left = residual(db, sc.a)
    assert set(left) == {"audit_event", "case_purge"}, left
    assert left["case_purge"] == 1
    with capsys.disabled():
        print(f"\n[PRIV-02 {db.dialect.name}] purged case rows per table: {before}; "
              f"residual rows: {left}")
    with make_session_factory(db)() as s:
        tomb = s.scalars(select(CasePurge)).one()
        assert (tomb.case_id, tomb.rule) == (sc.a, "retention")
        assert tomb.archive_sha256 == sc.sha[sc.a]
        assert json.loads(tomb.counts) == before
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "case.purged")).one()
        assert (ev.actor_id, ev.case_id, json.loads(ev.details)["via"],
                json.loads(ev.details)["rule"]) == (None, sc.a, "job", "retention")
        # the other cases are all there, and their chains and the audit chains verify
        assert set(s.scalars(select(Case.id))) == {sc.b, sc.c, sc.d, sc.e}
        assert list(verify_all(s)) == []
        assert list(audit.verify(s)) == []
        # a real purge: the tombstone matches its case.purged audit row, the case is gone
        assert list(integrity.verify(s)) == []
    # the archive stays (it is the archive)
    assert len(list((tmp_path / "archive").iterdir())) == 3


def test_stafettlogg_of_a_case_not_purged_still_cannot_be_deleted_or_changed(db, registry,
                                                                            tmp_path):
    sc = Scenario(db, registry, tmp_path / "archive")
    _purge(db, sc.due)
    for sql in (f"DELETE FROM stafettlogg_entry WHERE case_id = {sc.b}",
                "DELETE FROM stafettlogg_entry",
                f"UPDATE stafettlogg_entry SET data = '{{}}' WHERE case_id = {sc.b}",
                "DELETE FROM audit_event",
                f"DELETE FROM audit_event WHERE case_id = {sc.a}"):
        with db.connect() as conn:
            with pytest.raises(DBAPIError, match="append-only"):
                conn.execute(text(sql))
            conn.rollback()
    # B's log is whole
    with make_session_factory(db)() as s:
        assert s.scalar(select(func.count()).select_from(StafettloggEntry)
                        .where(StafettloggEntry.case_id == sc.b)) > 0


def test_a_case_that_is_not_closed_archived_and_past_retention_is_never_purged(db, registry,
                                                                              tmp_path):
    sc = Scenario(db, registry, tmp_path / "archive")
    far = sc.due + timedelta(days=3650)
    # B is due too at this time; delete B's archive files: it must be skipped, not purged
    with make_session_factory(db)() as s:
        b_archive = s.scalars(select(CaseArchive).where(CaseArchive.case_id == sc.b)).one()
        (Path(b_archive.path) / "export.json").unlink()
    report = _purge(db, far)
    assert [t["case_id"] for t in report.purged] == [sc.a]
    assert report.skipped == {sc.b: "archive_export.json_missing", sc.c: "not_archived",
                              sc.e: "archive_older_than_last_activity"}
    with make_session_factory(db)() as s:
        assert set(s.scalars(select(Case.id))) == {sc.b, sc.c, sc.d, sc.e}


# --- backup, purge, restore, replay (PRIV-05) ---------------------------------------------------


def _backup_sqlite(engine, path: Path) -> None:
    raw = engine.raw_connection()
    try:
        dst = sqlite3.connect(path)
        raw.driver_connection.backup(dst)
        dst.close()
    finally:
        raw.close()


def _dump(engine) -> dict[str, list[dict]]:
    with engine.connect() as conn:
        return {t.name: [dict(r) for r in conn.execute(t.select()).mappings()]
                for t in Base.metadata.sorted_tables}


def _restore_pg(postgres_url: str, dump: dict[str, list[dict]]):
    """A logical restore into a fresh schema (the schema comes from the models)."""
    schema = f"bti_restore_{uuid.uuid4().hex[:10]}"
    admin = make_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    eng = make_engine(postgres_url, connect_args={"options": f"-csearch_path={schema}"})
    create_schema(eng)
    with eng.begin() as conn:
        for table in Base.metadata.sorted_tables:
            rows = dump[table.name]
            if rows:
                conn.execute(table.insert(), rows)
            if "id" in table.c and table.c.id.autoincrement is not False and rows:
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', "
                                  f"'id'), (SELECT max(id) FROM {table.name}))"))
    return eng, schema


@pytest.mark.parametrize("mode", ["retention", "replay"])
@pytest.mark.parametrize("dialect", ["sqlite",
                                     pytest.param("postgres", marks=pytest.mark.postgres)])
def test_restoring_a_backup_does_not_resurrect_a_purged_child(request, registry, tmp_path,
                                                              dialect, mode):
    if dialect == "sqlite":
        live = make_engine(f"sqlite:///{tmp_path / 'live.sqlite3'}")
        create_schema(live)
    else:
        live = request.getfixturevalue("pg_owner_engine")  # the purge runs as the owner
    sc = Scenario(live, registry, tmp_path / "archive")
    # 1. back up
    if dialect == "sqlite":
        _backup_sqlite(live, tmp_path / "backup.sqlite3")
    else:
        dump = _dump(live)
    # 2. purge A; the live database's case_purge table is the journal
    _purge(live, sc.due)
    with make_session_factory(live)() as s:
        journal = privacy_purge.journal(s)
    assert [t["case_id"] for t in journal] == [sc.a]
    # 3. restore into a fresh database: the child is back
    if dialect == "sqlite":
        restored = make_engine(f"sqlite:///{tmp_path / 'backup.sqlite3'}")
        schema = None
    else:
        restored, schema = _restore_pg(request.getfixturevalue("postgres_url"), dump)
    try:
        assert residual(restored, sc.a)["case_record"] == 1
        # 4. replay: by the journal (whatever the retention), or by re-running the retention job
        if mode == "replay":
            report = _purge(restored, FIXED_NOW + timedelta(days=1), replay=journal)
            assert [(t["case_id"], t["rule"]) for t in report.purged] == [(sc.a, "replay")]
            assert report.purged[0]["archive_sha256"] == journal[0]["archive_sha256"]
        else:
            report = _purge(restored, sc.due)
            assert [(t["case_id"], t["rule"]) for t in report.purged] == [(sc.a, "retention")]
        assert set(residual(restored, sc.a)) == {"audit_event", "case_purge"}
        # a second replay finds nothing left to do
        again = _purge(restored, sc.due, replay=journal)
        assert again.purged == []
        assert again.replay_absent == [sc.a]
        with make_session_factory(restored)() as s:
            assert list(verify_all(s)) == []
            assert list(audit.verify(s)) == []
            assert list(integrity.verify(s)) == []
    finally:
        restored.dispose()
        if schema:
            admin = make_engine(request.getfixturevalue("postgres_url"))
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()
        if dialect == "sqlite":
            live.dispose()


# --- the triggers: create_schema and the migrations agree ---------------------------------------


def _norm(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip()


def test_sqlite_triggers_from_models_and_migrations_are_the_same(tmp_path):
    def triggers(engine):
        with engine.connect() as conn:
            return {r[0]: _norm(r[1]) for r in conn.execute(text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))}

    models = make_engine(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    create_schema(models)
    migrated = make_engine(f"sqlite:///{tmp_path / 'b.sqlite3'}")
    upgrade(migrated)
    assert triggers(models) == triggers(migrated)
    assert "case_purge" in triggers(models)["stafettlogg_entry_no_delete"]
    models.dispose()
    migrated.dispose()


@pytest.mark.postgres
def test_postgres_triggers_from_models_and_migrations_are_the_same(pg_engine, postgres_url):
    def triggers(engine):
        with engine.connect() as conn:
            return sorted(_norm(r[0]) for r in conn.execute(text(
                "SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace")))

    expected = triggers(pg_engine)
    schema = f"bti_mig_{uuid.uuid4().hex[:10]}"
    admin = make_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    eng = make_engine(postgres_url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        upgrade(eng)
        strip = re.compile(r"ON \S+\.")
        got = [strip.sub("ON ", t) for t in triggers(eng)]
        assert got == [strip.sub("ON ", t) for t in expected]
        assert any("FOR EACH ROW EXECUTE FUNCTION bti_delete_only_purged()" in t for t in got)
    finally:
        eng.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


# --- the command line ---------------------------------------------------------------------------


def test_cli_archive_purge_export_journal_and_replay(registry, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    engine = make_engine(url)
    create_schema(engine)
    with make_session_factory(engine)() as s:
        w = World(s, registry, "bti-standard")
        s.get(Municipality, w.municipality.id).case_retention_days = RETENTION
        case_id = rich_case(w)
        open_id = plain_case(w, "Open O.", close=False)
        s.commit()
    monkeypatch.setenv("BTI_DATABASE_URL", url)
    monkeypatch.delenv("BTI_PURGE_JOURNAL", raising=False)
    run = CliRunner().invoke

    r = run(main, ["privacy", "export", "--case", str(case_id), "--format", "json",
                   "--out", str(tmp_path / "x.json")])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "x.json").read_text())["case"]["child_pseudonym"] == SENTINEL
    r = run(main, ["privacy", "export", "--case", str(case_id), "--format", "pdf",
                   "--out", str(tmp_path / "x.pdf")])
    assert r.exit_code == 0
    assert (tmp_path / "x.pdf").read_bytes().startswith(b"%PDF-")
    assert run(main, ["privacy", "export", "--case", "99999", "--out",
                      str(tmp_path / "y.json")]).exit_code == 1
    r = run(main, ["privacy", "archive", "--case", str(open_id), "--dir", str(tmp_path / "a")])
    assert r.exit_code == 1
    assert "not closed" in r.output
    r = run(main, ["privacy", "archive", "--case", str(case_id), "--dir", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    assert "verified" in r.output
    # archived now (today), so due RETENTION days from now
    now = (FIXED_NOW + timedelta(days=3 * 365)).isoformat()
    r = run(main, ["privacy", "purge", "--dry-run", "--now", now])
    assert r.exit_code == 0, r.output
    assert "would purge 1 case(s)" in r.output
    assert "stafettlogg_entry:" in r.output
    r = run(main, ["privacy", "purge", "--now", now, "--journal", str(tmp_path / "j.jsonl")])
    assert r.exit_code == 0, r.output
    assert "purged 1 case(s)" in r.output
    assert json.loads((tmp_path / "j.jsonl").read_text())["case_id"] == case_id
    r = run(main, ["privacy", "journal", "--out", str(tmp_path / "j2.jsonl")])
    assert r.exit_code == 0
    assert "1 tombstone(s)" in r.output
    r = run(main, ["privacy", "purge", "--now", now, "--replay", str(tmp_path / "j2.jsonl")])
    assert r.exit_code == 0
    assert "purged 0 case(s)" in r.output
    assert "already purged" in r.output
    with make_session_factory(engine)() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.action.in_(
            ("case.exported", "case.archived", "case.purged"))).order_by(AuditEvent.id)).all()
        assert [(e.action, e.actor_id, json.loads(e.details)["via"]) for e in rows] == [
            ("case.exported", None, "cli"), ("case.exported", None, "cli"),
            ("case.archived", None, "cli"), ("case.purged", None, "cli")]
        assert s.get(Case, case_id) is None
    engine.dispose()
