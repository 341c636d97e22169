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
from bti.services.errors import InvalidInput
from bti.services.errors import NotFound
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
    assert "level_change" in kinds
    assert "concern" not in kinds
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
    assert len(shared) == n + 1
    assert shared[0].kind == "goal"
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


# --- a comment or question from the family: a task for the stafettholder ----------------------


def test_a_message_becomes_the_stafettholders_task_until_answered(world, case, guardian):  # noqa: F811
    from bti.domain.cases import Notification
    from bti.services.cases import inbox
    from bti.services.family import voice

    msg = voice.send_message(world.session, guardian, case.id, "  Kan vi møtast før jul?  ",
                             now=FIXED_NOW, workflows=world.registry)
    assert msg.text == "Kan vi møtast før jul?"
    box = inbox.my_inbox(world.ctx(world.coordinator))
    item = next(i for i in box.items if i.case.id == case.id)
    assert [u.kind for u in item.urgencies][:1] == [inbox.FAMILY_MESSAGE]
    assert box.counts()[inbox.FAMILY_MESSAGE] == 1
    # only the stafettholder: the reporter's inbox has no such task
    other = inbox.my_inbox(world.ctx(world.teacher))
    assert all(u.kind != inbox.FAMILY_MESSAGE for i in other.items for u in i.urgencies)
    notice = world.session.scalars(select(Notification).where(
        Notification.kind == "family_message")).one()
    assert notice.user_id == world.coordinator.id
    assert notice.case_id == case.id
    assert "møtast" not in notice.details  # no free text in the notice
    page = _page(world, guardian, case.id)
    assert [(m.text, m.answered_at) for m in page.messages] == [(msg.text, None)]
    # the stafettholder reads and answers; the family sees it answered; the task is gone
    _, rows = voice.case_messages(world.ctx(world.coordinator), case.id)
    assert [(r.role, r.text) for r in rows] == [("guardian", msg.text)]
    voice.answer(world.ctx(world.coordinator), case.id, msg.id)
    assert _page(world, guardian, case.id).messages[0].answered_at == FIXED_NOW
    box = inbox.my_inbox(world.ctx(world.coordinator))
    assert inbox.FAMILY_MESSAGE not in box.counts()
    with pytest.raises(InvalidInput) as err:
        voice.answer(world.ctx(world.coordinator), case.id, msg.id)
    assert err.value.fields == {"message": ["already_answered"]}


def test_only_the_stafettholder_reads_and_answers(world, case, guardian):  # noqa: F811
    from bti.services.family import voice

    msg = voice.send_message(world.session, guardian, case.id, "Eit spørsmål.", now=FIXED_NOW,
                             workflows=world.registry)
    for who in (world.teacher, world.leader, world.foreign, world.outsider):
        with pytest.raises(NotFound):
            voice.case_messages(world.ctx(who), case.id)
        with pytest.raises(NotFound):
            voice.answer(world.ctx(who), case.id, msg.id)


def test_a_bad_message_is_refused_and_nothing_written(world, case, guardian):  # noqa: F811
    from bti.domain.family_voice import FamilyMessage
    from bti.services.family import voice

    for text, code in (("   ", "required"), ("x" * 2001, "too_long"),
                       ("Fnr 018190 10001 til info", "contains_id_number")):
        with pytest.raises(InvalidInput) as err:
            voice.send_message(world.session, guardian, case.id, text, now=FIXED_NOW,
                               workflows=world.registry)
        assert err.value.fields == {"text": [code]}
    assert world.session.scalars(select(FamilyMessage)).all() == []


def test_no_message_without_a_link_to_the_case(world, case, guardian):  # noqa: F811
    from bti.services.family import voice

    stranger = family(world, "pid-guardian-other")
    with pytest.raises(NotFound):
        voice.send_message(world.session, stranger, case.id, "Hei", now=FIXED_NOW,
                           workflows=world.registry)
    case.violence_flag = True  # no guardian has access while flagged
    with pytest.raises(NotFound):
        voice.send_message(world.session, guardian, case.id, "Hei", now=FIXED_NOW,
                           workflows=world.registry)


# --- a guardian's concern about their own child, to the unit's leader --------------------------


def _concern(world, actor, **kw):
    from bti.services.family import voice

    values = {"unit_id": str(world.school.id), "child_name": "Mia", "birth_year": "2017",
              "text": "Mia et lite og søv dårleg.", "contact": "900 00 000"} | kw
    return voice.raise_concern(world.session, actor, now=FIXED_NOW, **values)


def test_a_guardians_concern_reaches_the_units_leader(world):
    from bti.domain.cases import Case
    from bti.domain.cases import Notification
    from bti.domain.family import FamilyMember
    from bti.services.family import voice

    guardian = family(world)
    assert [u.name for u in voice.concern_units(world.session, world.municipality.id)] == \
        ["Nordvik skule"]  # kindergartens and schools only
    row = _concern(world, guardian)
    notice = world.session.scalars(select(Notification).where(
        Notification.kind == "concern_new")).one()
    assert notice.user_id == world.leader.id
    assert notice.case_id is None
    assert "Mia" not in notice.details
    assert [c.id for c in voice.unit_concerns(world.ctx(world.leader))] == [row.id]
    assert voice.unit_concerns(world.ctx(world.coordinator)) == []  # not a leader
    assert voice.unit_concerns(world.ctx(world.foreign)) == []  # another municipality
    with pytest.raises(NotFound):
        voice.open_case_from(world.ctx(world.foreign), row.id, "M. B.")
    opened = voice.open_case_from(world.ctx(world.leader), row.id, "M. B.")
    assert opened.unit_id == world.school.id
    assert opened.child_birth_year == 2017
    assert world.session.get(Case, opened.id).child_pseudonym == "M. B."
    assert row.case_id == opened.id
    assert row.handled_by_id == world.leader.id
    # the family gained nothing: no link to the case, and their list is empty
    assert world.session.scalars(select(FamilyMember)).all() == []
    assert view.my_cases(world.session, guardian, world.registry, now=FIXED_NOW) == []
    with pytest.raises(InvalidInput):
        voice.close_concern(world.ctx(world.leader), row.id)


def test_a_bad_concern_names_every_error_and_writes_nothing(world):
    from bti.domain.family_voice import FamilyConcern

    guardian = family(world)
    with pytest.raises(InvalidInput) as err:
        _concern(world, guardian, unit_id=str(world.health.id), child_name="",
                 birth_year="1990", text="Sjå 01819010001", contact="x" * 121)
    assert err.value.fields == {"unit": ["not_a_choice"], "child_name": ["required"],
                                "birth_year": ["birth_year_range"],
                                "text": ["contains_id_number"], "contact": ["too_long"]}
    with pytest.raises(InvalidInput) as err:
        _concern(world, guardian, unit_id="", birth_year="to tusen")
    assert err.value.fields == {"unit": ["required"], "birth_year": ["not_a_number"]}
    assert world.session.scalars(select(FamilyConcern)).all() == []
