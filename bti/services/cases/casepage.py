"""Read models for the concern form and the case page, and which fields a workflow form has
(turning posted strings into payloads is the web's: ``bti.web.forms``).

Every read of a case goes through ``bti.services.cases.lifecycle`` (``get_case``, ``list_actions``,
``log_entries``), which check need-to-know, raise ``NotFound`` and write the audit rows. The rows
read here besides (measures, consents, names) are only read after that check, for the same case.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING
from typing import Any

from sqlalchemy import select

from bti.domain.analytics import MeasureCatalogueItem
from bti.domain.cases import BarnevernReport
from bti.domain.cases import Case
from bti.domain.cases import Consent
from bti.domain.cases import Handover
from bti.domain.cases import Measure
from bti.domain.cases import Participant
from bti.domain.log import StafettloggEntry
from bti.domain.org import Municipality
from bti.domain.org import Unit
from bti.domain.org import User
from bti.domain.org import UserRole
from bti.domain.org import unit_reaches
from bti.domain.org import user_reaches
from bti.domain.policy import CASE_WORK_ROLES
from bti.domain.policy import may_open_case
from bti.domain.rules import CONSENT_RELATIONS
from bti.domain.rules import case_coverage
from bti.domain.rules import child_age
from bti.domain.rules import consent_is_current
from bti.domain.rules import expired_unrenewed
from bti.domain.vocabulary import EFFECTS
from bti.domain.vocabulary import FAMILY_VIA
from bti.domain.vocabulary import FAMILY_VIA_LABEL
from bti.domain.vocabulary import LOG_KINDS
from bti.domain.vocabulary import SIDE_EXITS
from bti.engine import Action
from bti.engine import TransitionDef
from bti.engine import WorkflowDefinition
from bti.engine.definition import FieldDef
from bti.engine.definition import GuidanceDef
from bti.engine.definition import LevelDef
from bti.engine.definition import Option
from bti.engine.definition import StateDef
from bti.engine.inputs import parse_int
from bti.services.cases import handover as handovers
from bti.services.cases import inbox
from bti.services.cases import lifecycle as cases
from bti.services.cases import moves
from bti.services.cases import stafettlogg
from bti.services.cases.ansvarsgruppe import IpSummary
from bti.services.cases.ansvarsgruppe import ip_summary
from bti.services.cases.facts import CaseFacts
from bti.services.cases.facts import stopped_unevaluated
from bti.services.cases.handover import HolderAfter
from bti.services.cases.lifecycle import CaseAccess
from bti.services.context import Ctx
from bti.services.errors import Forbidden
from bti.services.errors import NotFound

if TYPE_CHECKING:
    from bti.services.cases.overview import EntryTitle
    from bti.services.cases.overview import Overview

#: Fields that carry the child's voice; forms show them first, in their own group.
CHILD_VOICE_FIELDS = ("child_voice_method", "child_said", "child_not_heard_reason")
#: Field types whose value is one id / a list of ids.
ID_TYPES = ("int", "user", "unit", "measure", "consent", "handover", "report", "catalogue")
LIST_TYPES = ("units", "measures")


# --- the municipality's workflow and its people ----------------------------------------------


def current_definition(ctx: Ctx) -> WorkflowDefinition:
    """The workflow new cases in the actor's municipality start on."""
    municipality = ctx.session.get_one(Municipality, ctx.actor.municipality_id)
    record_id = ctx.workflows.current_record_id(ctx.session, municipality.workflow_id)
    return ctx.workflows.for_record(ctx.session, record_id).definition


def may_open(ctx: Ctx, definition: WorkflowDefinition) -> bool:
    return may_open_case(ctx.actor, definition.opening.roles)


@dataclass(frozen=True)
class Colleague:
    id: int
    name: str
    unit_name: str | None


def colleagues(ctx: Ctx, municipality_id: int | None = None) -> list[Colleague]:
    """Active users who work on cases, with their unit's name: of the actor's municipality, or
    of the case's (``municipality_id``) with the staff of the inter-municipal services serving
    it (who may take part as participants of their service)."""
    workers = select(UserRole.user_id).where(UserRole.role.in_(sorted(CASE_WORK_ROLES)))
    where = (User.municipality_id == ctx.actor.municipality_id if municipality_id is None
             else user_reaches(municipality_id))
    rows = ctx.session.execute(
        select(User.id, User.display_name, Unit.name)
        .outerjoin(Unit, Unit.id == User.unit_id)
        .where(where, User.active.is_(True), User.id.in_(workers))
        .order_by(User.display_name, User.id))
    return [Colleague(r[0], r[1], r[2]) for r in rows]


