"""Mermaid diagrams and the generated Markdown for workflow definitions (bti.engine.mermaid)."""

from __future__ import annotations

import ast
import dataclasses
import re
import sys
from pathlib import Path
from types import MappingProxyType

import pytest

from bti.domain.vocabulary import vocabulary
from bti.engine import WorkflowDefinition
from bti.engine import load_file
from bti.engine import mermaid
from bti.engine.mermaid import diagram
from bti.engine.mermaid import workflows_markdown

ROOT = Path(__file__).resolve().parents[2]
STANDARD = ROOT / "workflows" / "bti-standard.toml"
LANGS = ("nb", "nn", "en")

ID = r"[a-z][a-z0-9_]*"
ARROW = re.compile(rf"^\s*(\[\*\]|{ID}) --> (\[\*\]|{ID})(?: : (.*))?$")
STATE_DECL = re.compile(rf'^\s*state "([^"]*)" as ({ID})$')
BLOCK_OPEN = re.compile(rf"^\s*state ({ID}) \{{$")
BLOCK_CLOSE = re.compile(r"^\s*\}$")
NOTE_OPEN = re.compile(rf"^\s*note (?:left|right) of ({ID})$")
NOTE_CLOSE = re.compile(r"^\s*end note$")


@pytest.fixture(scope="module")
def definition() -> WorkflowDefinition:
    return load_file(STANDARD, vocabulary())


def _arrows(text: str) -> list[tuple[str, str, str | None]]:
    return [m.groups() for line in text.splitlines() if (m := ARROW.match(line))]


def _declared(text: str) -> dict[str, str]:
    return {m.group(2): m.group(1) for line in text.splitlines() if (m := STATE_DECL.match(line))}


def _note(text: str) -> tuple[str, list[str]]:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if m := NOTE_OPEN.match(line):
            end = next(j for j in range(i + 1, len(lines)) if NOTE_CLOSE.match(lines[j]))
            return m.group(1), [x.strip() for x in lines[i + 1:end]]
    raise AssertionError("no note in the diagram")


def _expected_arrows(d: WorkflowDefinition) -> set[tuple[str, str, str]]:
    return {
        (src, t.dest, t.trigger)
        for t in d.transitions
        if t.dest is not None
        for src in t.sources
        if src != t.dest
    }


def _structure_problems(text: str) -> list[str]:
    """Stand-in for ``mmdc`` (not installed): every line is blank, a known statement form, or
    inside a note; blocks balance; every id an arrow or note names is a declared state."""
    problems: list[str] = []
    lines = text.splitlines()
    if not lines or lines[0] != "stateDiagram-v2":
        problems.append("first line is not 'stateDiagram-v2'")
    declared: set[str] = set()
    blocks: set[str] = set()
    mentioned: set[str] = set()
    depth = 0
    in_note = False
    for n, line in enumerate(lines[1:], start=2):
        if in_note:
            if NOTE_CLOSE.match(line):
                in_note = False
            elif ":" in line or ";" in line:
                problems.append(f"line {n}: ':' or ';' in a note ends it early")
            continue
        if not line.strip():
            continue
        if m := STATE_DECL.match(line):
            if m.group(2) in declared:
                problems.append(f"line {n}: {m.group(2)} declared twice")
            declared.add(m.group(2))
        elif m := BLOCK_OPEN.match(line):
            if depth:
                problems.append(f"line {n}: nested composite state")
            blocks.add(m.group(1))
            depth += 1
        elif BLOCK_CLOSE.match(line):
            depth -= 1
            if depth < 0:
                problems.append(f"line {n}: unbalanced '}}'")
        elif m := NOTE_OPEN.match(line):
            mentioned.add(m.group(1))
            in_note = True
        elif m := ARROW.match(line):
            mentioned |= {m.group(1), m.group(2)} - {"[*]"}
            label = m.group(3)
            if label is not None and (not label.strip() or re.search(r'[:;"#{}]', label)):
                problems.append(f"line {n}: unsafe transition label {label!r}")
        else:
            problems.append(f"line {n}: not a known Mermaid statement: {line!r}")
    if depth:
        problems.append("unclosed composite state")
    if in_note:
        problems.append("unclosed note")
    problems += [f"{b}: composite state without a description" for b in blocks - declared]
    problems += [f"{s}: used but never declared" for s in sorted(mentioned - declared)]
    return problems


