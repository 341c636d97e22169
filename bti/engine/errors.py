"""Errors raised by the workflow engine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any


class DefinitionError(Exception):
    """A workflow file is invalid. ``problems`` holds every problem as ``FILE: where: what``."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Refusal:
    """Why an action is not allowed, as data the UI and the API can render in nb, nn or en.

    ``code`` is one of ``REFUSAL_CODES``; ``guard`` names the failing guard (for ``code == "guard"``
    and ``"reason_required"``); ``fields`` holds field-level payload errors (``"invalid_payload"``).
    ``detail`` says exactly what the guard misses (a key the domain has a message for, such as
    ``own_unit_only``) and ``params`` what the message names (``{"unit": "PPT"}``): the facts
    supply both, the message is rendered from them in the reader's language.
    """

    code: str
    guard: str | None = None
    fields: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    detail: str | None = None
    params: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code}
        if self.guard:
            out["guard"] = self.guard
        if self.fields:
            out["fields"] = self.fields
        if self.detail:
            out["detail"] = self.detail
        if self.params:
            out["params"] = self.params
        return out


REFUSAL_CODES = (
    "unknown_trigger",
    "final_state",
    "not_available_in_state",
    "role",
    "guard",
    "reason_required",
    "invalid_payload",
)


class TransitionRefused(Exception):
    """A trigger was refused; nothing happened. ``refusals`` says every reason found."""

    def __init__(self, state: str, trigger: str, refusals: Sequence[Refusal]) -> None:
        self.state = state
        self.trigger = trigger
        self.refusals = tuple(refusals)
        codes = ", ".join(r.guard or r.code for r in self.refusals)
        super().__init__(f"{trigger!r} refused in state {state!r}: {codes}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "trigger": self.trigger,
            "refusals": [r.as_dict() for r in self.refusals],
        }
