"""Reading workflow files: TOML text → validated, frozen ``WorkflowDefinition``."""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Iterable
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bti.engine.definition import Deadlines
from bti.engine.definition import FieldDef
from bti.engine.definition import GuidanceDef
from bti.engine.definition import HomeInformedBy
from bti.engine.definition import LevelDef
from bti.engine.definition import OpeningDef
from bti.engine.definition import Option
from bti.engine.definition import Settings
from bti.engine.definition import StateDef
from bti.engine.definition import TeamDef
from bti.engine.definition import TransitionDef
from bti.engine.definition import Vocabulary
from bti.engine.definition import WhenDef
from bti.engine.definition import WorkflowDefinition
from bti.engine.errors import DefinitionError
from bti.engine.schema import check_graph
from bti.engine.schema import load_shape


def problems_in_text(text: str, name: str, vocab: Vocabulary) -> list[str]:
    """Every problem in one workflow file, as ``FILE: where: what``; empty when it is valid."""
    _, problems = _parse(text, vocab)
    return [f"{name}: {p}" for p in problems]


#: Valid definitions already parsed in this process, by (file hash, vocabulary identity).
#: Definitions are immutable, so a second app or registry over the same files reuses them.
_CACHE: dict[tuple[str, int], tuple[Vocabulary, WorkflowDefinition]] = {}
_CACHE_MAX = 64


def load_text(text: str, name: str, vocab: Vocabulary) -> WorkflowDefinition:
    """Parse and validate one workflow file; raise ``DefinitionError`` listing every problem."""
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    hit = _CACHE.get((sha, id(vocab)))
    if hit is not None and hit[0] is vocab:
        return hit[1]
    loaded, problems = _parse(text, vocab)
    if problems or loaded is None:
        raise DefinitionError([f"{name}: {p}" for p in problems])
    definition = _build(loaded, sha, text)
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    _CACHE[(sha, id(vocab))] = (vocab, definition)
    return definition


def load_file(path: Path, vocab: Vocabulary) -> WorkflowDefinition:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DefinitionError([f"{path}: (file): cannot be read: {err}"]) from None
    return load_text(text, str(path), vocab)


def workflow_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.toml") if p.is_file())


def load_directory(directory: Path, vocab: Vocabulary) -> dict[str, WorkflowDefinition]:
    """Every ``*.toml`` in ``directory``; one ``DefinitionError`` naming every problem of every
    file, and an error when two files share an id or the directory has none."""
    problems: list[str] = []
    found: dict[str, WorkflowDefinition] = {}
    origin: dict[str, Path] = {}
    paths = workflow_files(directory)
    if not paths:
        raise DefinitionError([f"{directory}: (directory): no workflow files (*.toml)"])
    for path in paths:
        try:
            definition = load_file(path, vocab)
        except DefinitionError as err:
            problems.extend(err.problems)
            continue
        if definition.id in found:
            problems.append(
                f"{path}: id: {definition.id!r} is also defined in {origin[definition.id]}"
            )
            continue
        found[definition.id] = definition
        origin[definition.id] = path
    if problems:
        raise DefinitionError(problems)
    return found


def check_paths(paths: Iterable[Path], vocab: Vocabulary) -> list[str]:
    out: list[str] = []
    for path in paths:
        try:
            load_file(Path(path), vocab)
        except DefinitionError as err:
            out.extend(err.problems)
    return out


def _parse(text: str, vocab: Vocabulary) -> tuple[dict[str, Any] | None, list[str]]:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        return None, [f"(file): not valid TOML: {err}"]
    loaded, problems = load_shape(raw)
    problems.extend(check_graph(raw, vocab))
    return loaded, list(dict.fromkeys(problems))


def _labels(value: Mapping[str, str]) -> Mapping[str, str]:
    """A required label (the shape check makes sure it has nb, nn and en), read-only."""
    return MappingProxyType(dict(value))


def _optional_labels(value: Mapping[str, str] | None) -> Mapping[str, str] | None:
    return _labels(value) if value else None