# --- the diagram ----------------------------------------------------------------------------


def test_every_state_is_declared_with_its_name_as_id(definition):
    text = diagram(definition)
    declared = _declared(text)
    for state in definition.states:
        assert state.name in declared
    assert re.search(rf"^\s*\[\*\] --> {definition.initial}$", text, re.MULTILINE)
    for final in definition.final_states:
        assert re.search(rf"^\s*{final} --> \[\*\]$", text, re.MULTILINE)


def test_one_composite_per_non_final_level_holding_its_states(definition):
    text = diagram(definition)
    declared = _declared(text)
    blocks: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if m := BLOCK_OPEN.match(line):
            current = m.group(1)
            blocks[current] = []
        elif BLOCK_CLOSE.match(line):
            current = None
        elif current and (m := STATE_DECL.match(line)):
            blocks[current].append(m.group(2))
    non_final = [lv for lv in definition.levels if not lv.final]
    assert len(blocks) == len(non_final)
    by_label = {declared[b]: members for b, members in blocks.items()}
    for level in non_final:
        members = by_label[level.label["nb"]]
        assert members == [s.name for s in definition.states if s.level == level.id]
    inside = {name for members in blocks.values() for name in members}
    assert definition.final_states.isdisjoint(inside)


def test_every_state_changing_transition_is_an_arrow(definition):
    expected = _expected_arrows(definition)
    drawn = {
        (src, dst, label.split(" · ")[0])
        for src, dst, label in _arrows(diagram(definition))
        if label is not None
    }
    assert drawn == expected
    assert ("n0_decision", "n1_plan", "escalate") in drawn
    assert ("n2_decision", "n3_plan", "accept_ip_handover") in drawn
    assert ("n2_decision", "closed", "close") in drawn  # one arrow per source of a list


def test_internal_transitions_are_not_arrows(definition):
    text = diagram(definition)
    internal = {t.trigger for t in definition.transitions if t.dest is None}
    assert {"inform_home", "add_measure", "report_barnevernet", "avvergeplikt"} <= internal
    arrow_triggers = {label.split(" · ")[0] for _, _, label in _arrows(text) if label}
    assert arrow_triggers.isdisjoint(internal)
    assert all(src != dst for src, dst, _ in _arrows(text))
    for trigger in internal - {t.trigger for t in definition.transitions if t.standing}:
        assert trigger not in text


def test_self_transitions_are_not_arrows(definition):
    cont = next(t for t in definition.transitions if t.sources == ("n1_decision",)
                and t.trigger == "continue")
    looping = dataclasses.replace(cont, dest="n1_decision")
    d = dataclasses.replace(
        definition,
        transitions=tuple(looping if t is cont else t for t in definition.transitions),
    )
    drawn = _arrows(diagram(d))
    assert all(src != dst for src, dst, _ in drawn)
    assert ("n1_decision", "n1_plan") not in {(s, t) for s, t, _ in drawn}
    assert len(drawn) == len(_arrows(diagram(definition))) - 1


def test_standing_exits_note_on_the_initial_state(definition):
    for lang in LANGS:
        attached_to, body = _note(diagram(definition, lang))
        assert attached_to == definition.initial
        assert body[0] == mermaid.STANDING_NOTE_HEADING[lang]
        standing = [t for t in definition.transitions if t.standing]
        assert [line.split(" · ")[0] for line in body[1:]] == [t.trigger for t in standing]
        for t, line in zip(standing, body[1:], strict=True):
            assert line.split(" · ")[1] == t.label[lang].replace(":", " -")
    text = diagram(definition, "en")
    assert "report_barnevernet · Record that a report of concern was sent" in text
    assert "avvergeplikt · Duty to avert - alert the police or child welfare" in text
    assert "every state before the case is closed" in text