@dataclass(frozen=True)
class UnitItem:
    id: int
    name: str
    kind: str = ""


def units(ctx: Ctx, municipality_id: int | None = None) -> list[UnitItem]:
    """The active units (services) of the actor's municipality, by name; for a case's
    municipality (``municipality_id``) also the inter-municipal services serving it."""
    where = (Unit.municipality_id == ctx.actor.municipality_id if municipality_id is None
             else unit_reaches(municipality_id))
    rows = ctx.session.execute(
        select(Unit.id, Unit.name, Unit.kind).where(where, Unit.active.is_(True))
        .order_by(Unit.name, Unit.id))
    return [UnitItem(r[0], r[1], r[2]) for r in rows]


# --- form fields --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormField:
    """One control of a workflow form. ``label`` is None only for the transition's reason."""

    name: str
    type: str
    label: Mapping[str, str] | None
    help: Mapping[str, str] | None
    options: tuple[Option, ...]
    required: bool
    child_voice: bool = False


REASON = "reason"


def _form_field(fdef: FieldDef, required: bool) -> FormField:
    return FormField(fdef.name, fdef.type, fdef.label, fdef.help, fdef.options, required,
                     fdef.name in CHILD_VOICE_FIELDS)


def _ordered(fields: list[FormField]) -> list[FormField]:
    """The child's voice first (an evaluation without it is not an evaluation)."""
    return [f for f in fields if f.child_voice] + [f for f in fields if not f.child_voice]


def transition_fields(definition: WorkflowDefinition, t: TransitionDef) -> list[FormField]:
    out = [_form_field(definition.fields[n], True) for n in t.fields]
    out += [_form_field(definition.fields[n], False) for n in t.optional]
    out = _ordered(out)
    if t.reason:
        out.append(FormField(REASON, "textarea", None, None, (), True))
    return out


def opening_fields(definition: WorkflowDefinition) -> list[FormField]:
    o = definition.opening
    return ([_form_field(definition.fields[n], True) for n in o.fields]
            + [_form_field(definition.fields[n], False) for n in o.optional])


# --- deadlines --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deadline:
    due: date
    #: level_decision | measure_evaluation | barnevern_feedback | consent_expiry
    what: str
    overdue: bool


def level_deadline(definition: WorkflowDefinition, case: Case) -> date | None:
    """When the decision at the case's current level is due, if the workflow sets a limit: the
    inbox's rule (``inbox.level_due``), so the cockpit, the lists, the scan and the calendar
    name one date."""
    return inbox.level_due(case, definition)


def deadlines(ctx: Ctx, access: CaseAccess, measures: list[Measure],
              consents: list[Consent], to_evaluate: Iterable[Measure] = (), *,
              reports: Iterable[BarnevernReport] | None = None) -> list[Deadline]:
    """Every open deadline on the case, soonest first (``to_evaluate``: the measures awaiting
    an evaluation, stopped ones included; ``reports``: the case's reports of concern, when the
    caller has read them all already)."""
    case = access.case
    definition = access.workflow.definition
    if definition.state(case.state).final:
        return []
    today = ctx.today()
    found: list[tuple[date, str]] = []
    due = level_deadline(definition, case)
    if due:
        found.append((due, "level_decision"))
    found += [(m.evaluate_by, "measure_evaluation") for m in measures if m.status == "active"]
    # a measure stopped without an evaluation still needs one, by its evaluation date
    found += [(m.evaluate_by, "measure_evaluation") for m in to_evaluate
              if m.status == "stopped"]
    # the legal deadline is the first answer's: once barnevernet has answered, none is owed
    if reports is None:
        reports = ctx.session.scalars(select(BarnevernReport).where(
            BarnevernReport.case_id == case.id, BarnevernReport.kind == "report",
            BarnevernReport.feedback_received_on.is_(None),
            BarnevernReport.feedback_expected_by.is_not(None)))
    found += [(r.feedback_expected_by, "barnevern_feedback") for r in reports
              if r.feedback_expected_by is not None and r.feedback_received_on is None]
    found += [(c.expires_on, "consent_expiry") for c in consents
              if c.expires_on is not None and consent_is_current(c, today)]
    found.sort()
    return [Deadline(d, what, d < today) for d, what in found]