def _filled(labels: Mapping[str, str], settings: Mapping[str, Any]) -> Mapping[str, str]:
    """A guidance text with its ``{youth_consent_age}`` filled in (the check allows no other)."""
    return _labels({lang: text.format(**settings) for lang, text in labels.items()})


def _build(d: Mapping[str, Any], sha: str, text: str) -> WorkflowDefinition:
    fields = {
        name: FieldDef(
            name=name,
            type=f["type"],
            label=_labels(f["label"]),
            help=_optional_labels(f.get("help")),
            options=tuple(Option(o["value"], _labels(o["label"])) for o in f["options"]),
        )
        for name, f in d["fields_"].items()
    }
    non_final = tuple(s["name"] for s in d["states"] if not s["final"])
    transitions = [
        TransitionDef(
            trigger=t["trigger"],
            sources=t["source"],
            dest=t["dest"],
            roles=frozenset(t["roles"]),
            guards=tuple(t["guards"]),
            reason=t["reason"],
            effect=t["effect"],
            fields=tuple(t["fields_"]),
            optional=tuple(t["optional"]),
            label=_labels(t["label"]),
            help=_optional_labels(t.get("help")),
            when=tuple(WhenDef(w["field"], frozenset(w["values"]), w["guard"], w["on_fail"])
                       for w in t["when"]),
            title=_labels(t["title"]),
            saved=_labels(t["saved"]),
            home_informed_by=None if t["home_informed_by"] is None else HomeInformedBy(
                t["home_informed_by"]["field"], frozenset(t["home_informed_by"]["values"]),
                t["home_informed_by"]["present"]),
        )
        for t in d["transitions"]
    ]
    transitions += [
        TransitionDef(
            trigger=x["trigger"],
            sources=non_final,
            dest=None,
            roles=frozenset(x["roles"]),
            guards=(),
            reason=x["reason"],
            effect=x["effect"],
            fields=tuple(x["fields_"]),
            optional=tuple(x["optional"]),
            label=_labels(x["label"]),
            help=_optional_labels(x.get("help")),
            standing=True,
            title=_labels(x["title"]),
            saved=_labels(x["saved"]),
        )
        for x in d["standing_exits"]
    ]
    dl = d["deadlines"]
    return WorkflowDefinition(
        id=d["id"],
        version=d["version"],
        title=_labels(d["title"]),
        description=_optional_labels(d.get("description")),
        initial=d["initial"],
        levels=tuple(
            LevelDef(lv["id"], lv["number"], lv["final"], _labels(lv["label"]), lv["colour"])
            for lv in d["levels"]
        ),
        states=tuple(
            StateDef(s["name"], s["level"], s["phase"], s["final"], _labels(s["label"]),
                     _optional_labels(s.get("help")))
            for s in d["states"]
        ),
        transitions=tuple(transitions),
        fields=MappingProxyType(fields),
        deadlines=Deadlines(
            level_decision_days=MappingProxyType(dict(dl["level_decision_days"])),
            measure_evaluation_max_days=dl["measure_evaluation_max_days"],
            barnevern_feedback_days=dl["barnevern_feedback_days"],
            consent_expiry_warning_days=dl["consent_expiry_warning_days"],
            inactivity_days=dl["inactivity_days"],
        ),
        settings=Settings(
            youth_consent_age=d["settings"]["youth_consent_age"],
            youth_decides_guardian_access=d["settings"].get("youth_decides_guardian_access",
                                                            True)),
        opening=OpeningDef(
            roles=frozenset(d["opening"]["roles"]),
            fields=tuple(d["opening"]["fields_"]),
            optional=tuple(d["opening"]["optional"]),
            label=_labels(d["opening"]["label"]),
            title=_labels(d["opening"]["title"]),
            saved=_labels(d["opening"]["saved"]),
        ),
        teams=tuple(TeamDef(t["id"], _labels(t["label"])) for t in d["teams"]),
        guidance=tuple(
            GuidanceDef(gid, tuple(g["on"]), _filled(g["title"], d["settings"]),
                        _filled(g["text"], d["settings"]))
            for gid, g in d["guidance"].items()),
        family_shared_kinds=frozenset(
            k for k, v in d["family_sharing"].items() if v == "shared"),
        source_sha256=sha,
        source=text,
    )
