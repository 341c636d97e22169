"""Firing triggers and listing actions. The only module that imports ``transitions``.

One ``transitions.Machine`` is built per workflow definition, once, with ``model=None`` and
``auto_transitions=False``. A call fires ``machine.events[trigger].trigger(token)`` on a throwaway
token that holds only the state name, so nothing is attached to our entities and no machine is
built per call (architecture, "transitions: known pitfalls"). The machine enforces roles and guards
as conditions; before firing, the engine evaluates the same rules itself so that a refusal comes
back as data: which rule, and why.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set
from dataclasses import dataclass
from functools import partial
from typing import Any

from marshmallow import ValidationError
from transitions import Machine
from transitions import MachineError

from bti.engine.definition import TransitionDef
from bti.engine.definition import WhenDef
from bti.engine.definition import WorkflowDefinition
from bti.engine.errors import Refusal
from bti.engine.errors import TransitionRefused
from bti.engine.payload import build_payload_schema
from bti.engine.payload import load_payload


@dataclass(frozen=True)
class Step:
    """The outcome of a successful fire: what moved where, with the validated payload."""

    trigger: str
    source: str
    dest: str
    transition: TransitionDef
    payload: Mapping[str, Any]
    #: ``when`` rules with ``on_fail = "warn"`` that failed: recorded, and the user is told.
    warnings: tuple[Refusal, ...] = ()

    @property
    def internal(self) -> bool:
        return self.transition.internal


@dataclass(frozen=True)
class Caution:
    """A ``when`` rule whose guard fails now: choosing one of its values will be refused or
    warned about (shown with the form before anything is sent)."""

    when: WhenDef
    refusal: Refusal


@dataclass(frozen=True)
class Action:
    """An action on the case's current state, with the reasons it is refused (none: allowed)."""

    transition: TransitionDef
    refusals: tuple[Refusal, ...]
    cautions: tuple[Caution, ...] = ()

    @property
    def allowed(self) -> bool:
        return not self.refusals

    @property
    def guard_checks(self) -> tuple[tuple[str, Refusal | None], ...]:
        """Each of the transition's guards in file order, with its refusal (None: met): the
        checklist of the action, from the same evaluation as ``refusals``."""
        failing = {r.guard: r for r in self.refusals if r.code == "guard"}
        return tuple((g, failing.get(g)) for g in self.transition.guards)


