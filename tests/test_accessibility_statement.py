"""The accessibility statement (issue 18 §4): docs/accessibility.md and the page give the same
figures and date, the ones of ``bti.web.ui.accessibility.LAST_RUN``."""

from __future__ import annotations

import json
from pathlib import Path

from bti.web.ui.accessibility import LAST_RUN

DOC = Path(__file__).resolve().parents[1] / "docs" / "accessibility.md"


def test_the_document_gives_the_figures_of_the_last_run():
    text = DOC.read_text(encoding="utf-8")
    run = LAST_RUN
    assert run.axe_violations == 0
    assert run.vnu_errors == 0
    assert run.tests > 0
    assert run.axe_checks > 0
    assert run.documents > 0
    assert run.on.strftime("%d.%m.%Y") in text
    assert run.on.isoformat() in text
    assert f"| {run.axe_checks} sider og sidetilstander | 0 brudd |" in text
    assert f"| {run.documents} dokumenter nettleseren lastet | 0 feil |" in text
    assert f"| {run.tests} tester | alle bestått |" in text
    for version in (run.axe_version, run.vnu_version, f"Chromium {run.chromium_version}"):
        assert version in text
    assert f"on {run.axe_checks} pages" in text
    assert f"in {run.documents} documents" in text


def test_the_versions_named_are_the_ones_the_browser_tests_pin():
    pins = json.loads((DOC.parents[1] / "tests" / "e2e" / "package.json").read_text())
    assert pins["dependencies"]["axe-core"] == LAST_RUN.axe_version
    assert pins["dependencies"]["vnu-jar"] == LAST_RUN.vnu_version
