"""Languages and the engine's own refusal messages (nb, nn, en)."""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from datetime import date
from typing import Any

from bti.engine.errors import Refusal

LANGS = ("nb", "nn", "en")
DEFAULT_LANG = "nb"

Labels = Mapping[str, str]

REFUSAL_MESSAGES: dict[str, dict[str, str]] = {
    "unknown_trigger": {
        "nb": "Handlingen finnes ikke i denne arbeidsflyten.",
        "nn": "Handlinga finst ikkje i denne arbeidsflyten.",
        "en": "This action does not exist in this workflow.",
    },
    "final_state": {
        "nb": "Saken er avsluttet, og ingen handlinger er mulige.",
        "nn": "Saka er avslutta, og ingen handlingar er moglege.",
        "en": "The case is closed; no actions are possible.",
    },
    "not_available_in_state": {
        "nb": "Handlingen er ikke mulig i sakens nåværende fase.",
        "nn": "Handlinga er ikkje mogleg i den noverande fasen i saka.",
        "en": "This action is not possible in the case's current phase.",
    },
    "role": {
        "nb": "Din rolle i saken gir ikke tilgang til denne handlingen.",
        "nn": "Rolla di i saka gir ikkje tilgang til denne handlinga.",
        "en": "Your role on this case does not allow this action.",
    },
    "guard": {
        "nb": "Et vilkår for handlingen er ikke oppfylt.",
        "nn": "Eit vilkår for handlinga er ikkje oppfylt.",
        "en": "A condition for this action is not met.",
    },
    "reason_required": {
        "nb": "Handlingen krever en begrunnelse.",
        "nn": "Handlinga krev ei grunngjeving.",
        "en": "This action requires a reason.",
    },
    "invalid_payload": {
        "nb": "Skjemaet har feil eller manglende felt.",
        "nn": "Skjemaet har feil eller manglande felt.",
        "en": "The form has invalid or missing fields.",
    },
}


def pick(labels: Labels, lang: str) -> str:
    """The label in ``lang``, falling back to bokmål (every shipped label has all three)."""
    return labels.get(lang) or labels[DEFAULT_LANG]


#: The word that joins the last two names of a list ("PPT og Helsestasjonen").
_AND = {"nb": "og", "nn": "og", "en": "and"}


def join_names(names: Sequence[str], lang: str) -> str:
    names = list(names)
    if len(names) < 2:
        return "".join(names)
    return f"{', '.join(names[:-1])} {_AND.get(lang, _AND[DEFAULT_LANG])} {names[-1]}"


def _param(value: Any, lang: str) -> str:
    if isinstance(value, list | tuple):
        return join_names([str(v) for v in value], lang)
    if isinstance(value, str):
        try:  # a date travels as ISO text; users read it as the app writes dates
            return date.fromisoformat(value).strftime("%d.%m.%Y") if len(value) == 10 \
                else value
        except ValueError:
            return value
    return str(value)


class _Params(dict[str, str]):
    """A missing parameter renders empty rather than failing the page."""

    def __missing__(self, key: str) -> str:
        return ""


def fill_title(template: Labels, lang: str, values: Mapping[str, Any]) -> str:
    """A stafettlogg entry title or a save message (a transition's ``title`` / ``saved``) in
    ``lang``, its ``{field}`` placeholders filled from ``values`` (words already: names, option
    labels; a list joins, an ISO date reads as the app writes dates); a missing one is empty."""
    return pick(template, lang).format_map(
        _Params({k: _param(v, lang) for k, v in values.items() if v is not None}))


def refusal_message(
    refusal: Refusal, lang: str, guard_messages: Mapping[str, Labels] | None = None,
    detail_messages: Mapping[str, Mapping[str, Labels]] | None = None,
) -> str:
    """A sentence for the user. Guard refusals use the domain's explanation of the guard, or,
    when the refusal names what exactly is missing (``detail``), that message with its
    ``params`` filled in."""
    if refusal.guard and refusal.detail and detail_messages:
        template = detail_messages.get(refusal.guard, {}).get(refusal.detail)
        if template is not None:
            return pick(template, lang).format_map(
                _Params({k: _param(v, lang) for k, v in refusal.params.items()}))
    if refusal.guard and guard_messages and refusal.guard in guard_messages:
        return pick(guard_messages[refusal.guard], lang)
    return pick(REFUSAL_MESSAGES[refusal.code], lang)
