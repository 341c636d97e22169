"""Mermaid ``stateDiagram-v2`` source and Markdown tables for a workflow definition.

Pure functions over a ``WorkflowDefinition``; the generated part of ``docs/workflows.md`` is
``workflows_markdown(...)``. GitHub renders the Mermaid blocks without graphviz.

Layout, chosen for how Mermaid's state renderer places nodes:

* one composite state per non-final level, holding that level's states and the arrows between
  them (Mermaid puts a state in the *last* composite that mentions it, so a state id is only ever
  mentioned inside its own level's block);
* final states, arrows that leave a level and ``[*]`` arrows at the top level, after every block;
* internal transitions (``dest`` is None) are not drawn; the standing exits are listed in a note
  on the initial state instead.

Mermaid's lexer ends a transition label or a note at ``:`` or ``;`` and treats ``#``, ``%%``,
quotes and braces specially, so labels are cleaned (``_text``, ``_inline``). State ids are the
state names (snake_case, checked by the loader), so they need no escaping.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bti.engine.definition import LevelDef
from bti.engine.definition import StateDef
from bti.engine.definition import TransitionDef
from bti.engine.definition import WorkflowDefinition
from bti.engine.i18n import pick

INDENT = "    "

#: Heading of the standing-exits note (no ':' or ';': Mermaid ends a note there).
STANDING_NOTE_HEADING: dict[str, str] = {
    "nb": "Alltid åpne (i alle trinn før saken er avsluttet)",
    "nn": "Alltid opne (i alle steg før saka er avslutta)",
    "en": "Always open (in every state before the case is closed)",
}

#: Characters Mermaid's state-diagram lexer reacts to, and harmless look-alikes.
_REPLACE = {
    '"': "'",
    "`": "'",
    ";": ",",
    "#": "№",
    "{": "(",
    "}": ")",
    "<": "‹",
    ">": "›",
}
_TRANSLATE = str.maketrans(_REPLACE)
#: The lexer treats any line containing ``direction LR`` (etc.) as a direction statement.
_DIRECTION = re.compile(r"(direction)\s+(?=(?:tb|bt|rl|lr))", re.IGNORECASE)
_SPACES = re.compile(r"\s+")


def _text(value: str) -> str:
    """A label safe inside ``state "..." as id``: one line, no quotes, semicolons, '#', braces."""
    out = value.translate(_TRANSLATE)
    out = out.replace("%%", "%")
    out = _DIRECTION.sub(r"\1-", out)
    return _SPACES.sub(" ", out).strip()


def _inline(value: str) -> str:
    """A label safe after ``-->  a : `` or inside a note: additionally no ':'."""
    return _SPACES.sub(" ", _text(value).replace(":", " - ")).strip()


def _note_line(value: str) -> str:
    out = _inline(value)
    return re.sub(r"end(\s+)note", r"end-note", out, flags=re.IGNORECASE)


def edge_label(transition: TransitionDef, lang: str) -> str:
    """The text on an arrow: the trigger and the transition's label, Mermaid-safe."""
    return _inline(f"{transition.trigger} · {pick(transition.label, lang)}")


def arrows(definition: WorkflowDefinition) -> list[tuple[str, str, TransitionDef]]:
    """Every state-changing (source, dest, transition), in file order, without duplicates."""
    out: dict[tuple[str, str, str], tuple[str, str, TransitionDef]] = {}
    for t in definition.transitions:
        if t.dest is None:
            continue
        for source in t.sources:
            if source != t.dest:
                out.setdefault((source, t.dest, t.trigger), (source, t.dest, t))
    return list(out.values())


def standing_exits(definition: WorkflowDefinition) -> list[TransitionDef]:
    """The standing exits, each trigger once, in file order."""
    seen: dict[str, TransitionDef] = {}
    for t in definition.transitions:
        if t.standing:
            seen.setdefault(t.trigger, t)
    return list(seen.values())


def _composite_ids(definition: WorkflowDefinition) -> dict[str, str]:
    """Mermaid ids for the level blocks, never equal to a state name."""
    taken = {s.name for s in definition.states}
    ids: dict[str, str] = {}
    for level in definition.levels:
        candidate = f"level_{level.id}"
        while candidate in taken:
            candidate += "_"
        taken.add(candidate)
        ids[level.id] = candidate
    return ids


def _state_line(state: StateDef, lang: str) -> str:
    return f'state "{_text(pick(state.label, lang))}" as {state.name}'


def _note_lines(definition: WorkflowDefinition, lang: str) -> list[str]:
    exits = standing_exits(definition)
    if not exits:
        return []
    lines = [f"note right of {definition.initial}",
             INDENT + _note_line(pick(STANDING_NOTE_HEADING, lang))]
    lines += [INDENT + _note_line(f"{t.trigger} · {pick(t.label, lang)}") for t in exits]
    lines.append("end note")
    return lines


