"""The import rule: engine → domain → services → web (architecture §4.4)."""

from __future__ import annotations

import ast
import subprocess
import sys
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


def absolute_imports(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports resolved against its package, lazy
    imports inside functions included."""
    package = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1]) if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def test_cli_does_not_import_web():
    """The command line (bti/cli) runs without the web app: no module in it imports bti.web
    or any flask package, not even lazily inside a command."""
    modules = sorted((PACKAGE / "cli").rglob("*.py"))
    assert len(modules) > 1, "bti/cli is a package of command modules"
    offenders = [
        f"{path.relative_to(PACKAGE.parent)} imports {name}"
        for path in modules for name in absolute_imports(path)
        if name == "bti.web" or name.startswith("bti.web.") or name.split(".")[0].startswith(
            "flask")
    ]
    assert not offenders, "\n".join(offenders)


def test_cli_start_loads_no_web_module():
    """What the imports above do not show: ``bti --help`` loads nothing of the web app or
    Flask through the modules the CLI imports."""
    script = ("import sys\nfrom bti.cli import main\n"
              "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
              "print(sorted(m for m in sys.modules if m == 'bti.web' or m.startswith('bti.web.')"
              " or m.split('.')[0].startswith('flask')))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True, cwd=PACKAGE.parent)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout


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
