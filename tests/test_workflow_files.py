"""Every shipped workflow file loads, and the standard path can be walked end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bti.demo.seed import make_demo
from bti.domain.cases import Case
from bti.domain.vocabulary import vocabulary
from bti.engine import Workflow
from bti.engine import load_file
from bti.services.cases.stafettlogg import verify_all

FILES = sorted((Path(__file__).parent.parent / "workflows").glob("*.toml"))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_workflow_file_loads(path):
    definition = load_file(path, vocabulary())
    Workflow(definition)
    assert definition.id == path.stem


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_every_file_guides_the_undringssamtale_consent_and_the_home(path):
    """Guidance at the moment it matters (issue 13): on the meeting form what an
    undringssamtale is, on the consent form what consent is for (with the file's own youth
    consent age), informing the home; and the undringssamtale with the home present informs
    it, so it is recorded once."""
    definition = load_file(path, vocabulary())
    on = {trigger: {g.id for g in definition.guidance if trigger in g.on}
          for trigger in ("record_meeting", "give_consent", "inform_home")}
    assert {"undringssamtale", "inform_home"} <= on["record_meeting"]
    assert "consent" in on["give_consent"]
    assert "inform_home" in on["inform_home"]
    [consent] = [g for g in definition.guidance if g.id == "consent"]
    age = str(definition.settings.youth_consent_age)
    assert all(age in consent.text[lang] for lang in ("nb", "nn", "en"))
    [meeting] = [t for t in definition.transitions if t.trigger == "record_meeting"]
    assert meeting.home_informed_by is not None
    assert meeting.home_informed_by.values == frozenset({"undringssamtale"})


def test_standard_path_walked_end_to_end_through_the_services(session, registry):
    users = make_demo(session, registry, password="x" * 16, cases_count=12)
    assert {u.username for u in users} >= {"laerar", "koordinator", "rektor"}
    states = set(session.scalars(select(Case.state)))
    assert states >= {"n0_plan", "n1_active", "n2_decision", "n3_active", "closed"}
    assert list(verify_all(session)) == []


def _as_before_feedback_stages(text: str) -> str:
    """A workflow file as written before feedback stages and stop evaluations: one feedback
    (no ``report`` field, no ``none_received``), and a stop that takes only the measure."""
    old = text.replace('fields = ["feedback_kind", "received_on"]\noptional = ["report", "notes"]',
                       'fields = ["received_on", "feedback_kind"]\noptional = ["notes"]')
    old = old.replace('optional = ["effect", "child_voice_method", "child_said", '
                      '"child_not_heard_reason", "evaluated_on"]\n', "")
    old = "\n".join(line for line in old.splitlines() if '"none_received"' not in line) + "\n"
    assert old != text
    assert '"report"' not in old.split("[fields.report]")[0]
    return old


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_a_revision_stored_before_feedback_stages_still_loads_and_records_stages(
        path, tmp_path, session):
    """Open cases keep the stored revision they started on: a file written before this change
    still loads with today's vocabulary, and its feedback action records stage after stage."""
    from bti.services.cases import lifecycle as cases
    from bti.services.workflows.registry import WorkflowRegistry
    from tests.conftest import World
    from tests.factories import CONCERN
    from tests.factories import TODAY

    (tmp_path / path.name).write_text(_as_before_feedback_stages(path.read_text("utf-8")),
                                      encoding="utf-8")
    registry = WorkflowRegistry(tmp_path)
    w = World(session, registry, path.stem)
    case = cases.open_case(w.ctx(w.teacher), unit_id=None, child_pseudonym="Gamal G.",
                           child_birth_year=2016, concern=dict(CONCERN)).case
    cases.fire(w.ctx(w.teacher), case.id, "report_barnevernet", {"sent_on": TODAY.isoformat()})
    for stage in ("receipt_confirmed", "investigation_opened", "investigation_closed"):
        cases.fire(w.ctx(w.teacher), case.id, "record_barnevern_feedback",
                   {"received_on": TODAY.isoformat(), "feedback_kind": stage})
    _, actions = cases.list_actions(w.ctx(w.teacher), case.id)
    assert not next(a for a in actions
                    if a.transition.trigger == "record_barnevern_feedback").allowed
