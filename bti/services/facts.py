"""Guards computed from a case: a lazy mapping, each fact loaded only when a guard asks."""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from functools import cached_property

from sqlalchemy import select

from bti.domain.cases import BarnevernReport
from bti.domain.cases import Case
from bti.domain.cases import Consent
from bti.domain.cases import Handover
from bti.domain.cases import Measure
from bti.domain.cases import Participant
from bti.domain.rules import consent_is_current
from bti.domain.rules import covered_units
from bti.domain.rules import youth_consent_required
from bti.domain.vocabulary import GUARDS
from bti.domain.vocabulary import Relation
from bti.engine import WorkflowDefinition
from bti.services.context import Ctx


class CaseFacts(Mapping[str, bool]):
    def __init__(self, ctx: Ctx, case: Case, definition: WorkflowDefinition,
                 participants: list[Participant] | None = None) -> None:
        self.ctx = ctx
        self.case = case
        self.definition = definition
        self._cache: dict[str, bool] = {}
        if participants is not None:
            self.__dict__["participants"] = participants

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
    def consents(self) -> list[Consent]:
        return list(self.ctx.session.scalars(
            select(Consent).where(Consent.case_id == self.case.id, Consent.status == "given")))

    @cached_property
    def pending_handover(self) -> Handover | None:
        return self.ctx.session.scalar(
            select(Handover).where(Handover.case_id == self.case.id,
                                   Handover.status == "proposed"))

    @cached_property
    def covered(self) -> frozenset[int]:
        today = self.ctx.today()
        youth = youth_consent_required(self.case.child_birth_year, today,
                                       self.definition.settings.youth_consent_age)
        return covered_units(self.consents, today, youth)

    # --- the guards (names in bti.domain.vocabulary.GUARDS) -----------------------------------

    def _has_stafettholder(self) -> bool:
        return self.case.stafettholder_id is not None

    def _no_stafettholder(self) -> bool:
        return self.case.stafettholder_id is None

    def _consent_valid(self) -> bool:
        return bool(self.covered - {self.case.unit_id})

    def _consent_covers_services(self) -> bool:
        return all(
            p.unit_id is None or p.unit_id == self.case.unit_id or p.unit_id in self.covered
            for p in self.participants if p.relation == Relation.PARTICIPANT.value
        )

    def _measures_owned_and_dated(self) -> bool:
        return all(m.responsible_id and m.evaluate_by for m in self.active_measures)

    def _has_active_measure(self) -> bool:
        return bool(self.active_measures)

    def _measures_evaluated(self) -> bool:
        return not self.active_measures

    def _no_violence_flag(self) -> bool:
        return not self.case.violence_flag

    def _violence_flag_set(self) -> bool:
        return self.case.violence_flag

    def _home_informed(self) -> bool:
        return self.case.home_informed_on is not None or self.case.violence_flag

    def _no_pending_handover(self) -> bool:
        return self.pending_handover is None

    def _is_handover_recipient(self) -> bool:
        h = self.pending_handover
        return h is not None and h.to_user_id == self.ctx.actor.id

    def _has_report_awaiting_feedback(self) -> bool:
        return self.ctx.session.scalar(
            select(BarnevernReport.id).where(
                BarnevernReport.case_id == self.case.id, BarnevernReport.kind == "report",
                BarnevernReport.feedback_received_on.is_(None)).limit(1)) is not None

    def _has_active_consent(self) -> bool:
        today = self.ctx.today()
        return any(consent_is_current(c, today) for c in self.consents)