def test_each_standing_trigger_listed_once(definition):
    doubled = dataclasses.replace(
        definition, transitions=definition.transitions + tuple(
            t for t in definition.transitions if t.standing)
    )
    _, body = _note(diagram(doubled))
    triggers = [line.split(" · ")[0] for line in body[1:]]
    assert triggers == ["report_barnevernet", "avvergeplikt"]


def test_no_note_without_standing_exits(definition):
    plain = dataclasses.replace(
        definition, transitions=tuple(t for t in definition.transitions if not t.standing)
    )
    assert "note " not in diagram(plain)
    assert _structure_problems(diagram(plain)) == []


@pytest.mark.parametrize("lang", LANGS)
def test_labels_in_the_requested_language(definition, lang):
    text = diagram(definition, lang)
    declared = _declared(text)
    for state in definition.states:
        assert declared[state.name] == state.label[lang]
    for level in definition.levels:
        if not level.final:
            assert f'state "{level.label[lang]}" as ' in text
    labels = {(s, d, lbl.split(" · ")[0]): lbl.split(" · ", 1)[1]
              for s, d, lbl in _arrows(text) if lbl}
    for t in definition.transitions:
        if t.dest is not None:
            for src in t.sources:
                if src == t.dest:  # not state-changing: no arrow (mermaid.arrows)
                    continue
                assert labels[(src, t.dest, t.trigger)] == t.label[lang].replace(":", " -")


def test_languages_differ_where_the_file_differs(definition):
    nb, nn, en = (diagram(definition, lang) for lang in LANGS)
    assert len({nb, nn, en}) == 3
    assert 'state "Undring: konkretiser bekymringen" as n0_plan' in nb
    assert 'state "Undring: konkretiser uroa" as n0_plan' in nn
    assert 'state "Wondering: make the concern concrete" as n0_plan' in en
    assert "close_no_concern · Avslutt - ingen grunn til bekymring" in nb
    assert "close_no_concern · Avslutt - ingen grunn til uro" in nn
    assert "close_no_concern · Close - no reason for concern" in en
    # where nb and nn agree, so does the output
    assert nb.count('"Nivå 2: evaluering"') == nn.count('"Nivå 2: evaluering"') == 1


def test_unknown_language_falls_back_to_bokmal(definition):
    assert diagram(definition, "se") == diagram(definition, "nb")


def test_no_colon_or_semicolon_in_transition_labels(definition):
    for lang in LANGS:
        for line in diagram(definition, lang).splitlines():
            if ARROW.match(line) and " : " in line:
                label = line.split(":", 1)[1]
                assert ":" not in label, line
                assert ";" not in label, line


def test_awkward_characters_are_escaped(definition):
    first = definition.states[0]
    nasty_state = dataclasses.replace(
        first, label=MappingProxyType({"nb": 'Si "hei"; #1 {x}: <b> 50%% direction LR'}))
    start = next(t for t in definition.transitions if t.trigger == "start")
    nasty_t = dataclasses.replace(start, label=MappingProxyType({"nb": 'a: b; "c" #2 {d}\nny'}))
    d = dataclasses.replace(
        definition,
        states=(nasty_state, *definition.states[1:]),
        transitions=tuple(nasty_t if t is start else t for t in definition.transitions),
    )
    text = diagram(d)
    assert _structure_problems(text) == []
    label = _declared(text)[first.name]
    assert label == "Si 'hei', №1 (x): ‹b› 50% direction-LR"
    arrow = next(lbl for s, _, lbl in _arrows(text) if s == first.name and lbl)
    assert arrow == "start · a - b, 'c' №2 (d) ny"


def test_deterministic(definition):
    again = load_file(STANDARD, vocabulary())
    for lang in LANGS:
        assert diagram(definition, lang) == diagram(definition, lang) == diagram(again, lang)


