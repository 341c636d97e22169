"""Use cases on a case: open it, read it (audited), list its actions, fire a trigger.

``fire`` is the one place where ``Case.state`` is assigned, and only from a ``Step`` the engine
returned. One call = one transaction's worth of writes: the effect's record, the state change,
the stafettlogg entry and the audit row, flushed together; the caller commits or rolls back.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import datetime
from typing import Any

from sqlalchemy import and_
from sqlalchemy import bindparam
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from bti.domain import child
from bti.domain.cases import Case
from bti.domain.cases import Concern
from bti.domain.cases import Consent
from bti.domain.cases import ConsentService
from bti.domain.cases import EmergencyAccess
from bti.domain.cases import Participant
from bti.domain.identity import looks_like_full_name
from bti.domain.log import StafettloggEntry
from bti.domain.org import Municipality
from bti.domain.org import Unit
from bti.domain.org import User
from bti.domain.policy import may_open_case
from bti.domain.rules import ConsentTerms
from bti.domain.rules import access_basis
from bti.domain.rules import case_coverage
from bti.domain.rules import due_month_problem
from bti.domain.rules import lapsed
from bti.domain.rules import relations
from bti.domain.rules import rests_on_consent
from bti.domain.vocabulary import EFFECTS
from bti.domain.vocabulary import FAMILY_ROLE
from bti.domain.vocabulary import AuditAction
from bti.domain.vocabulary import Relation
from bti.engine import Action
from bti.engine import Refusal
from bti.engine import Step
from bti.engine import TransitionDef
from bti.engine import TransitionRefused
from bti.engine import Workflow
from bti.engine.definition import WorkflowDefinition
from bti.engine.inputs import ID_NUMBER
from bti.engine.inputs import contains_national_id
from bti.services.access import audit
from bti.services.analytics import aggregates
from bti.services.cases import stafettlogg
from bti.services.cases.effects import HANDLERS
from bti.services.cases.effects import end_lapsed
from bti.services.cases.facts import CaseFacts
from bti.services.context import Ctx
from bti.services.errors import Conflict
from bti.services.errors import InvalidInput
from bti.services.errors import NotFound
from bti.services.errors import ServiceError
from bti.services.family.sessions import CHANNEL as FAMILY_CHANNEL
from bti.services.family.sessions import record as family_record
from bti.services.notify import wiring as notify

#: The warning of a pseudonym that reads like a full name.
FULL_NAME = "looks_like_full_name"


@dataclass
class CaseAccess:
    """A case loaded for an actor, with why they may see it."""

    case: Case
    workflow: Workflow
    participants: list[Participant]  # active, and still covered by a consent where they need one
    relations: frozenset[str]
    basis: str
    #: Relations a consent admitted that no current consent covers any more (expired): no
    #: access from the moment of expiry; ``fire`` ends them in the rows.
    lapsed: list[Participant] = field(default_factory=list)
    #: The terms of the case's given consents, when access had to look at them (else None).
    consents: list[ConsentTerms] | None = None

    @property
    def roles(self) -> frozenset[str]:
        return self.relations


@dataclass(frozen=True)
class FireResult:
    case: Case
    step: Step
    entry: StafettloggEntry


@dataclass(frozen=True)
class OpenResult:
    case: Case
    entry: StafettloggEntry
    #: What the reporter was warned about (``FULL_NAME``), if anything.
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class SimilarCase:
    """An open case in the same unit for a child with the same pseudonym and birth year: a
    likely duplicate, told apart by its number and the date it was opened."""

    id: int
    opened_at: datetime


class ConfirmationNeeded(ServiceError):
    """The concern is valid, but the reporter must confirm before it is saved: a likely
    duplicate exists, or the pseudonym reads like a full name. Nothing was written."""

    code = "confirmation_needed"

    def __init__(self, similar: list[SimilarCase], warnings: tuple[str, ...]) -> None:
        super().__init__("confirm: " + ", ".join([*(f"case {c.id}" for c in similar),
                                                   *warnings]))
        self.similar = similar
        self.warnings = warnings


def _merge(into: dict[str, list[str]], extra: Mapping[str, list[str]]) -> dict[str, list[str]]:
    for name, codes in extra.items():
        known = into.setdefault(name, [])
        known.extend(c for c in codes if c not in known)
    return into


def _refused(err: TransitionRefused | None, state: str, trigger: str,
             extra: dict[str, list[str]]) -> TransitionRefused:
    """``err`` with ``extra`` field errors added to its payload refusal (or a new refusal)."""
    refusals = list(err.refusals) if err is not None else []
    for i, r in enumerate(refusals):
        if r.code == "invalid_payload":
            merged = _merge({k: list(v) if isinstance(v, list) else [v]
                             for k, v in r.fields.items()}, extra)
            refusals[i] = Refusal("invalid_payload", fields=merged)
            break
    else:
        if extra:
            refusals.append(Refusal("invalid_payload", fields=dict(extra)))
    return TransitionRefused(state, trigger, refusals)


def similar_open_cases(ctx: Ctx, unit_id: int, pseudonym: str, birth_year: int
                       ) -> list[SimilarCase]:
    """Open cases of the unit for the same pseudonym (case and spacing aside) and birth year,
    oldest first."""
    wanted = " ".join(pseudonym.split()).casefold()
    rows = ctx.session.execute(
        select(Case.id, Case.opened_at, Case.child_pseudonym)
        .where(Case.municipality_id == ctx.actor.municipality_id, Case.unit_id == unit_id,
               Case.closed_at.is_(None), Case.child_birth_year == birth_year,
               func.lower(Case.child_pseudonym) == pseudonym.strip().lower())
        .order_by(Case.opened_at, Case.id))
    return [SimilarCase(r[0], r[1]) for r in rows
            if " ".join(r[2].split()).casefold() == wanted]


#: The case and its active participants in one ORM query (one row per participant, or one with
#: None); only the case row is locked when writing. ``populate_existing`` refreshes a case the
#: session already holds (a session reused across calls) with what the database holds now.
_CASE_BY_ID = (select(Case, Participant)
               .outerjoin(Participant, and_(Participant.case_id == Case.id,
                                            Participant.ended_at.is_(None)))
               .where(Case.id == bindparam("case_id"))
               .execution_options(populate_existing=True, include_practice=True))
_CASE_BY_ID_FOR_UPDATE = _CASE_BY_ID.with_for_update(of=Case)
_CONSENTS, _CONSENT_SERVICES = Consent.__table__, ConsentService.__table__
#: The case's given consents with their services (one row per service), on the tables.
_GIVEN_CONSENTS = (
    select(_CONSENTS.c.id, _CONSENTS.c.status, _CONSENTS.c.given_by, _CONSENTS.c.given_on,
           _CONSENTS.c.expires_on, _CONSENTS.c.withdrawn_at, _CONSENT_SERVICES.c.unit_id)
    .select_from(_CONSENTS.join(_CONSENT_SERVICES,
                                _CONSENT_SERVICES.c.consent_id == _CONSENTS.c.id))
    .where(_CONSENTS.c.case_id == bindparam("case_id"), _CONSENTS.c.status == "given")
    .order_by(_CONSENTS.c.id))


def _given_consents(ctx: Ctx, case_id: int) -> list[ConsentTerms]:
    """The terms of the case's given consents, oldest first."""
    rows = ctx.session.connection().execute(_GIVEN_CONSENTS, {"case_id": case_id}).all()
    units: dict[int, set[int]] = {}
    heads: dict[int, tuple[int, str, str, date | None, date | None, datetime | None]] = {}
    for row in rows:
        heads.setdefault(row[0], tuple(row[:6]))
        units.setdefault(row[0], set()).add(row[6])
    return [ConsentTerms(*heads[cid], unit_ids=frozenset(units[cid])) for cid in heads]


