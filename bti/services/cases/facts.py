"""Guards computed from a case: a lazy mapping, each fact loaded only when a guard asks."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from datetime import date
from functools import cached_property
from typing import Any

from sqlalchemy import select

from bti.domain.cases import HANDOVER_IP
from bti.domain.cases import BarnevernReport
from bti.domain.cases import Case
from bti.domain.cases import Consent
from bti.domain.cases import EvaluationMeasure
from bti.domain.cases import Handover
from bti.domain.cases import IndividualPlan
from bti.domain.cases import Measure
from bti.domain.cases import Participant
from bti.domain.org import Unit
from bti.domain.policy import may_edit_ansvarsgruppe
from bti.domain.rules import ConsentLike
from bti.domain.rules import consent_ended_on
from bti.domain.rules import consent_is_current
from bti.domain.rules import covered_units
from bti.domain.rules import youth_consent_required
from bti.domain.vocabulary import GUARDS
from bti.domain.vocabulary import Relation
from bti.engine import TransitionDef
from bti.engine import WorkflowDefinition
from bti.services.context import Ctx


def stopped_unevaluated(case_id: int):
    """The case's measures stopped without an evaluation covering them."""
    evaluated = select(EvaluationMeasure.id).where(EvaluationMeasure.measure_id == Measure.id)
    return select(Measure).where(Measure.case_id == case_id, Measure.status == "stopped",
                                 ~evaluated.exists())


def meeting_informs_home(t: TransitionDef, payload: Mapping[str, Any],
                         today: date) -> date | None:
    """The day a recorded meeting informed the home, when the workflow says a meeting of its
    kind with the home present does (``home_informed_by``, the undringssamtale), so the guard
    ``home_informed`` is met by the meeting itself; None otherwise (and for a meeting dated
    ahead: a planned one has informed nobody yet)."""
    rule = t.home_informed_by
    if rule is None or not rule.met(payload):
        return None
    held = payload.get("held_on")
    return held if isinstance(held, date) and held <= today else None


