"""The family's voice in a case: stafettlogg entries shared with the family (the workflow's
default per entry kind, the writer's choice per entry, hashed with the entry), on SQLite and
PostgreSQL. Every name is made up."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from bti.domain.log import StafettloggEntry
from bti.services.cases import lifecycle as cases
from bti.services.cases import stafettlogg
from bti.services.family import invitations
from bti.services.family import view
from tests.factories import FIXED_NOW
from tests.services.test_family import case  # noqa: F401 - a fixture
from tests.services.test_family import family


@pytest.fixture
def guardian(world, case):  # noqa: F811 - the fixture
    made = invitations.invite(world.ctx(world.coordinator), case.id, "guardian")
    actor = family(world)
    invitations.redeem(world.session, actor, made.code, now=FIXED_NOW)
    return actor


def _page(world, actor, case_id):
    return view.case_page(world.session, actor, case_id, world.registry, now=FIXED_NOW)


def test_the_workflow_gives_each_entry_kind_a_default(world):
    definition = world.registry.for_record(
        world.session, world.registry.current_record_id(world.session, "bti-standard")).definition
    assert definition.shared_by_default("measure")
    assert definition.shared_by_default("level_change")
    assert not definition.shared_by_default("note")
    assert not definition.shared_by_default("flag")
    assert not definition.shared_by_default("report")


def test_only_shared_entries_reach_the_family_newest_first(world, case, guardian):  # noqa: F811
    holder = world.ctx(world.coordinator)
    cases.fire(holder, case.id, "add_note", {"text": "Internt: snakka med helsesjukepleiar."})
    cases.fire(holder, case.id, "add_note", {"text": "Fint møte med heimen i dag."},
               shared=True)
    cases.fire(holder, case.id, "add_note", {"text": "Andre delte notat."}, shared=True)
    page = _page(world, guardian, case.id)
    texts = [t for e in page.shared for t in e.texts]
    assert texts[:2] == ["Andre delte notat.", "Fint møte med heimen i dag."]
    assert all("Internt" not in t for t in texts)
    # the level change to nivå 1 is shared by the workflow's default, the concern is not
    kinds = [e.kind for e in page.shared]
    assert "level_change" in kinds and "concern" not in kinds
    assert page.shared[0].heading("nb")  # the entry's past-tense title, in words
    assert [e.at for e in page.shared] == sorted((e.at for e in page.shared), reverse=True)


def test_the_writer_may_keep_a_shared_kind_internal(world, case, guardian):  # noqa: F811
    before = {e.kind for e in _page(world, guardian, case.id).shared}
    assert "stafettholder" in before  # appointing the stafettholder: shared by default
    n = len(_page(world, guardian, case.id).shared)
    holder = world.ctx(world.coordinator)
    cases.fire(holder, case.id, "add_goal", {"goal_text": "Trivast i klassen."}, shared=False)
    assert len(_page(world, guardian, case.id).shared) == n
    cases.fire(holder, case.id, "add_goal", {"goal_text": "Sove betre."})  # the default
    shared = _page(world, guardian, case.id).shared
    assert len(shared) == n + 1 and shared[0].kind == "goal"
    assert "Sove betre" in shared[0].heading("nn")


def test_the_choice_is_hashed_and_the_chain_verifies(world, case, guardian):  # noqa: F811
    cases.fire(world.ctx(world.coordinator), case.id, "add_note", {"text": "Delt."},
               shared=True)
    world.session.flush()
    entry = world.session.scalars(select(StafettloggEntry).where(
        StafettloggEntry.case_id == case.id).order_by(StafettloggEntry.seq.desc())).first()
    assert json.loads(entry.data)[stafettlogg.FAMILY_KEY] is True
    assert stafettlogg.verify_case(world.session, case, None) is None
    # flipping the choice without rehashing is found as an edit
    entry.data = json.dumps({"text": "Delt."})
    assert entry.compute_hash() != entry.hash
    world.session.expire(entry)


def test_a_shared_entry_is_marked_on_the_staff_case_page(world, case):  # noqa: F811
    from bti.services.cases import casepage

    cases.fire(world.ctx(world.coordinator), case.id, "add_note", {"text": "Til heimen."},
               shared=True)
    page = casepage.case_page(world.ctx(world.coordinator), case.id)
    item = page.log[0]
    assert item.shared
    assert all(f.value != True for f in item.fields if f.label is None)  # noqa: E712
    assert [f.value for f in item.fields] == ["Til heimen."]