_EMERGENCY_GRANTS = select(EmergencyAccess).where(
    EmergencyAccess.case_id == bindparam("case_id"),
    EmergencyAccess.user_id == bindparam("user_id"), EmergencyAccess.expires_at > bindparam("now"))


def _case_and_participants(ctx: Ctx, case_id: int, for_update: bool
                           ) -> tuple[Case | None, list[Participant]]:
    """The case (``None`` if there is none) and its active participants, loaded by the ORM in
    one query (the case row locked ``FOR UPDATE`` when writing, where the database has it)."""
    rows = ctx.session.execute(_CASE_BY_ID_FOR_UPDATE if for_update else _CASE_BY_ID,
                               {"case_id": case_id}).all()
    if not rows:
        return None, []
    return rows[0][0], [p for _, p in rows if p is not None]


def _load(ctx: Ctx, case_id: int, *, for_update: bool = False) -> CaseAccess:
    """Load → check access. No case and no access answer the same ``NotFound``."""
    params = {"case_id": case_id}
    case, participants = _case_and_participants(ctx, case_id, for_update)
    if case is None:
        raise NotFound(f"case {case_id}", object_type="case", object_id=case_id)
    workflow = None
    consents = None
    gone: list[Participant] = []
    if any(rests_on_consent(p, case) for p in participants):
        # access through a consent lasts while a consent covers it: decided now, on this
        # request, so an expired consent ends access at the moment of expiry
        workflow = ctx.workflows.for_record(ctx.session, case.workflow_definition_id)
        consents = _given_consents(ctx, case_id)
        covered = case_coverage(case, consents, ctx.today(),
                                workflow.definition.settings.youth_consent_age)
        gone = lapsed(participants, case, covered)
        if gone:
            participants = [p for p in participants if all(p is not g for g in gone)]
    rels = relations(ctx.actor, case, participants)
    basis = access_basis(rels)
    if basis is None:  # only without a relation is an emergency access looked for
        now = ctx.now()
        grants = ctx.session.scalars(_EMERGENCY_GRANTS, {**params, "user_id": ctx.actor.id,
                                                         "now": now}).all()
        rels = relations(ctx.actor, case, participants, grants, now)
        basis = access_basis(rels)
    if basis is None or not ctx.actor.active:
        raise NotFound(f"case {case_id}", object_type="case", object_id=case_id)
    if workflow is None:
        workflow = ctx.workflows.for_record(ctx.session, case.workflow_definition_id)
    return CaseAccess(case, workflow, participants, rels, basis, gone, consents)


