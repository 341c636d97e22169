"""The one set of rules for values from outside (bti.engine.inputs), and the proof that the
JSON Schema patterns the API document carries say exactly what the code accepts: each pattern is
read by a second, non-Python regex engine (jsonschema_rs, Rust) and compared with the Python
check on generated text full of the characters that differ between dialects (issue 11)."""

from __future__ import annotations

import re
from datetime import date

import jsonschema_rs
import pytest
from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import validate

from bti.engine.definition import FieldDef
from bti.engine.inputs import ANY_TEXT_PATTERN
from bti.engine.inputs import DIGITS_REGEX
from bti.engine.inputs import MAX_INT
from bti.engine.inputs import NONBLANK_TEXT_PATTERN
from bti.engine.inputs import TRIMMED_TEXT_PATTERN
from bti.engine.inputs import WHITESPACE
from bti.engine.inputs import IsoDate
from bti.engine.inputs import QueryWholeNumber
from bti.engine.inputs import StrictBoolean
from bti.engine.inputs import WholeNumber
from bti.engine.inputs import char_class
from bti.engine.inputs import chars_where
from bti.engine.inputs import check_text
from bti.engine.inputs import json_int
from bti.engine.inputs import parse_date
from bti.engine.inputs import parse_int
from bti.engine.payload import make_field

#: Characters the dialects (and ``str.isdigit``/``int``/``str.strip``) disagree about.
TRICKY = ("0", "9", "²", "١", "٣", "𝟎", "①", "½", " ", "\t", "\n", "\x0b", "\x1c", "\x85",
          "\xa0", "\u2003", "\u3000", "\ufeff", "\u200b", "\x00", "a", "Ø", "_", "+", "-", ".",
          "e", "x", "\U0001f600")
tricky_text = st.text(st.sampled_from(TRICKY) | st.characters(codec="utf-8"), max_size=24)

NOT_NUMBERS = ["", " 1", "1 ", "+1", "-1", "1_0", "1e3", "0x1f", "1.0", "²", "١٢", "𝟏", "①",
               "12\n", "9" * 11, "9" * 5000]


@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_only_ascii_digits_are_a_whole_number(text):
    assert parse_int(text) is None


def test_a_whole_number_is_in_its_range():
    assert parse_int("0") == 0
    assert parse_int("0042") == 42
    assert parse_int(str(MAX_INT)) == MAX_INT
    assert parse_int(str(MAX_INT + 1)) is None
    assert parse_int("0", minimum=1) is None
    assert parse_int("1000", maximum=999) is None
    assert parse_int(12) is None  # text only
    assert re.fullmatch(DIGITS_REGEX, "9" * 10)
    assert not re.fullmatch(DIGITS_REGEX, "9" * 11)


@given(st.text(max_size=12))
@example("²")
@example("١٢")
def test_parse_int_never_raises_and_agrees_with_int_on_ascii(text):
    value = parse_int(text)
    if value is not None:
        assert text.isascii()
        assert int(text) == value


def test_json_integers_are_what_json_schema_calls_integers():
    assert [json_int(v) for v in (3, 3.0, 0.0, -0.0, 1e3)] == [3, 3, 0, 0, 1000]
    assert [json_int(v) for v in (True, False, "3", 1.5, None, [3])] == [None] * 6
    field = WholeNumber(validate=validate.Range(min=0, max=MAX_INT))
    assert field.deserialize(0.0) == 0
    for bad in ("1", True, 2.5, "١"):
        with pytest.raises(ValidationError):
            field.deserialize(bad)
    with pytest.raises(ValidationError):
        field.deserialize(MAX_INT + 1.0)


def test_query_numbers_booleans_and_dates_are_strict():
    query = QueryWholeNumber()
    assert query.deserialize("12") == 12
    for bad in ("١٢", "+1", " 1", "1.0", "9" * 5000):
        with pytest.raises(ValidationError):
            query.deserialize(bad)
    boolean = StrictBoolean()
    assert boolean.deserialize(True) is True
    for bad in ("true", 1, "yes", 0.0):
        with pytest.raises(ValidationError):
            boolean.deserialize(bad)
    day = IsoDate()
    assert day.deserialize("2026-03-02") == date(2026, 3, 2)
    for bad in ("20260302", "2026-W10-1", "2026-3-2", "٢٠٢٦-٠٣-٠٢", "2026-02-30", 20260302):
        with pytest.raises(ValidationError):
            day.deserialize(bad)
        assert parse_date(bad) is None


def test_whitespace_is_what_str_strip_removes():
    assert chars_where(str.isspace) == WHITESPACE
    assert "".join(WHITESPACE).strip() == ""


def test_char_class_escapes_and_reads_alike_in_python_and_rust():
    cls = char_class("]^-\\ab\x00\U0001f600")
    schema = jsonschema_rs.validator_for({"type": "string", "pattern": f"^{cls}+$"})
    for text in ("]", "^", "-", "\\", "ab", "\x00", "\U0001f600", "c", "[", " "):
        assert bool(re.fullmatch(cls + "+", text)) == schema.is_valid(text), repr(text)


def _valid(pattern: str, text: str, **schema) -> bool:
    return jsonschema_rs.validator_for({"type": "string", "pattern": pattern, **schema}
                                       ).is_valid(text)


@settings(max_examples=400, database=None, deadline=None)
@given(tricky_text)
@example("KN\n")
@example(" \n")
def test_the_text_patterns_say_what_check_text_accepts(text):
    required_ok = check_text(text, max_length=20, required=True) is None
    optional_ok = check_text(text, max_length=20, required=False) is None
    assert _valid(NONBLANK_TEXT_PATTERN, text, maxLength=20) == required_ok
    assert _valid(ANY_TEXT_PATTERN, text, maxLength=20) == optional_ok
    trimmed = bool(text) and "\x00" not in text and text == text.strip()
    assert _valid(TRIMMED_TEXT_PATTERN, text) == trimmed
    for pattern in (NONBLANK_TEXT_PATTERN, ANY_TEXT_PATTERN, TRIMMED_TEXT_PATTERN):
        # Python's re (which schemathesis generates from) reads it as Rust's regex does
        assert bool(re.search(pattern, text)) == _valid(pattern, text)


@pytest.mark.parametrize("kind", ["text", "textarea"])
def test_a_payload_text_field_documents_its_own_rule(kind):
    """The field's metadata (what apispec writes into the document) is its check."""
    for required in (True, False):
        field = make_field(FieldDef(name="x", type=kind, label={}), required)
        limit = field.metadata["maxLength"]
        schema = Schema.from_dict({"x": field})()
        for text in ("", " ", "\u3000", "ok", " ok ", "a\x00", "a" * limit, "a" * (limit + 1),
                     " " + "a" * (limit - 1)):
            try:
                schema.load({"x": text})
                accepted = True
            except ValidationError:
                accepted = False
            assert _valid(field.metadata["pattern"], text, maxLength=limit) == accepted, \
                (kind, required, text[:10], len(text))
