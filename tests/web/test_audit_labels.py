"""The audit trail's actions are a closed vocabulary (``AuditAction``; that every call passes one
is checked in tests/test_architecture.py), and every code a privacy officer sees on the
access-log pages is shown in words, in the user's language."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from bti.domain.vocabulary import AuditAction
from bti.services.access import audit
from bti.services.context import Ctx
from bti.services.context import utcnow
from tests.web.test_access_audit import make_case


def test_every_action_has_a_label(app):
    from bti.web.ui.audit import action_labels

    with app.test_request_context():
        labels = action_labels()
    assert set(labels) == {a.value for a in AuditAction}
    assert all(text and text != code for code, text in labels.items())


def test_an_unknown_action_is_refused_before_anything_is_written(session: Session):
    for builder in (lambda a: audit.record_system(session, a, now=utcnow(), municipality_id=None),
                    lambda a: audit.record(Ctx.system(session), a)):
        with pytest.raises(ValueError, match="unknown audit action 'case.vieved'"):
            builder("case.vieved")
    assert audit.pending(session) == []
    audit.record_system(session, AuditAction("case.viewed"), now=utcnow(), municipality_id=None)
    assert [type(r["action"]) for r in audit.pending(session)] == [str]  # the plain string


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