# --- the case page ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    case: Case
    unit_name: str
    level: LevelDef
    state: StateDef
    stafettholder_name: str | None
    next_deadline: Deadline | None


@dataclass(frozen=True)
class LogField:
    label: Mapping[str, str] | None  # None: the reason
    type: str  # a field type, or "reason"
    value: Any  # str, bool, date, a label mapping (choice), or a list of str


@dataclass(frozen=True)
class LogItem:
    entry: StafettloggEntry
    actor_name: str
    label: Mapping[str, str] | None  # the transition's label (what was done)
    fields: list[LogField]
    #: The past-tense title ("Kari Kvam ble stafettholder"); None: shown by its label.
    title: EntryTitle | None = None
    #: Shown on the family's page (``stafettlogg.FAMILY_KEY``).
    shared: bool = False

    def heading(self, lang: str) -> str | None:
        return self.title.text(lang) if self.title is not None else None


@dataclass(frozen=True)
class ActionForm:
    action: Action
    fields: list[FormField]
    #: Whether the entry it writes is shared with the family unless the writer says otherwise.
    shared_default: bool = False

    @property
    def trigger(self) -> str:
        return self.action.transition.trigger

    @property
    def role_refused(self) -> bool:
        return any(r.code == "role" for r in self.action.refusals)


@dataclass(frozen=True)
class ActionGroups:
    standing: list[ActionForm]  # the duty to report: always shown first
    moves: list[ActionForm]  # steps that move the case
    records: list[ActionForm]  # recordings that leave the case where it is
    not_for_role: list[ActionForm]  # refused because of the user's role

    def find(self, trigger: str) -> ActionForm | None:
        for form in (*self.standing, *self.moves, *self.records, *self.not_for_role):
            if form.trigger == trigger:
                return form
        return None


@dataclass(frozen=True)
class FormOptions:
    colleagues: list[Colleague]
    units: list[UnitItem]
    measures: list[Measure]  # active measures on the case
    consents: list[Consent]  # current consents on the case
    handovers: list[Handover]  # pending handovers on the case
    #: The municipality's active catalogue measures (tiltaksoversikt), to start a measure from:
    #: those for the child's age first (``catalogue_fits``), then the others, each by name.
    catalogue: list[MeasureCatalogueItem] = field(default_factory=list)
    #: Measures an evaluation may cover: the active ones and those stopped without one.
    to_evaluate: list[Measure] = field(default_factory=list)
    #: Reports to barnevernet awaiting feedback (no concluding stage yet), oldest first.
    reports: list[BarnevernReport] = field(default_factory=list)
    #: The child's age this year, from the birth year (``bti.domain.rules.child_age``).
    child_age: int | None = None
    #: Ids of the catalogue measures whose age range holds the child's age.
    catalogue_fits: frozenset[int] = frozenset()


@dataclass(frozen=True)
class LostAccess:
    name: str
    unit_name: str | None


@dataclass(frozen=True)
class ExpiredConsent:
    """A consent that ran out and is not renewed, and who lost access to the case with it
    (derived from the rows on every read: nothing waits for a scheduled job)."""

    consent: Consent
    services: list[str]  # the services it covered, by name
    lost: list[LostAccess]


@dataclass(frozen=True)
class OtherActions:
    """The actions besides the next step that this user may take now, grouped for the case
    page: ``record`` (notes, meetings, evaluations, the flag), ``plan`` (measures, goals,
    consents, the home informed), ``people`` (stafettholder, participants, handovers) and
    ``duties`` (the reports to barnevernet and the police, always reachable)."""

    record: list[ActionForm]
    plan: list[ActionForm]
    people: list[ActionForm]
    duties: list[ActionForm]

    def groups(self) -> list[tuple[str, list[ActionForm]]]:
        return [(name, forms) for name, forms in (
            ("duties", self.duties), ("record", self.record), ("plan", self.plan),
            ("people", self.people)) if forms]