@dataclass(frozen=True)
class FamilyVia:
    """A transition the family takes on their own case page (``bti.services.family.consent``):
    who (the identity, never a name or number) in which role (``guardian`` or ``youth``). The
    family service has checked their link to the case (``family_may_read``); the workflow's
    ``roles`` are matched against ``family`` alone, and the audit row is the family's
    (``channel = "family"``, the identity), while the staff actor of the ``Ctx`` is the one who
    receives it on the case (the stafettholder)."""

    identity_id: int
    role: str
    provider: str = "idporten"


def _load_for_family(ctx: Ctx, case_id: int) -> CaseAccess:
    """The case loaded for a family transition: as ``_load`` (consent-admitted relations that
    no current consent covers are lapsed), without a staff relation check (the family service
    made its own)."""
    case, participants = _case_and_participants(ctx, case_id, True)
    if case is None:
        raise NotFound(f"case {case_id}", object_type="case", object_id=case_id)
    workflow = ctx.workflows.for_record(ctx.session, case.workflow_definition_id)
    consents = _given_consents(ctx, case_id)
    covered = case_coverage(case, consents, ctx.today(),
                            workflow.definition.settings.youth_consent_age)
    gone = lapsed(participants, case, covered)
    participants = [p for p in participants if all(p is not g for g in gone)]
    return CaseAccess(case, workflow, participants, frozenset({FAMILY_ROLE}), FAMILY_ROLE,
                      gone, consents)


def covered_units_of(ctx: Ctx, case: Case) -> frozenset[int]:
    """The units the case's current consents cover today, as participants' access counts them
    (``case_coverage``): what a team member's service must be in to see a referred case's
    content (``bti.domain.policy.may_see_team_case``). No access check: the caller's."""
    workflow = ctx.workflows.for_record(ctx.session, case.workflow_definition_id)
    return case_coverage(case, _given_consents(ctx, case.id), ctx.today(),
                         workflow.definition.settings.youth_consent_age)


def access_or_none(ctx: Ctx, case_id: int) -> CaseAccess | None:
    """The actor's access to the case as it stands now, else None (no case, no relation): a
    check that reads nothing to show; the caller audits what it shows."""
    try:
        return _load(ctx, case_id)
    except NotFound:
        return None


#: Effects that change nobody's relation to the case: after one, the actor who took it still
#: sees the case (``still_sees`` need not load it again).
ACCESS_NEUTRAL_EFFECTS = frozenset({"note", "goal", "inform_home"})


def still_sees(ctx: Ctx, case_id: int, after: FireResult | None = None) -> bool:
    """Whether the actor still has a relation to the case (after a move to another unit the
    sending unit's staff may not): an access check that reads nothing to show, so no audit.
    ``after``: the step the actor just took on it; one that changes no relation
    (``ACCESS_NEUTRAL_EFFECTS``) leaves the access ``fire`` checked as it was."""
    if after is not None and after.case.id == case_id \
            and after.step.transition.effect in ACCESS_NEUTRAL_EFFECTS:
        return True
    try:
        _load(ctx, case_id)
    except NotFound:
        return False
    return True


