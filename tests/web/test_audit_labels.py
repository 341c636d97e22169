"""The audit trail's actions are a closed vocabulary, and every code a privacy officer sees on
the access-log pages is shown in words, in the user's language."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from bti.domain.vocabulary import AUDIT_ACTIONS
from bti.services.access import audit
from tests.web.test_access_audit import make_case

BTI = Path(__file__).resolve().parents[2] / "bti"


def _actions_in_source() -> dict[str, str]:
    """Literal audit actions in the code: ``record(ctx, "…")``, ``action="…"`` and
    ``_log_denied("…")``, with a file each is used in."""
    found: dict[str, str] = {}
    for path in BTI.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = (node.func.attr if isinstance(node.func, ast.Attribute)
                    else getattr(node.func, "id", None))
            values = []
            if name == "record" and len(node.args) >= 2:
                values.append(node.args[1])
            if name == "_log_denied" and node.args:
                values.append(node.args[0])
            values += [kw.value for kw in node.keywords if kw.arg == "action"]
            values += [b for v in values if isinstance(v, ast.IfExp) for b in (v.body, v.orelse)]
            for v in values:
                if isinstance(v, ast.Constant) and isinstance(v.value, str):
                    found.setdefault(v.value, str(path.relative_to(BTI.parent)))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef):  # ``action: str = "…"`` parameters
                args = node.args.args + node.args.kwonlyargs
                defaults = ([None] * (len(node.args.args) - len(node.args.defaults))
                            + list(node.args.defaults) + list(node.args.kw_defaults))
                for arg, default in zip(args, defaults, strict=True):
                    if (arg.arg == "action" and isinstance(default, ast.Constant)
                            and isinstance(default.value, str)):
                        found.setdefault(default.value, str(path.relative_to(BTI.parent)))
    return found


def test_every_action_in_the_code_is_in_the_vocabulary():
    found = _actions_in_source()
    assert len(found) >= 25  # the collector sees the code (a broken walk would find nothing)
    unknown = {a: where for a, where in found.items() if a not in AUDIT_ACTIONS}
    assert not unknown, f"add these to bti.domain.vocabulary.AUDIT_ACTIONS: {unknown}"


def test_every_action_has_a_label(app):
    from bti.web.ui.audit import action_labels

    with app.test_request_context():
        labels = action_labels()
    assert set(labels) == set(AUDIT_ACTIONS)
    assert all(text and text != code for code, text in labels.items())


def test_an_unknown_action_is_refused_before_anything_is_written(session: Session):
    with pytest.raises(ValueError, match="unknown audit action"):
        audit.add_row(session, {"action": "case.vieved"})
    assert audit.pending(session) == []


@pytest.mark.parametrize(("lang", "opened", "basis", "role"), [
    ("nb", "Registrerte en ny bekymring", "Meldte bekymringen", "Ansatt"),
    ("nn", "Registrerte ei ny uro", "Melde uroa", "Tilsett"),
])
def test_access_log_pages_show_codes_in_words(app, web_world, login, lang, opened, basis, role):
    case_id, _ = make_case(app, web_world)
    leader = login("leader", web_world)
    leader.get("/tilgang/logg")  # a page of the signed-in session, for its form token
    assert leader.post("/auth/language", {"lang": lang, "next": "/"}).status_code == 302
    html = leader.get(f"/tilgang/logg?case={case_id}&action=case.opened").get_data(as_text=True)
    assert f'<html lang="{lang}">' in html
    assert opened in html
    assert basis in html
    assert role in html
    assert "<code class=\"hint\">case.opened</code>" in html  # the exact code stays visible
