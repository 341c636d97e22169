"""Validation of workflow files: shape (marshmallow) and graph semantics.

Both stages report every problem they find as ``where: what`` strings (``where`` is a path into
the file such as ``transitions[3].dest``), so an author sees the whole list at once.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from collections.abc import Mapping
from string import Formatter
from typing import Any

from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate

from bti.engine.definition import FAMILY_SHARING
from bti.engine.definition import FIELD_TYPES
from bti.engine.definition import PHASES
from bti.engine.definition import WHEN_OUTCOMES
from bti.engine.definition import Vocabulary

IDENT_RE = re.compile(r"^[a-z][a-z0-9_]*$")
IDENT = validate.Regexp(IDENT_RE, error="must be a lower-case snake_case identifier")
WORKFLOW_ID = validate.Regexp(r"^[a-z][a-z0-9-]*$", error="must be lower-case letters, digits, '-'")
NONEMPTY = validate.Length(min=1, error="must not be empty")


class _Strict(Schema):
    """Unknown keys raise (marshmallow 4's default), made explicit for readers."""

    class Meta:
        unknown = "raise"


class LabelsSchema(_Strict):
    nb = fields.String(required=True, validate=NONEMPTY)
    nn = fields.String(required=True, validate=NONEMPTY)
    en = fields.String(required=True, validate=NONEMPTY)


class _Source(fields.Field[tuple[str, ...]]):
    """A state name or a non-empty list of state names; loads into a tuple."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise ValidationError("must be a state name or a non-empty list of state names")
        return tuple(value)


def _labels(required: bool = True) -> fields.Nested:
    return fields.Nested(LabelsSchema, required=required)


def _names() -> fields.List[str]:
    return fields.List(fields.String(validate=IDENT), load_default=list)


class OptionSchema(_Strict):
    value = fields.String(required=True, validate=IDENT)
    label = _labels()


class FieldSchema(_Strict):
    type = fields.String(required=True, validate=validate.OneOf(FIELD_TYPES))
    label = _labels()
    help = _labels(required=False)
    options = fields.List(fields.Nested(OptionSchema), load_default=list)


class LevelSchema(_Strict):
    id = fields.String(required=True, validate=IDENT)
    number = fields.Integer(strict=True, load_default=None, validate=validate.Range(0, 9))
    final = fields.Boolean(load_default=False)
    colour = fields.String(load_default=None, validate=validate.OneOf(["green", "yellow", "red"]))
    label = _labels()


class StateSchema(_Strict):
    name = fields.String(required=True, validate=IDENT)
    level = fields.String(required=True, validate=IDENT)
    phase = fields.String(required=True, validate=validate.OneOf(PHASES))
    final = fields.Boolean(load_default=False)
    label = _labels()
    help = _labels(required=False)


class WhenSchema(_Strict):
    field = fields.String(required=True, validate=IDENT)
    values = fields.List(fields.String(validate=IDENT), required=True, validate=NONEMPTY)
    guard = fields.String(required=True, validate=IDENT)
    on_fail = fields.String(required=True, validate=validate.OneOf(WHEN_OUTCOMES))


class HomeInformedBySchema(_Strict):
    field = fields.String(required=True, validate=IDENT)
    values = fields.List(fields.String(validate=IDENT), required=True, validate=NONEMPTY)
    present = fields.String(required=True, validate=IDENT)


#: The placeholders a guidance text may use, filled from ``[settings]``.
GUIDANCE_PLACEHOLDERS = ("youth_consent_age",)


class GuidanceSchema(_Strict):
    on = fields.List(fields.String(validate=IDENT), required=True, validate=NONEMPTY)
    title = _labels()
    text = _labels()


class TransitionSchema(_Strict):
    trigger = fields.String(required=True, validate=IDENT)
    source = _Source(required=True)
    dest = fields.String(load_default=None, validate=IDENT)
    roles = fields.List(
        fields.String(validate=IDENT),
        required=True,
        validate=validate.Length(min=1, error="must name at least one role (deny by default)"),
    )
    guards = _names()
    reason = fields.Boolean(load_default=False)
    effect = fields.String(load_default="none", validate=IDENT)
    fields_ = fields.List(fields.String(validate=IDENT), data_key="fields", load_default=list)
    optional = _names()
    label = _labels()
    title = _labels()  # the stafettlogg entry's title, in the past tense
    saved = _labels()  # the message after saving, in the past tense
    help = _labels(required=False)
    when = fields.List(fields.Nested(WhenSchema), load_default=list)
    home_informed_by = fields.Nested(HomeInformedBySchema, load_default=None)


class StandingExitSchema(_Strict):
    trigger = fields.String(required=True, validate=IDENT)
    roles = fields.List(fields.String(validate=IDENT), required=True, validate=NONEMPTY)
    guards = _names()  # accepted so the graph check can say why a standing exit may not have any
    reason = fields.Boolean(load_default=False)
    effect = fields.String(required=True, validate=IDENT)
    fields_ = fields.List(fields.String(validate=IDENT), data_key="fields", load_default=list)
    optional = _names()
    label = _labels()
    title = _labels()
    saved = _labels()
    help = _labels(required=False)


class OpeningSchema(_Strict):
    roles = fields.List(fields.String(validate=IDENT), required=True, validate=NONEMPTY)
    fields_ = fields.List(fields.String(validate=IDENT), data_key="fields", load_default=list)
    optional = _names()
    label = _labels()
    title = _labels()
    saved = _labels()


def _days() -> fields.Integer:
    return fields.Integer(strict=True, required=True, validate=validate.Range(1, 3650))


class DeadlinesSchema(_Strict):
    level_decision_days = fields.Dict(
        keys=fields.String(validate=IDENT),
        values=fields.Integer(strict=True, validate=validate.Range(1, 3650)),
        load_default=dict,
    )
    measure_evaluation_max_days = _days()
    barnevern_feedback_days = _days()
    consent_expiry_warning_days = _days()
    inactivity_days = _days()


class SettingsSchema(_Strict):
    youth_consent_age = fields.Integer(
        strict=True, required=True, validate=validate.OneOf([15, 16], error="must be 15 or 16")
    )
    youth_decides_guardian_access = fields.Boolean(load_default=True, truthy={True}, falsy={False})


class TeamSchema(_Strict):
    id = fields.String(required=True, validate=IDENT)
    label = _labels()


class WorkflowSchema(_Strict):
    id = fields.String(required=True, validate=WORKFLOW_ID)
    version = fields.Integer(strict=True, required=True, validate=validate.Range(min=1))
    title = _labels()
    description = _labels(required=False)
    initial = fields.String(required=True, validate=IDENT)
    settings = fields.Nested(SettingsSchema, required=True)
    deadlines = fields.Nested(DeadlinesSchema, required=True)
    teams = fields.List(fields.Nested(TeamSchema), load_default=list)
    fields_ = fields.Dict(
        keys=fields.String(validate=IDENT),
        values=fields.Nested(FieldSchema),
        data_key="fields",
        load_default=dict,
    )
    levels = fields.List(fields.Nested(LevelSchema), required=True, validate=NONEMPTY)
    states = fields.List(fields.Nested(StateSchema), required=True, validate=NONEMPTY)
    opening = fields.Nested(OpeningSchema, required=True)
    transitions = fields.List(fields.Nested(TransitionSchema), required=True, validate=NONEMPTY)
    standing_exits = fields.List(fields.Nested(StandingExitSchema), load_default=list)
    guidance = fields.Dict(keys=fields.String(validate=IDENT),
                           values=fields.Nested(GuidanceSchema), load_default=dict)
    family_sharing = fields.Dict(
        keys=fields.String(validate=IDENT),
        values=fields.String(validate=validate.OneOf(FAMILY_SHARING)),
        load_default=dict,
    )


def flatten_messages(messages: Any, prefix: str = "") -> list[str]:
    """marshmallow's nested ``messages`` as ``where: what`` lines."""
    out: list[str] = []
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            if isinstance(key, int):
                where = f"{prefix}[{key}]"
            elif key == "_schema":
                where = prefix
            else:
                where = f"{prefix}.{key}" if prefix else str(key)
            out.extend(flatten_messages(value, where))
    elif isinstance(messages, list):
        for item in messages:
            if isinstance(item, str):
                text = "unknown key" if item == "Unknown field." else item
                out.append(f"{prefix or '(file)'}: {text}")
            else:
                out.extend(flatten_messages(item, prefix))
    else:
        out.append(f"{prefix or '(file)'}: {messages}")
    return out


def load_shape(raw: Mapping[str, Any]) -> tuple[dict[str, Any] | None, list[str]]:
    try:
        return WorkflowSchema().load(raw), []
    except ValidationError as err:
        return None, flatten_messages(err.messages)


# --- graph semantics -------------------------------------------------------------------------


def _items(raw: Mapping[str, Any], key: str) -> list[tuple[int, dict[str, Any]]]:
    value = raw.get(key)
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]