class CaseFacts(Mapping[str, bool]):
    """The guards of one case. Rows access has already read (``participants``: the active and
    still covered ones; ``consents``; ``lapsed``: relations whose consent expired) are passed in
    so that nothing is read twice."""

    def __init__(self, ctx: Ctx, case: Case, definition: WorkflowDefinition,
                 participants: list[Participant] | None = None, *,
                 consents: Sequence[ConsentLike] | None = None,
                 lapsed: Iterable[Participant] = (),
                 measures: list[Measure] | None = None,
                 awaiting_reports: list[BarnevernReport] | None = None,
                 reports: list[BarnevernReport] | None = None) -> None:
        self.ctx = ctx
        self.case = case
        self.definition = definition
        self._cache: dict[str, bool] = {}
        self.lapsed_recipients = frozenset(
            p.user_id for p in lapsed if p.relation == Relation.HANDOVER_RECIPIENT.value)
        if participants is not None:
            self.__dict__["participants"] = participants
        if consents is not None:
            self.__dict__["consents"] = consents
        if reports is not None:  # every report of concern of the case (kind "report"), read
            # once, oldest first: the reports the guards ask about are among them
            self.__dict__["reports_without_debrief"] = [
                r for r in reports if r.debrief_recorded_at is None]
        if measures is not None:  # every measure of the case, already read
            self.__dict__["active_measures"] = [m for m in measures if m.status == "active"]
        if awaiting_reports is not None:  # the reports awaiting feedback, already read
            self.__dict__["awaiting_reports"] = awaiting_reports

    def __getitem__(self, name: str) -> bool:
        if name not in GUARDS:
            raise KeyError(name)
        if name not in self._cache:
            self._cache[name] = bool(getattr(self, f"_{name}")())
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(GUARDS)

    def __len__(self) -> int:
        return len(GUARDS)

    # --- rows, loaded once per fire -----------------------------------------------------------

    @cached_property
    def participants(self) -> list[Participant]:
        return list(self.ctx.session.scalars(
            select(Participant).where(Participant.case_id == self.case.id,
                                      Participant.ended_at.is_(None))))

    @cached_property
    def active_measures(self) -> list[Measure]:
        return list(self.ctx.session.scalars(
            select(Measure).where(Measure.case_id == self.case.id, Measure.status == "active")))

    @cached_property
    def stopped_unevaluated(self) -> list[Measure]:
        """Measures stopped without an evaluation: each still needs one."""
        return list(self.ctx.session.scalars(stopped_unevaluated(self.case.id)))

    @cached_property
    def consents(self) -> Sequence[ConsentLike]:
        return list(self.ctx.session.scalars(
            select(Consent).where(Consent.case_id == self.case.id, Consent.status == "given")))

    @cached_property
    def pending_handover(self) -> Handover | None:
        """The handover waiting for an answer; none when its recipient's consent has expired
        (the recipient has no access any more; ``fire`` cancels it)."""
        h = self.ctx.session.scalar(
            select(Handover).where(Handover.case_id == self.case.id,
                                   Handover.status == "proposed"))
        if h is None:
            return None
        if h.to_user_id is None:  # to the coordinating unit: while one of its recipients may
            return h if self.recipient_ids else None
        return None if h.to_user_id in self.lapsed_recipients else h

    @cached_property
    def recipient_ids(self) -> frozenset[int]:
        """Who may answer the waiting handover now: their relation is active and covered."""
        return frozenset(p.user_id for p in self.participants
                         if p.relation == Relation.HANDOVER_RECIPIENT.value)

    @cached_property
    def youth_required(self) -> bool:
        return youth_consent_required(self.case.child_birth_year, self.ctx.today(),
                                      self.definition.settings.youth_consent_age)

    @cached_property
    def covered(self) -> frozenset[int]:
        return covered_units(self.consents, self.ctx.today(), self.youth_required)

    def uncovered_participant_units(self) -> list[int]:
        """Services taking part (participants from another unit) no current consent covers."""
        return list(dict.fromkeys(
            p.unit_id for p in self.participants
            if p.relation == Relation.PARTICIPANT.value and p.unit_id is not None
            and p.unit_id != self.case.unit_id and p.unit_id not in self.covered))

    def unit_names(self, unit_ids: Iterable[int]) -> list[str]:
        """The units' names, in the order given (for refusals that name a service)."""
        ids = list(dict.fromkeys(unit_ids))
        if not ids:
            return []
        names = dict(self.ctx.session.execute(
            select(Unit.id, Unit.name).where(Unit.id.in_(ids))).all())
        return [names.get(i, f"#{i}") for i in ids]

    # --- why a guard fails, as data (``bti.engine``: ``Refusal.detail`` and ``params``) ----

    def explain(self, guard: str) -> tuple[str, dict[str, Any]] | None:
        """What exactly is missing when ``guard`` fails: a detail key of
        ``bti.domain.vocabulary.GUARD_DETAILS`` and its parameters; None for the guard's own
        message."""
        if guard == "consent_valid":
            return self._why_no_valid_consent()
        if guard == "consent_covers_services":
            units = self.uncovered_participant_units()
            return ("not_covered", {"units": self.unit_names(units)}) if units else None
        return None

    def _why_no_valid_consent(self) -> tuple[str, dict[str, Any]]:
        today = self.ctx.today()
        current = [c for c in self.consents if consent_is_current(c, today)]
        own = self.unit_names([self.case.unit_id])[0]
        if self.covered:  # a consent holds, but only for the case's own unit
            return "own_unit_only", {"unit": own}
        guardians = [c for c in current if c.given_by in ("guardians", "guardians_and_youth")]
        youth = [c for c in current if c.given_by in ("youth", "guardians_and_youth")]
        age = self.definition.settings.youth_consent_age
        if self.youth_required and guardians and youth:
            return "no_common_service", {"unit": own}
        if self.youth_required and guardians:
            return "youth_missing", {"age": str(age)}
        if self.youth_required and youth:
            return "guardians_missing", {}
        expired = [c.expires_on for c in self.consents if c.expires_on is not None
                   and (end := consent_ended_on(c)) is not None and end <= today]
        if expired:  # a consent held, and ran out
            return "expired", {"date": max(expired).isoformat()}
        if self.youth_required:
            return "missing_with_youth", {"age": str(age)}
        return "missing", {}

    # --- the guards (names in bti.domain.vocabulary.GUARDS) -----------------------------------

    def _has_stafettholder(self) -> bool:
        return self.case.stafettholder_id is not None

    def _no_stafettholder(self) -> bool:
        return self.case.stafettholder_id is None

    def _consent_valid(self) -> bool:
        return bool(self.covered - {self.case.unit_id})

    def _consent_covers_services(self) -> bool:
        return not self.uncovered_participant_units()

    def _measures_owned_and_dated(self) -> bool:
        return all(m.responsible_id and m.evaluate_by for m in self.active_measures)

    def _has_active_measure(self) -> bool:
        return bool(self.active_measures)

    def _measures_evaluated(self) -> bool:
        """Every measure evaluated: none running, and none stopped without an evaluation (a
        stop records one only when its form carried the effect and the child's voice)."""
        return not self.active_measures and not self.stopped_unevaluated

    def _no_violence_flag(self) -> bool:
        return not self.case.violence_flag

    def _violence_flag_set(self) -> bool:
        return self.case.violence_flag

    def _home_informed(self) -> bool:
        """Recorded as such (``inform_home``), or by a meeting the workflow counts as informing
        the home (``meeting_informs_home``, which sets the same date); under the violence flag
        the home is not to be informed, so nothing waits for it."""
        return self.case.home_informed_on is not None or self.case.violence_flag

    def _no_pending_handover(self) -> bool:
        return self.pending_handover is None

    def _is_handover_recipient(self) -> bool:
        """The actor may answer the waiting handover: the person proposed, or, for a handover
        to the coordinating unit, one of its leaders and coordinators."""
        h = self.pending_handover
        if h is None:
            return False
        if h.to_user_id is None:
            return self.ctx.actor.id in self.recipient_ids
        return h.to_user_id == self.ctx.actor.id

    @cached_property
    def individual_plan(self) -> IndividualPlan | None:
        """The case's individual plan, once a handover to one was accepted."""
        return self.ctx.session.scalar(
            select(IndividualPlan).where(IndividualPlan.case_id == self.case.id))

    def _has_ip(self) -> bool:
        return self.individual_plan is not None

    def _may_edit_ansvarsgruppe(self) -> bool:
        plan = self.individual_plan
        return may_edit_ansvarsgruppe(self.ctx.actor, self.case.stafettholder_id,
                                      plan.coordinator_id if plan is not None else None)

    def _ip_handover(self) -> bool:
        h = self.pending_handover
        return h is not None and h.purpose == HANDOVER_IP

    def _not_ip_handover(self) -> bool:
        h = self.pending_handover
        return h is not None and h.purpose != HANDOVER_IP

    def _may_withdraw_handover(self) -> bool:
        """A handover waits, and the actor proposed it or holds the baton."""
        h = self.pending_handover
        return h is not None and self.ctx.actor.id in (h.proposed_by_id or h.from_user_id,
                                                       self.case.stafettholder_id)

    @cached_property
    def reports_without_debrief(self) -> list[BarnevernReport]:
        """Reports of concern whose reporter has not been recorded as offered a debrief."""
        return list(self.ctx.session.scalars(
            select(BarnevernReport).where(
                BarnevernReport.case_id == self.case.id, BarnevernReport.kind == "report",
                BarnevernReport.debrief_recorded_at.is_(None))
            .order_by(BarnevernReport.sent_on, BarnevernReport.id)))

    def _has_report_without_debrief(self) -> bool:
        return bool(self.reports_without_debrief)

    def _has_report_awaiting_feedback(self) -> bool:
        """A report whose concluding feedback has not come (``BarnevernReport``)."""
        if "awaiting_reports" in self.__dict__:
            return bool(self.__dict__["awaiting_reports"])
        return self.ctx.session.scalar(
            select(BarnevernReport.id).where(
                BarnevernReport.case_id == self.case.id, BarnevernReport.kind == "report",
                BarnevernReport.concluded_on.is_(None)).limit(1)) is not None

    def _has_active_consent(self) -> bool:
        today = self.ctx.today()
        return any(consent_is_current(c, today) for c in self.consents)
