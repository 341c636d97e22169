"""Every shipped workflow file loads, and the standard path can be walked end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bti.domain.cases import Case
from bti.domain.vocabulary import vocabulary
from bti.engine import Workflow
from bti.engine import load_file
from bti.services.demo import make_demo
from bti.services.stafettlogg import verify_all

FILES = sorted((Path(__file__).parent.parent / "workflows").glob("*.toml"))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_workflow_file_loads(path):
    definition = load_file(path, vocabulary())
    Workflow(definition)
    assert definition.id == path.stem


def test_standard_path_walked_end_to_end_through_the_services(session, registry):
    users = make_demo(session, registry, password="x" * 16, cases_count=12)
    assert {u.username for u in users} >= {"laerar", "koordinator", "rektor"}
    states = set(session.scalars(select(Case.state)))
    assert states >= {"n0_plan", "n1_active", "n2_decision", "n3_active", "closed"}
    assert list(verify_all(session)) == []
