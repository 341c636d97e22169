"""The scheduled scan (``bti notify scan``, from cron or a systemd timer): the notices no request
causes, because they come from the passing of time. Each is written once (its dedupe key names
the thing it is about), so the scan may run as often as wished; one run is one transaction.

- ``CONSENT_EXPIRING``: a consent expires within the workflow's warning days (the
  stafettholder; one notice per consent, as the listing's warning);
- ``CONSENT_EXPIRED``: a consent ran out and nothing renewed what it opened (the stafettholder);
- ``EVALUATION_DUE`` / ``EVALUATION_OVERDUE``: a running measure's ``evaluate_by`` is within
  ``EVALUATION_DUE_DAYS`` days, or has passed (the stafettholder and the measure's responsible);
- ``LEVEL0_DEADLINE_PASSED``: nivå 0's decision deadline (the workflow's
  ``level_decision_days``, counted from when the case opened) has passed (the stafettholder, or
  without one whoever reported the concern);
- ``BARNEVERN_FEEDBACK_OVERDUE``: barnevernet has not answered a report by
  ``feedback_expected_by`` (the reporter and the stafettholder).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from datetime import timedelta

from sqlalchemy import select

from bti.domain.cases import BarnevernReport
from bti.domain.cases import Case
from bti.domain.cases import Consent
from bti.domain.cases import Measure
from bti.domain.rules import case_coverage
from bti.domain.rules import expired_unrenewed
from bti.domain.rules import level_decision_due
from bti.engine import WorkflowDefinition
from bti.services.cases import inbox
from bti.services.context import Ctx
from bti.services.notify.events import Event
from bti.services.notify.outbox import Notice
from bti.services.notify.outbox import emit_many

#: How many days before ``evaluate_by`` an evaluation is "due" (as the inbox says).
EVALUATION_DUE_DAYS = inbox.EVALUATION_DUE_DAYS

#: The events the scan writes, in the order it reports them.
SCANNED = (Event.CONSENT_EXPIRING, Event.CONSENT_EXPIRED, Event.EVALUATION_DUE,
           Event.EVALUATION_OVERDUE, Event.LEVEL0_DEADLINE_PASSED,
           Event.BARNEVERN_FEEDBACK_OVERDUE)


class _Definitions:
    """Each case's workflow definition, read once per version."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.known: dict[int, WorkflowDefinition] = {}

    def __call__(self, case: Case) -> WorkflowDefinition:
        rid = case.workflow_definition_id
        if rid not in self.known:
            self.known[rid] = self.ctx.workflows.for_record(self.ctx.session, rid).definition
        return self.known[rid]


def _holder(case: Case) -> list[int]:
    return [case.stafettholder_id] if case.stafettholder_id is not None else []


def scan(ctx: Ctx) -> dict[Event, int]:
    """Write every notice that is due today and not yet written; how many per event. A job's
    context (``Ctx.system`` with the workflows): no actor is left out."""
    definitions = _Definitions(ctx)
    today = ctx.today()
    counts = dict.fromkeys(SCANNED, 0)
    counts[Event.CONSENT_EXPIRING] = inbox.warn_all_expiring_consents(ctx)
    counts[Event.CONSENT_EXPIRED] = _consents_expired(ctx, definitions, today)
    due, overdue = _evaluations(ctx, today)
    counts[Event.EVALUATION_DUE] = due
    counts[Event.EVALUATION_OVERDUE] = overdue
    counts[Event.LEVEL0_DEADLINE_PASSED] = _level0(ctx, definitions, today)
    counts[Event.BARNEVERN_FEEDBACK_OVERDUE] = _feedback(ctx, today)
    ctx.session.flush()
    return counts


def _consents_expired(ctx: Ctx, definitions: _Definitions, today: date) -> int:
    expired_cases = select(Consent.case_id).where(
        Consent.status == "given", Consent.withdrawn_at.is_(None), Consent.expires_on < today)
    cases = list(ctx.session.scalars(select(Case).where(
        Case.closed_at.is_(None), Case.stafettholder_id.is_not(None),
        Case.id.in_(expired_cases)).order_by(Case.id)))
    if not cases:
        return 0
    given: dict[int, list[Consent]] = defaultdict(list)
    for c in ctx.session.scalars(select(Consent).where(
            Consent.case_id.in_([c.id for c in cases]), Consent.status == "given",
            Consent.withdrawn_at.is_(None)).order_by(Consent.id)):
        given[c.case_id].append(c)
    notices = []
    for case in cases:
        definition = definitions(case)
        if definition.state(case.state).final:
            continue
        consents = given[case.id]
        covered = case_coverage(case, consents, today, definition.settings.youth_consent_age)
        notices += [Notice(_holder(case), c.id, case.id,
                           {"consent_id": c.id, "expires_on": c.expires_on})
                    for c in expired_unrenewed(case, consents, today, covered)]
    return len(emit_many(ctx, Event.CONSENT_EXPIRED, notices))


def _evaluations(ctx: Ctx, today: date) -> tuple[int, int]:
    rows = ctx.session.execute(
        select(Measure, Case).join(Case, Case.id == Measure.case_id).where(
            Case.closed_at.is_(None), Measure.status == "active",
            Measure.evaluate_by <= today + timedelta(days=EVALUATION_DUE_DAYS))
        .order_by(Measure.id)).all()
    due: list[Notice] = []
    overdue: list[Notice] = []
    for m, case in rows:
        # the date is part of the key: a measure whose date moves is told of the new one
        notice = Notice([*_holder(case), m.responsible_id], f"{m.id}:{m.evaluate_by}",
                        case.id, {"measure_id": m.id, "evaluate_by": m.evaluate_by})
        (overdue if m.evaluate_by < today else due).append(notice)
    return (len(emit_many(ctx, Event.EVALUATION_DUE, due)),
            len(emit_many(ctx, Event.EVALUATION_OVERDUE, overdue)))


def _level0(ctx: Ctx, definitions: _Definitions, today: date) -> int:
    notices = []
    for case in ctx.session.scalars(select(Case).where(Case.closed_at.is_(None))
                                    .order_by(Case.id)):
        definition = definitions(case)
        state = definition.state(case.state)
        level0 = definition.state(definition.initial).level
        days = definition.deadlines.level_decision_days.get(level0)
        if state.final or state.level != level0 or days is None:
            continue
        due = level_decision_due(case.opened_at, days)  # nivå 0 runs from the concern
        if due < today:
            notices.append(Notice(_holder(case) or [case.opened_by_id], case.id, case.id,
                                  {"case_id": case.id, "due": due}))
    return len(emit_many(ctx, Event.LEVEL0_DEADLINE_PASSED, notices))


def _feedback(ctx: Ctx, today: date) -> int:
    rows = ctx.session.execute(
        select(BarnevernReport, Case).join(Case, Case.id == BarnevernReport.case_id).where(
            Case.closed_at.is_(None), BarnevernReport.kind == "report",
            BarnevernReport.feedback_received_on.is_(None),
            BarnevernReport.feedback_expected_by < today)
        .order_by(BarnevernReport.id)).all()
    notices = [Notice([r.sent_by_id, *_holder(case)], r.id, case.id,
                      {"report_id": r.id, "expected_by": r.feedback_expected_by})
               for r, case in rows]
    return len(emit_many(ctx, Event.BARNEVERN_FEEDBACK_OVERDUE, notices))
