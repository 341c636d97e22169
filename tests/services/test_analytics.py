"""Every dashboard metric against a small hand-computed history, the suppression rule, access
and the catalogue of measures. Days are relative to FIXED_NOW (2026-03-02); see ``history``."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bti.domain.cases import Measure
from bti.domain.log import AuditEvent
from bti.engine import TransitionRefused
from bti.services.analytics import aggregates
from bti.services.analytics import catalogue
from bti.services.analytics import dashboard as analytics
from bti.services.analytics import suppression
from bti.services.errors import InvalidInput
from bti.services.errors import NotFound
from tests.services.test_inbox import Script


@pytest.fixture
def script(world, session):
    return Script(session, world.registry)


def _item(w, script, name="Vennegruppe", **kw):
    data = dict(name=name, description="Fast gruppe med vaksen.", kind="selective",
                age_from=6, age_to=12) | kw
    return catalogue.create_item(script.ctx(w.leader, -120), catalogue.ItemInput(**data))


def history(w, script):
    """C1..C10 open on day -100 and reach nivå 1 on day -100+k (k = 1..10); each gets one
    measure on day -80 (C1..C6 from the catalogue, C7..C10 free text), evaluated on day -61
    (C1..C3 good, C4..C6 some, C7..C10 some; the child's own words for C1..C5). C1..C5 are
    reported to barnevernet on day -70, feedback after 1, 2, 4, 10 and 14 days. C1..C8 close
    on day -50. N1..N6 open on day -20 and N7 on day -3, all still at nivå 0. C9 is handed
    over on day -40 and accepted on day -37."""
    item = _item(w, script)
    lead, holder = w.leader, w.coordinator
    cs = []
    for k in range(1, 11):
        case = script.open(w.teacher, day=-100, pseudonym=f"C{k}")
        script.to_n1(case, w.teacher, lead, holder, day=-100 + k)
        payload = {"description": "Samtale kvar veke", "responsible": holder.id,
                   "start_date": script.date(-80), "evaluate_by": script.date(-62)}
        if k <= 6:
            payload["catalogue"] = item.id
        mid = script.fire(holder, case, "add_measure", payload, day=-80).entry.object_id
        script.fire(holder, case, "start", day=-80)
        if k <= 5:
            script.fire(holder, case, "report_barnevernet", {"sent_on": script.date(-70)},
                        day=-70)
        script.fire(holder, case, "evaluate", day=-61)
        voice = {"child_said": "Betre no."} if k <= 5 else {
            "child_not_heard_reason": "Barnet ville ikkje."}
        script.fire(holder, case, "record_evaluation", {
            "measures": [mid], "effect": "good" if k <= 3 else "some",
            "child_voice_method": "conversation", "outcome": "continue", **voice}, day=-61)
        script.fire(holder, case, "decide", day=-61)
        cs.append(case)
    for k, days in zip(range(1, 6), (1, 2, 4, 10, 14), strict=True):
        script.fire(holder, cs[k - 1], "record_barnevern_feedback", {
            "received_on": script.date(-70 + days), "feedback_kind": "receipt_confirmed"}, day=-55)
    for case in cs[:8]:
        script.fire(holder, case, "close", {"reason": "Måla er nådde no."}, day=-50)
    script.fire(holder, cs[8], "propose_handover", {"to_user": lead.id,
                                                    "reason": "Leiaren tek over."}, day=-40)
    script.fire(lead, cs[8], "accept_handover", day=-37)
    ns = [script.open(w.teacher, day=-20, pseudonym=f"N{i}") for i in range(1, 7)]
    ns.append(script.open(w.teacher, day=-3, pseudonym="N7"))
    return item, cs, ns


@pytest.fixture
def built(world, script):
    return history(world, script)


def test_each_metric_against_the_hand_computed_history(world, script, built):
    w = world
    item, cs, ns = built
    ctx = script.ctx(w.leader)
    f = analytics.filters(ctx)
    assert (f.start, f.end) == ("2025-04", "2026-03")

    opened = analytics.open_by_level(ctx, f)
    # n0: 7, n1: 2 -> 2 is suppressed, and 7 with it (the total 9 is shown)
    assert [(r.level, r.count) for r in opened.rows] == [
        ("n0", None), ("n1", None), ("n2", 0), ("n3", 0)]
    assert opened.total == 9

    flows = analytics.flows(ctx, f)
    assert [(x.source, x.dest, x.count) for x in flows.flows] == [
        ("n0", "n1", 10), ("n1", "closed", 8)]
    assert flows.levels == ("n0", "n1", "closed")

    t = analytics.time_in_level(ctx, f)
    # n0: 1..10 days -> p50 5, p90 9; n1: 42..49 days, kept to the week above 31 days
    # (42 seven times, 49 once) -> p50 42, p90 49
    assert [(x.level, x.count, x.p50, x.p90) for x in t.levels] == [
        ("n0", 10, 5, 9), ("n1", 8, 42, 49)]
    # left nivå 0 in November (k = 1..8, days -99..-92) and December (k = 9, 10)
    assert t.months == ("2025-11", "2025-12", "2026-01")
    assert [(p.month, p.level, p.count, p.p50) for p in t.trend] == [
        ("2025-11", "n0", 8, 4), ("2025-12", "n0", None, None), ("2026-01", "n1", 8, 42)]

    stuck = analytics.stuck(ctx, f)
    assert dict(stuck.counts) == {"evaluation_overdue": 0, "inactive_30": None,
                                  "inactive_60": None, "n0_overdue": 6, "handover_pending": 0}

    r = analytics.reports(ctx, f)
    # answered (receipt confirmed), but none concluded: all five still await feedback
    assert (r.sent, r.feedback_received, r.awaiting, r.overdue) == (5, 5, 5, 0)
    assert (r.investigated, r.concluded) == (0, 0)
    assert (r.days_p50, r.days_p90, r.avverge) == (4, 14, 0)

    v = analytics.child_voice(ctx, f)
    assert (v.evaluations, v.with_voice, v.without_voice, v.share) == (10, 5, 5, 50.0)

    use = analytics.catalogue_use(ctx, f)
    rows = {row.catalogue_id: row for row in use.rows}
    assert set(rows) == {item.id, None}
    x = rows[item.id]
    assert (x.name, x.started, x.evaluated) == ("Vennegruppe", 6, 6)
    assert dict(x.effects) == {"good": None, "some": None, "none": 0, "worse": 0}
    assert x.effective_share == 100.0
    free = rows[None]
    assert (free.started, free.evaluated, free.effective_share) == (None, None, None)

    h = analytics.handovers(ctx, f)
    assert (h.proposed, h.accepted, h.declined, h.pending, h.days_p50) == (
        None, None, 0, 0, None)


def test_write_time_aggregates_equal_a_full_recompute(world, session, built):
    w = world
    assert aggregates.stored(session) == aggregates.compute(session, w.registry)
    before = aggregates.stored(session)
    aggregates.recompute(session, w.registry)
    assert aggregates.stored(session) == before


def test_the_period_and_the_unit_filter(world, script, built):
    w = world
    ctx = script.ctx(w.leader)
    f = analytics.filters(ctx, start="2025-12", end="2026-03")
    assert [(x.source, x.dest, x.count) for x in analytics.flows(ctx, f).flows] == [
        ("n0", "n1", None), ("n1", "closed", 8)]
    assert analytics.reports(ctx, f).sent == 5  # sent on 2025-12-22
    f = analytics.filters(ctx, start="2026-01", end="2026-03")
    assert [(x.source, x.dest, x.count) for x in analytics.flows(ctx, f).flows] == [
        ("n1", "closed", 8)]
    assert analytics.reports(ctx, f).sent == 0
    other = analytics.filters(ctx, unit=str(w.health.id))
    assert analytics.open_by_level(ctx, other).total == 0
    assert analytics.flows(ctx, other).flows == ()


def test_filters_are_checked(world, script):
    w = world
    ctx = script.ctx(w.leader)
    with pytest.raises(InvalidInput) as err:
        analytics.filters(ctx, start="2026-13", end="2026-01")
    assert err.value.fields == {"from": ["invalid"]}
    with pytest.raises(InvalidInput):
        analytics.filters(ctx, start="2026-03", end="2026-01")
    foreign_unit = w.foreign.unit_id
    with pytest.raises(NotFound):
        analytics.filters(ctx, unit=str(foreign_unit))
    for bad in ("1; DROP", "²", "١", "9" * 5000, "0001-01"):  # not a number: say so (422)
        with pytest.raises(InvalidInput) as err:
            analytics.filters(ctx, unit=bad)
        assert err.value.fields == {"unit": ["not_a_number"]}
    for end in ("0000-01", "0001-01", "9999-12", "٢٠٢٦-٠١"):  # years date cannot step from
        with pytest.raises(InvalidInput) as err:
            analytics.filters(ctx, end=end)
        assert err.value.fields == {"to": ["invalid"]}
    for actor in (w.teacher, w.coordinator, w.nurse):
        with pytest.raises(NotFound):
            analytics.filters(script.ctx(actor))
    assert analytics.filters(script.ctx(w.admin)).municipality_id == w.municipality.id


def test_the_dashboard_is_audited_and_scoped_to_the_municipality(world, session, script, built):
    w = world
    ctx = script.ctx(w.foreign)
    board = analytics.dashboard(ctx, analytics.filters(ctx))
    assert board.open_by_level.total == 0
    assert board.flows.flows == ()
    mine = analytics.dashboard(script.ctx(w.admin), analytics.filters(script.ctx(w.admin)))
    assert mine.open_by_level.total == 9
    assert not mine.can_drill  # admins see no case numbers
    session.commit()
    rows = list(session.scalars(select(AuditEvent).where(AuditEvent.action == "analytics.viewed")))
    assert {(r.actor_id, r.municipality_id, r.case_id) for r in rows} == {
        (w.foreign.id, w.foreign.municipality_id, None), (w.admin.id, w.municipality.id, None)}


def test_a_leader_drills_into_stuck_cases_of_their_own_unit(world, session, script, built):
    w = world
    item, cs, ns = built
    ctx = script.ctx(w.leader)
    listed = analytics.stuck_cases(ctx, "n0_overdue")
    assert listed.case_ids == tuple(sorted(c.id for c in ns[:6]))
    listed = analytics.stuck_cases(ctx, "inactive_60")
    assert listed.case_ids == (cs[9].id,)  # C9 moved on day -37 (handover)
    session.commit()
    audited = list(session.scalars(select(AuditEvent.case_id).where(
        AuditEvent.action == "case.listed")))
    assert sorted(audited) == sorted([c.id for c in ns[:6]] + [cs[9].id])
    with pytest.raises(NotFound):
        analytics.stuck_cases(script.ctx(w.admin), "n0_overdue")
    with pytest.raises(NotFound):
        analytics.stuck_cases(ctx, "everything")


def test_an_overdue_evaluation_is_stuck(world, script):
    w = world
    case = script.open(w.teacher, day=-30)
    script.to_n1(case, w.teacher, w.leader, w.coordinator, day=-30)
    script.measure(w.coordinator, case, start=-30, evaluate_by=-1)
    ctx = script.ctx(w.leader)
    assert analytics.stuck(ctx, analytics.filters(ctx)).counts["evaluation_overdue"] is None
    assert analytics.stuck_cases(ctx, "evaluation_overdue").case_ids == (case.id,)


@pytest.mark.parametrize(("parts", "shown"), [
    ([7, 2, 0, 0], [None, None, 0, 0]),
    ([7, 6, 0], [7, 6, 0]),
    ([7, 6, 1], [7, None, None]),
    ([3, 3, 9], [None, None, 9]),
    ([0, 0], [0, 0]),
])
def test_secondary_suppression(parts, shown):
    assert suppression.sup_group(parts) == shown


def test_shares_and_percentiles_that_would_reveal_a_small_count_are_suppressed():
    assert suppression.share(5, 10) == 50.0
    assert suppression.share(6, 6) == 100.0
    assert suppression.share(0, 6) == 0.0
    assert suppression.share(3, 10) is None
    assert suppression.share(7, 10) is None  # the remainder is 3
    assert suppression.share(4, 4) is None
    assert suppression.percentile({3: 4}, 0.5) is None
    assert suppression.percentile({1: 1, 2: 1, 3: 1, 4: 1, 10: 1}, 0.9) == 10
    assert suppression.percentile({1: 1, 2: 1, 3: 1, 4: 1, 10: 1}, 0.5) == 3


# --- the catalogue -----------------------------------------------------------------------------


def test_the_catalogue_is_kept_by_leaders_and_admins_and_audited(world, session, script):
    w = world
    item = _item(w, script)
    with pytest.raises(InvalidInput) as err:
        catalogue.create_item(script.ctx(w.admin), catalogue.ItemInput(
            name="Vennegruppe", description="", kind="other", age_from=10, age_to=30))
    assert err.value.fields == {"name": ["taken"], "kind": ["invalid"], "age_to": ["age_range"]}
    with pytest.raises(InvalidInput) as err:
        catalogue.create_item(script.ctx(w.admin), catalogue.ItemInput(
            name="Leksehjelp", description="", kind="universal", age_from=12, age_to=6))
    assert err.value.fields == {"age_to": ["age_order"]}
    catalogue.update_item(script.ctx(w.admin), item.id, catalogue.ItemInput(
        name="Vennegruppe 2", description="Ny", kind="indicated", age_from=0, age_to=24))
    catalogue.set_active(script.ctx(w.admin), item.id, False)
    assert [i.active for i in catalogue.list_items(script.ctx(w.leader))] == [False]
    for actor in (w.teacher, w.coordinator):
        with pytest.raises(NotFound):
            catalogue.list_items(script.ctx(actor))
    with pytest.raises(NotFound):
        catalogue.get_item(script.ctx(w.foreign), item.id)
    session.commit()
    actions = list(session.scalars(select(AuditEvent.action).where(
        AuditEvent.object_type == "measure_catalogue").order_by(AuditEvent.id)))
    assert actions == ["catalogue.created", "catalogue.updated", "catalogue.deactivated"]


def test_a_measure_is_started_from_an_active_catalogue_item_of_the_municipality(
        world, session, script):
    w = world
    item = _item(w, script)
    foreign = catalogue.create_item(script.ctx(w.foreign), catalogue.ItemInput(
        name="Nabotiltak", description="", kind="universal", age_from=0, age_to=24))
    case = script.open(w.teacher, day=-10)
    script.to_n1(case, w.teacher, w.leader, w.coordinator, day=-10)
    base = {"description": "Vennegruppe kvar tysdag", "responsible": w.coordinator.id,
            "start_date": script.date(-1), "evaluate_by": script.date(20)}
    mid = script.fire(w.coordinator, case, "add_measure", {**base, "catalogue": item.id},
                      day=-1).entry.object_id
    assert session.get(Measure, mid).catalogue_id == item.id
    with pytest.raises(TransitionRefused) as err:
        script.fire(w.coordinator, case, "add_measure", {**base, "catalogue": foreign.id})
    assert err.value.refusals[0].fields == {"catalogue": ["not_in_municipality"]}
    catalogue.set_active(script.ctx(w.leader), item.id, False)
    with pytest.raises(TransitionRefused) as err:
        script.fire(w.coordinator, case, "add_measure", {**base, "catalogue": item.id})
    assert err.value.refusals[0].fields == {"catalogue": ["not_active"]}
    free = script.fire(w.coordinator, case, "add_measure", base).entry.object_id
    assert session.get(Measure, free).catalogue_id is None
