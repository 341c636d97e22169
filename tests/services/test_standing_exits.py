"""Everyone who may read a case may take its standing exits (report to barnevernet,
avvergeplikt; domain.md §5.3, PRIV-04), in every workflow file. The relations are enumerated
from the code: every relation of the vocabulary and every access basis of the rules must have a
maker below, so a relation added later cannot be forgotten. All names are made up."""

from __future__ import annotations

import pytest

from bti.domain.cases import Handover
from bti.domain.cases import Participant
from bti.domain.rules import BASIS_ORDER
from bti.domain.rules import access_basis
from bti.domain.vocabulary import STANDING_ROLES
from bti.domain.vocabulary import Relation
from bti.services.access import emergency as access
from bti.services.cases import lifecycle as cases
from tests.conftest import WORKFLOWS
from tests.conftest import World
from tests.factories import CONCERN
from tests.factories import FIXED_NOW
from tests.factories import TODAY
from tests.factories import make_user

WORKFLOW_IDS = sorted(p.stem for p in WORKFLOWS.glob("*.toml"))
REASON = "Barnet fortalde om noko alvorleg i friminuttet i dag."


def _reporter(w, case):
    return w.teacher


def _stafettholder(w, case):
    cases.fire(w.ctx(w.leader), case.id, "appoint_stafettholder",
               {"stafettholder": w.coordinator.id})
    return w.coordinator


def _participant(w, case):
    """A participant from the case's own service (no consent needed), as add_participant
    writes it."""
    w.session.add(Participant(case_id=case.id, user_id=w.outsider.id, unit_id=case.unit_id,
                              relation=Relation.PARTICIPANT.value, added_by_id=w.leader.id,
                              added_at=FIXED_NOW))
    w.session.flush()
    return w.outsider


def _unit_leader(w, case):
    return w.leader


def _handover_recipient(w, case):
    """A proposed next stafettholder from the case's own service, as handover_proposed writes
    it (the relation and the handover)."""
    user = make_user(w.session, w.municipality, w.school, ("employee",))
    w.session.add(Participant(case_id=case.id, user_id=user.id, unit_id=user.unit_id,
                              relation=Relation.HANDOVER_RECIPIENT.value,
                              added_by_id=w.leader.id, added_at=FIXED_NOW))
    w.session.add(Handover(case_id=case.id, from_user_id=None, to_user_id=user.id,
                           status="proposed", reason="Ny stafetthaldar", proposed_at=FIXED_NOW))
    w.session.flush()
    return user


def _emergency(w, case):
    access.request_emergency_access(w.ctx(w.psychologist), case.id, REASON)
    return w.psychologist


#: How each relation comes about; the test below fails when a relation has no maker.
MAKERS = {
    Relation.REPORTER: _reporter,
    Relation.STAFETTHOLDER: _stafettholder,
    Relation.PARTICIPANT: _participant,
    Relation.UNIT_LEADER: _unit_leader,
    Relation.HANDOVER_RECIPIENT: _handover_recipient,
    Relation.EMERGENCY: _emergency,
}


def read_relations() -> list[str]:
    """Every relation that lets its holder read a case, from the code."""
    return [r for r in BASIS_ORDER if access_basis(frozenset({r})) is not None]


def test_every_relation_and_every_access_basis_has_a_maker():
    assert {r.value for r in MAKERS} == {r.value for r in Relation}
    assert set(read_relations()) == set(BASIS_ORDER) <= {r.value for r in MAKERS}
    assert set(read_relations()) <= STANDING_ROLES


@pytest.mark.parametrize("workflow_id", WORKFLOW_IDS)
def test_every_standing_exit_is_open_to_every_relation_that_reads(registry, workflow_id):
    definition = registry.files[workflow_id]
    standing = [t for t in definition.transitions if t.standing]
    assert {t.effect for t in standing} >= {"report_barnevernet", "avverge"}
    for t in standing:
        assert set(read_relations()) <= t.roles, (t.trigger, sorted(t.roles))


def _payload(definition, t) -> dict:
    out = {}
    for name in t.fields:
        f = definition.fields[name]
        if f.type == "date":
            out[name] = TODAY.isoformat()
        elif f.type == "choice":
            out[name] = f.options[0].value
        elif f.type in ("text", "textarea"):
            out[name] = "Meldt i dag."
        else:  # pragma: no cover - a standing exit with another field type needs a value here
            raise AssertionError(f"no test value for a {f.type} field ({name})")
    return out


@pytest.mark.parametrize("workflow_id", WORKFLOW_IDS)
@pytest.mark.parametrize("relation", read_relations())
def test_who_reads_the_case_may_report_in_every_workflow(session, registry, workflow_id,
                                                          relation):
    w = World(session, registry, workflow_id)
    case = cases.open_case(w.ctx(w.teacher), unit_id=None, child_pseudonym="Test B.",
                           child_birth_year=2016, concern=dict(CONCERN)).case
    user = MAKERS[Relation(relation)](w, case)
    seen = cases.get_case(w.ctx(user), case.id)
    assert seen.relations == {relation}  # exactly this relation, nothing else
    _, actions = cases.list_actions(w.ctx(user), case.id)
    standing = [a for a in actions if a.transition.standing]
    assert standing
    assert all(a.allowed for a in standing), [(a.transition.trigger, a.refusals)
                                              for a in standing]
    definition = seen.workflow.definition
    for a in standing:
        result = cases.fire(w.ctx(user), case.id, a.transition.trigger,
                            _payload(definition, a.transition))
        assert (result.entry.kind, result.entry.actor_id) == ("report", user.id)
