"""Every guard of the vocabulary reads as a checklist line on the case page, in nb, nn and en,
and the action that meets it is a trigger of every shipped workflow file."""

from __future__ import annotations

import string
from pathlib import Path

import pytest

from bti.domain.vocabulary import CHECKLIST_PARAMS
from bti.domain.vocabulary import GUARD_CHECKLIST
from bti.domain.vocabulary import GUARDS
from bti.domain.vocabulary import vocabulary
from bti.engine import load_file
from bti.engine.i18n import LANGS

FILES = sorted((Path(__file__).parent.parent.parent / "workflows").glob("*.toml"))


def test_every_guard_has_a_checklist_entry_and_no_other():
    assert set(GUARD_CHECKLIST) == set(GUARDS)


@pytest.mark.parametrize("guard", sorted(GUARDS))
def test_checklist_text_in_every_language_with_known_placeholders(guard):
    text = GUARD_CHECKLIST[guard].text
    assert set(text) == set(LANGS)
    for lang in LANGS:
        assert text[lang].strip(), (guard, lang)
        names = {f for _, f, _, _ in string.Formatter().parse(text[lang]) if f is not None}
        assert names <= CHECKLIST_PARAMS, (guard, lang, names)
    # the three languages name the same things
    assert len({frozenset(f for _, f, _, _ in string.Formatter().parse(text[lang]) if f)
                for lang in LANGS}) == 1


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_every_named_action_is_a_trigger_of_the_workflow(path):
    triggers = set(load_file(path, vocabulary()).triggers)
    named = {c.action for c in GUARD_CHECKLIST.values() if c.action is not None}
    assert named, "some guard names the action that meets it"
    assert named <= triggers, named - triggers