def diagram(definition: WorkflowDefinition, lang: str = "nb") -> str:
    """Mermaid ``stateDiagram-v2`` source for ``definition``, labels in ``lang`` (nb, nn, en)."""
    block_ids = _composite_ids(definition)
    composite_levels = [lv for lv in definition.levels if not lv.final]
    in_block = {lv.id for lv in composite_levels}
    states_by_level: dict[str, list[StateDef]] = {lv.id: [] for lv in definition.levels}
    for state in definition.states:
        states_by_level.setdefault(state.level, []).append(state)

    inner: dict[str, list[tuple[str, str, TransitionDef]]] = {lv.id: [] for lv in composite_levels}
    outer: list[tuple[str, str, TransitionDef]] = []
    for source, dest, t in arrows(definition):
        level = definition.state(source).level
        if level in in_block and definition.state(dest).level == level:
            inner[level].append((source, dest, t))
        else:
            outer.append((source, dest, t))

    note = _note_lines(definition, lang)
    lines = ["stateDiagram-v2"]
    for lvl in composite_levels:
        block = block_ids[lvl.id]
        lines.append(INDENT + f'state "{_text(pick(lvl.label, lang))}" as {block}')
        lines.append(INDENT + f"state {block} {{")
        for state in states_by_level[lvl.id]:
            lines.append(INDENT * 2 + _state_line(state, lang))
            if state.name == definition.initial:
                lines += [INDENT * 2 + line for line in note]
        for source, dest, t in inner[lvl.id]:
            lines.append(INDENT * 2 + f"{source} --> {dest} : {edge_label(t, lang)}")
        lines.append(INDENT + "}")
    # states of final levels (the final states) sit at the top level
    for state in (s for s in definition.states if s.level not in in_block):
        lines.append(INDENT + _state_line(state, lang))
        if state.name == definition.initial:
            lines += [INDENT + line for line in note]
    lines.append(INDENT + f"[*] --> {definition.initial}")
    for source, dest, t in outer:
        lines.append(INDENT + f"{source} --> {dest} : {edge_label(t, lang)}")
    for state in definition.states:
        if state.final:
            lines.append(INDENT + f"{state.name} --> [*]")
    return "\n".join(lines) + "\n"


# --- Markdown -------------------------------------------------------------------------------


def _cell(value: str) -> str:
    return _SPACES.sub(" ", value.replace("|", "\\|")).strip()


def _code(names: Iterable[str]) -> str:
    return ", ".join(f"`{n}`" for n in names) or "–"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out


def _level_rows(levels: Iterable[LevelDef], lang: str) -> list[list[str]]:
    return [
        [f"`{lv.id}`", "–" if lv.number is None else str(lv.number), lv.colour or "–",
         "yes" if lv.final else "no", pick(lv.label, lang)]
        for lv in levels
    ]


def _sources(t: TransitionDef, non_final: tuple[str, ...]) -> str:
    if t.standing:
        return "every non-final state (standing exit)"
    if len(t.sources) > 1 and set(t.sources) == set(non_final):
        return "every non-final state"
    return _code(t.sources)


def _guards(t: TransitionDef) -> str:
    """The guards, then each ``when`` rule: which values it applies to and what a failure does."""
    parts = [f"`{g}`" for g in t.guards]
    parts += [f"`{w.guard}` when `{w.field}` is {_code(sorted(w.values))} ({w.on_fail})"
              for w in t.when]
    return ", ".join(parts) or "–"


def workflow_markdown(definition: WorkflowDefinition, lang: str = "nb") -> str:
    """One workflow's section of ``docs/workflows.md``."""
    d = definition
    non_final = tuple(s.name for s in d.states if not s.final)
    out = [f"## {pick(d.title, 'en')} (`{d.id}` v{d.version})", ""]
    if d.description:
        out += [pick(d.description, lang), ""]
    out += [f"Initial state: `{d.initial}`. Labels below are in `{lang}`.", ""]
    out += ["### Levels", ""]
    out += _table(["Level", "Number", "Colour", "Final", f"Label ({lang})"],
                  _level_rows(d.levels, lang))
    out += ["", "### States", ""]
    out += _table(
        ["State", "Level", "Phase", f"Label ({lang})"],
        [[f"`{s.name}`", f"`{s.level}`", s.phase, pick(s.label, lang)] for s in d.states],
    )
    out += ["", "### Transitions", ""]
    out += _table(
        ["Trigger", "From", "To", "Roles", "Guards", "Reason", "Effect",
         f"Stafettlogg entry ({lang})"],
        [
            [
                f"`{t.trigger}`",
                _sources(t, non_final),
                "(records, stays)" if t.dest is None else f"`{t.dest}`",
                _code(sorted(t.roles)),
                _guards(t),
                "yes" if t.reason else "no",
                f"`{t.effect}`",
                pick(t.title, lang) if t.title else "–",
            ]
            for t in d.transitions
        ],
    )
    out += ["", "### Diagram", "", "```mermaid", diagram(d, lang).rstrip("\n"), "```", ""]
    return "\n".join(out)


def workflows_markdown(definitions: list[WorkflowDefinition], lang: str = "nb") -> str:
    """The generated part of ``docs/workflows.md``: every workflow, sorted by id."""
    sections = [workflow_markdown(d, lang) for d in sorted(definitions, key=lambda d: d.id)]
    return "\n".join(sections)


__all__ = [
    "STANDING_NOTE_HEADING",
    "arrows",
    "diagram",
    "edge_label",
    "standing_exits",
    "workflow_markdown",
    "workflows_markdown",
]
