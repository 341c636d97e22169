"""The import rule: engine → domain → services → web (architecture §4.4)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "bti"
FORBIDDEN = {
    "engine": {"flask", "flask_login", "sqlalchemy", "bti.domain", "bti.services", "bti.web",
               "bti.db"},
    "domain": {"flask", "flask_login", "bti.services", "bti.web", "bti.db"},
    "services": {"flask", "flask_login", "bti.web"},
}


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_does_not_import_outer_layers(layer):
    offenders = [
        f"{path.relative_to(PACKAGE.parent)} imports {name}"
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for name in imported_modules(path)
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN[layer])
    ]
    assert not offenders, "\n".join(offenders)


def test_case_state_is_assigned_in_one_place():
    hits = [f"{p}:{i}" for p in PACKAGE.rglob("*.py")
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
            if "case.state =" in line.replace("  ", " ")]
    assert hits == [f"{PACKAGE / 'services' / 'cases.py'}:{hits[0].rsplit(':', 1)[1]}"], hits


def test_every_effect_has_a_handler():
    from bti.domain.vocabulary import EFFECTS
    from bti.services.effects import HANDLERS

    assert set(HANDLERS) | {"concern"} == set(EFFECTS)  # the opening concern: open_case


def test_every_guard_has_a_fact():
    from bti.domain.vocabulary import GUARDS
    from bti.services.facts import CaseFacts

    assert all(callable(getattr(CaseFacts, f"_{g}", None)) for g in GUARDS)


def test_local_dates_and_days_have_one_home():
    """Every date and time rule lives in bti/domain/clock.py (architecture: "one home per
    rule"): nothing else builds the time zone, converts to it or subtracts moments into days."""
    home = PACKAGE / "domain" / "clock.py"
    patterns = ("ZoneInfo(", "Europe/Oslo", "astimezone(OSLO)", "combine(")
    hits = [f"{p.relative_to(PACKAGE.parent)}:{i}: {pattern}"
            for p in sorted(PACKAGE.rglob("*.py")) if p != home and "migrations" not in p.parts
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
            for pattern in patterns if pattern in line]
    assert not hits, "\n".join(hits)