#: Which group of "other actions" an effect's log kind belongs to (``EffectSpec.kind``).
ACTION_GROUP = {"note": "record", "meeting": "record", "evaluation": "record",
                "flag": "record", "measure": "plan", "goal": "plan", "consent": "plan",
                "home": "plan", "stafettholder": "people", "participant": "people",
                "handover": "people", "report": "duties", "referral": "record",
                "move": "people"}


def shared_default(definition: WorkflowDefinition, t: TransitionDef, state: str | None) -> bool:
    """The workflow's default (``[family_sharing]``) for the entry ``t`` writes from ``state``."""
    source = state if state in {s.name for s in definition.states} else t.sources[0]
    kind = cases.entry_kind(definition, source, t.dest or source, t.effect)
    return definition.shared_by_default(kind)


def _action_form(definition: WorkflowDefinition, a: Action, state: str | None) -> ActionForm:
    t = a.transition
    return ActionForm(a, transition_fields(definition, t), shared_default(definition, t, state))


def other_actions(definition: WorkflowDefinition, actions: list[Action],
                  state: str | None = None) -> OtherActions:
    """The internal and standing actions this actor may take now (refused ones are left out:
    the checklist of the next step says what is missing, and links to what meets it)."""
    out = OtherActions([], [], [], [])
    for a in actions:
        t = a.transition
        side = t.effect in SIDE_EXITS
        if not (t.internal or t.standing or side) or not a.allowed:
            continue
        spec = EFFECTS.get(t.effect)
        group = "duties" if t.standing else "people" if side else ACTION_GROUP.get(
            spec.kind if spec else "", "record")
        getattr(out, group).append(_action_form(definition, a, state))
    return out


@dataclass(frozen=True)
class CasePage:
    access: CaseAccess
    header: Header
    overview: Overview
    others: OtherActions
    log: list[LogItem]  # newest first, filtered by ``kind``
    total_entries: int  # of that kind; ``log`` may show only the newest of them
    shown: int  # how many entries the page asked for ("show more" asks for more)
    kind: str | None
    kinds: tuple[str, ...]
    closed: bool
    today: date
    expired_consents: list[ExpiredConsent] = field(default_factory=list)
    #: The units the case has been in, oldest first (empty: it never moved).
    units: list[moves.Stretch] = field(default_factory=list)
    #: The case's individual plan and its coordinator (an IP case), else None.
    ip: IpSummary | None = None


def group_actions(definition: WorkflowDefinition, actions: list[Action],
                  state: str | None = None) -> ActionGroups:
    groups = ActionGroups([], [], [], [])
    for a in actions:
        form = _action_form(definition, a, state)
        t = a.transition
        if t.standing:
            groups.standing.append(form)
        elif form.role_refused:
            groups.not_for_role.append(form)
        elif t.internal:
            groups.records.append(form)
        else:
            groups.moves.append(form)
    return groups


