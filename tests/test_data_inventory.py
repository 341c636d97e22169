"""PRIV-03: docs/data-inventory.toml classifies every column of every table, and docs/privacy.md
(the records of processing) is generated from it.

Run ``python -m tests.test_data_inventory`` to regenerate the generated part of docs/privacy.md.
"""

from __future__ import annotations

import sys
import tomllib
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import Text

from bti.domain.models import Base

ROOT = Path(__file__).resolve().parent.parent
INVENTORY = ROOT / "docs" / "data-inventory.toml"
PRIVACY = ROOT / "docs" / "privacy.md"
BEGIN = "<!-- BEGIN GENERATED from docs/data-inventory.toml -->"
END = "<!-- END GENERATED -->"

REQUIRED = ("category", "special_category", "purpose", "legal_basis", "retention", "protection")
CATEGORIES = frozenset({
    "identifier", "child_identity", "case_content", "special_category_health", "consent",
    "workflow_state", "staff_identity", "staff_reference", "security", "audit", "org",
    "configuration",
})
#: Categories whose columns are never special category data, and those that always are.
NEVER_SPECIAL = frozenset({"identifier", "org", "configuration", "security", "staff_identity",
                           "staff_reference", "workflow_state"})
ALWAYS_SPECIAL = frozenset({"special_category_health"})


def load() -> dict:
    with INVENTORY.open("rb") as f:
        return tomllib.load(f)


def schema_columns() -> dict[str, object]:
    return {f"{t.name}.{c.name}": c for t in Base.metadata.sorted_tables for c in t.columns}


def test_every_column_is_classified_and_every_entry_exists():
    inventory = set(load()["columns"])
    columns = set(schema_columns())
    missing = sorted(columns - inventory)
    stale = sorted(inventory - columns)
    problems = [f"not in docs/data-inventory.toml: {c}" for c in missing]
    problems += [f"in docs/data-inventory.toml but not in the schema: {c}" for c in stale]
    assert not problems, "\n".join(problems)


def test_every_entry_is_complete_and_valid():
    data = load()
    assert set(data["categories"]) == CATEGORIES, "[categories] must describe the allowed set"
    problems = []
    for key, entry in sorted(data["columns"].items()):
        missing = [k for k in REQUIRED if k not in entry]
        if missing:
            problems.append(f"{key}: missing {', '.join(missing)}")
            continue
        unknown = sorted(set(entry) - set(REQUIRED))
        if unknown:
            problems.append(f"{key}: unknown keys {', '.join(unknown)}")
        if entry["category"] not in CATEGORIES:
            problems.append(f"{key}: category {entry['category']!r} is not one of "
                            f"{sorted(CATEGORIES)}")
        if not isinstance(entry["special_category"], bool):
            problems.append(f"{key}: special_category must be true or false")
        for text_key in ("purpose", "protection"):
            if not isinstance(entry[text_key], str) or len(entry[text_key].strip()) < 5:
                problems.append(f"{key}: {text_key} must say something")
        if entry["legal_basis"] not in data["legal_basis"]:
            problems.append(f"{key}: legal_basis {entry['legal_basis']!r} is not in [legal_basis]")
        if entry["retention"] not in data["retention"]:
            problems.append(f"{key}: retention {entry['retention']!r} is not in [retention]")
        if entry["category"] in NEVER_SPECIAL and entry["special_category"]:
            problems.append(f"{key}: a {entry['category']} column cannot be special category")
        if entry["category"] in ALWAYS_SPECIAL and not entry["special_category"]:
            problems.append(f"{key}: a {entry['category']} column must be special category")
    assert not problems, "\n".join(problems)


def test_free_text_about_a_child_is_special_category():
    """A Text column on a table that belongs to a case can hold anything about the child."""
    entries = load()["columns"]
    wrong = [key for key, col in schema_columns().items()
             if isinstance(col.type, Text) and "case_id" in col.table.c
             and col.table.name != "audit_event" and key not in ("notification.details",)
             and not entries.get(key, {}).get("special_category")]
    assert not wrong, f"free text on case tables must be special_category = true: {wrong}"


def test_secrets_and_personal_columns_are_not_marked_as_non_personal():
    entries = load()["columns"]
    for key in ("user_account.password_hash", "user_account.totp_secret",
                "user_session.token_hash"):
        assert entries[key]["category"] == "security", key
    assert entries["case_record.child_pseudonym"]["category"] == "child_identity"
    not_personal = [k for k, e in entries.items() if e["legal_basis"] == "not_personal"]
    assert all(entries[k]["category"] in {"org", "configuration"} for k in not_personal)


# --- records of processing (docs/privacy.md) -------------------------------------------------


def render_records(data: dict) -> str:
    """The generated part of docs/privacy.md: categories, purposes, bases and retention."""
    columns = data["columns"]
    by_category: dict[str, list[str]] = defaultdict(list)
    by_table: dict[str, list[str]] = defaultdict(list)
    for key, entry in columns.items():
        by_category[entry["category"]].append(key)
        by_table[key.split(".")[0]].append(key)
    lines = [BEGIN, "", "### Categories of data", "",
             "| Category | What it is | Columns | Special category (art. 9) |",
             "|---|---|---:|---:|"]
    for cat in sorted(by_category, key=lambda c: list(data["categories"]).index(c)):
        keys = by_category[cat]
        special = sum(1 for k in keys if columns[k]["special_category"])
        lines.append(f"| {cat} | {data['categories'][cat]} | {len(keys)} | {special} |")
    lines += ["", f"{len(columns)} columns in {len(by_table)} tables; "
              f"{sum(1 for e in columns.values() if e['special_category'])} are special category "
              "data or treated as such.", "", "### Legal bases", ""]
    for key, text in data["legal_basis"].items():
        used = sorted({k.split('.')[0] for k, e in columns.items() if e["legal_basis"] == key})
        lines.append(f"- **{key}**: {text}. Tables: {', '.join(used) or '—'}.")
    lines += ["", "### Retention", ""]
    for key, text in data["retention"].items():
        used = sorted({k.split('.')[0] for k, e in columns.items() if e["retention"] == key})
        lines.append(f"- **{key}**: {text}. Tables: {', '.join(used) or '—'}.")
    lines += ["", "### Tables", "",
              "| Table | Legal bases | Categories | Special category columns |",
              "|---|---|---|---|"]
    for table in sorted(by_table):
        keys = by_table[table]
        cats = sorted({columns[k]["category"] for k in keys})
        special = [k.split(".")[1] for k in keys if columns[k]["special_category"]]
        bases = sorted({columns[k]["legal_basis"] for k in keys})
        lines.append(f"| {table} | {', '.join(bases)} | {', '.join(cats)} | "
                     f"{', '.join(special) or '—'} |")
    lines += ["", END]
    return "\n".join(lines)


def _generated_part(text: str) -> str:
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[start:end]


def test_privacy_md_is_generated_from_the_inventory():
    text = PRIVACY.read_text(encoding="utf-8")
    assert BEGIN in text, "docs/privacy.md lacks the generated section's start marker"
    assert END in text, "docs/privacy.md lacks the generated section's end marker"
    expected = render_records(load())
    if _generated_part(text) != expected:
        pytest.fail("docs/privacy.md is out of date: run `python -m tests.test_data_inventory`")


def regenerate() -> None:
    text = PRIVACY.read_text(encoding="utf-8")
    text = text.replace(_generated_part(text), render_records(load()))
    PRIVACY.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    regenerate()
    sys.stdout.write(f"wrote {PRIVACY.relative_to(ROOT)}\n")