@pytest.mark.parametrize("lang", LANGS)
def test_structurally_valid_mermaid(definition, lang):
    assert _structure_problems(diagram(definition, lang)) == []


def test_structure_check_catches_bad_lines():
    bad = "\n".join([
        "stateDiagram-v2",
        '    state "A" as a',
        "    state a {",
        "        a --> b : x: y",
        "    note right of a",
        "        bad: text",
        "    end note",
        "    graph TD",
    ])
    problems = _structure_problems(bad)
    assert any("unsafe transition label" in p for p in problems)
    assert any("in a note" in p for p in problems)
    assert any("not a known Mermaid statement" in p for p in problems)
    assert any("unclosed composite" in p for p in problems)
    assert any("b: used but never declared" in p for p in problems)


def test_states_are_only_mentioned_inside_their_own_level_block(definition):
    """Mermaid moves a state into the last composite that mentions it; arrows across levels
    must therefore sit outside every block."""
    level_of = {s.name: s.level for s in definition.states}
    block_level: dict[str, str] = {}
    declared = _declared(diagram(definition))
    for level in definition.levels:
        for block, label in declared.items():
            if label == level.label["nb"] and block not in level_of:
                block_level[block] = level.id
    current = None
    for line in diagram(definition).splitlines():
        if m := BLOCK_OPEN.match(line):
            current = block_level[m.group(1)]
        elif BLOCK_CLOSE.match(line):
            current = None
        elif current is not None:
            for name in re.findall(ID, line.split(":")[0].split('"')[-1]):
                if name in level_of:
                    assert level_of[name] == current, line


# --- the Markdown ---------------------------------------------------------------------------


def test_workflows_markdown(definition):
    text = workflows_markdown([definition])
    assert text.startswith("## BTI – standard model (KoRus) (`bti-standard` v1)\n")
    fence = re.search(r"```mermaid\n(.*?)```", text, re.DOTALL)
    assert fence is not None
    assert fence.group(1) == diagram(definition, "nb")
    for state in definition.states:
        assert f"| `{state.name}` | `{state.level}` | {state.phase} | {state.label['nb']} |" in text
    assert "| `escalate` | `n0_decision` | `n1_plan` | `reporter`, `stafettholder`, " \
           "`unit_leader` | `has_stafettholder`, `home_informed` | yes | `none` |" in text
    assert "| `add_note` | every non-final state | (records, stays) |" in text
    assert "| `report_barnevernet` | every non-final state (standing exit) | (records, stays) |" \
        in text
    assert "| `add_goal` | `n1_plan`, `n1_active`, `n2_plan`, `n2_active`, `n3_plan`, " \
           "`n3_active` | (records, stays) |" in text
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert len([r for r in rows if "(records, stays)" in r]) == sum(
        1 for t in definition.transitions if t.dest is None)


def test_workflows_markdown_sorted_by_id_and_language(definition):
    other = dataclasses.replace(definition, id="aaa-variant", version=3)
    text = workflows_markdown([definition, other], "nn")
    headings = re.findall(r"^## .*$", text, re.MULTILINE)
    assert headings == [
        "## BTI – standard model (KoRus) (`aaa-variant` v3)",
        "## BTI – standard model (KoRus) (`bti-standard` v1)",
    ]
    assert text == workflows_markdown([other, definition], "nn")
    assert 'state "Undring: konkretiser uroa" as n0_plan' in text
    assert "| Saka er avslutta |" in text


def test_engine_layer_imports_only_stdlib_and_engine():
    tree = ast.parse(Path(mermaid.__file__).read_text(encoding="utf-8"))
    modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names}
    modules |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert any(m.startswith("bti.engine.") for m in modules)
    for module in modules:
        if module.startswith("bti"):
            assert module.startswith("bti.engine."), module
        else:
            top = module.split(".")[0]
            assert top in sys.stdlib_module_names or top == "__future__", module