def _names(ctx: Ctx, municipality_id: int, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(ctx.session.execute(select(User.id, User.display_name).where(
        User.id.in_(ids), user_reaches(municipality_id))).all())


def _catalogue(ctx: Ctx, municipality_id: int, age: int) -> list[MeasureCatalogueItem]:
    """The active catalogue, those for the child's ``age`` first, each part by name."""
    items = ctx.session.scalars(select(MeasureCatalogueItem).where(
        MeasureCatalogueItem.municipality_id == municipality_id,
        MeasureCatalogueItem.active.is_(True)).order_by(MeasureCatalogueItem.name,
                                                        MeasureCatalogueItem.id))
    return sorted(items, key=lambda i: not i.age_from <= age <= i.age_to)


def _unit_names(ctx: Ctx, municipality_id: int) -> dict[int, str]:
    return dict(ctx.session.execute(select(Unit.id, Unit.name).where(
        unit_reaches(municipality_id))).all())


def _log_value(fdef: FieldDef | None, value: Any, lookups: dict[str, dict[int, Any]]) -> Any:
    kind = fdef.type if fdef else "textarea"
    if kind == "choice" and fdef is not None:
        option = next((o for o in fdef.options if o.value == value), None)
        return option.label if option else str(value)
    if kind == "bool":
        return bool(value)
    if kind == "date":
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            return str(value)
    if kind in LIST_TYPES:
        table = lookups["unit" if kind == "units" else "measure"]
        return [table[v] for v in (value if isinstance(value, list) else [value])
                if isinstance(v, int) and v in table]
    if kind in _LOOKUP:  # a name (or, for a report, the date it was sent); never "#7"
        return lookups[_LOOKUP[kind]].get(value) if isinstance(value, int) else None
    if kind in ID_TYPES:
        return None
    return str(value)


#: Field types named by a lookup table in the log (the table's name).
_LOOKUP = {"user": "user", "unit": "unit", "measure": "measure", "report": "report",
           "catalogue": "catalogue", "consent": "consent", "handover": "handover"}


def _form_order(definition: WorkflowDefinition, trigger: str, from_state: str | None,
                access: CaseAccess) -> dict[str, int]:
    """Field name → its place in the entry's form (the child's voice first, the reason last)."""
    if trigger == "open":
        names = [f.name for f in opening_fields(definition)]
    else:
        t = access.workflow.transition(trigger, from_state) if from_state else None
        names = [f.name for f in transition_fields(definition, t)] if t else []
    return {n: i for i, n in enumerate(names)}


def _log_items(ctx: Ctx, access: CaseAccess, entries: list[StafettloggEntry],
               all_measures: list[Measure],
               known: Mapping[str, Mapping[int, str]] | None = None) -> list[LogItem]:
    """The entries as a record: the past-tense title of each (``overview.entry_titles``),
    then its fields in the form's order with people, services, measures and the catalogue by
    name. The names are read at once, one statement per kind of name wanted."""
    from bti.services.cases.overview import entry_titles

    case = access.case
    definition = access.workflow.definition
    data = [(e, json.loads(e.data or "{}")) for e in entries]
    wanted: dict[str, set[int]] = {k: set() for k in set(_LOOKUP.values())}
    wanted["user"] |= {e.actor_id for e in entries}
    for _, d in data:
        for key, value in d.items():
            fdef = definition.fields.get(key)
            kind = fdef.type if fdef else None
            table = _LOOKUP.get(kind) if kind else None
            if kind in LIST_TYPES:
                table = "unit" if kind == "units" else "measure"
            if table and table != "measure":
                wanted[table] |= {v for v in (value if isinstance(value, list) else [value])
                                  if isinstance(v, int)}
    lookups = _name_tables(ctx, case, wanted, all_measures, known)
    titles = entry_titles(ctx, access, entries, names=lookups)
    items = []
    orders: dict[tuple[str, str | None], dict[str, int]] = {}
    for e, d in data:
        label: Mapping[str, str] | None
        if e.trigger == "open":
            label = definition.opening.label
        else:
            t = access.workflow.transition(e.trigger, e.from_state) if e.from_state else None
            label = t.label if t else None
        order = orders.get((e.trigger, e.from_state))
        if order is None:
            order = orders[(e.trigger, e.from_state)] = _form_order(
                definition, e.trigger, e.from_state, access)
        shown = []
        for key in sorted(d, key=lambda k: (k == REASON, order.get(k, len(order)))):
            if key == stafettlogg.FAMILY_KEY:
                continue  # shown as the entry's mark, not as a field
            value = d[key]
            if value is None or value == "" or value == []:
                continue
            if key == REASON:
                shown.append(LogField(None, REASON, str(value)))
                continue
            if key == "via" and isinstance(value, dict):  # given by the family themselves
                said = FAMILY_VIA.get(str(value.get("role")))
                if said is not None:
                    shown.append(LogField(FAMILY_VIA_LABEL, "choice", said))
                continue
            fdef = definition.fields.get(key)
            shown_value = _log_value(fdef, value, lookups)
            if shown_value is None or shown_value == []:
                continue  # an id nothing names (gone, or not this case's): left out
            shown.append(LogField(fdef.label if fdef else {"nb": key, "nn": key, "en": key},
                                  fdef.type if fdef else "textarea", shown_value))
        items.append(LogItem(e, lookups["user"].get(e.actor_id, ""), label, shown,
                             titles.get(e.seq), stafettlogg.is_shared(d)))
    return items


def _name_tables(ctx: Ctx, case: Case, wanted: dict[str, set[int]],
                 all_measures: list[Measure], known: Mapping[str, Mapping[int, str]] | None = None
                 ) -> dict[str, dict[int, Any]]:
    """Names for the ids the log shows, each table read only when an id of its kind is
    wanted: people, services and the catalogue of the case's municipality, reports,
    consents and handovers of the case; the case's measures are already read."""
    out: dict[str, dict[int, Any]] = {k: {} for k in wanted}
    out["measure"] = {m.id: m.description for m in all_measures}
    # ``known``: names this page has read already, on the same conditions (reaching the case's
    # municipality), so only the ids not among them are read
    known = known or {}
    for kind in ("user", "unit"):
        have = known.get(kind, {})
        out[kind] = {i: have[i] for i in wanted[kind] if i in have}
        wanted[kind] = wanted[kind] - have.keys()
    if wanted["user"]:
        out["user"] |= _names(ctx, case.municipality_id, wanted["user"])
    if wanted["unit"]:
        out["unit"] |= dict(ctx.session.execute(select(Unit.id, Unit.name).where(
            Unit.id.in_(wanted["unit"]), unit_reaches(case.municipality_id))).all())
    if wanted["catalogue"]:
        out["catalogue"] = dict(ctx.session.execute(
            select(MeasureCatalogueItem.id, MeasureCatalogueItem.name).where(
                MeasureCatalogueItem.id.in_(wanted["catalogue"]),
                MeasureCatalogueItem.municipality_id == case.municipality_id)).all())
    if wanted["report"]:
        out["report"] = dict(ctx.session.execute(select(
            BarnevernReport.id, BarnevernReport.sent_on).where(
                BarnevernReport.id.in_(wanted["report"]),
                BarnevernReport.case_id == case.id)).all())
    if wanted["consent"]:
        out["consent"] = dict(ctx.session.execute(select(Consent.id, Consent.given_on).where(
            Consent.id.in_(wanted["consent"]), Consent.case_id == case.id)).all())
    if wanted["handover"]:
        rows = ctx.session.execute(select(Handover.id, User.display_name, Unit.name)
                                   .outerjoin(User, User.id == Handover.to_user_id)
                                   .outerjoin(Unit, Unit.id == Handover.to_unit_id).where(
            Handover.id.in_(wanted["handover"]), Handover.case_id == case.id)).all()
        out["handover"] = {i: user or unit or "" for i, user, unit in rows}
    return out


#: Stafettlogg entries shown on the case page before "show more", and the most one page shows.
LOG_PAGE = 50
LOG_MAX = 5000


def shown_entries(text: str | None) -> int:
    """How many entries a ``?shown=`` asks for: a whole number, at least ``LOG_PAGE`` and at
    most ``LOG_MAX``; anything else is the first page."""
    number = parse_int((text or "").strip())
    return LOG_PAGE if number is None else max(LOG_PAGE, min(number, LOG_MAX))


def case_page(ctx: Ctx, case_id: int, *, kind: str | None = None,
              shown: int = LOG_PAGE) -> CasePage:
    """Everything the case page shows. Two audited reads: the case (``case.viewed``) and its
    stafettlogg (``case.log_viewed``). ``NotFound`` when there is no case or no access. The
    stafettlogg shows the newest ``shown`` entries."""
    from bti.services.cases.overview import overview_of

    kind = kind if kind in LOG_KINDS else None
    shown = max(1, min(shown, LOG_MAX))
    view = cases.case_view(ctx, case_id, kind=kind, limit=shown, with_actions=False)
    access, chosen = view.access, view.entries
    case = access.case
    definition = access.workflow.definition
    today = ctx.today()
    cockpit = overview_of(ctx, access)
    all_measures = list(cockpit.measures)
    state = definition.state(case.state)
    where = cockpit.where
    header = Header(
        case=case,
        unit_name=(cockpit.unit_names.get(case.unit_id)
                   or (case.unit.name if case.unit else "")),
        level=where.level,
        state=state,
        stafettholder_name=cockpit.in_place.stafettholder_name,
        next_deadline=where.next_deadline,
    )
    return CasePage(
        access=access,
        header=header,
        overview=cockpit,
        others=other_actions(definition, list(cockpit.actions), access.case.state),
        log=_log_items(ctx, access, chosen, all_measures,
                       {"user": cockpit.people, "unit": cockpit.unit_names}),
        total_entries=view.total_entries,
        shown=shown,
        kind=kind,
        kinds=LOG_KINDS,
        closed=state.final,
        today=today,
        expired_consents=expired_consents(ctx, access, list(cockpit.given), today),
        units=moves.history(ctx, access.case) if cockpit.moved else [],
        ip=ip_summary(ctx, case) if cockpit.has_ip else None,
    )


def expired_consents(ctx: Ctx, access: CaseAccess, given: list[Consent],
                     today: date) -> list[ExpiredConsent]:
    """The case's expired consents nothing has renewed, each with who lost access through it:
    relations it admitted that lapsed today (``access.lapsed``) or were ended for expiry, of
    people who have no access through a consent now."""
    case = access.case
    covered = case_coverage(case, given, today,
                            access.workflow.definition.settings.youth_consent_age)
    expired = expired_unrenewed(case, given, today, covered)
    if not expired:
        return []
    ended = ctx.session.scalars(select(Participant).where(
        Participant.case_id == case.id, Participant.relation.in_(CONSENT_RELATIONS),
        Participant.end_reason.in_(("consent_expired", "consent_lapsed"))))
    still_in = {p.user_id for p in access.participants if p.relation in CONSENT_RELATIONS}
    rows = [p for p in [*access.lapsed, *ended] if p.user_id not in still_in]
    names = _names(ctx, case.municipality_id, {p.user_id for p in rows})
    unit_names = _unit_names(ctx, case.municipality_id)
    out = []
    for c in expired:
        seen: dict[int, LostAccess] = {}
        for p in rows:
            if p.unit_id in c.unit_ids and p.user_id not in seen:
                seen[p.user_id] = LostAccess(names.get(p.user_id, f"#{p.user_id}"),
                                             unit_names.get(p.unit_id))
        out.append(ExpiredConsent(
            c, [unit_names.get(u, f"#{u}") for u in sorted(c.unit_ids - {case.unit_id})],
            list(seen.values())))
    return out


# --- after opening a case -----------------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    access: CaseAccess
    header_level: LevelDef
    state: StateDef
    #: When the decision at the first level is due (the undringssamtale comes before it).
    decide_by: date | None
    groups: ActionGroups
    options: FormOptions
    today: date

    @property
    def urgent(self) -> bool:
        return bool(self.access.case.violence_flag)


def receipt(ctx: Ctx, case_id: int) -> Receipt:
    """The page after a concern is recorded: an audited read of the new case."""
    access = cases.get_case(ctx, case_id)
    _, actions = cases.list_actions(ctx, case_id)
    definition = access.workflow.definition
    state = definition.state(access.case.state)
    return Receipt(
        access=access,
        header_level=definition.level(state.level),
        state=state,
        decide_by=level_deadline(definition, access.case),
        groups=group_actions(definition, actions, access.case.state),
        options=FormOptions(colleagues(ctx), units(ctx), [], [], []),
        today=ctx.today(),
    )


# --- one action on its own page ---------------------------------------------------------------


@dataclass(frozen=True)
class ActionPage:
    """One action's form alone, with the case's header and the guidance the workflow file
    gives for it (``[guidance]``, in the municipality's own words)."""

    access: CaseAccess
    header: Header
    form: ActionForm
    options: FormOptions
    guidance: tuple[GuidanceDef, ...]
    today: date
    #: On the proposal of a handover: what acceptance does to the holder's own access.
    holder: HolderAfter | None = None
    #: The actor is the stafettholder (their own access is at stake, their own choice).
    actor_is_holder: bool = False


def form_options(ctx: Ctx, case: Case, fields: list[FormField]) -> FormOptions:
    """The choices a form's fields offer, each read only when a field of its type asks."""
    types = {f.type for f in fields}
    today = ctx.today()
    measures: list[Measure] = []
    to_evaluate: list[Measure] = []
    if types & {"measure", "measures"}:
        measures = list(ctx.session.scalars(
            select(Measure).where(Measure.case_id == case.id, Measure.status == "active")
            .order_by(Measure.evaluate_by, Measure.id)))
        if "measures" in types:
            unevaluated = list(ctx.session.scalars(stopped_unevaluated(case.id)))
            to_evaluate = sorted([*measures, *unevaluated],
                                 key=lambda m: (m.evaluate_by, m.id))
    consents = [c for c in ctx.session.scalars(
        select(Consent).where(Consent.case_id == case.id, Consent.status == "given")
        .order_by(Consent.id)) if consent_is_current(c, today)] if "consent" in types else []
    handovers = list(ctx.session.scalars(
        select(Handover).where(Handover.case_id == case.id, Handover.status == "proposed"))) \
        if "handover" in types else []
    reports = list(ctx.session.scalars(select(BarnevernReport).where(
        BarnevernReport.case_id == case.id, BarnevernReport.kind == "report",
        BarnevernReport.concluded_on.is_(None)).order_by(
            BarnevernReport.sent_on, BarnevernReport.id))) if "report" in types else []
    age = child_age(case.child_birth_year, today)
    catalogue = _catalogue(ctx, case.municipality_id, age) if "catalogue" in types else []
    return FormOptions(
        colleagues(ctx, case.municipality_id) if "user" in types else [],
        units(ctx, case.municipality_id) if types & {"unit", "units"} else [],
        measures, consents, handovers, catalogue, to_evaluate, reports, age,
        frozenset(i.id for i in catalogue if i.age_from <= age <= i.age_to))


def action_page(ctx: Ctx, case_id: int, trigger: str, *, refused_too: bool = False
                ) -> ActionPage:
    """The page of one action: an audited read of the case (it shows its state and version).
    ``NotFound`` without access, or when the workflow has no such action in the case's state;
    ``Forbidden`` when this actor may not take it now (``refused_too``: shown anyway, to say
    why a submission was refused)."""
    access, actions = cases.actions_view(ctx, case_id)
    action = next((a for a in actions if a.transition.trigger == trigger), None)
    if action is None:
        raise NotFound(object_type="action", object_id=case_id)
    if not action.allowed and not refused_too:
        raise Forbidden("the action is not open to you now")
    case = access.case
    definition = access.workflow.definition
    state = definition.state(case.state)
    fields = transition_fields(definition, action.transition)
    holder = _names(ctx, case.municipality_id, {case.stafettholder_id}) \
        if case.stafettholder_id else {}
    header = Header(case, case.unit.name if case.unit else "", definition.level(state.level),
                    state, holder.get(case.stafettholder_id) if case.stafettholder_id else None,
                    None)
    options = form_options(ctx, case, fields)
    after = None
    effect = action.transition.effect
    if effect == "ip_handover_proposed":
        # who could accept: a colleague whose service may hold the case, or a coordinating unit
        facts = CaseFacts(ctx, case, definition, access.participants, lapsed=access.lapsed)
        options = replace(options, colleagues=[
            Colleague(r.id, r.name, r.unit_name)
            for r in handovers.recipients(ctx, case, facts)],
            units=[u for u in options.units if u.kind == "coordinating_unit"])
    if effect in ("handover_proposed", "debrief_offered"):
        facts = CaseFacts(ctx, case, definition, access.participants, lapsed=access.lapsed)
        if effect == "handover_proposed":
            # only who could accept: not the holder, an active colleague whose service may
            # hold the case (effects.handover_proposed refuses the others too)
            options = replace(options, colleagues=[
                Colleague(r.id, r.name, r.unit_name)
                for r in handovers.recipients(ctx, case, facts)])
            after = handovers.holder_after(ctx, case, facts)
            if after is None or not after.may_stay or ctx.actor.id != case.stafettholder_id:
                fields = [f for f in fields if f.name != "holder_stays"]
        else:
            options = replace(options, reports=facts.reports_without_debrief)
    return ActionPage(access, header, ActionForm(
        action, fields, shared_default(definition, action.transition, case.state)), options,
                      tuple(g for g in definition.guidance if trigger in g.on), ctx.today(),
                      after, ctx.actor.id == case.stafettholder_id)