def case_facts(ctx: Ctx, access: CaseAccess) -> CaseFacts:
    """The guards of the loaded case, from the rows access already read."""
    return CaseFacts(ctx, access.case, access.workflow.definition, access.participants,
                     consents=access.consents, lapsed=access.lapsed)


def case_roles(ctx: Ctx, access: CaseAccess) -> frozenset[str]:
    """What the workflow's ``roles`` are matched against: the user's roles and relations."""
    return ctx.actor.roles | access.relations


def get_case(ctx: Ctx, case_id: int) -> CaseAccess:
    """An audited read of a case."""
    access = _load(ctx, case_id)
    audit.record(ctx, AuditAction.CASE_VIEWED, case=access.case, object_type="case",
                 object_id=access.case.id, basis=access.basis)
    return access


def list_actions(ctx: Ctx, case_id: int) -> tuple[CaseAccess, list[Action]]:
    """The actions the actor may take now, and those refused with their reasons."""
    access = _load(ctx, case_id)
    case = access.case
    if access.workflow.definition.state(case.state).final:
        return access, []
    facts = case_facts(ctx, access)
    actions = access.workflow.actions(case.state, roles=case_roles(ctx, access), facts=facts)
    return access, actions


@dataclass(frozen=True)
class CaseView:
    """One case as its page shows it: access, actions and the newest stafettlogg entries."""

    access: CaseAccess
    actions: list[Action]
    entries: list[StafettloggEntry]  # newest first
    total_entries: int  # of the chosen kind


def case_view(ctx: Ctx, case_id: int, *, kind: str | None = None,
              limit: int | None = None, with_actions: bool = True) -> CaseView:
    """The case, its actions and its stafettlogg (newest first, optionally of one ``kind`` and at
    most ``limit`` entries) from a single access check. Two audited reads, as ``get_case`` and
    ``log_entries`` record them. ``with_actions`` False: the caller evaluates the actions on
    facts of its own (``overview.overview_of``), so nothing is read twice."""
    access = _load(ctx, case_id)
    case = access.case
    actions: list[Action] = []
    if with_actions and not access.workflow.definition.state(case.state).final:
        facts = case_facts(ctx, access)
        actions = access.workflow.actions(case.state, roles=case_roles(ctx, access),
                                          facts=facts)
    where = [StafettloggEntry.case_id == case_id]
    if kind is not None:
        where.append(StafettloggEntry.kind == kind)
    stmt = select(StafettloggEntry).where(*where).order_by(StafettloggEntry.seq.desc())
    if limit is not None:
        stmt = stmt.limit(limit)
    entries = list(ctx.session.scalars(stmt))
    total = len(entries) if limit is None or len(entries) < limit else ctx.session.scalars(
        select(func.count()).select_from(StafettloggEntry).where(*where)).one()
    audit.record(ctx, AuditAction.CASE_VIEWED, case=case, object_type="case", object_id=case.id,
                 basis=access.basis)
    audit.record(ctx, AuditAction.CASE_LOG_VIEWED, case=case, object_type="stafettlogg",
                 object_id=case.id, basis=access.basis)
    return CaseView(access, actions, entries, total)


def log_entries(ctx: Ctx, case_id: int) -> tuple[CaseAccess, list[StafettloggEntry]]:
    """The stafettlogg, oldest first (an audited read)."""
    access = _load(ctx, case_id)
    entries = list(ctx.session.scalars(
        select(StafettloggEntry).where(StafettloggEntry.case_id == case_id)
        .order_by(StafettloggEntry.seq)))
    audit.record(ctx, AuditAction.CASE_LOG_VIEWED, case=access.case, object_type="stafettlogg",
                 object_id=access.case.id, basis=access.basis)
    return access, entries


