"""The architecture, checked (architecture §4.4): which layer may import what, that every layer
is where the table says, and that a case's state is written in one function only.

The checkers are functions of a package folder, so that each rule is also tested on a small
synthetic package with a violation (the tests at the end): a checker that stops biting fails."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "bti"

ANY = frozenset({"*"})
#: The web framework and its parts: only the web layer imports them.
WEB_FRAMEWORK = ("flask", "flask_*", "werkzeug", "jinja2", "markupsafe", "itsdangerous")

#: layer (a folder ``bti/<layer>/``, or a module ``bti/<layer>.py``) → whether it must exist,
#: the libraries it may not import, and the parts of bti it may import besides itself
#: (``bti.<part>``; ANY: all). A new folder is one line here; an optional layer is checked as
#: soon as it exists.
#  layer        required  banned libraries               may import from bti
LAYERS = {
    "engine":   (True,  (*WEB_FRAMEWORK, "sqlalchemy"), set()),
    "domain":   (True,  WEB_FRAMEWORK,                  {"engine"}),
    "services": (True,  WEB_FRAMEWORK,                  {"engine", "domain", "render", "db",
                                                         "config"}),
    "web":      (True,  (),                             ANY),
    "render":   (True,  WEB_FRAMEWORK,                  {"engine", "domain"}),
    "demo":     (False, WEB_FRAMEWORK,                  {"engine", "domain", "services", "render",
                                                         "db", "config"}),
    "db":       (False, WEB_FRAMEWORK,                  {"engine", "domain", "config"}),
    "cli":      (False, WEB_FRAMEWORK,                  {"engine", "domain", "services", "render",
                                                         "demo", "db", "config", "migrate",
                                                         "backup", "i18n_tools"}),
}

#: The one function that writes a case's state (``module:function``).
STATE_WRITER = "bti.services.cases.lifecycle:fire"


# --- the checkers ---------------------------------------------------------------------------

def layer_files(root: Path, layer: str) -> list[Path]:
    """The layer's Python files: the folder's, or the one module's; none if it is neither."""
    folder = root / layer
    if folder.is_dir():
        return sorted(folder.rglob("*.py"))
    module = root / f"{layer}.py"
    return [module] if module.is_file() else []


def _has_code(path: Path) -> bool:
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return any(not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)) for n in body)


def missing_layers(root: Path, layers=LAYERS) -> list[str]:
    """Each required layer that is not a folder with code in it (renamed, moved, emptied)."""
    return [f"bti/{name}/ is missing or empty" for name, (required, *_) in layers.items()
            if required and not ((root / name).is_dir()
                                 and any(_has_code(p) for p in layer_files(root, name)))]


def module_name(root: Path, path: Path) -> tuple[str, str]:
    """The module's absolute name and the package its relative imports start from."""
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
        return ".".join(parts), ".".join(parts)
    return ".".join(parts), ".".join(parts[:-1])