class _Token:
    """Throwaway model: transitions reads and writes ``state`` on it and nothing else."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


def _roles_allow(allowed: frozenset[str], event: Any) -> bool:
    return not allowed.isdisjoint(event.kwargs["roles"])


def _guard_holds(guard: str, event: Any) -> bool:
    return bool(event.kwargs["facts"][guard])


class Workflow:
    """A loaded workflow definition with its state machine, built once."""

    def __init__(self, definition: WorkflowDefinition) -> None:
        self.definition = definition
        self._by_source: dict[tuple[str, str], TransitionDef] = {}
        self._from_state: dict[str, list[TransitionDef]] = {s.name: [] for s in definition.states}
        for t in definition.transitions:
            for src in t.sources:
                self._by_source[(t.trigger, src)] = t
                self._from_state[src].append(t)
        self._triggers = frozenset(t.trigger for t in definition.transitions)
        self._schemas = {
            id(t): build_payload_schema(definition.fields, t.fields, t.optional, t.reason)
            for t in definition.transitions
        }
        o = definition.opening
        self._opening_schema = build_payload_schema(definition.fields, o.fields, o.optional, False)
        self._machine = Machine(
            model=None,
            states=[s.name for s in definition.states],
            transitions=[
                {
                    "trigger": t.trigger,
                    "source": list(t.sources),
                    "dest": t.dest,
                    "conditions": [partial(_roles_allow, t.roles)]
                    + [partial(_guard_holds, g) for g in t.guards],
                }
                for t in definition.transitions
            ],
            initial=definition.initial,
            auto_transitions=False,
            send_event=True,
        )

    @property
    def id(self) -> str:
        return self.definition.id

    def transition(self, trigger: str, state: str) -> TransitionDef | None:
        return self._by_source.get((trigger, state))

    def actions(self, state: str, *, roles: Set[str], facts: Mapping[str, bool]) -> list[Action]:
        """Every action on ``state``, in file order, each with its refusals (empty: allowed)."""
        return [Action(t, self._rule_refusals(t, roles, facts), _cautions(t, facts))
                for t in self._from_state[state]]

    def available(
        self, state: str, *, roles: Set[str], facts: Mapping[str, bool]
    ) -> list[TransitionDef]:
        return [a.transition for a in self.actions(state, roles=roles, facts=facts) if a.allowed]

    def check(
        self,
        state: str,
        trigger: str,
        *,
        roles: Set[str],
        facts: Mapping[str, bool],
        payload: Mapping[str, Any] | None = None,
    ) -> tuple[TransitionDef, dict[str, Any]]:
        """Validate without firing: the transition and the loaded payload, or
        ``TransitionRefused``."""
        t, loaded, _ = self._check(state, trigger, roles=roles, facts=facts, payload=payload)
        return t, loaded

    def _check(
        self,
        state: str,
        trigger: str,
        *,
        roles: Set[str],
        facts: Mapping[str, bool],
        payload: Mapping[str, Any] | None,
    ) -> tuple[TransitionDef, dict[str, Any], tuple[Refusal, ...]]:
        """``check``, and the warnings of the ``when`` rules the payload meets."""
        if trigger not in self._triggers:
            raise TransitionRefused(state, trigger, [Refusal("unknown_trigger")])
        if self.definition.state(state).final:
            raise TransitionRefused(state, trigger, [Refusal("final_state")])
        t = self._by_source.get((trigger, state))
        if t is None:
            raise TransitionRefused(state, trigger, [Refusal("not_available_in_state")])
        refusals = list(self._rule_refusals(t, roles, facts))
        loaded: dict[str, Any] = {}
        try:
            loaded = load_payload(self._schemas[id(t)], payload)
        except ValidationError as err:
            messages = err.messages if isinstance(err.messages, dict) else {"_schema": err.messages}
            if t.reason and "reason" in messages and messages["reason"] == ["required"]:
                refusals.append(Refusal("reason_required", guard="reason_given"))
                messages = {k: v for k, v in messages.items() if k != "reason"}
            if messages:
                refusals.append(Refusal("invalid_payload", fields=messages))
        warnings: list[Refusal] = []
        for w in t.when:
            if loaded.get(w.field) in w.values and not facts[w.guard]:
                found = guard_refusal(w.guard, facts)
                (refusals if w.on_fail == "refuse" else warnings).append(found)
        if refusals:
            raise TransitionRefused(state, trigger, refusals)
        return t, loaded, tuple(warnings)

    def fire(
        self,
        state: str,
        trigger: str,
        *,
        roles: Set[str],
        facts: Mapping[str, bool],
        payload: Mapping[str, Any] | None = None,
    ) -> Step:
        """Fire ``trigger`` from ``state`` for an actor holding ``roles``. Returns the ``Step``;
        raises ``TransitionRefused`` (nothing happened) with every reason found."""
        t, loaded, warnings = self._check(state, trigger, roles=roles, facts=facts,
                                          payload=payload)
        token = _Token(state)
        try:
            moved = self._machine.events[trigger].trigger(token, roles=roles, facts=facts)
        except MachineError:  # pragma: no cover - check() has already ruled this out
            raise TransitionRefused(state, trigger, [Refusal("not_available_in_state")]) from None
        if not moved:  # pragma: no cover - the conditions mirror _rule_refusals
            raise TransitionRefused(state, trigger, [Refusal("guard")])
        return Step(trigger, state, token.state, t, loaded, warnings)

    def load_opening(self, payload: Mapping[str, Any] | None) -> dict[str, Any]:
        """The validated concern form; ``TransitionRefused`` with field codes when invalid."""
        try:
            return load_payload(self._opening_schema, payload)
        except ValidationError as err:
            messages = err.messages if isinstance(err.messages, dict) else {"_schema": err.messages}
            raise TransitionRefused(
                self.definition.initial, "open", [Refusal("invalid_payload", fields=messages)]
            ) from None

    @staticmethod
    def _rule_refusals(
        t: TransitionDef, roles: Set[str], facts: Mapping[str, bool]
    ) -> tuple[Refusal, ...]:
        out: list[Refusal] = []
        if t.roles.isdisjoint(roles):
            out.append(Refusal("role"))
        out.extend(guard_refusal(g, facts) for g in t.guards if not facts[g])
        return tuple(out)


def _cautions(t: TransitionDef, facts: Mapping[str, bool]) -> tuple[Caution, ...]:
    return tuple(Caution(w, guard_refusal(w.guard, facts)) for w in t.when if not facts[w.guard])


def guard_refusal(guard: str, facts: Mapping[str, bool]) -> Refusal:
    """The refusal of a failing guard. Facts that can say exactly what is missing offer
    ``explain(guard) -> (detail, params) | None``; the refusal carries both as data."""
    explain = getattr(facts, "explain", None)
    found = explain(guard) if explain is not None else None
    if found is None:
        return Refusal("guard", guard=guard)
    detail, params = found
    return Refusal("guard", guard=guard, detail=detail, params=dict(params))
