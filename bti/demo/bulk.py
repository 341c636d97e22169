"""A fictional national-size data set for the dashboards and their benchmark: ``bti demo-data
--cases 100000`` (about 2 million stafettlogg entries) in minutes.

The cases are written with bulk Core inserts, not through ``fire`` (which would take hours), but
they are what ``fire`` would have written for the standard workflow's paths: every case has its
concern, participants, measures, evaluations, consents, reports and handovers, and a stafettlogg
whose hash chain verifies (``bti audit verify``); the case's head, state and dates follow from
its log. The aggregates are then rebuilt with ``bti.services.analytics.aggregates.recompute``. The
entries are sealed like any others (``BTI_LOG_KEYS``), and each case gets one audit row,
``case.generated`` with ``log_seq`` (its whole log was written in bulk, by no one through the app),
so ``bti audit verify`` accounts for every entry. All names and texts are made up; the random
generator is seeded, so a run is repeatable.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime
from datetime import timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.orm import Session

from bti.config import log_keys
from bti.domain.analytics import MeasureCatalogueItem
from bti.domain.cases import GENESIS_HASH
from bti.domain.cases import BarnevernFeedback
from bti.domain.cases import BarnevernReport
from bti.domain.cases import Case
from bti.domain.cases import Concern
from bti.domain.cases import Consent
from bti.domain.cases import ConsentService
from bti.domain.cases import Evaluation
from bti.domain.cases import EvaluationMeasure
from bti.domain.cases import Handover
from bti.domain.cases import Measure
from bti.domain.cases import Meeting
from bti.domain.cases import Note
from bti.domain.cases import Participant
from bti.domain.clock import local_date
from bti.domain.log import SEAL_STAFETTLOGG
from bti.domain.log import StafettloggEntry
from bti.domain.log import canonical_json
from bti.domain.log import chain_hash
from bti.domain.org import Unit
from bti.domain.vocabulary import AuditAction
from bti.services.access import audit
from bti.services.analytics import aggregates
from bti.services.context import utcnow

#: The fictional municipality's catalogue of measures (name, kind, ages).
CATALOGUE = [
    ("Vennegruppe", "selective", 6, 12), ("Leksehjelp", "universal", 6, 16),
    ("Foreldreveiledning (ICDP)", "universal", 0, 18), ("Samtalegruppe for skilsmissebarn",
                                                        "selective", 8, 15),
    ("Miljøterapeut i klassen", "indicated", 6, 16), ("Tett på-samtaler", "indicated", 10, 19),
    ("Aktivitetsguide", "selective", 12, 24), ("Språkgruppe i barnehagen", "universal", 2, 6),
    ("Mestringskurs (Kurs i mestring av depresjon)", "indicated", 13, 24),
    ("Helsesykepleier-oppfølging", "selective", 6, 20), ("De utrolige årene", "indicated", 3, 8),
    ("Fritidskontakt", "selective", 6, 24),
]
#: What each demo measure is, who runs it, and whether it is the municipality's own,
#: inter-municipal or bought (fictional providers).
CATALOGUE_DETAILS: dict[str, tuple[str, str, str]] = {
    "Vennegruppe": ("Små grupper som øver på vennskap og samspill, ledet av miljøarbeider.",
                    "Skolen", "own"),
    "Leksehjelp": ("Gratis leksehjelp etter skoletid to dager i uka.", "Skolen", "own"),
    "Foreldreveiledning (ICDP)": ("Gruppebasert veiledning av foreldre etter ICDP-programmet.",
                                  "Helsestasjonen", "own"),
    "Samtalegruppe for skilsmissebarn": ("Samtalegruppe for barn som opplever at foreldrene "
                                         "flytter fra hverandre.", "Familiens hus", "own"),
    "Miljøterapeut i klassen": ("Miljøterapeut i klasserommet i en periode, med plan og "
                                "evaluering.", "PP-tjenesten", "own"),
    "Tett på-samtaler": ("Faste samtaler med en trygg voksen på skolen.", "Skolehelsetjenesten",
                         "own"),
    "Aktivitetsguide": ("En voksen som hjelper ungdommen inn i en fritidsaktivitet.",
                        "Fritid for alle (interkommunalt)", "inter_municipal"),
    "Språkgruppe i barnehagen": ("Språkstimulering i små grupper i barnehagen.",
                                 "Barnehagen", "own"),
    "Mestringskurs (Kurs i mestring av depresjon)": (
        "Kurs for ungdom med tegn på depresjon.", "Regionalt ungdomsteam (interkommunalt)",
        "inter_municipal"),
    "Helsesykepleier-oppfølging": ("Tett oppfølging hos helsesykepleier over tid.",
                                   "Skolehelsetjenesten", "own"),
    "De utrolige årene": ("Foreldreprogram for familier med barn med atferdsvansker.",
                          "Kjøpt fra et fiktivt kompetansesenter", "bought"),
    "Fritidskontakt": ("Fritidskontakt som gir barnet en aktiv fritid sammen med en voksen.",
                       "Fiktiv Fritid AS", "bought"),
}
EFFECTS = ("good", "some", "some", "none", "worse")
TABLES = [Case, Concern, Participant, Consent, ConsentService, Measure, Evaluation,
          EvaluationMeasure, BarnevernReport, BarnevernFeedback, Handover, Meeting, Note,
          StafettloggEntry]


def seed_catalogue(session: Session, municipality_id: int, now: datetime) -> list[int]:
    """The demo catalogue, its yearly reviews spread over the year (two overdue, one never)."""
    today = local_date(now)
    items = []
    for i, (n, k, a, b) in enumerate(CATALOGUE):
        description, provider, delivery = CATALOGUE_DETAILS.get(n, ("", "", "own"))
        due = None if i == 0 else today + timedelta(days=30 * i - 75)
        items.append(MeasureCatalogueItem(
            municipality_id=municipality_id, name=n, description=description, kind=k,
            age_from=a, age_to=b, active=True, provider=provider, delivery=delivery,
            review_due_on=due, created_at=now, updated_at=now))
    session.add_all(items)
    session.flush()
    return [i.id for i in items]


class _Ids:
    """Explicit primary keys, so rows can refer to each other before they are written."""

    def __init__(self, session: Session) -> None:
        self.next = {m: (session.scalar(select(func.max(m.__table__.c.id))) or 0) + 1
                     for m in TABLES}

    def __call__(self, model) -> int:
        value = self.next[model]
        self.next[model] = value + 1
        return value


def generate(session: Session, registry, *, municipality_id: int, cases: int,
             staff: list[tuple[int, int, int]], health_unit_id: int, catalogue_ids: list[int],
             years: float = 3.0, seed: int = 20261124, batch: int = 2000,
             progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Write ``cases`` cases. ``staff``: (unit id, reporter id, holder id) per unit. Returns
    rows written per table."""
    rnd = random.Random(seed)  # noqa: S311 # nosec B311 - fictional data, repeatable on purpose
    now = utcnow().replace(microsecond=0)
    record_id = registry.current_record_id(session, "bti-standard")
    ids = _Ids(session)
    counts = {m.__tablename__: 0 for m in TABLES}
    conn = session.connection()
    rows: dict[Any, list[dict]] = {m: [] for m in TABLES}

    def flush() -> None:
        generated = rows[Case]
        for model in TABLES:
            if rows[model]:
                conn.execute(model.__table__.insert(), rows[model])
                counts[model.__tablename__] += len(rows[model])
                rows[model] = []
        for case_row in generated:  # the audit rows that account for each generated log
            audit.record_system(session, AuditAction.CASE_GENERATED, now=now,
                                municipality_id=municipality_id, case_id=case_row["id"],
                                object_type="case", object_id=case_row["id"], via="demo",
                                log_seq=case_row["log_seq"])
        audit.write_pending(session)

    span = int(years * 365 * 24 * 3600)
    for i in range(cases):
        unit_id, reporter, holder = staff[i % len(staff)]
        opened = now - timedelta(seconds=rnd.randrange(span))
        _one_case(rnd, ids, rows, now=now, opened=opened, municipality_id=municipality_id,
                  unit_id=unit_id, reporter=reporter, holder=holder, record_id=record_id,
                  health_unit_id=health_unit_id, catalogue_ids=catalogue_ids, number=i + 1)
        if (i + 1) % batch == 0:
            flush()
            if progress:
                progress(i + 1)
    flush()
    if conn.dialect.name == "postgresql":
        conn.execute(text("ANALYZE"))  # fresh statistics for the recompute's joins
    aggregates.recompute(session, registry, municipality_id)
    return counts