def log_page(ctx: Ctx, case_id: int, *, after: int | None = None, limit: int = 50
             ) -> tuple[CaseAccess, list[StafettloggEntry], int | None]:
    """One page of the stafettlogg, oldest first: at most ``limit`` entries after ``seq =
    after``, and the cursor of the next page (None on the last). An audited read."""
    access = _load(ctx, case_id)
    entries = list(ctx.session.scalars(
        select(StafettloggEntry).where(StafettloggEntry.case_id == case_id,
                                       StafettloggEntry.seq > (after or 0))
        .order_by(StafettloggEntry.seq).limit(limit + 1)))
    more = len(entries) > limit
    entries = entries[:limit]
    audit.record(ctx, AuditAction.CASE_LOG_VIEWED, case=access.case, object_type="stafettlogg",
                 object_id=access.case.id, basis=access.basis)
    return access, entries, (entries[-1].seq if more and entries else None)


def actions_view(ctx: Ctx, case_id: int) -> tuple[CaseAccess, list[Action]]:
    """``list_actions`` as a read of the case (it shows its state and version): audited."""
    access, actions = list_actions(ctx, case_id)
    audit.record(ctx, AuditAction.CASE_VIEWED, case=access.case, object_type="case",
                 object_id=access.case.id, basis=access.basis)
    return access, actions


def open_case(
    ctx: Ctx,
    *,
    unit_id: int | None,
    child_pseudonym: str,
    child_birth_year: int | None,
    concern: dict[str, Any] | None,
    child_due_year: int | None = None,
    child_due_month: int | None = None,
    require_answers: bool = False,
    confirmed: bool = True,
    practice: bool = False,
) -> OpenResult:
    """A new nivå 0 case from a concern, on the municipality's current workflow version.

    The child is born (``child_birth_year``, within the last 25 years) or expected
    (``child_due_year`` and ``child_due_month``, from this month to ``DUE_MONTHS_AHEAD``
    months ahead), never both; an expected child's birth year is stored as the due year.

    Every problem is found in one pass: the child's fields and the concern's (a fødselsnummer
    in any text is refused) come back together, in ``InvalidInput`` (with the concern's field
    errors merged in) or, when only the concern is wrong, ``TransitionRefused``. The form
    (``require_answers``) must answer every yes/no question (the violence question). Unless
    ``confirmed``, a likely duplicate or a pseudonym that reads like a full name raises
    ``ConfirmationNeeded`` before anything is written."""
    actor = ctx.actor
    unit_id = unit_id or actor.unit_id
    errors: dict[str, list[str]] = {}
    unit = ctx.session.get(Unit, unit_id) if unit_id else None
    if unit is None or unit.municipality_id != actor.municipality_id:
        errors["unit_id"] = ["not_in_municipality"]
    elif not unit.active:  # deactivated by an administrator: no new case opens in it
        errors["unit_id"] = ["inactive_unit"]
    pseudonym = (child_pseudonym or "").strip()
    pseudonym_error = child.pseudonym_error(pseudonym)
    if pseudonym_error:
        errors["child_pseudonym"] = [pseudonym_error]
    elif contains_national_id(pseudonym):
        errors["child_pseudonym"] = [ID_NUMBER]
    today = ctx.today()
    first, last = child.birth_year_range(today)
    expected = child_due_year is not None or child_due_month is not None
    if expected:
        if child_birth_year is not None:
            errors["child_birth_year"] = ["birth_or_due"]  # born or expected, not both
        if not (isinstance(child_due_year, int) and isinstance(child_due_month, int)):
            errors["child_due"] = ["invalid"]
        else:
            problem = due_month_problem(child_due_year, child_due_month, today)
            if problem:
                errors["child_due"] = [problem]
        child_birth_year = child_due_year
    elif child_birth_year is None:
        errors["child_birth_year"] = ["required"]
    elif not isinstance(child_birth_year, int) or not first <= child_birth_year <= last:
        errors["child_birth_year"] = ["invalid"]
    municipality = ctx.session.get_one(Municipality, actor.municipality_id)
    record_id = ctx.workflows.current_record_id(ctx.session, municipality.workflow_id)
    workflow = ctx.workflows.for_record(ctx.session, record_id)
    definition = workflow.definition
    opening = definition.opening
    # the concern's own fields, checked in the same pass: one answer names every problem
    payload: dict[str, Any] = {}
    refused: TransitionRefused | None = None
    try:
        payload = workflow.load_opening(concern)
    except TransitionRefused as err:
        refused = err
    extra: dict[str, list[str]] = {}
    if require_answers:
        extra.update({n: ["required"] for n in opening.optional
                      if definition.fields[n].type == "bool"
                      and (not isinstance(concern, Mapping) or concern.get(n) is None)})
    if refused is not None or extra:
        refused = _refused(refused, definition.initial, "open", extra)
    if errors or unit is None:
        if refused is not None:
            for r in refused.refusals:
                if r.code == "invalid_payload":
                    _merge(errors, {k: list(v) if isinstance(v, list) else [v]
                                    for k, v in r.fields.items()})
        raise InvalidInput(errors)
    if not may_open_case(actor, opening.roles):
        raise TransitionRefused(definition.initial, "open", [Refusal("role")])
    if refused is not None:
        raise refused
    assert child_birth_year is not None  # checked above
    warnings = (FULL_NAME,) if looks_like_full_name(pseudonym) else ()
    if not confirmed and not practice:
        similar = similar_open_cases(ctx, unit.id, pseudonym, child_birth_year)
        if similar or warnings:
            raise ConfirmationNeeded(similar, warnings)

    now = ctx.now()
    violence = bool(payload.get("violence_suspected"))
    case = Case(
        municipality_id=actor.municipality_id, unit_id=unit.id,
        workflow_definition_id=record_id, state=definition.initial,
        child_pseudonym=pseudonym, child_birth_year=child_birth_year,
        child_due_month=child_due_month if expected else None,
        violence_flag=violence, opened_by_id=actor.id, opened_at=now,
        level_entered_at=now, last_activity_at=now, practice=practice,
    )
    ctx.session.add(case)
    ctx.session.flush()
    row = Concern(case_id=case.id, created_by_id=actor.id, created_at=now,
                  **{k: v for k, v in payload.items() if v is not None})
    row.violence_suspected = violence
    ctx.session.add(row)
    ctx.session.add(Participant(
        case_id=case.id, user_id=actor.id, unit_id=actor.unit_id,
        relation=Relation.REPORTER.value, added_by_id=actor.id, added_at=now))
    ctx.session.flush()
    entry = stafettlogg.append(
        ctx, case, kind="concern", trigger="open", from_state=None, to_state=case.state,
        data=stafettlogg.with_sharing(dict(payload), definition.shared_by_default("concern")),
        object_type="concern", object_id=row.id)
    audit.record(ctx, AuditAction.CASE_OPENED, case=case, object_type="case", object_id=case.id,
                 basis=Relation.REPORTER.value, state=case.state,
                 workflow=definition.id, revision=record_id, log_seq=entry.seq)
    ctx.session.flush()
    if not practice:
        notify.case_opened(ctx, case)
    return OpenResult(case, entry, warnings)


