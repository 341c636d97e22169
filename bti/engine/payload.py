"""Payload schemas built from a workflow's form fields (marshmallow 4).

Field errors are *codes* (``required``, ``invalid``, ``too_long``, ``not_allowed``, ``unknown``,
``empty_list``), never English sentences, so the UI and the API can show them in nb, nn or en.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate

from bti.engine.definition import FieldDef
from bti.engine.inputs import ANY_TEXT_PATTERN
from bti.engine.inputs import MAX_INT
from bti.engine.inputs import NONBLANK_TEXT_PATTERN
from bti.engine.inputs import IsoDate
from bti.engine.inputs import StrictBoolean
from bti.engine.inputs import WholeNumber
from bti.engine.inputs import check_text

MAX_LENGTH = {"text": 200, "textarea": 10_000}
ID_TYPES = ("int", "user", "unit", "measure", "consent", "handover", "report", "catalogue")
LIST_TYPES = ("units", "measures")

_ERRORS = {"required": "required", "null": "required", "invalid": "invalid", "type": "invalid"}

FIELD_ERROR_MESSAGES: dict[str, dict[str, str]] = {
    "required": {"nb": "Feltet må fylles ut.", "nn": "Feltet må fyllast ut.",
                 "en": "This field is required."},
    "invalid": {"nb": "Ugyldig verdi.", "nn": "Ugyldig verdi.", "en": "Invalid value."},
    "too_long": {"nb": "Teksten er for lang.", "nn": "Teksten er for lang.",
                 "en": "The text is too long."},
    "not_allowed": {"nb": "Verdien er ikke et av valgene.", "nn": "Verdien er ikkje eit av vala.",
                    "en": "The value is not one of the choices."},
    "unknown": {"nb": "Ukjent felt.", "nn": "Ukjent felt.", "en": "Unknown field."},
    "empty_list": {"nb": "Velg minst ett.", "nn": "Vel minst eitt.", "en": "Choose at least one."},
    "contains_id_number": {
        "nb": "Ikke skriv fødselsnummer eller D-nummer her. Bruk et pseudonym eller initialer.",
        "nn": "Ikkje skriv fødselsnummer eller D-nummer her. Bruk eit pseudonym eller initialar.",
        "en": "Do not write a national identity number here. Use a pseudonym or initials."},
    "nul": {"nb": "Teksten inneholder ugyldige tegn.", "nn": "Teksten inneheld ugyldige teikn.",
            "en": "The text contains invalid characters."},
}


class CleanText(fields.String):
    """Trimmed text (``bti.engine.inputs.check_text``): at most ``max_length`` characters as
    sent, no NUL (PostgreSQL cannot store it); blank text counts as absent. The document's
    ``maxLength`` and ``pattern`` say the same."""

    def __init__(self, max_length: int, **kwargs: Any) -> None:
        pattern = NONBLANK_TEXT_PATTERN if kwargs.get("required") else ANY_TEXT_PATTERN
        super().__init__(metadata={"maxLength": max_length, "pattern": pattern}, **kwargs)
        self.max_length = max_length

    # Blank text loads as None (absent); marshmallow types String as Field[str], and the class
    # stays a String so that the API document says "string".
    def _deserialize(  # type: ignore[override]
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str | None:
        text = super()._deserialize(value, attr, data, **kwargs)
        error = check_text(text, max_length=self.max_length, required=self.required)
        if error:
            raise ValidationError(error)
        return text.strip() or None


def make_field(fdef: FieldDef, required: bool) -> fields.Field[Any]:
    opts: dict[str, Any] = {"required": required, "error_messages": dict(_ERRORS)}
    if not required:
        opts.update(load_default=None, allow_none=True)
    kind = fdef.type
    if kind in MAX_LENGTH:
        return CleanText(MAX_LENGTH[kind], **opts)
    if kind == "date":
        return IsoDate(**opts)
    if kind == "bool":
        return StrictBoolean(**opts)
    if kind in ID_TYPES:
        return WholeNumber(validate=validate.Range(min=1, max=MAX_INT, error="invalid"), **opts)
    if kind in LIST_TYPES:
        return fields.List(
            WholeNumber(validate=validate.Range(min=1, max=MAX_INT, error="invalid"),
                        error_messages=dict(_ERRORS)),
            validate=validate.Length(min=1, error="empty_list"),
            **opts,
        )
    if kind == "choice":
        return fields.String(
            validate=validate.OneOf([o.value for o in fdef.options], error="not_allowed"), **opts
        )
    raise ValueError(f"unsupported field type {kind!r}")  # the schema check prevents this


REASON_FIELD = FieldDef(name="reason", type="textarea", label={})


def build_payload_schema(
    field_defs: Mapping[str, FieldDef],
    required: tuple[str, ...],
    optional: tuple[str, ...],
    reason: bool,
) -> Schema:
    declared: dict[str, fields.Field[Any]] = {}
    for name in required:
        declared[name] = make_field(field_defs[name], True)
    for name in optional:
        declared[name] = make_field(field_defs[name], False)
    if reason:
        declared["reason"] = make_field(REASON_FIELD, True)
    schema_cls = Schema.from_dict(declared, name="Payload")
    return schema_cls()


def load_payload(schema: Schema, payload: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validated payload, or ``ValidationError`` whose ``messages`` hold error codes."""
    if payload is None:
        payload = {}
    if not isinstance(payload, Mapping):
        raise ValidationError({"_schema": ["invalid"]})
    try:
        loaded: dict[str, Any] = schema.load(dict(payload))
        return loaded
    except ValidationError as err:
        raise ValidationError(_codes(err.messages)) from None


def _codes(messages: Any) -> Any:
    if isinstance(messages, dict):
        return {k: _codes(v) for k, v in messages.items()}
    if isinstance(messages, list):
        return [_codes(m) for m in messages]
    if messages == "Unknown field.":
        return "unknown"
    if isinstance(messages, str) and messages not in FIELD_ERROR_MESSAGES:
        return "invalid"
    return messages
