"""The case page as the coordinator's cockpit (issue 13, section 1): the read model of where the
case stands, what is in place now and what comes next.

The case is read through the need-to-know load of ``bti.services.cases.lifecycle``
(``actions_view``: ``NotFound`` without access, one audited ``case.viewed``); everything else is
read after that check, for the same case. "What comes next" is the engine's own evaluation of
the actions for this actor and case (``Action.guard_checks``), worded with the domain's
checklist texts (``bti.domain.vocabulary.GUARD_CHECKLIST``): no second copy of the rules.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import timedelta
from typing import Any

from sqlalchemy import exists
from sqlalchemy import literal
from sqlalchemy import select
from sqlalchemy import union_all
from sqlalchemy.orm import selectinload

from bti.domain.analytics import MeasureCatalogueItem
from bti.domain.cases import BarnevernReport
from bti.domain.cases import CaseUnitPeriod
from bti.domain.cases import Consent
from bti.domain.cases import Goal
from bti.domain.cases import Handover
from bti.domain.cases import IndividualPlan
from bti.domain.cases import Measure
from bti.domain.clock import days_between
from bti.domain.clock import local_date
from bti.domain.log import StafettloggEntry
from bti.domain.org import Unit
from bti.domain.org import User
from bti.domain.org import unit_reaches
from bti.domain.org import user_reaches
from bti.domain.rules import consent_is_current
from bti.domain.rules import rests_on_consent
from bti.domain.vocabulary import GUARD_CHECKLIST
from bti.domain.vocabulary import GUARD_DETAILS
from bti.domain.vocabulary import GUARDS
from bti.domain.vocabulary import SIDE_EXITS
from bti.engine import Action
from bti.engine import Refusal
from bti.engine import TransitionDef
from bti.engine.definition import LevelDef
from bti.engine.definition import StateDef
from bti.engine.i18n import fill_title
from bti.engine.i18n import pick
from bti.engine.i18n import refusal_message
from bti.engine.schema import placeholders as placeholder_names
from bti.services.cases import lifecycle as cases
from bti.services.cases.casepage import Deadline
from bti.services.cases.casepage import deadlines
from bti.services.cases.facts import CaseFacts
from bti.services.cases.lifecycle import CaseAccess
from bti.services.context import Ctx

Labels = Mapping[str, str]


class _Params(dict):
    def __missing__(self, key: str) -> str:
        return ""


# --- where we are ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LevelStep:
    """One step of the stepper: a level of the workflow file, with its own label and colour."""

    level: LevelDef
    current: bool
    passed: bool  # a lower-numbered level than the current one (the case has been past it)

    @property
    def id(self) -> str:
        return self.level.id

    def label(self, lang: str) -> str:
        return pick(self.level.label, lang)


@dataclass(frozen=True)
class Where:
    steps: tuple[LevelStep, ...]  # the numbered levels, in number order (nivå 0–3)
    level: LevelDef
    state: StateDef
    phase: str  # plan | active | evaluation | decision | closed
    days_in_level: int
    next_deadline: Deadline | None
    closed: bool


# --- what is in place now ------------------------------------------------------------------------


@dataclass(frozen=True)
class MeasureItem:
    id: int
    description: str
    catalogue_name: str | None
    responsible_id: int
    responsible_name: str
    start_date: date
    evaluate_by: date
    overdue: bool  # the evaluation date has passed


@dataclass(frozen=True)
class GoalItem:
    id: int
    text: str
    level: str


@dataclass(frozen=True)
class ParticipantItem:
    user_id: int
    name: str
    unit_id: int | None
    unit_name: str | None
    #: Why they have access: their relation (``bti.domain.vocabulary.Relation``) ...
    relation: str
    task: str | None
    #: ... and, for another service's participant, the consent it rests on.
    through_consent: bool
    consent_id: int | None


@dataclass(frozen=True)
class ConsentItem:
    id: int
    given_by: str  # guardians | youth | guardians_and_youth
    services: tuple[str, ...]  # unit names
    given_on: date | None
    expires_on: date | None
    expiring_soon: bool  # within the workflow's consent_expiry_warning_days


@dataclass(frozen=True)
class HandoverItem:
    id: int
    from_name: str | None
    to_user_id: int | None  # None: to the coordinating unit (``to_name`` is the unit's)
    to_name: str
    since: date  # the local date it was proposed
    days_waiting: int


@dataclass(frozen=True)
class ReportItem:
    id: int
    sent_on: date
    due: date | None  # barnevernet's first feedback is due (feedback_expected_by)
    answered: bool  # barnevernet has given a first feedback; the concluding one is awaited
    overdue: bool  # unanswered after ``due``


@dataclass(frozen=True)
class InPlace:
    measures: tuple[MeasureItem, ...]
    goals: tuple[GoalItem, ...]
    participants: tuple[ParticipantItem, ...]
    consents: tuple[ConsentItem, ...]
    handover: HandoverItem | None
    reports: tuple[ReportItem, ...]
    stafettholder_name: str | None


# --- what comes next ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckItem:
    """One guard of a transition as a checklist line: met or not, in words, and the action that
    meets it (a trigger of this workflow; ``action_allowed``: this actor may take it now)."""

    guard: str
    met: bool
    refusal: Refusal | None
    action: str | None
    action_allowed: bool
    params: Mapping[str, str]

    def text(self, lang: str) -> str:
        """The condition ("samtykke som dekker en annen tjeneste enn Nordvik skule")."""
        return pick(GUARD_CHECKLIST[self.guard].text, lang).format_map(_Params(self.params))

    def why(self, lang: str) -> str | None:
        """What exactly is missing, when not met (the engine's refusal in words)."""
        if self.refusal is None:
            return None
        return refusal_message(self.refusal, lang, GUARDS, GUARD_DETAILS)


@dataclass(frozen=True)
class NextStep:
    transition: TransitionDef
    #: phase (within the level) | continue (a new round at the level) | up | down | close
    direction: str
    allowed: bool
    role_refused: bool  # the actor's role does not allow it, whatever the guards
    checklist: tuple[CheckItem, ...]

    @property
    def trigger(self) -> str:
        return self.transition.trigger

    def label(self, lang: str) -> str:
        return pick(self.transition.label, lang)


@dataclass(frozen=True)
class Overview:
    access: CaseAccess
    where: Where
    in_place: InPlace
    next_steps: tuple[NextStep, ...]
    #: Every action on the current state for the actor (none on a closed case), allowed or not.
    actions: tuple[Action, ...] = ()
    #: The case's given consents, current or not (read once here, for whoever needs them).
    given: tuple[Consent, ...] = ()
    #: Every measure of the case, whatever its status.
    measures: tuple[Measure, ...] = ()
    #: The names read for the cockpit (people and services that reach the case's
    #: municipality, by id), for whoever shows more of the case on the same page.
    people: Mapping[int, str] = field(default_factory=dict)
    unit_names: Mapping[int, str] = field(default_factory=dict)
    #: Whether the case ever moved (has unit periods) and has an individual plan: a page
    #: reads those only when there is something to read.
    moved: bool = True
    has_ip: bool = True

    def allows(self, trigger: str) -> bool:
        """Whether the actor may take ``trigger`` now (for links beside what it acts on)."""
        return any(a.transition.trigger == trigger and a.allowed for a in self.actions)


def overview(ctx: Ctx, case_id: int) -> Overview:
    """The cockpit of a case for the actor: one audited read (``case.viewed``, as
    ``lifecycle.get_case``); ``NotFound`` without need-to-know. The actions are the engine's
    (``Workflow.actions``, as ``lifecycle.list_actions`` evaluates them), on guards computed
    from the rows read here, so nothing is read twice."""
    return _overview(ctx, cases.get_case(ctx, case_id), None)


def overview_of(ctx: Ctx, access: CaseAccess, actions: list[Action] | None = None) -> Overview:
    """The cockpit from a case already loaded (and audited), for a page that reads the case
    once (``lifecycle.case_view``); ``actions`` None: evaluated here, on the facts read here."""
    return _overview(ctx, access, actions)


def _overview(ctx: Ctx, access: CaseAccess, actions: list[Action] | None) -> Overview:
    case = access.case
    definition = access.workflow.definition
    today = ctx.today()
    now = ctx.now()
    closed = definition.state(case.state).final

    catalogue = MeasureCatalogueItem.__table__
    measure_rows = ctx.session.execute(
        select(Measure, catalogue.c.name)
        .outerjoin(catalogue, catalogue.c.id == Measure.catalogue_id)
        .where(Measure.case_id == case.id).order_by(Measure.evaluate_by, Measure.id)).all()
    all_measures = [m for m, _ in measure_rows]
    given = list(ctx.session.scalars(
        select(Consent).options(selectinload(Consent.services))
        .where(Consent.case_id == case.id, Consent.status == "given").order_by(Consent.id)))
    current_consents = [c for c in given if consent_is_current(c, today)]
    goals = list(ctx.session.scalars(
        select(Goal).where(Goal.case_id == case.id).order_by(Goal.id)))
    # every report of concern at once: the open ones shown here, those the guards and the
    # deadlines ask about are among them
    all_reports = list(ctx.session.scalars(select(BarnevernReport).where(
        BarnevernReport.case_id == case.id, BarnevernReport.kind == "report").order_by(
            BarnevernReport.sent_on, BarnevernReport.id)))
    reports = [r for r in all_reports if r.concluded_on is None]
    facts = CaseFacts(ctx, case, definition, access.participants, consents=given,
                      lapsed=access.lapsed, measures=all_measures, awaiting_reports=reports,
                      reports=all_reports)
    # what the case has at all, in one statement: a waiting handover, unit periods, an IP
    has = ctx.session.execute(select(
        exists().where(Handover.case_id == case.id, Handover.status == "proposed")
        .label("handover"),
        exists().where(CaseUnitPeriod.case_id == case.id).label("moved"),
        exists().where(IndividualPlan.case_id == case.id).label("ip"))).one()
    if not has.handover:
        facts.__dict__["pending_handover"] = None
    if actions is None and not closed:
        actions = access.workflow.actions(case.state, roles=cases.case_roles(ctx, access),
                                          facts=facts)
    handover = facts.pending_handover  # none when its recipient's consent has lapsed
    unevaluated = ({m.id for m in facts.stopped_unevaluated}
                   if any(m.status == "stopped" for m in all_measures) else set())

    # every name at once: people and services
    user_ids = {p.user_id for p in access.participants}
    user_ids |= {m.responsible_id for m in all_measures if m.status == "active"}
    if case.stafettholder_id:
        user_ids.add(case.stafettholder_id)
    if handover is not None:
        if handover.to_user_id is not None:
            user_ids.add(handover.to_user_id)
        if handover.from_user_id is not None:
            user_ids.add(handover.from_user_id)
    unit_ids = {case.unit_id} | {p.unit_id for p in access.participants if p.unit_id}
    unit_ids |= {s.unit_id for c in current_consents for s in c.services}
    if handover is not None and handover.to_unit_id is not None:
        unit_ids.add(handover.to_unit_id)
    # people and services by name in one statement, each as far as it reaches the case's
    # municipality
    named: Any = select(
        literal("n").label("kind"), Unit.id.label("id"), Unit.name.label("name")).where(
            Unit.id.in_(unit_ids), unit_reaches(case.municipality_id))
    if user_ids:
        named = union_all(
            select(literal("u").label("kind"), User.id.label("id"),
                   User.display_name.label("name"))
            .where(User.id.in_(user_ids), user_reaches(case.municipality_id)), named)
    people: dict[int, str] = {}
    units: dict[int, str] = {}
    for kind, key, name in ctx.session.execute(named):
        (people if kind == "u" else units)[key] = name

    to_evaluate = [m for m in all_measures if m.status == "active" or m.id in unevaluated]
    open_deadlines = deadlines(ctx, access, all_measures, current_consents, to_evaluate,
                               reports=all_reports)

    where = _where(definition, case.state, days_between(case.level_entered_at, now),
                   open_deadlines[0] if open_deadlines else None, closed)
    warn = timedelta(days=definition.deadlines.consent_expiry_warning_days)
    in_place = InPlace(
        measures=tuple(
            MeasureItem(m.id, m.description, name, m.responsible_id,
                        people.get(m.responsible_id, ""), m.start_date, m.evaluate_by,
                        m.evaluate_by < today)
            for m, name in measure_rows if m.status == "active"),
        goals=tuple(GoalItem(g.id, g.text, g.level) for g in goals),
        participants=tuple(
            ParticipantItem(p.user_id, people.get(p.user_id, ""), p.unit_id,
                            units.get(p.unit_id) if p.unit_id else None, p.relation, p.task,
                            rests_on_consent(p, case), p.consent_id)
            for p in sorted(access.participants, key=lambda p: p.added_at)),
        consents=tuple(
            ConsentItem(c.id, c.given_by,
                        tuple(sorted(units.get(s.unit_id, "") for s in c.services)),
                        c.given_on, c.expires_on,
                        c.expires_on is not None and c.expires_on - today <= warn)
            for c in current_consents),
        handover=None if handover is None else HandoverItem(
            handover.id, people.get(handover.from_user_id) if handover.from_user_id else None,
            handover.to_user_id,
            people.get(handover.to_user_id, "") if handover.to_user_id is not None
            else units.get(handover.to_unit_id, "") if handover.to_unit_id is not None else "",
            local_date(handover.proposed_at), days_between(handover.proposed_at, now)),
        reports=tuple(
            ReportItem(r.id, r.sent_on, r.feedback_expected_by,
                       r.feedback_received_on is not None,
                       r.feedback_received_on is None and r.feedback_expected_by is not None
                       and r.feedback_expected_by < today)
            for r in reports),
        stafettholder_name=people.get(case.stafettholder_id) if case.stafettholder_id else None,
    )
    return Overview(access, where, in_place,
                    () if closed else next_steps(definition, case.state, actions or [],
                                                 {"unit": units.get(case.unit_id, "")}),
                    tuple(actions or ()), tuple(given), tuple(all_measures), people, units,
                    bool(has.moved), bool(has.ip))


def _where(definition, state_name: str, days: int, deadline: Deadline | None,
           closed: bool) -> Where:
    state = definition.state(state_name)
    level = definition.level(state.level)
    numbered = sorted((lv for lv in definition.levels if lv.number is not None),
                      key=lambda lv: lv.number)
    steps = tuple(
        LevelStep(lv, lv.id == level.id,
                  level.number is not None and lv.number < level.number)
        for lv in numbered)
    return Where(steps, level, state, state.phase, days, deadline, closed)


def _direction(definition, t: TransitionDef, source: str) -> str:
    dest = definition.state(t.dest)
    if dest.final:
        return "close"
    here = definition.level_of(source)
    there = definition.level(dest.level)
    if here.id == there.id:
        phases = ("plan", "active", "evaluation", "decision")
        src_phase = definition.state(source).phase
        return "continue" if phases.index(dest.phase) <= phases.index(src_phase) else "phase"
    if here.number is None or there.number is None:
        return "up"
    return "up" if there.number > here.number else "down"


#: Guards of a step that only answers something waiting (the acceptance of a handover to an
#: individual plan): while nothing waits, the step is not a way forward and is not listed.
ANSWER_GUARDS = frozenset({"ip_handover"})


def next_steps(definition, state: str, actions: list[Action],
               params: Mapping[str, str]) -> tuple[NextStep, ...]:
    """The transitions that move the case on from ``state`` (not the internal ones that only
    record, nor the standing exits), in file order, each with its guards as a checklist taken
    from the engine's evaluation (``Action.guard_checks``) of ``actions``."""
    allowed_now = {a.transition.trigger for a in actions if a.allowed}
    out = []
    for a in actions:
        t = a.transition
        if t.internal or t.standing or t.effect in SIDE_EXITS:
            continue
        if any(r.code == "guard" and r.guard in ANSWER_GUARDS for r in a.refusals):
            continue
        checklist = tuple(
            CheckItem(guard, refusal is None, refusal, GUARD_CHECKLIST[guard].action,
                      GUARD_CHECKLIST[guard].action in allowed_now, dict(params))
            for guard, refusal in a.guard_checks)
        out.append(NextStep(t, _direction(definition, t, state), a.allowed,
                            any(r.code == "role" for r in a.refusals), checklist))
    return tuple(out)


# --- the stafettlogg as a record: entry titles in the past tense -------------------------------

#: Free text in a title is cut here (the entry itself shows it whole).
TITLE_TEXT_MAX = 60


@dataclass(frozen=True)
class EntryTitle:
    """The past-tense title of one stafettlogg entry, from its transition's ``title`` in the
    workflow file with the entry's payload in words (people, services, catalogue measures and
    the case's measures by name, options by their label)."""

    template: Labels | None  # None: the entry's transition is not in the file (shown by kind)
    values: Mapping[str, Mapping[str, str] | str | list[str]]

    def text(self, lang: str) -> str | None:
        if self.template is None:
            return None
        return fill_title(self.template, lang, {
            k: (pick(v, lang) if isinstance(v, Mapping) else v) for k, v in self.values.items()})


def _cut(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= TITLE_TEXT_MAX else text[:TITLE_TEXT_MAX - 1].rstrip() + "…"


def entry_titles(ctx: Ctx, access: CaseAccess, entries: list[StafettloggEntry], *,
                 names: Mapping[str, Mapping[int, Any]] | None = None
                 ) -> dict[int, EntryTitle]:
    """The title of each entry (by ``seq``) of a case already loaded for the actor (``access``):
    the names its placeholders need are read at once, in at most four statements, whatever the
    number of entries. ``names``: tables of names the caller has read already (``user``,
    ``unit``, ``measure``, ``catalogue``, ``report`` by id), then nothing is read here."""
    case = access.case
    workflow = access.workflow
    definition = workflow.definition
    wanted: list[tuple[StafettloggEntry, Labels | None, dict[str, Any]]] = []
    ids: dict[str, set[int]] = {"user": set(), "unit": set(), "measure": set(),
                                "catalogue": set(), "report": set()}
    for e in entries:
        if e.trigger == "open":
            template = definition.opening.title
        else:
            t = workflow.transition(e.trigger, e.from_state) if e.from_state else None
            template = t.title if t else None
        data = json.loads(e.data or "{}")
        used = {n for text in (template or {}).values() for n in placeholder_names(text) or ()}
        data = {k: v for k, v in data.items() if k in used}
        wanted.append((e, template, data))
        for key, value in data.items():
            fdef = definition.fields.get(key)
            kind = _ID_KIND.get(fdef.type) if fdef else None
            if kind is not None:
                ids[kind] |= {v for v in (value if isinstance(value, list) else [value])
                              if isinstance(v, int)}
    tables = _lookups(ctx, case, ids) if names is None else {
        "user": {i: str(v) for i, v in names.get("user", {}).items()},
        "unit": {i: str(v) for i, v in names.get("unit", {}).items()},
        "measure": {i: _cut(v) for i, v in names.get("measure", {}).items()},
        "catalogue": {i: str(v) for i, v in names.get("catalogue", {}).items()},
        "report": {i: v.isoformat() if isinstance(v, date) else str(v)
                   for i, v in names.get("report", {}).items()}}
    out: dict[int, EntryTitle] = {}
    for e, template, data in wanted:
        values: dict[str, Any] = {}
        for key, value in data.items():
            fdef = definition.fields.get(key)
            values[key] = _word(fdef, value, tables) if key != "reason" else _cut(value)
        out[e.seq] = EntryTitle(template, values)
    return out


#: Field types whose value is an id (or ids) named by a lookup table.
_ID_KIND = {"user": "user", "unit": "unit", "units": "unit", "measure": "measure",
            "measures": "measure", "catalogue": "catalogue", "report": "report"}


def _lookups(ctx: Ctx, case, ids: dict[str, set[int]]) -> dict[str, dict[int, str]]:
    """Names for the ids, each table read only when an id of its kind is wanted, and only
    within the case's municipality (people, services, catalogue) or the case (measures,
    reports)."""
    out: dict[str, dict[int, str]] = {k: {} for k in ids}
    if ids["user"]:
        out["user"] = dict(ctx.session.execute(select(User.id, User.display_name).where(
            User.id.in_(ids["user"]), user_reaches(case.municipality_id))).all())
    if ids["unit"]:
        out["unit"] = dict(ctx.session.execute(select(Unit.id, Unit.name).where(
            Unit.id.in_(ids["unit"]), unit_reaches(case.municipality_id))).all())
    if ids["measure"]:
        out["measure"] = {i: _cut(d) for i, d in ctx.session.execute(
            select(Measure.id, Measure.description).where(
                Measure.id.in_(ids["measure"]), Measure.case_id == case.id)).all()}
    if ids["catalogue"]:
        out["catalogue"] = dict(ctx.session.execute(
            select(MeasureCatalogueItem.id, MeasureCatalogueItem.name).where(
                MeasureCatalogueItem.id.in_(ids["catalogue"]),
                MeasureCatalogueItem.municipality_id == case.municipality_id)).all())
    if ids["report"]:
        out["report"] = {i: d.isoformat() for i, d in ctx.session.execute(
            select(BarnevernReport.id, BarnevernReport.sent_on).where(
                BarnevernReport.id.in_(ids["report"]),
                BarnevernReport.case_id == case.id)).all()}
    return out


def _word(fdef, value: Any, names: dict[str, dict[int, str]]):
    """A payload value as words: a name, a list of names, an option's labels (per language),
    an ISO date (``fill_title`` writes it as dd.mm.yyyy) or cut free text; never ``#7``."""
    if fdef is None:
        return _cut(value)
    kind = _ID_KIND.get(fdef.type)
    if kind is not None:
        table = names[kind]
        if isinstance(value, list):
            return [table.get(v, "") for v in value if table.get(v)]
        return table.get(value, "") if isinstance(value, int) else ""
    if fdef.type == "choice":
        option = next((o for o in fdef.options if o.value == value), None)
        return option.label if option else str(value)
    if fdef.type in ("consent", "handover"):
        return ""
    if fdef.type == "bool":
        return {"nb": "ja", "nn": "ja", "en": "yes"} if value else \
            {"nb": "nei", "nn": "nei", "en": "no"}
    if fdef.type in ("text", "textarea"):
        return _cut(value)
    return str(value)