#: What a form gives ``fire``: the payload, from the transition the trigger names in the case's
#: state (None when it names none there), as the workflow definition describes its fields.
PayloadOf = Callable[[Any, TransitionDef | None], Mapping[str, Any]]


def entry_kind(definition: WorkflowDefinition, source: str, dest: str, effect: str) -> str:
    """The kind of the stafettlogg entry a transition from ``source`` to ``dest`` writes (as
    ``fire`` decides it): ``close`` into a final state, ``level_change`` across levels, else
    the effect's kind."""
    if definition.state(dest).final:
        return "close"
    if definition.state(source).level != definition.state(dest).level:
        return "level_change"
    return EFFECTS[effect].kind


#: The effects that would reach someone or something outside a practice case's sandbox (another
#: person's relation or inbox, a team's agenda, another unit or municipality): refused there.
PRACTICE_OUTSIDE = frozenset({
    "add_participant", "handover_proposed", "ip_handover_proposed", "ip_handover_accepted",
    "ansvarsgruppe_member", "ip_coordinator", "referral", "unit_moved", "transferred_out",
})


def _practice_sandbox(ctx: Ctx, case: Case, step: Step) -> None:
    """Refuse, in a practice case, a step that would leave the sandbox (nothing was written):
    a step naming another person (the stafettholder must be the practising user) or reaching
    outside the case."""
    effect = step.transition.effect
    other = (effect == "appoint_stafettholder"
             and step.payload.get("stafettholder") != ctx.actor.id)
    if effect in PRACTICE_OUTSIDE or other:
        raise TransitionRefused(case.state, step.trigger, [
            Refusal("guard", guard="practice", detail="outside")])


def practice_completed(ctx: Ctx, case: Case, now: datetime) -> None:
    """The practising user walked a practice case to a closing state: the first time is kept
    for the leader's list (``bti.services.cases.practice.completions``)."""
    user = ctx.session.get(User, case.opened_by_id)
    if user is not None and user.practice_completed_at is None:
        user.practice_completed_at = now