def imports(root: Path, path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file: relative ones resolved, ``from
    a import b`` also as ``a.b`` when that is a module of the package, and the constant names
    given to ``import_module``/``__import__``."""
    _, package = module_name(root, path)
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                if node.level - 1 >= len(base):
                    found.append((node.lineno, f"<relative import beyond {root.name}>"))
                    continue
                base = base[:len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                rel = Path(*sub.split(".")[1:]) if sub.split(".")[0] == root.name else None
                if rel is not None and ((root / rel).is_dir()
                                        or (root / rel).with_suffix(".py").is_file()):
                    found.append((node.lineno, sub))
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and _name(node.func) in ("import_module", "__import__")):
            found.append((node.lineno, node.args[0].value))
    return found


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def import_violations(root: Path, layers=LAYERS) -> list[str]:
    """Every import that breaks the table: a part of bti the layer may not import, or a
    banned library."""
    offenders = []
    for layer, (_, banned, may_import) in layers.items():
        for path in layer_files(root, layer):
            where = path.relative_to(root.parent)
            for line, name in imports(root, path):
                top, _, rest = name.partition(".")
                if name.startswith("<"):
                    offenders.append(f"{where}:{line}: {name}")
                elif top == root.name:
                    part = rest.split(".")[0]
                    if part and part != layer and "*" not in may_import and part not in may_import:
                        offenders.append(f"{where}:{line} imports {name} ({layer} may not)")
                elif any(fnmatch(top, pattern) for pattern in banned):
                    offenders.append(f"{where}:{line} imports {name} (banned in {layer})")
    return offenders


CASE_TABLE = "case_record"
_SETTERS = {"setattr", "__setattr__", "set_committed_value", "set_attribute"}


def _is_state_key(node: ast.AST) -> bool:
    """``"state"``, ``Case.state``, ``table.c.state`` or ``table.c["state"]`` as a key."""
    if isinstance(node, ast.Constant):
        return node.value == "state"
    if isinstance(node, ast.Attribute):
        return node.attr == "state"
    if isinstance(node, ast.Subscript):
        return _is_state_key(node.slice)
    return False


class _StateWrites(ast.NodeVisitor):
    """The writes of a case's state in one module, each with its enclosing function."""

    def __init__(self, tree: ast.Module):
        self.scopes: list[str] = []  # the enclosing classes and functions
        self.classes: list[str] = []
        self.writes: list[tuple[int, str]] = []
        self.cases = {"Case"}  # names of the Case class, its table or an alias
        self.updates: set[str] = set()  # names bound to an UPDATE of the cases
        self.payloads: set[str] = set()  # names bound to a dict with a state key
        assigns = [n for n in ast.walk(tree) if isinstance(n, (ast.Assign, ast.AnnAssign))]
        for _ in range(3):  # aliases of aliases
            for node in assigns:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for name, value in _pairs(target, node.value):
                        if self._is_case(value):
                            self.cases.add(name)
                        if self._is_update(value):
                            self.updates.add(name)
                        if self._is_payload(value):
                            self.payloads.add(name)

    # what an expression is
    def _is_case(self, node: ast.AST | None) -> bool:
        if isinstance(node, ast.Name):
            return node.id in self.cases
        if isinstance(node, ast.Attribute):
            return node.attr in ("__table__", "local_table", "persist_selectable") and (
                self._is_case(node.value)
                or isinstance(node.value, ast.Call) and any(map(self._is_case, node.value.args)))
        if isinstance(node, ast.Call):  # table("case_record", …), aliased(Case)
            return bool(node.args) and (
                isinstance(node.args[0], ast.Constant) and node.args[0].value == CASE_TABLE
                or _name(node.func) == "aliased" and self._is_case(node.args[0]))
        if isinstance(node, ast.Subscript):  # metadata.tables["case_record"]
            return isinstance(node.slice, ast.Constant) and node.slice.value == CASE_TABLE
        return False

    def _is_update(self, node: ast.AST | None) -> bool:
        """Whether the expression holds an UPDATE of the cases: ``update(Case)``,
        ``case_table.update()``, ``query(Case)….update(…)``, or a name bound to one."""
        for sub in ast.walk(node) if node is not None else ():
            if isinstance(sub, ast.Name) and sub.id in self.updates:
                return True
            if isinstance(sub, ast.Call) and _name(sub.func) == "update":
                if sub.args and self._is_case(sub.args[0]):
                    return True
                if isinstance(sub.func, ast.Attribute) and (
                        self._is_case(sub.func.value)
                        or any(isinstance(q, ast.Call) and _name(q.func) == "query"
                               and any(map(self._is_case, q.args))
                               for q in ast.walk(sub.func.value))):
                    return True
        return False

    def _is_payload(self, node: ast.AST | None) -> bool:
        """Whether the expression holds a dict with a state key (``{"state": …}``,
        ``dict(state=…)``, a list of them, a name bound to one)."""
        for sub in ast.walk(node) if node is not None else ():
            if isinstance(sub, ast.Name) and sub.id in self.payloads:
                return True
            if isinstance(sub, ast.Dict) and any(k is not None and _is_state_key(k)
                                                 for k in sub.keys):
                return True
            if isinstance(sub, ast.Call) and _name(sub.func) == "dict" and any(
                    k.arg == "state" for k in sub.keywords):
                return True
        return False

    # where it is
    def visit_FunctionDef(self, node):
        self.scopes.append(node.name)
        self.generic_visit(node)
        self.scopes.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        self.classes.append(node.name)
        self.visit_FunctionDef(node)
        self.classes.pop()

    def _write(self, node: ast.AST) -> None:
        self.writes.append((node.lineno, ".".join(self.scopes) or "<module>"))

    # the writes
    def visit_Attribute(self, node):
        if node.attr == "state" and isinstance(node.ctx, (ast.Store, ast.Del)):
            own = isinstance(node.value, ast.Name) and node.value.id == "self"
            if not own or (self.classes and self.classes[-1] == "Case"):
                self._write(node)  # another class's own ``self.state`` is not a case's
        self.generic_visit(node)

    def visit_Subscript(self, node):  # case.__dict__["state"] = …
        if (isinstance(node.ctx, ast.Store) and _is_state_key(node.slice)
                and _name(node.value) == "__dict__"):
            self._write(node)
        self.generic_visit(node)

    def visit_Call(self, node):
        args = [*node.args, *(k.value for k in node.keywords)]
        name = _name(node.func)
        if name in _SETTERS and any(isinstance(a, ast.Constant) and a.value == "state"
                                    for a in node.args):
            self._write(node)
        elif (name == "update" and isinstance(node.func, ast.Attribute)
              and _name(node.func.value) == "__dict__" or self._is_update(node)) and (
                any(k.arg == "state" for k in node.keywords) or any(map(self._is_payload, args))):
            self._write(node)  # case.__dict__.update(state=…), an UPDATE given a state
        self.generic_visit(node)


def _pairs(target: ast.AST, value: ast.AST | None):
    """(name, value) of an assignment, ``a, b = x, y`` pairwise."""
    if isinstance(target, ast.Name):
        yield target.id, value
    elif isinstance(target, (ast.Tuple, ast.List)):
        values = value.elts if isinstance(value, (ast.Tuple, ast.List)) else [None] * len(
            target.elts)
        for t, v in zip(target.elts, values, strict=False):
            yield from _pairs(t, v)


def state_writes(root: Path) -> list[str]:
    """``module:function:line`` of every write of a case's state in the package: an
    assignment to ``<x>.state``, ``setattr(…, "state", …)`` and its kin, or an UPDATE of the
    cases (Core or ORM) given a state (``values(state=…)``, a dict with a state key)."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if "migrations" in path.relative_to(root).parts:
            continue
        visitor = _StateWrites(tree := ast.parse(path.read_text(encoding="utf-8")))
        visitor.visit(tree)
        module, _ = module_name(root, path)
        found += [f"{module}:{function}:{line}" for line, function in sorted(set(visitor.writes))]
    return found


#: What registers a Jinja global, filter, test or context processor: Flask's decorators and
#: methods (on the app or a blueprint) and any use of ``jinja_env``.
_TEMPLATE_HOOKS = {"template_global", "template_filter", "template_test", "context_processor",
                   "add_template_global", "add_template_filter", "add_template_test",
                   "app_template_global", "app_template_filter", "app_template_test",
                   "app_context_processor"}
TEMPLATING = "web/templating.py"


def template_registrations(root: Path) -> list[str]:
    """``path:line: what`` of every place under bti/web that registers something for the
    templates: a ``jinja_env`` attribute, or a call (or decorator) of a Flask template hook."""
    found = []
    for path in layer_files(root, "web"):
        where = path.relative_to(root.parent)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "jinja_env":
                found.append(f"{where}:{node.lineno}: jinja_env")
            elif isinstance(node, ast.Attribute) and node.attr in _TEMPLATE_HOOKS:
                found.append(f"{where}:{node.lineno}: {node.attr}")
    return found


#: Names of geometry: a class called so, or a field of a class called so, is chart geometry.
_GEOMETRY_CLASSES = {"Layout", "Tick", "Box", "Point"}
_GEOMETRY_FIELDS = {"x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "width", "height"}
_SVG_WORDS = ("viewBox", "<svg", "<path", "<rect", "<polyline")


def svg_geometry(root: Path, layer: str = "services") -> list[str]:
    """``path:line: what`` of chart geometry in a layer: a class named like geometry
    (``Layout``, ``Tick``, ``Box``, ``Point``, ``…Chart``), a class field holding a
    coordinate or a size (``x``, ``y``, ``width`` …), or SVG markup in a string."""
    found = []
    for path in layer_files(root, layer):
        where = path.relative_to(root.parent)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                if node.name in _GEOMETRY_CLASSES or node.name.endswith("Chart"):
                    found.append(f"{where}:{node.lineno}: class {node.name}")
                for item in node.body:
                    if (isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
                            and item.target.id in _GEOMETRY_FIELDS):
                        found.append(f"{where}:{item.lineno}: {node.name}.{item.target.id}")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and any(
                    w in node.value for w in _SVG_WORDS):
                found.append(f"{where}:{node.lineno}: SVG markup")
    return found


# --- the rules, on bti ------------------------------------------------------------------------

def test_every_layer_is_where_the_table_says():
    assert not missing_layers(PACKAGE), missing_layers(PACKAGE)


def test_no_layer_imports_what_the_table_forbids():
    offenders = import_violations(PACKAGE)
    assert not offenders, "\n".join(offenders)


def test_case_state_is_written_in_one_function():
    writes = state_writes(PACKAGE)
    elsewhere = [w for w in writes if w.rsplit(":", 1)[0] != STATE_WRITER]
    assert not elsewhere, "\n".join(elsewhere)
    assert writes, f"no state write found in {STATE_WRITER}: moved? update STATE_WRITER"


def test_cli_does_not_import_web():
    """The command line (bti/cli) runs without the web app: no module in it imports bti.web
    or a web-framework library, not even lazily inside a command (the table's cli row)."""
    assert len(layer_files(PACKAGE, "cli")) > 1, "bti/cli is a package of command modules"
    offenders = import_violations(PACKAGE, {"cli": LAYERS["cli"]})
    assert not offenders, "\n".join(offenders)


def test_render_imports_no_web_framework():
    """The renderers (bti/render) are Flask-free: words reach them through the caller's
    translations, so no module in it imports Flask, Flask-Babel or bti.web (the table's render
    row, on the folder as it is)."""
    modules = layer_files(PACKAGE, "render")
    assert {p.name for p in modules} >= {"pdf.py", "xlsx.py", "csvfile.py", "i18n.py"}
    offenders = import_violations(PACKAGE, {"render": LAYERS["render"]})
    assert not offenders, "\n".join(offenders)
    script = ("import sys, importlib\n"
              f"for m in {sorted(module_name(PACKAGE, p)[0] for p in modules)!r}:\n"
              "    importlib.import_module(m)\n"
              "print(sorted(m for m in sys.modules if m == 'bti.web' or m.startswith('bti.web.')"
              " or m.split('.')[0].startswith(('flask', 'werkzeug', 'jinja2'))))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True, cwd=PACKAGE.parent)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout


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


def test_only_templating_registers_template_helpers():
    """Every Jinja global, filter and context processor is registered by
    ``bti.web.templating.init_app``: no blueprint or other web module registers its own."""
    found = template_registrations(PACKAGE)
    elsewhere = [f for f in found if not f.startswith(f"bti/{TEMPLATING}:")]
    assert not elsewhere, "\n".join(elsewhere)
    assert any(f.startswith(f"bti/{TEMPLATING}:") for f in found), "templating registers nothing"


def test_services_hold_no_chart_geometry():
    """The services decide what a chart shows; where it goes is ``bti/web/charts.py``."""
    assert not svg_geometry(PACKAGE), "\n".join(svg_geometry(PACKAGE))
    assert svg_geometry(PACKAGE, "web"), "bti/web/charts.py holds the geometry"


# --- the checkers bite: each rule on a small package with a violation -------------------------

def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    """A package ``bti`` in tmp_path: the required layers with a line of code each, then
    ``files`` (path → source; ``None`` deletes the path)."""
    root = tmp_path / "bti"
    base = {"__init__.py": "", "engine/__init__.py": "X = 1\n", "domain/__init__.py": "X = 1\n",
            "services/__init__.py": "X = 1\n", "render/__init__.py": "X = 1\n",
            "web/__init__.py": "import flask\n"}
    for rel, text in {**base, **files}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


@pytest.mark.parametrize(("path", "source"), [
    ("services/x.py", "import flask_babel\n"),
    ("services/x.py", "import flask\n"),
    ("services/x.py", "from werkzeug.security import check_password_hash\n"),
    ("domain/x.py", "import jinja2\n"),
    ("domain/x.py", "from markupsafe import Markup\n"),
    ("engine/x.py", "from itsdangerous import URLSafeSerializer\n"),
    ("engine/x.py", "import sqlalchemy\n"),
    ("services/x.py", "def f():\n    from flask import g\n"),
    ("services/x.py", "from bti.web import app\n"),
    ("services/x.py", "from bti import web\n"),
    ("services/x.py", "from ..web import app\n"),
    ("services/x.py", "from .. import web\n"),
    ("services/sub/x.py", "from ...web.ui import page\n"),
    ("engine/x.py", "from ..domain import models\n"),
    ("domain/x.py", "from ..services import cases\n"),
    ("services/x.py", "import importlib\nimportlib.import_module('bti.web.ui')\n"),
    ("services/x.py", "from .... import far\n"),
    ("cli.py", "from bti.web import create_app\n"),
    ("cli.py", "import flask\n"),
    ("cli/__init__.py", "from ..web import create_app\n"),
    ("cli/serve.py", "from bti.web.ui import page\n"),
    ("cli/serve.py", "from flask_login import current_user\n"),
    ("render/pdf.py", "from bti.web import charts\n"),
    ("render/pdf.py", "from flask_babel import gettext\n"),
    ("demo/__init__.py", "from ..web.ui import page\n"),
    ("db/__init__.py", "import werkzeug\n"),
])
def test_the_import_checker_catches(tmp_path, path, source):
    root = _package(tmp_path, {"web/ui/__init__.py": "X = 1\n", path: source})
    assert len(import_violations(root)) == 1, import_violations(root)


@pytest.mark.parametrize("source", [
    "import flask\nfrom flask_babel import gettext\nfrom bti.services import cases\n",
])
def test_the_import_checker_lets_the_web_layer_use_flask(tmp_path, source):
    root = _package(tmp_path, {
        "web/x.py": source, "services/cases/lifecycle.py": "X = 1\n",
        "services/y.py": "from . import cases\nfrom .cases import X\nfrom ..domain import y\n"
                         "from bti import __version__\n",
        "cli.py": "from bti.services import cases\nfrom bti import domain\n"})
    assert import_violations(root) == []


@pytest.mark.parametrize("files", [
    {"services/__init__.py": None},  # the folder renamed
    {"services/__init__.py": '"""Only a docstring."""\n'},
    {"web/__init__.py": ""},
    {"render/__init__.py": '"""Only a docstring."""\n'},  # the renderers moved back out
])
def test_a_missing_or_empty_layer_is_caught(tmp_path, files):
    root = _package(tmp_path, {k: v or "" for k, v in files.items()})
    for rel, text in files.items():
        if text is None:
            (root / rel).unlink()
            (root / rel).parent.rmdir()
            (root / "usecases").mkdir()
            (root / "usecases" / "__init__.py").write_text("X = 1\n", encoding="utf-8")
    assert len(missing_layers(root)) == 1, missing_layers(root)
    assert missing_layers(_package(tmp_path / "whole", {})) == []


@pytest.mark.parametrize("source", [
    "def init_app(app):\n    app.jinja_env.globals['x'] = 1\n",
    "def init_app(app):\n    app.jinja_env.filters.update(x=str)\n",
    "@bp.app_template_global('x')\ndef x():\n    return 1\n",
    "@bp.context_processor\ndef helpers():\n    return {}\n",
    "def init_app(app):\n    app.add_template_filter(str, 'x')\n",
    "@bp.record_once\ndef f(state):\n    state.app.jinja_env.globals.update(x=1)\n",
])
def test_the_template_checker_catches(tmp_path, source):
    root = _package(tmp_path, {"web/ui/cases.py": source, TEMPLATING: source})
    found = template_registrations(root)
    assert [f for f in found if f.startswith("bti/web/ui/cases.py:")], found
    assert not [f for f in found if not f.startswith(("bti/web/ui/cases.py:",
                                                      f"bti/{TEMPLATING}:"))]


@pytest.mark.parametrize("source", [
    "class Layout:\n    pass\n",
    "class BarChart:\n    pass\n",
    "class Band:\n    width: float\n",
    "class Mark:\n    x: float\n",
    "SVG = '<svg viewBox=\"0 0 10 10\"></svg>'\n",
])
def test_the_geometry_checker_catches(tmp_path, source):
    root = _package(tmp_path, {"services/analytics/leader.py": source})
    assert len(svg_geometry(root)) == 1, svg_geometry(root)
    clean = _package(tmp_path / "clean", {
        "services/analytics/leader.py": "class Band:\n    start: int\n    days: int\n"})
    assert svg_geometry(clean) == []


_HOME = "services/cases/lifecycle.py"
_WRITES = [
    "def f(case):\n    case.state = 'n1'\n",
    "def f(access):\n    access.case.state = 'n1'\n",
    "def f(c):\n    c.state, c.level = 'n1', 1\n",
    "def f(c):\n    setattr(c, 'state', 'n1')\n",
    "def f(c):\n    object.__setattr__(c, 'state', 'n1')\n",
    "def f(c):\n    set_committed_value(c, 'state', 'n1')\n",
    "def f(c):\n    c.__dict__['state'] = 'n1'\n",
    "def f(s):\n    s.execute(update(Case).where(Case.id == 1).values(state='n1'))\n",
    "def f(s):\n    s.execute(sa.update(Case).values({'state': 'n1'}))\n",
    "def f(s):\n    s.execute(update(Case).values({Case.state: 'n1'}))\n",
    "def f(s):\n    s.execute(update(Case), [{'id': 1, 'state': 'n1'}])\n",
    "_T = Case.__table__\ndef f(s):\n    s.execute(_T.update().values(state='n1'))\n",
    "_T = Case.__table__\ndef f(s):\n    s.execute(_T.update().values({_T.c.state: 'n1'}))\n",
    "_C, _P = Case.__table__, Participant.__table__\n"
    "def f(s):\n    s.execute(update(_C).values(dict(state='n1')))\n",
    "case_table = table('case_record', column('state'))\n"
    "def f(s):\n    s.execute(update(case_table), {'state': 'n1'})\n",
    "_U = Prepared(Case.__table__.update().where(Case.id == bindparam('b_id')))\n"
    "def f(s):\n    _U.execute(s, {'b_id': 1, 'state': 'n1'})\n",
    "def f(s):\n    values = {'state': 'n1'}\n    s.execute(update(Case), values)\n",
    "def f(s):\n    s.query(Case).filter_by(id=1).update({Case.state: 'n1'})\n",
    "class Case:\n    def move(self):\n        self.state = 'n1'\n",
]


@pytest.mark.parametrize("source", _WRITES)
def test_the_state_checker_catches_a_write_elsewhere(tmp_path, source):
    root = _package(tmp_path, {"services/other.py": source})
    assert len(state_writes(root)) == 1, state_writes(root)


@pytest.mark.parametrize("source", [s for s in _WRITES if "def f(" in s])
def test_the_state_checker_lets_the_one_function_write(tmp_path, source):
    root = _package(tmp_path, {_HOME: source.replace("def f(", "def fire(")})
    writes = state_writes(root)
    assert len(writes) == 1, writes
    assert writes[0].rsplit(":", 1)[0] == STATE_WRITER
    elsewhere = state_writes(_package(tmp_path / "elsewhere", {_HOME: source}))
    assert [w.rsplit(":", 1)[0] for w in elsewhere] == ["bti.services.cases.lifecycle:f"]


def test_the_state_checker_leaves_reads_and_other_states_alone(tmp_path):
    source = """
class Machine:
    def __init__(self, state):
        self.state = state
def f(s, case, note):
    note.status = case.state
    s.execute(select(Case).where(Case.state == 'n1'))
    s.execute(update(Case).where(Case.state == 'n1').values(closed_at=None))
    s.execute(update(Notification).values(state='read'))
    s.execute(insert(Notification), {'state': 'read'})
    opened = Case(state='n0_plan')
    return {'id': case.id, 'state': case.state}
"""
    assert state_writes(_package(tmp_path, {"services/other.py": source})) == []


def test_every_effect_has_a_handler():
    from bti.domain.vocabulary import EFFECTS
    from bti.services.cases.effects import HANDLERS

    assert set(HANDLERS) | {"concern"} == set(EFFECTS)  # the opening concern: open_case


def test_every_guard_has_a_fact():
    from bti.domain.vocabulary import GUARDS
    from bti.services.cases.facts import CaseFacts

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


# --- the audit trail: one builder -------------------------------------------------------------

#: The one module that builds audit rows (``record`` for requests, ``record_system`` for work no
#: signed-in user does, ``record_denied`` for refusals), and its builders.
AUDIT_HOME = "services/access/audit.py"
AUDIT_BUILDERS = {"record", "record_system", "record_denied"}
_AUDIT_MODEL, _AUDIT_TABLE = "AuditEvent", "audit_event"
_TABLE_OF = {"__table__", "local_table", "persist_selectable"}
_INSERTS = {"insert", "bulk_insert_mappings", "bulk_save_objects", "add_row", "_add_row"}


def _audit_actions() -> frozenset[str]:
    from bti.domain.vocabulary import AuditAction

    return frozenset(a.value for a in AuditAction)


class _AuditRows(ast.NodeVisitor):
    """The audit rows one module builds by hand, and the builder calls whose action is not an
    ``AuditAction`` member."""

    def __init__(self, tree: ast.Module, actions: frozenset[str]):
        self.actions = actions
        self.problems: list[tuple[int, str]] = []
        self.functions: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
        self.models = {_AUDIT_MODEL}  # the model's names (``import … as``)
        self.modules: set[str] = set()  # names bound to bti.services.access.audit
        self.builders: set[str] = set()  # its builders imported by name
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    bound = alias.asname or alias.name
                    if alias.name == _AUDIT_MODEL:
                        self.models.add(bound)
                    elif (node.module or "").endswith("access") and alias.name == "audit":
                        self.modules.add(bound)
                    elif (node.module or "").endswith("access.audit") and (
                            alias.name in AUDIT_BUILDERS):
                        self.builders.add(bound)
            elif isinstance(node, ast.Import):
                self.modules |= {alias.asname for alias in node.names
                                 if alias.name.endswith("access.audit") and alias.asname}
        self.tables: set[str] = set()  # names bound to the audit table
        assigns = [n for n in ast.walk(tree) if isinstance(n, (ast.Assign, ast.AnnAssign))]
        for node in assigns:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for name, value in _pairs(target, node.value):
                    if value is not None and self._is_table(value):
                        self.tables.add(name)

    def _is_model(self, node: ast.AST) -> bool:
        return isinstance(node, ast.Name) and node.id in self.models

    def _is_table(self, node: ast.AST) -> bool:
        """``AuditEvent.__table__``, ``table("audit_event", …)``, ``tables["audit_event"]``, the
        model itself, or a name bound to one of them."""
        if self._is_model(node) or isinstance(node, ast.Name) and node.id in self.tables:
            return True
        if isinstance(node, ast.Attribute):
            return node.attr in _TABLE_OF and self._is_table(node.value)
        if isinstance(node, ast.Call):
            return bool(node.args) and isinstance(node.args[0], ast.Constant) and (
                node.args[0].value == _AUDIT_TABLE)
        if isinstance(node, ast.Subscript):
            return isinstance(node.slice, ast.Constant) and node.slice.value == _AUDIT_TABLE
        return False

    def visit_FunctionDef(self, node):
        self.functions.append(node)
        args = [*node.args.posonlyargs, *node.args.args]
        for arg, default in [*zip(args[len(args) - len(node.args.defaults):], node.args.defaults,
                                  strict=True),
                             *zip(node.args.kwonlyargs, node.args.kw_defaults, strict=True)]:
            if arg.arg == "action":
                self._no_literal(default)
        self.generic_visit(node)
        self.functions.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Constant(self, node):
        if isinstance(node.value, str) and re.search(
                rf"insert\s+into\s+\W?{_AUDIT_TABLE}\b", node.value, re.IGNORECASE):
            self.problems.append((node.lineno, "SQL that inserts audit rows"))

    def visit_Call(self, node):
        name = _name(node.func)
        if self._is_model(node.func):
            self.problems.append((node.lineno, f"{_AUDIT_MODEL}(…) built by hand"))
        elif name in ("add_row", "_add_row"):
            self.problems.append((node.lineno, f"{name}(…): use a builder"))
        elif name in _INSERTS and (
                any(self._is_table(a) for a in node.args)
                or isinstance(node.func, ast.Attribute) and self._is_table(node.func.value)):
            self.problems.append((node.lineno, "an INSERT into the audit table"))
        if self._is_builder(node):
            action = (node.args[1] if name != "record_denied" and len(node.args) > 1 else
                      next((k.value for k in node.keywords if k.arg == "action"), None))
            if action is None or not self._is_member(action):
                self.problems.append((node.lineno, f"{name}(…) not given an AuditAction member"))
        else:
            for keyword in node.keywords:
                if keyword.arg == "action":
                    self._no_literal(keyword.value)
        self.generic_visit(node)

    def _is_builder(self, node: ast.Call) -> bool:
        func = node.func
        if isinstance(func, ast.Name):
            return func.id in self.builders
        return (isinstance(func, ast.Attribute) and func.attr in AUDIT_BUILDERS
                and isinstance(func.value, ast.Name) and func.value.id in self.modules)

    def _is_member(self, node: ast.AST) -> bool:
        """``AuditAction.X``, a choice of two, ``AuditAction(value)`` (checked when it runs) or
        a parameter annotated ``AuditAction``."""
        if isinstance(node, ast.Call):
            return _name(node.func) == "AuditAction"
        if isinstance(node, ast.Attribute):
            return isinstance(node.value, ast.Name) and node.value.id == "AuditAction"
        if isinstance(node, ast.IfExp):
            return self._is_member(node.body) and self._is_member(node.orelse)
        if isinstance(node, ast.Name) and self.functions:
            args = self.functions[-1].args
            for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
                if arg.arg == node.id and arg.annotation is not None:
                    note = arg.annotation
                    return (isinstance(note, ast.Name) and note.id == "AuditAction"
                            or isinstance(note, ast.Constant) and note.value == "AuditAction")
        return False

    def _no_literal(self, node: ast.AST | None) -> None:
        """An action written as a string where it is passed on (``action=``, an ``action``
        parameter's default): the helpers that hand it to a builder."""
        for sub in ast.walk(node) if node is not None else ():
            if isinstance(sub, ast.Constant) and sub.value in self.actions:
                self.problems.append((sub.lineno, f"the action {sub.value!r} as a string"))


def audit_violations(root: Path, actions: frozenset[str] | None = None) -> list[str]:
    """``path:line: what`` for every audit row built outside ``AUDIT_HOME`` (an ``AuditEvent``
    object, an INSERT into its table in Core, ORM bulk or SQL text, a call of the row queue)
    and every builder call, ``action=`` argument or ``action`` default that gives an action as
    a string, not an ``AuditAction`` member (the vocabulary module, where the values are,
    excepted)."""
    actions = _audit_actions() if actions is None else actions
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if "migrations" in rel.parts or rel.as_posix() == "domain/vocabulary.py":
            continue
        visitor = _AuditRows(tree := ast.parse(path.read_text(encoding="utf-8")), actions)
        visitor.visit(tree)
        home = rel.as_posix() == AUDIT_HOME
        found += [f"{path.relative_to(root.parent)}:{line}: {what}"
                  for line, what in sorted(set(visitor.problems))
                  if not (home and "AuditAction" not in what and "string" not in what)]
    return found


def test_audit_rows_are_built_in_one_module_from_audit_actions():
    offenders = audit_violations(PACKAGE)
    assert not offenders, "\n".join(offenders)
    home = _AuditRows(tree := ast.parse((PACKAGE / AUDIT_HOME).read_text(encoding="utf-8")),
                      _audit_actions())
    home.visit(tree)
    assert home.problems, f"no audit insert found in bti/{AUDIT_HOME}: moved? update AUDIT_HOME"


_AUDIT = "from bti.services.access import audit\nfrom bti.domain.log import AuditEvent\n"
_BY_HAND = [
    "def f(s):\n    s.add(AuditEvent(action='x'))\n",
    "from bti.domain.log import AuditEvent as E\ndef f(s):\n    s.add(E(action='x'))\n",
    "def f(s):\n    s.execute(insert(AuditEvent), [{}])\n",
    "def f(s):\n    s.execute(sa.insert(AuditEvent.__table__).values(action='x'))\n",
    "def f(s):\n    s.execute(AuditEvent.__table__.insert(), [{}])\n",
    "_T = AuditEvent.__table__\ndef f(s):\n    s.execute(_T.insert(), [{}])\n",
    "_T = table('audit_event', column('action'))\ndef f(s):\n    s.execute(insert(_T))\n",
    "def f(s):\n    s.execute(insert(Base.metadata.tables['audit_event']))\n",
    "def f(s):\n    s.bulk_insert_mappings(AuditEvent, [{}])\n",
    "def f(s):\n    s.execute(text('INSERT INTO audit_event (action) VALUES (:a)'))\n",
    'def f(s):\n    s.execute(text(\'insert into "audit_event" default values\'))\n',
    "def f(s):\n    audit._add_row(s, {'action': 'x'})\n",
    "def f(ctx):\n    audit.record(ctx, 'case.viewed')\n",
    "def f(ctx):\n    audit.record(ctx, action='case.viewed')\n",
    "def f(s):\n    audit.record_system(s, ACTION, now=1, municipality_id=None)\n",
    "def f(ctx, action: str):\n    audit.record(ctx, action)\n",
    "def f(ctx, a):\n    audit.record(ctx, AuditAction.CASE_VIEWED if a else 'case.listed')\n",
    "def f(s, actor):\n    audit.record_denied(s, actor=actor, action='access.denied', now=1)\n",
    "from bti.services.access.audit import record\ndef f(ctx):\n    record(ctx, LISTED)\n",
    "def f(ctx, action: AuditAction = 'analytics.viewed'):\n    pass\n",
    "def f(ctx):\n    helper(ctx, action='case.viewed')\n",
    "def f(ctx, *, action='case.viewed'):\n    pass\n",
]


@pytest.mark.parametrize("source", _BY_HAND)
def test_the_audit_checker_catches_a_row_built_by_hand(tmp_path, source):
    root = _package(tmp_path, {"services/other.py": _AUDIT + source})
    assert len(audit_violations(root)) == 1, audit_violations(root)
    root = _package(tmp_path / "cli", {"cli/other.py": _AUDIT + source})
    assert len(audit_violations(root)) == 1, audit_violations(root)


def test_the_audit_checker_lets_the_builders_build_and_others_read(tmp_path):
    home = ("_INSERT = AuditEvent.__table__.insert()\n"
            "def _add_row(s, values):\n    s.info.setdefault('x', []).append(values)\n"
            "def write(conn, rows):\n    conn.execute(_INSERT, rows)\n"
            "def forged(s):\n    s.add(AuditEvent(action='x'))\n")
    other = """
from bti.services.access import audit as audit_service
def f(ctx, s, actor, on, action: AuditAction, other: 'AuditAction'):
    audit.record(ctx, AuditAction.CASE_VIEWED, case=None)
    audit.record(ctx, AuditAction.CATALOGUE_ACTIVATED if on else AuditAction.CATALOGUE_DEACTIVATED)
    audit.record(ctx, action)
    audit_service.record_system(s, other, now=1, municipality_id=None)
    audit.record_denied(s, actor=actor, action=AuditAction.ACCESS_DENIED, now=1)
    s.scalars(select(AuditEvent).where(AuditEvent.action == 'case.viewed'))
    s.execute(insert(Notification), [{'kind': 'case.viewed.x'}])
    audit.record(ctx, AuditAction(name))
    url_for('auth.login', action='x')
    redirect('auth.login')
    ctx.workflows.record(ctx, 'not an action')
"""
    root = _package(tmp_path, {AUDIT_HOME: _AUDIT + home, "services/other.py": _AUDIT + other})
    assert audit_violations(root) == []