def _strs(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def placeholders(text: str) -> list[str] | None:
    """The ``{name}`` placeholders of a title, or None if it is not a valid template."""
    try:
        parsed = list(Formatter().parse(text))
    except ValueError:
        return None
    names = [name for _, name, _, _ in parsed if name is not None]
    # a bare field name: no index, attribute, conversion or format spec
    if any(not IDENT_RE.match(n) for n in names) or any(
            spec or conv for _, name, spec, conv in parsed if name is not None):
        return None
    return names


def check_titles(where: str, item: Mapping[str, Any]) -> list[str]:
    """The entry title and the saved message: every placeholder names a field of this
    transition (``reason`` when it takes one), resolved from the entry's payload."""
    out: list[str] = []
    allowed = set(_strs(item.get("fields")) + _strs(item.get("optional")))
    if item.get("reason"):
        allowed.add("reason")
    for key in ("title", "saved"):
        labels = item.get(key)
        if not isinstance(labels, dict):
            continue
        for lang, text in labels.items():
            if not isinstance(text, str):
                continue
            names = placeholders(text)
            if names is None:
                out.append(f"{where}.{key}.{lang}: not a valid title (a placeholder is "
                           "'{field}', a brace is written '{{' or '}}')")
                continue
            for name in dict.fromkeys(names):
                if name not in allowed:
                    out.append(f"{where}.{key}.{lang}: placeholder {{{name}}} is not a field "
                               "of this transition")
    return out


def check_graph(raw: Mapping[str, Any], vocab: Vocabulary) -> list[str]:  # noqa: C901
    """Semantic checks over the raw file data. Tolerates malformed parts (the shape check reports
    those), so that every problem in the file is found in one run."""
    problems: list[str] = []
    add = problems.append

    levels: dict[str, dict[str, Any]] = {}
    for i, lv in _items(raw, "levels"):
        lid = lv.get("id")
        if isinstance(lid, str):
            if lid in levels:
                add(f"levels[{i}].id: duplicate level {lid!r}")
            levels[lid] = lv
    if levels and not any(lv.get("final") for lv in levels.values()):
        add("levels: no final level (for example 'closed')")

    states: dict[str, dict[str, Any]] = {}
    for i, st in _items(raw, "states"):
        name = st.get("name")
        if not isinstance(name, str):
            continue
        if name in states:
            add(f"states[{i}].name: duplicate state {name!r}")
        states[name] = st
        level = st.get("level")
        if isinstance(level, str) and levels and level not in levels:
            add(f"states[{i}].level: unknown level {level!r}")
        elif (isinstance(level, str) and level in levels
              and bool(levels[level].get("final")) != bool(st.get("final"))):
            add(f"states[{i}].final: a state is final exactly when its level is final")
        if bool(st.get("final")) != (st.get("phase") == "closed"):
            add(f"states[{i}].phase: a final state has phase 'closed', and only a final state")
    finals = {n for n, st in states.items() if st.get("final")}

    initial = raw.get("initial")
    if isinstance(initial, str) and states:
        if initial not in states:
            add(f"initial: unknown state {initial!r}")
        elif initial in finals:
            add("initial: the initial state may not be final")

    raw_fields = raw.get("fields")
    field_defs: dict[str, Any] = raw_fields if isinstance(raw_fields, dict) else {}
    for fname, fdef in field_defs.items():
        if not isinstance(fdef, dict):
            continue
        has_options = bool(fdef.get("options"))
        if fdef.get("type") == "choice" and not has_options:
            add(f"fields.{fname}.options: a choice field needs options")
        if fdef.get("type") != "choice" and has_options:
            add(f"fields.{fname}.options: only a choice field has options")

    def check_roles(where: str, roles: Any) -> None:
        for role in _strs(roles):
            if role not in vocab.roles:
                add(f"{where}.roles: unknown role {role!r}")

    def check_when(where: str, tr: Mapping[str, Any], spec: Any, effect: Any) -> None:
        """``when`` rules: a listed choice field, its own option values, a known guard; and
        one for every (field, guard) the effect requires."""
        listed = set(_strs(tr.get("fields")) + _strs(tr.get("optional")))
        declared: set[tuple[str, str]] = set()
        for j, w in _items(tr, "when"):
            at = f"{where}.when[{j}]"
            fname, guard = w.get("field"), w.get("guard")
            if isinstance(guard, str) and guard not in vocab.guards:
                add(f"{at}.guard: unknown guard {guard!r}")
            if not isinstance(fname, str):
                continue
            if isinstance(guard, str):
                declared.add((fname, guard))
            if fname not in listed:
                add(f"{at}.field: {fname!r} is not a field of this transition")
                continue
            fdef = field_defs.get(fname)
            if not isinstance(fdef, dict) or fdef.get("type") != "choice":
                add(f"{at}.field: {fname!r} is not a choice field")
                continue
            options = {o.get("value") for o in fdef.get("options") or () if isinstance(o, dict)}
            for value in _strs(w.get("values")):
                if value not in options:
                    add(f"{at}.values: {value!r} is not an option of {fname!r}")
        for fname, guard in (spec.required_when if spec else ()):
            if (fname, guard) not in declared:
                add(f"{where}.when: effect {effect!r} needs a rule for {guard!r} on field "
                    f"{fname!r} (which values, and on_fail = \"refuse\" or \"warn\")")

    def check_home_informed_by(where: str, tr: Mapping[str, Any], spec: Any, effect: Any) -> None:
        """``home_informed_by``: an effect that may inform the home, a listed choice field with
        those options, and a listed bool field saying the home was present."""
        rule = tr.get("home_informed_by")
        if not isinstance(rule, dict):
            return
        at = f"{where}.home_informed_by"
        if spec is not None and not spec.may_inform_home:
            add(f"{at}: effect {effect!r} cannot inform the home")
        listed = set(_strs(tr.get("fields")) + _strs(tr.get("optional")))
        fname, present = rule.get("field"), rule.get("present")
        if isinstance(fname, str):
            fdef = field_defs.get(fname)
            if fname not in listed:
                add(f"{at}.field: {fname!r} is not a field of this transition")
            elif not isinstance(fdef, dict) or fdef.get("type") != "choice":
                add(f"{at}.field: {fname!r} is not a choice field")
            else:
                options = {o.get("value") for o in fdef.get("options") or ()
                           if isinstance(o, dict)}
                for value in _strs(rule.get("values")):
                    if value not in options:
                        add(f"{at}.values: {value!r} is not an option of {fname!r}")
        if isinstance(present, str):
            pdef = field_defs.get(present)
            if present not in listed:
                add(f"{at}.present: {present!r} is not a field of this transition")
            elif not isinstance(pdef, dict) or pdef.get("type") != "bool":
                add(f"{at}.present: {present!r} is not a bool field")

    def check_fields(where: str, item: Mapping[str, Any], effect: str | None, reason: bool) -> None:
        listed = _strs(item.get("fields")) + _strs(item.get("optional"))
        for fname in listed:
            if fname == "reason":
                add(f"{where}: 'reason' is set with 'reason = true', not listed as a field")
            elif fname not in field_defs:
                add(f"{where}.fields: unknown field {fname!r}")
        if len(set(listed)) != len(listed):
            add(f"{where}.fields: a field is listed twice")
        spec = vocab.effects.get(effect) if effect else None
        if effect and spec is None:
            add(f"{where}.effect: unknown effect {effect!r}")
            return
        if spec is None:
            return
        required = set(_strs(item.get("fields")))
        for fname in spec.required:
            if fname != "reason" and fname not in required:
                add(f"{where}.fields: effect {effect!r} needs required field {fname!r}")
        allowed = {**spec.optional, **spec.required}
        for fname in listed:
            if fname in field_defs and fname not in allowed:
                add(f"{where}.fields: effect {effect!r} does not take field {fname!r}")
            elif fname in field_defs and isinstance(field_defs[fname], dict):
                declared = field_defs[fname].get("type")
                if declared != allowed[fname]:
                    add(
                        f"{where}.fields: field {fname!r} is {declared!r}, "
                        f"effect {effect!r} needs {allowed[fname]!r}"
                    )
        if "reason" in spec.required and not reason:
            add(f"{where}.reason: effect {effect!r} needs 'reason = true'")

    opening = raw.get("opening")
    if isinstance(opening, dict):
        check_roles("opening", opening.get("roles"))
        check_fields("opening", opening, vocab.opening_effect, False)
        problems.extend(check_titles("opening", opening))

    seen: dict[tuple[str, str], str] = {}
    outgoing: dict[str, int] = dict.fromkeys(states, 0)
    edges: dict[str, set[str]] = {n: set() for n in states}
    for i, tr in _items(raw, "transitions"):
        where = f"transitions[{i}]"
        trigger = tr.get("trigger")
        sources = _strs(tr.get("source"))
        dest = tr.get("dest")
        check_roles(where, tr.get("roles"))
        for guard in _strs(tr.get("guards")):
            if guard not in vocab.guards:
                add(f"{where}.guards: unknown guard {guard!r}")
        effect = tr.get("effect", "none")
        check_fields(where, tr, effect if isinstance(effect, str) else None, bool(tr.get("reason")))
        spec = vocab.effects.get(effect) if isinstance(effect, str) else None
        if spec:
            for guard in spec.required_guards:
                if guard not in _strs(tr.get("guards")):
                    add(f"{where}.guards: effect {effect!r} must be guarded by {guard!r}")
        check_when(where, tr, spec, effect)
        check_home_informed_by(where, tr, spec, effect)
        problems.extend(check_titles(where, tr))
        if dest is None and effect == "none":
            add(f"{where}: a transition without 'dest' must record something ('effect')")
        if isinstance(dest, str) and dest not in states:
            add(f"{where}.dest: unknown state {dest!r}")
        for src in sources:
            if src not in states:
                add(f"{where}.source: unknown state {src!r}")
                continue
            if src in finals:
                add(f"{where}.source: transition out of the final state {src!r}")
            if isinstance(trigger, str):
                key = (trigger, src)
                if key in seen:
                    add(f"{where}: duplicate (trigger, source) ({trigger!r}, {src!r}); "
                        f"see {seen[key]}")
                seen[key] = where
            if isinstance(dest, str) and dest in states and dest != src:
                outgoing[src] += 1
                edges[src].add(dest)
            # a level change must say why, and from nivå 0 it needs a stafettholder
            if isinstance(dest, str) and dest in states:
                src_level = states[src].get("level")
                dest_level = states[dest].get("level")
                if src_level != dest_level:
                    if not tr.get("reason"):
                        add(f"{where}.reason: a level change ({src!r} → {dest!r}) needs a reason")
                    # a malformed level (a list, say) is the shape check's to report
                    src_no = levels.get(src_level, {}).get("number") \
                        if isinstance(src_level, str) else None
                    dst = levels.get(dest_level, {}) if isinstance(dest_level, str) else {}
                    if (
                        src_no == 0
                        and isinstance(dst.get("number"), int)
                        and dst["number"] >= 1
                        and not dst.get("final")
                        and "has_stafettholder" not in _strs(tr.get("guards"))
                    ):
                        add(
                            f"{where}.guards: entering nivå {dst['number']} needs "
                            "'has_stafettholder'"
                        )

    standing_effects: set[str] = set()
    for i, ex in _items(raw, "standing_exits"):
        where = f"standing_exits[{i}]"
        trigger = ex.get("trigger")
        check_roles(where, ex.get("roles"))
        missing = vocab.standing_roles - set(_strs(ex.get("roles")))
        if missing:
            add(f"{where}.roles: a standing exit must be open to {sorted(missing)}")
        if _strs(ex.get("guards")):
            add(f"{where}.guards: a standing exit is never gated; remove its guards")
        effect = ex.get("effect")
        if isinstance(effect, str):
            standing_effects.add(effect)
        check_fields(where, ex, effect if isinstance(effect, str) else None, bool(ex.get("reason")))
        problems.extend(check_titles(where, ex))
        if isinstance(trigger, str):
            for src in states:
                if src in finals:
                    continue
                key = (trigger, src)
                if key in seen:
                    add(f"{where}: duplicate (trigger, source) ({trigger!r}, {src!r}); "
                        f"see {seen[key]}")
                seen.setdefault(key, where)
    for effect in sorted(vocab.standing_effects - standing_effects):
        add(f"standing_exits: missing standing exit with effect {effect!r}")

    for name in states:
        if name not in finals and outgoing.get(name, 0) == 0:
            add(f"states.{name}: a non-final state with no way out")
    if isinstance(initial, str) and initial in states:
        reached = _reachable(initial, edges)
        for name in states:
            if name not in reached:
                add(f"states.{name}: unreachable from the initial state {initial!r}")

    triggers = {t.get("trigger") for _, t in _items(raw, "transitions")}
    triggers |= {x.get("trigger") for _, x in _items(raw, "standing_exits")}
    guidance = raw.get("guidance")
    for gid, panel in (guidance.items() if isinstance(guidance, dict) else ()):
        if not isinstance(panel, dict):
            continue
        for trigger in _strs(panel.get("on")):
            if trigger not in triggers:
                add(f"guidance.{gid}.on: unknown transition {trigger!r}")
        for part in ("title", "text"):
            labels = panel.get(part)
            for lang, text in (labels.items() if isinstance(labels, dict) else ()):
                if not isinstance(text, str):
                    continue
                names = placeholders(text)
                if names is None:
                    add(f"guidance.{gid}.{part}.{lang}: not a valid text (a placeholder is "
                        "'{youth_consent_age}', a brace is written '{{' or '}}')")
                    continue
                for name in dict.fromkeys(names):
                    if name not in GUIDANCE_PLACEHOLDERS:
                        add(f"guidance.{gid}.{part}.{lang}: unknown placeholder {{{name}}} "
                            f"(known: {', '.join(GUIDANCE_PLACEHOLDERS)})")

    deadlines = raw.get("deadlines")
    if isinstance(deadlines, dict) and isinstance(deadlines.get("level_decision_days"), dict):
        for lid in deadlines["level_decision_days"]:
            if lid not in levels:
                add(f"deadlines.level_decision_days.{lid}: unknown level {lid!r}")

    sharing = raw.get("family_sharing")
    if isinstance(sharing, dict) and sharing and vocab.log_kinds:
        for kind in sharing:
            if kind not in vocab.log_kinds:
                add(f"family_sharing.{kind}: unknown stafettlogg entry kind {kind!r}")
        unset = sorted(vocab.log_kinds - set(sharing))
        if unset:
            add(f"family_sharing: no default for the entry kinds {', '.join(unset)} "
                "(each kind is \"shared\" or \"internal\")")
    return problems


def _reachable(start: str, edges: Mapping[str, Iterable[str]]) -> set[str]:
    seen = {start}
    queue = deque([start])
    while queue:
        for nxt in edges.get(queue.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


__all__ = ["WorkflowSchema", "check_graph", "flatten_messages", "load_shape"]