def fire(
    ctx: Ctx,
    case_id: int,
    trigger: str,
    payload: Mapping[str, Any] | PayloadOf | None = None,
    *,
    expected_version: int | None = None,
    family: FamilyVia | None = None,
    shared: bool | None = None,
) -> FireResult:
    """Fire ``trigger`` on a case. Raises ``NotFound`` (no case or no access), ``Conflict``
    (``expected_version`` is stale, or another writer won), or ``TransitionRefused`` (with
    every reason); in each of those cases nothing was written. ``payload`` may be a function of
    the definition and the trigger's transition in the case's state (a web form, whose fields
    the definition gives): called once the case is loaded, so it is loaded once.

    ``shared``: whether the entry is shown to the family (None: the workflow's default for the
    entry's kind, ``[family_sharing]``); the choice is written in the entry's hashed data
    (``stafettlogg.FAMILY_KEY``).

    With ``family`` the guardian or the young person takes the transition from the family page
    (``FamilyVia``): the same effect, stafettlogg entry (its data saying who gave it and how)
    and notifications, the workflow's roles matched against ``family``, the audit row the
    family's."""
    access = (_load(ctx, case_id, for_update=True) if family is None
              else _load_for_family(ctx, case_id))
    case = access.case
    if callable(payload):
        payload = dict(payload(access.workflow.definition,
                               access.workflow.transition(trigger, case.state)))
    if expected_version is not None and case.version != expected_version:
        raise Conflict(current_version=case.version)
    workflow = access.workflow
    definition = workflow.definition
    facts = case_facts(ctx, access)
    if access.lapsed:  # written down with the first change after the expiry
        end_lapsed(ctx, case, facts, access.lapsed)
    roles = case_roles(ctx, access) if family is None else access.relations
    step = workflow.fire(case.state, trigger, roles=roles, facts=facts, payload=payload)
    if case.practice:
        _practice_sandbox(ctx, case, step)
    written = HANDLERS[step.transition.effect](ctx, case, step, facts)

    now = ctx.now()
    source_level = definition.state(step.source).level
    dest_level = definition.state(step.dest).level
    if not case.practice:  # a practice case is never counted
        aggregates.on_fire(ctx, case, effect=step.transition.effect, source_level=source_level,
                           dest_level=dest_level,
                           left_level_entered_at=case.level_entered_at,
                           now=now, payload=step.payload, object_id=written.object_id)
    if definition.state(step.dest).final:
        kind = "close"
        case.closed_at = now
    elif source_level != dest_level:
        kind = "level_change"
        case.level_entered_at = now
    else:
        kind = EFFECTS[step.transition.effect].kind
    case.state = step.dest  # the only assignment of Case.state
    if case.practice and kind == "close":
        practice_completed(ctx, case, now)
    data = dict(step.payload)
    if family is not None:  # who gave it and how: "given by a guardian through ID-porten"
        data["via"] = {"channel": FAMILY_CHANNEL, "role": family.role,
                       "provider": family.provider}
    entry = stafettlogg.append(
        ctx, case, kind=kind, trigger=step.trigger, from_state=step.source, to_state=step.dest,
        data=stafettlogg.with_sharing(
            data, definition.shared_by_default(kind) if shared is None else shared),
        object_type=written.object_type, object_id=written.object_id)
    if family is None:
        audit.record(ctx, AuditAction.CASE_TRANSITION, case=case,
                     object_type=written.object_type, object_id=written.object_id,
                     basis=access.basis, trigger=step.trigger, source=step.source,
                     dest=step.dest, log_seq=entry.seq)
    else:
        family_record(ctx.session, AuditAction.CASE_TRANSITION, now=now,
                      municipality_id=case.municipality_id, identity_id=family.identity_id,
                      case_id=case.id, object_type=written.object_type,
                      object_id=written.object_id, basis=family.role,
                      request_id=ctx.request_id, trigger=step.trigger, source=step.source,
                      dest=step.dest, log_seq=entry.seq, received_by=ctx.actor.id)
    try:
        # the case's UPDATE … WHERE id AND version (the mapper's version_id_col: no row means
        # another writer moved the version on, StaleDataError) with whatever else the effect
        # changed (participants, measures, …)
        ctx.session.flush()
    except (StaleDataError, IntegrityError) as err:
        raise Conflict() from err
    notify.after_fire(ctx, case, step, written.object_id, closed=kind == "close")
    return FireResult(case, step, entry)