def _one_case(rnd: random.Random, ids: _Ids, rows: dict, *, now: datetime, opened: datetime,
              municipality_id: int, unit_id: int, reporter: int, holder: int, record_id: int,
              health_unit_id: int, catalogue_ids: list[int], number: int) -> None:
    case_id = ids(Case)
    keys = log_keys()
    clock = [opened]
    log: list[dict] = []
    case = {"id": case_id, "state": "n0_plan", "level_entered_at": opened, "closed_at": None,
            "stafettholder_id": None, "home_informed_on": None}
    stopped = [False]

    def later(lo: float, hi: float) -> bool:
        """Move the clock on; False (and the case stays where it is) once it passes now."""
        t = clock[0] + timedelta(hours=rnd.uniform(lo, hi) * 24)
        if t >= now:
            stopped[0] = True
            return False
        clock[0] = t
        return True

    def entry(trigger, kind, to_state, data, actor, object_type=None, object_id=None):
        prev = log[-1] if log else None
        values = {"case_id": case_id, "seq": len(log) + 1, "at": clock[0], "actor_id": actor,
                  "kind": kind, "trigger": trigger, "from_state": case["state"] if log else None,
                  "to_state": to_state, "object_type": object_type, "object_id": object_id,
                  "data": canonical_json(data),
                  "prev_hash": prev["hash"] if prev else GENESIS_HASH}
        values["hash"] = chain_hash(values["prev_hash"], StafettloggEntry.content_of(values))
        values["mac"] = keys.seal(SEAL_STAFETTLOGG, values["hash"]) if keys else None
        values["id"] = ids(StafettloggEntry)
        log.append(values)
        if case["state"] != to_state and log[:-1]:
            if to_state == "closed":
                case["closed_at"] = clock[0]
            elif to_state[:2] != case["state"][:2]:
                case["level_entered_at"] = clock[0]
        case["state"] = to_state

    def day(t: datetime | None = None):
        return local_date(t or clock[0])

    concern_id = ids(Concern)
    concern = {"what_seen": "Barnet verkar trøytt og trekkjer seg unna leik.",
               "since": "Etter haustferien"}
    rows[Concern].append({"id": concern_id, "case_id": case_id, **concern, "earlier_concerns":
                          None, "child_said": None, "who_knows": None,
                          "violence_suspected": False, "created_by_id": reporter,
                          "created_at": opened})
    rows[Participant].append({"id": ids(Participant), "case_id": case_id, "user_id": reporter,
                              "unit_id": unit_id, "relation": "reporter", "task": None,
                              "consent_id": None, "added_by_id": reporter, "added_at": opened,
                              "ended_at": None, "end_reason": None})
    entry("open", "concern", "n0_plan", concern, reporter, "concern", concern_id)

    def n0() -> str | None:
        if not later(0.2, 4):
            return None
        entry("start", "phase", "n0_active", {}, reporter)
        if not later(1, 10):
            return None
        if rnd.random() < 0.8:
            meeting_id = ids(Meeting)
            rows[Meeting].append({
                "id": meeting_id, "case_id": case_id, "kind": "undringssamtale",
                "held_on": day(), "attendees": None, "minutes": "Undringssamtale med heimen.",
                "next_meeting_on": None, "team": None, "child_voice_method": None,
                "child_said": None, "created_by_id": reporter, "created_at": clock[0]})
            entry("record_meeting", "meeting", case["state"], {
                "meeting_kind": "undringssamtale", "held_on": day(),
                "minutes": "Undringssamtale med heimen."}, reporter, "meeting", meeting_id)
        case["home_informed_on"] = day()
        entry("inform_home", "home", "n0_active", {"informed_on": day()}, reporter)
        pid = ids(Participant)
        rows[Participant].append({"id": pid, "case_id": case_id, "user_id": holder,
                                  "unit_id": unit_id, "relation": "stafettholder", "task": None,
                                  "consent_id": None, "added_by_id": reporter,
                                  "added_at": clock[0], "ended_at": None, "end_reason": None})
        case["stafettholder_id"] = holder
        entry("appoint_stafettholder", "stafettholder", "n0_active", {"stafettholder": holder},
              reporter, "participant", pid)
        entry("assess", "phase", "n0_evaluation", {}, holder)
        if not later(0.5, 12):
            return None
        entry("decide", "phase", "n0_decision", {}, holder)
        if not later(0.1, 3):
            return None
        r = rnd.random()
        if r < 0.3:
            entry("close_no_concern", "close", "closed", {"reason": "Ingen grunn til uro no."},
                  holder)
            return None
        if r < 0.36:
            entry("continue", "phase", "n0_plan", {"reason": "Vi undersøkjer litt til."},
                  holder)
            return "n0"
        entry("escalate", "level_change", "n1_plan", {"reason": "Tiltak i eiga teneste."}, holder)
        return "n1"

    consent_given = [False]
    #: reports whose receipt barnevernet confirms on the date given, recorded once it has come
    awaited: list[tuple[dict, Any]] = []

    def record_feedback() -> None:
        for report, got in list(awaited):
            if got > day():
                continue
            awaited.remove((report, got))
            feedback_id = ids(BarnevernFeedback)
            rows[BarnevernFeedback].append({
                "id": feedback_id, "report_id": report["id"], "case_id": case_id,
                "stage": "receipt_confirmed", "received_on": got, "notes": None,
                "recorded_by_id": holder, "created_at": clock[0]})
            report["feedback_received_on"] = got
            entry("record_barnevern_feedback", "report", case["state"], {
                "feedback_kind": "receipt_confirmed", "received_on": got,
                "report": report["id"]}, holder, "barnevern_feedback", feedback_id)

    def level(n: int) -> str | None:
        lv = f"n{n}"
        mids = []
        for _ in range(1 if rnd.random() < 0.7 else 2):
            mid = ids(Measure)
            start = day()
            evaluate_by = start + timedelta(days=rnd.choice((28, 42, 56, 90)))
            catalogue = rnd.choice(catalogue_ids) if catalogue_ids and rnd.random() < 0.7 \
                else None
            data = {"description": "Fast samtale med kontaktlærar kvar veke.",
                    "responsible": holder, "start_date": start, "evaluate_by": evaluate_by}
            if catalogue is not None:
                data["catalogue"] = catalogue
            rows[Measure].append({"id": mid, "case_id": case_id,
                                  "description": data["description"], "responsible_id": holder,
                                  "start_date": start, "evaluate_by": evaluate_by,
                                  "status": "active", "level": lv, "setting": None,
                                  "goal_text": None, "catalogue_id": catalogue,
                                  "created_by_id": holder, "created_at": clock[0],
                                  "ended_at": None})
            mids.append(mid)
            entry("add_measure", "measure", case["state"], data, holder, "measure", mid)
        entry("start", "phase", f"{lv}_active", {}, holder)
        if rnd.random() < 0.05:
            report_id = ids(BarnevernReport)
            sent = day()
            got = sent + timedelta(days=rnd.randint(2, 40)) if rnd.random() < 0.8 else None
            report = {
                "id": report_id, "case_id": case_id, "kind": "report", "sent_on": sent,
                "sent_by_id": holder, "reported_to": "barnevern", "grounds": "neglect",
                "notes": None, "feedback_expected_by": sent + timedelta(days=21),
                "feedback_received_on": None, "concluded_on": None, "created_at": clock[0]}
            rows[BarnevernReport].append(report)
            entry("report_barnevernet", "report", case["state"], {"sent_on": sent,
                                                                  "grounds": "neglect"},
                  holder, "barnevern_report", report_id)
            if got is not None:
                awaited.append((report, got))
        if rnd.random() < 0.08:
            hid = ids(Handover)
            proposed = clock[0]
            accepted = rnd.random() < 0.85
            decided = proposed + timedelta(hours=rnd.uniform(2, 24 * 20))
            answered = accepted and decided < now
            rows[Handover].append({"id": hid, "case_id": case_id, "from_user_id": holder,
                                   "to_user_id": reporter, "status": "accepted" if answered
                                   else "proposed", "reason": "Ny stafetthaldar.",
                                   "decline_reason": None, "proposed_at": proposed,
                                   "decided_at": decided if answered else None})
            entry("propose_handover", "handover", case["state"], {
                "to_user": reporter, "reason": "Ny stafetthaldar."}, holder, "handover", hid)
            if not answered:
                stopped[0] = True
                return None
            clock[0] = decided
            entry("accept_handover", "handover", case["state"], {}, reporter, "handover", hid)
            case["stafettholder_id"] = reporter
        if rnd.random() < 0.7:
            if not later(3, 30):
                return None
            meeting_id = ids(Meeting)
            held = day()
            rows[Meeting].append({
                "id": meeting_id, "case_id": case_id, "kind": "cooperation", "held_on": held,
                "attendees": None, "minutes": "Vi gjekk gjennom tiltaka.",
                "next_meeting_on": None, "team": None, "child_voice_method": None,
                "child_said": None, "created_by_id": holder, "created_at": clock[0]})
            entry("record_meeting", "meeting", case["state"], {
                "meeting_kind": "cooperation", "held_on": held,
                "minutes": "Vi gjekk gjennom tiltaka."}, holder, "meeting", meeting_id)
        if rnd.random() < 0.6:
            if not later(1, 20):
                return None
            note_id = ids(Note)
            rows[Note].append({"id": note_id, "case_id": case_id, "created_by_id": holder,
                               "text": "Lysglimt: god dag på skulen i dag.",
                               "created_at": clock[0]})
            entry("add_note", "note", case["state"], {
                "text": "Lysglimt: god dag på skulen i dag."}, holder, "note", note_id)
        if not later(14, 120):
            return None
        record_feedback()
        entry("evaluate", "phase", f"{lv}_evaluation", {}, holder)
        if not later(0.5, 14):
            return None
        eid = ids(Evaluation)
        effect = rnd.choice(EFFECTS)
        voice = rnd.random() < 0.72
        data = {"measures": mids, "effect": effect, "child_voice_method": "conversation",
                "outcome": "continue"}
        data["child_said" if voice else "child_not_heard_reason"] = (
            "Det er litt betre no." if voice else "Barnet ville ikkje snakke om det no.")
        rows[Evaluation].append({
            "id": eid, "case_id": case_id, "level": lv, "effect": effect,
            "child_voice_method": "conversation", "child_said": data.get("child_said"),
            "child_not_heard_reason": data.get("child_not_heard_reason"), "outcome": "continue",
            "notes": None, "evaluated_on": day(), "created_by_id": holder,
            "created_at": clock[0]})
        for mid in mids:
            rows[EvaluationMeasure].append({"id": ids(EvaluationMeasure), "evaluation_id": eid,
                                            "measure_id": mid})
        for m in rows[Measure][-len(mids):]:
            m["status"], m["ended_at"] = "evaluated", clock[0]
        entry("record_evaluation", "evaluation", case["state"], data, holder, "evaluation", eid)
        entry("decide", "phase", f"{lv}_decision", {}, holder)
        if not later(0.1, 5):
            return None
        r = rnd.random()
        up = {1: 0.3, 2: 0.2, 3: 0.0}[n]
        down = {1: 0.0, 2: 0.15, 3: 0.3}[n]
        if r < up:
            if not consent_given[0]:
                cid = ids(Consent)
                rows[Consent].append({
                    "id": cid, "case_id": case_id, "status": "given", "given_by": "guardians",
                    "information": "Skule og helse", "consent_form": "written",
                    "given_on": day(), "expires_on": day() + timedelta(days=365),
                    "withdrawn_at": None, "notes": None, "recorded_by_id": holder,
                    "created_at": clock[0]})
                rows[ConsentService].append({"id": ids(ConsentService), "consent_id": cid,
                                             "unit_id": health_unit_id})
                entry("give_consent", "consent", case["state"], {
                    "given_by": "guardians", "services": [health_unit_id],
                    "information": "Skule og helse", "given_on": day(),
                    "expires_on": day() + timedelta(days=365)}, holder, "consent", cid)
                consent_given[0] = True
            entry("escalate", "level_change", f"n{n + 1}_plan",
                  {"reason": "Fleire tenester trengst."}, holder)
            return f"n{n + 1}"
        if r < up + down:
            entry("deescalate", "level_change", f"n{n - 1}_plan",
                  {"reason": "Mindre hjelp trengst no."}, holder)
            return f"n{n - 1}"
        if r < up + down + 0.3:
            entry("continue", "phase", f"{lv}_plan", {"reason": "Vi held fram med justering."},
                  holder)
            return lv
        entry("close", "close", "closed", {"reason": "Måla er nådde."}, holder)
        return None

    where: str | None = n0()
    while where is not None and not stopped[0] and len(log) < 80:
        where = n0() if where == "n0" else level(int(where[1]))

    last = log[-1]
    rows[StafettloggEntry].extend(log)
    rows[Case].append({
        "id": case_id, "municipality_id": municipality_id, "unit_id": unit_id,
        "workflow_definition_id": record_id, "state": case["state"],
        "child_pseudonym": f"Barn {number}", "child_birth_year": 2004 + number % 22,
        "violence_flag": False, "home_informed_on": case["home_informed_on"],
        "stafettholder_id": case["stafettholder_id"], "opened_by_id": reporter,
        "opened_at": opened, "closed_at": case["closed_at"],
        "level_entered_at": case["level_entered_at"], "last_activity_at": last["at"],
        "log_seq": last["seq"], "log_head": last["hash"], "version": last["seq"]})


def ensure_units(session: Session, municipality_id: int, count: int) -> list[int]:
    """Extra fictional schools and kindergartens, so the set spreads like a real one."""
    units = [Unit(municipality_id=municipality_id, name=f"{kind_name} {i + 1}", kind=kind)
             for i in range(count)
             for kind_name, kind in [("Skule", "school") if i % 3 else ("Barnehage",
                                                                        "kindergarten")]]
    session.add_all(units)
    session.flush()
    return [u.id for u in units]
